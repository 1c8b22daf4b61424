// Errors are values. A fallible function returns Result<T> (or Status, which
// is Result<void>); both are [[nodiscard]], so a caller cannot drop an error
// by accident. No exceptions exist in the image.
#pragma once

#include <sluice/types.hpp>
#include <sluice/new.hpp>
#include <sluice/utility.hpp>

namespace sluice {

enum class Error : uint8_t {
    out_of_memory,     // a fallible allocator had no page or no slot left
    invalid_argument,  // a caller passed something the callee cannot accept
    out_of_range,      // an address or index beyond what a structure can hold
    overlap,           // a region partially overlaps a different existing one
    already_exists,    // the exact object is present and may not be added twice
    not_found,         // nothing matched the request
    malformed,         // input (an ACPI table, an option value) breaks its format
    unsupported,       // the hardware or configuration cannot do what was asked
    timed_out,         // hardware did not answer within its time limit
    hardware_failure,  // hardware answered with an error
    capacity,          // a fixed-size table is full
};

constexpr const char* describe(Error error) {
    switch (error) {
    case Error::out_of_memory: return "out of memory";
    case Error::invalid_argument: return "invalid argument";
    case Error::out_of_range: return "out of range";
    case Error::overlap: return "overlaps an existing region";
    case Error::already_exists: return "already exists";
    case Error::not_found: return "not found";
    case Error::malformed: return "malformed";
    case Error::unsupported: return "unsupported";
    case Error::timed_out: return "timed out";
    case Error::hardware_failure: return "hardware failure";
    case Error::capacity: return "table full";
    }
    return "unknown error";
}

template <typename T> class [[nodiscard]] Result {
public:
    constexpr Result(const T& value) : has_value_(true) { new (&storage_.value) T(value); }
    constexpr Result(T&& value) : has_value_(true) { new (&storage_.value) T(sluice::move(value)); }
    constexpr Result(Error error) : has_value_(false) { storage_.error = error; }

    constexpr Result(const Result& other) : has_value_(other.has_value_) {
        if (has_value_) new (&storage_.value) T(other.storage_.value);
        else storage_.error = other.storage_.error;
    }
    constexpr Result(Result&& other) : has_value_(other.has_value_) {
        if (has_value_) new (&storage_.value) T(sluice::move(other.storage_.value));
        else storage_.error = other.storage_.error;
    }
    Result& operator=(const Result&) = delete;
    Result& operator=(Result&&) = delete;
    constexpr ~Result() {
        if (has_value_) storage_.value.~T();
    }

    [[nodiscard]] constexpr bool ok() const { return has_value_; }
    [[nodiscard]] constexpr explicit operator bool() const { return has_value_; }
    [[nodiscard]] constexpr Error error() const { return storage_.error; }
    [[nodiscard]] constexpr T& value() & { return storage_.value; }
    [[nodiscard]] constexpr const T& value() const& { return storage_.value; }
    [[nodiscard]] constexpr T&& value() && { return sluice::move(storage_.value); }
    [[nodiscard]] constexpr T value_or(T fallback) const { return has_value_ ? storage_.value : fallback; }

private:
    union Storage {
        constexpr Storage() : error(Error::invalid_argument) {}
        constexpr ~Storage() {}
        T value;
        Error error;
    } storage_;
    bool has_value_;
};

template <> class [[nodiscard]] Result<void> {
public:
    constexpr Result() = default;
    constexpr Result(Error error) : failed_(true), error_(error) {}

    [[nodiscard]] constexpr bool ok() const { return !failed_; }
    [[nodiscard]] constexpr explicit operator bool() const { return !failed_; }
    [[nodiscard]] constexpr Error error() const { return error_; }

private:
    bool failed_ = false;
    Error error_ = Error::invalid_argument;
};

using Status = Result<void>;

inline constexpr Status success() { return Status{}; }

}  // namespace sluice

// Propagates a failed Status/Result to the caller; evaluates to the value on
// success. Uses a statement expression (GNU C++, supported by clang and g++).
#define SLUICE_TRY(expression)                                                  \
    ({                                                                          \
        auto&& sluice_try_result_ = (expression);                               \
        if (!sluice_try_result_.ok()) return sluice_try_result_.error();        \
        ::sluice::detail::take_value(sluice::move(sluice_try_result_));         \
    })

namespace sluice::detail {
template <typename T> constexpr T take_value(Result<T>&& result) { return sluice::move(result).value(); }
constexpr void take_value(Result<void>&&) {}
}  // namespace sluice::detail
