// The AMD-Vi Device Table Entry (DTE), and the order in which a driver must
// write its four 64-bit words.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882,
// section 2.2.2 "Device Table Entry Format". Only the fields for host
// (v1) translation are built here; guest translation, interrupt remapping
// (the IV/IntTabLen/IntCtl group and the INIT/NMI/EInt/Lint pass bits, which
// only matter with IV set) are left clear.
//
// Why the order matters (Xen Security Advisory 347): the IOMMU may read a
// DTE at any moment a device without a cached entry does DMA, and nothing
// promises that it reads the 256-bit entry in one piece. A driver writes one
// aligned 64-bit word at a time (each store is atomic), so every state in
// between must be safe on its own:
//   - enabling: the words without V/TV (domain ID etc.) first, then word 0,
//     which holds V, TV, the mode, the root pointer and IR/IW;
//   - disabling: word 0 first (the entry stops translating at once), then
//     the rest;
//   - re-pointing a live entry to another domain: word 0 and word 1 (domain
//     ID) both change, and either order would briefly pair one domain's page
//     tables with the other's domain ID, letting the IOTLB cache one
//     domain's translations under the other's tag. The entry is first
//     blocked (V=1, TV=1, Mode=0, IR=IW=0: DMA is refused, nothing is
//     translated), then word 1 changes, then the new word 0.
// After the writes the driver must issue INVALIDATE_DEVTAB_ENTRY (and flush
// the old domain's translations when the domain changed) before relying on
// the new entry (2.4.2).
#pragma once

#include <drivers/passthrough/amd/ivrs.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

struct DeviceTableEntry {
    uint64_t qwords[4] = {};

    friend constexpr bool operator==(const DeviceTableEntry& first, const DeviceTableEntry& second) {
        for (size_t index = 0; index < 4; ++index)
            if (first.qwords[index] != second.qwords[index]) return false;
        return true;
    }
};
static_assert(sizeof(DeviceTableEntry) == 32);

namespace device_table_entry {
// Word 0 (bits 63:0).
inline constexpr uint64_t valid = uint64_t{1} << 0;              // V
inline constexpr uint64_t translation_valid = uint64_t{1} << 1;  // TV
inline constexpr unsigned mode_shift = 9;                        // Mode, bits 11:9
inline constexpr uint64_t mode_mask = uint64_t{7} << mode_shift;
inline constexpr uint64_t root_pointer_mask = 0x000f'ffff'ffff'f000ull;  // Host Page Table Root Pointer, 51:12
inline constexpr uint64_t read_permission = uint64_t{1} << 61;           // IR
inline constexpr uint64_t write_permission = uint64_t{1} << 62;          // IW
// Word 1 (bits 127:64).
inline constexpr uint64_t domain_id_mask = 0xffff;                  // DomainID, bits 79:64
inline constexpr uint64_t iotlb_enable = uint64_t{1} << 32;         // I, bit 96
inline constexpr uint64_t suppress_events = uint64_t{1} << 33;      // SE, bit 97
inline constexpr uint64_t suppress_all_events = uint64_t{1} << 34;  // SA, bit 98
inline constexpr uint64_t allow_exclusion = uint64_t{1} << 39;      // EX, bit 103
inline constexpr unsigned system_management_shift = 40;             // SysMgt, bits 105:104
inline constexpr uint64_t system_management_mask = uint64_t{3} << system_management_shift;
// Word 2 (bits 191:128), interrupt remapping (2.2.5); left clear by the
// translation builders, filled by interrupt_word() below.
inline constexpr uint64_t interrupt_map_valid = uint64_t{1} << 0;  // IV, bit 128
inline constexpr unsigned interrupt_table_length_shift = 1;        // IntTabLen, bits 132:129: 2^n entries
inline constexpr uint64_t interrupt_table_root_mask = 0x000f'ffff'ffff'ffc0ull;  // IntTableRootPtr, 179:134 (address 51:6)
inline constexpr unsigned interrupt_control_shift = 60;            // IntCtl, bits 189:188
inline constexpr uint64_t interrupt_control_mask = uint64_t{3} << interrupt_control_shift;
inline constexpr uint64_t init_pass = uint64_t{1} << 56;           // INITPass, bit 184
inline constexpr uint64_t external_interrupt_pass = uint64_t{1} << 57;  // EIntPass, bit 185
inline constexpr uint64_t nmi_pass = uint64_t{1} << 58;                 // NMIPass, bit 186
inline constexpr uint64_t lint0_pass = uint64_t{1} << 62;               // Lint0Pass, bit 190
inline constexpr uint64_t lint1_pass = uint64_t{1} << 63;               // Lint1Pass, bit 191
}  // namespace device_table_entry

// IntCtl (2.2.2): what fixed and arbitrated interrupts of the device become.
enum class InterruptControl : uint8_t {
    abort = 0,      // target aborted: nothing is delivered
    forward = 1,    // passed on unmapped
    remapped = 2,   // looked up in the device's interrupt remapping table
};

// Word 2 of a DTE with remapping on: IV set, IntCtl, and (remapped) the
// table of 2^length_order entries at table (128-byte aligned). The INIT,
// EInt, NMI and LINTn pass bits stay clear: those messages are blocked.
[[nodiscard]] constexpr uint64_t interrupt_word(InterruptControl control, PhysicalAddress table = 0,
                                                unsigned length_order = 0) {
    return device_table_entry::interrupt_map_valid |
           (uint64_t{length_order & 0xf} << device_table_entry::interrupt_table_length_shift) |
           (table & device_table_entry::interrupt_table_root_mask) |
           (uint64_t{static_cast<uint8_t>(control)} << device_table_entry::interrupt_control_shift);
}

