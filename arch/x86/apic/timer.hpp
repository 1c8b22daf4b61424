// The local APIC timer (Intel SDM Vol. 3A section 11.5.4), driven by TSC
// deadlines: arm(deadline_tsc) asks for one interrupt once the time-stamp
// counter reaches deadline_tsc.
//
// With TSC-deadline mode (CPUID.01H:ECX[24], section 11.5.4.1) the deadline
// goes straight into IA32_TSC_DEADLINE. Without it the timer runs one-shot:
// its frequency is measured against the calibrated TSC once, and each
// deadline becomes an initial count. A count the 32-bit register cannot hold
// is programmed as its maximum and re-armed for the rest when it expires, and
// an expiry that arrives before the deadline (calibration error) is re-armed
// the same way: the handler never runs early.
#pragma once

#include <arch/x86/apic/local_apic.hpp>
#include <arch/x86/apic/registers.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::apic {

// What the timer needs besides the APIC's registers.
class TimerPlatform {
public:
    [[nodiscard]] virtual uint64_t read_time_stamp_counter() = 0;
    // WRMSR IA32_TSC_DEADLINE (0 disarms, section 11.5.4.1).
    virtual void write_tsc_deadline(uint64_t deadline) = 0;
    // Section 11.5.4.1: in xAPIC mode the LVT write is a memory write and
    // WRMSR to IA32_TSC_DEADLINE is not serializing, so an MFENCE between the
    // two keeps the MSR write from reaching the timer before the mode change.
    virtual void order_memory_before_msr_write() = 0;

protected:
    ~TimerPlatform() = default;
};

enum class TimerKind : uint8_t { none, tsc_deadline, one_shot };
[[nodiscard]] const char* describe(TimerKind kind);

using TimerHandler = void (*)(void* context);

class LocalApicTimer {
public:
    // The one-shot measurement: long enough for 0.1 % accuracy with a 25 MHz
    // timer clock, short enough not to matter at boot.
    static constexpr uint64_t calibration_microseconds = 2000;
    static constexpr uint32_t maximum_count = 0xffffffff;

    constexpr LocalApicTimer() = default;

    // Sets the timer up on vector: TSC-deadline mode when tsc_deadline is
    // true, else one-shot after measuring the timer's frequency against the
    // TSC (tsc_frequency ticks per second). The LVT entry is left unmasked and
    // nothing is armed. Error::hardware_failure when the one-shot timer does
    // not count; Error::invalid_argument for a zero TSC frequency.
    [[nodiscard]] Status configure(LocalApicRegisters& registers, TimerPlatform& platform, uint8_t vector,
                                   bool tsc_deadline, uint64_t tsc_frequency);

    // One interrupt once the TSC reaches deadline_tsc (at once if it has).
    // A later arm() replaces an earlier deadline.
    void arm(uint64_t deadline_tsc);
    // No interrupt for the armed deadline; one already pending is ignored.
    void cancel();

    // The callback for a reached deadline, run in interrupt context with
    // interrupts disabled (the handler may arm() again).
    void set_handler(TimerHandler handler, void* context) {
        context_ = context;
        handler_ = handler;
    }
    // Called for the timer's vector: re-arms an early or clamped expiry,
    // ignores a cancelled one, else runs the handler. Returns whether the
    // handler ran.
    bool handle_interrupt();

    [[nodiscard]] TimerKind kind() const { return kind_; }
    [[nodiscard]] uint8_t vector() const { return vector_; }
    [[nodiscard]] bool armed() const { return armed_; }
    [[nodiscard]] uint64_t deadline() const { return deadline_; }
    // One-shot mode: timer ticks per second, as measured.
    [[nodiscard]] uint64_t frequency() const;
    // Timer ticks per TSC tick, 32.32 fixed point (one-shot mode).
    [[nodiscard]] uint64_t ticks_per_tsc_tick() const { return ticks_per_tsc_tick_; }

private:
    [[nodiscard]] Status calibrate();
    void program_one_shot(uint64_t now);

    LocalApicRegisters* registers_ = nullptr;
    TimerPlatform* platform_ = nullptr;
    TimerHandler handler_ = nullptr;
    void* context_ = nullptr;
    uint64_t tsc_frequency_ = 0;
    uint64_t ticks_per_tsc_tick_ = 0;
    uint64_t deadline_ = 0;
    TimerKind kind_ = TimerKind::none;
    uint8_t vector_ = 0;
    bool armed_ = false;
};

}  // namespace sluice::x86::apic
