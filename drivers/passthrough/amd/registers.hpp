// AMD-Vi MMIO registers: offsets by width, and the bit fields of the
// Control, Status and Extended Feature registers and of the table base
// registers.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882,
// section 3.4 "IOMMU MMIO Registers". Every register in the ranges used here
// is 64 bits wide and is accessed with one 64-bit load or store; the few
// 32-bit registers have their own enum so a driver cannot access one with the
// wrong width.
#pragma once

#include <sluice/log.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::amd {

// 64-bit MMIO registers, by offset from the IOMMU base address.
enum class Register64 : uint32_t {
    device_table_base = 0x0000,      // 3.4.1 Device Table Base Address Register
    command_buffer_base = 0x0008,    // 3.4.2 Command Buffer Base Address Register
    event_log_base = 0x0010,         // 3.4.3 Event Log Base Address Register
    control = 0x0018,                // 3.4.4 IOMMU Control Register
    exclusion_base = 0x0020,         // 3.4.5 IOMMU Exclusion Base Register
    exclusion_range_limit = 0x0028,  // 3.4.6 IOMMU Exclusion Range Limit Register
    extended_feature = 0x0030,       // 3.4.7 IOMMU Extended Feature Register (read-only)
    ppr_log_base = 0x0038,           // PPR Log Base Address Register
    command_buffer_head = 0x2000,    // Command Buffer Head Pointer Register
    command_buffer_tail = 0x2008,    // Command Buffer Tail Pointer Register
    event_log_head = 0x2010,         // Event Log Head Pointer Register
    event_log_tail = 0x2018,         // Event Log Tail Pointer Register
    status = 0x2020,                 // IOMMU Status Register
    ppr_log_head = 0x2030,           // PPR Log Head Pointer Register
    ppr_log_tail = 0x2038,           // PPR Log Tail Pointer Register
};

// 32-bit MMIO registers: the MMIO copy of the MSI capability, present when
// EFR.MsiCapMmioSup is set.
enum class Register32 : uint32_t {
    msi_capability_header = 0x0158,
    msi_address_low = 0x015c,
    msi_address_high = 0x0160,
    msi_data = 0x0164,
};

[[nodiscard]] constexpr uint32_t offset_of(Register64 register_offset) { return static_cast<uint32_t>(register_offset); }
[[nodiscard]] constexpr uint32_t offset_of(Register32 register_offset) { return static_cast<uint32_t>(register_offset); }

// The MMIO region spans at least 16 KiB (up to 512 KiB with performance
// counters); the registers above all lie in the first 16 KiB.
inline constexpr uint64_t register_region_size = 16 * KiB;

// --- Control register (3.4.4) ---------------------------------------------------

namespace control {
inline constexpr uint64_t iommu_enable = uint64_t{1} << 0;                      // IommuEn
inline constexpr uint64_t ht_tunnel_enable = uint64_t{1} << 1;                  // HtTunEn
inline constexpr uint64_t event_log_enable = uint64_t{1} << 2;                  // EventLogEn
inline constexpr uint64_t event_interrupt_enable = uint64_t{1} << 3;            // EventIntEn
inline constexpr uint64_t completion_wait_interrupt_enable = uint64_t{1} << 4;  // ComWaitIntEn
inline constexpr unsigned invalidation_timeout_shift = 5;                       // InvTimeOut, bits 7:5
inline constexpr uint64_t invalidation_timeout_mask = uint64_t{7} << invalidation_timeout_shift;
inline constexpr uint64_t pass_posted_write = uint64_t{1} << 8;           // PassPW
inline constexpr uint64_t response_pass_posted_write = uint64_t{1} << 9;  // ResPassPW
inline constexpr uint64_t coherent = uint64_t{1} << 10;                   // Coherent
inline constexpr uint64_t isochronous = uint64_t{1} << 11;                // Isoc
inline constexpr uint64_t command_buffer_enable = uint64_t{1} << 12;      // CmdBufEn
inline constexpr uint64_t ppr_log_enable = uint64_t{1} << 13;             // PPRLogEn
inline constexpr uint64_t ppr_interrupt_enable = uint64_t{1} << 14;       // PPRIntEn
inline constexpr uint64_t ppr_enable = uint64_t{1} << 15;                 // PPREn
inline constexpr uint64_t guest_translation_enable = uint64_t{1} << 16;   // GTEn
inline constexpr uint64_t guest_virtual_apic_enable = uint64_t{1} << 17;  // GAEn
inline constexpr uint64_t x2apic_enable = uint64_t{1} << 50;              // XTEn
inline constexpr uint64_t x2apic_interrupt_enable = uint64_t{1} << 51;    // IntCapXTEn
}  // namespace control

