// The hypervisor's own address space: an identity ("direct") map of physical
// memory, virtual address = physical address.
//
// entry.S maps the first 4 GiB with 2 MiB pages; extend_direct_map() adds
// every RAM region above that (2 MiB pages, tables from the page allocator)
// and makes the 2 MiB pages below 4 GiB that hold no memory at all uncached,
// since only device registers live there.
#pragma once

#include "mm/page_allocator.hpp"

#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>

namespace sluice::x86 {

// The end of what entry.S maps.
inline constexpr PhysicalAddress boot_direct_map_limit = 4 * GiB;

// PhysicalMemory over the direct map. read64/write64 are single 64-bit
// accesses; read_bytes/write_bytes check that every byte is mapped.
class DirectMap final : public PhysicalMemory {
public:
    [[nodiscard]] uint64_t read64(PhysicalAddress address) const override;
    void write64(PhysicalAddress address, uint64_t value) override;
    void zero_page(PhysicalAddress page) override;
    [[nodiscard]] Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override;
    [[nodiscard]] Status write_bytes(PhysicalAddress address, const void* source, size_t length) override;

    // True when every byte of [address, address + length) is mapped.
    [[nodiscard]] bool is_mapped(PhysicalAddress address, uint64_t length) const;
};

// The one instance.
DirectMap& direct_map();

// Unmaps the guard page below the boot stack (splitting the 2 MiB page that
// holds it into 4 KiB pages), so a stack overflow faults instead of silently
// overwriting what lies below. Call first thing in C++.
void protect_boot_stack();
// True when address lies in that guard page.
[[nodiscard]] bool is_boot_stack_guard(uint64_t address);

// Where the hypervisor sees a physical address (identity map).
inline void* physical_to_virtual(PhysicalAddress address) { return reinterpret_cast<void*>(address); }
inline PhysicalAddress virtual_to_physical(const void* pointer) { return reinterpret_cast<PhysicalAddress>(pointer); }

struct DirectMapStatistics {
    uint64_t large_pages_added = 0;     // 2 MiB pages mapped above 4 GiB
    uint64_t table_pages_allocated = 0;
    uint64_t uncached_large_pages = 0;  // 2 MiB pages below 4 GiB holding no memory
};

// Maps every RAM, ACPI and persistent-memory region of map above 4 GiB and
// marks memory-free 2 MiB pages below 4 GiB uncached. Table pages come from
// allocator, below 4 GiB so they are reachable while being filled.
[[nodiscard]] Result<DirectMapStatistics> extend_direct_map(const MemoryMap& map, PhysicalPageAllocator& allocator);

}  // namespace sluice::x86
