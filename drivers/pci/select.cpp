#include <drivers/pci/select.hpp>

#include <drivers/acpi/mcfg.hpp>

#include <sluice/log.hpp>

namespace sluice::pci {
namespace {

constexpr Logger logger{"pci"};

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

}  // namespace

ConfigurationAccess& select_configuration_access(const acpi::TableDirectory& directory, const PhysicalMemory& memory,
                                                 MmioMapper& mapper, EcamConfigurationAccess& ecam,
                                                 ConfigurationAccess& legacy) {
    acpi::ConfigurationSpaceRange ranges[EcamConfigurationAccess::capacity];
    const size_t count = acpi::read_configuration_space_ranges(memory, directory, ranges);
    for (size_t index = 0; index < count; ++index) {
        const acpi::ConfigurationSpaceRange& range = ranges[index];
        const Result<MmioRegion*> region = mapper.map(range.start(), range.size());
        if (!region) {
            logger.warning("ECAM window of segment %04x buses %02x-%02x at 0x%016llx cannot be mapped (%s); not used",
                           range.segment, range.start_bus, range.end_bus, printable(range.start()),
                           describe(region.error()));
            continue;
        }
        EcamWindow window;
        window.segment = range.segment;
        window.start_bus = range.start_bus;
        window.end_bus = range.end_bus;
        window.base_address = range.base_address;
        window.region = region.value();
        const Status added = ecam.add_window(window);
        if (!added)
            logger.warning("ECAM window of segment %04x buses %02x-%02x at 0x%016llx not used: %s", range.segment,
                           range.start_bus, range.end_bus, printable(range.start()), describe(added.error()));
    }

    const PciAddress host_bridge{0, 0, 0, 0};
    if (!ecam.reaches(host_bridge)) {
        logger.info("configuration access through %s (no ECAM window for bus 0000:00)", legacy.name());
        return legacy;
    }
    const uint32_t through_ecam = ecam.read(host_bridge, ConfigurationRegister32::identification);
    const uint32_t through_legacy = legacy.read(host_bridge, ConfigurationRegister32::identification);
    if (through_legacy != 0xffffffff && through_ecam != through_legacy) {
        logger.warning("ECAM reads identification %08x at %s but %s read %08x; using %s", through_ecam,
                       describe(host_bridge).c_str(), legacy.name(), through_legacy, legacy.name());
        return legacy;
    }
    for (const EcamWindow& window : ecam.windows())
        logger.info("configuration access through ECAM: segment %04x buses %02x-%02x at 0x%016llx", window.segment,
                    window.start_bus, window.end_bus,
                    printable(window.base_address + (uint64_t{window.start_bus} << 20)));
    return ecam;
}

}  // namespace sluice::pci
