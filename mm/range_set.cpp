#include <mm/range_set.hpp>

#include <sluice/utility.hpp>

// How the whole-set operations stay in place without scratch storage.
//
// A merge that writes its output over its own input is safe in one
// direction only: going forward when no input range yields more than one
// output range, going backward when none yields fewer than one. Union,
// difference and intersection each do both, so each runs in two passes:
// 1. forward, "compaction": every range of this set is replaced by the hull
//    of what the operation keeps of it (or dropped when nothing is kept);
//    union instead merges each range with everything of the other set that
//    touches it. At most one output per input, so writing forward is safe.
// 2. backward, "expansion": each hull is split into the exact pieces (union
//    inserts the ranges of the other set that touched nothing). At least one
//    output per input, so writing backward from the final size is safe.
// A first read-only pass counts the final size, so a result that cannot fit
// is refused before anything is written.

namespace sluice {
namespace {

// Index of the first range ending after address (count when none does).
size_t first_ending_after(const AddressRange* ranges, size_t count, PhysicalAddress address) {
    size_t low = 0;
    size_t high = count;
    while (low < high) {
        const size_t middle = low + (high - low) / 2;
        if (ranges[middle].end <= address) low = middle + 1;
        else high = middle;
    }
    return low;
}

// Index of the first range starting at or after address (or strictly after
// it, when after is set); count when none does.
size_t first_starting_from(const AddressRange* ranges, size_t count, PhysicalAddress address, bool after = false) {
    size_t low = 0;
    size_t high = count;
    while (low < high) {
        const size_t middle = low + (high - low) / 2;
        if (ranges[middle].start < address || (after && ranges[middle].start == address)) low = middle + 1;
        else high = middle;
    }
    return low;
}

// Moves ranges[from, count) to start at index to (either direction).
void move_tail(AddressRange* ranges, size_t count, size_t from, size_t to) {
    if (to < from) {
        for (size_t index = from; index < count; ++index) ranges[index - from + to] = ranges[index];
    } else if (to > from) {
        for (size_t index = count; index > from; --index) ranges[index - 1 - from + to] = ranges[index - 1];
    }
}

// Calls emit with each piece of range left by subtracting (or intersecting
// with) the sorted set other, in ascending order. first is where the search
// of other starts; it moves forward monotonically over successive calls with
// ascending ranges, which keeps a whole pass linear.
template <typename Emit>
void pieces_forward(AddressRange range, const AddressRange* other, size_t other_count, size_t& first,
                    bool intersecting, Emit&& emit) {
    while (first < other_count && other[first].end <= range.start) ++first;
    PhysicalAddress cursor = range.start;
    for (size_t index = first; index < other_count && other[index].start < range.end; ++index) {
        const AddressRange& piece_of_other = other[index];
        if (intersecting) {
            emit(AddressRange{max(range.start, piece_of_other.start), min(range.end, piece_of_other.end)});
        } else {
            if (piece_of_other.start > cursor) emit(AddressRange{cursor, piece_of_other.start});
            cursor = piece_of_other.end;
        }
    }
    if (!intersecting && cursor < range.end) emit(AddressRange{cursor, range.end});
}

// The same pieces in descending order. limit: only other[0, limit) is still
// of interest; it moves backward over successive calls with descending ranges.
template <typename Emit>
void pieces_backward(AddressRange range, const AddressRange* other, size_t& limit, bool intersecting, Emit&& emit) {
    while (limit > 0 && other[limit - 1].start >= range.end) --limit;
    PhysicalAddress cursor = range.end;
    for (size_t index = limit; index > 0 && other[index - 1].end > range.start; --index) {
        const AddressRange& piece_of_other = other[index - 1];
        if (intersecting) {
            emit(AddressRange{max(range.start, piece_of_other.start), min(range.end, piece_of_other.end)});
        } else {
            if (piece_of_other.end < cursor) emit(AddressRange{piece_of_other.end, cursor});
            cursor = piece_of_other.start;
        }
    }
    if (!intersecting && cursor > range.start) emit(AddressRange{range.start, cursor});
}

// Merges two sorted sets by start and calls emit(component, holds_first)
// for each maximal run of overlapping or touching ranges, in ascending
// order; holds_first says whether the run contains a range of first.
// Each range of first is read before any emit that could overwrite it: the
// k-th run holding a range of first is emitted only after at least k + 1
// ranges of first have been read.
template <typename Emit>
void merge_components(const AddressRange* first, size_t first_count, const AddressRange* second, size_t second_count,
                      Emit&& emit) {
    size_t first_index = 0;
    size_t second_index = 0;
    bool open = false;
    bool holds_first = false;
    AddressRange current{};
    while (first_index < first_count || second_index < second_count) {
        const bool take_first = second_index == second_count ||
                                (first_index < first_count && first[first_index].start <= second[second_index].start);
        const AddressRange next = take_first ? first[first_index++] : second[second_index++];
        if (open && next.start <= current.end) {
            current.end = max(current.end, next.end);
            holds_first = holds_first || take_first;
            continue;
        }
        if (open) emit(current, holds_first);
        current = next;
        holds_first = take_first;
        open = true;
    }
    if (open) emit(current, holds_first);
}

}  // namespace

Status RangeSet::unite(const AddressRange* other, size_t other_count) {
    if (other_count == 0) return success();
    AddressRange* const data = storage_.data();

    size_t total = 0;
    merge_components(data, count_, other, other_count, [&](AddressRange, bool) { ++total; });
    if (total > capacity()) return Error::capacity;

    // Pass 1: every run holding one of our ranges, written forward.
    size_t compacted = 0;
    merge_components(data, count_, other, other_count, [&](AddressRange component, bool holds_ours) {
        if (holds_ours) data[compacted++] = component;
    });

    // Pass 2: interleave the ranges of other that touched none of ours,
    // writing backward from the final size. A range of other lying inside
    // one of the (now merged) ranges is already accounted for.
    size_t position = total;
    size_t ours = compacted;
    size_t theirs = other_count;
    while (theirs > 0 || ours > 0) {
        if (theirs > 0 && (ours == 0 || other[theirs - 1].start >= data[ours - 1].start)) {
            const AddressRange candidate = other[--theirs];
            if (ours > 0 && candidate.end <= data[ours - 1].end) continue;  // merged already
            data[--position] = candidate;
        } else {
            const AddressRange kept = data[--ours];
            data[--position] = kept;
        }
    }
    count_ = total;
    return success();
}

Status RangeSet::subtract_or_intersect(const AddressRange* other, size_t other_count, bool intersecting) {
    if (count_ == 0) return success();
    if (other_count == 0) {
        if (intersecting) count_ = 0;
        return success();
    }
    AddressRange* const data = storage_.data();

    size_t total = 0;
    size_t first = 0;
    for (size_t index = 0; index < count_; ++index)
        pieces_forward(data[index], other, other_count, first, intersecting, [&](AddressRange) { ++total; });
    if (total > capacity()) return Error::capacity;

    // Pass 1: the hull of the pieces of each range. Each hull starts and
    // ends with a piece, so pass 2 finds at least one piece in it.
    size_t compacted = 0;
    first = 0;
    for (size_t index = 0; index < count_; ++index) {
        const AddressRange range = data[index];
        AddressRange hull{};
        bool any = false;
        pieces_forward(range, other, other_count, first, intersecting, [&](AddressRange piece) {
            if (!any) hull.start = piece.start;
            hull.end = piece.end;
            any = true;
        });
        if (any) data[compacted++] = hull;
    }

    // Pass 2: split the hulls into their pieces, backward.
    size_t position = total;
    size_t limit = other_count;
    for (size_t index = compacted; index > 0; --index) {
        const AddressRange hull = data[index - 1];
        pieces_backward(hull, other, limit, intersecting, [&](AddressRange piece) { data[--position] = piece; });
    }
    count_ = total;
    return success();
}

// The single-range operations touch only the ranges the argument overlaps
// (found by binary search) and shift the rest once: O(log n) plus one move.

Status RangeSet::add(AddressRange range) {
    if (range.end < range.start) return Error::invalid_argument;
    if (range.empty()) return success();
    AddressRange* const data = storage_.data();
    // [first, last): the ranges range overlaps or touches, which it absorbs.
    size_t first = first_ending_after(data, count_, range.start);
    if (first > 0 && data[first - 1].end == range.start) --first;
    const size_t last = first_starting_from(data, count_, range.end, true);
    if (first == last) {
        if (count_ == capacity()) return Error::capacity;
        move_tail(data, count_, first, first + 1);
        data[first] = range;
        ++count_;
        return success();
    }
    const AddressRange merged{min(range.start, data[first].start), max(range.end, data[last - 1].end)};
    data[first] = merged;
    move_tail(data, count_, last, first + 1);
    count_ -= last - first - 1;
    return success();
}

Status RangeSet::remove(AddressRange range) {
    if (range.end < range.start) return Error::invalid_argument;
    if (range.empty()) return success();
    AddressRange* const data = storage_.data();
    // [first, last): the ranges range overlaps.
    const size_t first = first_ending_after(data, count_, range.start);
    const size_t last = first_starting_from(data, count_, range.end);
    if (first == last) return success();
    const AddressRange before{data[first].start, range.start};
    const AddressRange after{range.end, data[last - 1].end};
    const size_t kept = (before.empty() ? 0 : 1) + (after.empty() ? 0 : 1);
    if (count_ - (last - first) + kept > capacity()) return Error::capacity;
    move_tail(data, count_, last, first + kept);
    size_t position = first;
    if (!before.empty()) data[position++] = before;
    if (!after.empty()) data[position] = after;
    count_ = count_ - (last - first) + kept;
    return success();
}

Status RangeSet::intersect(AddressRange range) {
    if (range.end < range.start) return Error::invalid_argument;
    AddressRange* const data = storage_.data();
    const size_t first = range.empty() ? count_ : first_ending_after(data, count_, range.start);
    const size_t last = range.empty() ? count_ : first_starting_from(data, count_, range.end);
    if (first == last) {
        count_ = 0;
        return success();
    }
    move_tail(data, last, first, 0);
    count_ = last - first;
    data[0].start = max(data[0].start, range.start);
    data[count_ - 1].end = min(data[count_ - 1].end, range.end);
    return success();
}

Status RangeSet::add(const RangeSet& other) {
    if (&other == this) return success();
    return unite(other.storage_.data(), other.count_);
}

Status RangeSet::remove(const RangeSet& other) {
    if (&other == this) {
        count_ = 0;
        return success();
    }
    return subtract_or_intersect(other.storage_.data(), other.count_, false);
}

Status RangeSet::intersect(const RangeSet& other) {
    if (&other == this) return success();
    return subtract_or_intersect(other.storage_.data(), other.count_, true);
}

Status RangeSet::assign(const RangeSet& other) {
    if (&other == this) return success();
    if (other.count_ > capacity()) return Error::capacity;
    for (size_t index = 0; index < other.count_; ++index) storage_[index] = other.storage_[index];
    count_ = other.count_;
    return success();
}

bool RangeSet::contains(PhysicalAddress address) const {
    const size_t index = first_ending_after(storage_.data(), count_, address);
    return index < count_ && storage_[index].start <= address;
}

bool RangeSet::contains(AddressRange range) const {
    if (range.empty()) return true;
    const size_t index = first_ending_after(storage_.data(), count_, range.start);
    return index < count_ && storage_[index].start <= range.start && range.end <= storage_[index].end;
}

bool RangeSet::intersects(AddressRange range) const {
    if (range.empty()) return false;
    const size_t index = first_ending_after(storage_.data(), count_, range.start);
    return index < count_ && storage_[index].start < range.end;
}

uint64_t RangeSet::total_length() const {
    uint64_t total = 0;
    for (size_t index = 0; index < count_; ++index) total += storage_[index].length();
    return total;
}

bool operator==(const RangeSet& first, const RangeSet& second) {
    if (first.count_ != second.count_) return false;
    for (size_t index = 0; index < first.count_; ++index)
        if (!(first.storage_[index] == second.storage_[index])) return false;
    return true;
}

}  // namespace sluice
