// Intel VT-d second-level page tables (legacy-mode and scalable-mode second
// level translation), as a format for the walker in mm/paging/page_table.hpp
// (which states the format contract).
#pragma once

#include <mm/paging/paging.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {

// What an IOMMU leaf grants a device.
struct IommuAttributes {
    paging::Access access = paging::Access::none;
    friend constexpr bool operator==(const IommuAttributes&, const IommuAttributes&) = default;
};

// VT-d spec 9.8, "Second-Level Paging Entries": the SL-PML5E, SL-PML4E,
// SL-PDPE, SL-PDE and SL-PTE share this layout. Read and write permissions
// are the logical AND over every level of a walk, so non-leaf entries grant
// both and leaves say what the mapping allows. An entry with neither R nor W
// is not present.
struct SecondLevelPagingEntry {
    uint64_t value = 0;

    static constexpr uint64_t read = uint64_t{1} << 0;
    static constexpr uint64_t write = uint64_t{1} << 1;
    // Bit 2 (execute) only matters with ECAP.SLEE; bits 5:3 and 6 (memory
    // type, ignore PAT) only in scalable mode with ECAP.MTS/EMT. Never set.
    static constexpr uint64_t page_size = uint64_t{1} << 7;  // SL-PDPE and SL-PDE: maps a 1 GiB or 2 MiB page
    static constexpr uint64_t accessed = uint64_t{1} << 8;   // set by hardware (scalable mode, SLADE)
    static constexpr uint64_t dirty = uint64_t{1} << 9;      // set by hardware (scalable mode, SLADE)
    static constexpr uint64_t snoop = uint64_t{1} << 11;     // leaves: DMA snoops the processor caches
    static constexpr uint64_t address_mask = 0x000f'ffff'ffff'f000;  // bits (HAW-1):12
};
static_assert(sizeof(SecondLevelPagingEntry) == 8);

// Fields of the VT-d Capability Register (VT-d spec 11.4.2) the page tables
// and the batch depend on.
namespace vtd_capability {
[[nodiscard]] constexpr bool caching_mode(uint64_t capability) { return extract_bits(capability, 7, 7) != 0; }
// Supported Adjusted Guest Address Widths: bit 1 = 39-bit (3-level),
// bit 2 = 48-bit (4-level), bit 3 = 57-bit (5-level) tables.
[[nodiscard]] constexpr unsigned supported_adjusted_guest_address_widths(uint64_t capability) {
    return static_cast<unsigned>(extract_bits(capability, 12, 8));
}
[[nodiscard]] constexpr unsigned maximum_guest_address_width(uint64_t capability) {
    return static_cast<unsigned>(extract_bits(capability, 21, 16)) + 1;
}
// Second Level Large Page Support: bit 0 = 2 MiB, bit 1 = 1 GiB.
[[nodiscard]] constexpr unsigned second_level_large_page_support(uint64_t capability) {
    return static_cast<unsigned>(extract_bits(capability, 37, 34));
}
[[nodiscard]] constexpr bool page_selective_invalidation(uint64_t capability) {
    return extract_bits(capability, 39, 39) != 0;
}
[[nodiscard]] constexpr unsigned maximum_address_mask_value(uint64_t capability) {
    return static_cast<unsigned>(extract_bits(capability, 53, 48));
}
}  // namespace vtd_capability

class VtdSecondLevelFormat {
public:
    using Attributes = IommuAttributes;
    using Entry = SecondLevelPagingEntry;

    static constexpr uint64_t hardware_managed_bits = Entry::accessed | Entry::dirty;

    // levels: 3, 4 or 5. input_width: the domain's usable address width
    // (at most 12 + 9 * levels). output_width: the host address width (DMAR
    // HAW), at most 52.
    constexpr VtdSecondLevelFormat(unsigned levels, bool leaves_2m, bool leaves_1g, bool snoop, unsigned input_width,
                                   unsigned output_width)
        // A 1 GiB leaf is split into 2 MiB leaves when part of it changes, so
        // 1 GiB leaves are used only where 2 MiB ones are allowed too.
        : levels_(static_cast<uint8_t>(levels)), leaves_2m_(leaves_2m), leaves_1g_(leaves_1g && leaves_2m), snoop_(snoop),
          last_input_(min(paging::last_address_for_width(input_width), paging::last_address_for_levels(levels))),
          last_output_(paging::last_address_for_width(min(output_width, 52u))) {}

