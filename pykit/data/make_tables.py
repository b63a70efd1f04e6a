"""Regenerate the TensorRT ONNX-parser support tables (trt_*.json) in this folder.

Sources: onnx/onnx-tensorrt docs/operators.md at the refs named below (read from a local git
snapshot: ``python -m pykit.data.make_tables /path/to/onnx-tensorrt.git``), plus the importer facts
in SEMANTICS (read from builtin_op_importers.cpp / onnxOpImporters.cpp at the same refs). The 10.15
table was transcribed from operators.md of the 10.x branch ("TensorRT 10.15 supports operators in
the inclusive range of opset 9 to opset 24"). The 11 table is parsed from OPERATORS_MD_11_1 below, a
transcription of operators.md at the commit that NVIDIA/TensorRT v11.1 pins as its parsers/onnx
submodule (the local snapshot ends at 10.1, so it is not read from git); no git snapshot is needed
for it. IR limits: the IR version of the ONNX release that introduced the parser's maximum opset
(onnx.helper.VERSION_TABLE): opset 17 -> IR 8 (ONNX 1.12), opset 20 -> IR 9 (ONNX 1.15),
opset 24 -> IR 12 (ONNX 1.19).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ROW = re.compile(r"^\|\s*([A-Za-z0-9_]+)\s*\|\s*(Y|N)[^|]*\|?\s*([^|]*)\|?\s*([^|]*)")

# version -> (git ref, opset min, opset max, ir max, doc header line)
GIT_VERSIONS = {
    "8.5": ("8.5-GA", 7, 17, 8),
    "8.6": ("8.6-GA", 7, 17, 8),
    "10.0": ("10.1-GA", 9, 20, 9),
}

# Every onnx-tensorrt importer of ScatterElements (8.x onnx2trt_utils.cpp scatterHelper, 10.x/11.x
# onnxOpImporters.cpp) checks each known dimension of indices and updates against data's and refuses
# the node otherwise. Seen on the H200 with TensorRT 8.5.3 (docs/validation/corpus/parser.md): every
# PyG scatter export (more messages than nodes) is refused there, where the reduction rule below
# would have called it imported with wrong results. Checked before the reduction rules: the parser
# refuses first. Scatter (opset 9-10) goes through the same helper.
SCATTER_DIMS = [
    {"op": op, "inputs": [1, 2], "within": 0, "effect": "rejected",
     "message": "indices/updates are larger than data along an axis: the importer refuses the node "
                "('Indices dimensions must be less than data dimensions!'; e.g. a scatter_add of more messages than nodes)",
     "source": "onnx-tensorrt onnx2trt_utils.cpp scatterHelper (8.x) / onnxOpImporters.cpp ScatterElements "
               "(10.x): ASSERT(indicesDims.d[i] <= dataDims.d[i]) for known dims; TensorRT 8.5.3 on the H200: "
               "docs/validation/corpus/parser.md"}
    for op in ("Scatter", "ScatterElements")
]
SCATTER_WRONG_8 = [
    {"op": "ScatterND", "attribute": "reduction", "unless": "none", "effect": "wrong",
     "message": "the importer ignores 'reduction' and builds a plain scatter (silently wrong results)",
     "source": "builtin_op_importers.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterND): addScatterLayer(kND), no attribute read"},
    {"op": "ScatterElements", "attribute": "reduction", "unless": "none", "effect": "wrong",
     "message": "the importer ignores 'reduction' and builds a plain scatter (silently wrong results)",
     "source": "builtin_op_importers.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterElements): addScatterLayer(kELEMENT), reads 'axis' only"},
]
SCATTER_10 = [
    {"op": "ScatterND", "attribute": "reduction", "unless": "none", "effect": "rejected",
     "message": "the importer rejects 'reduction' (kUNSUPPORTED_NODE_ATTR: \"Attribute reduction is not supported.\")",
     "source": "onnxOpImporters.cpp DEFINE_BUILTIN_OP_IMPORTER(ScatterND): ASSERT_NODE(!attrs.count(\"reduction\"))"},
    {"op": "ScatterElements", "attribute": "reduction", "unless": "none", "effect": "external",
     "message": "imported through TensorRT's own 'ScatterElements' plugin (libnvinfer_plugin must be loaded)",
     "source": "onnxOpImporters.cpp scatterPluginHelper: importPluginCreator(\"ScatterElements\", \"1\")"},
]
# 11.1: the importer source at the 11.1 commit was not available; operators.md there still says ScatterND
# "`reduction` other than `none` is not supported", and v11.1 still ships plugin/scatterElementsPlugin (it is
# not among the plugins 11.0 removed), so the 10.x importer facts are kept with that evidence named.
SCATTER_11 = [
    dict(SCATTER_10[0], source=SCATTER_10[0]["source"] + "; 11.1 operators.md ScatterND row: "
         "\"`reduction` other than `none` is not supported\""),
    dict(SCATTER_10[1], source=SCATTER_10[1]["source"] + " (10.x importer; NVIDIA/TensorRT v11.1 still ships "
         "plugin/scatterElementsPlugin and its CHANGELOG 11.0 removals do not include it)"),
]
# GridSample before 11.2 (11.2's release notes: "5D GridSample" added; `--trt 11` is the earliest 11.x):
# the importer builds IGridSampleLayer, which takes 4-D input only (NvInfer.h IGridSampleLayer: "input
# tensor of shape [N, C, H, W]"; a 5-D node fails in addGridSample with "API Usage Error", NVIDIA/TensorRT
# issue #4618), and maps the mode names of opset 16 (bilinear, nearest, bicubic) to InterpolationMode;
# opset 20 renamed them (linear, cubic), which these parsers do not know. Taker: plugins/grid_sampler (GridSampler).
GRIDSAMPLE_BEFORE_11_2 = [
    {"op": "GridSample", "input": 0, "input_ranks": [4], "effect": "rejected",
     "message": "TensorRT's GridSample (IGridSampleLayer) takes 4-D input only before 11.2 (5-D fails in addGridSample)",
     "source": "NvInfer.h IGridSampleLayer (4-D input); NVIDIA/TensorRT issue #4618 (5-D GridSample: 'addGridsample: "
               "Error Code 3: API Usage Error'); TensorRT 11.2.1 release notes 'GridSample 3D support'"},
    {"op": "GridSample", "attribute": "mode", "unless": ["bilinear", "nearest", "bicubic"], "effect": "rejected",
     "message": "opset 20's mode names (linear, cubic; linear is GridSample-20's default) are not the importer's "
                "(bilinear, nearest, bicubic: opset 16's)",
     "source": "ONNX GridSample-20 changelog (modes renamed linear/cubic); the importer's mode strings are opset 16's"},
]
# 8.x's importers of the reduce ops other than ReduceSum read 'axes' as an attribute only
# (onnx2trt_utils.cpp reduceTensor: no axes attribute -> every axis); opset 18 moved axes to an input,
# which they ignore. Measured on the H200 (TensorRT 8.5.3, docs/validation/corpus): of the ONNX
# LayerNormalization node tests expanded at opset 18 (ReduceMean-18), the six whose axes are all of
# the input's parse and compute right natively, the others fail at the Reshape after the ReduceMean.
# Kind "above-opset" (with the known outcome in the message): converting the model to 17 fixes it.
REDUCE_AXES_INPUT_8 = [
    {"op": op, "input_from_opset": [1, 18], "effect": "above-opset",
     "message": "opset 18's axes input is ignored by the importer, which reduces over every axis "
                "(right only when the axes are all of the input's; else wrong results or a refusal downstream); "
                "patch --trt converts the model to opset 17, where axes is an attribute",
     "source": "onnx-tensorrt 8.x onnx2trt_utils.cpp reduceTensor (axes from the attribute only); TensorRT 8.5.3 on the "
               "H200: docs/validation/corpus/parser.md and report.md (the expanded LayerNormalization node tests)"}
    for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
               "ReduceProd", "ReduceSumSquare")
]
# 8.x's GridSample importer does not refuse opset 20's mode names: measured on the H200 (TensorRT
# 8.5.3), the ONNX GridSample node tests at opset 22 with mode 'linear' or 'cubic' parse and their
# native engines compute other values than the tests' stored outputs (max |error| 1.25-7.35).
GRIDSAMPLE_8 = [GRIDSAMPLE_BEFORE_11_2[0], dict(
    GRIDSAMPLE_BEFORE_11_2[1], effect="wrong",
    message="opset 20's mode names (linear, cubic; linear is GridSample-20's default) are not the importer's "
            "(bilinear, nearest, bicubic: opset 16's): it takes the node and samples differently (silently wrong results)",
    source=GRIDSAMPLE_BEFORE_11_2[1]["source"] + "; TensorRT 8.5.3 on the H200: the opset-22 GridSample node tests with "
           "mode linear/cubic compute wrong outputs natively (docs/validation/corpus/report.md)")]
SEMANTICS = {"8.5": SCATTER_DIMS + SCATTER_WRONG_8 + REDUCE_AXES_INPUT_8 + GRIDSAMPLE_8,
             "8.6": SCATTER_DIMS + SCATTER_WRONG_8 + REDUCE_AXES_INPUT_8 + GRIDSAMPLE_8,
             "10.0": SCATTER_DIMS + SCATTER_10 + GRIDSAMPLE_BEFORE_11_2,
             "10.15": SCATTER_DIMS + SCATTER_10 + GRIDSAMPLE_BEFORE_11_2,
             "11": SCATTER_DIMS + SCATTER_11 + GRIDSAMPLE_BEFORE_11_2}

# TensorRT 10.15 operators.md, transcribed (operator -> supported; restrictions kept where a rule needs them)
OPS_10_15_N = """AffineGrid Bernoulli BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor Col2Im CenterCropPad Compress
ConcatFromSequence ConvInteger DFT Det DynamicQuantizeLinear ImageDecoder MatMulInteger MaxRoiPool MaxUnpool
MelWeightMatrix Multinomial NegativeLogLikelihoodLoss Optional OptionalGetElement OptionalHasElement QLinearConv
QLinearMatMul RegexFullMatch SequenceAt SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength
SequenceMap SoftmaxCrossEntropyLoss SplitToSequence StringConcat StringNormalizer StringSplit TfIdfVectorizer Unique""".split()
OPS_10_15_Y = """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh Attention AveragePool BatchNormalization
BlackmanWindow Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv
DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements
GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU
HammingWindow HannWindow HardSigmoid HardSwish Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN
LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu
QuantizeLinear RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2
ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
ReverseSequence RMSNormalization RNN RoiAlign RotaryEmbedding Round STFT ScaledTanh Scan Scatter ScatterElements ScatterND
Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
Tanh TensorScatter ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor""".split()
RESTRICTIONS_10_15 = {
    "ScatterND": "`reduction` other than `none` is not supported",
    "LayerNormalization": "Only the first output `Y` is supported.",
    "Hardmax": "`axis` dimension of input must be a build-time constant",
}

# TensorRT 11.1, transcribed from onnx/onnx-tensorrt docs/operators.md at commit
# 7c51a63a719180eb5160c874c111746f3fb46a6b: the parsers/onnx submodule commit of NVIDIA/TensorRT tag v11.1
# (82d1dca801c8318a5605399d5240780d0679e4e1, "TensorRT 11.1 OSS Release", 2026-06-24). Kept: the opset sentence
# and every row of "Operator Support Matrix" (Operator | Supported | Supported Types | Restrictions), in the
# document's order, padding collapsed. Against the 10.15 document it differs only in the version in the header,
# the Swish row and a closing link to TRT_custom_ops.md (TensorRT's own TRT_* ops) -- checked: the same Y/N as
# OPS_10_15_* for all 200 of their ops, and 18044 -> 18225 characters = -1 (header) +62 (Swish row) +120 (link).
# TensorRT's CHANGELOG.md lists no ONNX-operator
# change for 11.1 (only "Updated TRT_Attention to support raggedness") and "Added support for Swish operator"
# for 11.0, so this is also the 11.0 table: the earliest 11.x, as `--trt 10` means the earliest 10.x.
OPERATORS_MD_11_1 = """
TensorRT 11.1 supports operators in the inclusive range of opset 9 to opset 24.

