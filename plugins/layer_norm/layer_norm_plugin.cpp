// LayerNorm TensorRT glue (IPluginV2DynamicExt): shapes, formats and the launch; names, versions,
// serialization, the creator's field table and error handling are the base classes'
// (common/trt/plugin_base.h), from the spec.
#include "layer_norm_attrs.h"
#include "layer_norm_kernel.h"
#include "common/trt/plugin_base.h"
#include "common/cuda_check.h"

namespace pykit { namespace layer_norm {

using nvinfer1::DataType;

class LayerNormPlugin : public trt::PluginBase<LayerNormPlugin, Attrs> {
public:
    static constexpr int32_t kNumInputs = 3;   // x, scale, bias
    static constexpr int32_t kNumOutputs = 1;  // y
    using PluginBase::PluginBase;

    DataType output_type(int32_t, const DataType* types, int32_t) const { return types[0]; }

    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, int32_t, nvinfer1::IExprBuilder&) const {
        require(normalized_axis(attrs_.axis, in[0].nbDims) >= 0, Attrs::kPluginName,
                "attribute 'axis' = " + std::to_string(attrs_.axis) + " is outside [-r, r) for x of rank " +
                    std::to_string(in[0].nbDims));
        return in[0];
    }

    // x in fp32, fp16 or int8; scale, bias and y in the same type.
    bool supports(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t, int32_t) const {
        if (pos == 0) return io[0].type == DataType::kFLOAT || io[0].type == DataType::kHALF || io[0].type == DataType::kINT8;
        return io[pos].type == io[0].type;
    }

    size_t workspace(const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*, int32_t) const {
        return 0;
    }

    cudaError_t run(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out, const void* const* inputs,
                    void* const* outputs, void*, cudaStream_t stream) const {
        const nvinfer1::Dims& dims = in[0].dims;
        const int axis = normalized_axis(attrs_.axis, dims.nbDims);
        require(axis >= 0, Attrs::kPluginName, "attribute 'axis' is outside [-r, r) for x");
        std::int64_t rows = 1, cols = 1;
        for (int32_t d = 0; d < dims.nbDims; ++d) (d < axis ? rows : cols) *= dims.d[d];
        require(cols <= INT32_MAX, Attrs::kPluginName, "rows of more than 2^31-1 elements are not supported");
        for (int32_t k = 1; k <= 2; ++k) {  // never read past scale or bias
            std::int64_t n = 1;
            for (int32_t d = 0; d < in[k].dims.nbDims; ++d) n *= in[k].dims.d[d];
            require(n == cols, Attrs::kPluginName, std::string("input '") + (k == 1 ? "scale" : "bias") + "' holds " +
                                                       std::to_string(n) + " elements, x.shape[axis:] " + std::to_string(cols));
        }
        const Geometry g{rows, std::int32_t(cols)};
        Scales s;
        if (in[0].type == DataType::kINT8) {
            s.x = in[0].scale;
            s.scale = in[1].scale;
            s.bias = in[2].scale;
            s.y = out[0].scale;
        }
        const Storage storage = in[0].type == DataType::kHALF ? Storage::kFloat16
                              : in[0].type == DataType::kINT8 ? Storage::kInt8 : Storage::kFloat32;
        return launch(storage, inputs[0], inputs[1], inputs[2], outputs[0], g, make_params(attrs_), s, stream);
    }
};

using LayerNormCreator = trt::CreatorBase<LayerNormPlugin>;

} }  // namespace pykit::layer_norm

PYKIT_DEFINE_CREATOR(layer_norm, pykit::layer_norm::LayerNormCreator)
