// Privileged instructions a 64-bit PV guest kernel executes at CPL 3, where
// they raise #GP (or #UD for the forced-emulation prefix), decoded from the
// guest's instruction bytes (Intel SDM Vol. 2, opcode map; Xen public ABI,
// arch-x86/xen.h XEN_EMULATE_PREFIX).
//
// The decoder is core code over bytes the caller fetched; it says what the
// instruction is, which register it names and how long it is. The caller
// carries it out against the vCPU and advances RIP.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86::pv {

enum class PrivilegedOperation : uint8_t {
    none,                // not an instruction this layer emulates: reflect the fault
    move_to_control,     // mov %reg, %crN
    move_from_control,   // mov %crN, %reg
    read_msr,            // rdmsr
    write_msr,           // wrmsr
    halt,                // hlt
    clear_task_switched, // clts
    write_back_invalidate,  // wbinvd (and invd, treated the same)
    in,                  // in (imm8 or %dx) to %al/%ax/%eax
    out,                 // out %al/%ax/%eax to imm8 or %dx
    forced_cpuid,        // ud2; .ascii "xen"; cpuid
    software_interrupt,  // int imm8 (for the #GP an IDT gate with DPL 0 raises)
    clear_interrupts,    // cli
    set_interrupts,      // sti
};

struct DecodedInstruction {
    PrivilegedOperation operation = PrivilegedOperation::none;
    uint8_t length = 0;             // bytes, prefixes included
    uint8_t control_register = 0;   // for move_*_control
    uint8_t general_register = 0;   // 0 = rax ... 15 = r15
    uint8_t operand_size = 0;       // in/out: 1, 2 or 4 bytes
    bool port_in_dx = false;        // in/out: port from %dx, else `port`
    uint16_t port = 0;
    uint8_t vector = 0;             // software_interrupt
};

// The longest instruction the decoder looks at: the forced-emulation
// prefix (5 bytes) plus cpuid (2).
inline constexpr unsigned decode_window = 15;

// Decodes the instruction at the start of `bytes` (`available` of them could
// be fetched). Anything it does not know, a truncated one included, is
// PrivilegedOperation::none.
[[nodiscard]] DecodedInstruction decode_privileged(const uint8_t* bytes, unsigned available);


}  // namespace sluice::x86::pv
