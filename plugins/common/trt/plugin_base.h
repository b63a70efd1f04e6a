// TensorRT glue shared by every IPluginV2DynamicExt plugin (cf. mmdeploy's TRTPluginBase).
//
// A plugin derives from PluginBase<Derived, Attrs> and writes only what is its own, as ordinary
// functions that may throw pykit::Error:
//   nvinfer1::DimsExprs output_dims(int32_t index, const nvinfer1::DimsExprs* in, nvinfer1::IExprBuilder&) const;
//   cudaError_t run(Precision precision, const Tensors& t, void* workspace, cudaStream_t stream) const;
// and, where it needs them,
//   size_t workspace(Precision precision, const Tensors& t) const;   (pointers null; default 0)
//   static bool extra_type(int32_t pos, nvinfer1::DataType type);      (a type the spec does not list
//                                                                        at that position; default none)
// Everything else comes from the compiled spec (Attrs, Attrs::IO): names, versions, namespace,
// serialization, the creator's field table, the number of outputs, the input/output count checks
// at every entry point, the formats (a precision's row of dtypes, chosen by the positions already
// decided), the output types, the precision handed to run(), and the int8 scales run() reads
// (t.in[k].scale: the plugin's int8_scales attribute where given, else TensorRT's; ScaledDescs). The base implements every
// TensorRT entry point noexcept, catches there, and reports through TensorRT's logger and the
// registry's error recorder.
#pragma once

#include <array>
#include <exception>
#include <string>
#include <vector>

#include <NvInfer.h>

#include "common/fields.h"
#include "common/io.h"

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
// Records the INT8 scales (PluginTensorDesc::scale) handed to configurePlugin; record_enqueue records
// enqueue's. Read through pykit_scale_record(): whether TensorRT passes the Q/DQ scales of an
// explicitly quantized network to a plugin, and where, is measured rather than assumed.
void record_configure(const char* plugin, const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_in,
                      const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_out) noexcept;
