// The ACPI I/O Virtualization Reporting Structure (IVRS), which describes the
// AMD-Vi IOMMUs, the devices each translates, and memory they need reserved.
//
// Layouts follow AMD I/O Virtualization Technology (IOMMU) Specification,
// document 48882 (revision 3.x), section 5.2 "IVRS": the IVRS header (5.2.1),
// I/O Virtualization Hardware Definition blocks (IVHD, types 10h, 11h, 40h,
// 5.2.2.1) with their device entries (5.2.2.2), and I/O Virtualization Memory
// Definition blocks (IVMD, types 20h-22h, 5.2.2.3). Everything is
// little-endian and packed; the parser copies each structure out of the
// table's bytes after checking it lies inside the table, never dereferencing
// the table in place.
//
// parse_ivrs() turns a table into an IvrsDescription: a fixed-capacity,
// allocation-free summary the AMD-Vi set-up reads. A malformed block or entry
// is rejected on its own with one warning naming the table's address, the
// byte offset, the entry type and the reason; the rest of the table is kept.
#pragma once

#include <drivers/acpi/tables.hpp>
#include <drivers/passthrough/amd/ivmd.hpp>

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

// --- Table structures (spec section 5.2) --------------------------------------

// 5.2.1, "IVRS Header": the ACPI header, IVinfo, eight reserved bytes; the
// definition blocks follow at offset 48.
struct [[gnu::packed]] IvrsHeader {
    acpi::SystemDescriptionTableHeader header;  // signature "IVRS"
    uint32_t iv_info;
    uint8_t reserved[8];
};
static_assert(sizeof(IvrsHeader) == 48);
static_assert(offsetof(IvrsHeader, iv_info) == 36);
static_assert(offsetof(IvrsHeader, reserved) == 40);

// 5.2.1, "IVinfo Field": I/O virtualization information common to all IOMMUs.
struct IvInfo {
    uint32_t value = 0;

    // Bit 0, EFRSup: the IOMMU Extended Feature Register image in IVHD types
    // 11h and 40h is valid.
    [[nodiscard]] constexpr bool efr_supported() const { return (value & 1u) != 0; }
    // Bit 1, DMA remap support: firmware used the IOMMU to protect memory
    // before handing over (pre-boot DMA protection).
    [[nodiscard]] constexpr bool dma_remap_supported() const { return (value & 2u) != 0; }
    // Bits 7:5, GVAsize: guest virtual address size; 010b means 48 bits, the
    // other encodings are reserved (or newer than this parser).
    [[nodiscard]] constexpr uint8_t guest_virtual_address_size_field() const {
        return static_cast<uint8_t>(extract_bits(value, 7, 5));
    }
    // The GVAsize in bits, 0 when the encoding is not 010b.
    [[nodiscard]] constexpr uint8_t guest_virtual_address_bits() const {
        return guest_virtual_address_size_field() == 2 ? 48 : 0;
    }
    // Bits 14:8, PAsize: physical address bits the IOMMUs implement.
    [[nodiscard]] constexpr uint8_t physical_address_size() const {
        return static_cast<uint8_t>(extract_bits(value, 14, 8));
    }
    // Bits 21:15, VAsize: virtual (I/O) address bits the IOMMUs translate.
    [[nodiscard]] constexpr uint8_t virtual_address_size() const {
        return static_cast<uint8_t>(extract_bits(value, 21, 15));
    }
    // Bit 22, HtAtsResv: the HyperTransport ATS response address range
    // (FD_0000_0000h-FF_FFFF_FFFFh) is reserved and must not be translated.
    [[nodiscard]] constexpr bool ht_ats_reserved() const { return (value & (1u << 22)) != 0; }
};

// Block types (5.2.2). An IVRS of revision 1 carries types 10h/11h only,
// revision 2 may add 40h.
enum class IvrsBlockType : uint8_t {
    hardware_definition_10 = 0x10,  // IVHD, fixed-length device entries only
    hardware_definition_11 = 0x11,  // IVHD with the EFR image
    hardware_definition_40 = 0x40,  // IVHD with the EFR image and ACPI HID entries
    memory_definition_all = 0x20,   // IVMD for all peripherals
    memory_definition_one = 0x21,   // IVMD for a specified peripheral
    memory_definition_range = 0x22, // IVMD for a peripheral range
};

// The first six bytes every IVRS block starts with.
struct [[gnu::packed]] IvrsBlockHeader {
    uint8_t type;
    uint8_t flags;
    uint16_t length;  // the whole block, header and device entries included
    uint16_t device_id;
};
static_assert(sizeof(IvrsBlockHeader) == 6);

