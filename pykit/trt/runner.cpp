// pykit._trt: the native TensorRT layer. Built when CMake finds TensorRT; everything pykit does
// with TensorRT goes through it. Native because TensorRT's Python bindings exist per Python
// version (8.5.3.1's wheel is cp310 only) and users' C++ installs often lack matching ones.
//
//   Builder(verbose=False)                  one IBuilder per process (creating one takes seconds)
//     .build_plugin(...) -> bytes            a one-plugin network, at a precision, serialized
//     .build_onnx(...)   -> bytes            an ONNX model (plugin nodes via the parser's fallback)
//   Engine(plan)                             deserialized engine + execution context
//     .io() / .run({name: array}) / .time(...)
//
// Network I/O is float32 for float tensors at every precision: TensorRT converts at the plugin's
// edges (exact for values already representable in fp16/int8), and the plugin layer's precision
// is forced (setOutputType + kOBEY_PRECISION_CONSTRAINTS). What the plugin really
// ran with is recorded by the plugin library at enqueue, not inferred from these flags.
#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
namespace nv = nvinfer1;

namespace pykit { namespace trt_runner {

class Logger : public nv::ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (severity <= Severity::kWARNING) messages_.emplace_back(std::string(label(severity)) + msg);
        if (verbose_ || severity <= Severity::kERROR) std::fprintf(stderr, "[TensorRT] %s%s\n", label(severity), msg);
    }
    void set_verbose(bool v) { verbose_ = v; }
    std::vector<std::string> take() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::exchange(messages_, {});
    }
    std::string errors() {
        std::string out;
        for (const auto& m : take())
            if (m.rfind("ERROR", 0) == 0 || m.rfind("INTERNAL", 0) == 0) out += "\n  " + m;
        return out;
    }

private:
    static const char* label(Severity s) {
        switch (s) {
            case Severity::kINTERNAL_ERROR: return "INTERNAL_ERROR: ";
            case Severity::kERROR: return "ERROR: ";
            case Severity::kWARNING: return "WARNING: ";
            default: return "INFO: ";
        }
    }
    std::mutex mutex_;
    std::vector<std::string> messages_;
    bool verbose_ = false;
};

Logger& logger() {
    static Logger instance;
    return instance;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + logger().errors()); }

void cuda_check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

nv::DataType data_type(const std::string& name) {
    if (name == "float32") return nv::DataType::kFLOAT;
    if (name == "float16") return nv::DataType::kHALF;
    if (name == "int8") return nv::DataType::kINT8;
    if (name == "int32") return nv::DataType::kINT32;
    if (name == "bool") return nv::DataType::kBOOL;
    throw std::invalid_argument("unsupported tensor dtype '" + name + "'");
}

std::string dtype_name(nv::DataType t) {
    switch (t) {
        case nv::DataType::kFLOAT: return "float32";
        case nv::DataType::kHALF: return "float16";
        case nv::DataType::kINT8: return "int8";
        case nv::DataType::kINT32: return "int32";
        case nv::DataType::kBOOL: return "bool";
        default: return "other";
    }
}

std::size_t dtype_size(nv::DataType t) {
    switch (t) {
        case nv::DataType::kFLOAT: case nv::DataType::kINT32: return 4;
        case nv::DataType::kHALF: return 2;
        default: return 1;
    }
}

nv::Dims to_dims(const std::vector<int64_t>& shape) {
    if (shape.size() > std::size_t(nv::Dims::MAX_DIMS)) throw std::invalid_argument("rank above 8");
    nv::Dims d{};
    d.nbDims = int32_t(shape.size());
    for (std::size_t i = 0; i < shape.size(); ++i) d.d[i] = decltype(d.d[0])(shape[i]);
    return d;
}

std::vector<int64_t> from_dims(const nv::Dims& d) {
    std::vector<int64_t> out;
    for (int32_t i = 0; i < d.nbDims; ++i) out.push_back(int64_t(d.d[i]));
    return out;
}

template <class T>
struct Deleter {
    void operator()(T* p) const { delete p; }
};
template <class T>
using Ptr = std::unique_ptr<T, Deleter<T>>;

struct InputSpec {
    std::string name, dtype;
    std::vector<int64_t> min, opt, max;
};

