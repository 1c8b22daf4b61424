#include <drivers/passthrough/vtd/reserved_regions.hpp>

#include <sluice/log.hpp>

namespace sluice::vtd {
namespace {

constexpr Logger logger{"vtd"};

using passthrough::DeviceRange;
using passthrough::ReservedRegion;
using passthrough::ReservedRegionSource;

}  // namespace

Result<ReservedRegion> to_reserved_region(const DmarDescription& description, const DmarReservedMemory& memory,
                                          BridgeResolver* resolver) {
    ReservedRegion region;
    region.base = memory.base;
    region.end = memory.limit + 1;  // a limit of 2^64 - 1 wraps to 0: ReservedRegionList::add refuses it
    region.access = paging::Access::read_write;
    region.source = ReservedRegionSource::acpi_rmrr;
    region.origin_table = memory.table;
    region.origin_offset = memory.offset;

    for (const DmarDeviceScope& scope : description.scopes(memory.scopes)) {
        if (!scope.resolved) {
            logger.warning("DMAR at 0x%llx, offset 0x%x: RMRR device scope: path not resolved; device left out",
                           static_cast<unsigned long long>(scope.table), scope.offset);
            continue;
        }
        if (!region.devices.add(scope.device).ok()) continue;  // cannot overflow: scopes are capped at 64 per RMRR
        if (scope.type != DeviceScopeType::pci_sub_hierarchy) continue;

        // 8.3.1, type 2: the bridge and every device below it.
        const Optional<BridgeBuses> buses =
            resolver == nullptr ? Optional<BridgeBuses>()
                                : resolver->bridge_buses(scope.device.segment, scope.device.bus, scope.device.device,
                                                         scope.device.function);
        if (!buses || buses->subordinate < buses->secondary) {
            logger.warning("DMAR at 0x%llx, offset 0x%x: RMRR device scope: bus numbers below bridge %s unknown; "
                           "only the bridge is covered",
                           static_cast<unsigned long long>(scope.table), scope.offset,
                           pci::describe(scope.device).c_str());
            continue;
        }
        // Every function of every bus from the secondary to the subordinate.
        constexpr uint8_t last_device = pci::PciAddress::device_count - 1;
        constexpr uint8_t last_function = pci::PciAddress::function_count - 1;
        const DeviceRange below{pci::PciAddress{scope.device.segment, buses->secondary, 0, 0},
                                pci::PciAddress{scope.device.segment, buses->subordinate, last_device, last_function}};
        if (!region.devices.add(below).ok())
            logger.warning("DMAR at 0x%llx, offset 0x%x: RMRR device scope: too many device ranges; scope left out",
                           static_cast<unsigned long long>(scope.table), scope.offset);
    }
    if (region.devices.empty()) {
        logger.warning("DMAR at 0x%llx, offset 0x%x: RMRR 0x%llx-0x%llx: no resolved device; region left out",
                       static_cast<unsigned long long>(memory.table), memory.offset,
                       static_cast<unsigned long long>(memory.base), static_cast<unsigned long long>(memory.limit));
        return Error::not_found;
    }
    return region;
}

ReservedRegion to_reserved_region(const RmrrOptionRange& range, unsigned number) {
    ReservedRegion region;
    region.base = range.base();
    region.end = range.end();
    region.access = paging::Access::read_write;
    region.source = ReservedRegionSource::rmrr_option;
    region.origin_offset = number;
    for (const pci::PciAddress& device : range.device_list())
        if (!region.devices.add(device).ok()) break;  // 32 devices always fit
    return region;
}

CollectedRegions collect_reserved_regions(const DmarDescription& description, const RmrrOption& option,
                                          passthrough::ReservedRegionList& list,
                                          const passthrough::PlacementPolicy& placement, BridgeResolver* resolver) {
    CollectedRegions collected;
    for (const DmarReservedMemory& memory : description.reserved_memory()) {
        const Result<ReservedRegion> region = to_reserved_region(description, memory, resolver);
        if (!region.ok() || !list.add(region.value(), placement).ok()) {
            ++collected.rejected;
            continue;
        }
        ++collected.accepted;
    }
    const Span<const RmrrOptionRange> ranges = option.ranges();
    for (size_t index = 0; index < ranges.size(); ++index) {
        if (list.add(to_reserved_region(ranges[index], static_cast<unsigned>(index + 1)), placement).ok())
            ++collected.accepted;
        else
            ++collected.rejected;
    }
    return collected;
}

}  // namespace sluice::vtd
