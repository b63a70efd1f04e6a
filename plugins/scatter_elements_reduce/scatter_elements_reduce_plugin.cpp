// ScatterElementsReduce TensorRT glue: output shape, workspace and the launch; counts, formats,
// types and everything else come from the compiled spec through the base.
#include "scatter_elements_reduce_attrs.h"
#include "scatter_elements_reduce_kernel.h"
#include "scatter_elements_reduce_shape.h"
#include "common/trt/plugin_glue.h"

namespace pykit { namespace scatter_elements_reduce {

using nvinfer1::DataType;

// One body for IPluginV2DynamicExt and IPluginV3 (common/trt/plugin_glue.h).
template <template <class, class> class Base>
class ScatterElementsReduceGlue : public Base<ScatterElementsReduceGlue<Base>, Attrs> {
    using Super = Base<ScatterElementsReduceGlue<Base>, Attrs>;

public:
    explicit ScatterElementsReduceGlue(Attrs attrs)
        : Super(std::move(attrs)), reduction_(parse_reduction(this->attrs_.reduction)) {}

    // The spec's exception: TensorRT >= 10 has int64 tensors, and the kernel takes int64 indices as they are.
    static bool extra_type(int32_t pos, DataType t) {
#if NV_TENSORRT_MAJOR >= 10
        return pos == 1 && t == DataType::kINT64;
#else
        (void)pos, (void)t;
        return false;
#endif
    }

    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const {
        normalize_axis(this->attrs_.axis, in[0].nbDims);  // throws when the axis does not fit data's rank
        require(in[1].nbDims == in[0].nbDims && in[2].nbDims == in[1].nbDims, Attrs::kPluginName,
                "inputs 'indices' and 'updates' must have data's rank " + std::to_string(in[0].nbDims));
        return in[0];
    }

    size_t workspace(Precision precision, const trt::Tensors& t) const { return workspace_bytes(precision, geometry(t.in)); }

    cudaError_t run(Precision precision, const trt::Tensors& t, void* workspace, cudaStream_t stream) const {
        const Geometry g = geometry(t.in);  // checks updates against indices (broadcast_indices: dims of 1)
        const IndexType index_type = extra_type(1, t.in[1].type) ? IndexType::kInt64 : IndexType::kInt32;
        return launch(precision, index_type, reduction_, t.input(0), t.input(1), t.input(2), t.output(0), workspace, g,
                      stream);
    }

private:
    Geometry geometry(const nvinfer1::PluginTensorDesc* in) const {
        return make_geometry(this->attrs_.axis, this->attrs_.broadcast_indices != 0, in[0].dims.nbDims, in[0].dims.d,
                             in[1].dims.nbDims, in[1].dims.d, in[2].dims.nbDims, in[2].dims.d);
    }

    Reduction reduction_;
};


} }  // namespace pykit::scatter_elements_reduce

PYKIT_DEFINE_CREATORS(scatter_elements_reduce, pykit::scatter_elements_reduce::ScatterElementsReduceGlue)
