// The batch: which invalidation commit() chooses, that freed table pages wait
// for it, and - with a model IOMMU whose IOTLB and paging-structure cache
// follow each invalidation's scope - that after every commit no unit returns
// a translation that differs from the tables.
#include "support/page_table_harness.hpp"

#include <gtest/gtest.h>

#include <random>

namespace sluice::testing {
namespace {

using paging::Access;
using paging::Batch;
using paging::Change;
using paging::InvalidationCapabilities;
using paging::InvalidationKind;
using paging::InvalidationTargets;

InvalidationKind choice(const Batch& batch, InvalidationCapabilities capabilities, uint64_t* address, unsigned* order) {
    return batch.choose(capabilities, address, order);
}

TEST(Batch, AddedOnlyNeedsNothingUnlessTheUnitCachesNotPresentEntries) {
    InvalidationTargets targets;
    Batch batch(targets);
    batch.record(0x5000, 0x5fff, Change::added, 0);
    uint64_t address = 0;
    unsigned order = 0;
    EXPECT_EQ(choice(batch, {false, true, 9}, &address, &order), InvalidationKind::none);
    EXPECT_EQ(choice(batch, {true, true, 9}, &address, &order), InvalidationKind::pages);
    EXPECT_EQ(address, 0x5000u);
    EXPECT_EQ(order, 0u);
    ASSERT_TRUE(batch.commit().ok());
}

TEST(Batch, ChoosesTheSmallestCoveringAlignedBlock) {
    InvalidationTargets targets;
    uint64_t address = 0;
    unsigned order = 0;
    {
        Batch batch(targets);
        batch.record(0x1000, 0x2fff, Change::modified, 0);  // pages 1-2: block of 4 at 0
        EXPECT_EQ(choice(batch, {false, true, 18}, &address, &order), InvalidationKind::pages);
        EXPECT_EQ(address, 0u);
        EXPECT_EQ(order, 2u);
        ASSERT_TRUE(batch.commit().ok());
    }
    {
        Batch batch(targets);
        batch.record(0x20'0000, 0x3f'ffff, Change::modified, 9);  // exactly one aligned 2 MiB
        EXPECT_EQ(choice(batch, {false, true, 18}, &address, &order), InvalidationKind::pages);
        EXPECT_EQ(address, 0x20'0000u);
        EXPECT_EQ(order, 9u);
        EXPECT_EQ(choice(batch, {false, true, 8}, &address, &order), InvalidationKind::domain);  // beyond MAMV
        EXPECT_EQ(choice(batch, {false, false, 18}, &address, &order), InvalidationKind::domain);  // no PSI
        ASSERT_TRUE(batch.commit().ok());
    }
    {
        Batch batch(targets);
        // Straddling 1 GiB: the covering block is 2 GiB at 0.
        batch.record(0x3fff'f000, 0x4000'0fff, Change::modified, 0);
        EXPECT_EQ(choice(batch, {false, true, 52}, &address, &order), InvalidationKind::pages);
        EXPECT_EQ(address, 0u);
        EXPECT_EQ(order, 19u);
        EXPECT_EQ(choice(batch, {false, true, 18}, &address, &order), InvalidationKind::domain);
        ASSERT_TRUE(batch.commit().ok());
    }
}

// Records the order of invalidations, waits and frees.
class EventLog {
public:
    std::vector<std::string> events;
};

class LoggingAllocator final : public PageAllocator {
public:
    LoggingAllocator(SimulatedPageAllocator& inner, EventLog& log) : inner_(inner), log_(log) {}
    Result<PhysicalAddress> allocate_page() override { return inner_.allocate_page(); }
    void free_page(PhysicalAddress page) override {
        log_.events.push_back("free");
        inner_.free_page(page);
    }

private:
    SimulatedPageAllocator& inner_;
    EventLog& log_;
};

class LoggingUnit final : public paging::InvalidationUnit {
public:
    LoggingUnit(EventLog& log, InvalidationCapabilities capabilities) : log_(log), capabilities_(capabilities) {}
    InvalidationCapabilities invalidation_capabilities() const override { return capabilities_; }
    Status invalidate_pages(uint16_t, uint64_t, unsigned, bool leaf_only) override {
        log_.events.push_back(leaf_only ? "pages(leaf)" : "pages");
        return success();
    }
    Status invalidate_domain(uint16_t) override {
        log_.events.push_back("domain");
        return success();
    }
    Status wait() override {
        log_.events.push_back("wait");
        if (fail_) return Error::timed_out;
        return success();
    }
    bool fail_ = false;

private:
    EventLog& log_;
    InvalidationCapabilities capabilities_;
};

TEST(Batch, FreedTablesAreReleasedOnlyAfterEveryUnitCompleted) {
    SimulatedMemory memory(0x10'0000, 64 * page_size);
    SimulatedPageAllocator pages(memory, 0x10'0000, 64);
    EventLog log;
    LoggingAllocator allocator(pages, log);
    LoggingUnit first(log, {false, true, 9}), second(log, {false, true, 0});
    InvalidationTargets targets;
    ASSERT_TRUE(targets.attach(first, 1).ok());
    ASSERT_TRUE(targets.attach(second, 7).ok());
    Batch batch(targets);
    const PhysicalAddress a = pages.allocate_page().value(), b = pages.allocate_page().value();
    batch.record(0x20'0000, 0x3f'ffff, Change::modified | Change::structure, 9);
    batch.defer_release(a, allocator);
    batch.defer_release(b, allocator);
    EXPECT_TRUE(log.events.empty());
    ASSERT_TRUE(batch.commit().ok());
    // First unit: 2 MiB page-selective without the leaf hint; second has
    // MAMV 0 so it gets domain-selective; both waited before any free.
    EXPECT_EQ(log.events, (std::vector<std::string>{"pages", "domain", "wait", "wait", "free", "free"}));
    EXPECT_EQ(pages.live_pages(), 0u);
}

TEST(Batch, AFailedInvalidationLeaksThePagesAndReportsIt) {
    SimulatedMemory memory(0x10'0000, 16 * page_size);
    SimulatedPageAllocator pages(memory, 0x10'0000, 16);
    EventLog log;
    LoggingUnit unit(log, {false, true, 9});
    unit.fail_ = true;
    InvalidationTargets targets;
    ASSERT_TRUE(targets.attach(unit, 1).ok());
    Batch batch(targets);
    batch.record(0, 0xfff, Change::modified | Change::structure, 0);
    batch.defer_release(pages.allocate_page().value(), pages);
    const Status status = batch.commit();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error(), Error::timed_out);
    EXPECT_EQ(pages.live_pages(), 1u);  // withheld from reuse
    EXPECT_EQ(batch.statistics().pages_leaked, 1u);
    EXPECT_TRUE(batch.empty());
}

TEST(Batch, AFullReleaseListCommitsEarlyInsteadOfAllocating) {
    SimulatedMemory memory(0x10'0000, 400 * page_size);
    SimulatedPageAllocator pages(memory, 0x10'0000, 400);
    EventLog log;
    LoggingUnit unit(log, {false, true, 18});
    InvalidationTargets targets;
    ASSERT_TRUE(targets.attach(unit, 1).ok());
    Batch batch(targets);
    batch.record(0, 0x3fff'ffff, Change::modified | Change::structure, 0);
    for (int index = 0; index < 300; ++index) batch.defer_release(pages.allocate_page().value(), pages);
    EXPECT_EQ(batch.statistics().early_commits, 1u);
    EXPECT_EQ(pages.live_pages(), 300u - Batch::release_capacity - 1);
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(pages.live_pages(), 0u);
}

TEST(Batch, AttachingTheSameUnitTwiceKeepsOneEntry) {
    EventLog log;
    LoggingUnit unit(log, {});
    InvalidationTargets targets;
    ASSERT_TRUE(targets.attach(unit, 3).ok());
    ASSERT_TRUE(targets.attach(unit, 3).ok());
    EXPECT_EQ(targets.attachments().size(), 1u);
    EXPECT_EQ(targets.attach(unit, 4).error(), Error::already_exists);
    ASSERT_TRUE(targets.detach(unit).ok());
    EXPECT_EQ(targets.detach(unit).error(), Error::not_found);
}

// --- Flush correctness against a model IOMMU --------------------------------

template <typename Case> struct FlushFixture {
    PageTableHarness<Case> harness;
    ModelIommu unit;
    InvalidationTargets targets;
    static constexpr uint16_t domain_id = 5;

    explicit FlushFixture(InvalidationCapabilities capabilities)
        : unit(harness.memory(), harness.reference(), capabilities) {
        unit.set_root(domain_id, harness.root());
        EXPECT_TRUE(targets.attach(unit, domain_id).ok());
    }

    // Empty when the unit agrees with a fresh walk of the tables.
    std::string check(uint64_t address) {
        const ReferenceTranslation cached = unit.translate(domain_id, address);
        const ReferenceTranslation fresh = harness.translate(address);
        if (cached.same_result(fresh)) return {};
        std::ostringstream problem;
        problem << "address " << std::hex << address << ": unit gives " << cached.to_string() << ", tables give "
                << fresh.to_string();
        return problem.str();
    }
};

template <typename Case> void run_flush_test(InvalidationCapabilities capabilities, uint64_t seed, uint64_t batches) {
    SCOPED_TRACE(::testing::Message() << Case::name << " cm=" << capabilities.caches_not_present << " mamv="
                                      << unsigned(capabilities.max_page_order) << " seed " << seed);
    FlushFixture<Case> fixture(capabilities);
    auto& harness = fixture.harness;
    std::mt19937_64 random(seed);
    constexpr uint64_t window = 4 * GiB;
    const typename Case::Attributes choices[2] = {Case::random_attributes(random), Case::random_attributes(random)};
    std::vector<uint64_t> watched;
    uint64_t page_commits = 0, domain_commits = 0, silent_commits = 0;

    for (uint64_t round = 0; round < batches; ++round) {
        // Warm the caches on what is about to change and on random places.
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        const unsigned operations = 1 + static_cast<unsigned>(random() % 6);
        for (unsigned index = 0; index < operations; ++index) {
            const uint64_t size_class = random() % 4;
            const uint64_t length = size_class == 0   ? (1 + random() % 8) * page_size
                                    : size_class == 1 ? (1 + random() % 1024) * page_size
                                    : size_class == 2 ? (1 + random() % 4) * 2 * MiB
                                                      : GiB;
            const uint64_t alignment = size_class >= 2 ? 2 * MiB : page_size;
            uint64_t start = (random() % (window / alignment)) * alignment;
            if (start + length > window) start = window - length;
            ranges.push_back({start, length});
        }
        watched.clear();
        for (const auto& [start, length] : ranges) {
            for (int sample = 0; sample < 6; ++sample) watched.push_back(start + (random() % length & ~page_mask));
            watched.push_back(start);
            watched.push_back(start + length - page_size);
            watched.push_back(align_down(start, 2 * MiB));
        }
        for (int sample = 0; sample < 8; ++sample) watched.push_back(random() % window & ~page_mask);
        for (uint64_t address : watched) (void)fixture.unit.translate(FlushFixture<Case>::domain_id, address);

        Batch batch(fixture.targets);
        bool only_added = true;
        for (const auto& [start, length] : ranges) {
            const uint64_t before = harness.allocator().allocation_attempts();
            (void)before;
            if (random() % 3 != 0) {
                const uint64_t output = start + (random() % 2 == 0 ? 0 : 3 * GiB);
                ASSERT_TRUE(harness.walker().map(start, length, output, choices[random() % 2], harness.allocator(), batch).ok());
            } else {
                ASSERT_TRUE(harness.walker().unmap(start, length, harness.allocator(), batch).ok());
            }
        }
        only_added = !has(batch.changes(), Change::modified) && batch.pending_releases() == 0;
        const auto invalidations_before = fixture.unit.log().size();
        ASSERT_TRUE(batch.commit().ok());
        const auto issued = fixture.unit.log().size() - invalidations_before;
        ASSERT_LE(issued, 1u) << "round " << round << ": more than one invalidation for one batch";
        if (only_added && !capabilities.caches_not_present) ASSERT_EQ(issued, 0u) << "round " << round;
        if (issued == 0) ++silent_commits;
        else if (fixture.unit.log().back().domain) ++domain_commits;
        else ++page_commits;

        // Reuse freed pages at once (the allocator fills them with garbage),
        // so a stale cached pointer into a freed table shows.
        std::vector<PhysicalAddress> scratch;
        for (int index = 0; index < 4; ++index) {
            auto page = harness.allocator().allocate_page();
            if (page.ok()) scratch.push_back(page.value());
        }
        for (uint64_t address : watched) {
            const std::string problem = fixture.check(address);
            ASSERT_TRUE(problem.empty()) << "round " << round << ": " << problem;
        }
        for (PhysicalAddress page : scratch) harness.allocator().free_page(page);
    }
    // A unit whose largest mask is below 2 MiB must flush the whole domain
    // for any change that splits or merges a superpage (the mask has to
    // cover the superpage), and this window is mostly superpages; the
    // page-selective path is covered by the units with larger masks.
    if (capabilities.max_page_order >= 9) EXPECT_GT(page_commits, 0u);
    EXPECT_GT(silent_commits + domain_commits, 0u);
}

TEST(BatchFlush, VtdWithoutCachingMode) {
    run_flush_test<VtdCase>({false, true, 18}, test_seed(11), scaled_by_effort(4000));
}
TEST(BatchFlush, VtdWithCachingMode) {
    run_flush_test<VtdCase>({true, true, 18}, test_seed(12), scaled_by_effort(4000));
}
TEST(BatchFlush, VtdSmallAddressMask) {
    run_flush_test<VtdCase>({false, true, 4}, test_seed(13), scaled_by_effort(4000));
}
TEST(BatchFlush, AmdWithoutNpCache) {
    run_flush_test<AmdCase>({false, true, 52}, test_seed(14), scaled_by_effort(4000));
}
TEST(BatchFlush, AmdWithNpCache) { run_flush_test<AmdCase>({true, true, 52}, test_seed(15), scaled_by_effort(4000)); }
TEST(BatchFlush, EptTlb) { run_flush_test<EptCase>({false, true, 0}, test_seed(16), scaled_by_effort(2000)); }

// Negative controls: the same check must catch a missing or too weak flush.
TEST(BatchFlush, ACacheNotFlushedIsCaught) {
    FlushFixture<VtdCase> fixture({false, true, 18});
    Batch batch(fixture.targets);
    ASSERT_TRUE(fixture.harness.walker().map(0x10'0000, page_size, 0x7000'0000, {Access::read_write},
                                             fixture.harness.allocator(), batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_TRUE(fixture.check(0x10'0000).empty());
    ASSERT_TRUE(fixture.harness.walker().map(0x10'0000, page_size, 0x7100'0000, {Access::read},
                                             fixture.harness.allocator(), batch).ok());
    EXPECT_FALSE(fixture.check(0x10'0000).empty()) << "stale IOTLB entry not visible before commit";
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_TRUE(fixture.check(0x10'0000).empty());
}

TEST(BatchFlush, AMergeInvalidatesPagingStructureCaches) {
    for (bool broken : {false, true}) {
        FlushFixture<VtdCase> fixture({false, true, 18});
        fixture.unit.keep_paging_structures_always(broken);
        auto& harness = fixture.harness;
        Batch batch(fixture.targets);
        // [0, 1 MiB) in 4 KiB leaves: a level-1 table the unit caches a pointer to.
        ASSERT_TRUE(harness.walker().map(0, MiB, 0x4000'0000'0, {Access::read_write}, harness.allocator(), batch).ok());
        ASSERT_TRUE(batch.commit().ok());
        EXPECT_TRUE(fixture.check(0x1000).empty());
        ASSERT_GT(fixture.unit.cached_tables(), 0u);
        // Completing the 2 MiB run merges it into one leaf and frees the table.
        ASSERT_TRUE(harness.walker().map(MiB, MiB, 0x4000'0000'0 + MiB, {Access::read_write}, harness.allocator(), batch).ok());
        EXPECT_EQ(batch.pending_releases(), 1u);
        ASSERT_TRUE(batch.commit().ok());
        EXPECT_FALSE(fixture.unit.log().back().leaf_only);
        // The freed table is reused (and filled with garbage) at once.
        const PhysicalAddress reused = harness.allocator().allocate_page().value();
        const std::string problem = fixture.check(0x1000);
        if (broken) EXPECT_FALSE(problem.empty()) << "a kept paging-structure cache must be visible";
        else EXPECT_TRUE(problem.empty()) << problem;
        harness.allocator().free_page(reused);
    }
}

}  // namespace
}  // namespace sluice::testing