// Records the INT8 scales an enqueue computed with after the plugin's int8_scales attribute replaced
// TensorRT's ("enqueue int8_scales: ..." in pykit_scale_record, next to "enqueue: ..." with TensorRT's).
void record_scales_used(const char* plugin, const nvinfer1::PluginTensorDesc* in, int32_t nb_in,
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

// ---- the spec's dtypes as TensorRT's --------------------------------------------------------

inline bool is_dtype(nvinfer1::DataType t, Dtype d) {
    switch (d) {
        case Dtype::kFloat32: return t == nvinfer1::DataType::kFLOAT;
        case Dtype::kFloat16: return t == nvinfer1::DataType::kHALF;
        case Dtype::kInt8: return t == nvinfer1::DataType::kINT8;
        case Dtype::kInt32: return t == nvinfer1::DataType::kINT32;
        case Dtype::kBool: return t == nvinfer1::DataType::kBOOL;
#if NV_TENSORRT_MAJOR >= 10
        case Dtype::kInt64: return t == nvinfer1::DataType::kINT64;
#else
        case Dtype::kInt64: return false;  // TensorRT 8.x tensors have no int64
#endif
    }
    return false;
}

inline nvinfer1::DataType to_trt(Dtype d, const char* plugin) {
    switch (d) {
        case Dtype::kFloat32: return nvinfer1::DataType::kFLOAT;
        case Dtype::kFloat16: return nvinfer1::DataType::kHALF;
        case Dtype::kInt8: return nvinfer1::DataType::kINT8;
        case Dtype::kInt32: return nvinfer1::DataType::kINT32;
        case Dtype::kBool: return nvinfer1::DataType::kBOOL;
#if NV_TENSORRT_MAJOR >= 10
        case Dtype::kInt64: return nvinfer1::DataType::kINT64;
#else
        case Dtype::kInt64: break;
#endif
    }
    throw Error(std::string(plugin) + ": dtype " + dtype_name(d) + " has no TensorRT type in this version");
}

// The tensors of one enqueue: descriptors and pointers in spec order, typed on request.
struct Tensors {
    const nvinfer1::PluginTensorDesc* in;
    const nvinfer1::PluginTensorDesc* out;
    const void* const* inputs;  // null in workspace()
    void* const* outputs;       // null in workspace()

    template <class T = void>
    const T* input(int32_t k) const { return static_cast<const T*>(inputs[k]); }
    template <class T = void>
    T* output(int32_t k) const { return static_cast<T*>(outputs[k]); }
};

// The descriptors a plugin's run() and workspace() see: TensorRT's, except that where the plugin's
// int8_scales attribute is given (pykit/spec.py), each INT8 tensor's scale is the attribute's value
// for it. TensorRT 8.5 hands every int8 tensor of an explicitly quantized network (Q -> plugin -> DQ)
// scale 1.0 (measured on the H200), and TensorRT 10/11 strongly typed networks lose scales across
// plugins the same way; so the Q/DQ scales travel in the plugin's own fields. Points into itself: not
// copyable.
template <class Attrs>
class ScaledDescs {
    using IO = typename Attrs::IO;

public:
    ScaledDescs(const Attrs& attrs, const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out)
        : in_(in), out_(out) {
        if constexpr (Attrs::kNumInt8Scales > 0) {
            const std::vector<float>& scales = attrs.int8_scales;
            if (scales.empty() || in == nullptr || out == nullptr) return;
            require(scales.size() == std::size_t(Attrs::kNumInt8Scales), Attrs::kPluginName,
                    "attribute 'int8_scales' has " + std::to_string(scales.size()) + " values, expected " +
                        std::to_string(Attrs::kNumInt8Scales));
            for (int32_t k = 0; k < IO::kNumInputs; ++k) ins_[std::size_t(k)] = in[k];
            for (int32_t k = 0; k < IO::kNumOutputs; ++k) outs_[std::size_t(k)] = out[k];
            for (int32_t k = 0; k < Attrs::kNumInt8Scales; ++k) {
                const int32_t pos = Attrs::kInt8ScalePositions[k];
                nvinfer1::PluginTensorDesc& d = pos < IO::kNumInputs ? ins_[std::size_t(pos)]
                                                                     : outs_[std::size_t(pos - IO::kNumInputs)];
                if (d.type == nvinfer1::DataType::kINT8) d.scale = scales[std::size_t(k)];
            }
            in_ = ins_.data();
            out_ = outs_.data();
            replaced_ = true;
        } else {
            (void)attrs;
        }
    }
    ScaledDescs(const ScaledDescs&) = delete;
    ScaledDescs& operator=(const ScaledDescs&) = delete;

    const nvinfer1::PluginTensorDesc* in() const { return in_; }
    const nvinfer1::PluginTensorDesc* out() const { return out_; }
    bool replaced() const { return replaced_; }  // whether the attribute's scales replaced TensorRT's

private:
    std::array<nvinfer1::PluginTensorDesc, std::size_t(IO::kNumInputs)> ins_{};
    std::array<nvinfer1::PluginTensorDesc, std::size_t(IO::kNumOutputs)> outs_{};
    const nvinfer1::PluginTensorDesc* in_;
    const nvinfer1::PluginTensorDesc* out_;
    bool replaced_ = false;
};

// What the V2 and V3 bases derive from the compiled spec (Attrs::IO), in one place.
template <class Derived, class Attrs>
struct SpecIO {
    using IO = typename Attrs::IO;

    static void check_counts(int32_t nb_in, int32_t nb_out) {
        require(nb_in == IO::kNumInputs && nb_out == IO::kNumOutputs, Attrs::kPluginName,
                "expects " + std::to_string(IO::kNumInputs) + " inputs and " + std::to_string(IO::kNumOutputs) +
                    " outputs, got " + std::to_string(nb_in) + " and " + std::to_string(nb_out));
    }

    // Whether tensor `pos` of type t fits precision row `row` (or is the plugin's documented extra).
    static bool fits(int row, int32_t pos, nvinfer1::DataType t) {
        return is_dtype(t, IO::kDtypes[row][pos]) || Derived::extra_type(pos, t);
    }

    // supportsFormatCombination: linear, and some precision's row agrees with every position up to pos.
    static bool format_supported(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t nb_in, int32_t nb_out) {
        check_counts(nb_in, nb_out);
        if (pos < 0 || pos >= nb_in + nb_out || io[pos].format != nvinfer1::TensorFormat::kLINEAR) return false;
        return select_row<IO>(pos + 1, [&](int row, int k) { return fits(row, k, io[k].type); }) >= 0;
    }

    // Output types: the row the input types select (all inputs, else the first, else the first row).
    static nvinfer1::DataType output_type(int32_t index, const nvinfer1::DataType* types, int32_t nb_in) {
        require(nb_in == IO::kNumInputs, Attrs::kPluginName,
                "expects " + std::to_string(IO::kNumInputs) + " inputs, got " + std::to_string(nb_in));
        require(index >= 0 && index < IO::kNumOutputs, Attrs::kPluginName, "has no output " + std::to_string(index));
        auto match = [&](int row, int k) { return fits(row, k, types[k]); };
        int row = select_row<IO>(nb_in, match);
        if (row < 0) row = select_row<IO>(nb_in > 0 ? 1 : 0, match);
        return to_trt(IO::kDtypes[row < 0 ? 0 : row][IO::kNumInputs + index], Attrs::kPluginName);
    }

    // The precision of an enqueue: the row every tensor's type agrees with.
    static Precision precision(const nvinfer1::PluginTensorDesc* in, const nvinfer1::PluginTensorDesc* out) {
        const int row = select_row<IO>(IO::kNumTensors, [&](int r, int k) {
            return fits(r, k, k < IO::kNumInputs ? in[k].type : out[k - IO::kNumInputs].type);
        });
        require(row >= 0, Attrs::kPluginName, "the tensors' data types match no precision of the spec");
        return IO::kPrecisions[row];
    }

    // Inputs of a rank no precision of the spec allows are refused before the plugin sees them.
    static void check_ranks(const nvinfer1::DimsExprs* in, int32_t nb_in) {
        require(nb_in == IO::kNumInputs, Attrs::kPluginName,
                "expects " + std::to_string(IO::kNumInputs) + " inputs, got " + std::to_string(nb_in));
        for (int32_t k = 0; k < nb_in; ++k) {
            std::uint32_t allowed = 0;
            for (int row = 0; row < IO::kNumPrecisions; ++row) allowed |= IO::kRanks[row][k];
            const int32_t r = in[k].nbDims;
            require(r >= 0 && r < 32 && ((allowed >> r) & 1u), Attrs::kPluginName,
                    std::string("input '") + IO::kNames[k] + "' has rank " + std::to_string(r) +
                        ", which the spec does not allow");
        }
    }
};

template <class Derived, class AttrsT>
class PluginBase : public nvinfer1::IPluginV2DynamicExt {
public:
    using Attrs = AttrsT;
    using IO = typename Attrs::IO;
    explicit PluginBase(Attrs attrs) : attrs_(std::move(attrs)) {}

    // Defaults of the optional hooks (a plugin's own definitions hide them).
    static bool extra_type(int32_t, nvinfer1::DataType) { return false; }
    size_t workspace(Precision, const Tensors&) const { return 0; }

    const char* getPluginType() const noexcept override { return Attrs::kPluginName; }
    const char* getPluginVersion() const noexcept override { return Attrs::kPluginVersion; }
    const char* getPluginNamespace() const noexcept override { return namespace_.c_str(); }
    void setPluginNamespace(const char* ns) noexcept override {
        guarded(Attrs::kPluginName, "setPluginNamespace", 0, [&] {
            namespace_ = ns != nullptr ? ns : "";
            return 0;
        });
    }
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

    int32_t getNbOutputs() const noexcept override { return IO::kNumOutputs; }

    nvinfer1::DataType getOutputDataType(int32_t index, const nvinfer1::DataType* types, int32_t nb) const noexcept override {
        return guarded(Attrs::kPluginName, "getOutputDataType", nvinfer1::DataType::kFLOAT,
                       [&] { return Spec::output_type(index, types, nb); });
    }
    // A failure returns nbDims = -1, which TensorRT refuses (an empty DimsExprs would be a scalar).
    nvinfer1::DimsExprs getOutputDimensions(int32_t index, const nvinfer1::DimsExprs* inputs, int32_t nb,
                                            nvinfer1::IExprBuilder& builder) noexcept override {
        nvinfer1::DimsExprs failed{};
        failed.nbDims = -1;
        return guarded(Attrs::kPluginName, "getOutputDimensions", failed, [&] {
            Spec::check_ranks(inputs, nb);
            require(index >= 0 && index < IO::kNumOutputs, Attrs::kPluginName, "has no output " + std::to_string(index));
            return self().output_dims(index, inputs, builder);
        });
    }
    bool supportsFormatCombination(int32_t pos, const nvinfer1::PluginTensorDesc* io, int32_t nb_in,
                                   int32_t nb_out) noexcept override {
        return guarded(Attrs::kPluginName, "supportsFormatCombination", false,
                       [&] { return Spec::format_supported(pos, io, nb_in, nb_out); });
    }
    void configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_in,
                         const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_out) noexcept override {
        guarded(Attrs::kPluginName, "configurePlugin", 0, [&] {
            Spec::check_counts(nb_in, nb_out);
            record_configure(Attrs::kPluginName, in, nb_in, out, nb_out);
            return 0;
        });
    }
    size_t getWorkspaceSize(const nvinfer1::PluginTensorDesc* in, int32_t nb_in, const nvinfer1::PluginTensorDesc* out,
                            int32_t nb_out) const noexcept override {
        return guarded(Attrs::kPluginName, "getWorkspaceSize", size_t(0), [&] {
            Spec::check_counts(nb_in, nb_out);
            const ScaledDescs<Attrs> d(attrs_, in, out);
            return self().workspace(Spec::precision(d.in(), d.out()), Tensors{d.in(), d.out(), nullptr, nullptr});
        });
    }
    // TensorRT passes no counts here: the descriptors are the spec's, as configurePlugin checked.
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

    const Attrs& attrs() const { return attrs_; }

protected:
    using Spec = SpecIO<Derived, Attrs>;
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
    void setPluginNamespace(const char* ns) noexcept override {
        guarded(Attrs::kPluginName, "setPluginNamespace", 0, [&] {
            namespace_ = ns != nullptr ? ns : "";
            return 0;
        });
    }
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
