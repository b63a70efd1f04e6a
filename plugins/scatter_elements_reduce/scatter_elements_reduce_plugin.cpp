// ScatterElementsReduce TensorRT glue: shapes, formats and the launch; everything else is the base's.
#include "scatter_elements_reduce_attrs.h"
#include "scatter_elements_reduce_kernel.h"
#include "scatter_elements_reduce_shape.h"
#include "common/trt/plugin_base.h"

namespace pykit { namespace scatter_elements_reduce {

using nvinfer1::DataType;

class ScatterElementsReducePlugin : public trt::PluginBase<ScatterElementsReducePlugin, Attrs> {
public:
    static constexpr int32_t kNumInputs = 3;   // data, indices, updates
    static constexpr int32_t kNumOutputs = 1;  // output
    explicit ScatterElementsReducePlugin(Attrs attrs)
        : PluginBase(std::move(attrs)), reduction_(parse_reduction(attrs_.reduction)) {}

    DataType output_type(int32_t, const DataType* types, int32_t) const { return types[0]; }

    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, int32_t, nvinfer1::IExprBuilder&) const {
        normalize_axis(attrs_.axis, in[0].nbDims);  // throws when the axis does not fit data's rank
        require(in[1].nbDims == in[0].nbDims && in[2].nbDims == in[1].nbDims, Attrs::kPluginName,
                "inputs 'indices' and 'updates' must have data's rank " + std::to_string(in[0].nbDims));
        return in[0];
    }

    bool supports(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t, int32_t) const {
        switch (pos) {
            case 0: return io[0].type == DataType::kFLOAT || io[0].type == DataType::kHALF;
            case 1:
#if NV_TENSORRT_MAJOR >= 10
                return io[1].type == DataType::kINT32 || io[1].type == DataType::kINT64;
#else
                return io[1].type == DataType::kINT32;
#endif
            default: return io[pos].type == io[0].type;  // updates, output
        }
    }

    size_t workspace(const nvinfer1::PluginTensorDesc* in, int32_t, const nvinfer1::PluginTensorDesc*, int32_t) const {
        return workspace_bytes(storage(in[0].type), geometry(in));
    }

    cudaError_t run(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc*, const void* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) const {
        const Geometry g = geometry(in);
        const nvinfer1::Dims& idx = in[1].dims;
        const nvinfer1::Dims& upd = in[2].dims;
        bool same = idx.nbDims == upd.nbDims;
        for (int32_t d = 0; same && d < idx.nbDims; ++d) same = idx.d[d] == upd.d[d];
        require(same, Attrs::kPluginName, "input 'updates' must have the shape of 'indices'");
#if NV_TENSORRT_MAJOR >= 10
        const IndexType index_type = in[1].type == DataType::kINT64 ? IndexType::kInt64 : IndexType::kInt32;
#else
        const IndexType index_type = IndexType::kInt32;
#endif
        return launch(storage(in[0].type), index_type, reduction_, inputs[0], inputs[1], inputs[2], outputs[0],
                      workspace, g, stream);
    }

private:
    static Storage storage(DataType t) { return t == DataType::kHALF ? Storage::kFloat16 : Storage::kFloat32; }

    Geometry geometry(const nvinfer1::PluginTensorDesc* in) const {
        return make_geometry(attrs_.axis, in[0].dims.nbDims, in[0].dims.d, in[1].dims.nbDims, in[1].dims.d);
    }

    Reduction reduction_;
};

using ScatterElementsReduceCreator = trt::CreatorBase<ScatterElementsReducePlugin>;

} }  // namespace pykit::scatter_elements_reduce

PYKIT_DEFINE_CREATOR(scatter_elements_reduce, pykit::scatter_elements_reduce::ScatterElementsReduceCreator)
