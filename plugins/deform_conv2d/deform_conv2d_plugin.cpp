// DeformConv TensorRT glue, one body for IPluginV2DynamicExt (TensorRT 8.x) and IPluginV3 (TensorRT >= 10):
// output shape, workspace (the im2col columns) and the launch; counts, formats, types, names,
// versions, serialization, the creators' field table and error handling are the base classes'
// (common/trt/plugin_glue.h), from the compiled spec.
#include "deform_conv2d_attrs.h"
#include "deform_conv2d_kernel.h"
#include "common/trt/plugin_glue.h"

namespace pykit { namespace deform_conv2d {

template <template <class, class> class Base>
class DeformConv2dGlue : public Base<DeformConv2dGlue<Base>, Attrs> {
    using Super = Base<DeformConv2dGlue<Base>, Attrs>;

public:
    using Super::Super;

    // (N, oC, oH, oW) with oH, oW read from offset's dims 2..3 (run() checks them against the
    // convolution arithmetic, which would need floor divisions of expressions here).
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const {
        require(in[0].nbDims == 4 && in[1].nbDims == 4 && in[2].nbDims == 4, Attrs::kPluginName,
                "2-D only: x, weight and offset must have rank 4");
        nvinfer1::DimsExprs out;
        out.nbDims = 4;
        out.d[0] = in[0].d[0];
        out.d[1] = in[1].d[0];
        out.d[2] = in[2].d[2];
        out.d[3] = in[2].d[3];
        return out;
    }

    // From x and weight alone: TensorRT asks with each tensor's profile maximum, and the maxima of
    // shape sets that are each valid need not be consistent with one another (a DCNv1 set's 1-element
    // mask and a DCNv2 set's full one); the columns depend only on x, the kernel and oH x oW. A size
    // refused here would be 0 bytes and the kernels would write past it.
    size_t workspace(Precision, const trt::Tensors& t) const {
        std::int64_t x[4], w[4];
        for (int32_t k = 0; k < 4; ++k) {
            require(t.in[0].dims.nbDims == 4 && t.in[1].dims.nbDims == 4 && t.in[0].dims.d[k] >= 0 && t.in[1].dims.d[k] >= 0,
                    Attrs::kPluginName, "workspace: x and weight need known rank-4 dims");
            x[k] = t.in[0].dims.d[k];
            w[k] = t.in[1].dims.d[k];
        }
        const auto& a = this->attrs_;
        const std::int64_t oh = output_size(x[2], a.pads[0], a.pads[2], w[2], a.dilations[0], a.strides[0]);
        const std::int64_t ow = output_size(x[3], a.pads[1], a.pads[3], w[3], a.dilations[1], a.strides[1]);
        const std::int64_t offset[4] = {x[0], 2 * a.offset_group * w[2] * w[3], oh, ow}, mask[4] = {1, 1, 1, 1};
        return size_t(workspace_bytes(make_geometry(x, w, offset, w[0], mask, a)));
    }

    cudaError_t run(Precision precision, const trt::Tensors& t, void* workspace, cudaStream_t stream) const {
        return launch(precision, t.input(0), t.input(1), t.input(2), t.input(3), t.input(4), t.output(0), workspace,
                      geometry(t), stream);
    }

private:
    Geometry geometry(const trt::Tensors& t) const {
        std::int64_t d[5][4] = {};
        for (int32_t k = 0; k < 5; ++k) {
            const nvinfer1::Dims& dims = t.in[k].dims;
            require(dims.nbDims == (k == 3 ? 1 : 4), Attrs::kPluginName, std::string("input '") + IO::kNames[k] + "' has rank " +
                                                                             std::to_string(dims.nbDims));
            for (int32_t i = 0; i < dims.nbDims; ++i) {
                require(dims.d[i] >= 0, Attrs::kPluginName, std::string("input '") + IO::kNames[k] + "' has an unknown dimension");
                d[k][i] = dims.d[i];
            }
        }
        const Geometry g = make_geometry(d[0], d[1], d[2], d[3][0], d[4], this->attrs_);
        const nvinfer1::Dims& y = t.out[0].dims;  // never write past the output TensorRT allocated
        require(y.nbDims == 4 && y.d[0] == g.n && y.d[1] == g.oc && y.d[2] == g.oh && y.d[3] == g.ow, Attrs::kPluginName,
                "output 'y' does not have shape (N, oC, oH, oW)");
        return g;
    }
};

} }  // namespace pykit::deform_conv2d

PYKIT_DEFINE_CREATORS(deform_conv2d, pykit::deform_conv2d::DeformConv2dGlue)
