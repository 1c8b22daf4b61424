#include "arch/x86/pv/page_table_write.hpp"

namespace sluice::x86::pv {
namespace {

// Bytes after ModRM that address memory (Intel SDM Vol. 2, "32-Bit
// Addressing Forms with the ModR/M Byte" and "with the SIB Byte"; in 64-bit
// mode mod 00 r/m 101 is RIP + disp32). Returns false for a register
// operand (mod 11).
bool memory_operand_length(const uint8_t* bytes, unsigned available, unsigned modrm_position, unsigned* length) {
    if (modrm_position >= available) return false;
    const uint8_t modrm = bytes[modrm_position];
    const unsigned mod = modrm >> 6;
    const unsigned rm = modrm & 7;
    if (mod == 3) return false;
    unsigned extra = 0;
    if (rm == 4) {  // a SIB byte follows
        if (modrm_position + 1 >= available) return false;
        const unsigned base = bytes[modrm_position + 1] & 7;
        extra += 1;
        if (mod == 0 && base == 5) extra += 4;  // no base: disp32
    } else if (mod == 0 && rm == 5) {
        extra += 4;  // RIP-relative disp32
    }
    if (mod == 1) extra += 1;
    if (mod == 2) extra += 4;
    *length = 1 + extra;  // ModRM itself and what follows it
    return true;
}

}  // namespace

DecodedStore decode_page_table_store(const uint8_t* bytes, unsigned available) {
    DecodedStore decoded;
    unsigned position = 0;
    // A lock prefix, and segment overrides (which a flat 64-bit kernel may
    // still write), before REX.
    while (position < available && (bytes[position] == 0xf0 || bytes[position] == 0x2e || bytes[position] == 0x3e ||
                                    bytes[position] == 0x26 || bytes[position] == 0x36))
        ++position;
    if (position >= available) return decoded;
    const uint8_t rex = bytes[position];
    if ((rex & 0xf8) != 0x48) return decoded;  // REX with W = 1: an 8-byte operand
    ++position;
    if (position >= available) return decoded;

    PageTableStore kind = PageTableStore::none;
    unsigned modrm_position = position + 1;
    switch (bytes[position]) {
    case 0x89: kind = PageTableStore::move_register; break;
    case 0x87: kind = PageTableStore::exchange; break;
    case 0xc7: kind = PageTableStore::move_immediate; break;
    case 0x0f:
        if (position + 1 >= available || bytes[position + 1] != 0xb1) return decoded;
        // Without LOCK a cmpxchg to a shared table would not be atomic on
        // real hardware either; the emulation is atomic anyway (one vCPU),
        // so accept both.
        kind = PageTableStore::compare_exchange;
        modrm_position = position + 2;
        break;
    default: return decoded;
    }
    unsigned operand_length = 0;
    if (!memory_operand_length(bytes, available, modrm_position, &operand_length)) return decoded;
    const uint8_t modrm = bytes[modrm_position];
    unsigned length = modrm_position + operand_length;
    if (kind == PageTableStore::move_immediate) {
        if (((modrm >> 3) & 7) != 0) return decoded;  // c7 /0 only
        if (length + 4 > available) return decoded;
        const uint32_t value = static_cast<uint32_t>(bytes[length]) | (static_cast<uint32_t>(bytes[length + 1]) << 8) |
                               (static_cast<uint32_t>(bytes[length + 2]) << 16) |
                               (static_cast<uint32_t>(bytes[length + 3]) << 24);
        decoded.immediate = static_cast<int32_t>(value);
        length += 4;
    } else {
        decoded.source_register = static_cast<uint8_t>(((modrm >> 3) & 7) | ((rex & 0x4) ? 8 : 0));
    }
    if (length > available || length > 15) return decoded;
    decoded.kind = kind;
    decoded.length = static_cast<uint8_t>(length);
    return decoded;
}

}  // namespace sluice::x86::pv
