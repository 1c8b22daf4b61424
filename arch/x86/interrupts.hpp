// CPU exceptions and interrupt vectors. Every vector is fatal for now: the
// handler prints the vector, its name, the error code and the whole register
// state, then ends the run with a fail verdict.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

inline constexpr unsigned interrupt_vector_count = 256;
inline constexpr unsigned exception_vector_count = 32;

// Architectural exception vectors (Intel SDM Vol. 3A, "Exception and
// Interrupt Vectors", table "Protected-Mode Exceptions and Interrupts").
inline constexpr unsigned exception_divide_error = 0;
inline constexpr unsigned exception_debug = 1;
inline constexpr unsigned exception_nmi = 2;
inline constexpr unsigned exception_breakpoint = 3;
inline constexpr unsigned exception_invalid_opcode = 6;
inline constexpr unsigned exception_double_fault = 8;
inline constexpr unsigned exception_general_protection = 13;
inline constexpr unsigned exception_page_fault = 14;
inline constexpr unsigned exception_machine_check = 18;

// What interrupt_entry.S leaves on the stack, lowest address first.
struct InterruptFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code;  // zero for vectors without one
    // Pushed by the CPU (Intel SDM Vol. 3A, "Interrupt Handling in 64-bit Mode").
    uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(InterruptFrame) == 22 * 8);

// The entry stub for a vector (interrupt_entry.S).
uint64_t interrupt_stub_address(unsigned vector);

// "#UD" style mnemonic and a description; vectors without one give "".
const char* exception_mnemonic(unsigned vector);
const char* exception_description(unsigned vector);

// Raises the exception that crash-test=<name> asked for, if any. Returns
// only when none was requested.
void run_requested_crash_test();

}  // namespace sluice::x86
