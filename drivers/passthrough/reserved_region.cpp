#include <drivers/passthrough/reserved_region.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"iommu"};

// Whether a memory type may hold a reserved region (see check_placement).
constexpr bool placement_allowed(MemoryType type) {
    switch (type) {
    case MemoryType::reserved:
    case MemoryType::acpi_nvs:
    case MemoryType::unusable:
    case MemoryType::disabled: return true;
    case MemoryType::ram:
    case MemoryType::acpi_reclaimable:
    case MemoryType::persistent: return false;
    }
    return false;  // an unknown type may be anything: refuse
}

// The text every message about a region starts with:
// "RMRR (DMAR at 0x7ffe1000, offset 0x88) 0xd5d45000-0xd5d45fff for 0000:00:1d.0".
struct RegionText {
    char text[192];
};

RegionText describe_region(const ReservedRegion& region) {
    RegionText result;
    char origin[64];
    char devices[72];
    format_origin(origin, sizeof origin, region);
    format_device_scope(devices, sizeof devices, region.devices);
    // An empty or wrapping range has no last byte worth printing; show the
    // raw end instead so the message still names what was given.
    if (region.end > region.base)
        format(result.text, sizeof result.text, "%s 0x%llx-0x%llx for %s", origin,
               static_cast<unsigned long long>(region.base), static_cast<unsigned long long>(region.end - 1), devices);
    else
        format(result.text, sizeof result.text, "%s 0x%llx (end 0x%llx) for %s", origin,
               static_cast<unsigned long long>(region.base), static_cast<unsigned long long>(region.end), devices);
    return result;
}

// "RMRR (DMAR at 0x7ffe1000, offset 0x88) 0xd5d45000-0xd5d45fff", for naming the
// other party of a merge or conflict.
struct ShortText {
    char text[112];
};

ShortText describe_range(const ReservedRegion& region) {
    ShortText result;
    char origin[64];
    format_origin(origin, sizeof origin, region);
    format(result.text, sizeof result.text, "%s 0x%llx-0x%llx", origin, static_cast<unsigned long long>(region.base),
           static_cast<unsigned long long>(region.end - 1));
    return result;
}

}  // namespace

// --- Device scopes -------------------------------------------------------------

Status DeviceScope::add(DeviceRange range) {
    if (range.first.segment != range.last.segment || range.first.sort_key() > range.last.sort_key())
        return Error::invalid_argument;
    for (size_t index = 0; index < count_; ++index)
        if (ranges_[index].contains(range.first) && ranges_[index].contains(range.last)) return success();
    // Drop ranges the new one swallows, then append it.
    size_t kept = 0;
    for (size_t index = 0; index < count_; ++index)
        if (!(range.contains(ranges_[index].first) && range.contains(ranges_[index].last)))
            ranges_[kept++] = ranges_[index];
    count_ = kept;
    if (count_ == capacity) return Error::capacity;
    ranges_[count_++] = range;
    return success();
}

size_t DeviceScope::missing_ranges(const DeviceScope& other) const {
    if (all_devices_) return 0;
    size_t missing = 0;
    for (const DeviceRange& range : other.ranges()) {
        bool covered = false;
        for (size_t index = 0; index < count_ && !covered; ++index)
            covered = ranges_[index].contains(range.first) && ranges_[index].contains(range.last);
        if (!covered) ++missing;
    }
    return missing;
}

Status DeviceScope::unite(const DeviceScope& other) {
    if (other.all_devices_) {
        all_devices_ = true;
        count_ = 0;
        return success();
    }
    if (all_devices_) return success();
    if (count_ + missing_ranges(other) > capacity) return Error::capacity;
    for (const DeviceRange& range : other.ranges()) {
        const Status status = add(range);
        if (!status) return status;  // cannot happen after the count above
    }
    return success();
}

bool DeviceScope::contains(const pci::PciAddress& address) const {
    if (all_devices_) return true;
    for (size_t index = 0; index < count_; ++index)
        if (ranges_[index].contains(address)) return true;
    return false;
}

bool DeviceScope::covers(const DeviceScope& other) const {
    if (all_devices_) return true;
    if (other.all_devices_) return false;
    return missing_ranges(other) == 0;
}

size_t format_device_scope(char* buffer, size_t capacity, const DeviceScope& scope) {
    if (capacity == 0) return 0;
    if (scope.all_devices()) return format(buffer, capacity, "all devices");
    if (scope.empty()) return format(buffer, capacity, "no devices");
    size_t length = 0;
    const Span<const DeviceRange> ranges = scope.ranges();
    for (size_t index = 0; index < ranges.size(); ++index) {
        char item[32];
        size_t item_length = format(item, sizeof item, "%s", pci::describe(ranges[index].first).c_str());
        if (!(ranges[index].first == ranges[index].last))
            item_length += format(item + item_length, sizeof item - item_length, "-%s",
                                  pci::describe(ranges[index].last).c_str());
        const char* separator = index == 0 ? "" : ", ";
        const size_t remaining = capacity - 1 - length;
        const size_t needed = (index == 0 ? 0 : 2) + item_length;
        // Unless this is the last item, keep room for ", ..." so a cut list says so.
        const size_t reserve = index + 1 < ranges.size() ? 5 : 0;
        if (needed + reserve > remaining) return length + format(buffer + length, capacity - length, "%s...", separator);
        length += format(buffer + length, capacity - length, "%s%s", separator, item);
    }
    return length;
}

// --- Regions -------------------------------------------------------------------

const char* describe(ReservedRegionSource source) {
    switch (source) {
    case ReservedRegionSource::acpi_rmrr: return "RMRR";
    case ReservedRegionSource::rmrr_option: return "rmrr=";
    case ReservedRegionSource::acpi_ivmd: return "IVMD";
    case ReservedRegionSource::ivmd_option: return "ivmd=";
    }
    return "reserved region";
}

