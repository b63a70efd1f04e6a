// TensorRT glue shared by every IPluginV2DynamicExt plugin (cf. mmdeploy's TRTPluginBase).
//
// A plugin derives from PluginBase<Derived, Attrs> and writes only what is its own: output
// shapes and types, supported formats, workspace and enqueue, as ordinary functions that may
// throw pykit::Error. The base implements every TensorRT entry point as noexcept, catches there,
// and reports through TensorRT's logger and the registry's error recorder. Names, versions,
// namespace, serialization and the creator's field table all come from the generated Attrs
// (the plugin's spec.toml), so they cannot drift from the spec.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include <NvInfer.h>

#include "common/fields.h"

#if NV_TENSORRT_MAJOR >= 10
#define PYKIT_TRT_DIM_T int64_t
#else
#define PYKIT_TRT_DIM_T int32_t
#endif

namespace pykit { namespace trt {

// Logs through TensorRT's logger and the plugin registry's error recorder; never throws.
void report_error(const std::string& message) noexcept;
void report_warning(const std::string& message) noexcept;

// Records the data types a plugin saw at enqueue, so validation can prove what really ran
// (an FP16 result must come from an FP16 enqueue). Read through pykit_enqueue_record().
void record_enqueue(const char* plugin, const nvinfer1::PluginTensorDesc* in, int32_t nb_in,
                    const nvinfer1::PluginTensorDesc* out, int32_t nb_out) noexcept;

// Runs f(); on any exception reports "<plugin>: <where>: <what>" and returns fallback.
template <class F, class R>
R guarded(const char* plugin, const char* where, R fallback, F&& f) noexcept {
    try {
        return f();
    } catch (const std::exception& e) {
        report_error(std::string(plugin) + ": " + where + ": " + e.what());
    } catch (...) {
        report_error(std::string(plugin) + ": " + where + ": unknown exception");
    }
    return fallback;
}

template <class Derived, class AttrsT>
class PluginBase : public nvinfer1::IPluginV2DynamicExt {
public:
    using Attrs = AttrsT;
    explicit PluginBase(Attrs attrs) : attrs_(std::move(attrs)) {}

    const char* getPluginType() const noexcept override { return Attrs::kPluginName; }
    const char* getPluginVersion() const noexcept override { return Attrs::kPluginVersion; }
    const char* getPluginNamespace() const noexcept override { return namespace_.c_str(); }
    void setPluginNamespace(const char* ns) noexcept override { namespace_ = ns != nullptr ? ns : ""; }
    int32_t initialize() noexcept override { return 0; }
    void terminate() noexcept override {}
    void destroy() noexcept override { delete this; }

    size_t getSerializationSize() const noexcept override {
        return guarded(Attrs::kPluginName, "getSerializationSize", size_t(0), [&] { return serialized_size(attrs_); });
    }
    void serialize(void* buffer) const noexcept override {
        guarded(Attrs::kPluginName, "serialize", 0, [&] {
            serialize_attrs(attrs_, buffer, serialized_size(attrs_));
            return 0;
        });
    }
    nvinfer1::IPluginV2DynamicExt* clone() const noexcept override {
        return guarded(Attrs::kPluginName, "clone", static_cast<nvinfer1::IPluginV2DynamicExt*>(nullptr), [&] {
            auto* copy = new Derived(static_cast<const Derived&>(*this));
            copy->setPluginNamespace(namespace_.c_str());
            return static_cast<nvinfer1::IPluginV2DynamicExt*>(copy);
        });
    }

    int32_t getNbOutputs() const noexcept override { return Derived::kNumOutputs; }

    nvinfer1::DataType getOutputDataType(int32_t index, const nvinfer1::DataType* types, int32_t nb) const noexcept override {
        return guarded(Attrs::kPluginName, "getOutputDataType", nvinfer1::DataType::kFLOAT,
                       [&] { return self().output_type(index, types, nb); });
    }
    nvinfer1::DimsExprs getOutputDimensions(int32_t index, const nvinfer1::DimsExprs* inputs, int32_t nb,
                                            nvinfer1::IExprBuilder& builder) noexcept override {
        return guarded(Attrs::kPluginName, "getOutputDimensions", nvinfer1::DimsExprs{},
                       [&] { return self().output_dims(index, inputs, nb, builder); });
    }
    bool supportsFormatCombination(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t nb_in,
                                   int32_t nb_out) noexcept override {
        return guarded(Attrs::kPluginName, "supportsFormatCombination", false, [&] {
            return io[pos].format == nvinfer1::TensorFormat::kLINEAR && self().supports(pos, io, nb_in, nb_out);
        });
    }
    void configurePlugin(const nvinfer1::DynamicPluginTensorDesc* /*in*/, int32_t nb_in,
                         const nvinfer1::DynamicPluginTensorDesc* /*out*/, int32_t nb_out) noexcept override {
        guarded(Attrs::kPluginName, "configurePlugin", 0, [&] {
            require(nb_in == Derived::kNumInputs && nb_out == Derived::kNumOutputs, Attrs::kPluginName,
                    "expects " + std::to_string(Derived::kNumInputs) + " inputs and " +
                        std::to_string(Derived::kNumOutputs) + " outputs");
            return 0;
        });
    }
    size_t getWorkspaceSize(const nvinfer1::PluginTensorDesc* in, int32_t nb_in, const nvinfer1::PluginTensorDesc* out,
                            int32_t nb_out) const noexcept override {
        return guarded(Attrs::kPluginName, "getWorkspaceSize", size_t(0),
                       [&] { return self().workspace(in, nb_in, out, nb_out); });
    }
    int32_t enqueue(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out, const void* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) noexcept override {
        return guarded(Attrs::kPluginName, "enqueue", int32_t(1), [&] {
            record_enqueue(Attrs::kPluginName, in, Derived::kNumInputs, out, Derived::kNumOutputs);
            const cudaError_t status = self().run(in, out, inputs, outputs, workspace, stream);
            require(status == cudaSuccess, Attrs::kPluginName, std::string("CUDA error: ") + cudaGetErrorString(status));
            return int32_t(0);
        });
    }

