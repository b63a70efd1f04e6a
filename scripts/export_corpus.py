#!/usr/bin/env python3
"""Build tests/corpus/: small graphs that real exporters write, with provenance and expected outputs.

Run by hand on a machine with torch (CI never runs this; it only reads the committed files):

    python scripts/export_corpus.py torch                 # torch.onnx.export of the modules below
    python scripts/export_corpus.py onnx-node [--wheel W] # ONNX backend node tests from the onnx wheel
    python scripts/export_corpus.py all

Each torch case lands in tests/corpus/<name>/ as model.onnx, data.npz (inputs and expected outputs
keyed by the ONNX input/output names; outputs computed by torch, the framework that exported it)
and PROVENANCE.md; each ONNX node test keeps its own layout (model.onnx, test_data_set_0/*.pb).
tests/corpus/index.json is the machine-readable index; tests/test_corpus.py checks both agree.

The module forwards re-state the upstream code op for op (same torch calls in the same order, so the
exporter sees the same trace); each names the repository, file, function and commit it follows.
Where upstream reads a Python-side value at run time (OpenPCDet's batch_size = coords.max().item()+1)
the export fixes it, as every deployment export of these modules does.
"""
from __future__ import annotations

import argparse
import inspect
import io
import json
import re
import shutil
import sys
import textwrap
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
INDEX = CORPUS / "index.json"
NODE_TEST_PATTERN = re.compile(
    r"^test_(scatter_elements|scatternd|scatter_with|scatter_without|layer_normalization|gridsample|deform_conv)")