// InvTimeOut: how long the IOMMU waits for a device to answer an IOTLB
// invalidation before logging IOTLB_INV_TIMEOUT.
enum class InvalidationTimeout : uint8_t {
    none = 0,
    one_millisecond = 1,
    ten_milliseconds = 2,
    hundred_milliseconds = 3,
    one_second = 4,
    ten_seconds = 5,
    hundred_seconds = 6,
};

[[nodiscard]] constexpr uint64_t with_invalidation_timeout(uint64_t control_value, InvalidationTimeout timeout) {
    return (control_value & ~control::invalidation_timeout_mask) |
           (static_cast<uint64_t>(timeout) << control::invalidation_timeout_shift);
}

// --- Status register (MMIO 2020h) -------------------------------------------------

namespace status {
inline constexpr uint64_t event_log_overflow = uint64_t{1} << 0;         // EventOverflow (write 1 to clear)
inline constexpr uint64_t event_log_interrupt = uint64_t{1} << 1;        // EventLogInt (write 1 to clear)
inline constexpr uint64_t completion_wait_interrupt = uint64_t{1} << 2;  // ComWaitInt (write 1 to clear)
inline constexpr uint64_t event_log_running = uint64_t{1} << 3;          // EventLogRun
inline constexpr uint64_t command_buffer_running = uint64_t{1} << 4;     // CmdBufRun
inline constexpr uint64_t ppr_log_overflow = uint64_t{1} << 5;           // PprOverflow
inline constexpr uint64_t ppr_log_interrupt = uint64_t{1} << 6;          // PprInt
inline constexpr uint64_t ppr_log_running = uint64_t{1} << 7;            // PprLogRun
inline constexpr uint64_t guest_log_running = uint64_t{1} << 8;          // GALogRun
inline constexpr uint64_t guest_log_overflow = uint64_t{1} << 9;         // GALOverflow
inline constexpr uint64_t guest_log_interrupt = uint64_t{1} << 10;       // GAInt
}  // namespace status

// --- Table base registers (3.4.1 - 3.4.3) -------------------------------------------

// One Device Table Entry is 32 bytes; at most 65536 entries (2 MiB).
inline constexpr uint64_t device_table_entry_size = 32;
inline constexpr uint32_t device_table_maximum_entries = 65536;

