// A Clock for host tests that advances by a fixed step on every read, so a
// bounded wait on hardware that never answers times out after a known number
// of polls, without sleeping.
#pragma once

#include <sluice/clock.hpp>

#include <cstdint>

namespace sluice::testing {

class AdvancingClock final : public Clock {
public:
    explicit AdvancingClock(uint64_t step_nanoseconds = 1000) : step_(step_nanoseconds) {}
    [[nodiscard]] uint64_t nanoseconds() const override {
        ++reads_;
        return now_ += step_;
    }
    // How often the clock was read.
    [[nodiscard]] uint64_t reads() const { return reads_; }
    // The time now, without a read.
    [[nodiscard]] uint64_t now() const { return now_; }

private:
    uint64_t step_;
    mutable uint64_t now_ = 0;
    mutable uint64_t reads_ = 0;
};

}  // namespace sluice::testing
