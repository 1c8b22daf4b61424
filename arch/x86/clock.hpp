// The image's Clock: the processor's time-stamp counter, calibrated once at
// boot. Every hardware wait (IOMMU invalidations, register handshakes, DMA
// completion) takes its time limit from it.
#pragma once

#include <sluice/clock.hpp>
#include <sluice/types.hpp>

namespace sluice::x86 {

// How the TSC frequency was found.
enum class ClockSource : uint8_t {
    uncalibrated,
    cpuid,  // CPUID leaf 15h (TSC / crystal ratio, crystal frequency) or 16h (base frequency)
    pit,    // measured against the 8254 PIT's 1.193182 MHz channel 2
    assumed,  // neither worked: 1 GHz assumed (time limits may be off)
};
[[nodiscard]] const char* describe(ClockSource source);

class TscClock final : public Clock {
public:
    constexpr TscClock() = default;

    // Finds the TSC frequency (CPUID leaves 15h/16h where they enumerate it,
    // else a 10 ms measurement against the PIT) and starts counting from now.
    // Logs the result.
    void calibrate();

    [[nodiscard]] uint64_t nanoseconds() const override;
    [[nodiscard]] uint64_t frequency() const { return frequency_; }
    [[nodiscard]] ClockSource source() const { return source_; }

private:
    uint64_t start_ = 0;
    uint64_t frequency_ = 0;
    // Nanoseconds per tick as a 32.32 fixed-point number; until calibrate()
    // a 1 GHz counter is assumed, so a wait before calibration still ends.
    uint64_t nanoseconds_per_tick_ = uint64_t{1} << 32;
    ClockSource source_ = ClockSource::uncalibrated;
};

// The one instance, calibrated by boot before any driver waits on hardware.
TscClock& clock();

}  // namespace sluice::x86
