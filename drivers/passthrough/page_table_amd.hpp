// AMD-Vi v1 (host) I/O page tables, as a format for the walker in
// mm/paging/page_table.hpp (which states the format contract).
#pragma once

#include <drivers/passthrough/page_table_vtd.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {

// AMD IOMMU spec 2.2.3, "I/O Page Tables for Host Translations": the Page
// Directory Entry (PDE) points to the table at its Next Level. IR and IW
// are checked at every level (the effective permission is their AND over
// the walk), so a PDE grants both and the leaf decides.
struct AmdPageDirectoryEntry {
    uint64_t value = 0;

    static constexpr uint64_t present = uint64_t{1} << 0;   // PR
    static constexpr unsigned next_level_shift = 9;          // Next Level, bits 11:9: 1-6
    static constexpr uint64_t next_level_mask = uint64_t{7} << next_level_shift;
    static constexpr uint64_t address_mask = 0x000f'ffff'ffff'f000;  // bits 51:12
    static constexpr uint64_t read = uint64_t{1} << 61;     // IR
    static constexpr uint64_t write = uint64_t{1} << 62;    // IW
};
static_assert(sizeof(AmdPageDirectoryEntry) == 8);

// AMD IOMMU spec 2.2.3: the Page Table Entry (PTE). Next Level 0 makes an
// entry a PTE at any level: at level 1 it maps 4 KiB, at level 2 2 MiB, at
// level 3 1 GiB. (Next Level 7 would encode other power-of-two sizes in the
// address; not used.)
struct AmdPageTableEntry {
    uint64_t value = 0;

    static constexpr uint64_t present = uint64_t{1} << 0;   // PR
    static constexpr uint64_t accessed = uint64_t{1} << 5;  // set by hardware when enabled (HAD)
    static constexpr uint64_t dirty = uint64_t{1} << 6;     // set by hardware when enabled (HAD)
    static constexpr uint64_t next_level_mask = uint64_t{7} << 9;  // 0 for a PTE
    static constexpr uint64_t address_mask = 0x000f'ffff'ffff'f000;
    static constexpr uint64_t force_coherent = uint64_t{1} << 60;  // FC; not used
    static constexpr uint64_t read = uint64_t{1} << 61;     // IR
    static constexpr uint64_t write = uint64_t{1} << 62;    // IW
};
static_assert(sizeof(AmdPageTableEntry) == 8);

class AmdV1Format {
public:
    using Attributes = IommuAttributes;

    static constexpr uint64_t hardware_managed_bits = AmdPageTableEntry::accessed | AmdPageTableEntry::dirty;

    // levels: 1 to 6 (the device table entry's Mode). largest_leaf_level: 1,
    // 2 (2 MiB) or 3 (1 GiB). input_width: the domain's usable width.
    constexpr AmdV1Format(unsigned levels, unsigned largest_leaf_level, unsigned input_width)
        : levels_(static_cast<uint8_t>(levels)), largest_leaf_level_(static_cast<uint8_t>(largest_leaf_level)),
          last_input_(min(paging::last_address_for_width(input_width), paging::last_address_for_levels(levels))) {}

    // The fewest levels that cover `domain_address_width` bits, at most
    // `max_levels` (from EFR.HATS: 4, 5 or 6); the usable width shrinks when
    // even max_levels does not cover it. Error::invalid_argument for
    // max_levels outside 1-6.
    [[nodiscard]] static Result<AmdV1Format> for_address_width(unsigned domain_address_width, unsigned max_levels) {
        if (max_levels < 1 || max_levels > paging::max_levels) return Error::invalid_argument;
        unsigned levels = 1;
        while (levels < max_levels && page_shift + paging::bits_per_level * levels < domain_address_width) ++levels;
        return AmdV1Format(levels, 3, domain_address_width);
    }

    [[nodiscard]] constexpr unsigned levels() const { return levels_; }
    [[nodiscard]] constexpr uint64_t last_input() const { return last_input_; }
    [[nodiscard]] constexpr uint64_t last_output() const { return paging::last_address_for_width(52); }
    [[nodiscard]] constexpr bool leaf_allowed(unsigned level) const { return level <= largest_leaf_level_; }
    [[nodiscard]] constexpr bool valid(Attributes attributes) const {
        return attributes.access != paging::Access::none;
    }

    [[nodiscard]] constexpr bool present(uint64_t entry) const { return (entry & AmdPageTableEntry::present) != 0; }
    [[nodiscard]] constexpr bool leaf(uint64_t entry, unsigned) const {
        return (entry & AmdPageTableEntry::next_level_mask) == 0;
    }
    [[nodiscard]] constexpr PhysicalAddress address(uint64_t entry, unsigned) const {
        return entry & AmdPageTableEntry::address_mask;
    }
    [[nodiscard]] constexpr Attributes attributes(uint64_t entry, unsigned) const {
        const bool read = (entry & AmdPageTableEntry::read) != 0;
        const bool write = (entry & AmdPageTableEntry::write) != 0;
        return Attributes{static_cast<paging::Access>((read ? 1 : 0) | (write ? 2 : 0))};
    }
    [[nodiscard]] constexpr uint64_t encode_leaf(PhysicalAddress output, Attributes attributes, unsigned) const {
        return output | AmdPageTableEntry::present |
               (paging::allows_read(attributes.access) ? AmdPageTableEntry::read : 0) |
               (paging::allows_write(attributes.access) ? AmdPageTableEntry::write : 0);
    }
    // The PDE at `level` points to a table at level - 1.
    [[nodiscard]] constexpr uint64_t encode_table(PhysicalAddress table, unsigned level) const {
        return table | AmdPageDirectoryEntry::present |
               (uint64_t{level - 1} << AmdPageDirectoryEntry::next_level_shift) | AmdPageDirectoryEntry::read |
               AmdPageDirectoryEntry::write;
    }

private:
    uint8_t levels_;
    uint8_t largest_leaf_level_;
    uint64_t last_input_;
};

}  // namespace sluice::passthrough