// 5.2.2.1, "IVHD Type 10h": the device entries follow at offset 24.
struct [[gnu::packed]] IvhdType10Header {
    uint8_t type;  // 10h
    uint8_t flags;
    uint16_t length;
    uint16_t iommu_device_id;    // the IOMMU's own PCI function
    uint16_t capability_offset;  // of the IOMMU capability block in its configuration space
    uint64_t iommu_base_address;
    uint16_t pci_segment_group;
    uint16_t iommu_info;  // bits 4:0 MSINum, bits 12:8 UnitID
    uint32_t iommu_feature_reporting;
};
static_assert(sizeof(IvhdType10Header) == 24);
static_assert(offsetof(IvhdType10Header, iommu_device_id) == 4);
static_assert(offsetof(IvhdType10Header, capability_offset) == 6);
static_assert(offsetof(IvhdType10Header, iommu_base_address) == 8);
static_assert(offsetof(IvhdType10Header, pci_segment_group) == 16);
static_assert(offsetof(IvhdType10Header, iommu_info) == 18);
static_assert(offsetof(IvhdType10Header, iommu_feature_reporting) == 20);

// 5.2.2.1, "IVHD Types 11h and 40h": the same first 20 bytes, then the IOMMU
// attributes and images of the Extended Feature Registers; the device
// entries follow at offset 40.
struct [[gnu::packed]] IvhdType11Header {
    uint8_t type;  // 11h or 40h
    uint8_t flags;
    uint16_t length;
    uint16_t iommu_device_id;
    uint16_t capability_offset;
    uint64_t iommu_base_address;
    uint16_t pci_segment_group;
    uint16_t iommu_info;
    uint32_t iommu_attributes;  // bits 27:23 MSINumPPR, 22:17 PNBanks, 16:13 PNCounters
    uint64_t efr_register_image;
    uint64_t efr2_register_image;  // reserved before revision 3.05 of the specification
};
static_assert(sizeof(IvhdType11Header) == 40);
static_assert(offsetof(IvhdType11Header, iommu_attributes) == 20);
static_assert(offsetof(IvhdType11Header, efr_register_image) == 24);
static_assert(offsetof(IvhdType11Header, efr2_register_image) == 32);

// IVHD flags (5.2.2.1). Bits 7 and 6 are defined for type 10h only; types
// 11h and 40h report prefetch and PPR support in the EFR image instead.
namespace ivhd_flags {
inline constexpr uint8_t ht_tunnel_enable = 1u << 0;         // HtTunEn
inline constexpr uint8_t pass_posted_write = 1u << 1;        // PassPW
inline constexpr uint8_t response_pass_posted_write = 1u << 2;  // ResPassPW
inline constexpr uint8_t isochronous = 1u << 3;              // Isoc
inline constexpr uint8_t iotlb_supported = 1u << 4;          // IotlbSup
inline constexpr uint8_t coherent = 1u << 5;                 // Coherent
inline constexpr uint8_t prefetch_supported = 1u << 6;       // PrefSup (type 10h)
inline constexpr uint8_t ppr_supported = 1u << 7;            // PPRSup (type 10h)
}  // namespace ivhd_flags

// Type 10h "IOMMU Feature Reporting" field (5.2.2.1): a subset of the EFR,
// in a layout of its own.
struct IvhdFeatureReporting {
    uint32_t value = 0;
    [[nodiscard]] constexpr bool x2apic_supported() const { return (value & (1u << 0)) != 0; }           // XTSup
    [[nodiscard]] constexpr bool no_execute_supported() const { return (value & (1u << 1)) != 0; }       // NXSup
    [[nodiscard]] constexpr bool guest_translation_supported() const { return (value & (1u << 2)) != 0; }  // GTSup
    [[nodiscard]] constexpr uint8_t guest_cr3_levels_supported() const {                                 // GLXSup
        return static_cast<uint8_t>(extract_bits(value, 4, 3));
    }
    [[nodiscard]] constexpr bool invalidate_all_supported() const { return (value & (1u << 5)) != 0; }   // IASup
    [[nodiscard]] constexpr bool guest_virtual_apic_supported() const { return (value & (1u << 6)) != 0; }  // GASup
    [[nodiscard]] constexpr bool hardware_error_supported() const { return (value & (1u << 7)) != 0; }   // HESup
    [[nodiscard]] constexpr uint8_t pasid_max() const { return static_cast<uint8_t>(extract_bits(value, 12, 8)); }
    [[nodiscard]] constexpr uint8_t guest_address_translation_size() const {  // GATS, bits 29:28
        return static_cast<uint8_t>(extract_bits(value, 29, 28));
    }
    [[nodiscard]] constexpr uint8_t host_address_translation_size() const {  // HATS, bits 31:30
        return static_cast<uint8_t>(extract_bits(value, 31, 30));
    }
};

