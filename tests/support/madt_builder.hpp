// MADT tables (ACPI 6.5 section 5.2.12) built byte by byte as firmware lays
// them out, from the specification's tables: one function per interrupt
// controller structure (madt::local_apic(), madt::io_apic(), ...), composed by
// madt::table(). Lengths are the spec's unless a test overrides them.
#pragma once

#include "support/little_endian_bytes.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

namespace sluice::testing::madt {

using sluice::testing::Bytes;

using sluice::testing::put8;
using sluice::testing::put16;
using sluice::testing::put32;
using sluice::testing::put64;

// Type and Length, then the body; length = 2 + body unless given.
inline Bytes structure(uint8_t type, const Bytes& body, int length = -1) {
    Bytes bytes;
    put8(bytes, type);
    put8(bytes, static_cast<uint8_t>(length >= 0 ? length : 2 + static_cast<int>(body.size())));
    bytes.insert(bytes.end(), body.begin(), body.end());
    return bytes;
}

// Table 5.22 (type 0, 8 bytes). Flags bit 0 Enabled, bit 1 Online Capable.
inline Bytes local_apic(uint8_t uid, uint8_t apic_id, uint32_t flags = 1, int length = -1) {
    Bytes body;
    put8(body, uid);
    put8(body, apic_id);
    put32(body, flags);
    return structure(0, body, length);
}

// Table 5.24 (type 1, 12 bytes).
inline Bytes io_apic(uint8_t id, uint32_t address, uint32_t gsi_base, int length = -1) {
    Bytes body;
    put8(body, id);
    put8(body, 0);
    put32(body, address);
    put32(body, gsi_base);
    return structure(1, body, length);
}

// Table 5.26 (type 2, 10 bytes). Flags: polarity bits 1:0, trigger 3:2.
inline Bytes source_override(uint8_t bus, uint8_t source, uint32_t gsi, uint16_t flags, int length = -1) {
    Bytes body;
    put8(body, bus);
    put8(body, source);
    put32(body, gsi);
    put16(body, flags);
    return structure(2, body, length);
}

// Table 5.28 (type 3, 8 bytes).
inline Bytes nmi_source(uint16_t flags, uint32_t gsi) {
    Bytes body;
    put16(body, flags);
    put32(body, gsi);
    return structure(3, body);
}

// Table 5.29 (type 4, 6 bytes).
inline Bytes local_apic_nmi(uint8_t uid, uint16_t flags, uint8_t lint) {
    Bytes body;
    put8(body, uid);
    put16(body, flags);
    put8(body, lint);
    return structure(4, body);
}

// Table 5.30 (type 5, 12 bytes).
inline Bytes address_override(uint64_t address) {
    Bytes body;
    put16(body, 0);
    put64(body, address);
    return structure(5, body);
}

// Table 5.37 (type 9, 16 bytes).
inline Bytes local_x2apic(uint32_t x2apic_id, uint32_t uid, uint32_t flags = 1) {
    Bytes body;
    put16(body, 0);
    put32(body, x2apic_id);
    put32(body, flags);
    put32(body, uid);
    return structure(9, body);
}

// Table 5.38 (type 0xa, 12 bytes).
inline Bytes local_x2apic_nmi(uint32_t uid, uint16_t flags, uint8_t lint) {
    Bytes body;
    put16(body, flags);
    put32(body, uid);
    put8(body, lint);
    put8(body, 0);
    put8(body, 0);
    put8(body, 0);
    return structure(0xa, body);
}

inline void fix_checksum(Bytes& bytes) {
    bytes[9] = 0;
    uint8_t sum = 0;
    for (uint8_t byte : bytes) sum = static_cast<uint8_t>(sum + byte);
    bytes[9] = static_cast<uint8_t>(-sum);
}

// Table 5.19: the 36-byte header ("APIC", OEM "BOCHS "), the local
// interrupt controller address, the flags (bit 0 PCAT_COMPAT), then the
// structures; the length and checksum are filled in.
inline Bytes table(uint32_t local_apic_address, uint32_t flags, const std::vector<Bytes>& structures,
                   uint8_t revision = 3) {
    Bytes bytes(36, 0);
    std::memcpy(bytes.data(), "APIC", 4);
    bytes[8] = revision;
    std::memcpy(bytes.data() + 10, "BOCHS ", 6);
    std::memcpy(bytes.data() + 16, "BXPC    ", 8);
    std::memcpy(bytes.data() + 28, "BXPC", 4);
    put32(bytes, local_apic_address);
    put32(bytes, flags);
    for (const Bytes& part : structures) bytes.insert(bytes.end(), part.begin(), part.end());
    const uint32_t length = static_cast<uint32_t>(bytes.size());
    std::memcpy(bytes.data() + 4, &length, 4);
    fix_checksum(bytes);
    return bytes;
}

// What QEMU 7.2 builds for -M q35 -smp 1: one enabled local APIC (UID 0,
// ID 0), the I/O APIC (ID 0) at 0xfec00000 from GSI 0, the overrides IRQ 0 ->
// GSI 2 and IRQs 5, 9, 10, 11 active-high level, and LINT1 as NMI for all.
inline Bytes qemu_q35_table() {
    return table(0xfee00000, 1,
                 {local_apic(0, 0, 1), io_apic(0, 0xfec00000, 0), source_override(0, 0, 2, 0),
                  source_override(0, 5, 5, 0xd), source_override(0, 9, 9, 0xd), source_override(0, 10, 10, 0xd),
                  source_override(0, 11, 11, 0xd), local_apic_nmi(0xff, 0, 1)});
}

}  // namespace sluice::testing::madt
