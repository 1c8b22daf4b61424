// Atomicity: every store the walker makes during an operation is recorded;
// the operation is then rewound and replayed store by store, and at every
// intermediate state each watched address must translate (through the
// reference walker) to either its old or its new result, never to anything
// else. Out of memory: the N-th allocation fails, for every N, across a
// complex operation; the tables must stay consistent and nothing may leak.
#include "support/page_table_harness.hpp"

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

template <typename Case> class PageTableRobustness : public ::testing::Test {};
using Cases = ::testing::Types<VtdCase, AmdCase, EptCase, NptCase>;
TYPED_TEST_SUITE(PageTableRobustness, Cases);

// The starting state every scenario runs on: a 1 GiB leaf, 2 MiB leaves, a
// table of 4 KiB leaves one entry short of merging, and scattered pages.
template <typename Case> void build_start_state(PageTableHarness<Case>& harness, paging::Batch& batch) {
    typename Case::Attributes attributes = Case::random_attributes(*std::make_unique<std::mt19937_64>(7));
    auto& walker = harness.walker();
    auto& model = harness.model();
    auto map = [&](uint64_t start, uint64_t length, uint64_t output) {
        ASSERT_TRUE(walker.map(start, length, output, attributes, harness.allocator(), batch).ok());
        model.assign(start, start + length - 1, output, attributes);
    };
    map(GiB, GiB, 5 * GiB);                        // one 1 GiB leaf
    map(2 * GiB, 8 * MiB, 9 * GiB);                // 2 MiB leaves
    map(3 * GiB, 2 * MiB - page_size, 3 * GiB);    // almost mergeable
    map(3 * GiB + 4 * MiB, 3 * page_size, 0x1234'5000);
    ASSERT_TRUE(batch.commit().ok());
}

struct Operation {
    const char* name;
    bool map;
    uint64_t start, length, output;
};
// Splits of a 1 GiB and a 2 MiB leaf, a merge, a remap over mixed leaves,
// removal of whole tables, and an unmap across everything.
const Operation operations[] = {
    {"split 1 GiB leaf", true, GiB + 3 * MiB + 5 * page_size, 2 * page_size, 0x7000'0000},
    {"split 2 MiB leaf by unmap", false, 2 * GiB + 2 * MiB + page_size, page_size, 0},
    {"merge into 2 MiB", true, 3 * GiB + 2 * MiB - page_size, page_size, 3 * GiB + 2 * MiB - page_size},
    {"remap across leaf sizes", true, GiB + GiB - 3 * MiB, 7 * MiB + 3 * page_size, 0x2'0000'0000},
    {"unmap tables whole", false, 3 * GiB, 8 * MiB, 0},
    {"unmap everything", false, 0, 4 * GiB, 0},
};

std::vector<uint64_t> watched_addresses(const Operation& operation) {
    std::vector<uint64_t> addresses;
    const uint64_t last = operation.start + operation.length - 1;
    for (uint64_t base : {operation.start, last & ~page_mask, align_down(operation.start, 2 * MiB),
                          align_down(last, 2 * MiB), align_down(operation.start, GiB)}) {
        for (int64_t delta = -3; delta <= 3; ++delta) addresses.push_back(base + delta * static_cast<int64_t>(page_size));
        addresses.push_back(base + 2 * MiB - page_size);
        addresses.push_back(base + 2 * MiB);
    }
    for (uint64_t address = GiB; address < 4 * GiB + 8 * MiB; address += 61 * MiB + 3 * page_size)
        addresses.push_back(address);
    return addresses;
}

TYPED_TEST(PageTableRobustness, EveryIntermediateStateTranslatesToOldOrNew) {
    for (const Operation& operation : operations) {
        SCOPED_TRACE(operation.name);
        PageTableHarness<TypeParam> harness;
        paging::InvalidationTargets targets;
        paging::Batch batch(targets);
        build_start_state(harness, batch);
        const auto addresses = watched_addresses(operation);
        std::vector<ReferenceTranslation> old_results;
        for (uint64_t address : addresses) old_results.push_back(harness.translate(address));

        harness.memory().start_recording();
        const auto attributes = TypeParam::random_attributes(*std::make_unique<std::mt19937_64>(99));
        const Status status = operation.map ? harness.walker().map(operation.start, operation.length, operation.output,
                                                                   attributes, harness.allocator(), batch)
                                            : harness.walker().unmap(operation.start, operation.length,
                                                                     harness.allocator(), batch);
        const auto stores = harness.memory().stop_recording();
        ASSERT_TRUE(status.ok());
        ASSERT_FALSE(stores.empty());
        std::vector<ReferenceTranslation> new_results;
        for (uint64_t address : addresses) new_results.push_back(harness.translate(address));

        // Rewind, then replay one store at a time.
        SimulatedMemory& memory = harness.simulated();
        for (auto it = stores.rbegin(); it != stores.rend(); ++it) memory.write64(it->address, it->old_value);
        for (size_t index = 0; index < addresses.size(); ++index)
            ASSERT_TRUE(harness.translate(addresses[index]).same_result(old_results[index])) << "rewind failed";
        size_t changed_at_some_point = 0;
        for (size_t store = 0; store < stores.size(); ++store) {
            memory.write64(stores[store].address, stores[store].new_value);
            for (size_t index = 0; index < addresses.size(); ++index) {
                const ReferenceTranslation now = harness.translate(addresses[index]);
                ASSERT_TRUE(now.same_result(old_results[index]) || now.same_result(new_results[index]))
                    << "after store " << store << " of " << stores.size() << " (" << std::hex << stores[store].address
                    << " := " << stores[store].new_value << "): address " << addresses[index] << " gives "
                    << now.to_string() << "; old " << old_results[index].to_string() << ", new "
                    << new_results[index].to_string();
            }
        }
        for (size_t index = 0; index < addresses.size(); ++index)
            changed_at_some_point += old_results[index].same_result(new_results[index]) ? 0 : 1;
        EXPECT_GT(changed_at_some_point, 0u);
        ASSERT_TRUE(batch.commit().ok());
    }
}

// A remap that needs several new tables (splits at both ends, new tables in
// empty space) fails at its N-th allocation, for every N.
TYPED_TEST(PageTableRobustness, OutOfMemoryAtEveryAllocationLeavesConsistentTablesAndNoLeak) {
    const uint64_t start = GiB + 5 * page_size, length = 3 * GiB + 5 * MiB;  // ends in empty space
    const uint64_t output = 0x3'0000'0000 + 5 * page_size;
    for (uint64_t failing = 1;; ++failing) {
        ASSERT_LT(failing, 64u) << "the operation never succeeded";
        PageTableHarness<TypeParam> harness;
        paging::InvalidationTargets targets;
        paging::Batch batch(targets);
        build_start_state(harness, batch);
        const auto attributes = TypeParam::random_attributes(*std::make_unique<std::mt19937_64>(3));
        const auto addresses = watched_addresses({"", true, start, length, output});
        std::vector<ReferenceTranslation> old_results;
        for (uint64_t address : addresses) old_results.push_back(harness.translate(address));

        harness.allocator().fail_allocation(failing);
        const Status status = harness.walker().map(start, length, output, attributes, harness.allocator(), batch);
        harness.allocator().fail_allocation(0);
        if (status.ok()) {
            EXPECT_GT(failing, 3u) << "the operation should need several tables";
            harness.model().assign(start, start + length - 1, output, attributes);
            ASSERT_TRUE(batch.commit().ok());
            const std::string problem = harness.check_everything(0);
            EXPECT_TRUE(problem.empty()) << problem;
            break;
        }
        ASSERT_EQ(status.error(), Error::out_of_memory);
        // Part of the range may be remapped; everything else is untouched and
        // every translation is either the old one or the requested one.
        for (size_t index = 0; index < addresses.size(); ++index) {
            const uint64_t address = addresses[index];
            const ReferenceTranslation now = harness.translate(address);
            const bool inside = address >= start && address - start < length;
            const bool as_requested = now.translated() && now.output == output + (address - start) &&
                                      TypeParam::matches(now, attributes);
            EXPECT_TRUE(now.same_result(old_results[index]) || (inside && as_requested))
                << "allocation " << failing << ": " << std::hex << address << " gives " << now.to_string();
        }
        ASSERT_TRUE(batch.commit().ok());
        const auto tables = reachable_tables(harness.reference(), harness.memory(), harness.root());
        EXPECT_EQ(harness.allocator().live_pages(), tables.size()) << "allocation " << failing << " leaked";
        const std::string structure = harness.check_structure();
        EXPECT_TRUE(structure.empty()) << "allocation " << failing << ": " << structure;
        // Finishing the operation afterwards gives the full result.
        ASSERT_TRUE(harness.walker().map(start, length, output, attributes, harness.allocator(), batch).ok());
        harness.model().assign(start, start + length - 1, output, attributes);
        ASSERT_TRUE(batch.commit().ok());
        const std::string problem = harness.check_everything(0);
        EXPECT_TRUE(problem.empty()) << "allocation " << failing << ": " << problem;
    }
}

}  // namespace
}  // namespace sluice::testing