// 2.2.5.1 the interrupt remapping table entry, 32-bit (legacy) format:
// RemapEn (0), SupIOPF (1), IntType (4:2, 000b fixed), RqEoi (5), DM (6),
// GuestMode (7), Destination (15:8), Vector (23:16).
struct InterruptRemappingTableEntry {
    uint32_t value = 0;

    static constexpr uint32_t remap_enable = 1u << 0;
    [[nodiscard]] static constexpr InterruptRemappingTableEntry fixed(uint8_t vector, uint8_t destination) {
        return InterruptRemappingTableEntry{remap_enable | uint32_t{destination} << 8 | uint32_t{vector} << 16};
    }
    [[nodiscard]] constexpr bool enabled() const { return (value & remap_enable) != 0; }
    [[nodiscard]] constexpr uint8_t vector() const { return static_cast<uint8_t>(value >> 16); }
    [[nodiscard]] constexpr uint8_t destination() const { return static_cast<uint8_t>(value >> 8); }
};
static_assert(sizeof(InterruptRemappingTableEntry) == 4);

// Mode 0: no translation, IR and IW alone decide whether DMA passes; modes
// 1-6: the root pointer is a table of that level (1 = 4 KiB-entry table, 4 =
// a 48-bit address space, 6 = 64-bit); 7 is reserved.
inline constexpr uint8_t maximum_paging_levels = 6;

struct DeviceTableTranslation {
    PhysicalAddress root = 0;  // page aligned, below 2^52
    uint8_t levels = 0;        // 1..6
    uint16_t domain_id = 0;
    bool read = true;
    bool write = true;
};

// V=1, TV=1, Mode=levels, the root, IR/IW, the domain ID.
// Error::invalid_argument for an unaligned or too high root or levels
// outside 1..6.
[[nodiscard]] Result<DeviceTableEntry> make_translated_entry(const DeviceTableTranslation& translation);

// V=1, TV=1, Mode=0, IR=IW=0: every DMA from the device is refused (and no
// translation is ever cached for it), tagged with domain_id.
[[nodiscard]] constexpr DeviceTableEntry make_blocked_entry(uint16_t domain_id) {
    DeviceTableEntry entry;
    entry.qwords[0] = device_table_entry::valid | device_table_entry::translation_valid;
    entry.qwords[1] = domain_id;
    return entry;
}

// The entry with SysMgt taken from the IVRS DTE setting of the device
// (5.2.2.2: firmware's value for the entry's field of the same name).
[[nodiscard]] constexpr DeviceTableEntry with_system_management(DeviceTableEntry entry, DeviceTableSetting setting) {
    entry.qwords[1] = (entry.qwords[1] & ~device_table_entry::system_management_mask) |
                      (uint64_t{setting.system_management()} << device_table_entry::system_management_shift);
    return entry;
}

// Field readers.
[[nodiscard]] constexpr bool is_valid(const DeviceTableEntry& entry) { return (entry.qwords[0] & device_table_entry::valid) != 0; }
[[nodiscard]] constexpr bool translation_is_valid(const DeviceTableEntry& entry) {
    return (entry.qwords[0] & device_table_entry::translation_valid) != 0;
}
[[nodiscard]] constexpr uint8_t paging_mode(const DeviceTableEntry& entry) {
    return static_cast<uint8_t>((entry.qwords[0] & device_table_entry::mode_mask) >> device_table_entry::mode_shift);
}
[[nodiscard]] constexpr PhysicalAddress root_pointer(const DeviceTableEntry& entry) {
    return entry.qwords[0] & device_table_entry::root_pointer_mask;
}
[[nodiscard]] constexpr uint16_t domain_id(const DeviceTableEntry& entry) {
    return static_cast<uint16_t>(entry.qwords[1] & device_table_entry::domain_id_mask);
}

// One 64-bit store into an entry.
struct DeviceTableWrite {
    uint8_t qword = 0;  // 0..3
    uint64_t value = 0;
};

class DeviceTableWritePlan {
public:
    static constexpr size_t capacity = 5;  // a blocking step plus the four words

    [[nodiscard]] Span<const DeviceTableWrite> writes() const { return {writes_, count_}; }
    void add(uint8_t qword, uint64_t value) {
        if (count_ < capacity) writes_[count_++] = DeviceTableWrite{qword, value};
    }

private:
    DeviceTableWrite writes_[capacity];
    size_t count_ = 0;
};

// The stores that take an entry from current (what the table holds now) to
// desired, in the order the header comment explains; words that do not
// change are not written. After every store, the entry as the IOMMU could
// read it is either the old entry, a blocked entry, or the new entry.
[[nodiscard]] DeviceTableWritePlan plan_device_table_update(const DeviceTableEntry& current,
                                                            const DeviceTableEntry& desired);

// Performs the plan on the entry at entry_address (32-byte aligned), one
// 64-bit store per write, in order.
void apply_device_table_update(PhysicalMemory& memory, PhysicalAddress entry_address, const DeviceTableWritePlan& plan);

}  // namespace sluice::amd
