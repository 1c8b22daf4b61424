// Memory regions that AMD-Vi firmware (IVMD blocks of the IVRS table) or the
// administrator (the ivmd= option) reserve for devices.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882,
// section 5.2.2.3 "IVMD" describes the blocks; an IvmdRegion is one of them in
// parsed form, whatever its origin. The vendor-neutral ReservedRegionList
// (drivers/passthrough/reserved_region.hpp) is where the AMD set-up hands them
// on: to_reserved_region() below converts one.
#pragma once

#include <drivers/passthrough/reserved_region.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

// Which devices an IVMD covers: the three IVMD block types 20h, 21h and 22h.
enum class IvmdScope : uint8_t {
    all_devices,   // type 20h: every peripheral (of the segment)
    one_device,    // type 21h: the peripheral named by device ID
    device_range,  // type 22h: device IDs first_device..last_device, inclusive
};

enum class IvmdOrigin : uint8_t {
    ivrs_table,   // an IVMD block of the IVRS table
    ivmd_option,  // the ivmd= command-line option
};

struct IvmdRegion {
    PhysicalAddress start = 0;  // page aligned
    uint64_t length = 0;        // bytes, a non-zero multiple of the page size

    IvmdScope scope = IvmdScope::all_devices;
    uint16_t segment = 0;
    // Device IDs are bus << 8 | device << 3 | function (spec 2.2.2 "Device
    // Table"); one_device uses first_device only, all_devices neither.
    uint16_t first_device = 0;
    uint16_t last_device = 0;

    // The access devices get. For an IVMD these follow the block's IR (read)
    // and IW (write) flags; an exclusion range is turned into a read/write
    // unity mapping (see docs/amd-vi.md, "Exclusion ranges").
    bool read = true;
    bool write = true;
    // The block asked for an exclusion range rather than a unity mapping (kept
    // for messages; the region is still identity-mapped with read and write).
    bool exclusion_range = false;

    IvmdOrigin origin = IvmdOrigin::ivrs_table;
    // Where it came from: for the IVRS table, the table's physical address
    // and the block's byte offset; for ivmd=, 0 and the 1-based range number.
    PhysicalAddress origin_table = 0;
    uint32_t origin_offset = 0;

    // One past the last byte.
    [[nodiscard]] constexpr PhysicalAddress end() const { return start + length; }

    [[nodiscard]] constexpr bool applies_to(uint16_t device_segment, uint16_t device_id) const {
        if (device_segment != segment) return false;
        switch (scope) {
        case IvmdScope::all_devices: return true;
        case IvmdScope::one_device: return device_id == first_device;
        case IvmdScope::device_range: return device_id >= first_device && device_id <= last_device;
        }
        return false;
    }
};

// The region as the vendor-neutral list takes it: access from read/write,
// devices from the scope (all_devices becomes every function of the
// region's segment as a 0000-ffff range, so a region for segment 0 never
// reaches devices of another segment). Error::invalid_argument for a region
// with no access or a reversed device range.
[[nodiscard]] Result<passthrough::ReservedRegion> to_reserved_region(const IvmdRegion& region);

}  // namespace sluice::amd
