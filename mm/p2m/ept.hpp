// Intel EPT (extended page tables) as a p2m format for the walker in
// mm/paging/page_table.hpp (which states the format contract).
#pragma once

#include <mm/p2m/p2m_type.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::p2m {

// Intel SDM Vol. 3C, "EPT Translation Mechanism", tables "Format of an EPT
// PML4 Entry" through "Format of an EPT Page-Table Entry": the entries of
// all levels share this layout. Read, write and execute are the AND over the
// walk. An entry with bits 2:0 clear is not present; write without read is
// an EPT misconfiguration.
struct EptPageTableEntry {
    uint64_t value = 0;

    static constexpr uint64_t read = uint64_t{1} << 0;
    static constexpr uint64_t write = uint64_t{1} << 1;
    static constexpr uint64_t execute = uint64_t{1} << 2;  // supervisor-mode execute
    static constexpr unsigned memory_type_shift = 3;       // bits 5:3, leaves only
    static constexpr uint64_t memory_type_mask = uint64_t{7} << memory_type_shift;
    static constexpr uint64_t ignore_pat = uint64_t{1} << 6;  // leaves only
    static constexpr uint64_t page_size = uint64_t{1} << 7;   // PDPTE/PDE: maps 1 GiB/2 MiB
    static constexpr uint64_t accessed = uint64_t{1} << 8;    // set by the processor when EPTP enables A/D
    static constexpr uint64_t dirty = uint64_t{1} << 9;
    static constexpr uint64_t address_mask = 0x000f'ffff'ffff'f000;  // bits (MAXPHYADDR-1):12

    // Memory types (Intel SDM Vol. 3A, "Memory Types"): 0 UC, 6 WB.
    static constexpr uint64_t uncacheable = 0;
    static constexpr uint64_t write_back = 6;
};
static_assert(sizeof(EptPageTableEntry) == 8);

class EptFormat {
public:
    using Attributes = P2mAttributes;
    using Entry = EptPageTableEntry;

    static constexpr uint64_t hardware_managed_bits = Entry::accessed | Entry::dirty;

    // levels: 4 (or 5 with 5-level EPT). The leaf sizes come from
    // IA32_VMX_EPT_VPID_CAP bits 16 (2 MiB) and 17 (1 GiB).
    // output_width: MAXPHYADDR.
    constexpr EptFormat(unsigned levels, bool leaves_2m, bool leaves_1g, unsigned output_width)
        // A 1 GiB leaf is split into 2 MiB leaves when part of it changes, so
        // 1 GiB leaves are used only where 2 MiB ones are allowed too.
        : levels_(static_cast<uint8_t>(levels)), leaves_2m_(leaves_2m), leaves_1g_(leaves_1g && leaves_2m),
          last_output_(paging::last_address_for_width(min(output_width, 52u))) {}

    [[nodiscard]] constexpr unsigned levels() const { return levels_; }
    [[nodiscard]] constexpr uint64_t last_input() const { return paging::last_address_for_levels(levels_); }
    [[nodiscard]] constexpr uint64_t last_output() const { return last_output_; }
    [[nodiscard]] constexpr bool leaf_allowed(unsigned level) const {
        return level == 1 || (level == 2 && leaves_2m_) || (level == 3 && leaves_1g_);
    }
    // Write-only would be a misconfiguration; "no access" is not a mapping.
    [[nodiscard]] constexpr bool valid(Attributes attributes) const {
        return paging::allows_read(attributes.access) &&
               (attributes.type == P2mType::ram || attributes.type == P2mType::mmio_direct);
    }

    [[nodiscard]] constexpr bool present(uint64_t entry) const {
        return (entry & (Entry::read | Entry::write | Entry::execute)) != 0;
    }
    [[nodiscard]] constexpr bool leaf(uint64_t entry, unsigned level) const {
        return level == 1 || (entry & Entry::page_size) != 0;
    }
    [[nodiscard]] constexpr PhysicalAddress address(uint64_t entry, unsigned) const {
        return entry & Entry::address_mask;
    }
    [[nodiscard]] constexpr Attributes attributes(uint64_t entry, unsigned) const {
        return Attributes{static_cast<paging::Access>(entry & (Entry::read | Entry::write)),
                          static_cast<P2mType>((entry & p2m_type_mask) >> p2m_type_shift)};
    }
    // RAM is write-back and executable; direct MMIO is uncached whatever the
    // guest's PAT says (ignore PAT) and not executable.
    [[nodiscard]] constexpr uint64_t encode_leaf(PhysicalAddress output, Attributes attributes, unsigned level) const {
        const bool ram = attributes.type == P2mType::ram;
        return output | static_cast<uint64_t>(attributes.access) | (ram ? Entry::execute : 0) |
               ((ram ? Entry::write_back : Entry::uncacheable) << Entry::memory_type_shift) |
               (ram ? 0 : Entry::ignore_pat) | (level > 1 ? Entry::page_size : 0) |
               (static_cast<uint64_t>(attributes.type) << p2m_type_shift);
    }
    [[nodiscard]] constexpr uint64_t encode_table(PhysicalAddress table, unsigned) const {
        return table | Entry::read | Entry::write | Entry::execute;
    }

private:
    uint8_t levels_;
    bool leaves_2m_;
    bool leaves_1g_;
    uint64_t last_output_;
};

static_assert(static_cast<uint64_t>(paging::Access::read) == EptPageTableEntry::read &&
              static_cast<uint64_t>(paging::Access::write) == EptPageTableEntry::write,
              "encode_leaf relies on Access matching the R and W bit positions");

}  // namespace sluice::p2m
