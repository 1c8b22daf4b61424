// Finding and validating the Root System Description Pointer (RSDP).
//
// Three ways lead to it (ACPI 6.5 section 5.2.5.1): a boot loader hands over a
// copy of its bytes (multiboot2 tags 14 "ACPI old RSDP" and 15 "ACPI new
// RSDP"), or its physical address (PVH start info rsdp_paddr), or the legacy
// BIOS areas are searched for it.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::acpi {

// A validated RSDP, reduced to what the table walk needs.
struct RootPointer {
    PhysicalAddress address = 0;  // where the RSDP lies; 0 for a boot loader copy
    bool from_copy = false;       // validated from a copy, not from memory
    uint8_t revision = 0;
    uint32_t length = 0;  // 20 for the ACPI 1.0 layout, the length field for revision 2 and later
    char oem_id[6] = {};
    PhysicalAddress rsdt_address = 0;  // 0 when the RSDP names none
    // 0 when the RSDP names none, when its revision is below 2, or when its
    // extended part failed validation (the RSDT is used then).
    PhysicalAddress xsdt_address = 0;
};

// Each function logs one warning per problem, naming the RSDP's location.
// A failed 20-byte checksum or signature rejects the RSDP (Error::malformed);
// a bad extended part (revision 2 and later: length, extended checksum) only
// drops the XSDT address, so the RSDT is still used. An RSDP that names
// neither table is Error::malformed.

// Validates a copy of an RSDP, such as the payload of multiboot2 tag 14 or 15.
// bytes may be longer than the RSDP; it must hold all `length` bytes of a
// revision 2 RSDP for the extended checksum to be checked.
[[nodiscard]] Result<RootPointer> validate_root_pointer(Span<const uint8_t> bytes);

// Validates the RSDP at a physical address (PVH rsdp_paddr); Error::out_of_range
// when its bytes are not in accessible memory.
[[nodiscard]] Result<RootPointer> read_root_pointer(const PhysicalMemory& memory, PhysicalAddress address);

// Searches, on 16-byte boundaries, the first KiB of the Extended BIOS Data
// Area (whose segment is the 16-bit value at 0x40e) and then 0xe0000-0xfffff,
// and returns the first valid RSDP (Error::not_found when there is none).
[[nodiscard]] Result<RootPointer> scan_for_root_pointer(const PhysicalMemory& memory);

inline constexpr PhysicalAddress extended_bios_data_area_pointer = 0x40e;
inline constexpr uint64_t extended_bios_data_area_search_length = 1024;
inline constexpr PhysicalAddress bios_read_only_area_start = 0xe0000;
inline constexpr PhysicalAddress bios_read_only_area_end = 0x100000;  // exclusive
inline constexpr uint64_t root_pointer_alignment = 16;
// A revision 2 RSDP is 36 bytes; longer ones are allowed by the length field,
// but anything past this is treated as corrupt.
inline constexpr uint32_t maximum_root_pointer_length = 4096;

}  // namespace sluice::acpi