// Precision flags shared by both builds; external tactic sources off (cuBLAS/cuDNN may be stubs).
void configure(nv::IBuilderConfig& config, const std::string& precision, std::size_t workspace) {
    config.setMemoryPoolLimit(nv::MemoryPoolType::kWORKSPACE, workspace);
    config.clearFlag(nv::BuilderFlag::kTF32);  // fp32 means fp32
    if (precision == "fp16") config.setFlag(nv::BuilderFlag::kFP16);
    else if (precision == "int8") config.setFlag(nv::BuilderFlag::kINT8);
    else if (precision != "fp32") throw std::invalid_argument("precision must be fp32, fp16 or int8, got '" + precision + "'");
    config.setTacticSources(1U << uint32_t(nv::TacticSource::kEDGE_MASK_CONVOLUTIONS) |
                            1U << uint32_t(nv::TacticSource::kJIT_CONVOLUTIONS));
#if NV_TENSORRT_MAJOR == 8 && NV_TENSORRT_MINOR >= 5
    config.setPreviewFeature(nv::PreviewFeature::kDISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805, true);
#endif
}

void add_profile(nv::IBuilder& builder, nv::IBuilderConfig& config, const std::vector<InputSpec>& inputs) {
    nv::IOptimizationProfile* profile = builder.createOptimizationProfile();
    for (const InputSpec& in : inputs) {
        profile->setDimensions(in.name.c_str(), nv::OptProfileSelector::kMIN, to_dims(in.min));
        profile->setDimensions(in.name.c_str(), nv::OptProfileSelector::kOPT, to_dims(in.opt));
        profile->setDimensions(in.name.c_str(), nv::OptProfileSelector::kMAX, to_dims(in.max));
    }
    if (config.addOptimizationProfile(profile) < 0) fail("invalid optimization profile");
}

py::bytes serialize(nv::IBuilder& builder, nv::INetworkDefinition& network, nv::IBuilderConfig& config) {
    Ptr<nv::IHostMemory> plan{builder.buildSerializedNetwork(network, config)};
    if (!plan) fail("TensorRT could not build the engine");
    return py::bytes(static_cast<const char*>(plan->data()), plan->size());
}

class Builder {
public:
    explicit Builder(bool verbose) {
        logger().set_verbose(verbose);
        builder_.reset(nv::createInferBuilder(logger()));
        if (!builder_) fail("createInferBuilder failed (is a GPU visible?)");
    }

