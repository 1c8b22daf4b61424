// A non-owning view of characters, for parsing command lines and ACPI names
// without a C library. Never assumes NUL termination.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

class StringView {
public:
    constexpr StringView() = default;
    constexpr StringView(const char* text, size_t length) : data_(text), length_(length) {}
    // From a NUL-terminated string (a literal, or the boot command line).
    constexpr StringView(const char* text) : data_(text), length_(text ? measure(text) : 0) {}

    [[nodiscard]] constexpr const char* data() const { return data_; }
    [[nodiscard]] constexpr size_t length() const { return length_; }
    [[nodiscard]] constexpr bool empty() const { return length_ == 0; }
    [[nodiscard]] constexpr char operator[](size_t index) const { return data_[index]; }
    [[nodiscard]] constexpr const char* begin() const { return data_; }
    [[nodiscard]] constexpr const char* end() const { return data_ + length_; }

    // Characters [start, start + count), clamped to the view.
    [[nodiscard]] constexpr StringView substring(size_t start, size_t count = ~size_t{0}) const {
        if (start > length_) start = length_;
        const size_t available = length_ - start;
        return StringView(data_ + start, count < available ? count : available);
    }

    [[nodiscard]] constexpr bool starts_with(StringView prefix) const {
        return prefix.length_ <= length_ && substring(0, prefix.length_) == prefix;
    }

    // Index of the first occurrence of character, or length() if absent.
    [[nodiscard]] constexpr size_t find(char character, size_t from = 0) const {
        for (size_t index = from; index < length_; ++index)
            if (data_[index] == character) return index;
        return length_;
    }

    friend constexpr bool operator==(StringView first, StringView second) {
        if (first.length_ != second.length_) return false;
        for (size_t index = 0; index < first.length_; ++index)
            if (first.data_[index] != second.data_[index]) return false;
        return true;
    }

private:
    static constexpr size_t measure(const char* text) {
        size_t length = 0;
        while (text[length] != '\0') ++length;
        return length;
    }

    const char* data_ = "";
    size_t length_ = 0;
};

}  // namespace sluice