# --------------------------------------------------------------------------------------------
# Modules (torch imported lazily so `onnx-node` runs without torch)
# --------------------------------------------------------------------------------------------
def _modules():
    import torch
    from torch import nn

    class Seed003Scatter(nn.Module):
        """Seed 003's PointPillars middle feature extractor: scatter_ into a [C, ny*nx] canvas.

        The form the seed (issue #11) quotes: canvas.scatter(1, idx.unsqueeze(0).expand(C, -1), voxels.t()).
        coords are (batch, z, y, x) rows as mmdet3d/OpenPCDet voxelizers emit them.
        """

        def __init__(self, channels, ny, nx):
            super().__init__()
            self.channels, self.ny, self.nx = channels, ny, nx

        def forward(self, voxels, coords):
            idx = coords[:, 2] * self.nx + coords[:, 3]
            canvas = torch.zeros(self.channels, self.ny * self.nx, dtype=voxels.dtype)
            canvas = canvas.scatter(1, idx.unsqueeze(0).expand(self.channels, -1), voxels.t())
            return canvas.view(1, self.channels, self.ny, self.nx)

    class Seed003PointPillars(nn.Module):
        """`pykit demo`'s model: seed 003's middle feature extractor (Seed003Scatter above) between a
        pillar feature net and a small detection head, i.e. a PointPillars network in miniature.

        - PFN: open-mmlab/mmdetection3d mmdet3d/models/voxel_encoders/utils.py, PFNLayer.forward
          (last_layer, mode 'max'), commit 00c17132c7df1cd38ad590683bcba300c8b56683: Linear (no bias),
          BatchNorm1d over the channel axis (permute), ReLU, max over the points of a pillar.
        - head: one SECOND block (mmdet3d/models/backbones/second.py: Conv2d 3x3 no bias, BN, ReLU) and
          Anchor3DHead's conv_cls / conv_reg (mmdet3d/models/dense_heads/anchor3d_head.py: 1x1 convs).
        """

        def __init__(self, point_features, channels, ny, nx, num_cls, box_code):
            super().__init__()
            self.linear = nn.Linear(point_features, channels, bias=False)
            self.norm = nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)
            self.scatter = Seed003Scatter(channels, ny, nx)
            self.block = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                       nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01), nn.ReLU())
            self.conv_cls = nn.Conv2d(channels, num_cls, 1)
            self.conv_reg = nn.Conv2d(channels, box_code, 1)
            g = torch.Generator().manual_seed(3)   # trained-looking BN statistics, not the 0/1 defaults
            for bn in (self.norm, self.block[1]):
                bn.running_mean.copy_(0.1 * torch.randn(channels, generator=g))
                bn.running_var.copy_(0.5 + torch.rand(channels, generator=g))
                bn.weight.data.copy_(0.5 + torch.rand(channels, generator=g))
                bn.bias.data.copy_(0.1 * torch.randn(channels, generator=g))

        def forward(self, pillars, coords):
            x = self.linear(pillars)
            x = self.norm(x.permute(0, 2, 1).contiguous()).permute(0, 2, 1).contiguous()
            x = torch.nn.functional.relu(x)
            voxels = torch.max(x, dim=1, keepdim=True)[0].squeeze(1)
            bev = self.block(self.scatter(voxels, coords))
            return self.conv_cls(bev), self.conv_reg(bev)

    class MMDet3DPointPillarsScatterSingle(nn.Module):
        # open-mmlab/mmdetection3d mmdet3d/models/middle_encoders/pillar_scatter.py,
        # PointPillarsScatter.forward_single, commit 00c17132c7df1cd38ad590683bcba300c8b56683
        # (the @auto_fp16 decorator is a no-op in fp32 and is left out; mmcv is not needed).
        def __init__(self, in_channels, ny, nx):
            super().__init__()
            self.in_channels, self.ny, self.nx = in_channels, ny, nx

        def forward(self, voxel_features, coors):
            canvas = torch.zeros(self.in_channels, self.nx * self.ny,
                                 dtype=voxel_features.dtype, device=voxel_features.device)
            indices = (coors[:, 2] * self.nx + coors[:, 3]).long()
            canvas[:, indices] = voxel_features.t()
            return canvas.view(1, self.in_channels, self.ny, self.nx)

    class MMDet3DPointPillarsScatterBatch(nn.Module):
        # open-mmlab/mmdetection3d mmdet3d/models/middle_encoders/pillar_scatter.py,
        # PointPillarsScatter.forward_batch, commit 00c17132c7df1cd38ad590683bcba300c8b56683;
        # batch_size is the Python int argument upstream passes in, fixed at export.
        def __init__(self, in_channels, ny, nx, batch_size):
            super().__init__()
            self.in_channels, self.ny, self.nx, self.batch_size = in_channels, ny, nx, batch_size

        def forward(self, voxel_features, coors):
            batch_canvas = []
            for batch_itt in range(self.batch_size):
                canvas = torch.zeros(self.in_channels, self.nx * self.ny,
                                     dtype=voxel_features.dtype, device=voxel_features.device)
                batch_mask = coors[:, 0] == batch_itt
                this_coors = coors[batch_mask, :]
                indices = (this_coors[:, 2] * self.nx + this_coors[:, 3]).type(torch.long)
                voxels = voxel_features[batch_mask, :].t()
                canvas[:, indices] = voxels
                batch_canvas.append(canvas)
            batch_canvas = torch.stack(batch_canvas, 0)
            return batch_canvas.view(self.batch_size, self.in_channels, self.ny, self.nx)

    class OpenPCDetPointPillarScatter(nn.Module):
        # open-mmlab/OpenPCDet pcdet/models/backbones_2d/map_to_bev/pointpillar_scatter.py,
        # PointPillarScatter.forward, commit 351ba7b79535dba034ef8c51757fa3a17ce5a647.
        # Upstream takes batch_dict and computes batch_size = coords[:, 0].max().int().item() + 1;
        # the export takes the two tensors and a fixed batch_size (nz == 1 as upstream asserts).
        def __init__(self, num_bev_features, nx, ny, batch_size):
            super().__init__()
            self.num_bev_features, self.nx, self.ny, self.nz = num_bev_features, nx, ny, 1
            self.batch_size = batch_size

        def forward(self, pillar_features, coords):
            batch_spatial_features = []
            for batch_idx in range(self.batch_size):
                spatial_feature = torch.zeros(self.num_bev_features, self.nz * self.nx * self.ny,
                                              dtype=pillar_features.dtype, device=pillar_features.device)
                batch_mask = coords[:, 0] == batch_idx
                this_coords = coords[batch_mask, :]
                indices = this_coords[:, 1] + this_coords[:, 2] * self.nx + this_coords[:, 3]
                indices = indices.type(torch.long)
                pillars = pillar_features[batch_mask, :].t()
                spatial_feature[:, indices] = pillars
                batch_spatial_features.append(spatial_feature)
            batch_spatial_features = torch.stack(batch_spatial_features, 0)
            return batch_spatial_features.view(self.batch_size, self.num_bev_features * self.nz, self.ny, self.nx)

    class TransformerLayerNormBlock(nn.Module):
        # huggingface/transformers src/transformers/models/bert/modeling_bert.py, BertSelfOutput.forward,
        # commit 004ad5f50b627b59bf0d581c31bc0052b6cfd40b: dense, dropout (identity in eval, left out),
        # LayerNorm(hidden + input_tensor); BERT's config.layer_norm_eps is 1e-12. normalized_shape and
        # bias are parameters here so the bias=False and last-2-dims variants share the block.

        def __init__(self, hidden, normalized_shape, eps, bias):
            super().__init__()
            self.dense = nn.Linear(hidden, hidden)
            self.LayerNorm = nn.LayerNorm(normalized_shape, eps=eps, bias=bias)
            with torch.no_grad():  # non-trivial affine parameters, so a dropped scale/bias shows
                self.LayerNorm.weight.uniform_(0.5, 1.5)
                if bias:
                    self.LayerNorm.bias.uniform_(-0.5, 0.5)

        def forward(self, hidden_states, input_tensor):
            return self.LayerNorm(self.dense(hidden_states) + input_tensor)

    class PyGScatterReduce(nn.Module):
        """PyG-style message aggregation: out.scatter_reduce(0, idx.unsqueeze(-1).expand_as(msg), msg, reduce).

        As pyg-team/pytorch_geometric torch_geometric/utils/_scatter.py scatter() (non-sum branch) and
        torch_scatter's fallback write it: index broadcast over the feature dim, out a fresh zero tensor.
        """

        def __init__(self, num_nodes, reduce, include_self):
            super().__init__()
            self.num_nodes, self.reduce, self.include_self = num_nodes, reduce, include_self

        def forward(self, msg, idx):
            out = torch.zeros(self.num_nodes, msg.shape[1], dtype=msg.dtype)
            return out.scatter_reduce(0, idx.unsqueeze(-1).expand_as(msg), msg,
                                      reduce=self.reduce, include_self=self.include_self)

    class PyGScatter(nn.Module):
        # pyg-team/pytorch_geometric torch_geometric/utils/_scatter.py, scatter() (torch >= 1.12 branch),
        # commit 0955c65198216eb20a4e3d18936e6a0f4531bf41, dim=0, dim_size given, on the path a CPU / no-grad
        # export takes (torch_scatter absent): sum -> new_zeros.scatter_add_; mean -> scatter_add_ of the
        # values and of a count, clamp(min=1), divide; mul -> new_ones.scatter_reduce_(prod, include_self=True);
        # min/max -> new_zeros.scatter_reduce_(amin/amax, include_self=False). broadcast() is
        # index.view(-1, 1).expand_as(src).
        def __init__(self, num_nodes, reduce):
            super().__init__()
            self.num_nodes, self.reduce = num_nodes, reduce

        def forward(self, msg, idx):
            size = (self.num_nodes,) + tuple(msg.shape[1:])
            index = idx.view(-1, 1).expand_as(msg)
            if self.reduce == "sum":
                return msg.new_zeros(size).scatter_add_(0, index, msg)
            if self.reduce == "mean":
                count = msg.new_zeros(self.num_nodes)
                count.scatter_add_(0, idx, msg.new_ones(msg.size(0)))
                count = count.clamp(min=1)
                out = msg.new_zeros(size).scatter_add_(0, index, msg)
                return out / count.view(-1, 1).expand_as(out)
            if self.reduce == "mul":
                return msg.new_ones(size).scatter_reduce_(0, index, msg, reduce="prod", include_self=True)
            return msg.new_zeros(size).scatter_reduce_(0, index, msg, reduce=f"a{self.reduce}", include_self=False)

    class VoxelMorphSpatialTransformer(nn.Module):
        # voxelmorph/voxelmorph voxelmorph/torch/layers.py, SpatialTransformer (__init__ and forward),
        # commit 539e331a852087b19bd12720082b0d0787193ffe: an identity grid buffer plus the flow,
        # normalized to [-1, 1] per axis, channels moved last and reversed (x, y[, z]), then
        # nnf.grid_sample(src, new_locs, align_corners=True, mode=self.mode). 2-D and 3-D (5-D tensors).
        def __init__(self, size, mode="bilinear"):
            super().__init__()
            self.mode = mode
            vectors = [torch.arange(0, s) for s in size]
            grids = torch.meshgrid(vectors, indexing="ij")
            grid = torch.stack(grids)
            grid = torch.unsqueeze(grid, 0)
            grid = grid.type(torch.FloatTensor)
            self.register_buffer("grid", grid)

        def forward(self, src, flow):
            new_locs = self.grid + flow
            shape = flow.shape[2:]
            for i in range(len(shape)):
                new_locs[:, i, ...] = 2 * (new_locs[:, i, ...] / (shape[i] - 1) - 0.5)
            if len(shape) == 2:
                new_locs = new_locs.permute(0, 2, 3, 1)
                new_locs = new_locs[..., [1, 0]]
            elif len(shape) == 3:
                new_locs = new_locs.permute(0, 2, 3, 4, 1)
                new_locs = new_locs[..., [2, 1, 0]]
            return nn.functional.grid_sample(src, new_locs, align_corners=True, mode=self.mode)

    return dict(VoxelMorphSpatialTransformer=VoxelMorphSpatialTransformer,
                Seed003Scatter=Seed003Scatter, Seed003PointPillars=Seed003PointPillars,
                MMDet3DPointPillarsScatterSingle=MMDet3DPointPillarsScatterSingle,
                MMDet3DPointPillarsScatterBatch=MMDet3DPointPillarsScatterBatch,
                OpenPCDetPointPillarScatter=OpenPCDetPointPillarScatter,
                TransformerLayerNormBlock=TransformerLayerNormBlock,
                PyGScatterReduce=PyGScatterReduce,
                PyGScatter=PyGScatter)