    // fields: [(name, "int32"|"float32"|"string", value or list)], ranges: tensor name -> amax.
    py::bytes build_plugin(const std::string& name, const std::string& version, const std::string& ns,
                           const std::vector<std::tuple<std::string, std::string, py::object>>& fields,
                           const std::vector<InputSpec>& inputs, const std::vector<std::string>& outputs,
                           const std::string& precision, const std::map<std::string, float>& ranges,
                           std::size_t workspace) {
        logger().take();
        nv::IPluginCreator* creator = getPluginRegistry()->getPluginCreator(name.c_str(), version.c_str(), ns.c_str());
        if (creator == nullptr)
            fail("no plugin creator " + ns + "::" + name + " version " + version + " is registered (library not loaded?)");

        std::vector<std::vector<int32_t>> ints;
        std::vector<std::vector<float>> floats;
        std::vector<std::string> strings;
        ints.reserve(fields.size()); floats.reserve(fields.size()); strings.reserve(fields.size());
        std::vector<nv::PluginField> pf;
        for (const auto& f : fields) {
            const std::string& fname = std::get<0>(f);
            const std::string& kind = std::get<1>(f);
            py::object value = std::get<2>(f);
            if (kind == "string") {
                strings.push_back(value.cast<std::string>());
                pf.emplace_back(fname.c_str(), strings.back().c_str(), nv::PluginFieldType::kCHAR, int32_t(strings.back().size()));
                continue;
            }
            py::list items = py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value) ? py::list(value) : py::list();
            if (items.empty() && !(py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value))) items.append(value);
            if (kind == "int32") {
                ints.emplace_back();
                for (auto v : items) ints.back().push_back(v.cast<int32_t>());
                pf.emplace_back(fname.c_str(), ints.back().data(), nv::PluginFieldType::kINT32, int32_t(ints.back().size()));
            } else if (kind == "float32") {
                floats.emplace_back();
                for (auto v : items) floats.back().push_back(v.cast<float>());
                pf.emplace_back(fname.c_str(), floats.back().data(), nv::PluginFieldType::kFLOAT32, int32_t(floats.back().size()));
            } else {
                throw std::invalid_argument("field '" + fname + "': unknown kind '" + kind + "'");
            }
        }
        nv::PluginFieldCollection fc{int32_t(pf.size()), pf.data()};
        Ptr<nv::IPluginV2> plugin{creator->createPlugin(name.c_str(), &fc)};
        if (!plugin) fail(name + ": createPlugin failed");

        Ptr<nv::INetworkDefinition> network{builder_->createNetworkV2(
            1U << uint32_t(nv::NetworkDefinitionCreationFlag::kEXPLICIT_BATCH))};
        Ptr<nv::IBuilderConfig> config{builder_->createBuilderConfig()};
        configure(*config, precision, workspace);
        const bool forced = precision != "fp32";
        if (forced) config->setFlag(nv::BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
        const nv::DataType run_type = precision == "fp16" ? nv::DataType::kHALF
                                    : precision == "int8" ? nv::DataType::kINT8 : nv::DataType::kFLOAT;

        auto range = [&](nv::ITensor* t, const std::string& key) {
            if (precision != "int8" || t->getType() != nv::DataType::kFLOAT) return;
            auto it = ranges.find(key);
            if (it == ranges.end()) throw std::invalid_argument("int8 needs a dynamic range for tensor '" + key + "'");
            if (!t->setDynamicRange(-it->second, it->second)) fail("setDynamicRange failed for '" + key + "'");
        };

        std::vector<nv::ITensor*> tensors;
        for (const InputSpec& in : inputs) {
            std::vector<int64_t> shape = in.opt;
            for (std::size_t i = 0; i < shape.size(); ++i)
                if (in.min[i] != in.max[i]) shape[i] = -1;
            nv::ITensor* t = network->addInput(in.name.c_str(), data_type(in.dtype), to_dims(shape));
            if (t == nullptr) fail("addInput failed for '" + in.name + "'");
            range(t, in.name);
            if (t->getType() == nv::DataType::kINT8) {
                // INT8 network input, fed the exact q values: no float->int8 reformat, which TensorRT
                // 8.5 cannot do for rank-2 tensors (seen on the H200: "No supported formats").
                auto it = ranges.find(in.name);
                if (it == ranges.end()) throw std::invalid_argument("int8 input '" + in.name + "' needs a dynamic range");
                t->setDynamicRange(-it->second, it->second);
                t->setAllowedFormats(1U << uint32_t(nv::TensorFormat::kLINEAR));
            }
            tensors.push_back(t);
        }
        nv::IPluginV2Layer* layer = network->addPluginV2(tensors.data(), int32_t(tensors.size()), *plugin);
        if (layer == nullptr) fail(name + ": addPluginV2 failed");
        layer->setName(name.c_str());
        if (int32_t(outputs.size()) != layer->getNbOutputs())
            throw std::invalid_argument(name + ": the plugin has " + std::to_string(layer->getNbOutputs()) + " outputs");
        if (forced) {
            // Output types only: setPrecision would also constrain the plugin's int32 inputs (coords,
            // indices) to the float precision and leave TensorRT no format combination. The plugin's
            // supportsFormatCombination ties its float inputs to its outputs.
            for (int32_t i = 0; i < layer->getNbOutputs(); ++i)
                if (layer->getOutput(i)->getType() == nv::DataType::kFLOAT) layer->setOutputType(i, run_type);
        }
        for (int32_t i = 0; i < layer->getNbOutputs(); ++i) {
            nv::ITensor* out = layer->getOutput(i);
            const bool is_float = out->getType() == nv::DataType::kFLOAT;
            if (forced && is_float) {
                // An INT8/FP16 plugin output cannot be a float network output directly (TensorRT 8.5
                // refuses "unquantized output"): an identity layer converts, with its own range.
                out->setName((outputs[i] + ":plugin").c_str());
                range(out, outputs[i]);
                nv::IIdentityLayer* identity = network->addIdentity(*out);
                identity->setOutputType(0, nv::DataType::kFLOAT);
                out = identity->getOutput(0);
                range(out, outputs[i]);
            }
            out->setName(outputs[i].c_str());
            network->markOutput(*out);
            if (is_float) out->setType(nv::DataType::kFLOAT);
        }
        add_profile(*builder_, *config, inputs);
        return serialize(*builder_, *network, *config);
    }

    py::bytes build_onnx(const py::bytes& model, const std::string& precision, const std::map<std::string, float>& ranges,
                         const std::vector<InputSpec>& inputs, std::size_t workspace) {
        logger().take();
        Ptr<nv::INetworkDefinition> network{builder_->createNetworkV2(
            1U << uint32_t(nv::NetworkDefinitionCreationFlag::kEXPLICIT_BATCH))};
        Ptr<nvonnxparser::IParser> parser{nvonnxparser::createParser(*network, logger())};
        const std::string bytes = model;
        if (!parser->parse(bytes.data(), bytes.size())) {
            std::string why;
            for (int32_t i = 0; i < parser->getNbErrors(); ++i) why += std::string("\n  ") + parser->getError(i)->desc();
            fail("the ONNX parser rejected the model:" + why);
        }
        Ptr<nv::IBuilderConfig> config{builder_->createBuilderConfig()};
        configure(*config, precision, workspace);
        if (precision == "int8") {
            // Explicit per-tensor ranges (pykit's calibration); tensors without one stay unquantized.
            auto set = [&](nv::ITensor* t) {
                auto it = ranges.find(t->getName());
                if (it != ranges.end()) t->setDynamicRange(-it->second, it->second);
            };
            for (int32_t i = 0; i < network->getNbInputs(); ++i) set(network->getInput(i));
            for (int32_t l = 0; l < network->getNbLayers(); ++l)
                for (int32_t o = 0; o < network->getLayer(l)->getNbOutputs(); ++o) set(network->getLayer(l)->getOutput(o));
        }
        if (!inputs.empty()) add_profile(*builder_, *config, inputs);
        return serialize(*builder_, *network, *config);
    }

