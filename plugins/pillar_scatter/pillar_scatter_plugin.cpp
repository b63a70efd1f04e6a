// PillarScatter TensorRT glue: shapes, formats and the launch; everything else is the base's.
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_kernel.h"
#include "common/trt/plugin_base.h"

namespace pykit { namespace pillar_scatter {

using nvinfer1::DataType;

class PillarScatterPlugin : public trt::PluginBase<PillarScatterPlugin, Attrs> {
public:
    static constexpr int32_t kNumInputs = 3;  // pillar_features, coords, num_valid
    static constexpr int32_t kNumOutputs = 1;  // canvas
    using PluginBase::PluginBase;

    DataType output_type(int32_t, const DataType* types, int32_t) const { return types[0]; }

    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, int32_t, nvinfer1::IExprBuilder& b) const {
        const int32_t rank = in[0].nbDims;
        require(rank == 2 || rank == 3, Attrs::kPluginName, "input 'pillar_features' must be [P, C] or [1, P, C]");
        nvinfer1::DimsExprs out;
        out.nbDims = 4;
        out.d[0] = b.constant(attrs_.batch_size);
        out.d[1] = in[0].d[rank - 1];
        out.d[2] = b.constant(attrs_.ny);
        out.d[3] = b.constant(attrs_.nx);
        return out;
    }

    bool supports(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t, int32_t) const {
        switch (pos) {
            case 0: return io[0].type == DataType::kFLOAT || io[0].type == DataType::kHALF || io[0].type == DataType::kINT8;
            case 1:
            case 2: return io[pos].type == DataType::kINT32;
            default: return io[pos].type == io[0].type;
        }
    }

    size_t workspace(const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*, int32_t) const {
        return workspace_bytes(geometry(0, 0));
    }

    cudaError_t run(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out, const void* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) const {
        const auto& dims = in[0].dims;
        const Geometry g = geometry(int32_t(dims.d[dims.nbDims - 2]), int32_t(dims.d[dims.nbDims - 1]));
        const Storage storage = in[0].type == DataType::kHALF ? Storage::kFloat16
                              : in[0].type == DataType::kINT8 ? Storage::kInt8 : Storage::kFloat32;
        const float ratio = in[0].type == DataType::kINT8 ? in[0].scale / out[0].scale : 1.f;
        return launch(storage, inputs[0], static_cast<const std::int32_t*>(inputs[1]),
                      static_cast<const std::int32_t*>(inputs[2]), outputs[0], workspace, g, ratio, stream);
    }

private:
    Geometry geometry(int32_t pillars, int32_t channels) const {
        return Geometry{attrs_.batch_size, channels, attrs_.ny, attrs_.nx, pillars, 0};
    }
};

using PillarScatterCreator = trt::CreatorBase<PillarScatterPlugin>;

} }  // namespace pykit::pillar_scatter

PYKIT_DEFINE_CREATOR(pillar_scatter, pykit::pillar_scatter::PillarScatterCreator)
