// MultiScaleDeformableAttention TensorRT glue, one body for IPluginV2DynamicExt (TensorRT 8.x) and
// IPluginV3 (TensorRT >= 10): output shape and the launch; counts, formats, types, names, versions,
// serialization, the creators' field table and error handling are the base classes'
// (common/trt/plugin_glue.h), from the compiled spec.
#include "multi_scale_deformable_attention_attrs.h"
#include "multi_scale_deformable_attention_kernel.h"
#include "multi_scale_deformable_attention_shape.h"
#include "common/trt/plugin_glue.h"

namespace pykit { namespace multi_scale_deformable_attention {

template <template <class, class> class Base>
class MultiScaleDeformableAttentionGlue : public Base<MultiScaleDeformableAttentionGlue<Base>, Attrs> {
    using Super = Base<MultiScaleDeformableAttentionGlue<Base>, Attrs>;

public:
    using Super::Super;

    // output (bs, num_queries, num_heads * D): bs and num_queries from sampling_locations, heads and D from value.
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder& b) const {
        nvinfer1::DimsExprs out;
        out.nbDims = 3;
        out.d[0] = in[kLocations].d[0];
        out.d[1] = in[kLocations].d[1];
        out.d[2] = b.operation(nvinfer1::DimensionOperation::kPROD, *in[kValue].d[2], *in[kValue].d[3]);
        return out;
    }

    // The level shapes and starts are device data: levels outside value are skipped by the kernel.
    cudaError_t run(Precision precision, const trt::Tensors& t, void*, cudaStream_t stream) const {
        const Geometry g = make_geometry(t.in[kValue].dims.d, t.in[kShapes].dims.d, t.in[kStarts].dims.d,
                                         t.in[kLocations].dims.d, t.in[kWeights].dims.d);
        return launch(precision, t.input(kValue), t.input<std::int32_t>(kShapes), t.input<std::int32_t>(kStarts),
                      t.input(kLocations), t.input(kWeights), t.output(0), g, stream);
    }

private:
    static constexpr int32_t kValue = 0, kShapes = 1, kStarts = 2, kLocations = 3, kWeights = 4;
};

} }  // namespace pykit::multi_scale_deformable_attention

PYKIT_DEFINE_CREATORS(multi_scale_deformable_attention, pykit::multi_scale_deformable_attention::MultiScaleDeformableAttentionGlue)
