// TensorRT glue for IPluginV3 plugins (TensorRT >= 10): IPluginV3 with the OneCore, OneBuild and
// OneRuntime capabilities, and an IPluginCreatorV3One creator.
//
// A plugin derives from PluginV3Base<Derived, Attrs> and writes the same hooks as a
// PluginBase (IPluginV2DynamicExt) plugin: output_dims, run, and where needed workspace and
// extra_type, as ordinary functions that may throw pykit::Error; counts, formats, output types
// and the precision come from the compiled spec (SpecIO in plugin_base.h), the int8 scales run() reads
// from the int8_scales attribute where given (ScaledDescs in plugin_base.h). So a plugin's glue
// reads the same for both APIs. The base implements every TensorRT entry point noexcept, catches there and reports
// through the logger and the registry's error recorder (common/trt/plugin_base.h's guarded).
//
// Serialization: V3 plugins hand TensorRT a field collection (getFieldsToSerialize) and are
// recreated from it by the creator at runtime. The collection holds one field, "pykit_attrs",
// of raw bytes: the same bounds-checked buffer, with the spec's schema hash, that PluginBase
// serializes (common/fields.h). The creator reads it with deserialize_attrs, so an engine built
// from another spec of the plugin is refused instead of misread, and a short buffer is an error.
#pragma once

#include <NvInfer.h>

#if NV_TENSORRT_MAJOR < 10
#error "plugin_base_v3.h needs TensorRT >= 10 (IPluginV3); CMake compiles *_plugin_v3.cpp only there"
#endif

#include <cstring>
#include <string>
#include <vector>

#include "common/trt/plugin_base.h"

namespace pykit { namespace trt {

constexpr const char* kSerializedField = "pykit_attrs";

template <class Derived, class AttrsT>
class PluginV3Base : public nvinfer1::IPluginV3,
                     public nvinfer1::IPluginV3OneCore,
                     public nvinfer1::IPluginV3OneBuild,
                     public nvinfer1::IPluginV3OneRuntime {
public:
    using Attrs = AttrsT;
    using IO = typename Attrs::IO;
    using PluginBase = PluginV3Base;  // the glue writes `using PluginBase::PluginBase;` for either API
    explicit PluginV3Base(Attrs attrs) : attrs_(std::move(attrs)) {}

    // Defaults of the optional hooks (a plugin's own definitions hide them).
    static bool extra_type(int32_t, nvinfer1::DataType) { return false; }
    size_t workspace(Precision, const Tensors&) const { return 0; }
    PluginV3Base(const PluginV3Base& other) : attrs_(other.attrs_), namespace_(other.namespace_) {}
    PluginV3Base& operator=(const PluginV3Base&) = delete;
    ~PluginV3Base() override = default;

    // ---- IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override {
        switch (type) {
            case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
            case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
            case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
        }
        return nullptr;
    }
    nvinfer1::IPluginV3* clone() noexcept override {
        return guarded(Attrs::kPluginName, "clone", static_cast<nvinfer1::IPluginV3*>(nullptr),
                       [&] { return static_cast<nvinfer1::IPluginV3*>(new Derived(static_cast<const Derived&>(*this))); });
    }

    // ---- IPluginV3OneCore
    const char* getPluginName() const noexcept override { return Attrs::kPluginName; }
    const char* getPluginVersion() const noexcept override { return Attrs::kPluginVersion; }
    const char* getPluginNamespace() const noexcept override { return namespace_.c_str(); }
    void setPluginNamespace(const char* ns) noexcept {
        guarded(Attrs::kPluginName, "setPluginNamespace", 0, [&] {
            namespace_ = ns != nullptr ? ns : "";
            return 0;
        });
    }

    // ---- IPluginV3OneBuild
    int32_t getNbOutputs() const noexcept override { return IO::kNumOutputs; }

