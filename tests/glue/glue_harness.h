// The TensorRT glue exercised on the CPU, against TensorRT's headers alone (no libnvinfer, no GPU):
// what TensorRT would call before a kernel ever runs. tests/test_glue_native.py generates a main()
// that includes every plugin's *_plugin.cpp and calls check_plugin<Plugin>() on each, with the
// attributes of the spec's first case, then asserts that nothing FAILed.
//
// Each check states what the compiled spec (Plugin::IO) says the base must do: counts, formats
// chosen row by row, output types, refusing a scalar shape on failure, (de)serialization, clone.
#pragma once

#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include <NvInfer.h>

#include "common/io.h"
#include "common/trt/plugin_base.h"

namespace harness {

int failures = 0, checks = 0;
std::vector<std::string> errors;  // what the plugins reported through report_error

void check(bool ok, const std::string& plugin, const std::string& what) {
    ++checks;
    if (!ok) {
        ++failures;
        std::printf("FAIL %s: %s\n", plugin.c_str(), what.c_str());
    }
}

// Whether the last report_error since `mark` mentions `text`.
bool reported(std::size_t mark, const std::string& text) {
    for (std::size_t k = mark; k < errors.size(); ++k)
        if (errors[k].find(text) != std::string::npos) return true;
    return false;
}

// ---- a CPU stand-in for TensorRT's expression builder: constants only --------------------------
using DimValue = PYKIT_TRT_DIM_T;

struct Expr : nvinfer1::IDimensionExpr {
    struct Impl : nvinfer1::apiv::VDimensionExpr {
        DimValue value;
        explicit Impl(DimValue v) : value(v) {}
        bool isConstant() const override { return true; }
#if NV_TENSORRT_MAJOR >= 10
        int64_t getConstantValue() const override { return value; }
        bool isSizeTensor() const override { return false; }
#else
        int32_t getConstantValue() const override { return value; }
#endif
    } impl;
    explicit Expr(DimValue v) : impl(v) { mImpl = &impl; }
};

struct Builder : nvinfer1::IExprBuilder {
    struct Impl : nvinfer1::apiv::VExprBuilder {
        std::deque<Expr> exprs;
#if NV_TENSORRT_MAJOR >= 10
        nvinfer1::IDimensionExpr const* constant(int64_t v) override { return &exprs.emplace_back(v); }
        nvinfer1::IDimensionExpr const* declareSizeTensor(int32_t, nvinfer1::IDimensionExpr const&,
                                                          nvinfer1::IDimensionExpr const&) override {
            return nullptr;
        }
#else
        nvinfer1::IDimensionExpr const* constant(int32_t v) override { return &exprs.emplace_back(v); }
#endif
        nvinfer1::IDimensionExpr const* operation(nvinfer1::DimensionOperation, nvinfer1::IDimensionExpr const&,
                                                  nvinfer1::IDimensionExpr const&) override {
            return nullptr;
        }
    } impl;
    Builder() { mImpl = &impl; }
    ~Builder() override = default;
};

// ---- the battery ------------------------------------------------------------------------------
nvinfer1::DataType trt_type(pykit::Dtype d) {
    switch (d) {
        case pykit::Dtype::kFloat32: return nvinfer1::DataType::kFLOAT;
        case pykit::Dtype::kFloat16: return nvinfer1::DataType::kHALF;
        case pykit::Dtype::kInt8: return nvinfer1::DataType::kINT8;
        case pykit::Dtype::kInt32: return nvinfer1::DataType::kINT32;
        case pykit::Dtype::kBool: return nvinfer1::DataType::kBOOL;
        default: return nvinfer1::DataType::kFLOAT;
    }
}

// A type that no row of the table has at `pos` (bool is never a plugin tensor here).
nvinfer1::DataType foreign_type() { return nvinfer1::DataType::kBOOL; }

template <class Plugin>
void check_int8_scales(nvinfer1::IPluginCreator& creator, const std::vector<nvinfer1::PluginField>& fields);

template <class Plugin>
void check_plugin(nvinfer1::IPluginCreator& creator, const std::vector<nvinfer1::PluginField>& fields) {
    using IO = typename Plugin::Attrs::IO;  // the compiled spec
    const std::string name = creator.getPluginName();
    nvinfer1::PluginFieldCollection fc{int32_t(fields.size()), fields.data()};
    auto* made = creator.createPlugin("harness_layer", &fc);
    check(made != nullptr, name, "createPlugin with the first case's attributes");
    if (made == nullptr) return;
    auto* plugin = static_cast<nvinfer1::IPluginV2DynamicExt*>(made);

    check(plugin->getNbOutputs() == IO::kNumOutputs, name, "getNbOutputs is the spec's output count");

    // Formats: every precision's row is accepted position by position; a foreign type, a wrong
    // format and wrong counts are refused.
    const int n = IO::kNumTensors;
    for (int row = 0; row < IO::kNumPrecisions; ++row) {
        std::vector<nvinfer1::PluginTensorDesc> io(n);
        for (int k = 0; k < n; ++k) {
            io[k] = nvinfer1::PluginTensorDesc{};
            io[k].type = trt_type(IO::kDtypes[row][k]);
            io[k].format = nvinfer1::TensorFormat::kLINEAR;
            io[k].dims.nbDims = 1;
            io[k].dims.d[0] = 4;
            io[k].scale = 1.f;
        }
        const std::string p = pykit::precision_name(IO::kPrecisions[row]);
        for (int pos = 0; pos < n; ++pos) {
            check(plugin->supportsFormatCombination(pos, io.data(), IO::kNumInputs, IO::kNumOutputs), name,
                  p + ": the spec's row is accepted at position " + std::to_string(pos));
            auto bad = io;
            bad[pos].type = foreign_type();
            check(!plugin->supportsFormatCombination(pos, bad.data(), IO::kNumInputs, IO::kNumOutputs), name,
                  p + ": a type no row has is refused at position " + std::to_string(pos));
            bad = io;
            bad[pos].format = nvinfer1::TensorFormat::kCHW32;
            check(!plugin->supportsFormatCombination(pos, bad.data(), IO::kNumInputs, IO::kNumOutputs), name,
                  p + ": a non-linear format is refused at position " + std::to_string(pos));
        }
        std::size_t mark = errors.size();
        check(!plugin->supportsFormatCombination(0, io.data(), IO::kNumInputs - 1, IO::kNumOutputs + 1) &&
                  reported(mark, "expects " + std::to_string(IO::kNumInputs) + " inputs"),
              name, p + ": a wrong input count is refused and reported");

        // Output types follow the row the input types select.
        std::vector<nvinfer1::DataType> in_types(IO::kNumInputs);
        for (int k = 0; k < IO::kNumInputs; ++k) in_types[k] = io[k].type;
        for (int k = 0; k < IO::kNumOutputs; ++k)
            check(plugin->getOutputDataType(k, in_types.data(), IO::kNumInputs) == io[IO::kNumInputs + k].type, name,
                  p + ": output " + std::to_string(k) + "'s type is the row's");
    }
    std::size_t mark = errors.size();
    plugin->getOutputDataType(0, nullptr, 0);  // before: read types[0] of an empty list
    check(reported(mark, "expects"), name, "getOutputDataType with no inputs is reported, not read");
    mark = errors.size();
    plugin->getOutputDataType(IO::kNumOutputs, nullptr, IO::kNumInputs);
    check(reported(mark, "has no output"), name, "getOutputDataType of an output the spec lacks is reported");

    // Shapes: a failure is nbDims = -1 (TensorRT refuses it), never an empty (scalar) shape.
    Builder builder;
    mark = errors.size();
    nvinfer1::DimsExprs none = plugin->getOutputDimensions(0, nullptr, 0, builder);
    check(none.nbDims == -1 && reported(mark, "expects"), name,
          "getOutputDimensions with no inputs fails with nbDims = -1 (was: read the inputs)");
    std::vector<nvinfer1::DimsExprs> wrong_rank(IO::kNumInputs);
    for (auto& d : wrong_rank) {
        d.nbDims = 0;  // rank 0: no plugin here takes scalars
    }
    mark = errors.size();
    nvinfer1::DimsExprs scalar = plugin->getOutputDimensions(0, wrong_rank.data(), IO::kNumInputs, builder);
    check(scalar.nbDims == -1 && reported(mark, "which the spec does not allow"), name,
          "inputs of a rank the spec does not allow fail with nbDims = -1");

    mark = errors.size();
    check(plugin->getWorkspaceSize(nullptr, 0, nullptr, 0) == 0 && reported(mark, "expects"), name,
          "getWorkspaceSize with wrong counts is reported");
    mark = errors.size();
    plugin->configurePlugin(nullptr, 0, nullptr, 0);
    check(reported(mark, "expects"), name, "configurePlugin with wrong counts is reported");

    // Namespace, clone, serialization.
    plugin->setPluginNamespace(nullptr);
    check(std::strcmp(plugin->getPluginNamespace(), "") == 0, name, "setPluginNamespace(nullptr) is the empty namespace");
    plugin->setPluginNamespace("harness.ns");
    auto* copy = plugin->clone();
    check(copy != nullptr && std::strcmp(copy->getPluginNamespace(), "harness.ns") == 0, name,
          "clone keeps the namespace that was set");
    const std::size_t size = plugin->getSerializationSize();
    std::vector<char> blob(size);
    plugin->serialize(blob.data());
    auto* back = creator.deserializePlugin("harness_layer", blob.data(), blob.size());
    check(back != nullptr && back->getSerializationSize() == size, name, "serialize -> deserializePlugin round trip");
    if (back != nullptr) {
        std::vector<char> again(size);
        back->serialize(again.data());
        check(again == blob, name, "the deserialized plugin serializes to the same bytes");
        back->destroy();
    }
    for (std::size_t cut : {std::size_t(0), size / 2, size - 1}) {
        mark = errors.size();
        check(creator.deserializePlugin("harness_layer", blob.data(), cut) == nullptr && reported(mark, "invalid serialized"),
              name, "a buffer truncated to " + std::to_string(cut) + " bytes is refused");
    }
    if (copy != nullptr) copy->destroy();
    plugin->destroy();
    check_int8_scales<Plugin>(creator, fields);
}

// The int8_scales attribute (every plugin whose spec offers int8 has it): a wrong count, a zero, a
// negative or a non-finite scale is refused at createPlugin and at deserializePlugin with the plugin
// and the attribute named; a right one survives serialization.
template <class Plugin>
void check_int8_scales(nvinfer1::IPluginCreator& creator, const std::vector<nvinfer1::PluginField>& fields) {
    using Attrs = typename Plugin::Attrs;
    if constexpr (Attrs::kNumInt8Scales > 0) {
        const std::string name = creator.getPluginName();
        auto with_scales = [&](const std::vector<float>& scales) {
            std::vector<nvinfer1::PluginField> f;
            for (const auto& field : fields)
                if (std::strcmp(field.name, "int8_scales") != 0) f.push_back(field);
            f.emplace_back("int8_scales", scales.data(), nvinfer1::PluginFieldType::kFLOAT32, int32_t(scales.size()));
            nvinfer1::PluginFieldCollection fc{int32_t(f.size()), f.data()};
            return creator.createPlugin("harness_layer", &fc);
        };
        const std::size_t n = std::size_t(Attrs::kNumInt8Scales);
        const std::string label = name + ": attribute 'int8_scales'";
        std::size_t mark = errors.size();
        check(with_scales(std::vector<float>(n + 1, 0.5f)) == nullptr && reported(mark, label + ": " + std::to_string(n + 1)),
              name, "int8_scales with one value too many is refused, naming the attribute");
        for (float bad : {0.f, -0.25f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
            std::vector<float> scales(n, 0.5f);
            scales[n - 1] = bad;
            mark = errors.size();
            check(with_scales(scales) == nullptr && reported(mark, label), name,
                  "int8_scales with the scale " + std::to_string(bad) + " is refused, naming the attribute");
        }
        std::vector<float> good(n);
        for (std::size_t k = 0; k < n; ++k) good[k] = 0.125f * float(k + 1);
        auto* made = with_scales(good);
        check(made != nullptr, name, "createPlugin with one finite positive int8 scale per int8 tensor");
        if (made == nullptr) return;
        auto* plugin = static_cast<Plugin*>(static_cast<nvinfer1::IPluginV2DynamicExt*>(made));
        check(plugin->attrs().int8_scales == good, name, "the plugin holds the int8_scales given");
        std::vector<char> blob(made->getSerializationSize());
        made->serialize(blob.data());
        auto* back = creator.deserializePlugin("harness_layer", blob.data(), blob.size());
        check(back != nullptr && static_cast<Plugin*>(static_cast<nvinfer1::IPluginV2DynamicExt*>(back))->attrs().int8_scales == good,
              name, "int8_scales survive serialize -> deserializePlugin");
        if (back != nullptr) back->destroy();
        // int8_scales is the last field: its last float closes the buffer. A zero there is refused.
        const float zero = 0.f;
        std::memcpy(blob.data() + blob.size() - sizeof(float), &zero, sizeof(float));
        mark = errors.size();
        check(creator.deserializePlugin("harness_layer", blob.data(), blob.size()) == nullptr && reported(mark, label),
              name, "a serialized plugin whose int8 scale is 0 is refused at deserializePlugin, naming the attribute");
        made->destroy();
    }
}

}  // namespace harness

// What libpykit_plugins.so's library.cpp defines, recorded instead of logged.
namespace pykit { namespace trt {
void report_error(const std::string& message) noexcept { harness::errors.push_back(message); }
void report_warning(const std::string&) noexcept {}
void record_enqueue(const char*, const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*,
                    int32_t) noexcept {}
void record_configure(const char*, const nvinfer1::DynamicPluginTensorDesc*, int32_t,
                      const nvinfer1::DynamicPluginTensorDesc*, int32_t) noexcept {}
void record_scales_used(const char*, const nvinfer1::PluginTensorDesc*, int32_t, const nvinfer1::PluginTensorDesc*,
                        int32_t) noexcept {}
} }  // namespace pykit::trt
