// The part of the hypervisor's address space that PV guests' page tables
// carry too (docs/pv.md, "Address space").
//
// The hypervisor runs on its own page tables (the identity direct map in the
// lower half). A 64-bit PV guest owns the lower half and the upper half except
// L4 slots 256-271 (Xen public ABI, arch-x86/xen-x86_64.h: HYPERVISOR_VIRT_START
// to HYPERVISOR_VIRT_END). Whatever the processor reaches by linear address
// while it enters the hypervisor from ring 3 (IDT, GDT, TSS, entry stubs,
// entry stacks) therefore lives in one such slot, the *entry alias*: the
// hypervisor image mapped a second time at alias_base + physical address,
// supervisor-only. Its L3 table is linked from the hypervisor's L4 and from
// every guest L4 in the same slot, so those addresses mean the same under
// both CR3 values. The entry stubs switch CR3 to the hypervisor's tables
// before any C++ runs, and switch back to the guest's just before IRETQ.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/types.hpp>

namespace sluice::x86 {

// L4 slot 261, inside the hypervisor's reserved range 256-271.
inline constexpr unsigned alias_slot = 261;
inline constexpr uint64_t alias_base = 0xffff800000000000 + uint64_t{alias_slot - 256} * (uint64_t{1} << 39);
static_assert(alias_base == 0xffff828000000000);

// How much of physical memory the alias can cover: the image must end below
// (the link script asserts it). Only the image's own pages are present.
inline constexpr uint64_t alias_physical_limit = 8 * MiB;

// The GDT area: 16 pages (the largest GDT, 8192 descriptors). Pages 0-13
// show the guest's own GDT frames (set_gdt), read-only; pages 14 and 15 hold
// the hypervisor's descriptors, from selector 0xe000 up (Xen public ABI,
// arch-x86/xen.h: FIRST_RESERVED_GDT_PAGE 14).
inline constexpr uint64_t gdt_area = alias_base + GiB;
inline constexpr unsigned gdt_area_pages = 16;
inline constexpr unsigned first_reserved_gdt_page = 14;
inline constexpr unsigned guest_gdt_frame_limit = first_reserved_gdt_page;

// The hypervisor's selectors (Xen's values: guests are built against them).
inline constexpr uint16_t hypervisor_code_selector = 0xe008;  // 64-bit code, DPL 0
inline constexpr uint16_t hypervisor_data_selector = 0xe010;  // data, DPL 0
inline constexpr uint16_t guest_code32_selector = 0xe023;     // FLAT_RING3_CS32
inline constexpr uint16_t guest_data_selector = 0xe02b;       // FLAT_RING3_DS32 = SS32 = SS64
inline constexpr uint16_t guest_code64_selector = 0xe033;     // FLAT_RING3_CS64
inline constexpr uint16_t hypervisor_task_selector = 0xe040;
inline constexpr uint16_t hypervisor_ldt_selector = 0xe050;

// The LDT area (MMUEXT_SET_LDT): up to 16 pages (8192 descriptors) of the
// guest's frames, right after the GDT area; the LDT descriptor in the
// hypervisor's GDT page points here.
inline constexpr uint64_t ldt_area = gdt_area + gdt_area_pages * page_size;
inline constexpr unsigned ldt_area_pages = 16;

// Shows machine frame `frame` as page `index` (< 16) of the LDT area, or the
// zero page when frame is 0.
void map_guest_ldt_frame(unsigned index, uint64_t frame);

// The address under which `pointer` (inside the image) is reachable in the
// alias.
[[nodiscard]] inline uint64_t alias_address(const void* pointer) {
    return alias_base + reinterpret_cast<uint64_t>(pointer);
}

// Builds the alias in the hypervisor's L4 (entry.S's boot tables). Static
// tables, no allocation: called first thing, before the descriptor tables
// move into the alias.
void build_entry_alias();

// CR3 of the hypervisor's own tables.
[[nodiscard]] uint64_t hypervisor_cr3();

// The 16 L4 entries a guest's L4 gets in slots 256-271 (zero where the
// hypervisor has nothing for guests). Slot 261 is the alias; slot 256 the
// read-only machine-to-physical table once set_machine_to_physical_slot()
// gave it.
void hypervisor_slot_entries(uint64_t (&entries)[16]);
void set_machine_to_physical_slot(uint64_t l4_entry);

// Shows machine frame `frame` read-only as page `index` (< 14) of the GDT
// area, or the zero page when frame is 0. The caller reloads the GDT (or
// flushes) afterwards.
void map_guest_gdt_frame(unsigned index, uint64_t frame);

// The hypervisor's two GDT pages (selectors 0xe000-0xffff), writable.
[[nodiscard]] uint64_t* hypervisor_gdt_pages();

}  // namespace sluice::x86
