// The batch: what a series of page-table changes needs flushed, gathered so
// that one commit() issues one invalidation per unit.
//
// Map and unmap never invalidate. They record the input-address range they
// changed, how (entries added, present entries modified, paging-structure
// entries changed) and which table pages they unlinked. commit() then asks
// each unit the domain uses for the smallest invalidation that is correct,
// waits for all of them, and only then hands the unlinked table pages back to
// the allocator: until the invalidation completed, a unit may still walk a
// stale cached pointer into those pages.
//
// The batch has a fixed capacity and never allocates. When its list of pages
// to release is full it commits early (one extra invalidation per unit)
// rather than grow.
#pragma once

#include <mm/paging/paging.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::paging {

// What a unit's invalidation hardware can do, as its driver read it from the
// capability registers.
struct InvalidationCapabilities {
    // The unit may cache not-present and erroneous entries, so even a change
    // that only adds entries needs an invalidation: VT-d CAP.CM (Caching
    // Mode, VT-d spec 11.4.2, "Capability Register"), AMD NpCache (IOMMU
    // Capability Header bit 26).
    bool caches_not_present = false;
    // Page-selective invalidation exists: VT-d CAP.PSI; always on AMD.
    bool page_selective = true;
    // Largest order (log2 of a count of 4 KiB pages) one page-selective
    // invalidation may cover: VT-d CAP.MAMV; for AMD the size-encoded address
    // of INVALIDATE_IOMMU_PAGES (AMD IOMMU spec 2.4.3) reaches every power of
    // two, so its driver reports 52.
    uint8_t max_page_order = 0;
};

// One IOMMU unit's (or a processor's EPT/NPT TLB's) invalidation interface.
// The driver queues descriptors in invalidate_*() and waits in wait(), with
// its own time limit: a unit that never completes must not hang the host
// (Xen advisory XSA-373).
class InvalidationUnit {
public:
    [[nodiscard]] virtual InvalidationCapabilities invalidation_capabilities() const = 0;

    // Invalidates cached translations of domain_id for the naturally aligned
    // block [address, address + (4 KiB << order)). leaf_only says that no
    // paging-structure (non-leaf) entry changed inside the block, so the
    // unit may keep its paging-structure caches: VT-d "IOTLB Invalidate
    // Descriptor" IH = 1 (VT-d spec 6.5.2.3); AMD INVALIDATE_IOMMU_PAGES
    // with PDE = 0. When it is false the unit must also drop every cached
    // paging-structure entry used to translate any address in the block.
    [[nodiscard]] virtual Status invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order,
                                                  bool leaf_only) = 0;
    // Invalidates every cached translation and paging-structure entry of
    // domain_id (VT-d domain-selective IOTLB invalidation; AMD
    // INVALIDATE_IOMMU_PAGES with the all-addresses encoding).
    [[nodiscard]] virtual Status invalidate_domain(uint16_t domain_id) = 0;
    // Returns once every invalidation queued so far completed, or an error
    // (Error::timed_out, Error::hardware_failure) when the unit failed to.
    [[nodiscard]] virtual Status wait() = 0;

protected:
    ~InvalidationUnit() = default;
};

// A unit together with the domain identifier the domain has on that unit
// (VT-d and AMD identifiers are per unit).
struct UnitAttachment {
    InvalidationUnit* unit = nullptr;
    uint16_t domain_id = 0;
};

// The units whose caches may hold a domain's translations. Fixed capacity.
class InvalidationTargets {
public:
    static constexpr size_t capacity = 16;

    // Adds the unit; attaching the same unit again (with the same identifier)
    // is a no-op. Error::capacity when full, Error::already_exists when the
    // unit is attached with a different identifier.
    [[nodiscard]] Status attach(InvalidationUnit& unit, uint16_t domain_id);
    // Error::not_found when the unit is not attached.
    [[nodiscard]] Status detach(InvalidationUnit& unit);
    [[nodiscard]] bool contains(const InvalidationUnit& unit) const;
    [[nodiscard]] Span<const UnitAttachment> attachments() const {
        return Span<const UnitAttachment>(attachments_, count_);
    }

private:
    UnitAttachment attachments_[capacity];
    size_t count_ = 0;
};

