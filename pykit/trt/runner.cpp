// pykit._trt: the native TensorRT layer. Built when CMake finds TensorRT; everything pykit does
// with TensorRT goes through it. Native because TensorRT's Python bindings exist per Python
// version (8.5.3.1's wheel is cp310 only) and users' C++ installs often lack matching ones.
//
//   Builder(verbose=False)                  one IBuilder per process (creating one takes seconds)
//     .build_plugin(...) -> bytes            a one-plugin network, at a precision, serialized, with
//                                            one optimization profile per list of InputSpecs
//     .build_onnx(...)   -> bytes            an ONNX model (plugin nodes via the parser's fallback);
//                                            int8 from explicit ranges or an entropy calibrator fed
//                                            Python batches (.calibration_cache() then holds its cache)
//     .build_plugin_typed(...) -> bytes      one plugin, its precision asked by tensor types and Q/DQ
//                                            layers (TensorRT 11's strongly typed way), flags as named
//     .int8_ranges() -> dict                 the ranges the last build_onnx set, and the float
//                                            tensors it left without one
//   check_plugin(...) -> dict                create / clone / serialize / deserialize a plugin, no engine
//   parse_onnx(model) -> dict                the installed parser's verdict and every IParserError
//   Engine(plan)                             deserialized engine + execution context
//     .io() / .run({name: array}, profile) / .time(...) / .latency(...) / .layers()
//
// Network I/O is float32 for float tensors at every precision: TensorRT converts at the plugin's
// edges (exact for values already representable in fp16/int8), and the plugin layer's precision
// is forced (setOutputType + kOBEY_PRECISION_CONSTRAINTS). What the plugin really
// ran with is recorded by the plugin library at enqueue, not inferred from these flags.
#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <deque>
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

// Workspace, no TF32 (fp32 means fp32), external tactic sources off (cuBLAS/cuDNN may be stubs).
void set_common(nv::IBuilderConfig& config, std::size_t workspace) {
    config.setMemoryPoolLimit(nv::MemoryPoolType::kWORKSPACE, workspace);
    config.clearFlag(nv::BuilderFlag::kTF32);
    config.setTacticSources(1U << uint32_t(nv::TacticSource::kEDGE_MASK_CONVOLUTIONS) |
                            1U << uint32_t(nv::TacticSource::kJIT_CONVOLUTIONS));
#if NV_TENSORRT_MAJOR == 8 && NV_TENSORRT_MINOR >= 5
    config.setPreviewFeature(nv::PreviewFeature::kDISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805, true);
#endif
}

