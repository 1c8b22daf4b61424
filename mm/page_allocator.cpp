#include "mm/page_allocator.hpp"

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice {
namespace {

constexpr Logger logger{"mm"};

uint64_t word_mask(uint64_t first_bit, uint64_t count) {
    // count bits from first_bit within one 64-bit word (count >= 1).
    const uint64_t ones = count >= 64 ? ~uint64_t{0} : ((uint64_t{1} << count) - 1);
    return ones << first_bit;
}

// The first page-aligned address at or above candidate where [address,
// address + length) avoids every excluded range, stopping at end.
PhysicalAddress skip_excluded(PhysicalAddress candidate, uint64_t length, PhysicalAddress end,
                              Span<const PhysicalRange> excluded) {
    bool moved = true;
    while (moved && candidate + length <= end && candidate + length >= candidate) {
        moved = false;
        for (const PhysicalRange& range : excluded) {
            if (range.overlaps(candidate, length)) {
                candidate = align_up(range.end(), page_size);
                moved = true;
            }
        }
    }
    return candidate;
}

}  // namespace

Status PhysicalPageAllocator::initialize(PhysicalMemory& memory, const MemoryMap& map,
                                         Span<const PhysicalRange> excluded, PhysicalAddress metadata_limit) {
    if (memory_ != nullptr) return Error::already_exists;

    // The span to describe: from the lowest to the highest whole RAM page above 1 MiB.
    PhysicalAddress lowest = no_limit;
    PhysicalAddress highest = 0;
    for (const MemoryRegion& region : map.regions()) {
        if (region.type != MemoryType::ram) continue;
        const PhysicalAddress start = align_up(max(region.base, lowest_allocatable_address), page_size);
        const PhysicalAddress end = align_down(region.end(), page_size);
        if (start >= end) continue;
        lowest = min(lowest, start);
        highest = max(highest, end);
    }
    if (lowest >= highest) {
        logger.error("page allocator: the memory map has no RAM above 1 MiB");
        return Error::not_found;
    }
    const uint64_t page_count = (highest - lowest) / page_size;
    const uint64_t word_count = (page_count + bits_per_word - 1) / bits_per_word;
    const uint64_t metadata_bytes = align_up(2 * word_count * 8, page_size);

    // Place both bitmaps in the first RAM that is free of excluded ranges.
    PhysicalAddress placement = no_limit;
    for (const MemoryRegion& region : map.regions()) {
        if (region.type != MemoryType::ram) continue;
        const PhysicalAddress end = min(align_down(region.end(), page_size), metadata_limit);
        PhysicalAddress candidate = align_up(max(region.base, lowest_allocatable_address), page_size);
        candidate = skip_excluded(candidate, metadata_bytes, end, excluded);
        if (candidate + metadata_bytes >= candidate && candidate + metadata_bytes <= end) {
            placement = candidate;
            break;
        }
    }
    if (placement == no_limit) {
        logger.error("page allocator: no free RAM below 0x%llx holds its %llu KiB of bitmaps",
                     static_cast<unsigned long long>(metadata_limit),
                     static_cast<unsigned long long>(metadata_bytes / KiB));
        return Error::out_of_memory;
    }

    memory_ = &memory;
    first_page_ = lowest;
    page_count_ = page_count;
    word_count_ = word_count;
    managed_bitmap_ = placement;
    free_bitmap_ = placement + word_count * 8;
    metadata_ = PhysicalRange{placement, metadata_bytes};
    search_hint_ = 0;
    statistics_ = PageAllocatorStatistics{};
    statistics_.metadata_pages = metadata_bytes / page_size;

    for (uint64_t word = 0; word < 2 * word_count; ++word) memory.write64(placement + word * 8, 0);

    // Managed = RAM pages above 1 MiB ...
    for (const MemoryRegion& region : map.regions()) {
        if (region.type != MemoryType::ram) continue;
        const PhysicalAddress start = align_up(max(region.base, lowest_allocatable_address), page_size);
        const PhysicalAddress end = align_down(region.end(), page_size);
        if (start >= end) continue;
        assign_bits(managed_bitmap_, (start - first_page_) / page_size, (end - start) / page_size, true);
    }
    // ... minus every page an excluded range touches, and the bitmaps.
    const auto exclude = [this](PhysicalAddress base, uint64_t length) {
        if (length == 0 || base >= first_page_ + page_count_ * page_size) return;
        const PhysicalAddress start = max(align_down(base, page_size), first_page_);
        const PhysicalAddress last = base + length - 1 < base ? no_limit : base + length - 1;
        const PhysicalAddress end = min(align_down(last, page_size) + page_size, first_page_ + page_count_ * page_size);
        if (last < first_page_ || start >= end) return;
        assign_bits(managed_bitmap_, (start - first_page_) / page_size, (end - start) / page_size, false);
    };
    for (const PhysicalRange& range : excluded) exclude(range.base, range.length);
    exclude(metadata_.base, metadata_.length);

    // Everything managed starts free.
    uint64_t managed = 0;
    for (uint64_t word = 0; word < word_count_; ++word) {
        const uint64_t bits = memory.read64(word_address(managed_bitmap_, word));
        memory.write64(word_address(free_bitmap_, word), bits);
        managed += static_cast<uint64_t>(__builtin_popcountll(bits));
    }
    statistics_.managed_pages = managed;
    statistics_.free_pages = managed;
    return success();
}

bool PhysicalPageAllocator::test_bit(PhysicalAddress bitmap, uint64_t index) const {
    return (memory_->read64(word_address(bitmap, index / bits_per_word)) >> (index % bits_per_word)) & 1;
}

void PhysicalPageAllocator::assign_bits(PhysicalAddress bitmap, uint64_t first, uint64_t count, bool value) {
    while (count > 0) {
        const uint64_t word = first / bits_per_word;
        const uint64_t bit = first % bits_per_word;
        const uint64_t take = min(count, bits_per_word - bit);
        const uint64_t mask = word_mask(bit, take);
        const PhysicalAddress address = word_address(bitmap, word);
        const uint64_t old = take == bits_per_word ? 0 : memory_->read64(address);
        memory_->write64(address, value ? (old | mask) : (old & ~mask));
        first += take;
        count -= take;
    }
}

uint64_t PhysicalPageAllocator::first_unavailable(uint64_t first, uint64_t count) const {
    while (count > 0) {
        const uint64_t word = first / bits_per_word;
        const uint64_t bit = first % bits_per_word;
        const uint64_t take = min(count, bits_per_word - bit);
        const uint64_t mask = word_mask(bit, take);
        const uint64_t missing = ~memory_->read64(word_address(free_bitmap_, word)) & mask;
        if (missing != 0) return word * bits_per_word + count_trailing_zeros(missing);
        first += take;
        count -= take;
    }
    return not_found;
}

uint64_t PhysicalPageAllocator::first_free(uint64_t first, uint64_t end) const {
    while (first < end) {
        const uint64_t word = first / bits_per_word;
        const uint64_t bit = first % bits_per_word;
        const uint64_t bits = memory_->read64(word_address(free_bitmap_, word)) & (~uint64_t{0} << bit);
        if (bits != 0) {
            const uint64_t index = word * bits_per_word + count_trailing_zeros(bits);
            return index < end ? index : not_found;
        }
        first = (word + 1) * bits_per_word;
    }
    return not_found;
}

bool PhysicalPageAllocator::page_index(PhysicalAddress page, uint64_t& index) const {
    if (memory_ == nullptr || !is_aligned(page, page_size) || page < first_page_) return false;
    index = (page - first_page_) / page_size;
    return index < page_count_;
}

bool PhysicalPageAllocator::is_managed(PhysicalAddress page) const {
    uint64_t index;
    return page_index(align_down(page, page_size), index) && test_bit(managed_bitmap_, index);
}

bool PhysicalPageAllocator::is_free(PhysicalAddress page) const {
    uint64_t index;
    return page_index(align_down(page, page_size), index) && test_bit(free_bitmap_, index);
}

Result<PhysicalAddress> PhysicalPageAllocator::allocate_page() {
    if (memory_ == nullptr || statistics_.free_pages == 0) {
        ++statistics_.failed_allocations;
        return Error::out_of_memory;
    }
    // Next fit: resume where the last search succeeded, then wrap around.
    const uint64_t hint = search_hint_ * bits_per_word;
    uint64_t index = first_free(hint, page_count_);
    if (index == not_found) index = first_free(0, min(hint, page_count_));
    if (index == not_found) {
        ++statistics_.failed_allocations;
        return Error::out_of_memory;
    }
    search_hint_ = index / bits_per_word;
    assign_bits(free_bitmap_, index, 1, false);
    --statistics_.free_pages;
    ++statistics_.allocations;
    return first_page_ + index * page_size;
}

Result<PhysicalAddress> PhysicalPageAllocator::allocate_contiguous(uint64_t count, uint64_t alignment,
                                                                   PhysicalAddress limit) {
    if (count == 0 || !is_power_of_two(alignment) || alignment < page_size) return Error::invalid_argument;
    if (memory_ == nullptr || count > statistics_.free_pages || count > page_count_) {
        ++statistics_.failed_allocations;
        return Error::out_of_memory;
    }
    const PhysicalAddress span_end = first_page_ + page_count_ * page_size;
    const PhysicalAddress end = min(span_end, limit);
    const uint64_t bytes = count * page_size;
    PhysicalAddress candidate = align_up(first_page_, alignment);
    while (candidate >= first_page_ && candidate < end && end - candidate >= bytes) {
        const uint64_t first = (candidate - first_page_) / page_size;
        // Jump straight to the first free page, then check the whole run.
        const uint64_t free_index = first_free(first, page_count_);
        if (free_index == not_found) break;
        if (free_index != first) {
            candidate = align_up(first_page_ + free_index * page_size, alignment);
            continue;
        }
        const uint64_t blocked = first_unavailable(first, count);
        if (blocked == not_found) {
            assign_bits(free_bitmap_, first, count, false);
            statistics_.free_pages -= count;
            ++statistics_.allocations;
            return candidate;
        }
        candidate = align_up(first_page_ + (blocked + 1) * page_size, alignment);
    }
    ++statistics_.failed_allocations;
    return Error::out_of_memory;
}

bool PhysicalPageAllocator::release(PhysicalAddress page) {
    uint64_t index;
    if (!page_index(page, index) || !test_bit(managed_bitmap_, index)) {
        logger.warning("free of page 0x%llx refused: not a page this allocator hands out",
                       static_cast<unsigned long long>(page));
        ++statistics_.rejected_frees;
        return false;
    }
    if (test_bit(free_bitmap_, index)) {
        logger.warning("free of page 0x%llx refused: it is already free (double free)",
                       static_cast<unsigned long long>(page));
        ++statistics_.rejected_frees;
        return false;
    }
    assign_bits(free_bitmap_, index, 1, true);
    ++statistics_.free_pages;
    return true;
}

void PhysicalPageAllocator::free_page(PhysicalAddress page) {
    if (release(page)) ++statistics_.frees;
}

void PhysicalPageAllocator::free_contiguous(PhysicalAddress base, uint64_t count) {
    bool any = false;
    for (uint64_t index = 0; index < count; ++index) any = release(base + index * page_size) || any;
    if (any) ++statistics_.frees;
}

}  // namespace sluice
