// AMD nested page tables (NPT) as a p2m format for the walker in
// mm/paging/page_table.hpp (which states the format contract).
#pragma once

#include <mm/p2m/p2m_type.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::p2m {

// AMD APM Vol. 2, 5.3.3 and 5.4.1 ("Field Definitions"): the long-mode
// PML4E, PDPE, PDE and PTE, used for nested translation (15.25.5). Nested
// walks are user-mode accesses, so every level grants U/S; read is implied by
// P and write needs R/W at every level.
struct NptPageTableEntry {
    uint64_t value = 0;

    static constexpr uint64_t present = uint64_t{1} << 0;
    static constexpr uint64_t writable = uint64_t{1} << 1;       // R/W
    static constexpr uint64_t user = uint64_t{1} << 2;           // U/S
    static constexpr uint64_t write_through = uint64_t{1} << 3;  // PWT
    static constexpr uint64_t cache_disable = uint64_t{1} << 4;  // PCD
    static constexpr uint64_t accessed = uint64_t{1} << 5;       // set by the processor
    static constexpr uint64_t dirty = uint64_t{1} << 6;          // set by the processor
    static constexpr uint64_t page_size = uint64_t{1} << 7;      // PDPE/PDE: maps 1 GiB/2 MiB
    static constexpr uint64_t address_mask = 0x000f'ffff'ffff'f000;  // bits 51:12
    // In a 2 MiB or 1 GiB leaf bit 12 is PAT and the address starts at bit 21
    // or 30; the walker only writes aligned addresses there.
};
static_assert(sizeof(NptPageTableEntry) == 8);

class NptFormat {
public:
    using Attributes = P2mAttributes;
    using Entry = NptPageTableEntry;

    static constexpr uint64_t hardware_managed_bits = Entry::accessed | Entry::dirty;

    // Four levels (long mode). 1 GiB leaves need CPUID Fn8000_0001 EDX
    // Page1GB. output_width: the physical address width.
    constexpr NptFormat(bool leaves_1g, unsigned output_width)
        : leaves_1g_(leaves_1g), last_output_(paging::last_address_for_width(min(output_width, 52u))) {}

    [[nodiscard]] constexpr unsigned levels() const { return 4; }
    [[nodiscard]] constexpr uint64_t last_input() const { return paging::last_address_for_levels(4); }
    [[nodiscard]] constexpr uint64_t last_output() const { return last_output_; }
    [[nodiscard]] constexpr bool leaf_allowed(unsigned level) const {
        return level <= 2 || (level == 3 && leaves_1g_);
    }
    // Present means readable: read-only and read-write are expressible.
    [[nodiscard]] constexpr bool valid(Attributes attributes) const {
        return paging::allows_read(attributes.access) &&
               (attributes.type == P2mType::ram || attributes.type == P2mType::mmio_direct);
    }

    [[nodiscard]] constexpr bool present(uint64_t entry) const { return (entry & Entry::present) != 0; }
    [[nodiscard]] constexpr bool leaf(uint64_t entry, unsigned level) const {
        return level == 1 || (entry & Entry::page_size) != 0;
    }
    [[nodiscard]] constexpr PhysicalAddress address(uint64_t entry, unsigned level) const {
        // Bit 12 is PAT in a large leaf, not address.
        return entry & Entry::address_mask & (level > 1 && leaf(entry, level) ? ~uint64_t{0x1000} : ~uint64_t{0});
    }
    [[nodiscard]] constexpr Attributes attributes(uint64_t entry, unsigned) const {
        return Attributes{(entry & Entry::writable) != 0 ? paging::Access::read_write : paging::Access::read,
                          static_cast<P2mType>((entry & p2m_type_mask) >> p2m_type_shift)};
    }
    // Direct MMIO is uncached (PCD and PWT select PAT entry 3, UC, with the
    // power-on PAT); RAM is write-back.
    [[nodiscard]] constexpr uint64_t encode_leaf(PhysicalAddress output, Attributes attributes, unsigned level) const {
        return output | Entry::present | Entry::user |
               (paging::allows_write(attributes.access) ? Entry::writable : 0) |
               (attributes.type == P2mType::mmio_direct ? Entry::cache_disable | Entry::write_through : 0) |
               (level > 1 ? Entry::page_size : 0) | (static_cast<uint64_t>(attributes.type) << p2m_type_shift);
    }
    [[nodiscard]] constexpr uint64_t encode_table(PhysicalAddress table, unsigned) const {
        return table | Entry::present | Entry::writable | Entry::user;
    }

private:
    bool leaves_1g_;
    uint64_t last_output_;
};

}  // namespace sluice::p2m
