// The physical page allocator against a simulated machine: it must never
// hand out excluded or non-RAM memory, must account for every page, refuse
// bad frees, and find aligned contiguous runs in fragmented memory.
#include <gtest/gtest.h>

#include "mm/page_allocator.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using sluice::Error;
using sluice::MemoryType;
using sluice::MiB;
using sluice::page_size;
using sluice::PhysicalAddress;
using sluice::PhysicalPageAllocator;
using sluice::PhysicalRange;
using sluice::testing::LogCapture;
using sluice::testing::SimulatedMemory;

// 64 MiB of simulated memory with a PC-like map: low RAM, the BIOS hole, RAM
// from 1 MiB with a reserved hole at 48 MiB.
struct Machine {
    SimulatedMemory memory{0, 64 * MiB};
    sluice::MemoryMap map;
    std::vector<PhysicalRange> excluded;

    Machine() {
        EXPECT_TRUE(map.add(0, 0x9fc00, MemoryType::ram).ok());
        EXPECT_TRUE(map.add(0x9fc00, 0x400, MemoryType::reserved).ok());
        EXPECT_TRUE(map.add(0xf0000, 0x10000, MemoryType::reserved).ok());
        EXPECT_TRUE(map.add(1 * MiB, 47 * MiB, MemoryType::ram).ok());
        EXPECT_TRUE(map.add(48 * MiB, 1 * MiB, MemoryType::reserved).ok());
        EXPECT_TRUE(map.add(49 * MiB, 15 * MiB - 0x800, MemoryType::ram).ok());  // ends mid-page
        map.sanitize();
        // The image at 1 MiB, boot information right after it (unaligned), a module.
        excluded.push_back({1 * MiB, 0x34000});
        excluded.push_back({0x134100, 0x1f00});
        excluded.push_back({20 * MiB + 0x123, 3 * MiB});
    }

    [[nodiscard]] bool allowed(PhysicalAddress page) const {
        if (page < 1 * MiB) return false;
        if (!map.covers(page, page_size, MemoryType::ram)) return false;
        for (const PhysicalRange& range : excluded)
            if (range.overlaps(page, page_size)) return false;
        return true;
    }
    [[nodiscard]] uint64_t allowed_pages() const {
        uint64_t count = 0;
        for (PhysicalAddress page = 0; page < 64 * MiB; page += page_size)
            if (allowed(page)) ++count;
        return count;
    }
    sluice::Status initialize(PhysicalPageAllocator& allocator, PhysicalAddress limit = PhysicalPageAllocator::no_limit) {
        return allocator.initialize(memory, map, sluice::Span<const PhysicalRange>(excluded.data(), excluded.size()),
                                    limit);
    }
};

TEST(PageAllocator, PlacesItsBitmapsInFreeRamAndExcludesThem) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    const PhysicalRange metadata = allocator.metadata();
    EXPECT_TRUE(sluice::is_aligned(metadata.base, page_size));
    EXPECT_GE(metadata.base, 1 * MiB);
    EXPECT_TRUE(machine.map.covers(metadata.base, metadata.length, MemoryType::ram));
    for (const PhysicalRange& range : machine.excluded) EXPECT_FALSE(range.overlaps(metadata.base, metadata.length));
    // The first free RAM after the image and the boot information.
    EXPECT_EQ(metadata.base, 0x136000u);
    for (PhysicalAddress page = metadata.base; page < metadata.end(); page += page_size)
        EXPECT_FALSE(allocator.is_managed(page));

    const sluice::PageAllocatorStatistics& statistics = allocator.statistics();
    EXPECT_EQ(statistics.managed_pages, machine.allowed_pages() - statistics.metadata_pages);
    EXPECT_EQ(statistics.free_pages, statistics.managed_pages);
    EXPECT_EQ(allocator.span().base, 1 * MiB);
    EXPECT_EQ(allocator.span().end(), 64 * MiB - page_size);  // the last, partial page is not RAM
}

