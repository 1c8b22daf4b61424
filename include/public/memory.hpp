// HYPERVISOR_memory_op, xen/include/public/memory.h:
//   long memory_op(unsigned int cmd, void *arg)
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

// A preempted memory_op continues with its restart extent in cmd[63:6], so
// only cmd[5:0] is the command. Xen defines these in its internal
// xen/include/xen/hypercall.h as MEMOP_EXTENT_SHIFT and MEMOP_CMD_MASK, but
// they are effectively ABI: a guest suspended mid-continuation depends on them.
inline constexpr uint32_t MEMOP_EXTENT_SHIFT = 6;
inline constexpr uint64_t MEMOP_CMD_MASK = (uint64_t{1} << MEMOP_EXTENT_SHIFT) - 1;
// Earlier spellings of the same two values, kept for existing callers.
inline constexpr uint32_t XENMEMOP_EXTENT_SHIFT = MEMOP_EXTENT_SHIFT;
inline constexpr uint64_t XENMEMOP_CMD_MASK = MEMOP_CMD_MASK;

inline constexpr uint32_t XENMEM_increase_reservation = 0;  // arg: xen_memory_reservation
inline constexpr uint32_t XENMEM_decrease_reservation = 1;  // arg: xen_memory_reservation
inline constexpr uint32_t XENMEM_maximum_ram_page = 2;      // arg: null
inline constexpr uint32_t XENMEM_current_reservation = 3;   // arg: domid_t
inline constexpr uint32_t XENMEM_maximum_reservation = 4;   // arg: domid_t
inline constexpr uint32_t XENMEM_machphys_mfn_list = 5;     // arg: xen_machphys_mfn_list
inline constexpr uint32_t XENMEM_populate_physmap = 6;      // arg: xen_memory_reservation
inline constexpr uint32_t XENMEM_add_to_physmap = 7;        // arg: xen_add_to_physmap
// 8 (translate_gpfn_list) was removed.
inline constexpr uint32_t XENMEM_memory_map = 9;             // arg: xen_memory_map
inline constexpr uint32_t XENMEM_machine_memory_map = 10;    // arg: xen_memory_map
inline constexpr uint32_t XENMEM_exchange = 11;              // arg: xen_memory_exchange
inline constexpr uint32_t XENMEM_machphys_mapping = 12;      // arg: xen_machphys_mapping
inline constexpr uint32_t XENMEM_set_memory_map = 13;        // arg: xen_foreign_memory_map
inline constexpr uint32_t XENMEM_maximum_gpfn = 14;          // arg: domid_t
inline constexpr uint32_t XENMEM_remove_from_physmap = 15;   // arg: xen_remove_from_physmap
inline constexpr uint32_t XENMEM_set_pod_target = 16;
inline constexpr uint32_t XENMEM_get_pod_target = 17;
inline constexpr uint32_t XENMEM_get_sharing_freed_pages = 18;
inline constexpr uint32_t XENMEM_get_sharing_shared_pages = 19;
inline constexpr uint32_t XENMEM_paging_op = 20;
inline constexpr uint32_t XENMEM_access_op = 21;
inline constexpr uint32_t XENMEM_sharing_op = 22;
inline constexpr uint32_t XENMEM_add_to_physmap_batch = 23;
inline constexpr uint32_t XENMEM_claim_pages = 24;
inline constexpr uint32_t XENMEM_machphys_compat_mfn_list = 25;
inline constexpr uint32_t XENMEM_get_vnumainfo = 26;
inline constexpr uint32_t XENMEM_reserved_device_memory_map = 27;
inline constexpr uint32_t XENMEM_acquire_resource = 28;

// xen_memory_reservation.mem_flags (interface version 0x00030209 and later).
[[nodiscard]] constexpr uint32_t XENMEMF_address_bits(uint32_t bits) { return bits; }
[[nodiscard]] constexpr uint32_t XENMEMF_get_address_bits(uint32_t flags) { return flags & 0xffu; }
[[nodiscard]] constexpr uint32_t XENMEMF_node(uint32_t node) { return (node + 1) << 8; }
[[nodiscard]] constexpr uint32_t XENMEMF_get_node(uint32_t flags) { return ((flags >> 8) - 1) & 0xffu; }
inline constexpr uint32_t XENMEMF_populate_on_demand = 1u << 16;
inline constexpr uint32_t XENMEMF_exact_node_request = 1u << 17;
inline constexpr uint32_t XENMEMF_vnode = 1u << 18;

struct xen_memory_reservation {
    // Guest handle (virtual address) of an xen_pfn_t array: the extents to
    // free, or the GPFNs to populate and, on return, the frames allocated.
    uint64_t extent_start;
    xen_ulong_t nr_extents;
    uint32_t extent_order;  // each extent is 2^extent_order pages
    uint32_t mem_flags;     // XENMEMF_*
    domid_t domid;          // DOMID_SELF unless privileged
};
static_assert(sizeof(xen_memory_reservation) == 32);
static_assert(__builtin_offsetof(xen_memory_reservation, extent_start) == 0);
static_assert(__builtin_offsetof(xen_memory_reservation, nr_extents) == 8);
static_assert(__builtin_offsetof(xen_memory_reservation, extent_order) == 16);
static_assert(__builtin_offsetof(xen_memory_reservation, mem_flags) == 20);
static_assert(__builtin_offsetof(xen_memory_reservation, domid) == 24);