// Precision flags (today's implicit mode) + the common settings.
void configure(nv::IBuilderConfig& config, const std::string& precision, std::size_t workspace) {
    if (precision == "fp16") config.setFlag(nv::BuilderFlag::kFP16);
    else if (precision == "int8") config.setFlag(nv::BuilderFlag::kINT8);
    else if (precision != "fp32") throw std::invalid_argument("precision must be fp32, fp16 or int8, got '" + precision + "'");
    set_common(config, workspace);
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

struct DeviceBuffer {
    void* ptr = nullptr;
    std::size_t bytes = 0;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
    cudaError_t reserve_noexcept(std::size_t n) noexcept {
        n = std::max<std::size_t>(n, 256);  // never hand TensorRT a null address for an empty tensor
        if (n <= bytes) return cudaSuccess;
        if (ptr) cudaFree(ptr);
        ptr = nullptr;
        bytes = 0;
        const cudaError_t status = cudaMalloc(&ptr, n);
        if (status == cudaSuccess) bytes = n;
        return status;
    }
    void reserve(std::size_t n) { cuda_check(reserve_noexcept(n), "cudaMalloc"); }
};


// IInt8EntropyCalibrator2 fed batches given from Python (copied to host memory up front, so that
// getBatch, called by TensorRT inside buildSerializedNetwork, needs no Python).
class BatchCalibrator : public nv::IInt8EntropyCalibrator2 {
public:
    explicit BatchCalibrator(const py::list& batches) {
        for (auto item : batches) {
            std::map<std::string, std::vector<char>> batch;
            for (auto kv : py::cast<py::dict>(item)) {
                py::array arr = py::array::ensure(kv.second, py::array::c_style);
                if (!arr) throw std::invalid_argument("calibration batch: '" + py::str(kv.first).cast<std::string>() + "' is not an array");
                const char* data = static_cast<const char*>(arr.data());
                batch[py::str(kv.first)] = std::vector<char>(data, data + arr.nbytes());
            }
            batches_.push_back(std::move(batch));
        }
    }
    int32_t getBatchSize() const noexcept override { return 1; }  // explicit batch: shapes carry the batch
    bool getBatch(void* bindings[], char const* names[], int32_t count) noexcept override {
        if (next_ >= batches_.size()) return false;
        const auto& batch = batches_[next_++];
        for (int32_t i = 0; i < count; ++i) {
            auto it = batch.find(names[i]);
            if (it == batch.end()) {
                logger().log(nv::ILogger::Severity::kERROR, (std::string("calibration batch lacks input ") + names[i]).c_str());
                return false;
            }
            auto& buffer = buffers_[names[i]];
            if (!buffer) buffer.reset(new DeviceBuffer);
            if (buffer->reserve_noexcept(it->second.size()) != cudaSuccess ||
                cudaMemcpy(buffer->ptr, it->second.data(), it->second.size(), cudaMemcpyHostToDevice) != cudaSuccess)
                return false;
            bindings[i] = buffer->ptr;
        }
        return true;
    }
    void const* readCalibrationCache(std::size_t& length) noexcept override { length = 0; return nullptr; }
    void writeCalibrationCache(void const* data, std::size_t length) noexcept override {
        cache_.assign(static_cast<const char*>(data), length);
    }
    const std::string& cache() const { return cache_; }

private:
    std::vector<std::map<std::string, std::vector<char>>> batches_;
    std::map<std::string, std::unique_ptr<DeviceBuffer>> buffers_;
    std::size_t next_ = 0;
    std::string cache_;
};

// Plugin fields from Python: [(name, "int32"|"float32"|"string", value or list)]. Owns the storage.
struct Fields {
    std::vector<std::vector<int32_t>> ints;
    std::vector<std::vector<float>> floats;
    std::vector<std::string> strings;
    std::vector<nv::PluginField> fields;
    nv::PluginFieldCollection collection{};

    explicit Fields(const std::vector<std::tuple<std::string, std::string, py::object>>& given) {
        ints.reserve(given.size()); floats.reserve(given.size()); strings.reserve(given.size() * 2);
        for (const auto& f : given) {
            strings.push_back(std::get<0>(f));
            const char* fname = strings.back().c_str();
            const std::string& kind = std::get<1>(f);
            py::object value = std::get<2>(f);
            if (kind == "string") {
                strings.push_back(value.cast<std::string>());
                fields.emplace_back(fname, strings.back().c_str(), nv::PluginFieldType::kCHAR, int32_t(strings.back().size()));
                continue;
            }
            const bool seq = py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value);
            py::list items = seq ? py::list(value) : py::list();
            if (!seq) items.append(value);
            if (kind == "int32") {
                ints.emplace_back();
                for (auto v : items) ints.back().push_back(v.cast<int32_t>());
                fields.emplace_back(fname, ints.back().data(), nv::PluginFieldType::kINT32, int32_t(ints.back().size()));
            } else if (kind == "float32") {
                floats.emplace_back();
                for (auto v : items) floats.back().push_back(v.cast<float>());
                fields.emplace_back(fname, floats.back().data(), nv::PluginFieldType::kFLOAT32, int32_t(floats.back().size()));
            } else {
                throw std::invalid_argument("field '" + std::get<0>(f) + "': unknown kind '" + kind + "'");
            }
        }
        collection = nv::PluginFieldCollection{int32_t(fields.size()), fields.data()};
    }
};

nv::IPluginCreator* find_creator(const std::string& name, const std::string& version, const std::string& ns) {
    nv::IPluginCreator* creator = getPluginRegistry()->getPluginCreator(name.c_str(), version.c_str(), ns.c_str());
    if (creator == nullptr)
        fail("no plugin creator " + ns + "::" + name + " version " + version + " is registered (library not loaded?)");
    return creator;
}

std::string serialized(const nv::IPluginV2& plugin) {
    std::string bytes(plugin.getSerializationSize(), '\0');
    plugin.serialize(bytes.data());
    return bytes;
}

// Lifecycle of one plugin without an engine: what TensorRT does to it while building and loading.
py::dict check_plugin(const std::string& name, const std::string& version, const std::string& ns,
                      const std::vector<std::tuple<std::string, std::string, py::object>>& given) {
    logger().take();
    nv::IPluginCreator* creator = find_creator(name, version, ns);
    Fields fields(given);
    Ptr<nv::IPluginV2> plugin{creator->createPlugin(name.c_str(), &fields.collection)};
    if (!plugin) fail(name + ": createPlugin failed");
    py::dict out;
    const std::string custom_ns = "pykit.check";  // not the creator's: a clone must keep what was set
    plugin->setPluginNamespace(custom_ns.c_str());
    Ptr<nv::IPluginV2> clone{plugin->clone()};
    if (!clone) fail(name + ": clone failed");
    const std::string bytes = serialized(*plugin);
    out["type"] = std::string(plugin->getPluginType());
    out["version"] = std::string(plugin->getPluginVersion());
    out["clone_type"] = std::string(clone->getPluginType());
    out["clone_version"] = std::string(clone->getPluginVersion());
    out["namespace_set"] = custom_ns;
    out["clone_namespace"] = std::string(clone->getPluginNamespace());
    out["clone_serialization_equal"] = serialized(*clone) == bytes;
    out["serialized_bytes"] = bytes.size();
    Ptr<nv::IPluginV2> restored{creator->deserializePlugin(name.c_str(), bytes.data(), bytes.size())};
    out["deserialized"] = bool(restored);
    out["deserialized_serialization_equal"] = restored && serialized(*restored) == bytes;
    // Every truncation, and one trailing byte, must be refused (nullptr), never read past the buffer.
    int32_t accepted = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        std::vector<char> part(bytes.begin(), bytes.begin() + std::ptrdiff_t(n));  // exact-size heap copy
        Ptr<nv::IPluginV2> p{creator->deserializePlugin(name.c_str(), part.data(), n)};
        accepted += p ? 1 : 0;
    }
    std::string longer = bytes + '\0';
    Ptr<nv::IPluginV2> p{creator->deserializePlugin(name.c_str(), longer.data(), longer.size())};
    accepted += p ? 1 : 0;
    out["bad_buffers_tried"] = bytes.size() + 1;
    out["bad_buffers_accepted"] = accepted;
    logger().take();  // the refusals logged errors on purpose
    return out;
}