# --------------------------------------------------------------------------------------------
# Deformable convolution (DeformConv2d plugin): torchvision's deform_conv2d and mmcv's
# ModulatedDeformConv2d inside mmcv's ModulatedDeformConv2dPack block
# --------------------------------------------------------------------------------------------
MMCV = ("open-mmlab/mmcv", "mmcv/ops/modulated_deform_conv.py", "0093647e69f471277054484102c46cce6d1de29b")


def deform_conv2d_torch(x, weight, offset, mask, bias, stride, padding, dilation, groups, offset_groups, use_mask):
    """Deformable convolution in plain torch ops (CPU, float32), the rule of torchvision's
    deform_conv2d_forward_kernel (torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp) and mmcv's
    modulated_deformable_im2col kernel: offsets interleaved (y, x) per tap, bilinear with each of
    the four neighbours outside the image contributing zero, then the grouped GEMM. Used where
    torchvision's compiled ops do not load (a CPU torch without torchvision's matching build)."""
    import torch

    n, c, h, w = x.shape
    oc, cg, kh, kw = weight.shape
    oh, ow = offset.shape[2:]
    og = offset_groups
    off = offset.reshape(n, og, kh, kw, 2, oh, ow)
    base_y = (torch.arange(oh) * stride[0] - padding[0]).view(1, 1, 1, 1, oh, 1) + (torch.arange(kh) * dilation[0]).view(1, 1, kh, 1, 1, 1)
    base_x = (torch.arange(ow) * stride[1] - padding[1]).view(1, 1, 1, 1, 1, ow) + (torch.arange(kw) * dilation[1]).view(1, 1, 1, kw, 1, 1)
    py = base_y.to(x.dtype) + off[:, :, :, :, 0]
    px = base_x.to(x.dtype) + off[:, :, :, :, 1]
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    length = kh * kw * oh * ow
    xg = x.reshape(n, og, c // og, h * w)
    cols = torch.zeros(n, og, c // og, length, dtype=x.dtype)
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy, xx = (y0 + dy).long(), (x0 + dx).long()
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(n, og, 1, length).expand(n, og, c // og, length)
            weight_ = torch.where(inside, wy * wx, torch.zeros_like(wy)).reshape(n, og, 1, length)
            cols = cols + weight_ * torch.gather(xg, 3, idx)
    if use_mask:
        cols = cols * mask.reshape(n, og, 1, length)
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    out = torch.einsum("gmk,ngkp->ngmp", weight.reshape(groups, oc // groups, cg * kh * kw), cols)
    return out.reshape(n, oc, oh, ow) + bias.view(1, -1, 1, 1)


def _torchvision_deform_conv2d():
    """torchvision.ops.deform_conv2d where torchvision's compiled ops load; else the same op,
    torch.ops.torchvision.deform_conv2d with torchvision's schema, registered here with
    deform_conv2d_torch as its kernel (the exporters translate the op by that name: onnxscript's
    torchlib maps torchvision::deform_conv2d to ONNX DeformConv-19), called as torchvision's
    Python wrapper (torchvision/ops/deform_conv.py deform_conv2d) calls it."""
    import torch

    try:
        import torchvision.ops
        torch.ops.torchvision.deform_conv2d  # noqa: B018  (raises where the compiled ops did not load)
        return torchvision.ops.deform_conv2d, f"torchvision {torchvision.__version__}"
    except Exception:
        pass
    if not hasattr(_torchvision_deform_conv2d, "lib"):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, int stride_h, "
                   "int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, int groups, int offset_groups, "
                   "bool use_mask) -> Tensor")

        def kernel(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, og, use_mask):
            return deform_conv2d_torch(input, weight, offset, mask, bias, (stride_h, stride_w), (pad_h, pad_w),
                                       (dil_h, dil_w), groups, og, use_mask)

        def fake(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, og, use_mask):
            return input.new_empty((input.shape[0], weight.shape[0], offset.shape[2], offset.shape[3]))

        lib.impl("deform_conv2d", kernel, "CPU")
        torch.library.register_fake("torchvision::deform_conv2d", fake, lib=lib)
        _torchvision_deform_conv2d.lib = lib

    def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
        # torchvision/ops/deform_conv.py deform_conv2d: groups from the weight, offset groups from offset
        use_mask = mask is not None
        if mask is None:
            mask = torch.zeros((input.shape[0], 1), device=input.device, dtype=input.dtype)
        if bias is None:
            bias = torch.zeros(weight.shape[0], device=input.device, dtype=input.dtype)
        weights_h, weights_w = weight.shape[-2:]
        n_offset_grps = offset.shape[1] // (2 * weights_h * weights_w)
        n_weight_grps = input.shape[1] // weight.shape[1]
        return torch.ops.torchvision.deform_conv2d(input, weight, offset, mask, bias, stride[0], stride[1], padding[0],
                                                   padding[1], dilation[0], dilation[1], n_weight_grps, n_offset_grps,
                                                   use_mask)

    return deform_conv2d, "torch.ops.torchvision.deform_conv2d registered by scripts/export_corpus.py (deform_conv2d_torch)"


def _deform_modules():
    import torch
    from torch import nn
    from torch.autograd import Function

    tv_deform_conv2d, _ = _torchvision_deform_conv2d()

    class ModulatedDeformConv2dFunction(Function):
        # open-mmlab/mmcv mmcv/ops/modulated_deform_conv.py, ModulatedDeformConv2dFunction.symbolic,
        # commit 0093647e69f471277054484102c46cce6d1de29b, copied as is; forward computes with
        # deform_conv2d_torch (mmcv's compiled ext_module is not needed for the export).
        @staticmethod
        def symbolic(g, input, offset, mask, weight, bias, stride, padding,
                     dilation, groups, deform_groups):
            input_tensors = [input, offset, mask, weight]
            if bias is not None:
                input_tensors.append(bias)
            return g.op(
                'mmcv::MMCVModulatedDeformConv2d',
                *input_tensors,
                stride_i=stride,
                padding_i=padding,
                dilation_i=dilation,
                groups_i=groups,
                deform_groups_i=deform_groups)

        @staticmethod
        def forward(ctx, input, offset, mask, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                    deform_groups=1):
            pair = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v))
            if bias is None:
                bias = input.new_zeros(weight.shape[0])
            # opaque to the tracer, as mmcv's ext_module call is (the legacy exporter's peephole pass
            # fails on a traced body inside the Function; the symbolic replaces it anyway)
            state = torch._C._get_tracing_state()
            torch._C._set_tracing_state(None)
            try:
                return deform_conv2d_torch(input, weight, offset, mask, bias, pair(stride), pair(padding),
                                           pair(dilation), groups, deform_groups, True)
            finally:
                torch._C._set_tracing_state(state)

    class ModulatedDeformConv2dPack(nn.Module):
        # open-mmlab/mmcv mmcv/ops/modulated_deform_conv.py, ModulatedDeformConv2dPack.forward (DCNv2),
        # commit 0093647e69f471277054484102c46cce6d1de29b: conv_offset -> chunk(3) -> offset = cat(o1, o2),
        # mask = sigmoid -> the deformable convolution. backend "mmcv": modulated_deform_conv2d
        # (ModulatedDeformConv2dFunction.apply); "torchvision": torchvision.ops.deform_conv2d, the
        # drop-in that ports of mmcv models use. Upstream zero-initializes conv_offset (offsets 0,
        # mask 0.5 at start of training); here it is random (std 0.3) so that the export's samples
        # fall between pixels and outside the image, as a trained model's do. use_mask=False: DCNv1
        # (the mask chunk is dropped, torchvision's mask=None).
        def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups,
                     backend, use_mask=True):
            super().__init__()
            self.stride, self.padding, self.dilation = (stride, stride), (padding, padding), (dilation, dilation)
            self.groups, self.deform_groups, self.backend, self.use_mask = groups, deform_groups, backend, use_mask
            self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size))
            self.bias = nn.Parameter(torch.empty(out_channels))
            nn.init.uniform_(self.weight, -1 / (in_channels * kernel_size) ** 0.5, 1 / (in_channels * kernel_size) ** 0.5)
            nn.init.uniform_(self.bias, -0.1, 0.1)
            self.conv_offset = nn.Conv2d(in_channels, deform_groups * 3 * kernel_size * kernel_size,
                                         kernel_size=kernel_size, stride=self.stride, padding=self.padding,
                                         dilation=self.dilation, bias=True)
            nn.init.normal_(self.conv_offset.weight, std=0.3)
            nn.init.normal_(self.conv_offset.bias, std=0.3)

        def forward(self, x):
            out = self.conv_offset(x)
            o1, o2, mask = torch.chunk(out, 3, dim=1)
            offset = torch.cat((o1, o2), dim=1)
            mask = torch.sigmoid(mask)
            if self.backend == "mmcv":
                return ModulatedDeformConv2dFunction.apply(x, offset, mask, self.weight, self.bias, self.stride,
                                                           self.padding, self.dilation, self.groups,
                                                           self.deform_groups)
            return tv_deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                    dilation=self.dilation, mask=mask if self.use_mask else None)

    return dict(ModulatedDeformConv2dPack=ModulatedDeformConv2dPack)


