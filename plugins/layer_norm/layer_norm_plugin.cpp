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

    // TODO(layer_norm): the real output shapes (the placeholder's outputs have the shape of 'x').
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, int32_t, nvinfer1::IExprBuilder&) const {
        return in[0];
    }

    // Linear format (checked by the base); float tensors all in the precision of 'x'.
    bool supports(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t, int32_t) const {
        switch (pos) {
            case 0: return io[0].type == DataType::kFLOAT || io[0].type == DataType::kHALF || io[0].type == DataType::kINT8;
            case 1: return io[1].type == io[0].type;
            case 2: return io[2].type == io[0].type;
            default: return io[pos].type == io[0].type;  // outputs
        }
    }

    size_t workspace(const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*, int32_t) const {
        return 0;
    }

    cudaError_t run(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out, const void* const* inputs,
                    void* const* outputs, void*, cudaStream_t stream) const {
        std::int64_t elements = 1;
        for (int32_t d = 0; d < in[0].dims.nbDims; ++d) elements *= in[0].dims.d[d];
        const Geometry g{elements};
        const Storage storage = storage_of(in[0].type);
        const bool int8 = in[0].type == DataType::kINT8;
        for (int32_t k = 0; k < kNumOutputs; ++k) {
            PYKIT_CUDA_RETURN_IF_ERROR(launch(storage, inputs[0], outputs[k], g, make_params(attrs_),
                                              int8 ? in[0].scale : 1.f, int8 ? out[k].scale : 1.f, stream));
        }
        return cudaSuccess;
    }

private:
    static Storage storage_of(DataType t) {
        switch (t) {
            case DataType::kFLOAT: return Storage::kFloat32;
            case DataType::kHALF: return Storage::kFloat16;
            case DataType::kINT8: return Storage::kInt8;
            default: throw Error(std::string(Attrs::kPluginName) + ": unsupported data type at enqueue");
        }
    }
};

using LayerNormCreator = trt::CreatorBase<LayerNormPlugin>;

} }  // namespace pykit::layer_norm

PYKIT_DEFINE_CREATOR(layer_norm, pykit::layer_norm::LayerNormCreator)
