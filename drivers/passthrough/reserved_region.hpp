// Reserved memory regions that devices need identity-mapped through the
// IOMMU: VT-d RMRRs (from the DMAR table or the rmrr= option) and AMD-Vi
// IVMDs (from the IVRS table or the ivmd= option). The list is vendor-neutral:
// each IOMMU driver converts its firmware structures into ReservedRegions and
// adds them here, and the identity-mapping layer reads the merged result.
//
// Rules applied by ReservedRegionList::add (docs/vtd.md, "DMAR parsing and
// rmrr="):
//   - a region must be page aligned, non-empty and must not wrap;
//   - it must not touch memory that can be handed out (RAM, ACPI reclaimable,
//     persistent memory): check_placement() below;
//   - the same range for other devices is merged (device lists united), with a
//     warning;
//   - an overlapping, different range is merged into the union when both have
//     the same access rights and the united device list fits, with a warning
//     naming both; otherwise the newcomer is rejected and the existing region
//     kept.
// Every rejection is one warning naming the region, where it came from and why.
#pragma once

#include <drivers/pci/address.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

// The PCI functions a region is reserved for: a list of inclusive ranges (a
// single function is a range of one), or every function on every segment.
struct DeviceRange {
    pci::PciAddress first;
    pci::PciAddress last;  // inclusive; same segment as first, first.sort_key() <= last.sort_key()

    static constexpr DeviceRange single(const pci::PciAddress& address) { return DeviceRange{address, address}; }
    [[nodiscard]] constexpr bool contains(const pci::PciAddress& address) const {
        return address.sort_key() >= first.sort_key() && address.sort_key() <= last.sort_key();
    }
};
static_assert(sizeof(DeviceRange) == 2 * sizeof(pci::PciAddress));

class DeviceScope {
public:
    // An RMRR may list up to 64 device scopes (the DMAR parser's cap), and
    // merging identical regions unites their lists.
    static constexpr size_t capacity = 64;

    static constexpr DeviceScope all() {
        DeviceScope scope;
        scope.all_devices_ = true;
        return scope;
    }

    // Adds a range (Error::invalid_argument when its ends are reversed or on
    // different segments, Error::capacity when full). A range already covered
    // is not added twice.
    [[nodiscard]] Status add(DeviceRange range);
    [[nodiscard]] Status add(const pci::PciAddress& address) { return add(DeviceRange::single(address)); }
    // Adds every range of other (Error::capacity, leaving this unchanged, when
    // they do not all fit).
    [[nodiscard]] Status unite(const DeviceScope& other);

    [[nodiscard]] bool contains(const pci::PciAddress& address) const;
    // Whether every function in other is also in this scope.
    [[nodiscard]] bool covers(const DeviceScope& other) const;
    [[nodiscard]] bool all_devices() const { return all_devices_; }
    [[nodiscard]] bool empty() const { return !all_devices_ && count_ == 0; }
    [[nodiscard]] Span<const DeviceRange> ranges() const { return Span<const DeviceRange>(ranges_, count_); }
    // How many ranges unite() would have to add.
    [[nodiscard]] size_t missing_ranges(const DeviceScope& other) const;

private:
    DeviceRange ranges_[capacity] = {};
    size_t count_ = 0;
    bool all_devices_ = false;
};

// "0000:00:1d.0, 0000:00:1a.0-0000:00:1a.7" or "all devices"; lists too long
// for the buffer end in "...". Returns the characters written.
size_t format_device_scope(char* buffer, size_t capacity, const DeviceScope& scope);

// Where a region was described.
enum class ReservedRegionSource : uint8_t {
    acpi_rmrr,    // an RMRR structure of a DMAR table (VT-d spec 8.4)
    rmrr_option,  // the rmrr= command-line option
    acpi_ivmd,    // an IVMD block of an IVRS table (AMD I/O Virtualization Technology spec, IVRS)
    ivmd_option,  // the ivmd= command-line option
};
[[nodiscard]] const char* describe(ReservedRegionSource source);

