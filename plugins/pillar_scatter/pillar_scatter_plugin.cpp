// PillarScatter TensorRT glue: output shape, workspace and the launch; counts, formats, types and
// everything else come from the compiled spec through the base.
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_kernel.h"
#include "common/trt/plugin_base.h"

namespace pykit { namespace pillar_scatter {

class PillarScatterPlugin : public trt::PluginBase<PillarScatterPlugin, Attrs> {
public:
    using PluginBase::PluginBase;

    // canvas [batch_size, C, ny, nx] from pillar_features [P, C] or [1, P, C] (ranks: the spec's)
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder& b) const {
        nvinfer1::DimsExprs out;
        out.nbDims = 4;
        out.d[0] = b.constant(attrs_.batch_size);
        out.d[1] = in[0].d[in[0].nbDims - 1];
        out.d[2] = b.constant(attrs_.ny);
        out.d[3] = b.constant(attrs_.nx);
        return out;
    }

    size_t workspace(Precision, const trt::Tensors&) const { return workspace_bytes(geometry(0, 0)); }

    cudaError_t run(Precision precision, const trt::Tensors& t, void* workspace, cudaStream_t stream) const {
        const auto& dims = t.in[0].dims;
        const Geometry g = geometry(int32_t(dims.d[dims.nbDims - 2]), int32_t(dims.d[dims.nbDims - 1]));
        const float ratio = precision == Precision::kINT8 ? t.in[0].scale / t.out[0].scale : 1.f;
        return launch(precision, t.input(0), t.input<std::int32_t>(1), t.input<std::int32_t>(2), t.output(0), workspace,
                      g, ratio, stream);
    }

private:
    Geometry geometry(int32_t pillars, int32_t channels) const {
        return Geometry{attrs_.batch_size, channels, attrs_.ny, attrs_.nx, pillars, 0};
    }
};

using PillarScatterCreator = trt::CreatorBase<PillarScatterPlugin>;

} }  // namespace pykit::pillar_scatter

PYKIT_DEFINE_CREATOR(pillar_scatter, pykit::pillar_scatter::PillarScatterCreator)
