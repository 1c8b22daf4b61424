// Sets of physical address ranges, kept as sorted, disjoint, coalesced
// [start, end) byte ranges in storage the caller provides.
//
// The hardware-domain IOMMU policy and the PV page-type checks are set
// algebra over the memory map (RAM plus reserved, minus the hypervisor's
// memory, minus MMIO that dom0 may not reach...). Doing it per page costs minutes on a large host; doing
// it on ranges costs a few hundred merge steps whatever the memory size.
//
// Rules every operation keeps:
// - No allocation: the set lives in a Span<AddressRange> handed to the
//   constructor (FixedRangeSet<N> bundles an array for convenience).
// - Work is counted in ranges, never in pages, and done in place: an
//   operation with one range is a binary search and one shift of the ranges
//   after it; an operation with a whole set is one merge, linear in the
//   ranges of both.
// - An operation whose result would not fit fails with Error::capacity and
//   leaves the set exactly as it was; the capacity needed is the size of the
//   result, never of some intermediate state.
// - Ranges are byte addresses with an exclusive end, so the last byte of the
//   64-bit space cannot be described; physical addresses stop at 2^52.
#pragma once

#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice {

struct AddressRange {
    PhysicalAddress start = 0;
    PhysicalAddress end = 0;  // one past the last byte

    [[nodiscard]] constexpr uint64_t length() const { return end > start ? end - start : 0; }
    [[nodiscard]] constexpr bool empty() const { return end <= start; }
    [[nodiscard]] constexpr bool contains(PhysicalAddress address) const { return address >= start && address < end; }
    // True when every byte of other lies in this range (an empty other is contained).
    [[nodiscard]] constexpr bool contains(AddressRange other) const {
        return other.empty() || (other.start >= start && other.end <= end);
    }
    [[nodiscard]] constexpr bool overlaps(AddressRange other) const {
        return !empty() && !other.empty() && other.start < end && start < other.end;
    }
    friend constexpr bool operator==(AddressRange, AddressRange) = default;
};

// The smallest page-aligned range holding every byte of range.
[[nodiscard]] constexpr AddressRange round_outward(AddressRange range) {
    if (range.empty()) return AddressRange{};
    return AddressRange{range.start & ~page_mask, (range.end + page_mask) & ~page_mask};
}

// The largest page-aligned range inside range (empty if it holds no whole page).
[[nodiscard]] constexpr AddressRange round_inward(AddressRange range) {
    if (range.empty()) return AddressRange{};
    const PhysicalAddress start = (range.start + page_mask) & ~page_mask;
    const PhysicalAddress end = range.end & ~page_mask;
    return start < end ? AddressRange{start, end} : AddressRange{};
}

class RangeSet {
public:
    // A set that can hold storage.size() ranges. It is empty to begin with;
    // whatever storage held is ignored.
    explicit constexpr RangeSet(Span<AddressRange> storage) : storage_(storage) {}

    // Sets refer to their storage: copying or moving one would alias it.
    RangeSet(const RangeSet&) = delete;
    RangeSet& operator=(const RangeSet&) = delete;

    // Adds every byte of range. An empty range is a no-op; a range whose end
    // lies before its start is refused with Error::invalid_argument.
    [[nodiscard]] Status add(AddressRange range);
    // Removes every byte of range; removing from the middle of a range splits it.
    [[nodiscard]] Status remove(AddressRange range);
    // Keeps only the bytes inside range. Never grows the set, so never fails
    // for capacity; an inverted range is refused with Error::invalid_argument.
    [[nodiscard]] Status intersect(AddressRange range);

    // The same three operations with a whole set: one merge pass each.
    // other may be this set itself.
    [[nodiscard]] Status add(const RangeSet& other);
    [[nodiscard]] Status remove(const RangeSet& other);
    [[nodiscard]] Status intersect(const RangeSet& other);

    // Replaces the contents with a copy of other's.
    [[nodiscard]] Status assign(const RangeSet& other);
    void clear() { count_ = 0; }

    // Lookups are binary searches.
    [[nodiscard]] bool contains(PhysicalAddress address) const;
    // True when every byte of range is in the set (an empty range always is).
    [[nodiscard]] bool contains(AddressRange range) const;
    // True when at least one byte of range is in the set.
    [[nodiscard]] bool intersects(AddressRange range) const;

    [[nodiscard]] size_t count() const { return count_; }
    [[nodiscard]] size_t capacity() const { return storage_.size(); }
    [[nodiscard]] bool empty() const { return count_ == 0; }
    // Bytes covered by the set.
    [[nodiscard]] uint64_t total_length() const;

    [[nodiscard]] Span<const AddressRange> ranges() const { return Span<const AddressRange>(storage_.data(), count_); }
    [[nodiscard]] const AddressRange* begin() const { return storage_.data(); }
    [[nodiscard]] const AddressRange* end() const { return storage_.data() + count_; }
    [[nodiscard]] const AddressRange& operator[](size_t index) const { return storage_[index]; }

    friend bool operator==(const RangeSet& first, const RangeSet& second);

private:
    Status unite(const AddressRange* other, size_t other_count);
    Status subtract_or_intersect(const AddressRange* other, size_t other_count, bool intersecting);

    Span<AddressRange> storage_;
    size_t count_ = 0;
};

// A RangeSet with its storage inside. Not copyable or movable either.
template <size_t Capacity> class FixedRangeSet : public RangeSet {
public:
    FixedRangeSet() : RangeSet(Span<AddressRange>(ranges_, Capacity)) {}

private:
    AddressRange ranges_[Capacity];
};

}  // namespace sluice

// The set began as part of passthrough, whose code and users still spell
// these passthrough::; the names are sluice's (mm/ is below both).
namespace sluice::passthrough {
using sluice::AddressRange;
using sluice::FixedRangeSet;
using sluice::RangeSet;
using sluice::round_inward;
using sluice::round_outward;
}  // namespace sluice::passthrough