    int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_in,
                            const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_out) noexcept override {
        return guarded(Attrs::kPluginName, "configurePlugin", int32_t(1), [&] {
            Spec::check_counts(nb_in, nb_out);
            record_configure(Attrs::kPluginName, in, nb_in, out, nb_out);
            return int32_t(0);
        });
    }
    int32_t getOutputDataTypes(nvinfer1::DataType* types, int32_t nb_out, const nvinfer1::DataType* in_types,
                               int32_t nb_in) const noexcept override {
        return guarded(Attrs::kPluginName, "getOutputDataTypes", int32_t(1), [&] {
            Spec::check_counts(nb_in, nb_out);
            for (int32_t k = 0; k < nb_out; ++k) types[k] = Spec::output_type(k, in_types, nb_in);
            return int32_t(0);
        });
    }
    int32_t getOutputShapes(const nvinfer1::DimsExprs* in, int32_t nb_in, const nvinfer1::DimsExprs*, int32_t,
                            nvinfer1::DimsExprs* out, int32_t nb_out, nvinfer1::IExprBuilder& builder) noexcept override {
        return guarded(Attrs::kPluginName, "getOutputShapes", int32_t(1), [&] {
            Spec::check_counts(nb_in, nb_out);
            Spec::check_ranks(in, nb_in);
            for (int32_t k = 0; k < nb_out; ++k) out[k] = self().output_dims(k, in, builder);
            return int32_t(0);
        });
    }
    bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* io, int32_t nb_in,
                                   int32_t nb_out) noexcept override {
        return guarded(Attrs::kPluginName, "supportsFormatCombination", false, [&] {
            Spec::check_counts(nb_in, nb_out);
            const std::vector<nvinfer1::PluginTensorDesc> descs = plain(io, nb_in + nb_out);
            return Spec::format_supported(pos, descs.data(), nb_in, nb_out);
        });
    }
    size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_in,
                            const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_out) const noexcept override {
        return guarded(Attrs::kPluginName, "getWorkspaceSize", size_t(0), [&] {
            Spec::check_counts(nb_in, nb_out);
            // sized for the profile's largest shapes: desc.dims may hold -1 here (V2 got concrete dims)
            const std::vector<nvinfer1::PluginTensorDesc> ins = at_max(in, nb_in), outs = at_max(out, nb_out);
            const ScaledDescs<Attrs> d(attrs_, ins.data(), outs.data());
            return self().workspace(Spec::precision(d.in(), d.out()), Tensors{d.in(), d.out(), nullptr, nullptr});
        });
    }

    // ---- IPluginV3OneRuntime
    int32_t onShapeChange(const nvinfer1::PluginTensorDesc*, int32_t nb_in, const nvinfer1::PluginTensorDesc*,
                          int32_t nb_out) noexcept override {
        return guarded(Attrs::kPluginName, "onShapeChange", int32_t(1), [&] {
            Spec::check_counts(nb_in, nb_out);
            return int32_t(0);
        });
    }
    int32_t enqueue(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out, const void* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) noexcept override {
        return guarded(Attrs::kPluginName, "enqueue", int32_t(1), [&] {
            record_enqueue(Attrs::kPluginName, in, IO::kNumInputs, out, IO::kNumOutputs);  // TensorRT's scales
            const ScaledDescs<Attrs> d(attrs_, in, out);
            if (d.replaced()) record_scales_used(Attrs::kPluginName, d.in(), IO::kNumInputs, d.out(), IO::kNumOutputs);
            const cudaError_t status =
                self().run(Spec::precision(d.in(), d.out()), Tensors{d.in(), d.out(), inputs, outputs}, workspace, stream);
            require(status == cudaSuccess, Attrs::kPluginName, std::string("CUDA error: ") + cudaGetErrorString(status));
            return int32_t(0);
        });
    }
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext*) noexcept override { return clone(); }
    const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override {
        return guarded(Attrs::kPluginName, "getFieldsToSerialize",
                       static_cast<const nvinfer1::PluginFieldCollection*>(nullptr), [&] {
            serialized_.assign(serialized_size(attrs_), '\0');
            serialize_attrs(attrs_, &serialized_[0], serialized_.size());
            field_ = nvinfer1::PluginField(kSerializedField, serialized_.data(), nvinfer1::PluginFieldType::kUNKNOWN,
                                           static_cast<int32_t>(serialized_.size()));
            collection_.nbFields = 1;
            collection_.fields = &field_;
            return static_cast<const nvinfer1::PluginFieldCollection*>(&collection_);
        });
    }

    const Attrs& attrs() const { return attrs_; }

