// The V2 base's entry points with counts TensorRT could pass wrongly (issue #14 item 5): compiled
// against TensorRT's headers only, with the PillarScatter glue and stubs for what libnvinfer, the
// plugin library and the CUDA launcher would provide. Each check failed (read out of bounds or
// returned a scalar shape) before the base checked counts; exits 0 when all hold.
#include <cstdio>
#include <string>
#include <vector>

#include "pillar_scatter_plugin.cpp"

namespace {
std::vector<std::string> reported;
}

namespace pykit { namespace trt {
void report_error(const std::string& message) noexcept { reported.push_back(message); }
void report_warning(const std::string&) noexcept {}
void record_enqueue(const char*, const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*,
                    int32_t) noexcept {}
} }

namespace pykit { namespace pillar_scatter {
std::size_t workspace_bytes(const Geometry&) { return 0; }
cudaError_t launch(Precision, const void*, const std::int32_t*, const std::int32_t*, void*, void*, Geometry, float,
                   cudaStream_t) { return cudaSuccess; }
} }

extern "C" const char* cudaGetErrorString(cudaError_t) { return "stub"; }

// Never used: the base refuses the input count before output_dims could call the builder. (TensorRT
// 8.x's IExprBuilder forwards to an implementation pointer; this one has none.)
struct NoBuilder : nvinfer1::IExprBuilder {};

int main() {
    int failures = 0;
    auto expect = [&](bool ok, const char* what) {
        if (!ok) { std::printf("FAIL: %s\n", what); ++failures; }
    };
    pykit::pillar_scatter::Attrs attrs{};
    attrs.nx = 4;
    attrs.ny = 4;
    attrs.batch_size = 1;
    pykit::pillar_scatter::PillarScatterPlugin plugin(attrs);

    // output type with no input types: must not read types[0]
    reported.clear();
    plugin.getOutputDataType(0, nullptr, 0);
    expect(!reported.empty(), "getOutputDataType with 0 inputs reports an error");

    // output dims with 1 input of 3: failure is nbDims = -1, and in[1], in[2] are never read
    nvinfer1::DimsExprs one[1]{};
    one[0].nbDims = 2;
    NoBuilder builder;
    reported.clear();
    const nvinfer1::DimsExprs dims = plugin.getOutputDimensions(0, one, 1, builder);
    expect(dims.nbDims == -1, "getOutputDimensions with 1 input returns nbDims -1");
    expect(!reported.empty(), "getOutputDimensions with 1 input reports an error");

    // configurePlugin / getWorkspaceSize with wrong counts: reported, no throw across noexcept
    reported.clear();
    plugin.configurePlugin(nullptr, 1, nullptr, 1);
    expect(!reported.empty(), "configurePlugin with 1 input reports an error");
    reported.clear();
    expect(plugin.getWorkspaceSize(nullptr, 2, nullptr, 1) == 0 && !reported.empty(),
           "getWorkspaceSize with 2 inputs reports an error");
    reported.clear();
    expect(!plugin.supportsFormatCombination(0, nullptr, 1, 1) && !reported.empty(),
           "supportsFormatCombination with 1 input refuses and reports");

    // setPluginNamespace: inside the guard (null is the empty namespace)
    plugin.setPluginNamespace(nullptr);
    expect(std::string(plugin.getPluginNamespace()).empty(), "setPluginNamespace(nullptr) gives the empty namespace");

    std::printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}