    const Attrs& attrs() const { return attrs_; }

protected:
    Attrs attrs_;

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
    Derived& self() { return static_cast<Derived&>(*this); }
    std::string namespace_ = Attrs::kPluginNamespace;
};

// The creator's side of the spec, one for the V2 and V3 creators: the field table TensorRT lists
// (getFieldNames) and a layer's fields parsed with the spec's checks.
template <class Attrs>
class SpecFields {
public:
    SpecFields() {
        for (std::size_t k = 0; k < Attrs::kNumFields; ++k) {
            const FieldRecord& r = Attrs::kFields[k];
            fields_.emplace_back(r.name, nullptr, field_type(r.kind), r.array || r.kind == FieldKind::kString ? 0 : 1);
        }
        collection_.nbFields = static_cast<int32_t>(fields_.size());
        collection_.fields = fields_.data();
    }
    SpecFields(const SpecFields&) = delete;  // collection_ points into fields_
    SpecFields& operator=(const SpecFields&) = delete;

    const nvinfer1::PluginFieldCollection* collection() const { return &collection_; }

    // The attributes of layer `layer` from its fields; fields the spec lacks are reported and ignored.
    static Attrs parse(const char* layer, const nvinfer1::PluginFieldCollection* fc) {
        const int32_t n = fc != nullptr ? fc->nbFields : 0;
        require(n >= 0 && (n == 0 || fc->fields != nullptr), Attrs::kPluginName, "bad field collection");
        std::vector<FieldView> views;
        for (int32_t i = 0; i < n; ++i) {
            const nvinfer1::PluginField& f = fc->fields[i];
            views.push_back({f.name, field_kind(f), f.data, f.length});
        }
        for (const std::string& unknown : unknown_fields<Attrs>(views.data(), views.size()))
            report_warning(std::string(Attrs::kPluginName) + ": layer '" + (layer ? layer : "") +
                           "': attribute '" + unknown + "' is not in the spec and is ignored");
        return parse_fields<Attrs>(views.data(), views.size());
    }

private:
    static nvinfer1::PluginFieldType field_type(FieldKind k) {
        switch (k) {
            case FieldKind::kInt32: return nvinfer1::PluginFieldType::kINT32;
            case FieldKind::kFloat32: return nvinfer1::PluginFieldType::kFLOAT32;
            case FieldKind::kString: return nvinfer1::PluginFieldType::kCHAR;
        }
        return nvinfer1::PluginFieldType::kUNKNOWN;
    }

    // Only the three types the ONNX parser emits for int/float/string attributes are accepted.
    static FieldKind field_kind(const nvinfer1::PluginField& f) {
        switch (f.type) {
            case nvinfer1::PluginFieldType::kINT32: return FieldKind::kInt32;
            case nvinfer1::PluginFieldType::kFLOAT32: return FieldKind::kFloat32;
            case nvinfer1::PluginFieldType::kCHAR: return FieldKind::kString;
            default:
                throw Error(std::string(Attrs::kPluginName) + ": attribute '" + (f.name ? f.name : "") +
                            "' has PluginFieldType " + std::to_string(int(f.type)) + "; expected INT32, FLOAT32 or CHAR");
        }
    }

    std::vector<nvinfer1::PluginField> fields_;
    nvinfer1::PluginFieldCollection collection_{};
};

// The creator: field table from the spec, attribute parsing with the spec's checks.
template <class Plugin>
class CreatorBase : public nvinfer1::IPluginCreator {
public:
    using Attrs = typename Plugin::Attrs;

    const char* getPluginName() const noexcept override { return Attrs::kPluginName; }
    const char* getPluginVersion() const noexcept override { return Attrs::kPluginVersion; }
    const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override { return fields_.collection(); }
    void setPluginNamespace(const char* ns) noexcept override { namespace_ = ns != nullptr ? ns : ""; }
    const char* getPluginNamespace() const noexcept override { return namespace_.c_str(); }

    nvinfer1::IPluginV2* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc) noexcept override {
        return guarded(Attrs::kPluginName, "createPlugin", static_cast<nvinfer1::IPluginV2*>(nullptr), [&] {
            auto* plugin = new Plugin(SpecFields<Attrs>::parse(name, fc));
            plugin->setPluginNamespace(namespace_.c_str());
            return static_cast<nvinfer1::IPluginV2*>(plugin);
        });
    }

    nvinfer1::IPluginV2* deserializePlugin(const char*, const void* data, size_t length) noexcept override {
        return guarded(Attrs::kPluginName, "deserializePlugin", static_cast<nvinfer1::IPluginV2*>(nullptr), [&] {
            auto* plugin = new Plugin(deserialize_attrs<Attrs>(data, length));
            plugin->setPluginNamespace(namespace_.c_str());
            return static_cast<nvinfer1::IPluginV2*>(plugin);
        });
    }

private:
    SpecFields<Attrs> fields_;
    std::string namespace_ = Attrs::kPluginNamespace;
};

} }  // namespace pykit::trt

// Defines pykit::trt::<id>_creator(), the accessor the generated registration list calls.
#define PYKIT_DEFINE_CREATOR(id, CreatorType)          \
    namespace pykit { namespace trt {                  \
    nvinfer1::IPluginCreator& id##_creator() {         \
        static CreatorType creator;                    \
        return creator;                                \
    }                                                  \
    } }