def _torchvision_translation():
    """Where torchvision is not installed the dynamo exporter skips torchlib's torchvision ops, so the
    op registered by _torchvision_deform_conv2d gets torchlib's own translation (onnxscript
    torch_lib/ops/vision.py torchvision_deform_conv2d -> ONNX DeformConv-19) passed explicitly."""
    import importlib.util

    import torch
    if importlib.util.find_spec("torchvision") is not None:
        return {}
    from onnxscript.function_libs.torch_lib.ops.vision import torchvision_deform_conv2d
    return {"custom_translation_table": {torch.ops.torchvision.deform_conv2d.default: torchvision_deform_conv2d}}


def deform_conv_cases():
    """torchvision.ops.deform_conv2d (dynamo exporter: ONNX DeformConv-19) and mmcv's
    ModulatedDeformConv2dFunction (legacy exporter, its symbolic: mmcv::MMCVModulatedDeformConv2d)
    inside mmcv's DCNv2 block; x (2, 8, 9, 10)."""
    def image(rng):
        return {"x": rng.standard_normal((2, 8, 9, 10)).astype(np.float32)}

    block = dict(in_channels=8, out_channels=6, kernel_size=3, stride=1, padding=1, dilation=1, groups=1)
    pack = MMCV + ("ModulatedDeformConv2dPack.forward",)
    _, kernel = _torchvision_deform_conv2d()
    tv_note = (f"deform_conv2d computed by {kernel}; exported through onnxscript torchlib's torchvision_deform_conv2d "
               "(ONNX DeformConv-19); plugins/deform_conv2d/tests compares torchvision.ops.deform_conv2d with the "
               "stored outputs where torchvision's compiled ops load")
    mmcv_note = ("the Function's forward computes with scripts/export_corpus.py deform_conv2d_torch (mmcv's compiled "
                 "ext_module is not needed to export); its symbolic is mmcv's as is; onnxruntime has no kernel for "
                 "mmcv::MMCVModulatedDeformConv2d, so the stored outputs are checked patched (plugins/deform_conv2d/tests)")
    return [
        dict(name="torchvision_deform_conv2d_dcnv2_opset19_dynamo", cls="ModulatedDeformConv2dPack",
             kwargs=dict(block, deform_groups=2, backend="torchvision"), inputs=image, opset=19, dynamo=True,
             taker="DeformConv2d", upstream=pack, export_kwargs=_torchvision_translation, note=tv_note),
        dict(name="torchvision_deform_conv2d_dcnv1_stride2_opset19_dynamo", cls="ModulatedDeformConv2dPack",
             kwargs=dict(block, stride=2, groups=2, deform_groups=1, backend="torchvision", use_mask=False),
             inputs=image, opset=19, dynamo=True, taker="DeformConv2d", upstream=pack,
             export_kwargs=_torchvision_translation, note=tv_note),
        dict(name="mmcv_modulated_deform_conv2d_opset11", cls="ModulatedDeformConv2dPack",
             kwargs=dict(block, deform_groups=2, dilation=2, padding=2, backend="mmcv"), inputs=image, opset=11,
             dynamo=False, taker="DeformConv2d", upstream=pack, note=mmcv_note),
    ]


# --------------------------------------------------------------------------------------------
# Inputs that satisfy each op's preconditions
# --------------------------------------------------------------------------------------------
C, NY, NX, P = 4, 6, 5, 7          # channels, canvas rows/cols, pillars per sample