// Device entry type codes (5.2.2.2, "IVHD Device Entry Type Codes"). Bits 7:6
// of the type give the size of the fixed entries: 00b four bytes, 01b eight.
enum class DeviceEntryType : uint8_t {
    pad4 = 0x00,
    all = 0x01,
    select = 0x02,
    start_of_range = 0x03,
    end_of_range = 0x04,
    pad8 = 0x40,
    alias_select = 0x42,
    alias_start_of_range = 0x43,
    extended_select = 0x46,
    extended_start_of_range = 0x47,
    special_device = 0x48,
    acpi_hid_device = 0xf0,  // variable length
};
[[nodiscard]] const char* describe(DeviceEntryType type);

// 5.2.2.2, the 4-byte entries (types 00h-04h).
struct [[gnu::packed]] IvhdDeviceEntry4 {
    uint8_t type;
    uint16_t device_id;  // reserved for "all"; the last ID of the range for "end of range"
    uint8_t dte_setting;  // reserved for "end of range": the start entry's applies
};
static_assert(sizeof(IvhdDeviceEntry4) == 4);

// 5.2.2.2, alias select (42h) and alias start of range (43h): requests from
// device_id (or the range) reach the IOMMU carrying source_device_id.
struct [[gnu::packed]] IvhdAliasEntry {
    uint8_t type;
    uint16_t device_id;
    uint8_t dte_setting;
    uint8_t reserved;
    uint16_t source_device_id;
    uint8_t reserved2;
};
static_assert(sizeof(IvhdAliasEntry) == 8);
static_assert(offsetof(IvhdAliasEntry, source_device_id) == 5);

// 5.2.2.2, extended select (46h) and extended start of range (47h).
struct [[gnu::packed]] IvhdExtendedEntry {
    uint8_t type;
    uint16_t device_id;
    uint8_t dte_setting;
    uint32_t extended_dte_setting;  // bit 31 AtsDisabled
};
static_assert(sizeof(IvhdExtendedEntry) == 8);
inline constexpr uint32_t extended_dte_setting_ats_disabled = 1u << 31;

// 5.2.2.2, special device (48h): an IOAPIC or HPET, which has no PCI
// function of its own, and the device ID its interrupts carry.
struct [[gnu::packed]] IvhdSpecialDeviceEntry {
    uint8_t type;
    uint16_t reserved;
    uint8_t dte_setting;
    uint8_t handle;      // the IOAPIC ID (MADT) or the HPET number (HPET table)
    uint16_t device_id;  // the ID requests from it carry
    uint8_t variety;     // 01h IOAPIC, 02h HPET
};
static_assert(sizeof(IvhdSpecialDeviceEntry) == 8);
static_assert(offsetof(IvhdSpecialDeviceEntry, handle) == 4);
static_assert(offsetof(IvhdSpecialDeviceEntry, device_id) == 5);
static_assert(offsetof(IvhdSpecialDeviceEntry, variety) == 7);

enum class SpecialDeviceVariety : uint8_t { ioapic = 0x01, hpet = 0x02 };

// 5.2.2.2, ACPI HID device (F0h): a device named in the ACPI namespace by its
// _HID/_CID/_UID; unique_id_length bytes of UID follow the fixed part.
struct [[gnu::packed]] IvhdAcpiHidEntry {
    uint8_t type;
    uint16_t device_id;
    uint8_t dte_setting;
    char hardware_id[8];
    char compatible_id[8];
    uint8_t unique_id_format;  // 0 none, 1 integer, 2 character string
    uint8_t unique_id_length;
};
static_assert(sizeof(IvhdAcpiHidEntry) == 22);
static_assert(offsetof(IvhdAcpiHidEntry, hardware_id) == 4);
static_assert(offsetof(IvhdAcpiHidEntry, compatible_id) == 12);
static_assert(offsetof(IvhdAcpiHidEntry, unique_id_format) == 20);
static_assert(offsetof(IvhdAcpiHidEntry, unique_id_length) == 21);

