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
    uint64_t nanoseconds() const override { return now_ += step_; }
    // How often the clock was read.
    [[nodiscard]] uint64_t reads() const { return now_ / step_; }
    // Moves time on without a read (a device that takes this long).
    void advance(uint64_t nanoseconds) const { now_ += nanoseconds - nanoseconds % step_; }

private:
    uint64_t step_;
    mutable uint64_t now_ = 0;
};

}  // namespace sluice::testing
