#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/iommu_context.hpp>
#include <mm/paging/page_reserve.hpp>

#include <sluice/log.hpp>

namespace sluice::passthrough {

namespace {
constexpr Logger logger{"iommu"};

using paging::Access;

constexpr uint32_t none = IdentityRegion::no_parent;

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

// Undoing a change to [start, end) splits at most one superpage per level
// (below the top) at each end of the range, in each table the domain has.
size_t undo_reserve(const IommuContext& domain) {
    size_t pages = 0;
    if (domain.translated()) pages += 2 * (4 - 1);
    if (!domain.shares_p2m_with_iommu()) pages += 2 * (domain.iommu_levels() - 1);
    return pages;
}

Status check_request(const IommuContext& domain, PhysicalAddress start, PhysicalAddress end, const paging::Batch& batch,
                     const char* operation) {
    if (&batch.targets() != &domain.invalidation_targets()) {
        logger.error("domain %u: %s [0x%llx, 0x%llx): the batch belongs to another domain", domain.id(), operation,
                     printable(start), printable(end));
        return Error::invalid_argument;
    }
    if (start >= end || !is_aligned(start, page_size) || !is_aligned(end, page_size)) {
        logger.error("domain %u: %s [0x%llx, 0x%llx): not a non-empty range of whole pages", domain.id(), operation,
                     printable(start), printable(end));
        return Error::invalid_argument;
    }
    if (end - 1 > domain.last_identity_address()) {
        logger.error("domain %u: %s [0x%llx, 0x%llx): beyond the domain's address width (last 0x%llx)", domain.id(),
                     operation, printable(start), printable(end), printable(domain.last_identity_address()));
        return Error::out_of_range;
    }
    return success();
}

Status map_tables(IommuContext& domain, PhysicalAddress start, uint64_t length, Access access, paging::Batch& batch) {
    if (domain.translated())
        SLUICE_TRY(domain.p2m()->map(start, length, start, p2m::P2mAttributes{access, p2m::P2mType::mmio_direct},
                                   domain.allocator(), batch));
    if (!domain.shares_p2m_with_iommu())
        SLUICE_TRY(domain.iommu_map(start, length, start, access, domain.allocator(), batch));
    return success();
}

// Removes [start, start + length) from every table, drawing only on the
// reserve; with undo_reserve() pages in it this cannot fail.
Status unmap_tables(IommuContext& domain, PhysicalAddress start, uint64_t length, paging::PageReserve& reserve,
                    paging::Batch& batch) {
    Status result = success();
    if (domain.translated()) {
        const Status status = domain.p2m()->unmap(start, length, reserve, batch);
        if (!status.ok()) result = status;
    }
    if (!domain.shares_p2m_with_iommu()) {
        const Status status = domain.iommu_unmap(start, length, reserve, batch);
        if (!status.ok() && result.ok()) result = status;
    }
    if (!result.ok())
        logger.error("domain %u: removing [0x%llx, 0x%llx) failed although pages were reserved: %s", domain.id(),
                     printable(start), printable(start + length), describe(result.error()));
    return result;
}

uint32_t find_exact(Span<IdentityRegion> regions, PhysicalAddress start, PhysicalAddress last) {
    for (uint32_t index = 0; index < regions.size(); ++index)
        if (regions[index].in_use && regions[index].start == start && regions[index].last == last) return index;
    return none;
}

uint32_t find_free(Span<IdentityRegion> regions) {
    for (uint32_t index = 0; index < regions.size(); ++index)
        if (!regions[index].in_use) return index;
    return none;
}

}  // namespace

Status identity_map(IommuContext& domain, PhysicalAddress start, PhysicalAddress end, Access access, paging::Batch& batch) {
    SLUICE_TRY(check_request(domain, start, end, batch, "identity map"));
    const PhysicalAddress last = end - 1;
    if (access == Access::none || (domain.translated() && !paging::allows_read(access))) {
        logger.error("domain %u: identity map [0x%llx, 0x%llx): %s access cannot be mapped for %s domain", domain.id(),
                     printable(start), printable(end), paging::describe(access),
                     domain.translated() ? "a translated" : "an untranslated");
        return Error::invalid_argument;
    }
    const Span<IdentityRegion> regions = domain.identity_regions();

    const uint32_t exact = find_exact(regions, start, last);
    if (exact != none) {
        if (regions[exact].access != access) {
            logger.error("domain %u: identity map [0x%llx, 0x%llx) %s: already mapped %s", domain.id(), printable(start),
                         printable(end), paging::describe(access), paging::describe(regions[exact].access));
            return Error::overlap;
        }
        ++regions[exact].references;
        return success();
    }

    // Top-level regions (those owning mappings) never overlap each other.
    for (uint32_t index = 0; index < regions.size(); ++index) {
        IdentityRegion& region = regions[index];
        if (!region.in_use || region.parent != none) continue;
        if (region.last < start || last < region.start) continue;
        if (region.start <= start && last <= region.last && paging::includes(region.access, access)) {
            const uint32_t slot = find_free(regions);
            if (slot == none) {
                logger.error("domain %u: identity map [0x%llx, 0x%llx): region table full (%zu entries)", domain.id(),
                             printable(start), printable(end), regions.size());
                return Error::capacity;
            }
            regions[slot] = IdentityRegion{start, last, access, true, 1, index};
            ++region.references;
            return success();
        }
        logger.error("domain %u: identity map [0x%llx, 0x%llx) %s: overlaps region [0x%llx, 0x%llx) %s; refused",
                     domain.id(), printable(start), printable(end), paging::describe(access), printable(region.start),
                     printable(region.last + 1), paging::describe(region.access));
        return Error::overlap;
    }

    const uint32_t slot = find_free(regions);
    if (slot == none) {
        logger.error("domain %u: identity map [0x%llx, 0x%llx): region table full (%zu entries)", domain.id(),
                     printable(start), printable(end), regions.size());
        return Error::capacity;
    }
    const uint64_t length = end - start;
    if (domain.iommu_has_mappings(start, length) || (domain.translated() && domain.p2m()->has_mappings(start, length))) {
        logger.error("domain %u: identity map [0x%llx, 0x%llx): the range already holds other mappings", domain.id(),
                     printable(start), printable(end));
        return Error::already_exists;
    }

    paging::PageReserve reserve(domain.allocator());
    const Status reserved = reserve.fill(undo_reserve(domain));
    if (!reserved.ok()) {
        logger.error("domain %u: identity map [0x%llx, 0x%llx): no memory for the undo reserve", domain.id(),
                     printable(start), printable(end));
        return reserved;
    }
    const Status mapped = map_tables(domain, start, length, access, batch);
    if (!mapped.ok()) {
        logger.error("domain %u: identity map [0x%llx, 0x%llx): %s; undoing", domain.id(), printable(start),
                     printable(end), describe(mapped.error()));
        // The range was empty in every table, so removing it restores the
        // old translations exactly.
        (void)unmap_tables(domain, start, length, reserve, batch);
        return mapped;
    }
    regions[slot] = IdentityRegion{start, last, access, true, 1, none};
    return success();
}

Status identity_unmap(IommuContext& domain, PhysicalAddress start, PhysicalAddress end, paging::Batch& batch) {
    SLUICE_TRY(check_request(domain, start, end, batch, "identity unmap"));
    const Span<IdentityRegion> regions = domain.identity_regions();
    const uint32_t index = find_exact(regions, start, end - 1);
    if (index == none) {
        logger.error("domain %u: identity unmap [0x%llx, 0x%llx): no such identity region", domain.id(),
                     printable(start), printable(end));
        return Error::not_found;
    }
    IdentityRegion& region = regions[index];
    if (region.parent == none) {
        // references counts callers holding this exact range plus regions
        // nested in it; when only nested ones remain, nobody holds the range
        // itself, and releasing it again must not pull the mapping from
        // under them.
        uint32_t nested = 0;
        for (const IdentityRegion& other : regions)
            if (other.in_use && other.parent == index) ++nested;
        if (region.references <= nested) {
            logger.error("domain %u: identity unmap [0x%llx, 0x%llx): released more often than mapped (only %u "
                         "region%s nested in it still hold it)",
                         domain.id(), printable(start), printable(end), nested, nested == 1 ? "" : "s");
            return Error::not_found;
        }
    }
    if (region.references > 1) {
        --region.references;
        return success();
    }
    // The last holder of this entry. A nested entry holds one reference on
    // the region that owns the mapping.
    const uint32_t owner_index = region.parent == none ? index : region.parent;
    IdentityRegion& owner = regions[owner_index];
    if (owner_index != index && owner.references > 1) {
        --owner.references;
        region = IdentityRegion{};
        return success();
    }

    paging::PageReserve reserve(domain.allocator());
    const Status reserved = reserve.fill(undo_reserve(domain));
    if (!reserved.ok()) {
        logger.error("domain %u: identity unmap [0x%llx, 0x%llx): no memory to split superpages at its edges",
                     domain.id(), printable(start), printable(end));
        return reserved;
    }
    const Status unmapped = unmap_tables(domain, owner.start, owner.last - owner.start + 1, reserve, batch);
    region = IdentityRegion{};
    owner = IdentityRegion{};
    return unmapped;
}

}  // namespace sluice::passthrough