private:
    Ptr<nv::IBuilder> builder_;
};

struct DeviceBuffer {
    void* ptr = nullptr;
    std::size_t bytes = 0;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
    void reserve(std::size_t n) {
        n = std::max<std::size_t>(n, 256);  // never hand TensorRT a null address for an empty tensor
        if (n <= bytes) return;
        if (ptr) cudaFree(ptr);
        ptr = nullptr;
        cuda_check(cudaMalloc(&ptr, n), "cudaMalloc");
        bytes = n;
    }
};

class Engine {
public:
    explicit Engine(const py::bytes& plan) {
        logger().take();
        runtime_.reset(nv::createInferRuntime(logger()));
        const std::string bytes = plan;
        engine_.reset(runtime_->deserializeCudaEngine(bytes.data(), bytes.size()));
        if (!engine_) fail("deserializeCudaEngine failed");
        context_.reset(engine_->createExecutionContext());
        if (!context_) fail("createExecutionContext failed");
        cuda_check(cudaStreamCreate(&stream_), "cudaStreamCreate");
        for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) names_.emplace_back(engine_->getIOTensorName(i));
        for (std::size_t i = 0; i < names_.size(); ++i) buffers_.emplace_back(new DeviceBuffer);
    }
    ~Engine() { if (stream_) cudaStreamDestroy(stream_); }

    py::list io() const {
        py::list out;
        for (const std::string& n : names_) {
            py::dict d;
            d["name"] = n;
            d["input"] = engine_->getTensorIOMode(n.c_str()) == nv::TensorIOMode::kINPUT;
            d["dtype"] = dtype_name(engine_->getTensorDataType(n.c_str()));
            d["shape"] = from_dims(engine_->getTensorShape(n.c_str()));
            out.append(d);
        }
        return out;
    }

    py::dict run(const py::dict& feeds) {
        enqueue(feeds);
        cuda_check(cudaStreamSynchronize(stream_), "inference");
        py::dict out;
        for (std::size_t i = 0; i < names_.size(); ++i) {
            const char* n = names_[i].c_str();
            if (engine_->getTensorIOMode(n) != nv::TensorIOMode::kOUTPUT) continue;
            const nv::DataType t = engine_->getTensorDataType(n);
            std::vector<py::ssize_t> shape;
            for (int64_t d : from_dims(context_->getTensorShape(n))) shape.push_back(py::ssize_t(d));
            py::array arr(py::dtype(dtype_name(t) == "float32" ? "float32" : dtype_name(t) == "float16" ? "float16"
                                    : dtype_name(t) == "int32" ? "int32" : dtype_name(t) == "bool" ? "bool" : "int8"),
                          shape);
            if (arr.nbytes() > 0)
                cuda_check(cudaMemcpy(arr.mutable_data(), buffers_[i]->ptr, arr.nbytes(), cudaMemcpyDeviceToHost), "copy out");
            out[n] = arr;
        }
        return out;
    }

    // GPU latency of enqueue as trtexec reports it: CUDA events around each run, after warm-up.
    std::vector<float> time(const py::dict& feeds, int warmup, int iterations) {
        enqueue(feeds);
        for (int i = 0; i < warmup; ++i) if (!context_->enqueueV3(stream_)) fail("enqueueV3 failed");
        cudaEvent_t start, stop;
        cuda_check(cudaEventCreate(&start), "event");
        cuda_check(cudaEventCreate(&stop), "event");
        std::vector<float> ms;
        for (int i = 0; i < iterations; ++i) {
            cudaEventRecord(start, stream_);
            if (!context_->enqueueV3(stream_)) fail("enqueueV3 failed");
            cudaEventRecord(stop, stream_);
            cuda_check(cudaEventSynchronize(stop), "timing");
            float t = 0;
            cudaEventElapsedTime(&t, start, stop);
            ms.push_back(t);
        }
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
        return ms;
    }