TEST(PageAllocator, HandsOutEveryAllowedPageOnceAndNothingElse) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    const uint64_t managed = allocator.statistics().managed_pages;
    std::set<PhysicalAddress> seen;
    for (;;) {
        const sluice::Result<PhysicalAddress> page = allocator.allocate_page();
        if (!page.ok()) {
            EXPECT_EQ(page.error(), Error::out_of_memory);
            break;
        }
        ASSERT_TRUE(sluice::is_aligned(page.value(), page_size));
        ASSERT_TRUE(machine.allowed(page.value())) << std::hex << page.value();
        ASSERT_FALSE(allocator.metadata().overlaps(page.value(), page_size)) << std::hex << page.value();
        ASSERT_TRUE(seen.insert(page.value()).second) << "handed out twice: " << std::hex << page.value();
        ASSERT_LE(seen.size(), managed);
    }
    EXPECT_EQ(seen.size(), managed);
    EXPECT_EQ(allocator.statistics().free_pages, 0u);
    EXPECT_EQ(allocator.statistics().failed_allocations, 1u);
    EXPECT_FALSE(allocator.allocate_contiguous(1).ok());

    // Everything comes back and can be handed out again.
    for (const PhysicalAddress page : seen) allocator.free_page(page);
    EXPECT_EQ(allocator.statistics().free_pages, managed);
    EXPECT_EQ(allocator.statistics().rejected_frees, 0u);
    EXPECT_TRUE(allocator.allocate_page().ok());
}

TEST(PageAllocator, RefusesBadFrees) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    LogCapture log;
    const PhysicalAddress page = allocator.allocate_page().value();
    allocator.free_page(page);
    const uint64_t free_pages = allocator.statistics().free_pages;

    allocator.free_page(page);                            // double free
    allocator.free_page(1 * MiB);                         // the image
    allocator.free_page(0x1000);                          // below 1 MiB
    allocator.free_page(48 * MiB);                        // reserved
    allocator.free_page(allocator.metadata().base);       // the bitmaps
    allocator.free_page(page + 8);                        // unaligned
    allocator.free_page(uint64_t{1} << 40);               // far outside
    EXPECT_EQ(allocator.statistics().rejected_frees, 7u);
    EXPECT_EQ(allocator.statistics().free_pages, free_pages);
    EXPECT_EQ(allocator.statistics().frees, 1u);
    EXPECT_TRUE(log.contains("already free (double free)"));
    EXPECT_TRUE(log.contains("free of page 0x100000 refused: not a page this allocator hands out"));

    // Nothing refused became allocatable.
    std::set<PhysicalAddress> seen;
    for (;;) {
        const sluice::Result<PhysicalAddress> next = allocator.allocate_page();
        if (!next.ok()) break;
        ASSERT_TRUE(machine.allowed(next.value()) && !allocator.metadata().overlaps(next.value(), page_size));
    }
}

TEST(PageAllocator, ContiguousRunsAreAlignedAndAvoidExclusions) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    for (const uint64_t alignment : {page_size, 64 * sluice::KiB, 2 * MiB}) {
        const sluice::Result<PhysicalAddress> run = allocator.allocate_contiguous(16, alignment);
        ASSERT_TRUE(run.ok());
        EXPECT_TRUE(sluice::is_aligned(run.value(), alignment));
        for (uint64_t index = 0; index < 16; ++index) {
            EXPECT_TRUE(machine.allowed(run.value() + index * page_size));
            EXPECT_FALSE(allocator.is_free(run.value() + index * page_size));
        }
    }
    // A run can't span the module at 20 MiB or the reserved hole at 48 MiB:
    // the longest free stretch is 24-48 MiB.
    const sluice::Result<PhysicalAddress> large = allocator.allocate_contiguous(26 * MiB / page_size, 2 * MiB);
    EXPECT_FALSE(large.ok());
    // 18 MiB doesn't fit below the module (2 MiB went to the aligned run above).
    const sluice::Result<PhysicalAddress> fits = allocator.allocate_contiguous(18 * MiB / page_size, 2 * MiB);
    ASSERT_TRUE(fits.ok());
    EXPECT_EQ(fits.value(), 24 * MiB);  // the first 2 MiB boundary after the module, which ends at 23 MiB + 0x123

    EXPECT_EQ(allocator.allocate_contiguous(0).error(), Error::invalid_argument);
    EXPECT_EQ(allocator.allocate_contiguous(1, 3 * page_size).error(), Error::invalid_argument);
    EXPECT_EQ(allocator.allocate_contiguous(1, 512).error(), Error::invalid_argument);
}

