// DeformConv TensorRT glue, one body for IPluginV2DynamicExt (TensorRT 8.x) and IPluginV3 (TensorRT >= 10):
// output shapes and the launch; counts, formats, types, names, versions, serialization, the
// creators' field table and error handling are the base classes' (common/trt/plugin_glue.h), from
// the compiled spec.
#include "deform_conv_attrs.h"
#include "deform_conv_kernel.h"
#include "common/trt/plugin_glue.h"
#include "common/cuda_check.h"

namespace pykit { namespace deform_conv {

template <template <class, class> class Base>
class DeformConvGlue : public Base<DeformConvGlue<Base>, Attrs> {
    using Super = Base<DeformConvGlue<Base>, Attrs>;

public:
    using Super::Super;

    // TODO(deform_conv): the real output shapes (the placeholder's outputs have the shape of 'x').
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const {
        return in[kSource];
    }

    // Counts, formats and types are the compiled spec's (the base); precision is the spec's row that ran.
    cudaError_t run(Precision precision, const trt::Tensors& t, void*, cudaStream_t stream) const {
        std::int64_t elements = 1;
        for (int32_t d = 0; d < t.in[kSource].dims.nbDims; ++d) elements *= t.in[kSource].dims.d[d];
        const Geometry g{elements};
        const bool int8 = precision == Precision::kINT8;
        for (int32_t k = 0; k < IO::kNumOutputs; ++k) {
            PYKIT_CUDA_RETURN_IF_ERROR(launch(precision, t.input(kSource), t.output(k), g, make_params(this->attrs_),
                                              int8 ? t.in[kSource].scale : 1.f, int8 ? t.out[k].scale : 1.f, stream));
        }
        return cudaSuccess;
    }

private:
    static constexpr int32_t kSource = 0;  // input 'x', which the placeholder copies
};

} }  // namespace pykit::deform_conv

PYKIT_DEFINE_CREATORS(deform_conv, pykit::deform_conv::DeformConvGlue)