const std::string PLUGIN_SUFFIX = ":plugin";

nv::DataType run_type_of(const std::string& precision) {
    if (precision == "fp32") return nv::DataType::kFLOAT;
    if (precision == "fp16") return nv::DataType::kHALF;
    if (precision == "int8") return nv::DataType::kINT8;
    throw std::invalid_argument("precision must be fp32, fp16 or int8, got '" + precision + "'");
}

// Each plugin layer's float outputs forced to its precision: `per_plugin` (plugin type -> precision,
// the best its spec offers <= the engine's), else the engine's. Returns the precisions forced (a
// plugin at fp16 inside an int8 engine needs kFP16 too). Output types only (see build_plugin): the
// plugin's supportsFormatCombination ties its float inputs to them; setPrecision would also
// constrain its int32 inputs. An INT8 plugin output that is also a network output gets an identity
// layer to float in between (TensorRT 8.5 refuses it otherwise: "requires output to be in floating
// point precision. No format available with unquantized output"); the plugin's tensor is renamed
// "<name>:plugin" and takes <name>'s dynamic range (build_onnx's range lookup strips the suffix).
std::vector<nv::DataType> force_plugin_precision(nv::INetworkDefinition& network, const std::string& precision,
                                                 const std::map<std::string, std::string>& per_plugin) {
    std::vector<nv::DataType> forced;
    std::vector<nv::ILayer*> plugins;  // collected first: the identities below add layers
    for (int32_t l = 0; l < network.getNbLayers(); ++l)
        if (network.getLayer(l)->getType() == nv::LayerType::kPLUGIN_V2) plugins.push_back(network.getLayer(l));
    for (nv::ILayer* layer : plugins) {
        const std::string type = static_cast<nv::IPluginV2Layer*>(layer)->getPlugin().getPluginType();
        auto it = per_plugin.find(type);
        const nv::DataType run_type = run_type_of(it == per_plugin.end() ? precision : it->second);
        forced.push_back(run_type);
        for (int32_t i = 0; i < layer->getNbOutputs(); ++i) {
            nv::ITensor* out = layer->getOutput(i);
            if (out->getType() != nv::DataType::kFLOAT) continue;
            layer->setOutputType(i, run_type);
            if (run_type != nv::DataType::kINT8 || !out->isNetworkOutput()) continue;
            const std::string name = out->getName();
            network.unmarkOutput(*out);
            out->setName((name + PLUGIN_SUFFIX).c_str());
            nv::IIdentityLayer* identity = network.addIdentity(*out);
            if (identity == nullptr) fail("addIdentity failed after plugin output '" + name + "'");
            identity->setOutputType(0, nv::DataType::kFLOAT);
            identity->getOutput(0)->setName(name.c_str());
            network.markOutput(*identity->getOutput(0));
            identity->getOutput(0)->setType(nv::DataType::kFLOAT);
        }
    }
    return forced;
}

// The plugin layer of a one-plugin network, named as the plugin, with the outputs the caller names.
nv::IPluginV2Layer* add_plugin_layer(nv::INetworkDefinition& network, std::vector<nv::ITensor*>& inputs,
                                     nv::IPluginV2& plugin, const std::string& name, std::size_t outputs) {
    nv::IPluginV2Layer* layer = network.addPluginV2(inputs.data(), int32_t(inputs.size()), plugin);
    if (layer == nullptr) fail(name + ": addPluginV2 failed");
    layer->setName(name.c_str());
    if (int32_t(outputs) != layer->getNbOutputs())
        throw std::invalid_argument(name + ": the plugin has " + std::to_string(layer->getNbOutputs()) + " outputs");
    return layer;
}

// A scalar float constant (a Q/DQ scale); `store` keeps the value alive until the build ends.
nv::ITensor* scalar_constant(nv::INetworkDefinition& network, std::deque<float>& store, float value) {
    store.push_back(value);
    nv::Weights w{nv::DataType::kFLOAT, &store.back(), 1};
    nv::IConstantLayer* c = network.addConstant(nv::Dims{0, {}}, w);
    if (c == nullptr) fail("addConstant failed for a Q/DQ scale");
    return c->getOutput(0);
}

class Builder {
public:
    explicit Builder(bool verbose) {
        logger().set_verbose(verbose);
        builder_.reset(nv::createInferBuilder(logger()));
        if (!builder_) fail("createInferBuilder failed (is a GPU visible?)");
    }

