#include "arch/x86/hvm/instruction.hpp"

namespace sluice::x86::hvm {
namespace {

// Legacy prefixes (AMD APM Vol. 3, 1.2 "Instruction Prefixes").
bool legacy_prefix(uint8_t byte) {
    switch (byte) {
    case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:  // segment overrides
    case 0x66: case 0x67:                                              // operand, address size
    case 0xf0: case 0xf2: case 0xf3:                                   // LOCK, REPNE, REP
        return true;
    default: return false;
    }
}

InterceptedInstruction two_byte(uint8_t opcode) {
    switch (opcode) {
    case 0xa2: return InterceptedInstruction::cpuid;
    case 0x32: return InterceptedInstruction::rdmsr;
    case 0x30: return InterceptedInstruction::wrmsr;
    case 0x31: return InterceptedInstruction::rdtsc;
    case 0x08: return InterceptedInstruction::invd;
    case 0x09: return InterceptedInstruction::wbinvd;
    default: return InterceptedInstruction::unknown;
    }
}

// 0f 01 with a register-form ModRM byte (mod = 11b): the SVM and
// virtualization instructions and RDTSCP.
InterceptedInstruction group7(uint8_t modrm) {
    switch (modrm) {
    case 0xd8: return InterceptedInstruction::vmrun;
    case 0xd9: return InterceptedInstruction::vmmcall;
    case 0xda: return InterceptedInstruction::vmload;
    case 0xdb: return InterceptedInstruction::vmsave;
    case 0xdc: return InterceptedInstruction::stgi;
    case 0xdd: return InterceptedInstruction::clgi;
    case 0xde: return InterceptedInstruction::skinit;
    case 0xdf: return InterceptedInstruction::invlpga;
    case 0xf9: return InterceptedInstruction::rdtscp;
    case 0xc1: return InterceptedInstruction::vmcall;
    default: return InterceptedInstruction::unknown;
    }
}

}  // namespace

const char* describe(InterceptedInstruction instruction) {
    switch (instruction) {
    case InterceptedInstruction::unknown: return "unknown";
    case InterceptedInstruction::cpuid: return "CPUID";
    case InterceptedInstruction::rdmsr: return "RDMSR";
    case InterceptedInstruction::wrmsr: return "WRMSR";
    case InterceptedInstruction::rdtsc: return "RDTSC";
    case InterceptedInstruction::rdtscp: return "RDTSCP";
    case InterceptedInstruction::hlt: return "HLT";
    case InterceptedInstruction::invd: return "INVD";
    case InterceptedInstruction::wbinvd: return "WBINVD";
    case InterceptedInstruction::vmrun: return "VMRUN";
    case InterceptedInstruction::vmmcall: return "VMMCALL";
    case InterceptedInstruction::vmload: return "VMLOAD";
    case InterceptedInstruction::vmsave: return "VMSAVE";
    case InterceptedInstruction::stgi: return "STGI";
    case InterceptedInstruction::clgi: return "CLGI";
    case InterceptedInstruction::skinit: return "SKINIT";
    case InterceptedInstruction::invlpga: return "INVLPGA";
    case InterceptedInstruction::vmcall: return "VMCALL";
    }
    return "unknown";
}

Result<DecodedInstruction> decode_intercepted(Span<const uint8_t> bytes, bool long_mode) {
    const size_t available = bytes.size() < maximum_instruction_length ? bytes.size() : maximum_instruction_length;
    size_t position = 0;
    // Prefixes, then in 64-bit mode at most one REX right before the opcode
    // (a REX followed by a legacy prefix is ignored by the processor, so
    // skipping every 40-4f in the prefix run is what it does too).
    while (position < available &&
           (legacy_prefix(bytes[position]) || (long_mode && (bytes[position] & 0xf0) == 0x40)))
        ++position;
    if (position >= available) return available == maximum_instruction_length ? Error::malformed : Error::out_of_range;
    DecodedInstruction decoded;
    const uint8_t opcode = bytes[position];
    if (opcode == 0xf4) {
        decoded.instruction = InterceptedInstruction::hlt;
        decoded.length = static_cast<unsigned>(position + 1);
        return decoded;
    }
    if (opcode != 0x0f) return Error::malformed;
    if (position + 1 >= available) return Error::out_of_range;
    const uint8_t second = bytes[position + 1];
    if (second != 0x01) {
        decoded.instruction = two_byte(second);
        if (decoded.instruction == InterceptedInstruction::unknown) return Error::malformed;
        decoded.length = static_cast<unsigned>(position + 2);
        return decoded;
    }
    if (position + 2 >= available) return Error::out_of_range;
    decoded.instruction = group7(bytes[position + 2]);
    if (decoded.instruction == InterceptedInstruction::unknown) return Error::malformed;
    decoded.length = static_cast<unsigned>(position + 3);
    return decoded;
}

}  // namespace sluice::x86::hvm
