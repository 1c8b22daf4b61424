// The ACPI structures the table directory and the PCI layer read, named as
// the specifications name them. All are little-endian and packed: firmware
// places them at arbitrary byte addresses, so they are only ever copied out of
// memory (PhysicalMemory::read_bytes), never dereferenced in place.
#pragma once

#include <sluice/types.hpp>

namespace sluice::acpi {

// A four-character table signature ("DMAR", "IVRS", "MCFG"), in memory order.
struct Signature {
    char characters[4] = {};

    constexpr Signature() = default;
    // From a four-letter literal: Signature("DMAR").
    constexpr explicit Signature(const char (&text)[5])
        : characters{text[0], text[1], text[2], text[3]} {}
    // From the four signature bytes of a table header.
    static constexpr Signature from_bytes(const char (&bytes)[4]) {
        Signature signature;
        for (size_t index = 0; index < 4; ++index) signature.characters[index] = bytes[index];
        return signature;
    }

    friend constexpr bool operator==(const Signature& first, const Signature& second) {
        for (size_t index = 0; index < 4; ++index)
            if (first.characters[index] != second.characters[index]) return false;
        return true;
    }

    // Signatures are letters and digits, with '_' in a few vendor tables (ACPI 6.5
    // section 5.2.6 reserves them as four ASCII characters). Anything else marks a
    // pointer to garbage rather than a table.
    [[nodiscard]] constexpr bool is_valid() const {
        for (char character : characters) {
            const bool letter = (character >= 'A' && character <= 'Z') || (character >= 'a' && character <= 'z');
            const bool digit = character >= '0' && character <= '9';
            if (!letter && !digit && character != '_') return false;
        }
        return true;
    }

    // The bytes as one little-endian value, for printing an invalid signature in hex.
    [[nodiscard]] constexpr uint32_t value() const {
        return static_cast<uint32_t>(static_cast<uint8_t>(characters[0])) |
               static_cast<uint32_t>(static_cast<uint8_t>(characters[1])) << 8 |
               static_cast<uint32_t>(static_cast<uint8_t>(characters[2])) << 16 |
               static_cast<uint32_t>(static_cast<uint8_t>(characters[3])) << 24;
    }
};
static_assert(sizeof(Signature) == 4);

// A signature ready for "%s": the four characters when they form a valid
// signature, otherwise "0x" and the eight hex digits of its memory value.
struct SignatureText {
    char text[11];
    [[nodiscard]] const char* c_str() const { return text; }
};
[[nodiscard]] SignatureText describe(const Signature& signature);

// An OEM ID ready for "%s": six characters, NUL shown as a space and any
// other unprintable byte as '?'.
struct OemIdText {
    char text[7];
    [[nodiscard]] const char* c_str() const { return text; }
};
[[nodiscard]] OemIdText describe_oem_id(const char (&oem_id)[6]);

inline constexpr Signature root_system_description_table_signature("RSDT");
inline constexpr Signature extended_system_description_table_signature("XSDT");
inline constexpr Signature fixed_acpi_description_table_signature("FACP");
inline constexpr Signature differentiated_system_description_table_signature("DSDT");
inline constexpr Signature memory_mapped_configuration_table_signature("MCFG");

// ACPI 6.5 section 5.2.5.3, table 5.3: Root System Description Pointer (RSDP)
// Structure, the part ACPI 1.0 defines (revision 0). The checksum covers these
// 20 bytes.
struct [[gnu::packed]] RootSystemDescriptionPointerVersion1 {
    char signature[8];  // "RSD PTR "
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;  // 0 for ACPI 1.0, 2 for ACPI 2.0 and later
    uint32_t rsdt_address;
};
static_assert(sizeof(RootSystemDescriptionPointerVersion1) == 20);
static_assert(offsetof(RootSystemDescriptionPointerVersion1, checksum) == 8);
static_assert(offsetof(RootSystemDescriptionPointerVersion1, oem_id) == 9);
static_assert(offsetof(RootSystemDescriptionPointerVersion1, revision) == 15);
static_assert(offsetof(RootSystemDescriptionPointerVersion1, rsdt_address) == 16);

// ACPI 6.5 section 5.2.5.3, table 5.3: the full structure of ACPI 2.0 and later
// (revision 2). The extended checksum covers all `length` bytes.
struct [[gnu::packed]] RootSystemDescriptionPointer {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;
    uint8_t reserved[3];
};
static_assert(sizeof(RootSystemDescriptionPointer) == 36);
static_assert(offsetof(RootSystemDescriptionPointer, length) == 20);
static_assert(offsetof(RootSystemDescriptionPointer, xsdt_address) == 24);
static_assert(offsetof(RootSystemDescriptionPointer, extended_checksum) == 32);

inline constexpr char root_system_description_pointer_signature[8] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};
// The revision from which the RSDP has the 36-byte layout with an XSDT address.
inline constexpr uint8_t root_system_description_pointer_extended_revision = 2;

