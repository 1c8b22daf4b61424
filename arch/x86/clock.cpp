#include "arch/x86/clock.hpp"

#include "arch/x86/cpu.hpp"
#include "arch/x86/port_io.hpp"

#include <sluice/log.hpp>

namespace sluice::x86 {
namespace {

constexpr Logger logger{"clock"};

TscClock the_clock;

inline uint64_t read_time_stamp_counter() {
    uint32_t low, high;
    // LFENCE keeps the read from being hoisted above earlier loads (Intel SDM
    // Vol. 2B, RDTSC): a poll loop then measures what it waited for.
    asm volatile("lfence; rdtsc" : "=a"(low), "=d"(high) : : "memory");
    return uint64_t{high} << 32 | low;
}

// CPUID leaf 15h (Intel SDM Vol. 2A, "Time Stamp Counter and Nominal Core
// Crystal Clock Information Leaf"): TSC frequency = ECX * EBX / EAX when all
// three are non-zero. When the ratio is given but not the crystal (ECX = 0),
// the SDM's note on leaf 16h applies: its EAX, the processor base frequency
// in MHz, is the nominal TSC frequency.
uint64_t frequency_from_cpuid() {
    const uint32_t highest = cpuid(0).eax;
    if (highest < 0x15) return 0;
    const CpuidResult leaf = cpuid(0x15);
    if (leaf.eax == 0 || leaf.ebx == 0) return 0;
    if (leaf.ecx != 0) return static_cast<uint64_t>(leaf.ecx) * leaf.ebx / leaf.eax;
    if (highest < 0x16) return 0;
    return static_cast<uint64_t>(cpuid(0x16).eax & 0xffff) * 1'000'000;
}

// The 8254 PIT (Intel 8254 data sheet; port 61h as on every PC): channel 2's
// gate is port 61h bit 0 and its output reads back in bit 5, so it can be
// counted down in mode 0 ("interrupt on terminal count") without an
// interrupt and without making a sound (bit 1, speaker data, stays clear).
constexpr IoPort8 pit_channel2{0x42};
constexpr IoPort8 pit_mode{0x43};
constexpr IoPort8 system_control{0x61};
constexpr uint64_t pit_frequency = 1193182;
constexpr uint8_t channel2_gate = 1u << 0;
constexpr uint8_t speaker_data = 1u << 1;
constexpr uint8_t channel2_output = 1u << 5;
// Channel 2, low then high byte, mode 0, binary.
constexpr uint8_t channel2_mode0 = 0b10'11'000'0;

uint64_t frequency_from_pit() {
    constexpr uint64_t milliseconds = 10;
    constexpr uint16_t count = static_cast<uint16_t>(pit_frequency * milliseconds / 1000);
    const uint8_t saved = system_control.read();
    system_control.write(static_cast<uint8_t>((saved & ~speaker_data) | channel2_gate));
    pit_mode.write(channel2_mode0);
    pit_channel2.write(static_cast<uint8_t>(count & 0xff));
    pit_channel2.write(static_cast<uint8_t>(count >> 8));
    const uint64_t start = read_time_stamp_counter();
    // A missing PIT reads all ones (output "high" at once) or never changes:
    // both end here, the first as a zero-length count, the second after a
    // bound in TSC ticks rather than in polls (a port read can take a
    // microsecond, so a poll count could stall boot for minutes). 10^10
    // ticks is at least 10 ms for any TSC up to 1 THz, and at most 10 s for
    // any TSC of 1 GHz or more.
    constexpr uint64_t tick_limit = 10'000'000'000;
    bool expired = false;
    while ((system_control.read() & channel2_output) == 0) {
        if (read_time_stamp_counter() - start > tick_limit) {
            expired = true;
            break;
        }
    }
    const uint64_t elapsed = read_time_stamp_counter() - start;
    system_control.write(saved);
    if (expired || elapsed == 0) return 0;
    return elapsed * 1000 / milliseconds;
}

}  // namespace

const char* describe(ClockSource source) {
    switch (source) {
    case ClockSource::uncalibrated: return "uncalibrated";
    case ClockSource::cpuid: return "CPUID";
    case ClockSource::pit: return "PIT";
    case ClockSource::assumed: return "assumed";
    }
    return "unknown";
}

void TscClock::calibrate() {
    uint64_t frequency = frequency_from_cpuid();
    source_ = ClockSource::cpuid;
    if (frequency == 0) {
        frequency = frequency_from_pit();
        source_ = ClockSource::pit;
    }
    // Below 1 MHz the measurement cannot be right (a PIT that counts wrong).
    if (frequency < 1'000'000) {
        logger.warning("TSC frequency could not be measured; assuming 1 GHz, so hardware time limits may be off");
        frequency = 1'000'000'000;
        source_ = ClockSource::assumed;
    }
    frequency_ = frequency;
    // 10^9 << 32 fits in 64 bits; a 128-bit division would need a compiler
    // runtime helper the image does not link.
    nanoseconds_per_tick_ = (uint64_t{1'000'000'000} << 32) / frequency;
    start_ = read_time_stamp_counter();
    logger.info("TSC at %llu.%03llu MHz (%s)", static_cast<unsigned long long>(frequency / 1'000'000),
                static_cast<unsigned long long>(frequency / 1000 % 1000), describe(source_));
}

uint64_t TscClock::nanoseconds() const {
    const uint64_t ticks = read_time_stamp_counter() - start_;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(ticks) * nanoseconds_per_tick_) >> 32);
}

TscClock& clock() { return the_clock; }

}  // namespace sluice::x86