| Operator | Supported | Supported Types | Restrictions |
|---|---|---|---|
| Abs | Y | FP32, FP16, BF16, INT32, INT64 |
| Acos | Y | FP32, FP16, BF16 |
| Acosh | Y | FP32, FP16, BF16 |
| Add | Y | FP32, FP16, BF16, INT32, INT64 |
| AffineGrid | N |
| And | Y | BOOL |
| ArgMax | Y | FP32, FP16, BF16, INT32, INT64 |
| ArgMin | Y | FP32, FP16, BF16, INT32, INT64 |
| Asin | Y | FP32, FP16, BF16 |
| Asinh | Y | FP32, FP16, BF16 |
| Atan | Y | FP32, FP16, BF16 |
| Atanh | Y | FP32, FP16, BF16 |
| Attention | Y | FP32, FP16, BF16, INT8, FP8 | `Q`, `K`, `V` and `attn_mask ` must be 4D. `past_key`, `past_value` and `nonpad_kv_seqlen` inputs are unsupported. `present_key`, `present_value` and `qk_matmul_output` outputs are unsupported. `qk_matmul_output_mode` and `softcap` attributes are unsupported. `q_num_heads` and `kv_num_heads` attributes are supported via being specified as the second dimension of `Q` and `K`/`V`'s shapes respectively. |
| AveragePool | Y | FP32, FP16, BF16 | 2D or 3D Pooling only. `dilations` must be empty or all ones |
| BatchNormalization | Y | FP32, FP16, BF16 |
| Bernoulli | N |
| BitShift | N |
| BitwiseAnd | N |
| BitwiseNot | N |
| BitwiseOr | N |
| BitwiseXor | N |
| BlackmanWindow | Y | FP32, FP16 |
| Cast | Y | FP32, FP16, BF16, INT32, INT64, UINT8, BOOL | |
| CastLike | Y | FP32, FP16, BF16, INT32, INT64, UINT8, BOOL | |
| Ceil | Y | FP32, FP16, BF16 |
| Col2Im | N |
| Celu | Y | FP32, FP16, BF16 |
| CenterCropPad | N |
| Clip | Y | FP32, FP16, BF16 | |
| Compress | N |
| Concat | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| ConcatFromSequence | N |
| Constant | Y | FP32, FP16, BF16, FP8, FP4, INT4, INT32, INT64, BOOL | `sparse_value`, `value_string`, and `value_strings` attributes are unsupported.
| ConstantOfShape | Y | FP32, FP16, BF16, FP8, FP4, INT4, INT32, INT64, BOOL |
| Conv | Y | FP32, FP16, BF16 |
| ConvInteger | N |
| ConvTranspose | Y | FP32, FP16, BF16 |
| Cos | Y | FP32, FP16, BF16 |
| Cosh | Y | FP32, FP16, BF16 |
| CumSum | Y | FP32, FP16, BF16 | `axis` must be a build-time constant |
| DFT | N |
| DeformConv | Y | FP32, FP16 | `input` must have 1D or 2D spatial dimensions. `pads` for the beginning and end along each spatial axis must be the same
| DepthToSpace | Y | FP32, FP16, BF16, INT32, INT64 |
| DequantizeLinear | Y | INT8, FP8, FP4, INT4 | `x_zero_point` must be zero |
| Det | N |
| Div | Y | FP32, FP16, BF16, INT32, INT64 |
| Dropout | Y | FP32, FP16, BF16 | `is_training` must be an initializer and evaluate to False.
| DynamicQuantizeLinear | N | Not supported. TensorRT's IDynamicQuantize can be composed from ONNX operators in the form of a model local function.
| Einsum | Y | FP32, FP16, BF16 |
| Elu | Y | FP32, FP16, BF16 |
| Equal | Y | FP32, FP16, BF16, INT32, INT64 |
| Erf | Y | FP32, FP16, BF16 |
| Exp | Y | FP32, FP16, BF16 |
| Expand | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| EyeLike | Y | FP32, FP16, BF16, INT32, INT64, BOOL | `input` must have static dimensions
| Flatten | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Floor | Y | FP32, FP16, BF16|
| Gather | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| GatherElements | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| GatherND | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Gelu | Y | FP32, FP16, BF16, INT8, INT32, INT64 |
| Gemm | Y | FP32, FP16, BF16 |
| GlobalAveragePool | Y | FP32, FP16, BF16 |
| GlobalLpPool | Y | FP32, FP16, BF16 |
| GlobalMaxPool | Y | FP32, FP16, BF16 |
| Greater | Y | FP32, FP16, BF16, INT32, INT64 |
| GreaterOrEqual | Y | FP32, FP16, BF16, INT32, INT64 |
| GridSample | Y | FP32, FP16 | Input must be 4D input.
| GroupNormalization | Y | FP32, FP16, BF16 |
| GRU | Y | FP32, FP16, BF16 | For bidirectional GRUs, activation functions must be the same for both the forward and reverse pass
| HammingWindow | Y | FP32, FP16 |
| HannWindow | Y | FP32, FP16 |
| HardSigmoid | Y | FP32, FP16, BF16 |
| HardSwish | Y | FP32, FP16, BF16 |
| Hardmax | Y | FP32, FP16, BF16 | `axis` dimension of input must be a build-time constant
| Identity | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| If | Y | FP32, FP16, BF16, INT32, INT64, BOOL | Output tensors of the two conditional branches must have the same rank and must have different names
| ImageScaler | Y | FP32, FP16, BF16|
| ImageDecoder | N |
| InstanceNormalization | Y | FP32, FP16, BF16 |
| IsInf | Y | FP32, FP16, BF16 |
| IsNaN | Y | FP32, FP16, BF16, INT32, INT64 |
| LayerNormalization | Y | FP32, FP16, BF16 | Only the first output `Y` is supported.
| LeakyRelu | Y | FP32, FP16, BF16 |
| Less | Y | FP32, FP16, BF16, INT32, INT64 |
| LessOrEqual | Y | FP32, FP16, BF16, INT32, INT64 |
| Log | Y | FP32, FP16, BF16 |
| LogSoftmax | Y | FP32, FP16, BF16 |
| Loop | Y | FP32, FP16, BF16, INT32, INT64, BOOL | Scan output length cannot be dynamic. The shape of Loop carried dependencies must be the same across all loop iterations.
| LRN | Y | FP32, FP16, BF16 |
| LSTM | Y | FP32, FP16, BF16 | For bidirectional LSTMs, activation functions must be the same for both the forward and reverse pass. `input_forget` attribute must be 0. `layout` attribute must be 0.
| LpNormalization | Y | FP32, FP16, BF16 |
| LpPool | Y | FP32, FP16, BF16 | `dilations` must be empty or all ones
| MatMul | Y | FP32, FP16, BF16 |
| MatMulInteger | N |
| Max | Y | FP32, FP16, BF16, INT32, INT64 |
| MaxPool | Y | FP32, FP16, BF16 | 2D or 3D pooling only. `Indices` output tensor unsupported. `dilations` must be empty or all ones
| MaxRoiPool | N |
| MaxUnpool | N |
| Mean | Y | FP32, FP16, BF16, FP8, INT32, INT64 |
| MeanVarianceNormalization | Y | FP32, FP16, BF16|
| MelWeightMatrix | N |
| Min | Y | FP32, FP16, BF16, INT32, INT64 |
| Mish | Y | FP32, FP16 |
| Mod | Y | FP32, FP16, BF16, INT32, INT64 |
| Mul | Y | FP32, FP16, BF16, INT32, INT64 |
| Multinomial | N |
| Neg | Y | FP32, FP16, BF16, INT32, INT64 |
| NegativeLogLikelihoodLoss | N |
| NonMaxSuppression | Y | FP32, FP16 |
| NonZero | Y | FP32, FP16 |
| Not | Y | BOOL |
| OneHot | Y | FP32, FP16, BF16, INT32, INT64, BOOL | `depth` must be a build-time constant
| Optional | N |
| OptionalGetElement | N |
| OptionalHasElement | N |
| Or | Y | BOOL |
| Pad | Y | FP32, FP16, BF16, INT32, INT64 |
| ParametricSoftplus | Y | FP32, FP16, BF16 |
| Pow | Y | FP32, FP16, BF16, INT32, INT64 |
| PRelu | Y | FP32, FP16, BF16 |
| QLinearConv | N |
| QLinearMatMul | N |
| QuantizeLinear | Y | FP32, FP16, BF16 | `y_zero_point` must be 0 |
| RandomNormal | Y | FP32, FP16, BF16 | `seed` value is ignored by TensorRT
| RandomNormalLike | Y | FP32, FP16, BF16 | `seed` value is ignored by TensorRT
| RandomUniform | Y | FP32, FP16, BF16 | `seed` value is ignored by TensorRT
| RandomUniformLike | Y | FP32, FP16, BF16 | `seed` value is ignored by TensorRT
| Range | Y | FP32, FP16, BF16, INT32, INT64 |
| Reciprocal | Y | FP32, FP16, BF16 |
| ReduceL1 | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceL2 | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceLogSum | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceLogSumExp | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceMax | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceMean | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceMin | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceProd | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceSum | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| ReduceSumSquare | Y | FP32, FP16, BF16, INT32, INT64 | `axes` must be an initializer |
| RegexFullMatch | N |
| Relu | Y | FP32, FP16, BF16, INT32, INT64 |
| Reshape | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Resize | Y | FP32, FP16, BF16 | Supported resize transformation modes: `half_pixel`, `pytorch_half_pixel`, `tf_half_pixel_for_nn`, `asymmetric`, and `align_corners`.<br />Supported resize modes: `nearest`, `linear`.<br />Supported nearest modes: `floor`, `ceil`, `round_prefer_floor`, `round_prefer_ceil`.<br />Supported aspect ratio policy: `stretch`.<br />When `scales` is a tensor input, `axes` must be an iota vector of length rank(input).<br />Antialiasing is not supported.|
| ReverseSequence | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| RMSNormalization | Y | FP32, FP16, BF16 |
| RNN | Y | FP32, FP16, BF16| For bidirectional RNNs, activation functions must be the same for both the forward and reverse pass
| RoiAlign | Y | FP32, FP16 |
| RotaryEmbedding | Y | FP32, FP16, BF16 | `position_ids` must be INT64 |
| Round | Y | FP32, FP16, BF16 |
| STFT | Y | FP32 | `frame_step` and `window` must be an initializer. Input must be real-valued.
| ScaledTanh | Y | FP32, FP16, BF16 |
| Scan | Y | FP32, FP16, BF16|
| Scatter | Y | FP32, FP16, BF16, INT32, INT64 |
| ScatterElements | Y | FP32, FP16, BF16, INT32, INT64 |
| ScatterND | Y | FP32, FP16, BF16, INT32, INT64 | `reduction` other than `none` is not supported
| Selu | Y | FP32, FP16, BF16, |
| SequenceAt | N |
| SequenceConstruct | N |
| SequenceEmpty | N |
| SequenceErase | N |
| SequenceInsert | N |
| SequenceLength | N |
| SequenceMap | N |
| Shape | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Shrink | Y | FP32, FP16, BF16, INT32, INT64 |
| Sigmoid | Y | FP32, FP16, BF16 |
| Sign | Y | FP32, FP16, BF16, INT32, INT64 |
| Sin | Y | FP32, FP16, BF16 |
| Sinh | Y | FP32, FP16, BF16 |
| Size | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Slice | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Softmax | Y | FP32, FP16, BF16 |
| SoftmaxCrossEntropyLoss | N |
| Softplus | Y | FP32, FP16, BF16 |
| Softsign | Y | FP32, FP16, BF16 |
| SpaceToDepth | Y | FP32, FP16, BF16, INT32, INT64 |
| Split | Y | FP32, FP16, BF16, INT32, INT64, BOOL | |
| SplitToSequence | N |
| Sqrt | Y | FP32, FP16, BF16 |
| Squeeze | Y | FP32, FP16, BF16, INT32, INT64, BOOL | `axes` must be resolvable to a constant. |
| StringConcat | N |
| StringNormalizer | N |
| StringSplit | N |
| Sub | Y | FP32, FP16, BF16, INT32, INT64 |
| Sum | Y | FP32, FP16, BF16, INT32, INT64 |
| Swish | Y | FP32, FP16, BF16 |
| Tan | Y | FP32, FP16, BF16 |
| Tanh | Y | FP32, FP16, BF16 |
| TensorScatter | Y | FP32, FP16, BF16, INT32 | `past_cache` and `update` must be 4D. `axis` must be -2. |
| TfIdfVectorizer | N |
| ThresholdedRelu | Y | FP32, FP16, BF16 |
| Tile | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| TopK | Y | FP32, FP16, BF16, INT32, INT64 | `sorted` must be 1. `K` input must be less than 3840.
| Transpose | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Trilu | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Unique | N |
| Unsqueeze | Y | FP32, FP16, BF16, INT32, INT64, BOOL | `axes` must be resolvable to a constant. |
| Upsample | Y | FP32, FP16, BF16 |
| Where | Y | FP32, FP16, BF16, INT32, INT64, BOOL |
| Xor | Y | BOOL
"""
SOURCE_11 = {
    "repo": "onnx/onnx-tensorrt", "ref": "parsers/onnx of NVIDIA/TensorRT v11.1",
    "commit": "7c51a63a719180eb5160c874c111746f3fb46a6b", "path": "docs/operators.md",
    "note": "TensorRT 11.1's table, transcribed in pykit/data/make_tables.py; also 11.0's (CHANGELOG.md: no "
            "ONNX-operator change in 11.1, Swish added in 11.0)",
}
OPSET_NOTE_11 = (
    "NVIDIA's ONNX Opset Guide (docs.nvidia.com/deeplearning/tensorrt/latest/reference/onnx-opset-guide.html) gives "
    "'TensorRT 11.x: ONNX 1.20.0, maximum opset 25, minimum opset 9'; that disagrees with 11.1's operators.md "
    "(opset 9 to 24) and with the 11.5 release note that added opset 25 and ONNX 1.22.0, so the release's own "
    "operators.md is followed.")
# Documented after 11.1 (not applied: `--trt 11` is the earliest 11.x, so a model that passes imports on all 11.x).
LATER_11 = [
    {"version": "11.2", "ops": ["DFT"], "change": "DFT imported (through the new cuFFT-based FFTPlugin)",
     "source": "github.com/NVIDIA/TensorRT/releases/tag/v11.2 (2026-08-04) Parsers: 'Added support for the DFT "
               "operator and 5D GridSample operators'; TensorRT 11.2.1 Release Notes, Key Features"},
    {"version": "11.2", "ops": ["GridSample"], "change": "GridSample extended from 2D-only (4-D input) to 3D (rank-5 input)",
     "source": "docs.nvidia.com/deeplearning/tensorrt/latest/getting-started/release-notes-11/11.2.1.html, "
               "Announcements: 'GridSample 3D support'"},
    {"version": "11.5", "ops": ["Squeeze"], "change": "opset 25, ONNX 1.22.0; Squeeze without the axes input",
     "source": "github.com/onnx/onnx-tensorrt/releases/tag/release%2F11.5-GA (2026-11-18)"},
]
# How the 11.x parser takes a node as a plugin: recorded for the plugin-node contract (patch/lint --trt);
# pykit/surgeon/inspect.py does not read it yet.
PLUGIN_NODES_11 = [
    {"fact": "kENABLE_PLUGIN_OVERRIDE (OnnxParserFlag 3, OFF by default) lets a loaded plugin with the same name as "
             "an ONNX operator type override the ONNX importer even if the node's plugin namespace attribute is not "
             "set; without the flag such a node needs the namespace attribute to be taken as the plugin",
     "source": "NVIDIA/TensorRT v11.1 include/NvOnnxParser.h, enum OnnxParserFlag::kENABLE_PLUGIN_OVERRIDE; "
               "CHANGELOG.md 10.15 GA"},
    {"fact": "the plugin fallback importer also reads the plugin namespace from the node's domain",
     "source": "NVIDIA/TensorRT CHANGELOG.md 10.10.0 GA, Parser changes"},
    {"fact": "TRT_Attention, TRT_MoE and TRT_KVCacheUpdate are ops the 11.x parser imports itself (schemas in "
             "onnx-tensorrt docs/TRT_custom_ops.md), not plugins",
     "source": "NVIDIA/TensorRT CHANGELOG.md 11.0 GA Parsers; onnx/onnx-tensorrt docs/operators.md at 7c51a63 "
               "('TensorRT Custom Operators')"},
]


def parse_operators_md(text: str) -> dict:
    ops = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if not m or m.group(1) == "Operator":
            continue
        ops[m.group(1)] = {"supported": m.group(2) == "Y", "restrictions": m.group(4).strip()}
    return ops


OPSET_SENTENCE = re.compile(r"TensorRT ([0-9.]+) supports operators in the inclusive range of opset (\d+) to opset (\d+)")


def opset_range(text: str) -> tuple[str, int, int]:
    """(TensorRT version, opset min, opset max) from an operators.md's opening sentence."""
    m = OPSET_SENTENCE.search(text)
    if m is None:
        raise ValueError("no 'TensorRT X supports operators in the inclusive range of opset A to opset B' sentence")
    return m.group(1), int(m.group(2)), int(m.group(3))