    // fields: [(name, "int32"|"float32"|"string", value or list)], ranges: tensor name -> amax,
    // profiles: one list of InputSpecs per optimization profile (same names and ranks in each).
    py::bytes build_plugin(const std::string& name, const std::string& version, const std::string& ns,
                           const std::vector<std::tuple<std::string, std::string, py::object>>& given,
                           const std::vector<std::vector<InputSpec>>& profiles, const std::vector<std::string>& outputs,
                           const std::string& precision, const std::map<std::string, float>& ranges,
                           std::size_t workspace) {
        logger().take();
        if (profiles.empty()) throw std::invalid_argument("build_plugin needs at least one optimization profile");
        nv::IPluginCreator* creator = find_creator(name, version, ns);
        Fields fields(given);
        Ptr<nv::IPluginV2> plugin{creator->createPlugin(name.c_str(), &fields.collection)};
        if (!plugin) fail(name + ": createPlugin failed");
        const std::vector<InputSpec>& inputs = profiles.front();

        Ptr<nv::INetworkDefinition> network{builder_->createNetworkV2(
            1U << uint32_t(nv::NetworkDefinitionCreationFlag::kEXPLICIT_BATCH))};
        Ptr<nv::IBuilderConfig> config{builder_->createBuilderConfig()};
        configure(*config, precision, workspace);
        const bool forced = precision != "fp32";
        if (forced) config->setFlag(nv::BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
        const nv::DataType run_type = run_type_of(precision);

        auto range = [&](nv::ITensor* t, const std::string& key) {
            if (precision != "int8" || t->getType() != nv::DataType::kFLOAT) return;
            auto it = ranges.find(key);
            if (it == ranges.end()) throw std::invalid_argument("int8 needs a dynamic range for tensor '" + key + "'");
            if (!t->setDynamicRange(-it->second, it->second)) fail("setDynamicRange failed for '" + key + "'");
        };

        std::vector<nv::ITensor*> tensors;
        for (const InputSpec& in : inputs) {
            std::vector<int64_t> shape = in.opt;
            for (const auto& profile : profiles)
                for (const InputSpec& other : profile)
                    if (other.name == in.name)
                        for (std::size_t i = 0; i < shape.size() && i < other.min.size(); ++i)
                            if (other.min[i] != shape[i] || other.max[i] != shape[i]) shape[i] = -1;
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
        nv::IPluginV2Layer* layer = add_plugin_layer(*network, tensors, *plugin, name, outputs.size());
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
        for (const auto& profile : profiles) add_profile(*builder_, *config, profile);
        return serialize(*builder_, *network, *config);
    }

    // int8: `ranges` (tensor -> amax, pykit's calibration) and/or, when `calibration` holds batches
    // ([{input name: array}]), TensorRT's entropy calibrator fed those batches. force_plugins:
    // plugin layers' float outputs forced to `plugin_precisions[plugin type]` (default: `precision`)
    // + obey constraints; other layers free. An explicitly quantized (Q/DQ) model: int8, no ranges,
    // no calibration, force_plugins off; "fp32" then asks with no kINT8 flag at all.
    py::bytes build_onnx(const py::bytes& model, const std::string& precision, const std::map<std::string, float>& ranges,
                         const std::vector<InputSpec>& inputs, std::size_t workspace, bool force_plugins,
                         const py::list& calibration, const std::map<std::string, std::string>& plugin_precisions) {
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
        config->setProfilingVerbosity(nv::ProfilingVerbosity::kDETAILED);  // Engine.layers() reads it
        if (force_plugins && precision != "fp32") {
            for (nv::DataType t : force_plugin_precision(*network, precision, plugin_precisions))
                if (t == nv::DataType::kHALF) config->setFlag(nv::BuilderFlag::kFP16);  // an fp16 plugin in an int8 engine
            config->setFlag(nv::BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
        }
        std::unique_ptr<BatchCalibrator> calibrator;
        calibration_cache_.clear();
        ranges_set_.clear();
        ranges_missing_.clear();
        if (precision == "int8" && !calibration.empty()) {
            calibrator.reset(new BatchCalibrator(calibration));
            config->setInt8Calibrator(calibrator.get());
        }
        if (precision == "int8" && !ranges.empty()) {  // with a calibrator: e.g. the constants' ranges only
            // Explicit per-tensor ranges (pykit's calibration) by tensor name. The parser gives the
            // constant layer it makes for an initializer (or a Constant node's value) the ONNX name as
            // its LAYER name (onnx-tensorrt 8.5 convertToTensor -> registerLayer) and leaves the
            // output tensor unnamed ("(Unnamed Layer* N) [Constant]_output"): those are found by the
            // layer's name. Float tensors left without a range stay unquantized; they are listed.
            auto set = [&](nv::ITensor* t, nv::ILayer* producer) {
                // not `!= kFLOAT`: a plugin output forced by setOutputType may already read kINT8/kHALF
                if (t->getType() == nv::DataType::kINT32 || t->getType() == nv::DataType::kBOOL) return;
                std::string key = t->getName();
                if (key.size() > PLUGIN_SUFFIX.size() &&
                    key.compare(key.size() - PLUGIN_SUFFIX.size(), PLUGIN_SUFFIX.size(), PLUGIN_SUFFIX) == 0)
                    key.resize(key.size() - PLUGIN_SUFFIX.size());  // force_plugin_precision's renamed output
                auto it = ranges.find(key);
                if (it == ranges.end() && producer && producer->getType() == nv::LayerType::kCONSTANT) {
                    key = producer->getName();
                    it = ranges.find(key);
                }
                if (it == ranges.end()) {
                    ranges_missing_.emplace_back(t->getName());
                    return;
                }
                if (!t->setDynamicRange(-it->second, it->second)) fail("setDynamicRange failed for '" + key + "'");
                ranges_set_.emplace_back(t->getName(), key, it->second);
            };
            for (int32_t i = 0; i < network->getNbInputs(); ++i) set(network->getInput(i), nullptr);
            for (int32_t l = 0; l < network->getNbLayers(); ++l)
                for (int32_t o = 0; o < network->getLayer(l)->getNbOutputs(); ++o)
                    set(network->getLayer(l)->getOutput(o), network->getLayer(l));
        }
        if (!inputs.empty()) add_profile(*builder_, *config, inputs);
        py::bytes plan = serialize(*builder_, *network, *config);
        if (calibrator) calibration_cache_ = calibrator->cache();
        return plan;
    }

    // The ranges the last build_onnx set: {"set": [{tensor, from (the ranges key), amax}], "missing":
    // [float tensors left without a range]} (both empty unless int8 with ranges).
    py::dict int8_ranges() const {
        py::list set;
        for (const auto& [tensor, key, amax] : ranges_set_) {
            py::dict row;
            row["tensor"] = tensor;
            row["from"] = key;
            row["amax"] = amax;
            set.append(row);
        }
        py::dict out;
        out["set"] = set;
        out["missing"] = ranges_missing_;
        return out;
    }

    // One plugin, its precision asked the TensorRT-11 way (strongly typed networks): by tensor types
    // and Q/DQ layers, with builder flags only as `flags` names them ("fp16", "int8"; none by default).
    //   fp16 "io":    the plugin's float inputs and outputs are fp16 network inputs and outputs
    //   fp16 "cast":  float32 network I/O, identity layers with output type fp16/fp32 around the plugin
    //                 (8.5 has no ICastLayer; the identity is its conversion layer)
    //   int8 "fused": float32 input -> Quantize(s) -> plugin -> Dequantize(s_out) -> float32 output
    //   int8 "qdq":   Q -> DQ on each plugin input and output (the pairs insert_qdq writes on tensors),
    //                 left to TensorRT's Q/DQ fusion
    // scales: tensor name -> int8 scale (float tensors quantized at int8); fp32 builds as build_plugin.
    py::bytes build_plugin_typed(const std::string& name, const std::string& version, const std::string& ns,
                                 const std::vector<std::tuple<std::string, std::string, py::object>>& given,
                                 const std::vector<InputSpec>& inputs, const std::vector<std::string>& outputs,
                                 const std::string& precision, const std::string& form,
                                 const std::map<std::string, float>& scales, const std::vector<std::string>& flags,
                                 std::size_t workspace) {
        logger().take();
        const bool fp16 = precision == "fp16", int8 = precision == "int8";
        if (!(precision == "fp32" || (fp16 && (form == "io" || form == "cast")) || (int8 && (form == "fused" || form == "qdq"))))
            throw std::invalid_argument("typed build: no form '" + form + "' at " + precision +
                                        " (fp16: io, cast; int8: fused, qdq)");
        nv::IPluginCreator* creator = find_creator(name, version, ns);
        Fields fields(given);
        Ptr<nv::IPluginV2> plugin{creator->createPlugin(name.c_str(), &fields.collection)};
        if (!plugin) fail(name + ": createPlugin failed");
        Ptr<nv::INetworkDefinition> network{builder_->createNetworkV2(
            1U << uint32_t(nv::NetworkDefinitionCreationFlag::kEXPLICIT_BATCH))};
        Ptr<nv::IBuilderConfig> config{builder_->createBuilderConfig()};
        set_common(*config, workspace);
        config->setProfilingVerbosity(nv::ProfilingVerbosity::kDETAILED);
        for (const std::string& f : flags) {
            if (f == "fp16") config->setFlag(nv::BuilderFlag::kFP16);
            else if (f == "int8") config->setFlag(nv::BuilderFlag::kINT8);
            else throw std::invalid_argument("typed build: unknown builder flag '" + f + "' (fp16, int8)");
        }
        std::deque<float> store;
        auto scale_of = [&](const std::string& tensor) -> const float* {
            auto it = scales.find(tensor);
            return it == scales.end() ? nullptr : &it->second;
        };
        auto quantize = [&](nv::ITensor* t, float s) {
            nv::IQuantizeLayer* q = network->addQuantize(*t, *scalar_constant(*network, store, s));
            if (q == nullptr) fail("addQuantize failed");
            return q->getOutput(0);
        };
        auto dequantize = [&](nv::ITensor* t, float s) {
            nv::IDequantizeLayer* dq = network->addDequantize(*t, *scalar_constant(*network, store, s));
            if (dq == nullptr) fail("addDequantize failed");
            return dq->getOutput(0);
        };
        auto cast = [&](nv::ITensor* t, nv::DataType to) {
            nv::IIdentityLayer* id = network->addIdentity(*t);
            if (id == nullptr) fail("addIdentity failed");
            id->setOutputType(0, to);
            return id->getOutput(0);
        };

        std::vector<nv::ITensor*> tensors;
        for (const InputSpec& in : inputs) {
            nv::ITensor* t = network->addInput(in.name.c_str(), data_type(in.dtype), to_dims(in.opt));
            if (t == nullptr) fail("addInput failed for '" + in.name + "'");
            const float* s = scale_of(in.name);
            if (t->getType() == nv::DataType::kFLOAT && fp16 && form == "cast") t = cast(t, nv::DataType::kHALF);
            else if (t->getType() == nv::DataType::kFLOAT && int8 && s) {
                t = quantize(t, *s);
                if (form == "qdq") t = dequantize(t, *s);
            }
            tensors.push_back(t);
        }
        nv::IPluginV2Layer* layer = add_plugin_layer(*network, tensors, *plugin, name, outputs.size());
        for (int32_t i = 0; i < layer->getNbOutputs(); ++i) {
            nv::ITensor* out = layer->getOutput(i);
            const float* s = scale_of(outputs[i]);
            const bool is_float = out->getType() == nv::DataType::kFLOAT || out->getType() == nv::DataType::kHALF;
            if (is_float && fp16 && form == "cast") out = cast(out, nv::DataType::kFLOAT);
            else if (is_float && int8 && s) {
                if (form == "qdq") out = quantize(out, *s);
                out = dequantize(out, *s);
            }
            if (out != layer->getOutput(i)) layer->getOutput(i)->setName((outputs[i] + ":plugin").c_str());
            out->setName(outputs[i].c_str());
            network->markOutput(*out);
            if (is_float && fp16 && form == "io") out->setType(nv::DataType::kHALF);
        }
        add_profile(*builder_, *config, inputs);
        return serialize(*builder_, *network, *config);
    }

    // The cache TensorRT's calibrator wrote in the last build_onnx with batches ("" otherwise).
    py::bytes calibration_cache() const { return py::bytes(calibration_cache_); }

private:
    Ptr<nv::IBuilder> builder_;
    std::string calibration_cache_;
    std::vector<std::tuple<std::string, std::string, float>> ranges_set_;  // (tensor, ranges key, amax)
    std::vector<std::string> ranges_missing_;
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

    int32_t profiles() const { return engine_->getNbOptimizationProfiles(); }

    py::dict run(const py::dict& feeds, int32_t profile) {
        enqueue(feeds, profile);
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

    // Latency as trtexec reports it, per iteration after warm-up, from CUDA events on the stream:
    // "gpu" = the enqueued work alone; "host" = host-to-device copies of the inputs (from pinned
    // memory) + the work + device-to-host copies of the outputs.
    py::dict latency(const py::dict& feeds, int32_t profile, int warmup, int iterations) {
        enqueue(feeds, profile);
        cuda_check(cudaStreamSynchronize(stream_), "first run");
        std::vector<std::pair<std::size_t, std::size_t>> io;  // (buffer index, bytes), inputs then outputs
        std::size_t pinned_bytes = 0;
        for (int pass = 0; pass < 2; ++pass)
            for (std::size_t i = 0; i < names_.size(); ++i) {
                const bool input = engine_->getTensorIOMode(names_[i].c_str()) == nv::TensorIOMode::kINPUT;
                if (input != (pass == 0)) continue;
                std::size_t count = 1;
                for (int64_t d : from_dims(context_->getTensorShape(names_[i].c_str()))) count *= std::size_t(std::max<int64_t>(d, 0));
                const std::size_t bytes = count * dtype_size(engine_->getTensorDataType(names_[i].c_str()));
                io.emplace_back(i, bytes);
                pinned_bytes += bytes;
            }
        void* pinned = nullptr;
        cuda_check(cudaMallocHost(&pinned, std::max<std::size_t>(pinned_bytes, 1)), "cudaMallocHost");
        std::unique_ptr<void, decltype(&cudaFreeHost)> pinned_guard(pinned, &cudaFreeHost);
        {  // the pinned inputs are the feeds (already on the device after the first run)
            std::size_t offset = 0;
            for (const auto& [i, bytes] : io) {
                if (engine_->getTensorIOMode(names_[i].c_str()) == nv::TensorIOMode::kINPUT && bytes)
                    cuda_check(cudaMemcpy(static_cast<char*>(pinned) + offset, buffers_[i]->ptr, bytes,
                                          cudaMemcpyDeviceToHost), "stage inputs");
                offset += bytes;
            }
        }
        cudaEvent_t ev[4];
        for (auto& e : ev) cuda_check(cudaEventCreate(&e), "event");
        std::vector<float> gpu, host;
        for (int it = -warmup; it < iterations; ++it) {
            cudaEventRecord(ev[0], stream_);
            std::size_t offset = 0;
            for (const auto& [i, bytes] : io) {
                if (engine_->getTensorIOMode(names_[i].c_str()) == nv::TensorIOMode::kINPUT && bytes)
                    cudaMemcpyAsync(buffers_[i]->ptr, static_cast<char*>(pinned) + offset, bytes, cudaMemcpyHostToDevice, stream_);
                offset += bytes;
            }
            cudaEventRecord(ev[1], stream_);
            if (!context_->enqueueV3(stream_)) fail("enqueueV3 failed");
            cudaEventRecord(ev[2], stream_);
            offset = 0;
            for (const auto& [i, bytes] : io) {
                if (engine_->getTensorIOMode(names_[i].c_str()) == nv::TensorIOMode::kOUTPUT && bytes)
                    cudaMemcpyAsync(static_cast<char*>(pinned) + offset, buffers_[i]->ptr, bytes, cudaMemcpyDeviceToHost, stream_);
                offset += bytes;
            }
            cudaEventRecord(ev[3], stream_);
            cuda_check(cudaEventSynchronize(ev[3]), "timing");
            if (it < 0) continue;
            float g = 0, h = 0;
            cudaEventElapsedTime(&g, ev[1], ev[2]);
            cudaEventElapsedTime(&h, ev[0], ev[3]);
            gpu.push_back(g);
            host.push_back(h);
        }
        for (auto& e : ev) cudaEventDestroy(e);
        py::dict out;
        out["gpu_ms"] = gpu;
        out["host_ms"] = host;
        return out;
    }

    // Per-layer information (name, type, precisions and formats of inputs/outputs) as TensorRT's
    // engine inspector reports it (JSON); detailed when the engine was built by build_onnx.
    std::string layers() const {
        Ptr<nv::IEngineInspector> inspector{engine_->createEngineInspector()};
        if (!inspector) return "{}";
        inspector->setExecutionContext(context_.get());
        const char* info = inspector->getEngineInformation(nv::LayerInformationFormat::kJSON);
        return info ? info : "{}";
    }

private:
    void enqueue(const py::dict& feeds, int32_t profile) {
        logger().take();
        if (profile < 0 || profile >= engine_->getNbOptimizationProfiles())
            throw std::invalid_argument("profile " + std::to_string(profile) + " of " +
                                        std::to_string(engine_->getNbOptimizationProfiles()));
        if (context_->getOptimizationProfile() != profile) {
            if (!context_->setOptimizationProfileAsync(profile, stream_)) fail("setOptimizationProfileAsync failed");
            cuda_check(cudaStreamSynchronize(stream_), "profile switch");
        }
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

const char* parser_code_name(nvonnxparser::ErrorCode code) {
    switch (code) {
        case nvonnxparser::ErrorCode::kSUCCESS: return "kSUCCESS";
        case nvonnxparser::ErrorCode::kINTERNAL_ERROR: return "kINTERNAL_ERROR";
        case nvonnxparser::ErrorCode::kMEM_ALLOC_FAILED: return "kMEM_ALLOC_FAILED";
        case nvonnxparser::ErrorCode::kMODEL_DESERIALIZE_FAILED: return "kMODEL_DESERIALIZE_FAILED";
        case nvonnxparser::ErrorCode::kINVALID_VALUE: return "kINVALID_VALUE";
        case nvonnxparser::ErrorCode::kINVALID_GRAPH: return "kINVALID_GRAPH";
        case nvonnxparser::ErrorCode::kINVALID_NODE: return "kINVALID_NODE";
        case nvonnxparser::ErrorCode::kUNSUPPORTED_GRAPH: return "kUNSUPPORTED_GRAPH";
        case nvonnxparser::ErrorCode::kUNSUPPORTED_NODE: return "kUNSUPPORTED_NODE";
        default: return "unknown";
    }
}

// The installed TensorRT's ONNX parser run on `model` (the plugin libraries loaded by the caller,
// as for build_onnx: pykit.backends.trt.parse_onnx does both). Every IParserError: the node index
// in the top-level graph (-1: none); node_name / op_type only where the parser reports them
// (TensorRT >= 10: IParserError::nodeName/nodeOperator; 8.5's errors carry the index alone, None).
py::dict parse_onnx(const py::bytes& model) {
    static nv::IBuilder* builder = nullptr;  // one per process, never destroyed (exit-order safe)
    logger().take();
    if (builder == nullptr) builder = nv::createInferBuilder(logger());
    if (builder == nullptr) fail("createInferBuilder failed (is a GPU visible?)");
    Ptr<nv::INetworkDefinition> network{builder->createNetworkV2(
        1U << uint32_t(nv::NetworkDefinitionCreationFlag::kEXPLICIT_BATCH))};
    Ptr<nvonnxparser::IParser> parser{nvonnxparser::createParser(*network, logger())};
    const std::string bytes = model;
    const bool parsed = parser->parse(bytes.data(), bytes.size());
    py::list errors;
    for (int32_t i = 0; i < parser->getNbErrors(); ++i) {
        const nvonnxparser::IParserError* e = parser->getError(i);
        py::dict d;
        d["node"] = e->node();
#if NV_TENSORRT_MAJOR >= 10
        d["node_name"] = e->nodeName() ? py::object(py::str(e->nodeName())) : py::object(py::none());
        d["op_type"] = e->nodeOperator() ? py::object(py::str(e->nodeOperator())) : py::object(py::none());
#else
        d["node_name"] = py::none();
        d["op_type"] = py::none();
#endif
        d["code"] = int(e->code());
        d["code_name"] = parser_code_name(e->code());
        d["description"] = std::string(e->desc() ? e->desc() : "");
        d["file"] = std::string(e->file() ? e->file() : "");
        d["line"] = e->line();
        d["function"] = std::string(e->func() ? e->func() : "");
        errors.append(d);
    }
    py::dict out;
    out["parsed"] = parsed;
    out["layers"] = network->getNbLayers();
    out["errors"] = errors;
    out["log"] = logger().take();  // the parser's warnings and errors as logged
    return out;
}

} }  // namespace pykit::trt_runner

PYBIND11_MODULE(_trt, m) {
    using namespace pykit::trt_runner;
    m.doc() = "pykit's native TensorRT layer";
    // This module's C++ errors become Python exceptions here, in the module that threw them, before
    // pybind11 consults the translators that every pybind11 module of the process shares (local
    // translators run first). Left to the shared chain, TensorRT's message was lost: unless
    // onnxruntime was imported first, every error surfaced as "SystemError: ... returned NULL
    // without setting an exception". Likely cause (not reproduced without TensorRT's libraries):
    // the shared chain starts with the translators of the module that created pybind11's internals
    // (pykit._host, with its global PluginError translator) and matches the thrown type against
    // type_info objects of another shared object, while _trt's throw may bind the C++ runtime's
    // symbols in its local scope (libnvinfer and its dependencies, RTLD_LOCAL); onnxruntime, loaded
    // first, puts one libstdc++ in front of everyone. A translator compiled into this module
    // catches with the same type_info the throw used, whichever way the symbols bound.
    py::register_local_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        try {
            std::rethrow_exception(p);
        } catch (const py::builtin_exception& e) {
            e.set_error();
        } catch (py::error_already_set& e) {
            e.restore();
        } catch (const std::invalid_argument& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const std::bad_alloc& e) {
            PyErr_SetString(PyExc_MemoryError, e.what());
        } catch (const std::exception& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });
    m.def("version", [] { return getInferLibVersion(); }, "getInferLibVersion(), e.g. 8503");
    m.def("header_version", [] { return NV_TENSORRT_VERSION; }, "the TensorRT version this module was built against");

    py::class_<InputSpec>(m, "InputSpec")
        .def(py::init([](std::string name, std::string dtype, std::vector<int64_t> min, std::vector<int64_t> opt,
                         std::vector<int64_t> max) { return InputSpec{name, dtype, min, opt, max}; }),
             py::arg("name"), py::arg("dtype"), py::arg("min"), py::arg("opt"), py::arg("max"));

    py::class_<Builder>(m, "Builder")
        .def(py::init<bool>(), py::arg("verbose") = false)
        .def("build_plugin", &Builder::build_plugin, py::arg("name"), py::arg("version"), py::arg("namespace"),
             py::arg("fields"), py::arg("profiles"), py::arg("outputs"), py::arg("precision"), py::arg("ranges"),
             py::arg("workspace") = std::size_t(1) << 30)
        .def("build_onnx", &Builder::build_onnx, py::arg("model"), py::arg("precision"), py::arg("ranges"),
             py::arg("inputs") = std::vector<InputSpec>{}, py::arg("workspace") = std::size_t(1) << 30,
             py::arg("force_plugins") = true, py::arg("calibration") = py::list(),
             py::arg("plugin_precisions") = std::map<std::string, std::string>{})
        .def("build_plugin_typed", &Builder::build_plugin_typed, py::arg("name"), py::arg("version"),
             py::arg("namespace"), py::arg("fields"), py::arg("inputs"), py::arg("outputs"), py::arg("precision"),
             py::arg("form"), py::arg("scales"), py::arg("flags") = std::vector<std::string>{},
             py::arg("workspace") = std::size_t(1) << 30)
        .def("int8_ranges", &Builder::int8_ranges)
        .def("calibration_cache", &Builder::calibration_cache);
    m.def("parse_onnx", &parse_onnx, py::arg("model"),
          "run the installed TensorRT's ONNX parser on a model (bytes): {'parsed': bool, 'layers': int, "
          "'errors': [{'node', 'node_name', 'op_type', 'code', 'code_name', 'description', 'file', 'line', 'function'}]}");
    m.def("check_plugin", &check_plugin, py::arg("name"), py::arg("version"), py::arg("namespace"), py::arg("fields"),
          "create, clone, serialize and deserialize a plugin (no engine): what the lifecycle checks read");

    py::class_<Engine>(m, "Engine")
        .def(py::init<const py::bytes&>())
        .def("io", &Engine::io)
        .def("profiles", &Engine::profiles)
        .def("run", &Engine::run, py::arg("feeds"), py::arg("profile") = 0)
        .def("latency", &Engine::latency, py::arg("feeds"), py::arg("profile") = 0, py::arg("warmup") = 10,
             py::arg("iterations") = 100)
        .def("time", [](Engine& e, const py::dict& feeds, int warmup, int iterations) {
                 py::dict timing = e.latency(feeds, 0, warmup, iterations);
                 return py::list(timing["gpu_ms"]);  // owned: an accessor into the dict would dangle
             }, py::arg("feeds"), py::arg("warmup") = 10, py::arg("iterations") = 100, "latency(...)['gpu_ms']")
        .def("layers", &Engine::layers);
}
