// Root and context entries of legacy-mode translation (RTADDR_REG.TTM = 00b),
// VT-d spec 9.1 and 9.3. Both are 128 bits; hardware reads them atomically
// (chapter 9 introduction) but software writes 64 bits at a time, so store()
// orders the two halves so that a concurrent hardware walk never sees a
// present entry with stale fields.
#pragma once

#include <drivers/passthrough/vtd/registers.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::vtd {

inline constexpr uint64_t entry_present = uint64_t{1} << 0;  // P, bit 0 of both entry types

// 9.1 Root Entry: P (bit 0), CTP (bits 63:12, the bus's 4 KiB context
// table); bits 127:64 reserved. The root table has one entry per bus.
struct RootEntry {
    uint64_t low = 0;
    uint64_t high = 0;

    [[nodiscard]] static constexpr RootEntry pointing_to(PhysicalAddress context_table) {
        return RootEntry{(context_table & ~page_mask) | entry_present, 0};
    }
    [[nodiscard]] constexpr bool present() const { return (low & entry_present) != 0; }
    [[nodiscard]] constexpr PhysicalAddress context_table() const { return low & ~page_mask; }
};
static_assert(sizeof(RootEntry) == 16);
inline constexpr size_t root_table_entries = 256;
inline constexpr size_t context_table_entries = 256;

[[nodiscard]] constexpr PhysicalAddress root_entry_address(PhysicalAddress root_table, uint8_t bus) {
    return root_table + static_cast<PhysicalAddress>(bus) * sizeof(RootEntry);
}

// 9.3 Context Entry, "TT" (bits 3:2).
enum class TranslationType : uint8_t {
    untranslated = 0,  // 00b: untranslated requests go through the second-stage tables; others blocked
    device_tlb = 1,    // 01b: as 00b, plus translation and translated requests (needs ECAP.DT)
    pass_through = 2,  // 10b: untranslated requests pass through (needs ECAP.PT); table pointer ignored
};

// 9.3 Context Entry, "AW" (bits 66:64): the adjusted guest address width,
// which fixes the number of second-stage table levels.
enum class AddressWidth : uint8_t {
    bits_39 = 1,  // 3-level table
    bits_48 = 2,  // 4-level table
    bits_57 = 3,  // 5-level table
};
[[nodiscard]] constexpr unsigned levels(AddressWidth width) { return static_cast<unsigned>(width) + 2; }
[[nodiscard]] constexpr unsigned address_bits(AddressWidth width) { return 30 + 9 * static_cast<unsigned>(width); }
[[nodiscard]] constexpr Optional<AddressWidth> address_width_for_levels(unsigned table_levels) {
    if (table_levels < 3 || table_levels > 5) return {};
    return static_cast<AddressWidth>(table_levels - 2);
}
// The widest AW the unit's SAGAW offers; nothing when SAGAW offers none of
// 39, 48, 57 bits.
[[nodiscard]] constexpr Optional<AddressWidth> largest_address_width(Capability capability) {
    for (unsigned table_levels = 5; table_levels >= 3; --table_levels)
        if (capability.supports_levels(table_levels)) return address_width_for_levels(table_levels);
    return {};
}

// 9.3 Context Entry:
//   bit 0       P      present
//   bit 1       FPD    fault processing disable (evaluated even when P = 0)
//   bits 3:2    TT     translation type
//   bits 63:12  SSPTPTR second-stage page table pointer (SLPTPTR before revision 4)
//   bits 66:64  AW     address width
//   bits 87:72  DID    domain identifier
// Everything else is reserved and must be 0.
class ContextEntry {
public:
    uint64_t low = 0;   // bits 63:0
    uint64_t high = 0;  // bits 127:64

    // The setters build the value; none of them touches P, so an entry is
    // assembled completely and made present last (set_present, then store()).
    constexpr ContextEntry& set_fault_processing_disable(bool disable) {
        low = (low & ~(uint64_t{1} << 1)) | static_cast<uint64_t>(disable) << 1;
        return *this;
    }
    constexpr ContextEntry& set_translation_type(TranslationType type) {
        low = (low & ~(uint64_t{3} << 2)) | static_cast<uint64_t>(static_cast<uint8_t>(type) & 3) << 2;
        return *this;
    }
    constexpr ContextEntry& set_second_stage_table(PhysicalAddress table) {
        low = (low & page_mask) | (table & ~page_mask);
        return *this;
    }
    constexpr ContextEntry& set_address_width(AddressWidth width) {
        high = (high & ~uint64_t{7}) | (static_cast<uint64_t>(width) & 7);
        return *this;
    }
    constexpr ContextEntry& set_domain_id(uint16_t domain_id) {
        high = (high & ~(uint64_t{0xffff} << 8)) | static_cast<uint64_t>(domain_id) << 8;
        return *this;
    }
    constexpr ContextEntry& set_present(bool present) {
        low = (low & ~entry_present) | static_cast<uint64_t>(present);
        return *this;
    }

    [[nodiscard]] constexpr bool present() const { return (low & entry_present) != 0; }
    [[nodiscard]] constexpr bool fault_processing_disable() const { return extract_bits(low, 1, 1) != 0; }
    [[nodiscard]] constexpr TranslationType translation_type() const {
        return static_cast<TranslationType>(extract_bits(low, 3, 2));
    }
    [[nodiscard]] constexpr PhysicalAddress second_stage_table() const { return low & ~page_mask; }
    [[nodiscard]] constexpr AddressWidth address_width() const {
        return static_cast<AddressWidth>(extract_bits(high, 2, 0));
    }
    [[nodiscard]] constexpr uint16_t domain_id() const { return static_cast<uint16_t>(extract_bits(high, 23, 8)); }
};
static_assert(sizeof(ContextEntry) == 16);

[[nodiscard]] constexpr PhysicalAddress context_entry_address(PhysicalAddress context_table, uint8_t devfn) {
    return context_table + static_cast<PhysicalAddress>(devfn) * sizeof(ContextEntry);
}

// What a context entry should say, checked against the unit by make_context_entry.
struct ContextEntryFields {
    TranslationType type = TranslationType::untranslated;
    PhysicalAddress second_stage_table = 0;  // 4 KiB aligned; ignored for pass-through
    AddressWidth width = AddressWidth::bits_48;  // for pass-through, replaced by the widest supported (9.3 "AW")
    uint16_t domain_id = 0;
    bool fault_processing_disable = false;
};

// A present context entry, or Error::unsupported when the unit cannot do what
// the fields ask (AW not in SAGAW, pass-through without ECAP.PT, device-TLB
// without ECAP.DT, domain id beyond CAP.ND or 0 with CAP.CM, 6.2.2.1) and
// Error::invalid_argument for an unaligned or missing table.
[[nodiscard]] Result<ContextEntry> make_context_entry(const ContextEntryFields& fields, Capability capability,
                                                      ExtendedCapability extended);

// Writes an entry of a table in memory with two 64-bit stores ordered for a
// concurrent hardware walk: a present entry gets its high half first and the
// low half, holding P, last; a not-present entry gets the low half (P = 0)
// first. Replacing one present entry by another needs the entry cleared and
// the context cache invalidated in between (6.2.2.1); store() does not do that.
void store(PhysicalMemory& memory, PhysicalAddress address, const ContextEntry& entry);
void store(PhysicalMemory& memory, PhysicalAddress address, const RootEntry& entry);
[[nodiscard]] ContextEntry load_context_entry(const PhysicalMemory& memory, PhysicalAddress address);
[[nodiscard]] RootEntry load_root_entry(const PhysicalMemory& memory, PhysicalAddress address);

}  // namespace sluice::vtd
