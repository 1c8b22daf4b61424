// The start-of-day structure of the Xen PVH boot ABI (also used by QEMU's
// -kernel for ELF images with a XEN_ELFNOTE_PHYS32_ENTRY note). Layouts and
// values are the Xen public ABI: xen/include/public/arch-x86/hvm/start_info.h
// and the e820-style memory map types there. Field names follow that header
// so a reader can find them in the ABI.
#pragma once

#include <sluice/types.hpp>

namespace sluice::pvh {

inline constexpr uint32_t start_magic_value = 0x336ec578;  // XEN_HVM_START_MAGIC_VALUE

struct HvmStartInfo {
    uint32_t magic;          // start_magic_value
    uint32_t version;        // 0 or 1 (1 adds the memory map)
    uint32_t flags;          // SIF_xxx
    uint32_t nr_modules;
    uint64_t modlist_paddr;  // array of HvmModlistEntry
    uint64_t cmdline_paddr;  // NUL-terminated, 0 if none
    uint64_t rsdp_paddr;     // 0 if none
    // Version 1 and later:
    uint64_t memmap_paddr;   // array of HvmMemmapTableEntry
    uint32_t memmap_entries;
    uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(__builtin_offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(__builtin_offsetof(HvmStartInfo, rsdp_paddr) == 32);
static_assert(__builtin_offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(__builtin_offsetof(HvmStartInfo, memmap_entries) == 48);

// The size of a version 0 structure: everything before memmap_paddr.
inline constexpr size_t start_info_version_0_size = __builtin_offsetof(HvmStartInfo, memmap_paddr);

struct HvmModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;  // 0 if none
    uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapTableEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;  // XEN_HVM_MEMMAP_TYPE_*: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable, 6 disabled, 7 PMEM
    uint32_t reserved;
};
static_assert(sizeof(HvmMemmapTableEntry) == 24);

}  // namespace sluice::pvh
