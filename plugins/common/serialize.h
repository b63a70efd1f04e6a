// Bounds-checked (de)serialization of plugin attributes, independent of TensorRT.
//
// Layout: header {magic "PYKT", u16 format, u16 reserved, u32 schema hash, u32 payload bytes},
// then the payload: each field in spec order, little-endian; arrays and strings as a u32 count
// followed by the elements. The schema hash comes from the spec (pykit/codegen.py), so a buffer
// written by another version of a plugin's spec is refused instead of misread.
// A Reader never reads past its buffer; every failure is a pykit::Error that says what and where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "errors.h"

namespace pykit {

constexpr std::uint32_t kSerialMagic = 0x544B5950u;  // "PYKT" read as little-endian u32
constexpr std::uint16_t kSerialFormat = 1;
constexpr std::size_t kSerialHeaderBytes = 16;

// Writes into [buf, buf + capacity); with buf == nullptr it only counts bytes.
class Writer {
public:
    Writer(void* buf, std::size_t capacity) : buf_(static_cast<char*>(buf)), cap_(capacity) {}

    template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
    void put(T value) { bytes(&value, sizeof(T)); }

    template <class T>
    void put(const std::vector<T>& values) {
        put(static_cast<std::uint32_t>(values.size()));
        if (!values.empty()) bytes(values.data(), values.size() * sizeof(T));
    }

    void put(const std::string& s) {
        put(static_cast<std::uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }

    std::size_t size() const { return pos_; }

private:
    void bytes(const void* src, std::size_t n) {
        if (buf_ != nullptr) {
            if (n > cap_ - pos_ || pos_ > cap_) {
                throw Error("serialize: buffer of " + std::to_string(cap_) + " bytes is too small");
            }
            std::memcpy(buf_ + pos_, src, n);
        }
        pos_ += n;
    }

    char* buf_;
    std::size_t cap_;
    std::size_t pos_ = 0;
};

class Reader {
public:
    Reader(const void* buf, std::size_t size, std::string what)
        : buf_(static_cast<const char*>(buf)), size_(size), what_(std::move(what)) {
        if (buf_ == nullptr && size_ != 0) fail("null buffer");
    }

    template <class T, class = std::enable_if_t<std::is_arithmetic<T>::value>>
    T get() {
        T value;
        bytes(&value, sizeof(T), "a value");
        return value;
    }

    template <class T>
    void get(T& value) { value = get<T>(); }

    template <class T>
    void get(std::vector<T>& values) {
        const std::uint32_t n = count(sizeof(T));
        values.resize(n);
        if (n != 0) bytes(values.data(), std::size_t(n) * sizeof(T), "array elements");
    }

    void get(std::string& s) {
        const std::uint32_t n = count(1);
        s.assign(buf_ + pos_, n);
        pos_ += n;
    }

    std::size_t remaining() const { return size_ - pos_; }
    std::size_t offset() const { return pos_; }

    [[noreturn]] void fail(const std::string& why) const {
        throw Error(what_ + ": invalid serialized data: " + why);
    }

private:
    // An element count is only believed if that many elements fit in what is left.
    std::uint32_t count(std::size_t element_bytes) {
        const auto n = get<std::uint32_t>();
        if (std::size_t(n) > remaining() / element_bytes) {
            fail("count " + std::to_string(n) + " at offset " + std::to_string(pos_ - 4) +
                 " needs " + std::to_string(std::size_t(n) * element_bytes) + " bytes, only " +
                 std::to_string(remaining()) + " remain");
        }
        return n;
    }

    void bytes(void* dst, std::size_t n, const char* what) {
        if (n > remaining()) {
            fail(std::string("truncated: ") + what + " at offset " + std::to_string(pos_) + " needs " +
                 std::to_string(n) + " bytes, only " + std::to_string(remaining()) + " remain");
        }
        std::memcpy(dst, buf_ + pos_, n);
        pos_ += n;
    }

    const char* buf_;
    std::size_t size_;
    std::size_t pos_ = 0;
    std::string what_;
};

}  // namespace pykit
