#include "arch/x86/paging.hpp"

#include "arch/x86/cpu.hpp"

#include <sluice/utility.hpp>

extern "C" uint8_t sluice_boot_stack_guard[];
extern "C" void* memcpy(void* destination, const void* source, size_t length);
extern "C" void* memset(void* destination, int value, size_t length);

namespace sluice::x86 {
namespace {

// Paging-structure entry bits (Intel SDM Vol. 3A, "4-Level Paging and
// 5-Level Paging", tables "Format of a PML4 Entry" through "Format of a
// Page-Directory Entry that Maps a 2-MByte Page").
constexpr uint64_t entry_present = uint64_t{1} << 0;
constexpr uint64_t entry_writable = uint64_t{1} << 1;
constexpr uint64_t entry_write_through = uint64_t{1} << 3;
constexpr uint64_t entry_cache_disable = uint64_t{1} << 4;
constexpr uint64_t entry_large_page = uint64_t{1} << 7;
constexpr uint64_t entry_address_mask = 0x000ffffffffff000;
constexpr uint64_t large_page_address_mask = 0x000fffffffe00000;

constexpr uint64_t large_page_size = 2 * MiB;
constexpr uint64_t entries_per_table = 512;
constexpr uint64_t address_space_limit = uint64_t{1} << 47;  // the lower canonical half

DirectMap the_direct_map;

// The 4 KiB page table that replaces the 2 MiB page holding the stack guard.
alignas(4096) uint64_t boot_stack_page_table[512];

uint64_t* table_at(uint64_t entry) { return reinterpret_cast<uint64_t*>(entry & entry_address_mask); }

unsigned table_index(PhysicalAddress address, unsigned level) {
    // level 4 = PML4, 3 = PDPT, 2 = page directory, 1 = page table
    return static_cast<unsigned>((address >> (12 + 9 * (level - 1))) & (entries_per_table - 1));
}

// The page-directory entry mapping address, or nullptr when an upper level
// is missing. Only 2 MiB leaves exist in the direct map.
uint64_t* page_directory_entry(PhysicalAddress address) {
    if (address >= address_space_limit) return nullptr;
    uint64_t* pml4 = table_at(read_cr3());
    const uint64_t pml4_entry = pml4[table_index(address, 4)];
    if (!(pml4_entry & entry_present)) return nullptr;
    const uint64_t pdpt_entry = table_at(pml4_entry)[table_index(address, 3)];
    if (!(pdpt_entry & entry_present) || (pdpt_entry & entry_large_page)) return nullptr;
    return &table_at(pdpt_entry)[table_index(address, 2)];
}

// Returns the next-level table below *entry, creating a zeroed one if absent.
Result<uint64_t*> next_table(uint64_t* entry, PhysicalPageAllocator& allocator, DirectMapStatistics& statistics) {
    if (*entry & entry_present) return table_at(*entry);
    // Below 4 GiB: the new table must be writable through the boot map.
    const PhysicalAddress page = SLUICE_TRY(allocator.allocate_contiguous(1, page_size, boot_direct_map_limit));
    memset(physical_to_virtual(page), 0, page_size);
    ++statistics.table_pages_allocated;
    *entry = page | entry_present | entry_writable;
    return table_at(*entry);
}

Status map_large_page(PhysicalAddress address, PhysicalPageAllocator& allocator, DirectMapStatistics& statistics) {
    uint64_t* pml4 = table_at(read_cr3());
    uint64_t* pdpt = SLUICE_TRY(next_table(&pml4[table_index(address, 4)], allocator, statistics));
    uint64_t* page_directory = SLUICE_TRY(next_table(&pdpt[table_index(address, 3)], allocator, statistics));
    uint64_t& entry = page_directory[table_index(address, 2)];
    if (entry & entry_present) return success();
    entry = (address & large_page_address_mask) | entry_present | entry_writable | entry_large_page;
    ++statistics.large_pages_added;
    return success();
}

bool holds_memory(MemoryType type) {
    return type == MemoryType::ram || type == MemoryType::acpi_reclaimable || type == MemoryType::acpi_nvs ||
           type == MemoryType::persistent;
}

}  // namespace

DirectMap& direct_map() { return the_direct_map; }

void protect_boot_stack() {
    const PhysicalAddress guard = virtual_to_physical(sluice_boot_stack_guard);
    uint64_t* entry = page_directory_entry(guard);
    if (entry == nullptr || !(*entry & entry_large_page)) return;
    // Same addresses and caching, 4 KiB at a time (Intel SDM Vol. 3A, table
    // "Format of a Page-Table Entry that Maps a 4-KByte Page").
    const PhysicalAddress large_page = *entry & large_page_address_mask;
    const uint64_t flags = *entry & (entry_writable | entry_write_through | entry_cache_disable);
    for (uint64_t index = 0; index < entries_per_table; ++index)
        boot_stack_page_table[index] = (large_page + index * page_size) | flags | entry_present;
    boot_stack_page_table[(guard - large_page) / page_size] = 0;
    *entry = virtual_to_physical(boot_stack_page_table) | entry_present | entry_writable;
    flush_tlb();
}

bool is_boot_stack_guard(uint64_t address) {
    const uint64_t guard = virtual_to_physical(sluice_boot_stack_guard);
    return address >= guard && address - guard < page_size;
}

uint64_t DirectMap::read64(PhysicalAddress address) const {
    return *reinterpret_cast<const volatile uint64_t*>(physical_to_virtual(address));
}

void DirectMap::write64(PhysicalAddress address, uint64_t value) {
    *reinterpret_cast<volatile uint64_t*>(physical_to_virtual(address)) = value;
}

void DirectMap::zero_page(PhysicalAddress page) { memset(physical_to_virtual(page), 0, page_size); }

Status DirectMap::read_bytes(PhysicalAddress address, void* destination, size_t length) const {
    if (!is_mapped(address, length)) return Error::out_of_range;
    memcpy(destination, physical_to_virtual(address), length);
    return success();
}

Status DirectMap::write_bytes(PhysicalAddress address, const void* source, size_t length) {
    if (!is_mapped(address, length)) return Error::out_of_range;
    memcpy(physical_to_virtual(address), source, length);
    return success();
}

bool DirectMap::is_mapped(PhysicalAddress address, uint64_t length) const {
    if (length == 0) return true;
    if (address + length - 1 < address) return false;
    const PhysicalAddress last = address + length - 1;
    PhysicalAddress cursor = address;
    for (;;) {
        const uint64_t* entry = page_directory_entry(cursor);
        if (entry == nullptr || !(*entry & entry_present)) return false;
        PhysicalAddress next;
        if (*entry & entry_large_page) {
            next = align_down(cursor, large_page_size) + large_page_size;
        } else {
            // Split by protect_boot_stack(): look at the 4 KiB entry.
            if (!(table_at(*entry)[table_index(cursor, 1)] & entry_present)) return false;
            next = align_down(cursor, page_size) + page_size;
        }
        if (next == 0 || next > last) return true;
        cursor = next;
    }
}

Result<DirectMapStatistics> extend_direct_map(const MemoryMap& map, PhysicalPageAllocator& allocator) {
    DirectMapStatistics statistics;
    // Whole 2 MiB pages, rounded outwards: a partial page's remainder is at
    // worst a hole mapped write-back, which the firmware's MTRRs make
    // uncached on real machines anyway.
    for (const MemoryRegion& region : map.regions()) {
        if (!holds_memory(region.type) || region.end() <= boot_direct_map_limit) continue;
        const PhysicalAddress start = max(align_down(region.base, large_page_size), boot_direct_map_limit);
        const PhysicalAddress end = min(align_up(region.end(), large_page_size), address_space_limit);
        for (PhysicalAddress page = start; page < end; page += large_page_size)
            SLUICE_TRY(map_large_page(page, allocator, statistics));
    }

    // Below 4 GiB, a 2 MiB page with no byte of memory in it holds only
    // device registers (or nothing): map it uncached (PCD and PWT select
    // UC with the power-on PAT) so register accesses are never cached or
    // combined, whatever the MTRRs say.
    for (PhysicalAddress page = 0; page < boot_direct_map_limit; page += large_page_size) {
        bool memory = false;
        for (const MemoryRegion& region : map.regions()) {
            if (holds_memory(region.type) && region.base < page + large_page_size && region.end() > page) {
                memory = true;
                break;
            }
        }
        if (memory) continue;
        uint64_t* entry = page_directory_entry(page);
        if (entry == nullptr) continue;
        *entry |= entry_cache_disable | entry_write_through;
        ++statistics.uncached_large_pages;
    }
    flush_tlb();
    return statistics;
}

}  // namespace sluice::x86
