// A value that may be absent, for trivially copyable T (all the core needs).
#pragma once

#include <sluice/types.hpp>

namespace sluice {

template <typename T> class Optional {
    static_assert(__is_trivially_copyable(T), "Optional holds trivially copyable values only");

public:
    constexpr Optional() = default;
    constexpr Optional(T value) : value_(value), present_(true) {}

    [[nodiscard]] constexpr bool has_value() const { return present_; }
    [[nodiscard]] constexpr explicit operator bool() const { return present_; }
    [[nodiscard]] constexpr const T& value() const { return value_; }
    [[nodiscard]] constexpr T& value() { return value_; }
    [[nodiscard]] constexpr const T& operator*() const { return value_; }
    [[nodiscard]] constexpr const T* operator->() const { return &value_; }
    [[nodiscard]] constexpr T value_or(T fallback) const { return present_ ? value_ : fallback; }

private:
    T value_{};
    bool present_ = false;
};

}  // namespace sluice
