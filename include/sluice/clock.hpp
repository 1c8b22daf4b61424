// Elapsed time, for the time limits every hardware wait must have (a unit
// that stops answering must be reported, never waited for forever: Xen
// advisory XSA-373). The image reads the calibrated TSC; host tests use a
// clock that advances on every read so time-outs are tested without sleeping.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

class Clock {
public:
    // Monotonic nanoseconds since an arbitrary start.
    [[nodiscard]] virtual uint64_t nanoseconds() const = 0;

protected:
    ~Clock() = default;
};

// Polls condition until it holds or timeout_nanoseconds passed; returns
// whether it held. condition is always evaluated at least once, and once
// more after the deadline, so a slow poll never causes a false time-out.
template <typename Condition>
[[nodiscard]] bool poll_until(const Clock& clock, uint64_t timeout_nanoseconds, Condition&& condition) {
    const uint64_t start = clock.nanoseconds();
    for (;;) {
        if (condition()) return true;
        if (clock.nanoseconds() - start > timeout_nanoseconds) return condition();
        __builtin_ia32_pause();
    }
}

}  // namespace sluice
