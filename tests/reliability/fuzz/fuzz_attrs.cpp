// libFuzzer target for one plugin's attributes (PYKIT_FUZZ_HEADER / PYKIT_FUZZ_NS select it).
// Byte 0 picks the entry point:
//   even: deserialize_attrs<Attrs>(rest) -- what TensorRT hands deserializePlugin;
//   odd:  parse_fields<Attrs>(fields decoded from rest) -- what a creator's createPlugin receives.
// Properties beyond "no crash, no sanitizer report": only pykit::Error may escape; whatever parses
// serializes and deserializes back to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include PYKIT_FUZZ_HEADER

namespace {
using Attrs = pykit::PYKIT_FUZZ_NS::Attrs;

struct Input {
    const std::uint8_t* p;
    std::size_t n;
    std::uint8_t byte() { return n ? (--n, *p++) : 0; }
    std::int32_t int32() {
        std::int32_t v = 0;
        for (int k = 0; k < 4; ++k) v = std::int32_t(std::uint32_t(v) << 8 | byte());
        return v;
    }
};

void round_trip(const Attrs& a) {
    std::vector<unsigned char> buf(pykit::serialized_size(a));
    pykit::serialize_attrs(a, buf.data(), buf.size());
    const Attrs b = pykit::deserialize_attrs<Attrs>(buf.data(), buf.size());
    std::vector<unsigned char> again(pykit::serialized_size(b));
    pykit::serialize_attrs(b, again.data(), again.size());
    if (buf != again) std::abort();  // serialization is not a fixed point: a finding
}

void fuzz_fields(Input in) {
    // up to 6 fields: a known name (or a made-up one, or null), a kind, a length, and data backed
    // by a private copy of the remaining input (the caller's contract: data holds `length` items)
    std::vector<pykit::FieldView> fields;
    std::vector<std::string> names;
    std::vector<std::vector<std::uint8_t>> storage;
    const int count = in.byte() % 7;
    names.reserve(count);
    storage.reserve(count);
    for (int i = 0; i < count; ++i) {
        const std::uint8_t which = in.byte();
        const char* name = nullptr;
        if (which % 8 != 7) {
            names.emplace_back(Attrs::kNumFields ? Attrs::kFields[which % Attrs::kNumFields].name : "x");
            if (which & 0x80) names.back() += "_";
            name = names.back().c_str();
        }
        const auto kind = static_cast<pykit::FieldKind>(in.byte() % 3);
        std::int32_t length = in.int32() % 64;  // negative lengths stay (they must be refused)
        const std::size_t item = kind == pykit::FieldKind::kString ? 1 : 4;
        const std::size_t want = length > 0 ? std::size_t(length) * item : 0;
        storage.emplace_back(in.p, in.p + (want < in.n ? want : in.n));
        in.p += storage.back().size();
        in.n -= storage.back().size();
        if (length > 0) length = std::int32_t(storage.back().size() / item);
        fields.push_back({name, kind, length > 0 ? storage.back().data() : (in.byte() & 1 ? nullptr : storage.back().data()), length});
    }
    const Attrs a = pykit::parse_fields<Attrs>(fields.data(), fields.size());
    round_trip(a);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    Input in{data + 1, size - 1};
    try {
        if (data[0] % 2 == 0) {
            round_trip(pykit::deserialize_attrs<Attrs>(in.p, in.n));
        } else {
            fuzz_fields(in);
        }
    } catch (const pykit::Error&) {
        // refused with one clear error: what bad input must get
    }
    return 0;  // any other exception escapes and libFuzzer reports it (deadly signal)
}