size_t format_origin(char* buffer, size_t capacity, const ReservedRegion& region) {
    switch (region.source) {
    case ReservedRegionSource::acpi_rmrr:
    case ReservedRegionSource::acpi_ivmd:
        return format(buffer, capacity, "%s (%s at 0x%llx, offset 0x%x)", describe(region.source),
                      region.source == ReservedRegionSource::acpi_rmrr ? "DMAR" : "IVRS",
                      static_cast<unsigned long long>(region.origin_table), region.origin_offset);
    case ReservedRegionSource::rmrr_option:
    case ReservedRegionSource::ivmd_option:
        return format(buffer, capacity, "%s range %u", describe(region.source), region.origin_offset);
    }
    return format(buffer, capacity, "reserved region");
}

PlacementCheck check_placement(const MemoryMap& map, PhysicalAddress base, PhysicalAddress end) {
    PlacementCheck result;
    for (const MemoryRegion& region : map.regions()) {
        if (region.length == 0 || !(region.base < end && base < region.end())) continue;
        if (placement_allowed(region.type)) continue;
        // Report the lowest offending region, whatever the map's order.
        if (result.allowed || region.base < result.conflict.base) {
            result.allowed = false;
            result.conflict = region;
        }
    }
    return result;
}

// --- The list ------------------------------------------------------------------

void ReservedRegionList::remove(size_t index) {
    for (size_t next = index + 1; next < count_; ++next) regions_[next - 1] = regions_[next];
    --count_;
}

void ReservedRegionList::insert_sorted(const ReservedRegion& region) {
    size_t position = count_;
    while (position > 0 && regions_[position - 1].base > region.base) {
        regions_[position] = regions_[position - 1];
        --position;
    }
    regions_[position] = region;
    ++count_;
}

Result<AddOutcome> ReservedRegionList::add(const ReservedRegion& region, const PlacementPolicy& placement) {
    const RegionText text = describe_region(region);

    if (!is_aligned(region.base, page_size) || !is_aligned(region.end, page_size)) {
        logger.warning("%s: not 4 KiB aligned; rejected", text.text);
        return Error::invalid_argument;
    }
    if (region.end <= region.base) {
        logger.warning("%s: empty or wrapping range; rejected", text.text);
        return Error::invalid_argument;
    }
    if (region.devices.empty()) {
        logger.warning("%s: no device needs it; rejected", text.text);
        return Error::invalid_argument;
    }
    if (region.access == paging::Access::none) {
        logger.warning("%s: grants no access; rejected", text.text);
        return Error::invalid_argument;
    }
    if (placement.map != nullptr && placement.check != nullptr) {
        const PlacementCheck verdict = placement.check(*placement.map, region.base, region.end);
        if (!verdict.allowed) {
            logger.warning("%s: touches %s 0x%llx-0x%llx of the memory map; rejected", text.text,
                           describe(verdict.conflict.type), static_cast<unsigned long long>(verdict.conflict.base),
                           static_cast<unsigned long long>(verdict.conflict.end() - 1));
            return Error::unsupported;
        }
    }

    // Every existing region the new one overlaps must be merged with it; check
    // all of them before changing anything.
    ReservedRegion merged = region;
    size_t overlapping = 0;
    bool identical_range = false;
    for (size_t index = 0; index < count_; ++index) {
        const ReservedRegion& existing = regions_[index];
        if (!existing.overlaps(region.base, region.end)) continue;
        ++overlapping;
        if (existing.access != region.access) {
            logger.warning("%s: overlaps %s with different access (%s, not %s); rejected", text.text,
                           describe_range(existing).text, paging::describe(existing.access),
                           paging::describe(region.access));
            return Error::overlap;
        }
        if (existing.base == region.base && existing.end == region.end) {
            identical_range = true;
            if (overlapping == 1 && existing.devices.covers(region.devices)) {
                // The same region again (firmware listing it twice, or rmrr=
                // repeating an RMRR): nothing to do, but say so once.
                logger.info("%s: same as %s; already present", text.text, describe_range(existing).text);
                return AddOutcome::duplicate;
            }
        }
        merged.base = min(merged.base, existing.base);
        merged.end = max(merged.end, existing.end);
        if (!merged.devices.unite(existing.devices).ok()) {
            logger.warning("%s: merging with %s would need more than %zu device ranges; rejected", text.text,
                           describe_range(existing).text, DeviceScope::capacity);
            return Error::overlap;
        }
    }

    if (overlapping == 0) {
        if (count_ == capacity) {
            logger.warning("%s: more than %zu reserved regions; rejected", text.text, capacity);
            return Error::capacity;
        }
        insert_sorted(region);
        return AddOutcome::added;
    }

    // Name every region being merged, then replace them by the union. The
    // merged region keeps the origin of the lowest one.
    for (size_t index = 0; index < count_;) {
        const ReservedRegion& existing = regions_[index];
        if (!existing.overlaps(region.base, region.end)) {
            ++index;
            continue;
        }
        if (identical_range && existing.base == region.base && existing.end == region.end)
            logger.warning("%s: same range as %s for other devices; merged", text.text, describe_range(existing).text);
        else
            logger.warning("%s: overlaps %s; merged into 0x%llx-0x%llx", text.text, describe_range(existing).text,
                           static_cast<unsigned long long>(merged.base),
                           static_cast<unsigned long long>(merged.end - 1));
        if (existing.base <= merged.base) {
            merged.source = existing.source;
            merged.origin_table = existing.origin_table;
            merged.origin_offset = existing.origin_offset;
        }
        remove(index);
    }
    insert_sorted(merged);
    return AddOutcome::merged;
}

}  // namespace sluice::passthrough