def pillar_inputs(rng, batch_size, pillars_per_sample, ny=NY, nx=NX, channels=C):
    """Unique (y, x) cells per sample (ScatterND with duplicate indices is unspecified); z = 0."""
    coords, feats = [], []
    for b in range(batch_size):
        cells = rng.choice(ny * nx, size=pillars_per_sample, replace=False)
        coords.append(np.stack([np.full_like(cells, b), np.zeros_like(cells), cells // nx, cells % nx], 1))
    coords = np.concatenate(coords).astype(np.int64)
    order = rng.permutation(len(coords))           # samples interleaved, as a voxelizer may emit them
    coords = coords[order]
    feats = rng.standard_normal((len(coords), channels)).astype(np.float32)
    return feats, coords


def graph_inputs(rng, num_nodes=5, edges=12, feat=3):
    """Edge messages and their target nodes; every index in range, duplicates on purpose (that is what
    a reduction is for), one node left without edges so include_self / empty-segment behaviour shows."""
    idx = rng.integers(0, num_nodes - 1, size=edges).astype(np.int64)
    msg = rng.standard_normal((edges, feat)).astype(np.float32)
    return msg, idx


# --------------------------------------------------------------------------------------------
# The torch cases
# --------------------------------------------------------------------------------------------
def torch_cases():
    """(name, module class name, ctor kwargs, input builder, opset, dynamo, taker, upstream)."""
    cases = []
    mmdet = ("open-mmlab/mmdetection3d", "mmdet3d/models/middle_encoders/pillar_scatter.py",
             "00c17132c7df1cd38ad590683bcba300c8b56683")
    pcdet = ("open-mmlab/OpenPCDet", "pcdet/models/backbones_2d/map_to_bev/pointpillar_scatter.py",
             "351ba7b79535dba034ef8c51757fa3a17ce5a647")
    bert = ("huggingface/transformers", "src/transformers/models/bert/modeling_bert.py",
            "004ad5f50b627b59bf0d581c31bc0052b6cfd40b")
    pyg = ("issue #11 (PyG-style, as PyG's scatter() calls it)", "see PyGScatter for the upstream code", "-")
    seed = ("issue #11 / seed 003", "(quoted in the issue)", "-")

    def pillars(bs):
        return lambda rng: dict(zip(("voxels", "coords"), pillar_inputs(rng, bs, P)))

    def ln(shape):
        return lambda rng: {"hidden_states": rng.standard_normal(shape).astype(np.float32) * 2 + 0.5,
                            "input_tensor": rng.standard_normal(shape).astype(np.float32)}

    def graph(rng):
        msg, idx = graph_inputs(rng)
        return {"msg": msg, "idx": idx}

    for dynamo, opset in ((False, 10), (False, 11), (True, 18)):
        tag = f"opset{opset}" + ("_dynamo" if dynamo else "")
        cases.append(dict(name=f"seed003_scatter_canvas_{tag}", cls="Seed003Scatter",
                          kwargs=dict(channels=C, ny=NY, nx=NX), inputs=pillars(1), opset=opset, dynamo=dynamo,
                          taker="PillarScatter", upstream=seed))
    # `pykit demo`'s model: written to its plugin folder (it ships with pykit), not into tests/corpus
    def pointpillars(rng):
        voxels, coords = pillar_inputs(rng, 1, 96, ny=16, nx=24, channels=9)
        points = rng.standard_normal((96, 8, 9)).astype(np.float32) + voxels[:, None, :]
        return {"pillars": points, "coords": coords}
    cases.append(dict(name="seed003_pointpillars_opset10", cls="Seed003PointPillars",
                      kwargs=dict(point_features=9, channels=16, ny=16, nx=24, num_cls=2, box_code=7),
                      inputs=pointpillars, opset=10, dynamo=False, taker="PillarScatter",
                      outputs=["cls_score", "bbox_pred"], folder="plugins/pillar_scatter/demo",
                      upstream=seed + ("Seed003PointPillars (PFNLayer + seed 003 scatter + SECOND block + "
                                       "Anchor3DHead convs)",)))
    for dynamo, opset in ((False, 11), (True, 18)):
        tag = f"opset{opset}" + ("_dynamo" if dynamo else "")
        cases.append(dict(name=f"mmdet3d_pillar_scatter_single_{tag}", cls="MMDet3DPointPillarsScatterSingle",
                          kwargs=dict(in_channels=C, ny=NY, nx=NX), inputs=pillars(1), opset=opset,
                          dynamo=dynamo, taker="PillarScatter", upstream=mmdet + ("forward_single",)))
        cases.append(dict(name=f"mmdet3d_pillar_scatter_batch_{tag}", cls="MMDet3DPointPillarsScatterBatch",
                          kwargs=dict(in_channels=C, ny=NY, nx=NX, batch_size=2), inputs=pillars(2), opset=opset,
                          dynamo=dynamo, taker="PillarScatter", upstream=mmdet + ("forward_batch",)))
        cases.append(dict(name=f"openpcdet_pillar_scatter_{tag}", cls="OpenPCDetPointPillarScatter",
                          kwargs=dict(num_bev_features=C, nx=NX, ny=NY, batch_size=2), inputs=pillars(2),
                          opset=opset, dynamo=dynamo, taker="PillarScatter", upstream=pcdet + ("PointPillarScatter.forward",)))
    S, H = 3, 8
    ln_variants = [("bert", dict(hidden=H, normalized_shape=H, eps=1e-12, bias=True)),
                   ("nobias", dict(hidden=H, normalized_shape=H, eps=1e-12, bias=False)),
                   ("last2", dict(hidden=H, normalized_shape=(S, H), eps=1e-12, bias=True))]
    for variant, kw in ln_variants:
        for dynamo, opset in ((False, 17), (False, 14), (True, 18)):
            tag = f"opset{opset}" + ("_dynamo" if dynamo else "")
            cases.append(dict(name=f"layernorm_{variant}_{tag}", cls="TransformerLayerNormBlock", kwargs=kw,
                              inputs=ln((2, S, H)), opset=opset, dynamo=dynamo, taker="LayerNorm",
                              upstream=bert + ("BertSelfOutput.forward",)))
    for reduce in ("sum", "amax", "amin", "prod", "mean"):
        for include_self in (True, False):
            for dynamo, opset in ((False, 16), (False, 18), (True, 18)):
                tag = f"opset{opset}" + ("_dynamo" if dynamo else "")
                inc = "" if include_self else "_noself"
                cases.append(dict(name=f"pyg_scatter_reduce_{reduce}{inc}_{tag}", cls="PyGScatterReduce",
                                  kwargs=dict(num_nodes=5, reduce=reduce, include_self=include_self), inputs=graph,
                                  opset=opset, dynamo=dynamo, taker="ScatterElementsReduce",
                                  upstream=pyg + ("out.scatter_reduce(0, idx.unsqueeze(-1).expand_as(msg), msg, ...)",)))
    pyg_real = ("pyg-team/pytorch_geometric", "torch_geometric/utils/_scatter.py",
                "0955c65198216eb20a4e3d18936e6a0f4531bf41")
    for reduce in ("sum", "mean", "mul", "max", "min"):
        combos = ((False, 11), (False, 16), (True, 18)) if reduce in ("sum", "mean") else ((False, 16), (True, 18))
        for dynamo, opset in combos:
            tag = f"opset{opset}" + ("_dynamo" if dynamo else "")
            cases.append(dict(name=f"pyg_scatter_{reduce}_{tag}", cls="PyGScatter",
                              kwargs=dict(num_nodes=5, reduce=reduce), inputs=graph, opset=opset, dynamo=dynamo,
                              taker="ScatterElementsReduce", upstream=pyg_real + (f"scatter(reduce='{reduce}')",)))
    cases += grid_sample_cases() + deform_conv_cases()
    return cases + msda_cases()


def grid_sample_cases():
    """VoxelMorph's SpatialTransformer (a flow warp, F.grid_sample align_corners=True): 2-D at opset 16
    (GridSample-16, 4-D) and 3-D at opset 20 (5-D grid_sample exports only from opset 20), bilinear
    and nearest; flows of a few pixels, so that points leave the image (zeros padding)."""
    vxm = ("voxelmorph/voxelmorph", "voxelmorph/torch/layers.py", "539e331a852087b19bd12720082b0d0787193ffe",
           "SpatialTransformer.forward")

    def warp(shape):
        return lambda rng: {"src": rng.standard_normal((1, 2) + shape).astype(np.float32),
                            "flow": (rng.standard_normal((1, len(shape)) + shape) * 1.5).astype(np.float32)}

    cases = []
    for mode in ("bilinear", "nearest"):
        cases.append(dict(name=f"voxelmorph_warp2d_{mode}_opset16", cls="VoxelMorphSpatialTransformer",
                          kwargs=dict(size=(8, 10), mode=mode), inputs=warp((8, 10)), opset=16, dynamo=False,
                          taker="GridSampler", upstream=vxm))
        cases.append(dict(name=f"voxelmorph_warp3d_{mode}_opset20", cls="VoxelMorphSpatialTransformer",
                          kwargs=dict(size=(4, 6, 5), mode=mode), inputs=warp((4, 6, 5)), opset=20, dynamo=False,
                          taker="GridSampler", upstream=vxm))
    return cases


# Exports whose graph does not compute what torch computed on the stored inputs (found by running
# them on onnxruntime). They stay in the corpus: the stored outputs are torch's, i.e. what the user
# meant, and tests/test_corpus.py asserts the disagreement is still there.
WRONG_EXPORTS = {
    "pyg_scatter_sum_opset11":
        "legacy exporter writes ScatterElements (no reduction: opset 11 has none) into zeros, then Add; "
        "with duplicate indices that keeps one message per cell instead of their sum",
    "pyg_scatter_mean_opset11":
        "both scatter_add_ calls export as plain ScatterElements + Add (see pyg_scatter_sum_opset11)",
    "pyg_scatter_reduce_mean_opset18_dynamo":
        "dynamo exporter writes ScatterElements reduction='none' for reduce='mean' (a plain overwrite)",
    "pyg_scatter_reduce_mean_noself_opset18_dynamo":
        "dynamo exporter writes ScatterElements reduction='none' for reduce='mean' (a plain overwrite)",
}


def tool_versions(dynamo: bool) -> dict:
    import onnxruntime
    versions = {"onnxruntime_checked_with": onnxruntime.__version__}
    if dynamo:
        import onnxscript
        versions["onnxscript"] = onnxscript.__version__
    return versions


def ort_max_abs_diff(path: Path, feeds: dict, expected: dict) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    if any(n.domain not in ("", "ai.onnx") for n in onnx.load(str(path)).graph.node):
        return None  # a custom-domain node (mmcv::...): onnxruntime has no kernel for it
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(expected), feeds)
    return max(float(np.max(np.abs(g.astype(np.float64) - expected[n]))) for g, n in zip(got, expected))


def op_summary(model: onnx.ModelProto) -> dict:
    """Op types of the main graph in order, and those inside If/Loop/Scan bodies."""
    def walk(graph, acc):
        for node in graph.node:
            acc.append(node.op_type)
            for attr in node.attribute:
                subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                for sub in subs:
                    walk(sub, acc)
        return acc
    main = [n.op_type for n in model.graph.node]
    return {"main_graph": main, "all_ops": sorted(set(walk(model.graph, [])))}


def export_torch(only: str | None) -> tuple[list[dict], list[dict]]:
    import torch

    modules = {**_modules(), **_msda_modules(), **_deform_modules()}
    entries, failures = [], []
    for case in torch_cases():
        if only and not re.search(only, case["name"]):
            continue
        rng = np.random.default_rng(sum(map(ord, case["name"])))   # seeded per case, stable under reordering
        torch.manual_seed(sum(map(ord, case["name"])))
        module = modules[case["cls"]](**case["kwargs"]).eval()
        feeds = case["inputs"](rng)
        names = list(feeds)
        args = tuple(torch.from_numpy(feeds[n]) for n in names)
        with torch.no_grad():
            expected = module(*args)
        expected = list(expected) if isinstance(expected, tuple) else [expected]
        outputs = case.get("outputs", ["output"])
        out_dir = ROOT / case["folder"] if "folder" in case else CORPUS / case["name"]
        tmp = out_dir.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log = io.StringIO()
        try:
            with redirect_stdout(log), redirect_stderr(log), torch.no_grad():
                kw = dict(input_names=names, output_names=outputs, opset_version=case["opset"],
                          dynamo=case["dynamo"])
                if case["dynamo"]:
                    kw["external_data"] = False
                if case.get("custom_opsets"):
                    kw["custom_opsets"] = case["custom_opsets"]
                kw.update(case.get("export_kwargs", dict)())
                torch.onnx.export(module, args, str(tmp / "model.onnx"), **kw)
            model = onnx.load(str(tmp / "model.onnx"))
            onnx.checker.check_model(model)
        except Exception as exc:   # an export that fails is a finding: recorded, not committed as a model
            shutil.rmtree(tmp, ignore_errors=True)
            msg = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            failures.append({"name": case["name"], "opset": case["opset"], "dynamo": case["dynamo"],
                             "error": msg[:400]})
            print(f"  FAILED  {case['name']}: {msg[:200]}")
            continue
        graph_inputs_ = [i.name for i in model.graph.input]
        graph_outputs = [o.name for o in model.graph.output]
        data = {f"input:{n}": feeds[n] for n in names if n in graph_inputs_}
        data.update({f"output:{n}": t.numpy() for n, t in zip(graph_outputs, expected)})
        np.savez_compressed(tmp / "data.npz", **data)
        diff = ort_max_abs_diff(tmp / "model.onnx", {n: feeds[n] for n in names if n in graph_inputs_},
                                {n: t.numpy() for n, t in zip(graph_outputs, expected)})
        if diff is not None and (diff > 1e-4) != (case["name"] in WRONG_EXPORTS):
            print(f"  WARNING {case['name']}: onnxruntime vs torch max |diff| {diff:.3g}; update WRONG_EXPORTS")
        opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
        entry = {
            "name": case["name"], "kind": "torch_export",
            "exporter": "torch.onnx.export(dynamo=True) [default exporter]" if case["dynamo"]
            else "torch.onnx.export(dynamo=False) [legacy TorchScript exporter]",
            "torch": torch.__version__, "onnx": onnx.__version__, **tool_versions(case["dynamo"]),
            "opset_requested": case["opset"],
            "opset": opset, "ir_version": model.ir_version,
            "module": case["cls"], "module_kwargs": {k: (list(v) if isinstance(v, tuple) else v)
                                                     for k, v in case["kwargs"].items()},
            "upstream": {"repository": case["upstream"][0], "file": case["upstream"][1],
                         "commit": case["upstream"][2], "function": case["upstream"][3]
                         if len(case["upstream"]) > 3 else case["cls"]},
            "taker": case["taker"], "data": "data.npz",
            **({"folder": case["folder"]} if "folder" in case else {}),
            **({"note": case["note"]} if case.get("note") else {}),
            "wrong_export": WRONG_EXPORTS.get(case["name"]),
            "ort_vs_torch_max_abs_diff": diff,
            "inputs": {n: list(feeds[n].shape) for n in names if n in graph_inputs_},
            "outputs": {n: list(t.shape) for n, t in zip(graph_outputs, expected)},
            "ops": op_summary(model),
        }
        (tmp / "PROVENANCE.md").write_text(provenance_md(entry, inspect.getsource(case.get("source") or modules[case["cls"]])))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
        entries.append(entry)
        print(f"  ok      {case['name']}: {' '.join(entry['ops']['main_graph'])}")
    return entries, failures


def provenance_md(entry: dict, source: str) -> str:
    up = entry["upstream"]
    return textwrap.dedent(f"""\
        # {entry['name']}

        - exporter: {entry['exporter']}, torch {entry['torch']}, onnx {entry['onnx']}
        - opset: {entry['opset']} (requested {entry['opset_requested']}), IR version {entry['ir_version']}
        - upstream: {up['repository']} `{up['file']}` `{up['function']}` @ {up['commit']}
        - module: `{entry['module']}({entry['module_kwargs']})`
        - inputs: {entry['inputs']}; outputs: {entry['outputs']}
        - expected outputs: computed by torch {entry['torch']} (eval, fp32) on the stored inputs (`data.npz`,
          keys `input:<name>` / `output:<name>`)
        - taker (the pykit plugin meant to take it): {entry['taker']}
        - onnxruntime vs torch on the stored inputs: max |diff| {entry['ort_vs_torch_max_abs_diff']}
        - wrong export: {entry['wrong_export'] or 'no'}
        - main graph: {' '.join(entry['ops']['main_graph'])}
        {('- note: ' + entry['note']) if entry.get('note') else ''}

        Regenerate: `python scripts/export_corpus.py torch --only '^{entry['name']}$'`

        ```python
        """) + source + "```\n"


# --------------------------------------------------------------------------------------------
# Multi-scale deformable attention (mmcv's module, mmdeploy's symbolic for its autograd.Function)
# --------------------------------------------------------------------------------------------
MSDA_LEVELS = ((6, 8), (3, 4), (2, 2))   # (H, W) per level: 64 keys = queries (an encoder's self-attention)
MSDA_MMCV = ("open-mmlab/mmcv", "mmcv/ops/multi_scale_deform_attn.py", "049b472f356d984ab71802c5a7d40729b2307e33")
MSDA_MMDEPLOY_SYMBOLIC = ("open-mmlab/mmdeploy", "mmdeploy/mmcv/ops/multi_scale_deform_attn.py",
                          "2b6d24ae5fe910b473438e7c780513e31e0c52e1")


def _msda_modules():
    """mmcv's MultiScaleDeformableAttention (module forward, multi_scale_deformable_attn_pytorch) with
    its MultiScaleDeformableAttnFunction: forward = the pure-PyTorch formulation (mmcv calls its CUDA
    extension there; mmcv is not installable here and both compute the same op), symbolic = mmdeploy's
    SYMBOLIC_REWRITER function for it, copied verbatim (mmcv's Function has no symbolic of its own)."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.autograd.function import Function

    def multi_scale_deformable_attn_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
        # mmcv/ops/multi_scale_deform_attn.py @ 049b472, verbatim
        bs, _, num_heads, embed_dims = value.shape
        _, num_queries, num_heads, num_levels, num_points, _ =\
            sampling_locations.shape
        value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes],
                                 dim=1)
        sampling_grids = 2 * sampling_locations - 1
        sampling_value_list = []
        for level, (H_, W_) in enumerate(value_spatial_shapes):
            value_l_ = value_list[level].flatten(2).transpose(1, 2).reshape(
                bs * num_heads, embed_dims, H_, W_)
            sampling_grid_l_ = sampling_grids[:, :, :,
                                              level].transpose(1, 2).flatten(0, 1)
            sampling_value_l_ = F.grid_sample(
                value_l_,
                sampling_grid_l_,
                mode='bilinear',
                padding_mode='zeros',
                align_corners=False)
            sampling_value_list.append(sampling_value_l_)
        attention_weights = attention_weights.transpose(1, 2).reshape(
            bs * num_heads, 1, num_queries, num_levels * num_points)
        output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) *
                  attention_weights).sum(-1).view(bs, num_heads * embed_dims,
                                                  num_queries)
        return output.transpose(1, 2).contiguous()

    class MultiScaleDeformableAttnFunction(Function):

        @staticmethod
        def forward(ctx, value, value_spatial_shapes, value_level_start_index, sampling_locations,
                    attention_weights, im2col_step):
            # mmcv: ext_module.ms_deform_attn_forward(...) (CUDA); the same op, by mmcv's CPU formulation
            return multi_scale_deformable_attn_pytorch(value, value_spatial_shapes, sampling_locations,
                                                       attention_weights)

        @staticmethod
        def symbolic(
            g,
            value,
            value_spatial_shapes,
            value_level_start_index,
            sampling_locations,
            attention_weights,
            im2col_step=64,
        ):
            """Rewrite msda symbolic function for all backend."""
            return g.op(
                'mmdeploy::MMCVMultiScaleDeformableAttention',
                value,
                value_spatial_shapes,
                value_level_start_index,
                sampling_locations,
                attention_weights,
                im2col_step_i=im2col_step,
            )

    class MMCVMultiScaleDeformableAttention(nn.Module):
        """mmcv.ops.MultiScaleDeformableAttention (batch_first=False, value_proj_ratio 1, eval: dropout is
        the identity): __init__'s layers and forward as upstream; torch's default Linear init instead of
        init_weights (which zeroes sampling_offsets' and attention_weights' weights, so every query would
        sample the same offsets with uniform weights). The encoder's spatial_shapes and level_start_index are
        built in forward from the fixed level sizes, as DeformableDetrTransformer does from its feature maps."""

        def __init__(self, embed_dims, num_heads, num_levels, num_points, im2col_step=64, levels=MSDA_LEVELS):
            super().__init__()
            self.dropout = nn.Dropout(0.1)
            self.batch_first = False
            self.im2col_step = im2col_step
            self.embed_dims = embed_dims
            self.num_levels = num_levels
            self.num_heads = num_heads
            self.num_points = num_points
            self.levels = [list(lv) for lv in levels]
            self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
            self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
            self.value_proj = nn.Linear(embed_dims, embed_dims)
            self.output_proj = nn.Linear(embed_dims, embed_dims)

        def forward(self, query, reference_points):
            spatial_shapes = torch.as_tensor(self.levels, dtype=torch.long, device=query.device)
            level_start_index = torch.cat((spatial_shapes.new_zeros((1, )),
                                           spatial_shapes.prod(1).cumsum(0)[:-1]))
            value = query
            identity = query
            # mmcv MultiScaleDeformableAttention.forward from here (query_pos, key_padding_mask: None)
            if not self.batch_first:
                # change to (bs, num_query ,embed_dims)
                query = query.permute(1, 0, 2)
                value = value.permute(1, 0, 2)

            bs, num_query, _ = query.shape
            bs, num_value, _ = value.shape
            assert (spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum() == num_value

            value = self.value_proj(value)
            value = value.view(bs, num_value, self.num_heads, -1)
            sampling_offsets = self.sampling_offsets(query).view(
                bs, num_query, self.num_heads, self.num_levels, self.num_points, 2)
            attention_weights = self.attention_weights(query).view(
                bs, num_query, self.num_heads, self.num_levels * self.num_points)
            attention_weights = attention_weights.softmax(-1)

            attention_weights = attention_weights.view(bs, num_query,
                                                       self.num_heads,
                                                       self.num_levels,
                                                       self.num_points)
            if reference_points.shape[-1] == 2:
                offset_normalizer = torch.stack(
                    [spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
                sampling_locations = reference_points[:, :, None, :, None, :] \
                    + sampling_offsets \
                    / offset_normalizer[None, None, None, :, None, :]
            else:
                raise ValueError('reference_points must be (bs, num_query, num_levels, 2) here')
            output = MultiScaleDeformableAttnFunction.apply(
                value, spatial_shapes, level_start_index, sampling_locations,
                attention_weights, self.im2col_step)

            output = self.output_proj(output)

            if not self.batch_first:
                # (num_query, bs ,embed_dims)
                output = output.permute(1, 0, 2)

            return self.dropout(output) + identity

    return dict(MMCVMultiScaleDeformableAttention=MMCVMultiScaleDeformableAttention)


def msda_cases():
    keys = sum(h * w for h, w in MSDA_LEVELS)

    def inputs(bs):
        def make(rng):
            return {"query": rng.standard_normal((keys, bs, 16)).astype(np.float32),
                    "reference_points": rng.uniform(0, 1, size=(bs, keys, len(MSDA_LEVELS), 2)).astype(np.float32)}
        return make

    return [dict(name=f"mmcv_msda_encoder_bs{bs}_opset{opset}", cls="MMCVMultiScaleDeformableAttention",
                 kwargs=dict(embed_dims=16, num_heads=4, num_levels=len(MSDA_LEVELS), num_points=2),
                 inputs=inputs(bs), opset=opset, dynamo=False, custom_opsets={"mmdeploy": 1}, source=_msda_modules,
                 taker="MultiScaleDeformableAttention",
                 upstream=(MSDA_MMCV[0], MSDA_MMCV[1], MSDA_MMCV[2],
                           "MultiScaleDeformableAttention.forward + multi_scale_deformable_attn_pytorch; symbolic: "
                           f"{MSDA_MMDEPLOY_SYMBOLIC[0]} {MSDA_MMDEPLOY_SYMBOLIC[1]} @ {MSDA_MMDEPLOY_SYMBOLIC[2]}"))
            for bs, opset in ((1, 13), (2, 16))]


# --------------------------------------------------------------------------------------------
# ONNX backend node tests
# --------------------------------------------------------------------------------------------
def node_test_taker(test: str, model: onnx.ModelProto) -> str | None:
    """The pykit plugin meant to take a node test, from what its graph holds.

    Plain Scatter/ScatterElements/ScatterND (no reduction) import natively on TensorRT 8.5 and are not
    a zero-canvas pillar scatter, so no plugin; a reduction goes to ScatterElementsReduce (for ScatterND
    that needs the rows-addressing rule or a ScatterNDReduce plugin, issue #11 item 3); LayerNormalization,
    native to LayerNorm (expanded: none); DeformConv to DeformConv2d; GridSample to GridSampler.
    """
    if test.startswith("test_layer_normalization"):
        # the _expanded tests are the op's ONNX function body, primitive ops TensorRT imports; the
        # decomposed-LayerNorm rule matches the exporters' decompositions, not this one
        return None if "_expanded" in test else "LayerNorm"
    if test.startswith("test_gridsample"):  # all opset 22 (5-D and opset-20 mode names: no native import before 11.2)
        return "GridSampler"
    if test.startswith("test_deform_conv"):
        return "DeformConv2d"
    ops = {n.op_type: n for n in model.graph.node}
    for op in ("ScatterElements", "ScatterND"):
        if op in ops:
            reduction = next((a.s.decode() for a in ops[op].attribute if a.name == "reduction"), "none")
            return "ScatterElementsReduce" if reduction != "none" else None
    return None


def copy_node_tests(wheel: str | None) -> list[dict]:
    """From the installed onnx if it ships backend/test/data/node, else from a given onnx wheel file."""
    entries = []
    if wheel:
        archive = zipfile.ZipFile(wheel)
        version = re.search(r"onnx-([0-9.]+)-", Path(wheel).name).group(1)
        prefix = "onnx/backend/test/data/node/"
        members = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]

        def files_of(test):
            return [(n[len(prefix) + len(test) + 1:], archive.read(n)) for n in members
                    if n.startswith(prefix + test + "/")]
        tests = sorted({n[len(prefix):].split("/")[0] for n in members})
        source = f"onnx {version} wheel ({Path(wheel).name}), onnx/backend/test/data/node"
    else:
        node_dir = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
        if not node_dir.is_dir():
            sys.exit(f"export_corpus: onnx {onnx.__version__} at {Path(onnx.__file__).parent} ships no "
                     f"backend/test/data/node; pass --wheel <onnx wheel file> (e.g. `pip download --no-deps onnx==1.17.0`)")
        version = onnx.__version__
        tests = sorted(p.name for p in node_dir.iterdir())

        def files_of(test):
            return [(str(p.relative_to(node_dir / test)), p.read_bytes())
                    for p in sorted((node_dir / test).rglob("*")) if p.is_file()]
        source = f"onnx {version} installed package, onnx/backend/test/data/node"
    dest_root = CORPUS / "onnx_node"
    shutil.rmtree(dest_root, ignore_errors=True)
    for test in tests:
        if not NODE_TEST_PATTERN.match(test):
            continue
        dest = dest_root / test
        for rel, blob in files_of(test):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(blob)
        model = onnx.load(str(dest / "model.onnx"))
        entries.append({
            "name": f"onnx_node/{test}", "kind": "onnx_node_test", "exporter": "onnx backend node test",
            "onnx": version, "source": source,
            "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
            "ir_version": model.ir_version, "taker": node_test_taker(test, model), "data": "test_data_set_0",
            "ops": op_summary(model),
        })
    print(f"  copied {len(entries)} node tests from {source}")
    return entries


# --------------------------------------------------------------------------------------------
def load_index() -> dict:
    if INDEX.exists():
        return json.loads(INDEX.read_text())
    return {"models": [], "export_failures": []}


def save_index(index: dict) -> None:
    index["models"].sort(key=lambda e: e["name"])
    INDEX.write_text(json.dumps(index, indent=1, sort_keys=False) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["torch", "onnx-node", "all"])
    ap.add_argument("--only", help="regex over torch case names (torch only)")
    ap.add_argument("--wheel", help="onnx wheel file to take the node tests from (when the installed onnx has none)")
    args = ap.parse_args(argv)
    CORPUS.mkdir(parents=True, exist_ok=True)
    index = load_index()
    if args.what in ("torch", "all"):
        entries, failures = export_torch(args.only)
        # a case kept elsewhere (`pykit demo`'s model, in its plugin folder) is not a corpus entry
        entries = [e for e in entries if "folder" not in e]
        done = {e["name"] for e in entries} | {f["name"] for f in failures}
        index["models"] = [e for e in index["models"] if e["name"] not in done]
        index["models"] += entries
        index["export_failures"] = sorted(
            [f for f in index.get("export_failures", []) if f["name"] not in done] + failures,
            key=lambda f: f["name"])
    if args.what in ("onnx-node", "all"):
        entries = copy_node_tests(args.wheel)
        index["models"] = [e for e in index["models"] if e["kind"] != "onnx_node_test"] + entries
    save_index(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
