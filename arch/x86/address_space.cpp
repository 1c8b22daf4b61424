#include "arch/x86/address_space.hpp"

#include "arch/x86/cpu.hpp"

#include <sluice/utility.hpp>

extern "C" uint64_t sluice_boot_pml4[512];
extern "C" const uint8_t sluice_image_start[];
extern "C" const uint8_t sluice_image_end[];

namespace sluice::x86 {
namespace {

// Paging-structure entry bits (Intel SDM Vol. 3A, "4-Level Paging and
// 5-Level Paging", "Format of a PML4 Entry" and the tables after it). No U/S
// bit anywhere: the alias is supervisor-only, so ring 3 (a PV guest's kernel
// included) can never read or write it.
constexpr uint64_t entry_present = uint64_t{1} << 0;
constexpr uint64_t entry_writable = uint64_t{1} << 1;

constexpr unsigned entries_per_table = 512;
constexpr unsigned alias_page_tables = alias_physical_limit / (2 * MiB);

alignas(page_size) uint64_t alias_l3[entries_per_table];
alignas(page_size) uint64_t alias_image_l2[entries_per_table];
alignas(page_size) uint64_t alias_image_l1[alias_page_tables][entries_per_table];
alignas(page_size) uint64_t gdt_area_l2[entries_per_table];
alignas(page_size) uint64_t gdt_area_l1[entries_per_table];
// Pages 14 and 15 of the GDT area.
alignas(page_size) uint64_t hypervisor_gdt[2][entries_per_table];
// What GDT pages 0-13 show while the guest has no frame there: null
// descriptors, so any selector into them faults.
alignas(page_size) const uint64_t zero_page[entries_per_table] = {};

uint64_t machine_to_physical_entry = 0;

uint64_t physical(const void* pointer) { return reinterpret_cast<uint64_t>(pointer); }

}  // namespace

void build_entry_alias() {
    const uint64_t first = align_down(physical(sluice_image_start), page_size);
    const uint64_t end = align_up(physical(sluice_image_end), page_size);
    for (unsigned table = 0; table < alias_page_tables; ++table) {
        for (unsigned index = 0; index < entries_per_table; ++index) {
            const uint64_t address = (uint64_t{table} * entries_per_table + index) * page_size;
            alias_image_l1[table][index] =
                address >= first && address < end ? address | entry_present | entry_writable : 0;
        }
        alias_image_l2[table] = physical(alias_image_l1[table]) | entry_present | entry_writable;
    }
    alias_l3[0] = physical(alias_image_l2) | entry_present | entry_writable;

    for (unsigned page = 0; page < ldt_area_pages; ++page)
        gdt_area_l1[gdt_area_pages + page] = physical(zero_page) | entry_present;
    for (unsigned page = 0; page < gdt_area_pages; ++page)
        gdt_area_l1[page] = page < first_reserved_gdt_page
                                ? physical(zero_page) | entry_present
                                : physical(hypervisor_gdt[page - first_reserved_gdt_page]) | entry_present |
                                      entry_writable;
    gdt_area_l2[0] = physical(gdt_area_l1) | entry_present | entry_writable;
    alias_l3[(gdt_area - alias_base) >> 30] = physical(gdt_area_l2) | entry_present | entry_writable;

    sluice_boot_pml4[alias_slot] = physical(alias_l3) | entry_present | entry_writable;
    flush_tlb();
}

uint64_t hypervisor_cr3() { return physical(sluice_boot_pml4); }

void hypervisor_slot_entries(uint64_t (&entries)[16]) {
    for (uint64_t& entry : entries) entry = 0;
    entries[0] = machine_to_physical_entry;
    entries[alias_slot - 256] = sluice_boot_pml4[alias_slot];
}

void set_machine_to_physical_slot(uint64_t l4_entry) { machine_to_physical_entry = l4_entry; }

void map_guest_gdt_frame(unsigned index, uint64_t frame) {
    if (index >= guest_gdt_frame_limit) return;
    // Writable for the processor only (supervisor): loading a segment sets
    // the descriptor's accessed bit (Intel SDM Vol. 3A, "Segment
    // Descriptors"), a write CR0.WP would refuse on a read-only page. The
    // guest's own mappings of the frame stay read-only.
    gdt_area_l1[index] = frame == 0 ? physical(zero_page) | entry_present
                                    : (frame << 12) | entry_present | entry_writable;
    invalidate_page(gdt_area + uint64_t{index} * page_size);
}

void map_guest_ldt_frame(unsigned index, uint64_t frame) {
    if (index >= ldt_area_pages) return;
    // Writable for the processor only, as for the GDT frames: loading a
    // segment sets the descriptor's accessed bit.
    gdt_area_l1[gdt_area_pages + index] = frame == 0 ? physical(zero_page) | entry_present
                                                     : (frame << 12) | entry_present | entry_writable;
    invalidate_page(ldt_area + uint64_t{index} * page_size);
}

uint64_t* hypervisor_gdt_pages() { return &hypervisor_gdt[0][0]; }

}  // namespace sluice::x86
