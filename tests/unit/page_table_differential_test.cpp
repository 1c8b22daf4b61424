// Randomized differential tests of the walker: long random sequences of map,
// unmap and remap of mixed sizes and alignments, each step checked against a
// plain interval model through the reference walker (a hardware model).
//
// Replay or lengthen a run with SLUICE_SEED=<seed> SLUICE_OPERATIONS=<count>.
#include "support/page_table_harness.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

namespace sluice::testing {
namespace {

constexpr uint64_t window = 16 * GiB;  // inputs stay below this

struct RangeChoice {
    uint64_t start;
    uint64_t length;
};

// Mixed sizes and alignments, biased towards the edges where leaf sizes
// change.
RangeChoice random_range(std::mt19937_64& random) {
    const unsigned kind = static_cast<unsigned>(random() % 100);
    auto page_in = [&](uint64_t limit) { return (random() % (limit / page_size)) * page_size; };
    uint64_t start = 0, length = 0;
    if (kind < 35) {
        start = page_in(window);
        length = (1 + random() % 4) * page_size;
    } else if (kind < 55) {
        start = page_in(window);
        length = (1 + random() % 600) * page_size;
    } else if (kind < 70) {
        start = (random() % (window / (2 * MiB))) * 2 * MiB;
        length = (1 + random() % 8) * 2 * MiB;
    } else if (kind < 80) {
        // Near a 2 MiB boundary, crossing it.
        start = (random() % (window / (2 * MiB))) * 2 * MiB - (1 + random() % 16) * page_size;
        length = (2 + random() % 2000) * page_size;
    } else if (kind < 88) {
        start = (random() % (window / GiB)) * GiB;
        length = (1 + random() % 2) * GiB;
    } else {
        start = page_in(window);
        length = page_size + page_in(static_cast<uint64_t>(2.5 * GiB));
    }
    start %= window;
    if (start + length > window) length = window - start;
    if (length == 0) length = page_size;
    return {start, length};
}

// A small set of offsets so that adjacent maps often line up (merges) and
// outputs are often superpage-aligned.
// Long ranges keep superpage-congruent outputs: millions of 4 KiB leaves
// would spend the time budget on bulk writes instead of on checking.
uint64_t random_output(std::mt19937_64& random, uint64_t start, uint64_t length) {
    static constexpr uint64_t offsets[] = {0, 3 * GiB, 5 * 2 * MiB, 64 * GiB, 7 * page_size};
    return start + offsets[random() % (length > 16 * MiB ? 4 : 5)];
}

template <typename Case> void run_differential(uint64_t seed, uint64_t operations) {
    SCOPED_TRACE(::testing::Message() << Case::name << " seed " << seed << " (replay: SLUICE_SEED=" << seed << ")");
    PageTableHarness<Case> harness;
    auto& walker = harness.walker();
    auto& model = harness.model();
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    std::mt19937_64 random(seed);
    harness.allocator().fail_allocation(0);
    // The attribute choices for this run, few so that neighbours often match.
    const typename Case::Attributes choices[2] = {Case::random_attributes(random), Case::random_attributes(random)};

    uint64_t maps = 0, unmaps = 0;
    for (uint64_t step = 0; step < operations; ++step) {
        const RangeChoice range = random_range(random);
        const bool map = random() % 100 < 60;
        if (map) {
            const uint64_t output = random_output(random, range.start, range.length);
            const auto attributes = choices[random() % 2];
            const Status status = walker.map(range.start, range.length, output, attributes, harness.allocator(), batch);
            ASSERT_TRUE(status.ok()) << "step " << step << ": map failed: " << describe(status.error());
            model.assign(range.start, range.start + range.length - 1, output, attributes);
            ++maps;
        } else {
            const Status status = walker.unmap(range.start, range.length, harness.allocator(), batch);
            ASSERT_TRUE(status.ok()) << "step " << step << ": unmap failed: " << describe(status.error());
            model.erase(range.start, range.start + range.length - 1);
            ++unmaps;
        }
        if (random() % 4 == 0) ASSERT_TRUE(batch.commit().ok());

        // The changed range densely at its ends and around the leaf-size
        // boundaries inside, sparsely inside, and a few addresses anywhere.
        const uint64_t last = range.start + range.length - 1;
        std::vector<uint64_t> addresses;
        auto add = [&](uint64_t address) {
            if (address < window) addresses.push_back(address & ~page_mask);
        };
        for (uint64_t offset = 0; offset < 4 * page_size; offset += page_size) {
            add(range.start + offset);
            add(last - offset);
        }
        add(range.start - page_size);
        add(last + 1);
        for (uint64_t boundary : {align_up(range.start, 2 * MiB), align_down(last, 2 * MiB), align_up(range.start, GiB),
                                  align_down(last, GiB)}) {
            add(boundary - page_size);
            add(boundary);
        }
        for (int sample = 0; sample < 8; ++sample) add(range.start + random() % range.length);
        for (int sample = 0; sample < 6; ++sample) add(random() % window);
        for (uint64_t address : addresses) {
            const std::string problem = harness.check_address(address);
            ASSERT_TRUE(problem.empty()) << "step " << step << " (" << (map ? "map" : "unmap") << " " << std::hex
                                         << range.start << "+" << range.length << "): " << problem;
        }
        if (step % 2500 == 2499) {
            const std::string problem = harness.check_everything(batch.pending_releases());
            ASSERT_TRUE(problem.empty()) << "step " << step << ":\n" << problem;
        }
    }
    ASSERT_TRUE(batch.commit().ok());
    const std::string problem = harness.check_everything(0);
    ASSERT_TRUE(problem.empty()) << problem;
    // Unmapping everything leaves only the root.
    ASSERT_TRUE(walker.unmap(0, window, harness.allocator(), batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(harness.allocator().live_pages(), 1u);
    // The sequence must really exercise table creation, splits and merges.
    const auto& statistics = batch.statistics();
    EXPECT_GT(harness.allocator().allocation_attempts(), operations / 20);
    EXPECT_GT(statistics.pages_released, operations / 40);
    EXPECT_GT(maps, operations / 2);
    EXPECT_GT(unmaps, operations / 4);
}

constexpr uint64_t default_operations = 100000;

TEST(PageTableDifferential, VtdSecondLevel) {
    run_differential<VtdCase>(test_seed(0x5eed0001), test_operations(default_operations));
}
TEST(PageTableDifferential, AmdV1) {
    run_differential<AmdCase>(test_seed(0x5eed0002), test_operations(default_operations));
}
TEST(PageTableDifferential, Ept) {
    run_differential<EptCase>(test_seed(0x5eed0003), test_operations(default_operations));
}
TEST(PageTableDifferential, Npt) {
    run_differential<NptCase>(test_seed(0x5eed0004), test_operations(default_operations));
}

}  // namespace
}  // namespace sluice::testing