struct xen_memory_exchange {
    xen_memory_reservation in;   // IN: extents to give up
    xen_memory_reservation out;  // IN/OUT: extents to receive
    xen_ulong_t nr_exchanged;    // OUT; the caller must zero it
};
static_assert(sizeof(xen_memory_exchange) == 72);
static_assert(__builtin_offsetof(xen_memory_exchange, out) == 32);
static_assert(__builtin_offsetof(xen_memory_exchange, nr_exchanged) == 64);

struct xen_machphys_mfn_list {
    uint32_t max_extents;
    uint64_t extent_start;  // guest handle (virtual address) of an xen_pfn_t array
    uint32_t nr_extents;    // OUT
};
static_assert(sizeof(xen_machphys_mfn_list) == 24);
static_assert(__builtin_offsetof(xen_machphys_mfn_list, extent_start) == 8);
static_assert(__builtin_offsetof(xen_machphys_mfn_list, nr_extents) == 16);

struct xen_machphys_mapping {
    xen_ulong_t v_start;  // virtual start of the M2P table
    xen_ulong_t v_end;
    xen_ulong_t max_mfn;  // largest MFN it can look up
};
static_assert(sizeof(xen_machphys_mapping) == 24);
static_assert(__builtin_offsetof(xen_machphys_mapping, max_mfn) == 16);

// Spaces for xen_add_to_physmap.space.
inline constexpr uint32_t XENMAPSPACE_shared_info = 0;
inline constexpr uint32_t XENMAPSPACE_grant_table = 1;
inline constexpr uint32_t XENMAPSPACE_gmfn = 2;
inline constexpr uint32_t XENMAPSPACE_gmfn_range = 3;    // add_to_physmap only
inline constexpr uint32_t XENMAPSPACE_gmfn_foreign = 4;  // add_to_physmap_batch only
inline constexpr uint32_t XENMAPSPACE_dev_mmio = 5;      // Arm only

inline constexpr uint32_t XENMAPIDX_grant_table_status = 0x80000000;

struct xen_add_to_physmap {
    domid_t domid;
    uint16_t size;   // pages, for XENMAPSPACE_gmfn_range
    uint32_t space;  // XENMAPSPACE_*
    xen_ulong_t idx;
    xen_pfn_t gpfn;  // where the page appears in domid's physical space
};
static_assert(sizeof(xen_add_to_physmap) == 24);
static_assert(__builtin_offsetof(xen_add_to_physmap, size) == 2);
static_assert(__builtin_offsetof(xen_add_to_physmap, space) == 4);
static_assert(__builtin_offsetof(xen_add_to_physmap, idx) == 8);
static_assert(__builtin_offsetof(xen_add_to_physmap, gpfn) == 16);

struct xen_remove_from_physmap {
    domid_t domid;
    xen_pfn_t gpfn;
};
static_assert(sizeof(xen_remove_from_physmap) == 16);
static_assert(__builtin_offsetof(xen_remove_from_physmap, gpfn) == 8);

struct xen_memory_map {
    // IN: entries the buffer holds; OUT: entries written.
    uint32_t nr_entries;
    // Guest handle (virtual address) of an array of e820entry.
    uint64_t buffer;
};
static_assert(sizeof(xen_memory_map) == 16);
static_assert(__builtin_offsetof(xen_memory_map, buffer) == 8);

struct xen_foreign_memory_map {
    domid_t domid;
    xen_memory_map map;
};
static_assert(sizeof(xen_foreign_memory_map) == 24);
static_assert(__builtin_offsetof(xen_foreign_memory_map, map) == 8);

// One entry of XENMEM_memory_map's buffer: the BIOS INT 15h, EAX=E820h
// address range descriptor the header refers to (ACPI 6.x, "System Address
// Map Interfaces"), 20 bytes with no padding.
struct [[gnu::packed]] e820entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;  // E820_*
};
static_assert(sizeof(e820entry) == 20);
static_assert(__builtin_offsetof(e820entry, size) == 8);
static_assert(__builtin_offsetof(e820entry, type) == 16);

// Address range types (ACPI "Address Range Types").
inline constexpr uint32_t E820_RAM = 1;
inline constexpr uint32_t E820_RESERVED = 2;
inline constexpr uint32_t E820_ACPI = 3;
inline constexpr uint32_t E820_NVS = 4;
inline constexpr uint32_t E820_UNUSABLE = 5;
inline constexpr uint32_t E820_DISABLED = 6;
inline constexpr uint32_t E820_PMEM = 7;

struct xen_pod_target {
    uint64_t target_pages;     // IN
    uint64_t tot_pages;        // OUT
    uint64_t pod_cache_pages;  // OUT
    uint64_t pod_entries;      // OUT
    domid_t domid;             // IN
};
static_assert(sizeof(xen_pod_target) == 40);
static_assert(__builtin_offsetof(xen_pod_target, domid) == 32);

}  // namespace sluice::xen
