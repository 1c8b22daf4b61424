#include "arch/x86/pv/emulate.hpp"

namespace sluice::x86::pv {
namespace {

// Legacy prefixes that may precede the instructions decoded here (Intel SDM
// Vol. 2, "Instruction Prefixes"): operand size, address size, segment
// overrides, rep.
bool is_legacy_prefix(uint8_t byte) {
    return byte == 0x66 || byte == 0x67 || byte == 0x2e || byte == 0x36 || byte == 0x3e || byte == 0x26 ||
           byte == 0x64 || byte == 0x65 || byte == 0xf2 || byte == 0xf3;
}

}  // namespace

DecodedInstruction decode_privileged(const uint8_t* bytes, unsigned available) {
    DecodedInstruction decoded;
    // ud2 (0f 0b) followed by "xen" then cpuid (0f a2): Xen's forced
    // emulation prefix, so a PV kernel can ask for the hypervisor's view of
    // CPUID from ring 3.
    if (available >= 7 && bytes[0] == 0x0f && bytes[1] == 0x0b && bytes[2] == 'x' && bytes[3] == 'e' &&
        bytes[4] == 'n' && bytes[5] == 0x0f && bytes[6] == 0xa2) {
        decoded.operation = PrivilegedOperation::forced_cpuid;
        decoded.length = 7;
        return decoded;
    }

    unsigned position = 0;
    bool operand_size_override = false;
    while (position < available && position < decode_window && is_legacy_prefix(bytes[position])) {
        if (bytes[position] == 0x66) operand_size_override = true;
        ++position;
    }
    uint8_t rex = 0;
    if (position < available && (bytes[position] & 0xf0) == 0x40) rex = bytes[position++];
    if (position >= available) return decoded;

    const auto finish = [&](PrivilegedOperation operation, unsigned length) {
        decoded.operation = operation;
        decoded.length = static_cast<uint8_t>(length);
        return decoded;
    };
    const uint8_t opcode = bytes[position];
    switch (opcode) {
    case 0xf4: return finish(PrivilegedOperation::halt, position + 1);
    case 0xfa: return finish(PrivilegedOperation::clear_interrupts, position + 1);
    case 0xfb: return finish(PrivilegedOperation::set_interrupts, position + 1);
    case 0xcd:  // int imm8
        if (position + 1 >= available) return decoded;
        decoded.vector = bytes[position + 1];
        return finish(PrivilegedOperation::software_interrupt, position + 2);
    case 0xe4:  // in al, imm8
    case 0xe5:  // in eax/ax, imm8
    case 0xe6:  // out imm8, al
    case 0xe7:  // out imm8, eax/ax
        if (position + 1 >= available) return decoded;
        decoded.port = bytes[position + 1];
        decoded.operand_size = (opcode & 1) ? (operand_size_override ? 2 : 4) : 1;
        return finish(opcode < 0xe6 ? PrivilegedOperation::in : PrivilegedOperation::out, position + 2);
    case 0xec:  // in al, dx
    case 0xed:  // in eax/ax, dx
    case 0xee:  // out dx, al
    case 0xef:  // out dx, eax/ax
        decoded.port_in_dx = true;
        decoded.operand_size = (opcode & 1) ? (operand_size_override ? 2 : 4) : 1;
        return finish(opcode < 0xee ? PrivilegedOperation::in : PrivilegedOperation::out, position + 1);
    case 0x0f: break;
    default: return decoded;
    }

    if (position + 1 >= available) return decoded;
    const uint8_t second = bytes[position + 1];
    switch (second) {
    case 0x06: return finish(PrivilegedOperation::clear_task_switched, position + 2);
    case 0x08:  // invd
    case 0x09:  // wbinvd
        return finish(PrivilegedOperation::write_back_invalidate, position + 2);
    case 0x30: return finish(PrivilegedOperation::write_msr, position + 2);
    case 0x32: return finish(PrivilegedOperation::read_msr, position + 2);
    case 0x20:  // mov r64, crN
    case 0x22: {  // mov crN, r64
        if (position + 2 >= available) return decoded;
        const uint8_t modrm = bytes[position + 2];
        // The register form only: for 0f 20/22 the processor ignores the
        // mod field and always treats r/m as a register (Intel SDM Vol. 2,
        // "MOV-Move to/from Control Registers").
        decoded.control_register = static_cast<uint8_t>(((modrm >> 3) & 7) | ((rex & 0x4) ? 8 : 0));
        decoded.general_register = static_cast<uint8_t>((modrm & 7) | ((rex & 0x1) ? 8 : 0));
        return finish(second == 0x22 ? PrivilegedOperation::move_to_control : PrivilegedOperation::move_from_control,
                      position + 3);
    }
    default: return decoded;
    }
}

}  // namespace sluice::x86::pv
