// Image only: the hypervisor's interrupt layer on the boot processor.
//
// initialize() reads the MADT, enables the local APIC (x2APIC through MSRs
// when CPUID.01H:ECX[21] offers it, else xAPIC through uncached MMIO at the
// MADT's address), sets its timer up (TSC-deadline when CPUID.01H:ECX[24]
// offers it, else one-shot calibrated against the TSC), remaps and masks the
// 8259 PICs, masks every I/O APIC redirection entry, and prints one line:
//     apic: local APIC id 0 (x2APIC), timer TSC-deadline; 1 IO-APIC (id 0, 24 pins, GSI 0) masked; 8259 PICs masked
// With apic-selftest on the command line it then checks the timer interrupt
// end to end. Interrupts stay disabled (RFLAGS.IF clear) throughout; only a
// caller that wants interrupts enables them.
#pragma once

#include <arch/x86/apic/madt.hpp>
#include <arch/x86/apic/timer.hpp>
#include <arch/x86/apic/vectors.hpp>
#include <arch/x86/clock.hpp>
#include <drivers/acpi/table_directory.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::apic {

// Call once, after the TSC is calibrated and the direct map made device
// pages uncached. Fails (with an error line saying why) when the CPU has no
// local APIC, its registers cannot be reached, the timer does not count, or
// the requested self-test fails.
[[nodiscard]] Status initialize(const acpi::TableDirectory& tables, const PhysicalMemory& memory,
                                const TscClock& clock);

// One timer interrupt once the TSC reaches deadline_tsc (at once if it has);
// the handler set below runs then, with interrupts disabled. A later call
// replaces the deadline. No-ops before initialize().
void arm_timer(uint64_t deadline_tsc);
void cancel_timer();
void set_timer_handler(TimerHandler handler, void* context);
[[nodiscard]] const LocalApicTimer& timer();

// The TSC as the timer compares it (LFENCE; RDTSC).
[[nodiscard]] uint64_t read_time_stamp_counter();

[[nodiscard]] uint32_t local_apic_id();
[[nodiscard]] bool x2apic_enabled();
// The MADT as parsed at boot (empty when there was none).
[[nodiscard]] const MadtDescription& madt();

// For arch/x86/interrupts.cpp: vectors from 32 on. Runs the registered
// handler and sends the EOI after it; returns false before initialize(), so
// an early interrupt stays fatal.
bool handle_external_interrupt(uint8_t vector);

}  // namespace sluice::x86::apic