// Device Table Base Address Register: DevTabBase in bits 51:12, Size in
// bits 8:0 = the table's length in 4 KiB pages, minus one. entries is
// rounded up to whole pages (128 entries each). base must be 4 KiB aligned.
[[nodiscard]] constexpr uint64_t device_table_base_value(PhysicalAddress base, uint32_t entries) {
    const uint64_t pages = align_up(uint64_t{entries} * device_table_entry_size, page_size) / page_size;
    return (base & 0x000f'ffff'ffff'f000ull) | ((pages == 0 ? 0 : pages - 1) & 0x1ff);
}

// Command buffer and event log entries are 16 bytes; their base registers
// hold the base in bits 51:12 and log2 of the entry count in bits 59:56
// (ComLen/EventLen: 1000b = 256 entries up to 1111b = 32768 entries).
inline constexpr uint64_t command_entry_size = 16;
inline constexpr uint64_t event_entry_size = 16;
inline constexpr unsigned ring_length_shift = 56;
inline constexpr unsigned minimum_ring_length_log2 = 8;
inline constexpr unsigned maximum_ring_length_log2 = 15;

// entries_log2 outside 8..15 is clamped into it.
[[nodiscard]] constexpr uint64_t ring_base_value(PhysicalAddress base, unsigned entries_log2) {
    const unsigned length = entries_log2 < minimum_ring_length_log2   ? minimum_ring_length_log2
                            : entries_log2 > maximum_ring_length_log2 ? maximum_ring_length_log2
                                                                      : entries_log2;
    return (base & 0x000f'ffff'ffff'f000ull) | (uint64_t{length} << ring_length_shift);
}

// Head and tail pointer registers hold a byte offset into their ring in
// bits 18:4 (entries are 16 bytes).
inline constexpr uint64_t ring_pointer_mask = 0x7fff0;

// Exclusion Base Register: ExEn bit 0, Allow (all devices) bit 1, base in
// bits 51:12; Exclusion Range Limit: bits 51:12, the low 12 bits read as ones.
namespace exclusion {
inline constexpr uint64_t enable = uint64_t{1} << 0;
inline constexpr uint64_t allow_all_devices = uint64_t{1} << 1;
}  // namespace exclusion

// --- Extended Feature Register (3.4.7) ----------------------------------------------

struct ExtendedFeatures {
    uint64_t value = 0;

    [[nodiscard]] constexpr bool bit(unsigned index) const { return ((value >> index) & 1) != 0; }

    [[nodiscard]] constexpr bool prefetch_supported() const { return bit(0); }                // PreFSup
    [[nodiscard]] constexpr bool ppr_supported() const { return bit(1); }                     // PPRSup
    [[nodiscard]] constexpr bool x2apic_supported() const { return bit(2); }                  // XTSup
    [[nodiscard]] constexpr bool no_execute_supported() const { return bit(3); }              // NXSup
    [[nodiscard]] constexpr bool guest_translation_supported() const { return bit(4); }       // GTSup
    [[nodiscard]] constexpr bool invalidate_all_supported() const { return bit(6); }          // IASup
    [[nodiscard]] constexpr bool guest_virtual_apic_supported() const { return bit(7); }      // GASup
    [[nodiscard]] constexpr bool hardware_error_registers_supported() const { return bit(8); }  // HESup
    [[nodiscard]] constexpr bool performance_counters_supported() const { return bit(9); }    // PCSup
    // HATS, bits 11:10: the host page tables may have 4 + HATS levels; 11b is reserved.
    [[nodiscard]] constexpr uint8_t host_address_translation_size() const {
        return static_cast<uint8_t>(extract_bits(value, 11, 10));
    }
    // The deepest host page table the unit walks: 4, 5 or 6 levels; 0 when
    // HATS holds the reserved value.
    [[nodiscard]] constexpr uint8_t maximum_host_levels() const {
        return host_address_translation_size() == 3 ? 0 : static_cast<uint8_t>(4 + host_address_translation_size());
    }
    [[nodiscard]] constexpr uint8_t guest_address_translation_size() const {  // GATS, bits 13:12
        return static_cast<uint8_t>(extract_bits(value, 13, 12));
    }
    [[nodiscard]] constexpr uint8_t guest_cr3_levels_supported() const {  // GLXSup, bits 15:14
        return static_cast<uint8_t>(extract_bits(value, 15, 14));
    }
    [[nodiscard]] constexpr uint8_t smi_filter_supported() const {  // SmiFSup, bits 17:16
        return static_cast<uint8_t>(extract_bits(value, 17, 16));
    }
    [[nodiscard]] constexpr uint8_t smi_filter_register_count() const {  // SmiFRC, bits 20:18
        return static_cast<uint8_t>(extract_bits(value, 20, 18));
    }
    [[nodiscard]] constexpr uint8_t guest_virtual_apic_modes() const {  // GAMSup, bits 23:21
        return static_cast<uint8_t>(extract_bits(value, 23, 21));
    }
    [[nodiscard]] constexpr uint8_t pasid_max() const {  // PASmax, bits 36:32
        return static_cast<uint8_t>(extract_bits(value, 36, 32));
    }
    [[nodiscard]] constexpr bool user_supervisor_supported() const { return bit(37); }  // USSup
    [[nodiscard]] constexpr uint8_t device_table_segments_supported() const {          // DevTblSegSup, 39:38
        return static_cast<uint8_t>(extract_bits(value, 39, 38));
    }
    [[nodiscard]] constexpr bool msi_capability_mmio_supported() const { return bit(46); }  // MsiCapMmioSup
    [[nodiscard]] constexpr bool guest_io_protection_supported() const { return bit(48); }  // GIoSup
    [[nodiscard]] constexpr bool host_access_supported() const { return bit(49); }          // HASup
    [[nodiscard]] constexpr bool enhanced_ppr_supported() const { return bit(50); }         // EPHSup
    [[nodiscard]] constexpr bool host_dirty_supported() const { return bit(52); }           // HDSup
};

// One line naming every supported feature, e.g. "EFR 0x...: PreFSup PPRSup
// NXSup GTSup IASup GASup HESup HATS=2 (6 levels) GATS=0 GLXSup=0 PASmax=0".
// Returns the characters written (format() semantics).
size_t describe_extended_features(ExtendedFeatures features, char* buffer, size_t capacity);

// Logs that line for one unit at info level (iommu=verbose).
void print_extended_features(const Logger& logger, PhysicalAddress unit_base, ExtendedFeatures features);

}  // namespace sluice::amd
