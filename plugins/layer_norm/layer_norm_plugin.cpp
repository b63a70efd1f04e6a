// LayerNorm TensorRT glue (IPluginV2DynamicExt): output shape and the launch; counts, formats,
// types, names, versions, serialization, the creator's field table and error handling are the
// base classes' (common/trt/plugin_base.h), from the compiled spec.
#include "layer_norm_attrs.h"
#include "layer_norm_kernel.h"
#include "common/trt/plugin_glue.h"

namespace pykit { namespace layer_norm {

// One body for IPluginV2DynamicExt and IPluginV3 (common/trt/plugin_glue.h).
template <template <class, class> class Base>
class LayerNormGlue : public Base<LayerNormGlue<Base>, Attrs> {
    using Super = Base<LayerNormGlue<Base>, Attrs>;

public:
    using Super::Super;

    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const {
        require(normalized_axis(this->attrs_.axis, in[0].nbDims) >= 0, Attrs::kPluginName,
                "attribute 'axis' = " + std::to_string(this->attrs_.axis) + " is outside [-r, r) for x of rank " +
                    std::to_string(in[0].nbDims));
        return in[0];
    }

    cudaError_t run(Precision precision, const trt::Tensors& t, void*, cudaStream_t stream) const {
        const nvinfer1::Dims& dims = t.in[0].dims;
        const int axis = normalized_axis(this->attrs_.axis, dims.nbDims);
        require(axis >= 0, Attrs::kPluginName, "attribute 'axis' is outside [-r, r) for x");
        std::int64_t rows = 1, cols = 1;
        for (int32_t d = 0; d < dims.nbDims; ++d) (d < axis ? rows : cols) *= dims.d[d];
        require(cols <= INT32_MAX, Attrs::kPluginName, "rows of more than 2^31-1 elements are not supported");
        for (int32_t k = 1; k <= 2; ++k) {  // never read past scale or bias
            std::int64_t n = 1;
            for (int32_t d = 0; d < t.in[k].dims.nbDims; ++d) n *= t.in[k].dims.d[d];
            require(n == cols, Attrs::kPluginName, std::string("input '") + IO::kNames[k] + "' holds " +
                                                       std::to_string(n) + " elements, x.shape[axis:] " + std::to_string(cols));
        }
        Scales s;
        if (precision == Precision::kINT8) s = Scales{t.in[0].scale, t.in[1].scale, t.in[2].scale, t.out[0].scale};
        return launch(precision, t.input(0), t.input(1), t.input(2), t.output(0), Geometry{rows, std::int32_t(cols)},
                      make_params(this->attrs_), s, stream);
    }
};


} }  // namespace pykit::layer_norm

PYKIT_DEFINE_CREATORS(layer_norm, pykit::layer_norm::LayerNormGlue)