    // The table depth for a domain that needs `domain_address_width` bits: the
    // smallest depth CAP.SAGAW offers that covers it, or the deepest offered
    // when none does (the domain's usable width then shrinks to fit, and to
    // CAP.MGAW). Leaf sizes follow CAP.SLLPS. Error::unsupported when SAGAW
    // offers no 3-, 4- or 5-level tables.
    [[nodiscard]] static Result<VtdSecondLevelFormat> from_capability(uint64_t capability, unsigned domain_address_width,
                                                                     unsigned host_address_width, bool snoop) {
        const unsigned offered = vtd_capability::supported_adjusted_guest_address_widths(capability);
        unsigned chosen = 0;
        for (unsigned levels = 3; levels <= 5; ++levels) {
            if ((offered & (1u << (levels - 2))) == 0) continue;
            chosen = levels;
            if (page_shift + paging::bits_per_level * levels >= domain_address_width) break;
        }
        if (chosen == 0) return Error::unsupported;
        const unsigned width = min(min(domain_address_width, static_cast<unsigned>(page_shift) +
                                                                 paging::bits_per_level * chosen),
                                   vtd_capability::maximum_guest_address_width(capability));
        const unsigned large = vtd_capability::second_level_large_page_support(capability);
        return VtdSecondLevelFormat(chosen, (large & 1) != 0, (large & 2) != 0, snoop, width, host_address_width);
    }

    [[nodiscard]] constexpr unsigned levels() const { return levels_; }
    [[nodiscard]] constexpr uint64_t last_input() const { return last_input_; }
    [[nodiscard]] constexpr uint64_t last_output() const { return last_output_; }
    [[nodiscard]] constexpr bool snoop() const { return snoop_; }
    [[nodiscard]] constexpr bool leaf_allowed(unsigned level) const {
        return level == 1 || (level == 2 && leaves_2m_) || (level == 3 && leaves_1g_);
    }
    [[nodiscard]] constexpr bool valid(Attributes attributes) const {
        return attributes.access != paging::Access::none;
    }

    [[nodiscard]] constexpr bool present(uint64_t entry) const { return (entry & (Entry::read | Entry::write)) != 0; }
    [[nodiscard]] constexpr bool leaf(uint64_t entry, unsigned level) const {
        return level == 1 || (entry & Entry::page_size) != 0;
    }
    [[nodiscard]] constexpr PhysicalAddress address(uint64_t entry, unsigned) const {
        return entry & Entry::address_mask;
    }
    [[nodiscard]] constexpr Attributes attributes(uint64_t entry, unsigned) const {
        return Attributes{static_cast<paging::Access>(entry & (Entry::read | Entry::write))};
    }
    [[nodiscard]] constexpr uint64_t encode_leaf(PhysicalAddress output, Attributes attributes, unsigned level) const {
        return output | static_cast<uint64_t>(attributes.access) | (level > 1 ? Entry::page_size : 0) |
               (snoop_ ? Entry::snoop : 0);
    }
    [[nodiscard]] constexpr uint64_t encode_table(PhysicalAddress table, unsigned) const {
        return table | Entry::read | Entry::write;
    }

private:
    uint8_t levels_;
    bool leaves_2m_;
    bool leaves_1g_;
    bool snoop_;
    uint64_t last_input_;
    uint64_t last_output_;
};

static_assert(static_cast<uint64_t>(paging::Access::read) == SecondLevelPagingEntry::read &&
              static_cast<uint64_t>(paging::Access::write) == SecondLevelPagingEntry::write,
              "encode_leaf relies on Access matching the R and W bit positions");

}  // namespace sluice::passthrough
