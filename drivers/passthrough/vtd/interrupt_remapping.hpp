// VT-d interrupt remapping structures (VT-d spec 5.1 and 9.10): the
// interrupt remapping table entry, IRTA_REG's value and the
// remappable-format MSI address. Values only; vtd::Unit programs them.
#pragma once

#include <drivers/passthrough/interrupt_remapping.hpp>

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::vtd {

// 9.10 Interrupt Remapping Table Entry (IRTE) for remapped interrupts
// (IM = 0), 128 bits.
struct InterruptRemappingTableEntry {
    uint64_t low = 0;
    uint64_t high = 0;

    static constexpr uint64_t present = uint64_t{1} << 0;                 // P
    static constexpr uint64_t fault_processing_disable = uint64_t{1} << 1;  // FPD
    static constexpr uint64_t destination_logical = uint64_t{1} << 2;     // DM
    static constexpr uint64_t redirection_hint = uint64_t{1} << 3;        // RH
    static constexpr uint64_t trigger_level = uint64_t{1} << 4;           // TM
    static constexpr uint64_t posted_mode = uint64_t{1} << 15;            // IM
    // SVT (bits 83:82 = high 19:18): 01b verifies the requester against SID
    // under the SQ mask (bits 81:80 = high 17:16; 00b compares all 16 bits).
    static constexpr unsigned source_validation_shift = 18;
    static constexpr uint64_t verify_requester = uint64_t{1} << source_validation_shift;

    // A present entry delivering vector to destination (fixed delivery,
    // physical mode, edge), for requests from requester_id only. In xAPIC
    // mode the 8-bit APIC ID sits in DST bits 15:8 (entry bits 47:40); with
    // extended interrupt mode the whole 32-bit x2APIC ID is DST.
    [[nodiscard]] static constexpr InterruptRemappingTableEntry remapped(uint8_t vector, uint32_t destination,
                                                                         uint16_t requester_id, bool x2apic) {
        InterruptRemappingTableEntry entry;
        const uint64_t destination_field = x2apic ? destination : (destination & 0xff) << 8;
        entry.low = present | uint64_t{vector} << 16 | destination_field << 32;
        entry.high = uint64_t{requester_id} | verify_requester;
        return entry;
    }

    [[nodiscard]] constexpr bool is_present() const { return (low & present) != 0; }
    [[nodiscard]] constexpr uint8_t vector() const { return static_cast<uint8_t>(extract_bits(low, 23, 16)); }
    [[nodiscard]] constexpr uint32_t destination() const { return static_cast<uint32_t>(low >> 32); }
    [[nodiscard]] constexpr uint16_t source_id() const { return static_cast<uint16_t>(high & 0xffff); }
    [[nodiscard]] constexpr unsigned source_validation() const {
        return static_cast<unsigned>(extract_bits(high, 19, 18));
    }
};
static_assert(sizeof(InterruptRemappingTableEntry) == 16);

// 11.4.10.1 IRTA_REG: IRTA (63:12), EIME (11: x2APIC destination IDs), S
// (3:0: the table holds 2^(S+1) entries).
[[nodiscard]] constexpr uint64_t interrupt_remapping_table_address_value(PhysicalAddress table, unsigned entries_order,
                                                                         bool extended_interrupt_mode) {
    return (table & ~uint64_t{0xfff}) | uint64_t{extended_interrupt_mode} << 11 | ((entries_order - 1) & 0xf);
}

// 5.1.5.2 (remappable MSI and MSI-X): address bits 31:20 are 0xFEE,
// handle[14:0] in 19:5, the interrupt format (1 = remappable) in 4, SHV in
// 3 (no subhandle here, so the data is 0) and handle[15] in 2.
inline constexpr uint64_t interrupt_address_base = 0xfee0'0000;
inline constexpr uint64_t interrupt_format_remappable = uint64_t{1} << 4;
[[nodiscard]] constexpr passthrough::MsiMessage remappable_message(uint32_t handle) {
    return passthrough::MsiMessage{interrupt_address_base | uint64_t{handle & 0x7fff} << 5 |
                                       interrupt_format_remappable | uint64_t{(handle >> 15) & 1} << 2,
                                   0};
}

// The index mask (IM) of an index-selective interrupt entry cache
// invalidation covering first..last: the smallest aligned block of 2^IM
// entries that holds both (6.5.2.8).
[[nodiscard]] constexpr unsigned interrupt_index_mask(uint32_t first, uint32_t last) {
    unsigned mask = 0;
    while ((first >> mask) != (last >> mask)) ++mask;
    return mask;
}

}  // namespace sluice::vtd