// 5.2.2.3, "IVMD Types 20h, 21h, 22h".
struct [[gnu::packed]] IvmdBlock {
    uint8_t type;
    uint8_t flags;
    uint16_t length;
    uint16_t device_id;       // 21h: the device; 22h: the first device; 20h: reserved
    uint16_t auxiliary_data;  // 22h: the last device
    uint16_t pci_segment_group;  // reserved (zero) before segment support
    uint8_t reserved[6];
    uint64_t start_address;
    uint64_t memory_block_length;
};
static_assert(sizeof(IvmdBlock) == 32);
static_assert(offsetof(IvmdBlock, auxiliary_data) == 6);
static_assert(offsetof(IvmdBlock, pci_segment_group) == 8);
static_assert(offsetof(IvmdBlock, start_address) == 16);
static_assert(offsetof(IvmdBlock, memory_block_length) == 24);

// IVMD flags (5.2.2.3). IR grants read and IW grants write: bit 1 is read,
// bit 2 is write (Xen historically swapped the two).
namespace ivmd_flags {
inline constexpr uint8_t unity = 1u << 0;            // Unity: identity-map the block
inline constexpr uint8_t read = 1u << 1;             // IR: devices may read
inline constexpr uint8_t write = 1u << 2;            // IW: devices may write
inline constexpr uint8_t exclusion_range = 1u << 3;  // ExclusionRange: not translated at all
}  // namespace ivmd_flags

// The DTE setting byte every device entry carries (5.2.2.2, "DTE Setting
// Field"): values for the Device Table Entry fields of the same names.
struct DeviceTableSetting {
    uint8_t value = 0;
    [[nodiscard]] constexpr bool init_pass() const { return (value & (1u << 0)) != 0; }                // INITPass
    [[nodiscard]] constexpr bool external_interrupt_pass() const { return (value & (1u << 1)) != 0; }  // EIntPass
    [[nodiscard]] constexpr bool nmi_pass() const { return (value & (1u << 2)) != 0; }                 // NMIPass
    // SysMgt, bits 5:4: 00b block system management messages, 01b forward
    // them, 10b forward INTx and block the rest, 11b translate.
    [[nodiscard]] constexpr uint8_t system_management() const { return static_cast<uint8_t>((value >> 4) & 3u); }
    [[nodiscard]] constexpr bool lint0_pass() const { return (value & (1u << 6)) != 0; }  // Lint0Pass
    [[nodiscard]] constexpr bool lint1_pass() const { return (value & (1u << 7)) != 0; }  // Lint1Pass
};

// --- The parsed description ---------------------------------------------------

struct IommuUnit {
    uint8_t block_type = 0;  // the IVHD type this unit was taken from (10h, 11h or 40h)
    uint8_t flags = 0;       // ivhd_flags
    uint16_t segment = 0;
    uint16_t device_id = 0;  // the IOMMU's own PCI function (bus << 8 | devfn)
    uint16_t capability_offset = 0;
    PhysicalAddress base_address = 0;  // MMIO registers
    uint16_t info = 0;                 // IOMMU info: MSINum, UnitID
    // Type 10h: the IOMMU Feature Reporting field; 11h/40h: IOMMU attributes.
    uint32_t feature_reporting = 0;
    // Types 11h/40h with IVinfo EFRSup set: the EFR image, to use before (or
    // instead of) reading the register.
    bool has_extended_features = false;
    uint64_t extended_features = 0;
    uint64_t extended_features_2 = 0;
    // The highest device ID any entry of this unit names (the IOMMU's own ID
    // included): the device table must have an entry for it.
    uint16_t highest_device_id = 0;
    uint32_t table_offset = 0;  // of the IVHD block
};

// One select or range entry: the DTE setting for device IDs first..last.
struct DeviceSetting {
    uint8_t unit = 0;  // index into IvrsDescription::units()
    uint16_t first_device = 0;
    uint16_t last_device = 0;
    DeviceTableSetting setting;
    uint32_t extended_setting = 0;  // extended entries only (bit 31 AtsDisabled)
    // Alias entries: requests from these devices carry alias_device_id.
    bool has_alias = false;
    uint16_t alias_device_id = 0;
    DeviceEntryType entry_type = DeviceEntryType::select;
    uint32_t table_offset = 0;

    [[nodiscard]] constexpr bool contains(uint16_t device_id) const {
        return device_id >= first_device && device_id <= last_device;
    }
};

struct SpecialDevice {
    uint8_t unit = 0;
    SpecialDeviceVariety variety = SpecialDeviceVariety::ioapic;
    uint8_t handle = 0;
    uint16_t device_id = 0;
    DeviceTableSetting setting;
    uint32_t table_offset = 0;
};

struct AcpiHidDevice {
    static constexpr size_t unique_id_capacity = 32;