// ACPI 6.5 section 5.2.6, table 5.4: System Description Table Header, the
// first 36 bytes of every table except the FACS. The checksum covers the
// whole table (`length` bytes, header included).
struct [[gnu::packed]] SystemDescriptionTableHeader {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};
static_assert(sizeof(SystemDescriptionTableHeader) == 36);
static_assert(offsetof(SystemDescriptionTableHeader, length) == 4);
static_assert(offsetof(SystemDescriptionTableHeader, revision) == 8);
static_assert(offsetof(SystemDescriptionTableHeader, checksum) == 9);
static_assert(offsetof(SystemDescriptionTableHeader, oem_id) == 10);
static_assert(offsetof(SystemDescriptionTableHeader, oem_table_id) == 16);
static_assert(offsetof(SystemDescriptionTableHeader, oem_revision) == 24);
static_assert(offsetof(SystemDescriptionTableHeader, creator_id) == 28);
static_assert(offsetof(SystemDescriptionTableHeader, creator_revision) == 32);

// ACPI 6.5 section 5.2.7, table 5.5: Root System Description Table (RSDT).
// The header is followed by (length - 36) / 4 32-bit physical addresses.
struct [[gnu::packed]] RootSystemDescriptionTable {
    SystemDescriptionTableHeader header;
    // uint32_t entry[]: follows, unaligned in general.
};
static_assert(sizeof(RootSystemDescriptionTable) == 36);
inline constexpr uint32_t root_system_description_table_entry_size = 4;

// ACPI 6.5 section 5.2.8, table 5.6: Extended System Description Table (XSDT).
// The header is followed by (length - 36) / 8 64-bit physical addresses, which
// start at offset 36 and are therefore only 4-byte aligned.
struct [[gnu::packed]] ExtendedSystemDescriptionTable {
    SystemDescriptionTableHeader header;
    // uint64_t entry[]: follows.
};
static_assert(sizeof(ExtendedSystemDescriptionTable) == 36);
inline constexpr uint32_t extended_system_description_table_entry_size = 8;

// ACPI 6.5 section 5.2.9, table 5.9: Fixed ACPI Description Table (FADT,
// signature "FACP"). Only the two fields that locate the DSDT are read; the
// FADT itself is longer and its length depends on its revision.
inline constexpr uint32_t fixed_acpi_description_table_dsdt_offset = 40;     // 32-bit DSDT address
inline constexpr uint32_t fixed_acpi_description_table_x_dsdt_offset = 140;  // 64-bit X_DSDT address

// PCI Firmware Specification 3.3, section 4.1.2, table 4-2: the MCFG table
// (PCI Express memory mapped configuration space base address description
// table). The header and 8 reserved bytes are followed by allocation
// structures up to `length`.
struct [[gnu::packed]] MemoryMappedConfigurationTable {
    SystemDescriptionTableHeader header;
    uint8_t reserved[8];
    // ConfigurationSpaceBaseAddressAllocation allocation[]: follows.
};
static_assert(sizeof(MemoryMappedConfigurationTable) == 44);

// PCI Firmware Specification 3.3, table 4-3: Memory Mapped Enhanced
// Configuration Space Base Address Allocation Structure. base_address is the
// address of bus 0's configuration space in that segment even when
// start_bus_number is higher; the range actually decoded starts at
// base_address + (start_bus_number << 20).
struct [[gnu::packed]] ConfigurationSpaceBaseAddressAllocation {
    uint64_t base_address;
    uint16_t pci_segment_group_number;
    uint8_t start_bus_number;
    uint8_t end_bus_number;
    uint32_t reserved;
};
static_assert(sizeof(ConfigurationSpaceBaseAddressAllocation) == 16);
static_assert(offsetof(ConfigurationSpaceBaseAddressAllocation, pci_segment_group_number) == 8);
static_assert(offsetof(ConfigurationSpaceBaseAddressAllocation, start_bus_number) == 10);
static_assert(offsetof(ConfigurationSpaceBaseAddressAllocation, end_bus_number) == 11);

// Tables longer than this are refused as corrupt: the largest real tables (a
// DSDT on a big server) are a few hundred KiB, and a garbage length must not
// make the walker checksum gigabytes.
inline constexpr uint32_t maximum_table_length = 16 * 1024 * 1024;

}  // namespace sluice::acpi
