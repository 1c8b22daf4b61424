// The physical page allocator: hands out 4 KiB machine frames from the RAM
// the memory map describes, minus everything that must never be reused (the
// image, boot modules, the boot information, the first MiB, firmware
// regions). Its bookkeeping is two bitmaps placed at initialisation in RAM
// it then keeps for itself, so it allocates nothing hidden and works before
// any heap exists.
#pragma once

#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice {

// A span of physical addresses, [base, base + length).
struct PhysicalRange {
    PhysicalAddress base = 0;
    uint64_t length = 0;

    [[nodiscard]] constexpr PhysicalAddress end() const { return base + length; }
    [[nodiscard]] constexpr bool contains(PhysicalAddress address) const { return address >= base && address - base < length; }
    [[nodiscard]] constexpr bool overlaps(PhysicalAddress other_base, uint64_t other_length) const {
        return length != 0 && other_length != 0 && other_base < end() && base < other_base + other_length;
    }
};

struct PageAllocatorStatistics {
    uint64_t managed_pages = 0;       // pages that may ever be handed out
    uint64_t free_pages = 0;          // of those, currently free
    uint64_t metadata_pages = 0;      // the allocator's own bitmaps
    uint64_t allocations = 0;         // successful allocate_* calls
    uint64_t frees = 0;               // accepted free_* calls
    uint64_t failed_allocations = 0;  // allocate_* calls that found nothing
    uint64_t rejected_frees = 0;      // frees of pages that were not allocated (each logged)
};

class PhysicalPageAllocator final : public PageAllocator {
public:
    // Nothing below 1 MiB is ever handed out: real-mode structures, the
    // EBDA, legacy DMA limits and firmware leftovers live there.
    static constexpr PhysicalAddress lowest_allocatable_address = 1 * MiB;
    static constexpr PhysicalAddress no_limit = ~PhysicalAddress{0};

    constexpr PhysicalPageAllocator() = default;

    // Builds the bitmaps from map (sanitized: sorted, merged) and the ranges
    // that must never be handed out. The bitmaps go into the first free RAM
    // that lies entirely below metadata_limit (so the caller can reach them
    // through memory). Fails with Error::not_found when the map has no RAM
    // above 1 MiB, Error::out_of_memory when the bitmaps fit nowhere, and
    // Error::already_exists when called twice.
    [[nodiscard]] Status initialize(PhysicalMemory& memory, const MemoryMap& map, Span<const PhysicalRange> excluded,
                                    PhysicalAddress metadata_limit = no_limit);

    // One page; contents are not cleared (callers zero what they need).
    [[nodiscard]] Result<PhysicalAddress> allocate_page() override;
    // A refused free (not allocated, double free, outside managed memory)
    // is logged and counted, never acted on.
    void free_page(PhysicalAddress page) override;

    // count physically contiguous pages whose first address is a multiple of
    // alignment (a power of two, at least page_size) and whose last byte lies
    // below limit. Error::invalid_argument for a zero count or bad alignment,
    // Error::out_of_memory when no such run is free.
    [[nodiscard]] Result<PhysicalAddress> allocate_contiguous(uint64_t count, uint64_t alignment = page_size,
                                                              PhysicalAddress limit = no_limit) override;
    // Frees count pages from base, each checked as free_page() does.
    void free_contiguous(PhysicalAddress base, uint64_t count);

    // A page the allocator may hand out (RAM above 1 MiB, not excluded, not its bitmaps).
    [[nodiscard]] bool is_managed(PhysicalAddress page) const;
    // A managed page that is currently free.
    [[nodiscard]] bool is_free(PhysicalAddress page) const;

    // Calls visitor(PhysicalRange) for each maximal run of managed pages that
    // are handed out now, in address order. Scans the bitmaps a word (64
    // pages) at a time, so a large host costs bitmap words, not pages.
    template <typename Visitor> void for_each_allocated_run(Visitor&& visitor) const;

    [[nodiscard]] bool initialized() const { return memory_ != nullptr; }
    // Where the bitmaps live (excluded from allocation).
    [[nodiscard]] PhysicalRange metadata() const { return metadata_; }
    // The span the bitmaps describe: the lowest to the highest allocatable page.
    [[nodiscard]] PhysicalRange span() const { return PhysicalRange{first_page_, page_count_ * page_size}; }
    [[nodiscard]] const PageAllocatorStatistics& statistics() const { return statistics_; }

private:
    static constexpr uint64_t bits_per_word = 64;
    static constexpr uint64_t not_found = ~uint64_t{0};

    [[nodiscard]] PhysicalAddress word_address(PhysicalAddress bitmap, uint64_t word) const { return bitmap + word * 8; }
    [[nodiscard]] bool test_bit(PhysicalAddress bitmap, uint64_t index) const;
    void assign_bits(PhysicalAddress bitmap, uint64_t first, uint64_t count, bool value);
    // The first index in [first, first + count) whose free bit is clear, or not_found.
    [[nodiscard]] uint64_t first_unavailable(uint64_t first, uint64_t count) const;
    // The first free index in [first, end), or not_found.
    [[nodiscard]] uint64_t first_free(uint64_t first, uint64_t end) const;
    [[nodiscard]] bool page_index(PhysicalAddress page, uint64_t& index) const;
    [[nodiscard]] bool release(PhysicalAddress page);

    PhysicalMemory* memory_ = nullptr;
    PhysicalAddress first_page_ = 0;
    uint64_t page_count_ = 0;
    uint64_t word_count_ = 0;
    // Bit set: the page may be handed out at all.
    PhysicalAddress managed_bitmap_ = 0;
    // Bit set: the page is free now. Always a subset of the managed bitmap.
    PhysicalAddress free_bitmap_ = 0;
    PhysicalRange metadata_{};
    // The word where the last single-page search succeeded (next fit).
    uint64_t search_hint_ = 0;
    PageAllocatorStatistics statistics_{};
};

template <typename Visitor> void PhysicalPageAllocator::for_each_allocated_run(Visitor&& visitor) const {
    if (memory_ == nullptr) return;
    uint64_t run_start = 0;
    bool in_run = false;
    for (uint64_t word = 0; word < word_count_; ++word) {
        const uint64_t allocated =
            memory_->read64(word_address(managed_bitmap_, word)) & ~memory_->read64(word_address(free_bitmap_, word));
        // Whole words that continue the current state need no bit loop.
        if (allocated == (in_run ? ~uint64_t{0} : uint64_t{0})) continue;
        for (uint64_t bit = 0; bit < bits_per_word; ++bit) {
            const bool used = (allocated >> bit) & 1;
            const uint64_t index = word * bits_per_word + bit;
            if (used && !in_run) run_start = index;
            if (!used && in_run)
                visitor(PhysicalRange{first_page_ + run_start * page_size, (index - run_start) * page_size});
            in_run = used;
        }
    }
    if (in_run) {
        // Bits past page_count_ in the last word are never managed, so a run
        // still open here ends at the last page.
        visitor(PhysicalRange{first_page_ + run_start * page_size, (page_count_ - run_start) * page_size});
    }
}

}  // namespace sluice
