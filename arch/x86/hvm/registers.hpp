// The general registers of an HVM vCPU that the hardware does not keep in
// the VMCB/VMCS (RSP, RIP and, on SVM, RAX live there; RAX is copied here
// around each exit so handlers see one register file). The layout is the
// VMRUN stub's (arch/x86/hvm/svm/vmrun.S): do not reorder.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86::hvm {

struct GuestRegisters {
    uint64_t rax;  // 0x00: copied from/to the VMCB by the run loop
    uint64_t rbx;  // 0x08
    uint64_t rcx;  // 0x10
    uint64_t rdx;  // 0x18
    uint64_t rsi;  // 0x20
    uint64_t rdi;  // 0x28
    uint64_t rbp;  // 0x30
    uint64_t r8;   // 0x38
    uint64_t r9;   // 0x40
    uint64_t r10;  // 0x48
    uint64_t r11;  // 0x50
    uint64_t r12;  // 0x58
    uint64_t r13;  // 0x60
    uint64_t r14;  // 0x68
    uint64_t r15;  // 0x70
};
static_assert(sizeof(GuestRegisters) == 0x78);
static_assert(__builtin_offsetof(GuestRegisters, rbx) == 0x08);
static_assert(__builtin_offsetof(GuestRegisters, rdi) == 0x28);
static_assert(__builtin_offsetof(GuestRegisters, r8) == 0x38);
static_assert(__builtin_offsetof(GuestRegisters, r15) == 0x70);

}  // namespace sluice::x86::hvm
