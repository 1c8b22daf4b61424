// Byte strings built field by field, little endian as x86 and the ACPI and
// ELF formats store them: the one writer every test builder (DMAR, MADT,
// ELF images) appends with.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::testing {

using Bytes = std::vector<uint8_t>;

inline void put8(Bytes& bytes, uint8_t value) { bytes.push_back(value); }
inline void put16(Bytes& bytes, uint16_t value) {
    bytes.push_back(static_cast<uint8_t>(value));
    bytes.push_back(static_cast<uint8_t>(value >> 8));
}
inline void put32(Bytes& bytes, uint32_t value) {
    put16(bytes, static_cast<uint16_t>(value));
    put16(bytes, static_cast<uint16_t>(value >> 16));
}
inline void put64(Bytes& bytes, uint64_t value) {
    put32(bytes, static_cast<uint32_t>(value));
    put32(bytes, static_cast<uint32_t>(value >> 32));
}

}  // namespace sluice::testing