def ir_for_opset(opset: int) -> int:
    """IR version of the first ONNX release whose default-domain opset is `opset`."""
    import onnx.helper

    return min(ir for _, ir, ai_onnx, *_ in onnx.helper.VERSION_TABLE if ai_onnx == opset)


def table_11() -> dict:
    version, lo, hi = opset_range(OPERATORS_MD_11_1)
    return {
        "trt": version,
        "source": SOURCE_11,
        "opset_min": lo, "opset_max": hi, "ir_max": ir_for_opset(hi),
        "ir_note": "IR version of the ONNX release that introduced opset %d (onnx.helper.VERSION_TABLE)" % hi,
        "opset_note": OPSET_NOTE_11,
        "semantics": SEMANTICS["11"],
        "plugin_nodes": PLUGIN_NODES_11,
        "later": LATER_11,
        "ops": dict(sorted(parse_operators_md(OPERATORS_MD_11_1).items())),
    }


def write_11() -> None:
    (HERE / "trt_11.json").write_text(json.dumps(table_11(), indent=1) + "\n")


def _table(version, ref, commit, opset_min, opset_max, ir_max, ops, note=""):
    return {
        "trt": version,
        "source": {"repo": "onnx/onnx-tensorrt", "ref": ref, "commit": commit, "path": "docs/operators.md",
                   "note": note},
        "opset_min": opset_min, "opset_max": opset_max, "ir_max": ir_max,
        "ir_note": "IR version of the ONNX release that introduced opset %d (onnx.helper.VERSION_TABLE)" % opset_max,
        "semantics": SEMANTICS[version],
        "ops": dict(sorted(ops.items())),
    }


