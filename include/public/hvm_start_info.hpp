// The PVH start-of-day structure, xen/include/public/arch-x86/hvm/start_info.h,
// passed in %ebx to a PVH entry point. Its canonical definition is the
// byte-offset table in that header; every field below is pinned to it.
// Addresses are guest physical; 0 means "not present".
#pragma once

#include <sluice/types.hpp>

namespace sluice::xen {

// "xEn3" with the 0x80 bit of the 'E' set.
inline constexpr uint32_t XEN_HVM_START_MAGIC_VALUE = 0x336ec578;

// Memory map entry types: the ACPI Address Range Types.
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_RAM = 1;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_RESERVED = 2;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_ACPI = 3;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_NVS = 4;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_DISABLED = 6;
inline constexpr uint32_t XEN_HVM_MEMMAP_TYPE_PMEM = 7;

struct hvm_start_info {
    uint32_t magic;           // XEN_HVM_START_MAGIC_VALUE
    uint32_t version;         // 0 or 1; newer versions are backwards-compatible
    uint32_t flags;           // SIF_*
    uint32_t nr_modules;
    uint64_t modlist_paddr;   // array of hvm_modlist_entry
    uint64_t cmdline_paddr;   // NUL-terminated ASCII
    uint64_t rsdp_paddr;      // ACPI RSDP
    // Version 1 and newer only.
    uint64_t memmap_paddr;    // array of hvm_memmap_table_entry
    uint32_t memmap_entries;  // 0: no memory map
    uint32_t reserved;        // must be zero
};
static_assert(sizeof(hvm_start_info) == 56);
static_assert(__builtin_offsetof(hvm_start_info, magic) == 0);
static_assert(__builtin_offsetof(hvm_start_info, version) == 4);
static_assert(__builtin_offsetof(hvm_start_info, flags) == 8);
static_assert(__builtin_offsetof(hvm_start_info, nr_modules) == 12);
static_assert(__builtin_offsetof(hvm_start_info, modlist_paddr) == 16);
static_assert(__builtin_offsetof(hvm_start_info, cmdline_paddr) == 24);
static_assert(__builtin_offsetof(hvm_start_info, rsdp_paddr) == 32);
static_assert(__builtin_offsetof(hvm_start_info, memmap_paddr) == 40);
static_assert(__builtin_offsetof(hvm_start_info, memmap_entries) == 48);
static_assert(__builtin_offsetof(hvm_start_info, reserved) == 52);

// Version 0 ends after rsdp_paddr.
inline constexpr uint32_t hvm_start_info_version_0_size = 40;

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;  // bytes
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
static_assert(sizeof(hvm_modlist_entry) == 32);
static_assert(__builtin_offsetof(hvm_modlist_entry, size) == 8);
static_assert(__builtin_offsetof(hvm_modlist_entry, cmdline_paddr) == 16);
static_assert(__builtin_offsetof(hvm_modlist_entry, reserved) == 24);

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;  // bytes
    uint32_t type;  // XEN_HVM_MEMMAP_TYPE_*
    uint32_t reserved;
};
static_assert(sizeof(hvm_memmap_table_entry) == 24);
static_assert(__builtin_offsetof(hvm_memmap_table_entry, size) == 8);
static_assert(__builtin_offsetof(hvm_memmap_table_entry, type) == 16);
static_assert(__builtin_offsetof(hvm_memmap_table_entry, reserved) == 20);

}  // namespace sluice::xen
