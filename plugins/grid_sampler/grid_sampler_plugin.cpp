// GridSample TensorRT glue, one body for IPluginV2DynamicExt (TensorRT 8.x) and IPluginV3 (TensorRT >= 10):
// output shapes and the launch; counts, formats (x/y of the precision, grid float32 at fp32 and int8,
// float16 at fp16), types, names, versions, serialization, the creators' field table and error
// handling are the base classes' (common/trt/plugin_glue.h), from the compiled spec.
#include "grid_sampler_attrs.h"
#include "grid_sampler_kernel.h"
#include "grid_sampler_shape.h"
#include "common/trt/plugin_glue.h"

namespace pykit { namespace grid_sampler {

template <template <class, class> class Base>
class GridSamplerGlue : public Base<GridSamplerGlue<Base>, Attrs> {
    using Super = Base<GridSamplerGlue<Base>, Attrs>;

public:
    using Super::Super;

    // y = (N, C, *grid.shape[1:-1]).
    nvinfer1::DimsExprs output_dims(int32_t, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const {
        const nvinfer1::DimsExprs& x = in[0];
        const nvinfer1::DimsExprs& grid = in[1];
        require(x.nbDims == 4 || x.nbDims == 5, Attrs::kPluginName,
                "input 'x' has rank " + std::to_string(x.nbDims) + "; GridSample takes 4 or 5");
        require(grid.nbDims == x.nbDims, Attrs::kPluginName, "input 'grid' must have the rank of x");
        require(!(parse_mode(this->attrs_.mode) == Mode::kCubic && x.nbDims == 5), Attrs::kPluginName,
                "mode 'cubic' only supports 4-D x (as ONNX GridSample); this x is 5-D");
        nvinfer1::DimsExprs y;
        y.nbDims = x.nbDims;
        y.d[0] = x.d[0];
        y.d[1] = x.d[1];
        for (int32_t a = 2; a < x.nbDims; ++a) y.d[a] = grid.d[a - 1];
        return y;
    }

    cudaError_t run(Precision precision, const trt::Tensors& t, void*, cudaStream_t stream) const {
        const nvinfer1::Dims& x = t.in[0].dims;
        const nvinfer1::Dims& grid = t.in[1].dims;
        const Params params = make_params(this->attrs_);
        std::int64_t y_shape[5];
        check_shapes(x.d, x.nbDims, grid.d, grid.nbDims, params, y_shape);  // never read past x or grid
        const Geometry g = make_geometry(x.d, grid.d, x.nbDims);
        const bool int8 = precision == Precision::kINT8;
        return launch(precision, t.input(0), t.input(1), t.output(0), g, params, int8 ? t.in[0].scale : 1.f,
                      int8 ? t.out[0].scale : 1.f, stream);
    }
};

} }  // namespace pykit::grid_sampler

PYKIT_DEFINE_CREATORS(grid_sampler, pykit::grid_sampler::GridSamplerGlue)
