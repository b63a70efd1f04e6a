// PillarScatter TensorRT glue: output shape, workspace and the launch; counts, formats, types and
// everything else come from the compiled spec through the base.
#include "pillar_scatter_attrs.h"
#include "pillar_scatter_kernel.h"
#include "common/trt/plugin_glue.h"

#include <cstdint>

namespace pykit { namespace pillar_scatter {

// One body for IPluginV2DynamicExt and IPluginV3 (common/trt/plugin_glue.h).
template <template <class, class> class Base>
class PillarScatterGlue : public Base<PillarScatterGlue<Base>, Attrs> {
    using Super = Base<PillarScatterGlue<Base>, Attrs>;

public:
    using Super::Super;

    // canvas [batch_size, C, ny, nx] from pillar_features [P, C] or [1, P, C] (ranks: the spec's)
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder& b) const {
        nvinfer1::DimsExprs out;
        out.nbDims = 4;
        out.d[0] = b.constant(this->attrs_.batch_size);
        out.d[1] = in[0].d[in[0].nbDims - 1];
        out.d[2] = b.constant(this->attrs_.ny);
        out.d[3] = b.constant(this->attrs_.nx);
        return out;
    }

    size_t workspace(Precision, const trt::Tensors& t) const { return workspace_bytes(geometry(t.in[0].dims)); }

    cudaError_t run(Precision precision, const trt::Tensors& t, void* workspace, cudaStream_t stream) const {
        const Geometry g = geometry(t.in[0].dims);
        const float ratio = precision == Precision::kINT8 ? requantize_ratio(t.in[0].scale, t.out[0].scale) : 1.f;
        require(ratio > 0.f, Attrs::kPluginName, "int8 scales: s_in / s_out of 'pillar_features' and 'canvas' is not finite");
        return launch(precision, t.input(0), t.input<std::int32_t>(1), t.input<std::int32_t>(2), t.output(0), workspace,
                      g, ratio, stream);
    }

private:
    // From pillar_features [P, C] or [1, P, C]: P and C within int32 (the kernels index pillars in
    // int32, as the host backend checks), and the canvas within the core's bound (checked arithmetic).
    Geometry geometry(const nvinfer1::Dims& dims) const {
        require(dims.nbDims >= 2, Attrs::kPluginName, "input 'pillar_features' must be [P, C] or [1, P, C]");
        const auto pillars = dims.d[dims.nbDims - 2], channels = dims.d[dims.nbDims - 1];
        require(pillars >= 0 && pillars <= INT32_MAX && channels >= 0 && channels <= INT32_MAX, Attrs::kPluginName,
                "too many pillars or channels for int32 indexing");
        const Geometry g{this->attrs_.batch_size, std::int32_t(channels), this->attrs_.ny, this->attrs_.nx, std::int32_t(pillars), 0};
        require(sizes_fit(g), Attrs::kPluginName, "canvas [batch_size, C, ny, nx] has more than 2^48 elements");
        return g;
    }
};


} }  // namespace pykit::pillar_scatter

PYKIT_DEFINE_CREATORS(pillar_scatter, pykit::pillar_scatter::PillarScatterGlue)