TEST(PageAllocator, LimitKeepsAllocationsLow) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    uint64_t below = 0;
    for (;;) {
        const sluice::Result<PhysicalAddress> page = allocator.allocate_contiguous(1, page_size, 8 * MiB);
        if (!page.ok()) break;
        ASSERT_LE(page.value() + page_size, 8 * MiB);
        ++below;
    }
    EXPECT_GT(below, 0u);
    EXPECT_FALSE(allocator.allocate_contiguous(1, page_size, 8 * MiB).ok());
    EXPECT_TRUE(allocator.allocate_contiguous(1, page_size, 9 * MiB).ok());
}

TEST(PageAllocator, FragmentationBlocksRunsUntilNeighboursReturn) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    std::vector<PhysicalAddress> pages;
    for (;;) {
        const sluice::Result<PhysicalAddress> page = allocator.allocate_page();
        if (!page.ok()) break;
        pages.push_back(page.value());
    }
    std::sort(pages.begin(), pages.end());
    // Free every other page: half the memory is free, but no two pages touch.
    for (size_t index = 0; index < pages.size(); index += 2) allocator.free_page(pages[index]);
    EXPECT_GT(allocator.statistics().free_pages, 1000u);
    EXPECT_FALSE(allocator.allocate_contiguous(2).ok());
    // Return one neighbour: exactly that pair becomes a run.
    size_t index = 1000;
    while (pages[index + 1] != pages[index] + page_size) index += 2;
    allocator.free_page(pages[index + 1]);
    const sluice::Result<PhysicalAddress> pair = allocator.allocate_contiguous(2);
    ASSERT_TRUE(pair.ok());
    EXPECT_EQ(pair.value(), pages[index]);
}

TEST(PageAllocator, InitializationFailures) {
    {
        SimulatedMemory memory(0, 4 * MiB);
        sluice::MemoryMap map;
        ASSERT_TRUE(map.add(0, 0x9fc00, MemoryType::ram).ok());
        ASSERT_TRUE(map.add(1 * MiB, 3 * MiB, MemoryType::reserved).ok());
        map.sanitize();
        PhysicalPageAllocator allocator;
        LogCapture log;
        EXPECT_EQ(allocator.initialize(memory, map, {}).error(), Error::not_found);
        EXPECT_TRUE(log.contains("no RAM above 1 MiB"));
        EXPECT_FALSE(allocator.allocate_page().ok());
    }
    {
        // All RAM above 1 MiB is excluded: the bitmaps fit nowhere.
        SimulatedMemory memory(0, 4 * MiB);
        sluice::MemoryMap map;
        ASSERT_TRUE(map.add(0, 4 * MiB, MemoryType::ram).ok());
        const PhysicalRange everything{1 * MiB, 3 * MiB};
        PhysicalPageAllocator allocator;
        LogCapture log;
        EXPECT_EQ(allocator.initialize(memory, map, sluice::Span<const PhysicalRange>(&everything, 1)).error(),
                  Error::out_of_memory);
        EXPECT_TRUE(log.contains("bitmaps"));
    }
    {
        Machine machine;
        PhysicalPageAllocator allocator;
        ASSERT_TRUE(machine.initialize(allocator).ok());
        EXPECT_EQ(machine.initialize(allocator).error(), Error::already_exists);
    }
}

