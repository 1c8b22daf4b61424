#include <drivers/passthrough/amd/probe.hpp>

#include <drivers/acpi/table_directory.hpp>
#include <drivers/passthrough/amd/ivmd.hpp>
#include <drivers/passthrough/amd/ivmd_option.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_vendor.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/new.hpp>

namespace sluice::amd {

namespace {

constexpr Logger logger{"amd-vi"};

constexpr acpi::Signature ivrs_signature("IVRS");

// IVRS tables are a few hundred bytes; a table of more than 64 KiB would
// describe more entries than the parser keeps anyway.
constexpr size_t table_capacity = 64 * KiB;

// The IOMMU Capability Header (3.2.1, PCI configuration space at the IVHD's
// capability offset): CapID 0Fh ("secure device"), CapType 011b in bits
// 18:16, NpCache in bit 26.
constexpr uint8_t secure_device_capability_id = 0x0f;
constexpr uint32_t capability_type_iommu = 3;
constexpr uint32_t np_cache = uint32_t{1} << 26;

constexpr uint16_t amd_vendor_id = 0x1022;

// The copy of the IVRS being parsed (zero-initialised on its own, so it
// costs the image nothing).
uint8_t table_bytes[table_capacity];

struct DriverState {
    IvrsDescription primary;
    IvrsDescription scratch;
    bool have_primary = false;
    Iommu units[IvrsDescription::unit_capacity];
    Iommu* probed[IvrsDescription::unit_capacity] = {};
    size_t probed_count = 0;
};
DriverState state;

bool read_np_cache(pci::ConfigurationAccess& configuration, const IommuUnit& unit, const char* name) {
    const pci::PciAddress function = pci::PciAddress::from_requester_id(unit.segment, unit.device_id);
    if (unit.capability_offset >= 0x40 && unit.capability_offset <= 0xfc && unit.capability_offset % 4 == 0 &&
        configuration.reaches(function)) {
        const uint32_t header = configuration.read32(function, unit.capability_offset);
        if ((header & 0xff) == secure_device_capability_id && ((header >> 16) & 7) == capability_type_iommu)
            return (header & np_cache) != 0;
    }
    // Assuming the unit caches not-present entries costs one invalidation
    // per batch; the opposite mistake would let it use stale entries.
    logger.info("%s: no IOMMU capability at offset 0x%x of %s; assuming it caches not-present entries", name,
                unit.capability_offset, pci::describe(function).c_str());
    return true;
}

void add_region(const IvmdRegion& ivmd, const passthrough::PlacementPolicy& placement,
                passthrough::ReservedRegionList& regions) {
    const Result<passthrough::ReservedRegion> region = to_reserved_region(ivmd);
    if (!region.ok()) {
        logger.warning("IVMD 0x%llx-0x%llx: cannot describe it as a reserved region (%s), ignored",
                       static_cast<unsigned long long>(ivmd.start), static_cast<unsigned long long>(ivmd.end() - 1),
                       sluice::describe(region.error()));
        return;
    }
    // The list warns about whatever it refuses.
    (void)regions.add(region.value(), placement);
}

}  // namespace

bool is_emulated_iommu(const char (&ivrs_oem_id)[6], uint16_t vendor_id, uint16_t device_id,
                       uint16_t iommu_requester_id) {
    const char bochs[6] = {'B', 'O', 'C', 'H', 'S', ' '};
    for (size_t index = 0; index < 6; ++index)
        if (ivrs_oem_id[index] != bochs[index]) return false;
    return vendor_id == amd_vendor_id && device_id == (iommu_requester_id & 0xff);
}

Status probe(const passthrough::Platform& platform, passthrough::UnitRegistry& registry,
             passthrough::ReservedRegionList& regions) {
    reset_probe();

    const passthrough::PlacementPolicy placement{&platform.memory_map};
    size_t tables = 0;
    acpi::TableDescription primary_table{};
    for (const acpi::TableDescription& table : platform.tables.find_all(ivrs_signature)) {
        ++tables;
        if (!acpi::copy_table(platform.memory, table, Span<uint8_t>(table_bytes, table_capacity)).ok()) {
            logger.warning("IVRS at 0x%llx: %u bytes, more than the %zu this driver reads; ignored",
                           static_cast<unsigned long long>(table.address), table.length, table_capacity);
            continue;
        }
        // The parser reports every problem itself; a table it cannot use at
        // all has nothing to offer.
        if (!parse_ivrs(Span<const uint8_t>(table_bytes, table.length), table.address, state.scratch).ok()) continue;
        const IvrsDescription& parsed = state.scratch;
        logger.info("IVRS at 0x%llx: revision %u, IVinfo 0x%08x, %zu IOMMUs, %zu IVMDs",
                    static_cast<unsigned long long>(table.address), parsed.revision(), parsed.iv_info().value,
                    parsed.units().size(), parsed.ivmd_regions().size());
        for (const IvmdRegion& ivmd : parsed.ivmd_regions()) add_region(ivmd, placement, regions);
        if (parsed.units().size() == 0) continue;
        if (state.have_primary) {
            logger.warning("IVRS at 0x%llx describes IOMMUs again; its IVHD blocks are ignored (the IVRS at 0x%llx "
                           "describes the units)",
                           static_cast<unsigned long long>(table.address),
                           static_cast<unsigned long long>(primary_table.address));
            continue;
        }
        state.primary = parsed;
        state.have_primary = true;
        primary_table = table;
    }

    const IvmdOptionRegions& option = ivmd_option_regions();
    if (tables == 0) {
        logger.debug("no IVRS table: no AMD-Vi IOMMU");
        return Error::not_found;
    }
    for (const IvmdRegion& ivmd : option.regions()) add_region(ivmd, placement, regions);
    if (!state.have_primary) {
        logger.warning("no IVRS table describes an IOMMU");
        return Error::not_found;
    }

    const Span<const IommuUnit> described = state.primary.units();
    for (size_t index = 0; index < described.size(); ++index) {
        const IommuUnit& unit = described[index];
        Iommu& iommu = state.units[index];
        char name[32];
        format(name, sizeof name, "amd-vi%zu at 0x%llx", index, static_cast<unsigned long long>(unit.base_address));
        const Result<pci::MmioRegion*> registers = platform.mmio.map(unit.base_address, register_region_size);
        if (!registers.ok())
            logger.error("%s: its registers cannot be mapped (%s)", name, sluice::describe(registers.error()));

        IommuSettings settings;
        settings.ivrs = &state.primary;
        settings.unit_index = static_cast<uint8_t>(index);
        settings.caches_not_present = read_np_cache(platform.configuration, unit, name);
        settings.verbose = platform.options.verbose;
        const pci::PciAddress function = pci::PciAddress::from_requester_id(unit.segment, unit.device_id);
        const uint32_t identification =
            platform.configuration.reaches(function)
                ? platform.configuration.read(function, pci::ConfigurationRegister32::identification)
                : ~uint32_t{0};
        if (is_emulated_iommu(primary_table.oem_id, static_cast<uint16_t>(identification),
                              static_cast<uint16_t>(identification >> 16), unit.device_id)) {
            settings.event_log_receives_events = false;
            logger.info("%s: QEMU's emulated IOMMU (PCI %04x:%04x, IVRS OEM BOCHS): its event log never receives "
                        "events, so DMA faults are not reported",
                        name, static_cast<unsigned>(identification & 0xffff),
                        static_cast<unsigned>(identification >> 16));
        }

        const IommuResources resources{registers.ok() ? registers.value() : nullptr, &platform.memory,
                                       &platform.allocator, &platform.clock};
        const Status initialized = iommu.initialize(resources, settings);
        if (!initialized.ok()) {
            logger.error("%s: not usable (%s); the devices behind it are not protected", name,
                         sluice::describe(initialized.error()));
            // A unit that never got as far as failing (bad settings) names no
            // devices and is not listed.
            if (iommu.state() != IommuState::failed) continue;
        }
        // Failed units are registered too, so the set-up can name the devices
        // they leave unprotected.
        if (!registry.add(iommu).ok()) {
            logger.error("%s: the unit registry is full; left out", name);
            continue;
        }
        state.probed[state.probed_count++] = &iommu;
    }
    if (state.probed_count == 0) return Error::not_found;
    return success();
}

void report_unused_options() {
    const size_t regions = ivmd_option_regions().size();
    if (regions != 0)
        logger.warning("ivmd= ignored (%zu region%s): this machine has no AMD-Vi IOMMU", regions,
                       regions == 1 ? "" : "s");
}

void reset_probe() {
    for (Iommu& unit : state.units) new (&unit) Iommu();
    state.probed_count = 0;
    state.have_primary = false;
    new (&state.primary) IvrsDescription();
}

Span<Iommu* const> probed_units() { return Span<Iommu* const>(state.probed, state.probed_count); }

const IvrsDescription& probed_ivrs() { return state.primary; }

Result<passthrough::AmdV1Format> page_table_format(bool superpages) {
    unsigned levels_limit = paging::max_levels;
    size_t working = 0;
    for (size_t index = 0; index < state.probed_count; ++index) {
        if (state.probed[index]->failed()) continue;
        ++working;
        levels_limit = min<unsigned>(levels_limit, state.probed[index]->maximum_levels());
    }
    if (working == 0) return Error::not_found;
    if (levels_limit == 0) return Error::unsupported;
    const IvInfo info = state.primary.iv_info();
    unsigned width = info.virtual_address_size() != 0 ? info.virtual_address_size() : 48;
    if (width < info.physical_address_size()) width = info.physical_address_size();
    if (width > 64) width = 64;
    const passthrough::AmdV1Format fitted =
        SLUICE_TRY(passthrough::AmdV1Format::for_address_width(width, levels_limit));
    return passthrough::AmdV1Format(fitted.levels(), superpages ? 3 : 1, width);
}

Status configure_domain(const passthrough::IommuOptions& options, passthrough::IommuConfiguration& configuration) {
    const Result<passthrough::AmdV1Format> format = page_table_format(options.superpages);
    if (!format.ok()) {
        if (format.error() == Error::unsupported)
            logger.error("an IOMMU walks no host page tables (EFR.HATS reserved): no domain can be translated");
        return format.error();
    }
    configuration.iommu = passthrough::IommuTableKind::amd_v1;
    configuration.amd = format.value();
    return success();
}

// Probed after VT-d (order 10).
SLUICE_IOMMU_VENDOR(20, "AMD-Vi", &probe, &configure_domain, &report_unused_options);

}  // namespace sluice::amd