protected:
    using Spec = SpecIO<Derived, Attrs>;
    Attrs attrs_;

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
    static std::vector<nvinfer1::PluginTensorDesc> plain(const nvinfer1::DynamicPluginTensorDesc* d, int32_t n) {
        std::vector<nvinfer1::PluginTensorDesc> out(n > 0 ? size_t(n) : 0);
        for (int32_t k = 0; k < n; ++k) out[size_t(k)] = d[k].desc;
        return out;
    }
    static std::vector<nvinfer1::PluginTensorDesc> at_max(const nvinfer1::DynamicPluginTensorDesc* d, int32_t n) {
        std::vector<nvinfer1::PluginTensorDesc> out = plain(d, n);
        for (int32_t k = 0; k < n; ++k) out[size_t(k)].dims = d[k].max;
        return out;
    }

    std::string namespace_ = Attrs::kPluginNamespace;
    std::string serialized_;
    nvinfer1::PluginField field_{};
    nvinfer1::PluginFieldCollection collection_{};
};

// The V3 creator: the spec's field table; build-time fields parsed with the spec's checks; at
// runtime (engine deserialization) the "pykit_attrs" buffer, bounds- and schema-checked.
template <class Plugin>
class CreatorV3Base : public nvinfer1::IPluginCreatorV3One {
public:
    using Attrs = typename Plugin::Attrs;

    const char* getPluginName() const noexcept override { return Attrs::kPluginName; }
    const char* getPluginVersion() const noexcept override { return Attrs::kPluginVersion; }
    const char* getPluginNamespace() const noexcept override { return namespace_.c_str(); }
    const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override { return fields_.collection(); }
    void setPluginNamespace(const char* ns) noexcept {
        guarded(Attrs::kPluginName, "setPluginNamespace", 0, [&] {
            namespace_ = ns != nullptr ? ns : "";
            return 0;
        });
    }

    nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                      nvinfer1::TensorRTPhase) noexcept override {
        return guarded(Attrs::kPluginName, "createPlugin", static_cast<nvinfer1::IPluginV3*>(nullptr), [&] {
            const int32_t n = fc != nullptr ? fc->nbFields : 0;
            require(n >= 0 && (n == 0 || fc->fields != nullptr), Attrs::kPluginName, "bad field collection");
            for (int32_t i = 0; i < n; ++i) {  // an engine's plugin: recreate it from its serialized attributes
                const nvinfer1::PluginField& f = fc->fields[i];
                if (f.name != nullptr && std::strcmp(f.name, kSerializedField) == 0) {
                    require(f.type == nvinfer1::PluginFieldType::kUNKNOWN && f.length >= 0 && (f.length == 0 || f.data),
                            Attrs::kPluginName, std::string("field '") + kSerializedField + "' is not a byte buffer");
                    return finish(new Plugin(deserialize_attrs<Attrs>(f.data, size_t(f.length))));
                }
            }
            return finish(new Plugin(SpecFields<Attrs>::parse(name, fc)));
        });
    }

private:
    nvinfer1::IPluginV3* finish(Plugin* plugin) const {
        plugin->setPluginNamespace(namespace_.c_str());
        return static_cast<nvinfer1::IPluginV3*>(plugin);
    }

    SpecFields<Attrs> fields_;
    std::string namespace_ = Attrs::kPluginNamespace;
};

} }  // namespace pykit::trt

// Defines pykit::trt::<id>_creator_v3(), the accessor the generated registration list calls.
#define PYKIT_DEFINE_CREATOR_V3(id, CreatorType)        \
    namespace pykit { namespace trt {                   \
    nvinfer1::IPluginCreatorV3One& id##_creator_v3() {  \
        static CreatorType creator;                     \
        return creator;                                 \
    }                                                   \
    } }
