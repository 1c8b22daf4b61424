// Conversion of AMD IVMD regions into the vendor-neutral reserved regions.
#include <drivers/passthrough/amd/ivmd.hpp>

namespace sluice::amd {

Result<passthrough::ReservedRegion> to_reserved_region(const IvmdRegion& region) {
    if (!region.read && !region.write) return Error::invalid_argument;

    passthrough::ReservedRegion reserved;
    reserved.base = region.start;
    reserved.end = region.end();
    reserved.access = region.read && region.write ? paging::Access::read_write
                      : region.read               ? paging::Access::read
                                                  : paging::Access::write;
    reserved.source = region.origin == IvmdOrigin::ivrs_table ? passthrough::ReservedRegionSource::acpi_ivmd
                                                              : passthrough::ReservedRegionSource::ivmd_option;
    reserved.origin_table = region.origin_table;
    reserved.origin_offset = region.origin_offset;

    // An IVMD names devices by DeviceID, which is the requester ID.
    const auto address = [&](uint16_t device_id) {
        return pci::PciAddress::from_requester_id(region.segment, device_id);
    };
    uint16_t first = 0;
    uint16_t last = 0xffff;
    switch (region.scope) {
    case IvmdScope::all_devices: break;
    case IvmdScope::one_device: first = last = region.first_device; break;
    case IvmdScope::device_range:
        first = region.first_device;
        last = region.last_device;
        break;
    }
    SLUICE_TRY(reserved.devices.add(passthrough::DeviceRange{address(first), address(last)}));
    return reserved;
}

}  // namespace sluice::amd
