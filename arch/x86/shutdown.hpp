// The end of every run: a verdict on the console and, under QEMU, through
// the isa-debug-exit device; on bare metal the CPU then halts.
#pragma once

namespace sluice::x86 {

// Prints "sluice: verdict: pass" as the last line and stops.
[[noreturn]] void finish_pass();

// Prints "sluice: verdict: fail (<reason>)" as the last line and stops.
[[noreturn]] void finish_fail(const char* reason_pattern, ...) __attribute__((format(printf, 1, 2)));

}  // namespace sluice::x86