def main(git_dir: str) -> None:
    for version, (ref, lo, hi, ir) in GIT_VERSIONS.items():
        text = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{ref}:docs/operators.md"],
                              check=True, capture_output=True, text=True).stdout
        commit = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", ref],
                                check=True, capture_output=True, text=True).stdout.strip()
        note = "the 10.1-GA doc is titled 'TensorRT 10.0 supports ... opset 9 to opset 20'" if version == "10.0" else ""
        table = _table(version, ref, commit, lo, hi, ir, parse_operators_md(text), note)
        (HERE / f"trt_{version}.json").write_text(json.dumps(table, indent=1) + "\n")
    ops = {op: {"supported": False, "restrictions": ""} for op in OPS_10_15_N}
    ops.update({op: {"supported": True, "restrictions": RESTRICTIONS_10_15.get(op, "")} for op in OPS_10_15_Y})
    t = _table("10.15", "10.x branch", "", 9, 24, 12, ops,
               "transcribed from the 10.x branch's docs/operators.md (TensorRT 10.15); restrictions column abbreviated")
    (HERE / "trt_10.15.json").write_text(json.dumps(t, indent=1) + "\n")
    write_11()


if __name__ == "__main__":
    if sys.argv[1:] == ["--only-11"]:  # needs no git snapshot
        write_11()
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/onnx+onnx-tensorrt/repo")