private:
    void enqueue(const py::dict& feeds) {
        logger().take();
        for (std::size_t i = 0; i < names_.size(); ++i) {
            const char* n = names_[i].c_str();
            if (engine_->getTensorIOMode(n) != nv::TensorIOMode::kINPUT) continue;
            if (!feeds.contains(n)) throw std::invalid_argument(std::string("missing input '") + n + "'");
            py::array arr = py::array::ensure(feeds[n], py::array::c_style);
            const nv::DataType t = engine_->getTensorDataType(n);
            if (!arr || std::size_t(arr.itemsize()) != dtype_size(t) || dtype_name(t) != std::string(py::str(arr.dtype())))
                throw std::invalid_argument(std::string("input '") + n + "' must be " + dtype_name(t));
            std::vector<int64_t> shape(arr.shape(), arr.shape() + arr.ndim());
            if (!context_->setInputShape(n, to_dims(shape))) fail(std::string("input '") + n + "': shape outside the profile");
            buffers_[i]->reserve(arr.nbytes());
            if (arr.nbytes() > 0)
                cuda_check(cudaMemcpy(buffers_[i]->ptr, arr.data(), arr.nbytes(), cudaMemcpyHostToDevice), "copy in");
            context_->setTensorAddress(n, buffers_[i]->ptr);
        }
        for (std::size_t i = 0; i < names_.size(); ++i) {
            const char* n = names_[i].c_str();
            if (engine_->getTensorIOMode(n) != nv::TensorIOMode::kOUTPUT) continue;
            std::size_t count = 1;
            for (int64_t d : from_dims(context_->getTensorShape(n))) {
                if (d < 0) fail(std::string("output '") + n + "' has an unresolved shape");
                count *= std::size_t(d);
            }
            buffers_[i]->reserve(count * dtype_size(engine_->getTensorDataType(n)));
            context_->setTensorAddress(n, buffers_[i]->ptr);
        }
        if (!context_->enqueueV3(stream_)) fail("enqueueV3 failed");
    }

    Ptr<nv::IRuntime> runtime_;
    Ptr<nv::ICudaEngine> engine_;
    Ptr<nv::IExecutionContext> context_;
    cudaStream_t stream_ = nullptr;
    std::vector<std::string> names_;
    std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
};

} }  // namespace pykit::trt_runner

PYBIND11_MODULE(_trt, m) {
    using namespace pykit::trt_runner;
    m.doc() = "pykit's native TensorRT layer";
    m.def("version", [] { return getInferLibVersion(); }, "getInferLibVersion(), e.g. 8503");
    m.def("header_version", [] { return NV_TENSORRT_VERSION; }, "the TensorRT version this module was built against");

    py::class_<InputSpec>(m, "InputSpec")
        .def(py::init([](std::string name, std::string dtype, std::vector<int64_t> min, std::vector<int64_t> opt,
                         std::vector<int64_t> max) { return InputSpec{name, dtype, min, opt, max}; }),
             py::arg("name"), py::arg("dtype"), py::arg("min"), py::arg("opt"), py::arg("max"));

    py::class_<Builder>(m, "Builder")
        .def(py::init<bool>(), py::arg("verbose") = false)
        .def("build_plugin", &Builder::build_plugin, py::arg("name"), py::arg("version"), py::arg("namespace"),
             py::arg("fields"), py::arg("inputs"), py::arg("outputs"), py::arg("precision"), py::arg("ranges"),
             py::arg("workspace") = std::size_t(1) << 30)
        .def("build_onnx", &Builder::build_onnx, py::arg("model"), py::arg("precision"), py::arg("ranges"),
             py::arg("inputs") = std::vector<InputSpec>{}, py::arg("workspace") = std::size_t(1) << 30);

    py::class_<Engine>(m, "Engine")
        .def(py::init<const py::bytes&>())
        .def("io", &Engine::io)
        .def("run", &Engine::run)
        .def("time", &Engine::time, py::arg("feeds"), py::arg("warmup") = 10, py::arg("iterations") = 100);
}
