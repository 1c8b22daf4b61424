// Small freestanding replacements for the parts of <utility>, <algorithm>
// and <bit> the core needs; the image has no standard library at run time.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

template <typename T> struct RemoveReference { using Type = T; };
template <typename T> struct RemoveReference<T&> { using Type = T; };
template <typename T> struct RemoveReference<T&&> { using Type = T; };

template <typename T>
constexpr typename RemoveReference<T>::Type&& move(T&& value) noexcept {
    return static_cast<typename RemoveReference<T>::Type&&>(value);
}

template <typename T>
constexpr T&& forward(typename RemoveReference<T>::Type& value) noexcept {
    return static_cast<T&&>(value);
}

template <typename T> constexpr void swap(T& first, T& second) noexcept {
    T temporary = move(first);
    first = move(second);
    second = move(temporary);
}

template <typename T> constexpr const T& min(const T& first, const T& second) {
    return second < first ? second : first;
}

template <typename T> constexpr const T& max(const T& first, const T& second) {
    return first < second ? second : first;
}

constexpr bool is_power_of_two(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

// Alignment helpers take a power-of-two alignment.
constexpr uint64_t align_down(uint64_t value, uint64_t alignment) { return value & ~(alignment - 1); }
constexpr uint64_t align_up(uint64_t value, uint64_t alignment) {
    return (value + alignment - 1) & ~(alignment - 1);
}
constexpr bool is_aligned(uint64_t value, uint64_t alignment) { return (value & (alignment - 1)) == 0; }

// Index of the lowest set bit; value must not be zero.
constexpr unsigned count_trailing_zeros(uint64_t value) { return static_cast<unsigned>(__builtin_ctzll(value)); }
// Index of the highest set bit; value must not be zero.
constexpr unsigned highest_bit(uint64_t value) { return 63u - static_cast<unsigned>(__builtin_clzll(value)); }

// Bits [low, high] of value, both inclusive, shifted down to bit 0.
constexpr uint64_t extract_bits(uint64_t value, unsigned high, unsigned low) {
    const unsigned width = high - low + 1;
    const uint64_t mask = width >= 64 ? ~uint64_t{0} : ((uint64_t{1} << width) - 1);
    return (value >> low) & mask;
}

template <typename To, typename From> constexpr To bit_cast(const From& from) {
    static_assert(sizeof(To) == sizeof(From));
    return __builtin_bit_cast(To, from);
}

template <typename T, size_t N> constexpr size_t array_length(const T (&)[N]) { return N; }

}  // namespace sluice
