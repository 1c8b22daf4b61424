#include <mm/paging/batch.hpp>

#include <sluice/log.hpp>

namespace sluice::paging {

namespace {
constexpr Logger logger{"iommu"};
}  // namespace

Status InvalidationTargets::attach(InvalidationUnit& unit, uint16_t domain_id) {
    for (size_t index = 0; index < count_; ++index) {
        if (attachments_[index].unit != &unit) continue;
        if (attachments_[index].domain_id == domain_id) return success();
        return Error::already_exists;
    }
    if (count_ == capacity) return Error::capacity;
    attachments_[count_++] = UnitAttachment{&unit, domain_id};
    return success();
}

Status InvalidationTargets::detach(InvalidationUnit& unit) {
    for (size_t index = 0; index < count_; ++index) {
        if (attachments_[index].unit != &unit) continue;
        attachments_[index] = attachments_[count_ - 1];
        --count_;
        return success();
    }
    return Error::not_found;
}

bool InvalidationTargets::contains(const InvalidationUnit& unit) const {
    for (size_t index = 0; index < count_; ++index)
        if (attachments_[index].unit == &unit) return true;
    return false;
}

Batch::~Batch() {
    if (empty() && deferred_error_.ok()) return;
    logger.error("batch destroyed with changes to [0x%llx, 0x%llx] not committed; committing now",
                 static_cast<unsigned long long>(start_), static_cast<unsigned long long>(last_));
    const Status status = commit();
    if (!status.ok()) logger.error("late commit failed: %s", describe(status.error()));
}

void Batch::reset_changes() {
    has_range_ = false;
    start_ = 0;
    last_ = 0;
    changes_ = Change::none;
    smallest_leaf_order_ = 0xff;
}

InvalidationKind Batch::choose(const InvalidationCapabilities& capabilities, uint64_t* address,
                               unsigned* order) const {
    // Entries that were not present cannot be cached unless the unit caches
    // not-present entries; every other change, and any page about to be
    // reused, needs the caches cleaned.
    const bool needed = has(changes_, Change::modified) || release_count_ != 0 ||
                        (has(changes_, Change::added) && capabilities.caches_not_present);
    if (!needed) return InvalidationKind::none;
    if (!has_range_ || !capabilities.page_selective) return InvalidationKind::domain;

    // The smallest naturally aligned power-of-two block of pages covering the
    // recorded range. A range that is not itself such a block gets the
    // covering block: invalidating more than changed is always correct.
    const uint64_t first_page = start_ >> page_shift;
    const uint64_t last_page = last_ >> page_shift;
    const unsigned block_order = first_page == last_page ? 0 : highest_bit(first_page ^ last_page) + 1;
    if (block_order > capabilities.max_page_order || block_order >= 64 - page_shift) return InvalidationKind::domain;
    *order = block_order;
    *address = (first_page >> block_order) << block_order << page_shift;
    return InvalidationKind::pages;
}

Status Batch::commit() {
    Status result = deferred_error_;
    deferred_error_ = success();
    if (empty()) return result;

    // Paging-structure caches may only be kept when no non-leaf entry changed
    // and no table was unlinked (VT-d spec 6.5.2.3, IH; 6.2.4 on the caches
    // for paging structures). Every structural change also records the whole
    // span of the entry it changed, so a page-selective invalidation of the
    // covering block drops every cached pointer into an unlinked table.
    const bool leaf_only = !has(changes_, Change::structure) && release_count_ == 0;

    bool invalidated[InvalidationTargets::capacity] = {};
    bool failed = false;
    const Span<const UnitAttachment> attachments = targets_->attachments();
    for (size_t index = 0; index < attachments.size(); ++index) {
        InvalidationUnit& unit = *attachments[index].unit;
        uint64_t address = 0;
        unsigned order = 0;
        const InvalidationKind kind = choose(unit.invalidation_capabilities(), &address, &order);
        if (kind == InvalidationKind::none) continue;
        const Status issued = kind == InvalidationKind::pages
                                  ? unit.invalidate_pages(attachments[index].domain_id, address, order, leaf_only)
                                  : unit.invalidate_domain(attachments[index].domain_id);
        if (kind == InvalidationKind::pages) ++statistics_.page_invalidations;
        else ++statistics_.domain_invalidations;
        if (!issued.ok()) {
            logger.error("unit %zu: queueing an invalidation for domain %u failed: %s", index,
                         attachments[index].domain_id, describe(issued.error()));
            if (result.ok()) result = issued;
            failed = true;
            continue;
        }
        invalidated[index] = true;
    }
    // Waiting after queueing everything lets the units work in parallel.
    for (size_t index = 0; index < attachments.size(); ++index) {
        if (!invalidated[index]) continue;
        const Status waited = attachments[index].unit->wait();
        if (waited.ok()) continue;
        logger.error("unit %zu: invalidation for domain %u did not complete: %s", index,
                     attachments[index].domain_id, describe(waited.error()));
        if (result.ok()) result = waited;
        failed = true;
    }

    if (failed) {
        // A device may still translate through these pages; reusing them
        // could let it reach whatever the allocator hands them to next.
        if (release_count_ != 0)
            logger.error("withholding %zu page-table pages from reuse after the failed invalidation", release_count_);
        statistics_.pages_leaked += release_count_;
    } else {
        for (size_t index = 0; index < release_count_; ++index) release_allocator_->free_page(releases_[index]);
        statistics_.pages_released += release_count_;
    }
    ++statistics_.commits;
    release_count_ = 0;
    release_allocator_ = nullptr;
    reset_changes();
    return result;
}

void Batch::defer_release(PhysicalAddress page, PageAllocator& allocator) {
    if (release_count_ == release_capacity || (release_allocator_ != nullptr && release_allocator_ != &allocator)) {
        // The change that unlinked `page` is already recorded, so the early
        // commit's invalidation covers it and the page is free to go as soon
        // as that invalidation completed.
        ++statistics_.early_commits;
        const Status status = commit();
        if (status.ok()) {
            allocator.free_page(page);
            ++statistics_.pages_released;
        } else {
            ++statistics_.pages_leaked;
            if (deferred_error_.ok()) deferred_error_ = status;
        }
        return;
    }
    release_allocator_ = &allocator;
    releases_[release_count_++] = page;
}

}  // namespace sluice::paging
