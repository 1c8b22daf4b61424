#include <drivers/acpi/table_directory.hpp>
#include <drivers/passthrough/iommu_vendor.hpp>
#include <drivers/passthrough/vtd/probe.hpp>
#include <drivers/passthrough/vtd/reserved_regions.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/enumeration.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/log.hpp>

namespace sluice::vtd {
namespace {

constexpr Logger logger{"vtd"};
constexpr acpi::Signature dmar_signature("DMAR");

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

// What the last probe found; boot probes once.
Unit probed[DmarDescription::max_units];
size_t probed_count = 0;
DmarDescription description;
// DMAR tables are copied out of memory before parsing; real ones are a few
// hundred bytes. A longer table is parsed up to this many bytes, with a
// warning.
uint8_t table_bytes[64 * KiB];

// 8.3.1: bridges through configuration space.
class ConfigurationBridges final : public BridgeResolver {
public:
    explicit ConfigurationBridges(pci::ConfigurationAccess& access) : access_(access) {}

    Optional<BridgeBuses> bridge_buses(uint16_t segment, uint8_t bus, uint8_t device, uint8_t function) override {
        const pci::PciAddress address{segment, bus, device, function};
        if (!address.is_valid() || !access_.reaches(address)) return {};
        if (access_.read(address, pci::ConfigurationRegister16::vendor_id) == pci::absent_vendor_id) return {};
        const uint8_t layout = access_.read(address, pci::ConfigurationRegister8::header_type) &
                               pci::header_type_layout_mask;
        if (layout != static_cast<uint8_t>(pci::HeaderLayout::pci_to_pci_bridge)) return {};
        return BridgeBuses{access_.read(address, pci::ConfigurationRegister8::secondary_bus_number),
                           access_.read(address, pci::ConfigurationRegister8::subordinate_bus_number)};
    }

private:
    pci::ConfigurationAccess& access_;
};

bool add_scope(UnitDefinition& definition, RequesterRange range, const DmarUnit& unit) {
    if (definition.scope_count == UnitDefinition::max_scopes) {
        logger.warning("DMAR at 0x%llx, offset 0x%x: DRHD: more than %zu device ranges; the rest are not covered",
                       printable(unit.table), unit.offset, UnitDefinition::max_scopes);
        return false;
    }
    definition.scopes[definition.scope_count++] = range;
    return true;
}

// The requester IDs a DRHD's scopes name (8.3.1): an endpoint is its own ID;
// a sub-hierarchy is the bridge and every function from its secondary to its
// subordinate bus. I/O APIC, HPET and ACPI namespace scopes concern interrupt
// remapping and name no PCI requester here.
UnitDefinition define_unit(const DmarUnit& unit, BridgeResolver& resolver) {
    UnitDefinition definition;
    definition.register_base = unit.register_base;
    definition.register_size = unit.register_size;
    definition.segment = unit.segment;
    definition.include_pci_all = unit.include_pci_all;
    for (const DmarDeviceScope& scope : description.scopes(unit.scopes)) {
        if (scope.type != DeviceScopeType::pci_endpoint && scope.type != DeviceScopeType::pci_sub_hierarchy) continue;
        if (!scope.resolved) {
            logger.warning("DMAR at 0x%llx, offset 0x%x: DRHD device scope: path not resolved; the device it names "
                           "is not covered by this unit",
                           printable(scope.table), scope.offset);
            continue;
        }
        const uint16_t requester = scope.device.requester_id();
        if (!add_scope(definition, RequesterRange{requester, requester}, unit)) break;
        if (scope.type != DeviceScopeType::pci_sub_hierarchy) continue;
        const Optional<BridgeBuses> buses = resolver.bridge_buses(scope.device.segment, scope.device.bus,
                                                                  scope.device.device, scope.device.function);
        if (!buses || buses->subordinate < buses->secondary) {
            logger.warning("DMAR at 0x%llx, offset 0x%x: DRHD device scope: bus numbers below bridge %s unknown; "
                           "only the bridge is covered",
                           printable(scope.table), scope.offset, pci::describe(scope.device).c_str());
            continue;
        }
        if (!add_scope(definition,
                       RequesterRange{static_cast<uint16_t>(buses->secondary << 8),
                                      static_cast<uint16_t>(buses->subordinate << 8 | 0xff)},
                       unit))
            break;
    }
    return definition;
}

void parse_tables(const passthrough::Platform& platform, BridgeResolver& resolver) {
    for (const acpi::TableDescription& table : platform.tables.find_all(dmar_signature)) {
        size_t length = table.length;
        if (length > sizeof table_bytes) {
            logger.warning("DMAR at 0x%llx: %zu bytes, only the first %zu are parsed", printable(table.address), length,
                           sizeof table_bytes);
            length = sizeof table_bytes;
        }
        if (!platform.memory.read_bytes(table.address, table_bytes, length).ok()) {
            logger.warning("DMAR at 0x%llx: not readable; table ignored", printable(table.address));
            continue;
        }
        // A table the parser refuses as a whole was reported by it.
        (void)parse_dmar(Span<const uint8_t>(table_bytes, length), table.address, description, &resolver);
    }
}

}  // namespace

Status probe(const passthrough::Platform& platform, passthrough::UnitRegistry& units,
             passthrough::ReservedRegionList& regions) {
    reset_probe();
    ConfigurationBridges resolver(platform.configuration);
    parse_tables(platform, resolver);
    if (description.table_count() == 0) return Error::not_found;
    if (description.units().empty()) {
        logger.warning("DMAR tables describe no remapping unit; VT-d not used");
        return Error::not_found;
    }
    logger.info("DMAR: host address width %u, %zu unit%s, %zu RMRR%s%s", description.host_address_width(),
                description.units().size(), description.units().size() == 1 ? "" : "s",
                description.reserved_memory().size(), description.reserved_memory().size() == 1 ? "" : "s",
                description.rejected() != 0 ? " (some structures ignored, see above)" : "");

    UnitSettings settings;
    // QEMU's DMAR carries OEM ID "BOCHS " (measured on QEMU 7.2).
    for (const acpi::TableDescription& table : platform.tables.find_all(dmar_signature)) {
        const char bochs[6] = {'B', 'O', 'C', 'H', 'S', ' '};
        bool same = true;
        for (size_t index = 0; index < 6; ++index) same = same && table.oem_id[index] == bochs[index];
        if (same) settings.emulated = true;
    }
    if (settings.emulated)
        logger.info("DMAR OEM BOCHS: QEMU's intel-iommu, which does not enforce every interrupt-remapping check");
    settings.queued_invalidation = platform.options.queued_invalidation;
    settings.verbose = platform.options.verbose;
    for (const DmarUnit& unit : description.units()) {
        Unit& created = probed[probed_count];
        const UnitDefinition definition = define_unit(unit, resolver);
        const Result<pci::MmioRegion*> registers = platform.mmio.map(unit.register_base, unit.register_size);
        UnitServices services;
        services.registers = registers.ok() ? registers.value() : nullptr;
        services.memory = &platform.memory;
        services.allocator = &platform.allocator;
        services.clock = &platform.clock;
        services.cache = platform.cache;
        if (!registers.ok())
            logger.error("vtd%zu at 0x%llx: registers (%llu bytes) cannot be mapped: %s", probed_count,
                         printable(unit.register_base), printable(unit.register_size), describe(registers.error()));
        // A unit that fails logs why and stays failed(); it is registered all
        // the same, so the devices behind it are named as unprotected.
        (void)created.initialize(static_cast<unsigned>(probed_count), definition, services, settings);
        ++probed_count;
    }
    for (size_t index = 0; index < probed_count; ++index) {
        probed[index].set_peers(Span<const Unit>(probed, probed_count));
        const Status registered = units.add(probed[index]);
        if (!registered.ok())
            logger.error("%s: not registered (%s); the devices behind it are not protected", probed[index].name(),
                         describe(registered.error()));
    }

    const passthrough::PlacementPolicy placement{&platform.memory_map, &passthrough::check_placement};
    const CollectedRegions collected = collect_reserved_regions(description, rmrr_option(), regions, placement, &resolver);
    if (collected.accepted + collected.rejected != 0)
        logger.info("reserved memory: %zu region%s from RMRRs and rmrr= accepted, %zu rejected", collected.accepted,
                    collected.accepted == 1 ? "" : "s", collected.rejected);
    return success();
}

Status configure_domain(const passthrough::IommuOptions& options, passthrough::IommuConfiguration& configuration) {
    // The intersection of what every working unit offers, as one capability
    // value VtdSecondLevelFormat::from_capability can read.
    unsigned widths = 0x1f;
    unsigned large_pages = 0xf;
    unsigned guest_width = 64;
    bool snoop = options.snoop_control;
    size_t working = 0;
    for (size_t index = 0; index < probed_count; ++index) {
        const Unit& unit = probed[index];
        if (unit.failed() || !unit.initialized()) continue;
        ++working;
        widths &= unit.capability().supported_adjusted_guest_address_widths();
        large_pages &= unit.capability().second_stage_large_pages();
        guest_width = min(guest_width, unit.capability().maximum_guest_address_width());
        snoop = snoop && unit.extended_capability().snoop_control();
    }
    if (working == 0) return Error::not_found;
    if (!options.superpages) large_pages = 0;
    const uint64_t combined = static_cast<uint64_t>(widths) << 8 | static_cast<uint64_t>(guest_width - 1) << 16 |
                              static_cast<uint64_t>(large_pages) << 34;
    const unsigned host_width = description.host_address_width() != 0 ? description.host_address_width() : 52;
    const Result<passthrough::VtdSecondLevelFormat> format =
        passthrough::VtdSecondLevelFormat::from_capability(combined, host_width, host_width, snoop);
    if (!format.ok()) {
        logger.error("the units share no second-level table depth (common SAGAW 0x%x); VT-d not used", widths);
        return format.error();
    }
    configuration.iommu = passthrough::IommuTableKind::vtd_second_level;
    configuration.vtd = format.value();
    return success();
}

Span<Unit> probed_units() { return Span<Unit>(probed, probed_count); }

const DmarDescription& dmar_description() { return description; }

void report_unused_options() {
    const size_t ranges = rmrr_option().ranges().size();
    if (ranges != 0)
        logger.warning("rmrr= ignored (%zu range%s): this machine has no VT-d unit", ranges, ranges == 1 ? "" : "s");
}

void reset_probe() {
    for (size_t index = 0; index < probed_count; ++index) probed[index] = Unit{};
    probed_count = 0;
    description.clear();
}

// Probed before AMD-Vi (order 20); a machine has one or the other.
SLUICE_IOMMU_VENDOR(10, "Intel VT-d", &probe, &configure_domain, &report_unused_options);

}  // namespace sluice::vtd
