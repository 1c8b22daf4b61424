// Bounds-checked reads inside one ACPI table.
//
// Parsers of variable-length tables (DMAR, IVRS, MCFG) read every field
// through a TableReader: an offset or length taken from the table itself can
// never reach past the table's end, and every read goes through
// PhysicalMemory::read_bytes, so it can never reach past accessible memory
// either. A sub-structure gets its own reader (slice), bounded by the length
// the sub-structure declares.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::acpi {

class TableReader {
public:
    // A reader over [address, address + length). The caller has checked that
    // the range does not wrap (the table directory does so for every table).
    constexpr TableReader(const PhysicalMemory& memory, PhysicalAddress address, uint64_t length)
        : memory_(&memory), address_(address), length_(length) {}

    [[nodiscard]] constexpr PhysicalAddress address() const { return address_; }
    [[nodiscard]] constexpr uint64_t length() const { return length_; }

    // True when [offset, offset + length) lies inside the table.
    [[nodiscard]] constexpr bool contains(uint64_t offset, uint64_t length) const {
        return offset <= length_ && length <= length_ - offset;
    }

    // Little-endian fields at a byte offset; Error::out_of_range when any byte
    // lies past the end of the table (or outside accessible memory).
    [[nodiscard]] Result<uint8_t> read8(uint64_t offset) const { return read<uint8_t>(offset); }
    [[nodiscard]] Result<uint16_t> read16(uint64_t offset) const { return read<uint16_t>(offset); }
    [[nodiscard]] Result<uint32_t> read32(uint64_t offset) const { return read<uint32_t>(offset); }
    [[nodiscard]] Result<uint64_t> read64(uint64_t offset) const { return read<uint64_t>(offset); }

    // A whole packed structure (one of the [[gnu::packed]] spec types) at offset.
    template <typename Structure> [[nodiscard]] Result<Structure> read(uint64_t offset) const {
        static_assert(__is_trivially_copyable(Structure), "only plain structures can be copied out of a table");
        Structure structure{};
        const Status status = read_bytes(offset, &structure, sizeof structure);
        if (!status) return status.error();
        return structure;
    }

    // Copies length bytes starting at offset.
    [[nodiscard]] Status read_bytes(uint64_t offset, void* destination, uint64_t length) const;

    // Copies the whole table into destination, which must hold length() bytes
    // (Error::capacity otherwise; nothing is copied then).
    [[nodiscard]] Status copy_to(Span<uint8_t> destination) const;

    // The byte sum of the whole table; a valid table sums to 0 (ACPI 6.5
    // section 5.2.6, "Checksum"). Error::out_of_range when a byte is unreadable.
    [[nodiscard]] Result<uint8_t> checksum() const;

    // A reader for the sub-structure [offset, offset + length) of this table;
    // Error::out_of_range when it does not fit inside this reader's range.
    [[nodiscard]] Result<TableReader> slice(uint64_t offset, uint64_t length) const;

private:
    const PhysicalMemory* memory_;
    PhysicalAddress address_;
    uint64_t length_;
};

}  // namespace sluice::acpi
