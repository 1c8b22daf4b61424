#include <drivers/passthrough/policy.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"iommu"};

constexpr PhysicalAddress four_gib = 4 * GiB;

constexpr AddressRange range_of(const MemoryRegion& region) { return AddressRange{region.base, region.end()}; }

// Memory no device of dom0 may ever reach, whatever the mode.
constexpr bool never_mapped(MemoryType type) { return type == MemoryType::unusable || type == MemoryType::disabled; }

bool page_aligned(const RangeSet& set) {
    for (const AddressRange& range : set)
        if (!is_aligned(range.start, page_size) || !is_aligned(range.end, page_size)) return false;
    return true;
}

// target minus every page holding a byte of source: one merge when source is
// page aligned (the usual case), else one pass per range of source.
Status remove_pages_of(RangeSet& target, const RangeSet* source) {
    if (source == nullptr || source->empty()) return success();
    if (page_aligned(*source)) return target.remove(*source);
    for (const AddressRange& range : *source) SLUICE_TRY(target.remove(round_outward(range)));
    return success();
}

// Every whole page below 4 GiB that is not RAM: the gaps between RAM regions
// rounded inward.
Status add_non_ram_below_4gib(RangeSet& target, const MemoryMap& map) {
    PhysicalAddress cursor = 0;
    for (const MemoryRegion& region : map.regions()) {
        if (region.type != MemoryType::ram) continue;
        const AddressRange pages = round_inward(range_of(region));
        if (pages.empty()) continue;
        if (pages.start >= four_gib) break;
        if (pages.start > cursor) SLUICE_TRY(target.add({cursor, pages.start}));
        cursor = max(cursor, pages.end);
    }
    if (cursor < four_gib) SLUICE_TRY(target.add({cursor, four_gib}));
    return success();
}

// dom0's own whole pages, each checked to be RAM. Both lists are sorted, so
// the check is one walk.
Status add_domain_memory(RangeSet& target, const MemoryMap& map, const RangeSet& domain_memory) {
    const Span<const MemoryRegion> regions = map.regions();
    size_t region_index = 0;
    bool aligned = true;
    for (const AddressRange& range : domain_memory) {
        const AddressRange pages = round_inward(range);
        aligned = aligned && pages == range;
        if (pages.empty()) continue;
        while (region_index < regions.size() && regions[region_index].end() <= pages.start) ++region_index;
        const bool in_ram = region_index < regions.size() && regions[region_index].type == MemoryType::ram &&
                            round_inward(range_of(regions[region_index])).contains(pages);
        if (!in_ram) {
            logger.error("hardware domain memory [0x%llx, 0x%llx) is not all RAM in the memory map",
                         static_cast<unsigned long long>(range.start), static_cast<unsigned long long>(range.end));
            return Error::invalid_argument;
        }
    }
    if (aligned) return target.add(domain_memory);
    for (const AddressRange& range : domain_memory) SLUICE_TRY(target.add(round_inward(range)));
    return success();
}

// The removals that apply to both output sets.
Status remove_unreachable(RangeSet& set, const HardwareDomainMappingInputs& inputs) {
    for (const MemoryRegion& region : inputs.memory_map->regions())
        if (never_mapped(region.type)) SLUICE_TRY(set.remove(round_outward(range_of(region))));
    SLUICE_TRY(remove_pages_of(set, inputs.hypervisor_memory));
    SLUICE_TRY(remove_pages_of(set, inputs.excluded));
    SLUICE_TRY(set.remove(interrupt_address_range));
    if (inputs.address_limit != 0) {
        const AddressRange beyond{align_down(inputs.address_limit, page_size), ~uint64_t{0}};
        if (set.intersects(beyond))
            logger.warning("hardware domain: memory at or above 0x%llx is beyond what its IOMMU tables translate, "
                           "not mapped",
                           static_cast<unsigned long long>(beyond.start));
        SLUICE_TRY(set.remove(beyond));
    }
    return success();
}

Status compute(const HardwareDomainMappingInputs& inputs, RangeSet& read_write, RangeSet& read_only) {
    const HardwareDomainPolicy& policy = inputs.policy;
    if (policy.mode == HardwareDomainIommuMode::disabled || policy.mode == HardwareDomainIommuMode::passthrough)
        return success();

    const MemoryMap& map = *inputs.memory_map;
    const bool pv = policy.kind == HardwareDomainKind::pv;
    const bool inclusive = pv && policy.map_inclusive;
    const bool reserved = policy.map_reserved || inclusive;
    const bool relaxed = policy.mode == HardwareDomainIommuMode::relaxed;

    // The map is sorted, so these adds append (or extend the last range).
    for (const MemoryRegion& region : map.regions()) {
        if (region.type == MemoryType::ram && relaxed) SLUICE_TRY(read_write.add(round_inward(range_of(region))));
        else if (region.type == MemoryType::reserved && reserved)
            SLUICE_TRY(read_write.add(round_outward(range_of(region))));
    }
    if (inclusive) SLUICE_TRY(add_non_ram_below_4gib(read_write, map));
    if (policy.mode == HardwareDomainIommuMode::strict && pv && inputs.domain_memory != nullptr)
        SLUICE_TRY(add_domain_memory(read_write, map, *inputs.domain_memory));

    SLUICE_TRY(remove_unreachable(read_write, inputs));

    if (inputs.read_only == nullptr || inputs.read_only->empty()) return success();
    if (!pv) return remove_pages_of(read_write, inputs.read_only);
    for (const AddressRange& range : *inputs.read_only) SLUICE_TRY(read_only.add(round_outward(range)));
    SLUICE_TRY(remove_unreachable(read_only, inputs));
    return read_write.remove(read_only);
}

}  // namespace

size_t hardware_domain_range_capacity(const HardwareDomainMappingInputs& inputs) {
    auto count = [](const RangeSet* set) { return set == nullptr ? size_t{0} : set->count(); };
    const size_t regions = inputs.memory_map == nullptr ? 0 : inputs.memory_map->size();
    // Ranges added: at most one per region, one per gap below 4 GiB (at most
    // regions + 1) and dom0's own ranges. Each range removed splits at most
    // one range: unusable regions, the three caller sets, the interrupt
    // address range and the address limit.
    return regions + (regions + 1) + count(inputs.domain_memory) + regions + count(inputs.hypervisor_memory) +
           count(inputs.excluded) + count(inputs.read_only) + 2;
}

Status compute_hardware_domain_ranges(const HardwareDomainMappingInputs& inputs, RangeSet& read_write,
                                      RangeSet& read_only) {
    read_write.clear();
    read_only.clear();
    if (inputs.memory_map == nullptr) return Error::invalid_argument;
    const Status status = compute(inputs, read_write, read_only);
    if (!status.ok()) {
        read_write.clear();
        read_only.clear();
    }
    return status;
}

}  // namespace sluice::passthrough