struct ReservedRegion {
    PhysicalAddress base = 0;  // first byte, page aligned
    PhysicalAddress end = 0;   // one past the last byte (exclusive), page aligned
    paging::Access access = paging::Access::read_write;  // IVMDs may be one-way
    ReservedRegionSource source = ReservedRegionSource::acpi_rmrr;
    // Where exactly: for ACPI sources the table's physical address and the
    // structure's byte offset in it; for options the 1-based range number.
    PhysicalAddress origin_table = 0;
    uint32_t origin_offset = 0;
    DeviceScope devices;

    [[nodiscard]] constexpr uint64_t length() const { return end - base; }
    [[nodiscard]] constexpr bool overlaps(PhysicalAddress other_base, PhysicalAddress other_end) const {
        return base < other_end && other_base < end;
    }
};

// "RMRR (DMAR at 0x7ffe1b1e, offset 0x88)" or "rmrr= range 2". Returns the
// characters written.
size_t format_origin(char* buffer, size_t capacity, const ReservedRegion& region);

// --- Placement ---------------------------------------------------------------

// Whether a reserved region may lie at [base, end) of the memory map. It may
// lie only where nothing is ever handed out to the hypervisor or a domain:
// e820 reserved memory, ACPI NVS, unusable or disabled memory, and holes.
// RAM, ACPI reclaimable memory (becomes RAM once the tables are read) and
// persistent memory (given to domains as storage) are refused: a device
// writing there would corrupt memory that belongs to someone else.
struct PlacementCheck {
    bool allowed = true;
    MemoryRegion conflict = {};  // the first refused region it touches, when !allowed
};
using PlacementCheckFunction = PlacementCheck (*)(const MemoryMap& map, PhysicalAddress base, PhysicalAddress end);

// The check above; the map should be sanitized (sorted, no overlaps).
[[nodiscard]] PlacementCheck check_placement(const MemoryMap& map, PhysicalAddress base, PhysicalAddress end);

// What ReservedRegionList::add checks placement against. Without a map no
// placement check is made (only for callers that have none yet).
struct PlacementPolicy {
    const MemoryMap* map = nullptr;
    PlacementCheckFunction check = &check_placement;
};

// --- The list ----------------------------------------------------------------

enum class AddOutcome : uint8_t {
    added,      // a new region
    merged,     // united with one or more existing regions (warning logged)
    duplicate,  // the same range, devices and access already present (nothing changed)
};

class ReservedRegionList {
public:
    // DMAR RMRRs (64) plus rmrr= ranges (16) fit with room for IVMDs.
    static constexpr size_t capacity = 96;

    // Applies the rules at the top of this file. Errors, each after one
    // warning naming the region, its origin and the reason:
    //   Error::invalid_argument  unaligned, empty or wrapping range, no devices;
    //   Error::unsupported       placement refused (touches RAM, ...);
    //   Error::overlap           overlaps a region with other access rights, or
    //                            the united device list would not fit;
    //   Error::capacity          the list is full.
    [[nodiscard]] Result<AddOutcome> add(const ReservedRegion& region, const PlacementPolicy& placement);

    // Sorted by base; regions never overlap.
    [[nodiscard]] Span<const ReservedRegion> regions() const { return Span<const ReservedRegion>(regions_, count_); }
    [[nodiscard]] size_t size() const { return count_; }
    void clear() { count_ = 0; }

    // The regions a device needs, in order: calls visit(region) for each.
    template <typename Visitor> void for_each_region_of(const pci::PciAddress& device, Visitor&& visit) const {
        for (size_t index = 0; index < count_; ++index)
            if (regions_[index].devices.contains(device)) visit(regions_[index]);
    }

private:
    void remove(size_t index);
    void insert_sorted(const ReservedRegion& region);

    ReservedRegion regions_[capacity];
    size_t count_ = 0;
};

}  // namespace sluice::passthrough