    uint8_t unit = 0;
    uint16_t device_id = 0;
    DeviceTableSetting setting;
    char hardware_id[8] = {};
    char compatible_id[8] = {};
    uint8_t unique_id_format = 0;
    uint8_t unique_id_length = 0;
    char unique_id[unique_id_capacity] = {};
    uint32_t table_offset = 0;
};

class IvrsDescription {
public:
    // Generous for real machines: a two-socket server has eight IOMMUs and a
    // few hundred device entries.
    static constexpr size_t unit_capacity = 16;
    static constexpr size_t device_setting_capacity = 512;
    static constexpr size_t special_device_capacity = 32;
    static constexpr size_t acpi_hid_device_capacity = 16;
    static constexpr size_t ivmd_capacity = 64;

    [[nodiscard]] uint8_t revision() const { return revision_; }
    [[nodiscard]] IvInfo iv_info() const { return iv_info_; }
    [[nodiscard]] PhysicalAddress table_address() const { return table_address_; }

    [[nodiscard]] Span<const IommuUnit> units() const { return {units_, unit_count_}; }
    [[nodiscard]] Span<const DeviceSetting> device_settings() const { return {device_settings_, device_setting_count_}; }
    [[nodiscard]] Span<const SpecialDevice> special_devices() const { return {special_devices_, special_device_count_}; }
    [[nodiscard]] Span<const AcpiHidDevice> acpi_hid_devices() const { return {acpi_hid_devices_, acpi_hid_device_count_}; }
    [[nodiscard]] Span<const IvmdRegion> ivmd_regions() const { return {ivmd_regions_, ivmd_count_}; }

    // Blocks and entries rejected with a warning (for tests and a summary line).
    [[nodiscard]] size_t rejected_count() const { return rejected_count_; }
    // IVMDs whose start or length was not whole 4 KiB pages, kept rounded
    // outward to the pages they touch, each with a warning.
    [[nodiscard]] size_t rounded_count() const { return rounded_count_; }

    // The highest device ID named for any unit of the segment, for sizing the
    // segment's device table; empty when no unit covers the segment.
    [[nodiscard]] Optional<uint16_t> highest_device_id(uint16_t segment) const;
    // The unit (index into units()) that translates a device: the one whose
    // entries name it; empty when none does.
    [[nodiscard]] Optional<uint8_t> unit_for(uint16_t segment, uint16_t device_id) const;
    // The setting entry naming a device (the last one, as later entries
    // override earlier ones); nullptr when none does.
    [[nodiscard]] const DeviceSetting* setting_for(uint16_t segment, uint16_t device_id) const;
    // The special device entry for an IOAPIC ID or an HPET number.
    [[nodiscard]] const SpecialDevice* find_special(SpecialDeviceVariety variety, uint8_t handle) const;

private:
    friend class IvrsParser;

    void reset();

    uint8_t revision_ = 0;
    IvInfo iv_info_;
    PhysicalAddress table_address_ = 0;
    size_t rejected_count_ = 0;
    size_t rounded_count_ = 0;

    IommuUnit units_[unit_capacity];
    size_t unit_count_ = 0;
    DeviceSetting device_settings_[device_setting_capacity];
    size_t device_setting_count_ = 0;
    SpecialDevice special_devices_[special_device_capacity];
    size_t special_device_count_ = 0;
    AcpiHidDevice acpi_hid_devices_[acpi_hid_device_capacity];
    size_t acpi_hid_device_count_ = 0;
    IvmdRegion ivmd_regions_[ivmd_capacity];
    size_t ivmd_count_ = 0;
};

// Parses one IVRS table: table holds its bytes (at least the length its
// header gives; bytes past that length are ignored), table_address is where
// it lies in physical memory, for messages. description is overwritten.
//
// Fails (Error::malformed, after one warning) only when nothing can be used:
// a wrong signature, a length shorter than the 48-byte header or longer than
// the bytes given. Everything else is rejected block by block, entry by
// entry, and counted in rejected_count(); the one exception is an IVMD whose
// start or length is not whole 4 KiB pages, which is kept rounded outward
// with a warning and counted in rounded_count().
//
// Where the table has IVHDs of several types for the same IOMMU (same
// segment and IOMMU device ID), only those of the highest type this parser
// understands (40h over 11h over 10h) are used, as the specification asks of
// software (5.2.2.1); the others are skipped without a warning.
[[nodiscard]] Status parse_ivrs(Span<const uint8_t> table, PhysicalAddress table_address, IvrsDescription& description);

}  // namespace sluice::amd
