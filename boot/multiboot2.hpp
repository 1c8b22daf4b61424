// The boot information a Multiboot2 loader (GRUB's "multiboot2" command)
// passes in EBX, as the Multiboot2 specification (version 2.0), section 3.6
// "Boot information format", lays it out: an 8-byte fixed part followed by
// tags, each 8-byte aligned, ending with a tag of type 0.
#pragma once

#include <sluice/types.hpp>

namespace sluice::multiboot2 {

// EAX at entry (specification 3.3 "I386 machine state").
inline constexpr uint32_t bootloader_magic = 0x36d76289;

// Specification 3.6.1 "Boot information format".
struct InformationHeader {
    uint32_t total_size;  // including this header and the end tag
    uint32_t reserved;
};
static_assert(sizeof(InformationHeader) == 8);

// Specification 3.6.2 "Basic tags structure".
struct TagHeader {
    uint32_t type;
    uint32_t size;  // including this header, excluding padding to 8 bytes
};
static_assert(sizeof(TagHeader) == 8);

inline constexpr uint32_t tag_alignment = 8;

enum class TagType : uint32_t {
    end = 0,
    command_line = 1,            // 3.6.5 "Boot command line"
    boot_loader_name = 2,        // 3.6.9 "Boot loader name"
    module = 3,                  // 3.6.6 "Modules"
    basic_memory_information = 4,
    bios_boot_device = 5,
    memory_map = 6,              // 3.6.8 "Memory map"
    acpi_old_rsdp = 14,          // 3.6.16 "ACPI old RSDP"
    acpi_new_rsdp = 15,          // 3.6.17 "ACPI new RSDP"
};

// 3.6.6: a boot module, followed by a NUL-terminated string.
struct ModuleTag {
    uint32_t type;
    uint32_t size;
    uint32_t mod_start;
    uint32_t mod_end;  // one past the last byte
};
static_assert(sizeof(ModuleTag) == 16);

// 3.6.8: entries of entry_size bytes follow (entry_size is a multiple of 8
// and at least sizeof(MemoryMapEntry); later versions may grow entries).
struct MemoryMapTag {
    uint32_t type;
    uint32_t size;
    uint32_t entry_size;
    uint32_t entry_version;  // 0
};
static_assert(sizeof(MemoryMapTag) == 16);

struct MemoryMapEntry {
    uint64_t base_addr;
    uint64_t length;
    uint32_t type;  // 1 available, 3 ACPI, 4 preserve on hibernation, 5 defective; others reserved
    uint32_t reserved;
};
static_assert(sizeof(MemoryMapEntry) == 24);

// ACPI 6.5, 5.2.5.3 "Root System Description Pointer (RSDP) Structure":
// the RSDP is 20 bytes in revision 0 (ACPI 1.0), 36 from revision 2. Tags 14
// and 15 carry a copy of it right after their header.
inline constexpr size_t rsdp_revision_0_length = 20;
inline constexpr size_t rsdp_revision_2_length = 36;

}  // namespace sluice::multiboot2