TEST(PageAllocator, MetadataLimitAndRamBeyondTheReachableMemory) {
    // RAM up to 6 GiB, but only the first 8 MiB is reachable (simulated);
    // the bitmaps must go below the limit and cover everything.
    SimulatedMemory memory(0, 8 * MiB);
    sluice::MemoryMap map;
    ASSERT_TRUE(map.add(0, 0x9fc00, MemoryType::ram).ok());
    ASSERT_TRUE(map.add(1 * MiB, 7 * MiB, MemoryType::ram).ok());
    ASSERT_TRUE(map.add(4 * sluice::GiB, 2 * sluice::GiB, MemoryType::ram).ok());
    map.sanitize();
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(allocator.initialize(memory, map, {}, 8 * MiB).ok());
    EXPECT_LE(allocator.metadata().end(), 8 * MiB);
    EXPECT_EQ(allocator.statistics().managed_pages,
              (7 * MiB + 2 * sluice::GiB) / page_size - allocator.statistics().metadata_pages);
    const sluice::Result<PhysicalAddress> low = allocator.allocate_contiguous(512, 2 * MiB);
    ASSERT_TRUE(low.ok());
    EXPECT_EQ(low.value(), 2 * MiB);  // the bitmaps took the start of the low RAM
    const uint64_t gigabyte_pages = sluice::GiB / page_size;
    EXPECT_EQ(allocator.allocate_contiguous(gigabyte_pages, sluice::GiB).value(), 4 * sluice::GiB);
    EXPECT_EQ(allocator.allocate_contiguous(gigabyte_pages, sluice::GiB).value(), 5 * sluice::GiB);
    EXPECT_FALSE(allocator.allocate_contiguous(gigabyte_pages, sluice::GiB).ok());

    // Too small a limit for the bitmaps (384 KiB for 6 GiB of pages).
    PhysicalPageAllocator cramped;
    LogCapture log;
    EXPECT_EQ(cramped.initialize(memory, map, {}, 1 * MiB + 64 * sluice::KiB).error(), Error::out_of_memory);
}

TEST(PageAllocator, RandomizedAgainstAReferenceModel) {
    Machine machine;
    PhysicalPageAllocator allocator;
    ASSERT_TRUE(machine.initialize(allocator).ok());
    const char* seed_text = std::getenv("SLUICE_TEST_SEED");
    const uint32_t seed = seed_text ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 0)) : 7u;
    std::mt19937_64 random(seed);
    std::set<PhysicalAddress> allocated;
    std::vector<std::pair<PhysicalAddress, uint64_t>> runs;
    for (int step = 0; step < 20000; ++step) {
        const unsigned action = static_cast<unsigned>(random() % 10);
        if (action < 4) {
            const sluice::Result<PhysicalAddress> page = allocator.allocate_page();
            if (!page.ok()) continue;
            ASSERT_TRUE(machine.allowed(page.value())) << "seed " << seed;
            ASSERT_TRUE(allocated.insert(page.value()).second) << "seed " << seed;
            runs.push_back({page.value(), 1});
        } else if (action < 6) {
            const uint64_t count = 1 + random() % 64;
            const uint64_t alignment = page_size << (random() % 6);
            const sluice::Result<PhysicalAddress> run = allocator.allocate_contiguous(count, alignment);
            if (!run.ok()) continue;
            ASSERT_TRUE(sluice::is_aligned(run.value(), alignment)) << "seed " << seed;
            for (uint64_t index = 0; index < count; ++index) {
                const PhysicalAddress page = run.value() + index * page_size;
                ASSERT_TRUE(machine.allowed(page)) << "seed " << seed;
                ASSERT_TRUE(allocated.insert(page).second) << "seed " << seed;
            }
            runs.push_back({run.value(), count});
        } else if (!runs.empty()) {
            const size_t which = random() % runs.size();
            const auto [base, count] = runs[which];
            runs[which] = runs.back();
            runs.pop_back();
            allocator.free_contiguous(base, count);
            for (uint64_t index = 0; index < count; ++index) allocated.erase(base + index * page_size);
        }
        ASSERT_EQ(allocator.statistics().free_pages, allocator.statistics().managed_pages - allocated.size())
            << "seed " << seed << " step " << step;
        if (step % 500 == 0) {
            // The runs the allocator reports are exactly the model's pages,
            // maximal (never two touching runs) and in address order.
            std::set<PhysicalAddress> reported;
            PhysicalAddress previous_end = 0;
            allocator.for_each_allocated_run([&](const sluice::PhysicalRange& run) {
                EXPECT_GT(run.length, 0u);
                EXPECT_GT(run.base, previous_end) << "runs must be maximal and ordered";
                previous_end = run.end();
                for (PhysicalAddress page = run.base; page < run.end(); page += page_size) reported.insert(page);
            });
            ASSERT_EQ(reported, allocated) << "seed " << seed << " step " << step;
        }
    }
    EXPECT_EQ(allocator.statistics().rejected_frees, 0u);
}

}  // namespace
