// The instructions an HVM vCPU exits on, decoded from the guest's bytes.
//
// QEMU TCG's SVM offers no nRIP save and no decode assists (docs/pvh.md), so
// after an intercept the hypervisor finds the instruction's length itself:
// it fetches the bytes at CS:RIP (arch/x86/hvm/guest_memory.hpp) and decodes
// them here. Only the instructions the intercepts cover are known; anything
// else (or bytes that changed under the exit) is a clear refusal, never a
// guess at a length.
//
// Core code, host-tested against the encodings in AMD APM Vol. 3 and the
// Intel SDM Vol. 2.
#pragma once

#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::hvm {

enum class InterceptedInstruction : uint8_t {
    unknown,
    cpuid,    // 0f a2
    rdmsr,    // 0f 32
    wrmsr,    // 0f 30
    rdtsc,    // 0f 31
    rdtscp,   // 0f 01 f9
    hlt,      // f4
    invd,     // 0f 08
    wbinvd,   // 0f 09
    vmrun,    // 0f 01 d8
    vmmcall,  // 0f 01 d9
    vmload,   // 0f 01 da
    vmsave,   // 0f 01 db
    stgi,     // 0f 01 dc
    clgi,     // 0f 01 dd
    skinit,   // 0f 01 de
    invlpga,  // 0f 01 df
    vmcall,   // 0f 01 c1 (Intel)
};
[[nodiscard]] const char* describe(InterceptedInstruction instruction);

// The longest x86 instruction (AMD APM Vol. 3, 1.1; Intel SDM Vol. 2, 2.3.11).
inline constexpr unsigned maximum_instruction_length = 15;

struct DecodedInstruction {
    InterceptedInstruction instruction = InterceptedInstruction::unknown;
    unsigned length = 0;  // bytes, prefixes included
};

// Decodes the instruction at the start of `bytes` (as many as could be
// fetched, at most 15). long_mode: the vCPU runs 64-bit code, where 40-4f
// are REX prefixes (elsewhere they are INC/DEC). Legacy prefixes (operand and
// address size, segment overrides, LOCK, REP) are skipped as the processor
// would; none changes these instructions' meaning. Error::malformed for an
// instruction not in the list, Error::out_of_range when the bytes end first.
[[nodiscard]] Result<DecodedInstruction> decode_intercepted(Span<const uint8_t> bytes, bool long_mode);

}  // namespace sluice::x86::hvm
