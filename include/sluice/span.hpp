// A non-owning view of a contiguous array.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

template <typename T> class Span {
public:
    constexpr Span() = default;
    constexpr Span(T* data, size_t size) : data_(data), size_(size) {}
    template <size_t N> constexpr Span(T (&array)[N]) : data_(array), size_(N) {}

    [[nodiscard]] constexpr T* data() const { return data_; }
    [[nodiscard]] constexpr size_t size() const { return size_; }
    [[nodiscard]] constexpr bool empty() const { return size_ == 0; }
    [[nodiscard]] constexpr T& operator[](size_t index) const { return data_[index]; }
    [[nodiscard]] constexpr T* begin() const { return data_; }
    [[nodiscard]] constexpr T* end() const { return data_ + size_; }

private:
    T* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace sluice
