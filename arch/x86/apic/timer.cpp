#include <arch/x86/apic/timer.hpp>

namespace sluice::x86::apic {
namespace {

uint64_t multiply_shift32(uint64_t value, uint64_t fixed_point) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(value) * fixed_point) >> 32);
}

}  // namespace

const char* describe(TimerKind kind) {
    switch (kind) {
    case TimerKind::none: return "none";
    case TimerKind::tsc_deadline: return "TSC-deadline";
    case TimerKind::one_shot: return "one-shot";
    }
    return "unknown";
}

Status LocalApicTimer::configure(LocalApicRegisters& registers, TimerPlatform& platform, uint8_t vector,
                                 bool tsc_deadline, uint64_t tsc_frequency) {
    if (tsc_frequency == 0) return Error::invalid_argument;
    registers_ = &registers;
    platform_ = &platform;
    vector_ = vector;
    tsc_frequency_ = tsc_frequency;
    armed_ = false;
    kind_ = TimerKind::none;
    if (tsc_deadline) {
        // Section 11.5.4.1: the mode is selected in the LVT first; a deadline
        // written before that is ignored. Disarm whatever firmware left, then
        // order the LVT write before every later WRMSR.
        registers.write(LocalApicRegister32::lvt_timer,
                        LocalVectorTableEntry::timer(vector, TimerMode::tsc_deadline).value);
        platform.order_memory_before_msr_write();
        platform.write_tsc_deadline(0);
        kind_ = TimerKind::tsc_deadline;
        return success();
    }
    // Section 11.5.4: the divider and the mode are set while the count is 0
    // (stopped); the count written last starts the timer.
    registers.write(LocalApicRegister32::timer_initial_count, 0);
    registers.write(LocalApicRegister32::timer_divide_configuration, static_cast<uint32_t>(TimerDivide::by_1));
    SLUICE_TRY(calibrate());
    registers.write(LocalApicRegister32::lvt_timer, LocalVectorTableEntry::timer(vector, TimerMode::one_shot).value);
    kind_ = TimerKind::one_shot;
    return success();
}

Status LocalApicTimer::calibrate() {
    // Counts down from the maximum with the entry masked (no interrupt) for
    // calibration_microseconds of TSC time.
    registers_->write(LocalApicRegister32::lvt_timer, LocalVectorTableEntry::masked_entry().value |
                                                          LocalVectorTableEntry::timer(vector_, TimerMode::one_shot).value);
    // Each register access is bracketed by two TSC reads and dated at their
    // midpoint: an access can take long (an MMIO exit under a hypervisor),
    // and dating it by one side only would bias the frequency.
    const uint64_t wait = tsc_frequency_ / 1'000'000 * calibration_microseconds;
    const uint64_t before_start = platform_->read_time_stamp_counter();
    registers_->write(LocalApicRegister32::timer_initial_count, maximum_count);
    const uint64_t after_start = platform_->read_time_stamp_counter();
    const uint64_t start = before_start + (after_start - before_start) / 2;
    uint64_t now = after_start;
    while (now - start < wait) now = platform_->read_time_stamp_counter();
    const uint32_t remaining = registers_->read(LocalApicRegister32::timer_current_count);
    const uint64_t after_end = platform_->read_time_stamp_counter();
    const uint64_t elapsed = now + (after_end - now) / 2 - start;
    registers_->write(LocalApicRegister32::timer_initial_count, 0);
    const uint64_t counted = maximum_count - remaining;
    // Nothing counted, or everything (a timer faster than 2^32 ticks per
    // measurement, 2 THz): no usable frequency either way.
    if (counted == 0 || remaining == 0 || elapsed == 0) return Error::hardware_failure;
    // counted < 2^32, so counted << 32 fits in 64 bits.
    ticks_per_tsc_tick_ = (counted << 32) / elapsed;
    if (ticks_per_tsc_tick_ == 0) return Error::hardware_failure;
    return success();
}

uint64_t LocalApicTimer::frequency() const { return multiply_shift32(tsc_frequency_, ticks_per_tsc_tick_); }

void LocalApicTimer::program_one_shot(uint64_t now) {
    uint64_t ticks = 1;  // a deadline already reached: expire at once
    if (deadline_ > now) ticks = multiply_shift32(deadline_ - now, ticks_per_tsc_tick_);
    if (ticks == 0) ticks = 1;
    if (ticks > maximum_count) ticks = maximum_count;
    registers_->write(LocalApicRegister32::timer_initial_count, static_cast<uint32_t>(ticks));
}

void LocalApicTimer::arm(uint64_t deadline_tsc) {
    if (kind_ == TimerKind::none) return;
    deadline_ = deadline_tsc;
    armed_ = true;
    if (kind_ == TimerKind::tsc_deadline) {
        // 0 would disarm; 1 is in the past and expires at once, as asked.
        platform_->write_tsc_deadline(deadline_tsc == 0 ? 1 : deadline_tsc);
        return;
    }
    program_one_shot(platform_->read_time_stamp_counter());
}

void LocalApicTimer::cancel() {
    if (kind_ == TimerKind::none) return;
    armed_ = false;
    if (kind_ == TimerKind::tsc_deadline) platform_->write_tsc_deadline(0);
    else registers_->write(LocalApicRegister32::timer_initial_count, 0);
}

bool LocalApicTimer::handle_interrupt() {
    if (!armed_) return false;  // cancelled after the interrupt was raised
    const uint64_t now = platform_->read_time_stamp_counter();
    if (now < deadline_) {
        // One-shot: clamped to the 32-bit count, or the measured frequency
        // was a little high. TSC-deadline: cannot happen (section 11.5.4.1),
        // but re-arming is right there too.
        if (kind_ == TimerKind::tsc_deadline) platform_->write_tsc_deadline(deadline_);
        else program_one_shot(now);
        return false;
    }
    armed_ = false;
    if (handler_ != nullptr) handler_(context_);
    return true;
}

}  // namespace sluice::x86::apic
