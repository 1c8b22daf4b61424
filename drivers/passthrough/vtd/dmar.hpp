// The DMA Remapping Reporting (DMAR) ACPI table, VT-d spec chapter 8 "BIOS
// Considerations". Section numbers in this directory refer to the Intel
// Virtualization Technology for Directed I/O Architecture Specification,
// revision 5.10 (order number D51397-018); older revisions number the register
// chapter 10 instead of 11.
//
// parse_dmar() reads one table from its bytes and adds what it describes to a
// DmarDescription; call it once per DMAR table (firmware or QEMU's -acpitable
// may provide several) and the results accumulate. Every length and offset is
// checked against the table; a structure whose length cannot be trusted ends
// the parse of that table, a structure or device scope with bad contents is
// dropped on its own, and everything else is kept. Each problem is one warning
// "vtd: warning: DMAR at 0x..., offset 0x...: <structure>: <reason>; <what
// happens>" (docs/vtd.md lists them).
#pragma once

#include <drivers/acpi/tables.hpp>
#include <drivers/pci/address.hpp>

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::vtd {

// --- Table layouts (little-endian, packed; only ever copied out of the table) --

// 8.1 DMA Remapping Reporting Structure: the ACPI header, then these fields,
// then the remapping structures from byte 48 on.
struct [[gnu::packed]] DmaRemappingReportingStructure {
    acpi::SystemDescriptionTableHeader header;  // signature "DMAR"
    uint8_t host_address_width;                 // HAW - 1
    uint8_t flags;                              // DmarFlags
    uint8_t reserved[10];
};
static_assert(sizeof(DmaRemappingReportingStructure) == 48);
static_assert(offsetof(DmaRemappingReportingStructure, host_address_width) == 36);
static_assert(offsetof(DmaRemappingReportingStructure, flags) == 37);
static_assert(offsetof(DmaRemappingReportingStructure, reserved) == 38);

// 8.1, "Flags".
enum DmarFlags : uint8_t {
    dmar_interrupt_remapping = 1u << 0,                     // INTR_REMAP
    dmar_x2apic_opt_out = 1u << 1,                          // X2APIC_OPT_OUT (valid with INTR_REMAP)
    dmar_dma_control_platform_opt_in = 1u << 2,             // DMA_CTRL_PLATFORM_OPT_IN_FLAG
};

// 8.2 Remapping Structure Types.
enum class RemappingStructureType : uint16_t {
    dma_remapping_hardware_unit = 0,       // DRHD
    reserved_memory_region = 1,            // RMRR
    root_port_ats_capability = 2,          // ATSR
    remapping_hardware_static_affinity = 3,  // RHSA
    acpi_namespace_device_declaration = 4,   // ANDD
    soc_integrated_address_translation_cache = 5,  // SATC
    soc_integrated_device_property = 6,            // SIDP
};
// "DRHD", "RMRR", ..., or "type N" for a type the spec does not define
// (those are skipped by their length, as 8.2 asks).
struct StructureName {
    char text[16];
};
[[nodiscard]] StructureName structure_name(uint16_t type);

// 8.2: every remapping structure starts with Type and Length.
struct [[gnu::packed]] RemappingStructureHeader {
    uint16_t type;
    uint16_t length;  // bytes, including sub-structures
};
static_assert(sizeof(RemappingStructureHeader) == 4);

// 8.3 DMA Remapping Hardware Unit Definition Structure (DRHD).
struct [[gnu::packed]] DmaRemappingHardwareUnitDefinition {
    RemappingStructureHeader header;
    uint8_t flags;  // bit 0 INCLUDE_PCI_ALL
    uint8_t size;   // bits 3:0: the register set is 2^N 4 KiB pages
    uint16_t segment_number;
    uint64_t register_base_address;
    // Device scope entries follow, up to header.length.
};
static_assert(sizeof(DmaRemappingHardwareUnitDefinition) == 16);
static_assert(offsetof(DmaRemappingHardwareUnitDefinition, flags) == 4);
static_assert(offsetof(DmaRemappingHardwareUnitDefinition, size) == 5);
static_assert(offsetof(DmaRemappingHardwareUnitDefinition, segment_number) == 6);
static_assert(offsetof(DmaRemappingHardwareUnitDefinition, register_base_address) == 8);
inline constexpr uint8_t drhd_include_pci_all = 1u << 0;
inline constexpr uint8_t drhd_size_mask = 0x0f;

// 8.3.1 Device Scope Structure: one entry, followed by its Path.
struct [[gnu::packed]] DeviceScopeEntry {
    uint8_t type;    // DeviceScopeType
    uint8_t length;  // 6 + 2 * N
    uint8_t flags;   // defined only inside SIDP structures
    uint8_t reserved;
    uint8_t enumeration_id;  // I/O APIC ID, HPET number or ACPI device number
    uint8_t start_bus_number;
    // N DeviceScopePath pairs follow.
};
static_assert(sizeof(DeviceScopeEntry) == 6);
static_assert(offsetof(DeviceScopeEntry, enumeration_id) == 4);
static_assert(offsetof(DeviceScopeEntry, start_bus_number) == 5);

// 8.3.1, "Path": one hop from a bus to a device on it.
struct [[gnu::packed]] DeviceScopePath {
    uint8_t device;
    uint8_t function;
};
static_assert(sizeof(DeviceScopePath) == 2);

// 8.3.1, "Type".
enum class DeviceScopeType : uint8_t {
    pci_endpoint = 1,
    pci_sub_hierarchy = 2,  // a PCI-PCI bridge and everything below it
    ioapic = 3,
    msi_capable_hpet = 4,
    acpi_namespace_device = 5,
};
[[nodiscard]] const char* describe(DeviceScopeType type);

// 8.4 Reserved Memory Region Reporting Structure (RMRR).
struct [[gnu::packed]] ReservedMemoryRegionReporting {
    RemappingStructureHeader header;
    uint16_t reserved;
    uint16_t segment_number;
    uint64_t base_address;   // 4 KiB aligned
    uint64_t limit_address;  // last byte (inclusive); limit + 1 is 4 KiB aligned
    // Device scope entries follow.
};
static_assert(sizeof(ReservedMemoryRegionReporting) == 24);
static_assert(offsetof(ReservedMemoryRegionReporting, segment_number) == 6);
static_assert(offsetof(ReservedMemoryRegionReporting, base_address) == 8);
static_assert(offsetof(ReservedMemoryRegionReporting, limit_address) == 16);

// 8.5 Root Port ATS Capability Reporting Structure (ATSR).
struct [[gnu::packed]] RootPortAtsCapabilityReporting {
    RemappingStructureHeader header;
    uint8_t flags;  // bit 0 ALL_PORTS
    uint8_t reserved;
    uint16_t segment_number;
    // Device scope entries (type 2 only) follow unless ALL_PORTS.
};
static_assert(sizeof(RootPortAtsCapabilityReporting) == 8);
static_assert(offsetof(RootPortAtsCapabilityReporting, segment_number) == 6);
inline constexpr uint8_t atsr_all_ports = 1u << 0;

// 8.6 Remapping Hardware Static Affinity Structure (RHSA).
struct [[gnu::packed]] RemappingHardwareStaticAffinity {
    RemappingStructureHeader header;  // length 20
    uint32_t reserved;
    uint64_t register_base_address;
    uint32_t proximity_domain;
};
static_assert(sizeof(RemappingHardwareStaticAffinity) == 20);
static_assert(offsetof(RemappingHardwareStaticAffinity, register_base_address) == 8);
static_assert(offsetof(RemappingHardwareStaticAffinity, proximity_domain) == 16);

// 8.7 ACPI Name-space Device Declaration Structure (ANDD).
struct [[gnu::packed]] AcpiNamespaceDeviceDeclaration {
    RemappingStructureHeader header;  // length 8 + name bytes
    uint8_t reserved[3];
    uint8_t acpi_device_number;
    // NUL-terminated ACPI object name follows.
};
static_assert(sizeof(AcpiNamespaceDeviceDeclaration) == 8);
static_assert(offsetof(AcpiNamespaceDeviceDeclaration, acpi_device_number) == 7);

// 8.8 SoC Integrated Address Translation Cache Reporting Structure (SATC).
struct [[gnu::packed]] SocIntegratedAddressTranslationCache {
    RemappingStructureHeader header;
    uint8_t flags;  // bit 0 ATC_REQUIRED
    uint8_t reserved;
    uint16_t segment_number;
    // Device scope entries (type 1, one-element path) follow.
};
static_assert(sizeof(SocIntegratedAddressTranslationCache) == 8);
static_assert(offsetof(SocIntegratedAddressTranslationCache, segment_number) == 6);
inline constexpr uint8_t satc_atc_required = 1u << 0;

// 8.9 SoC Integrated Device Property Reporting Structure (SIDP).
struct [[gnu::packed]] SocIntegratedDeviceProperty {
    RemappingStructureHeader header;
    uint16_t reserved;
    uint16_t segment_number;
    // Device scope entries (type 1 or 5, one-element path) with flags follow.
};
static_assert(sizeof(SocIntegratedDeviceProperty) == 8);
static_assert(offsetof(SocIntegratedDeviceProperty, segment_number) == 6);

// --- Bridge walking ----------------------------------------------------------------

// 8.3.1: a path of more than one hop is resolved by reading the secondary bus
// number of each bridge on the way, and a PCI sub-hierarchy scope covers the
// buses from a bridge's secondary to its subordinate bus. The PCI layer
// implements this from configuration space; parsing works without it
// (one-hop paths need no configuration space).
struct BridgeBuses {
    uint8_t secondary = 0;    // the bus directly below the bridge
    uint8_t subordinate = 0;  // the highest bus below it
};

class BridgeResolver {
public:
    // The bus numbers of the PCI-PCI bridge at segment:bus:device.function, or
    // nothing when there is no bridge there.
    [[nodiscard]] virtual Optional<BridgeBuses> bridge_buses(uint16_t segment, uint8_t bus, uint8_t device,
                                                             uint8_t function) = 0;

protected:
    ~BridgeResolver() = default;
};

// --- What the tables describe ---------------------------------------------------

// One device scope entry, with its path and, once known, the function it names.
struct DmarDeviceScope {
    static constexpr size_t max_path_length = 12;  // hops; deeper PCI hierarchies do not exist in practice

    DeviceScopeType type = DeviceScopeType::pci_endpoint;
    uint16_t segment = 0;        // of the structure the entry belongs to
    uint8_t flags = 0;           // SIDP only (8.3.1 "Flags")
    uint8_t enumeration_id = 0;  // I/O APIC ID, HPET number, ACPI device number
    uint8_t start_bus = 0;
    uint8_t path_length = 0;
    bool resolved = false;  // device holds the function the path leads to
    DeviceScopePath path[max_path_length] = {};
    pci::PciAddress device;  // valid when resolved

    // Where the entry is, for messages.
    PhysicalAddress table = 0;
    uint32_t offset = 0;
};

// A run of entries in DmarDescription::scopes().
struct ScopeRange {
    uint16_t first = 0;
    uint16_t count = 0;
};

struct DmarUnit {
    PhysicalAddress register_base = 0;
    uint64_t register_size = 0;  // bytes, from the DRHD Size field (2^N pages)
    uint16_t segment = 0;
    bool include_pci_all = false;
    ScopeRange scopes;
    PhysicalAddress table = 0;
    uint32_t offset = 0;
};

struct DmarReservedMemory {
    uint16_t segment = 0;
    PhysicalAddress base = 0;
    PhysicalAddress limit = 0;  // last byte, inclusive (the spec's "Limit Address")
    ScopeRange scopes;
    PhysicalAddress table = 0;
    uint32_t offset = 0;
};

struct DmarAtsReporting {
    uint16_t segment = 0;
    bool all_ports = false;
    ScopeRange scopes;  // root ports (empty when all_ports)
};

struct DmarStaticAffinity {
    PhysicalAddress register_base = 0;
    uint32_t proximity_domain = 0;
};

struct DmarNamespaceDevice {
    static constexpr size_t max_name_length = 63;
    uint8_t acpi_device_number = 0;
    char name[max_name_length + 1] = {};
};

struct DmarTranslationCacheReporting {
    uint16_t segment = 0;
    bool atc_required = false;
    ScopeRange scopes;
};

struct DmarDeviceProperties {
    uint16_t segment = 0;
    ScopeRange scopes;  // each entry's flags hold the properties
};

// Everything every DMAR table given to parse_dmar() described. Fixed capacity,
// no allocation: an entry beyond a cap is dropped with a warning.
class DmarDescription {
public:
    static constexpr size_t max_units = 16;
    static constexpr size_t max_reserved_memory = 64;
    static constexpr size_t max_ats_reporting = 16;
    static constexpr size_t max_static_affinity = 16;
    static constexpr size_t max_namespace_devices = 16;
    static constexpr size_t max_translation_cache_reporting = 16;
    static constexpr size_t max_device_properties = 16;
    static constexpr size_t max_scopes_per_structure = 64;
    static constexpr size_t max_scopes = 1024;  // all structures together

    // From the first accepted table; later tables that disagree get a warning.
    [[nodiscard]] unsigned host_address_width() const { return host_address_width_; }  // bits (HAW)
    [[nodiscard]] uint8_t flags() const { return flags_; }
    [[nodiscard]] bool interrupt_remapping() const { return (flags_ & dmar_interrupt_remapping) != 0; }
    [[nodiscard]] bool x2apic_opt_out() const { return (flags_ & dmar_x2apic_opt_out) != 0; }
    [[nodiscard]] bool dma_control_opt_in() const { return (flags_ & dmar_dma_control_platform_opt_in) != 0; }

    [[nodiscard]] Span<const DmarUnit> units() const { return {units_, unit_count_}; }
    [[nodiscard]] Span<const DmarReservedMemory> reserved_memory() const { return {reserved_, reserved_count_}; }
    [[nodiscard]] Span<const DmarAtsReporting> ats_reporting() const { return {ats_, ats_count_}; }
    [[nodiscard]] Span<const DmarStaticAffinity> static_affinity() const { return {affinity_, affinity_count_}; }
    [[nodiscard]] Span<const DmarNamespaceDevice> namespace_devices() const { return {namespace_, namespace_count_}; }
    [[nodiscard]] Span<const DmarTranslationCacheReporting> translation_cache_reporting() const {
        return {cache_, cache_count_};
    }
    [[nodiscard]] Span<const DmarDeviceProperties> device_properties() const { return {properties_, properties_count_}; }
    [[nodiscard]] Span<const DmarDeviceScope> scopes(ScopeRange range) const { return {scopes_ + range.first, range.count}; }
    [[nodiscard]] Span<const DmarDeviceScope> all_scopes() const { return {scopes_, scope_count_}; }

    [[nodiscard]] size_t table_count() const { return table_count_; }
    // Structures and device scopes dropped with a warning, over all tables.
    [[nodiscard]] size_t rejected() const { return rejected_; }

    // Resolves the paths still unresolved (more than one hop, no resolver at
    // parse time) through resolver; warns for each that cannot be. Returns how
    // many remain unresolved.
    size_t resolve_scopes(BridgeResolver& resolver);

    // Forgets every table (counts only: nothing large is copied).
    void clear();

private:
    friend class DmarParser;

    DmarUnit units_[max_units];
    DmarReservedMemory reserved_[max_reserved_memory];
    DmarAtsReporting ats_[max_ats_reporting];
    DmarStaticAffinity affinity_[max_static_affinity];
    DmarNamespaceDevice namespace_[max_namespace_devices];
    DmarTranslationCacheReporting cache_[max_translation_cache_reporting];
    DmarDeviceProperties properties_[max_device_properties];
    DmarDeviceScope scopes_[max_scopes];
    size_t unit_count_ = 0;
    size_t reserved_count_ = 0;
    size_t ats_count_ = 0;
    size_t affinity_count_ = 0;
    size_t namespace_count_ = 0;
    size_t cache_count_ = 0;
    size_t properties_count_ = 0;
    size_t scope_count_ = 0;
    size_t table_count_ = 0;
    size_t rejected_ = 0;
    unsigned host_address_width_ = 0;
    uint8_t flags_ = 0;
    PhysicalAddress first_table_ = 0;
};

// Parses one DMAR table: bytes holds the table (at least its header's Length
// bytes), address is where it lies (for messages). Fails with Error::malformed
// only when the table as a whole is unusable (too short, wrong signature, bad
// length); structures with problems are dropped one by one and the parse
// succeeds. resolver, when given, resolves multi-hop device scope paths now;
// one-hop paths are always resolved.
[[nodiscard]] Status parse_dmar(Span<const uint8_t> bytes, PhysicalAddress address, DmarDescription& description,
                                BridgeResolver* resolver = nullptr);

// The function a device scope names: start_bus and the last hop for a one-hop
// path, else the bridges' secondary buses walked through resolver (8.3.1).
// Nothing when a bridge on the way is missing or no resolver was given.
[[nodiscard]] Optional<pci::PciAddress> resolve_path(const DmarDeviceScope& scope, uint16_t segment,
                                                     BridgeResolver* resolver);

}  // namespace sluice::vtd