// What a recorded change did; several are OR-ed together.
enum class Change : uint8_t {
    none = 0,
    // A not-present entry became present.
    added = 1,
    // A present entry changed (address, permissions: Xen advisory XSA-275)
    // or was removed.
    modified = 2,
    // A paging-structure (non-leaf) entry was written: a table linked, a
    // superpage split or merged, an empty table removed.
    structure = 4,
};
[[nodiscard]] constexpr Change operator|(Change first, Change second) {
    return static_cast<Change>(static_cast<uint8_t>(first) | static_cast<uint8_t>(second));
}
constexpr Change& operator|=(Change& first, Change second) { return first = first | second; }
[[nodiscard]] constexpr bool has(Change set, Change flag) {
    return (static_cast<uint8_t>(set) & static_cast<uint8_t>(flag)) != 0;
}

// How commit() treated one unit; exposed for tests and statistics.
enum class InvalidationKind : uint8_t { none, pages, domain };

class Batch {
public:
    // Table pages a batch holds before it must commit early.
    static constexpr size_t release_capacity = 256;

    struct Statistics {
        uint64_t commits = 0;         // commits that invalidated or released anything
        uint64_t early_commits = 0;   // of which forced by a full release list
        uint64_t page_invalidations = 0;
        uint64_t domain_invalidations = 0;
        uint64_t pages_released = 0;
        uint64_t pages_leaked = 0;    // withheld after a failed invalidation
    };

    // The batch invalidates on the units in `targets` as they are at commit
    // time; the targets object must outlive the batch.
    explicit Batch(const InvalidationTargets& targets) : targets_(&targets) {}
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    // A batch destroyed with work pending commits it and logs an error: the
    // owner should have called commit() and looked at the result.
    ~Batch();

    // Records that entries translating [start, last] changed as `change`
    // says, using leaves as small as `smallest_leaf_order`.
    void record(uint64_t start, uint64_t last, Change change, unsigned smallest_leaf_order) {
        if (change == Change::none) return;
        if (!has_range_) {
            start_ = start;
            last_ = last;
            has_range_ = true;
        } else {
            start_ = min(start_, start);
            last_ = max(last_, last);
        }
        changes_ |= change;
        if (smallest_leaf_order < smallest_leaf_order_) smallest_leaf_order_ = static_cast<uint8_t>(smallest_leaf_order);
    }

    // Takes a table page that is no longer linked into any table; it goes
    // back to `allocator` after the next invalidation completed. The change
    // that unlinked it must have been recorded first. May commit early.
    void defer_release(PhysicalAddress page, PageAllocator& allocator);

    // Issues the invalidations, waits for them and releases the deferred
    // pages. On a failed invalidation the pages are leaked (and counted), the
    // failure is logged, and the first error is returned; the batch is empty
    // afterwards either way. An early commit's failure is reported here too.
    [[nodiscard]] Status commit();

    [[nodiscard]] bool empty() const { return !has_range_ && release_count_ == 0; }
    [[nodiscard]] const InvalidationTargets& targets() const { return *targets_; }
    [[nodiscard]] Change changes() const { return changes_; }
    [[nodiscard]] uint64_t range_start() const { return start_; }
    [[nodiscard]] uint64_t range_last() const { return last_; }
    [[nodiscard]] unsigned smallest_leaf_order() const { return smallest_leaf_order_; }
    [[nodiscard]] size_t pending_releases() const { return release_count_; }
    [[nodiscard]] const Statistics& statistics() const { return statistics_; }

    // The invalidation commit() would choose for a unit with `capabilities`
    // for the pending changes; for pages, *address and *order receive the
    // block. Exposed so tests can check the choice itself.
    [[nodiscard]] InvalidationKind choose(const InvalidationCapabilities& capabilities, uint64_t* address,
                                          unsigned* order) const;

private:
    void reset_changes();

    const InvalidationTargets* targets_;
    uint64_t start_ = 0;
    uint64_t last_ = 0;
    bool has_range_ = false;
    Change changes_ = Change::none;
    uint8_t smallest_leaf_order_ = 0xff;
    Status deferred_error_{};
    PageAllocator* release_allocator_ = nullptr;
    size_t release_count_ = 0;
    PhysicalAddress releases_[release_capacity];
    Statistics statistics_{};
};

}  // namespace sluice::paging
