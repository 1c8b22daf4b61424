#include <gtest/gtest.h>

#include <mm/range_set.hpp>

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sluice::passthrough {
// Readable failure messages.
inline void PrintTo(const AddressRange& range, std::ostream* stream) {
    *stream << std::hex << "[0x" << range.start << ", 0x" << range.end << ")" << std::dec;
}
}  // namespace sluice::passthrough

namespace {

using sluice::Error;
using sluice::Status;
using sluice::page_size;
using sluice::passthrough::AddressRange;
using sluice::passthrough::FixedRangeSet;
using sluice::passthrough::RangeSet;

std::vector<AddressRange> contents(const RangeSet& set) { return std::vector<AddressRange>(set.begin(), set.end()); }

std::string describe(const std::vector<AddressRange>& ranges) {
    std::string text;
    char buffer[64];
    for (const AddressRange& range : ranges) {
        std::snprintf(buffer, sizeof buffer, "[%#llx, %#llx) ", static_cast<unsigned long long>(range.start),
                      static_cast<unsigned long long>(range.end));
        text += buffer;
    }
    return text;
}

// A set stored in a std::vector sized for the test.
class VectorRangeSet {
public:
    explicit VectorRangeSet(size_t capacity) : storage_(capacity), set_(sluice::Span<AddressRange>(storage_.data(), capacity)) {}
    RangeSet& operator*() { return set_; }
    RangeSet* operator->() { return &set_; }

private:
    std::vector<AddressRange> storage_;
    RangeSet set_;
};

TEST(RangeSet, StartsEmpty) {
    FixedRangeSet<4> set;
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.count(), 0u);
    EXPECT_EQ(set.capacity(), 4u);
    EXPECT_EQ(set.total_length(), 0u);
    EXPECT_FALSE(set.contains(sluice::PhysicalAddress{0}));
    EXPECT_TRUE(set.contains(AddressRange{}));
    EXPECT_FALSE(set.intersects(AddressRange{0, 100}));
}

TEST(RangeSet, AddKeepsRangesSortedDisjointAndCoalesced) {
    FixedRangeSet<8> set;
    ASSERT_TRUE(set.add({0x5000, 0x6000}).ok());
    ASSERT_TRUE(set.add({0x1000, 0x2000}).ok());
    ASSERT_TRUE(set.add({0x3000, 0x4000}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x2000}, {0x3000, 0x4000}, {0x5000, 0x6000}}));
    // Touching ranges coalesce on both sides.
    ASSERT_TRUE(set.add({0x2000, 0x3000}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x4000}, {0x5000, 0x6000}}));
    // An overlapping range swallows what it covers.
    ASSERT_TRUE(set.add({0x800, 0x5800}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x800, 0x6000}}));
    EXPECT_EQ(set.total_length(), 0x5800u);
    // A range inside changes nothing.
    ASSERT_TRUE(set.add({0x1000, 0x1001}).ok());
    EXPECT_EQ(set.count(), 1u);
}

TEST(RangeSet, EmptyAndInvertedRanges) {
    FixedRangeSet<2> set;
    EXPECT_TRUE(set.add({0x1000, 0x1000}).ok());
    EXPECT_TRUE(set.empty());
    EXPECT_EQ(set.add({0x2000, 0x1000}).error(), Error::invalid_argument);
    EXPECT_EQ(set.remove({0x2000, 0x1000}).error(), Error::invalid_argument);
    EXPECT_EQ(set.intersect(AddressRange{0x2000, 0x1000}).error(), Error::invalid_argument);
    ASSERT_TRUE(set.add({0x1000, 0x3000}).ok());
    EXPECT_TRUE(set.remove({0x2000, 0x2000}).ok());
    EXPECT_EQ(set.count(), 1u);
    // Intersecting with nothing leaves nothing.
    EXPECT_TRUE(set.intersect(AddressRange{0x5000, 0x5000}).ok());
    EXPECT_TRUE(set.empty());
}

TEST(RangeSet, RemoveTrimsSplitsAndDrops) {
    FixedRangeSet<8> set;
    ASSERT_TRUE(set.add({0x0, 0x10000}).ok());
    ASSERT_TRUE(set.remove({0x4000, 0x5000}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x0, 0x4000}, {0x5000, 0x10000}}));
    ASSERT_TRUE(set.remove({0x0, 0x1000}).ok());
    ASSERT_TRUE(set.remove({0xf000, 0x20000}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x4000}, {0x5000, 0xf000}}));
    ASSERT_TRUE(set.remove({0x800, 0x6000}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x6000, 0xf000}}));
    ASSERT_TRUE(set.remove({0x0, 0x100000}).ok());
    EXPECT_TRUE(set.empty());
}

TEST(RangeSet, Lookups) {
    FixedRangeSet<4> set;
    ASSERT_TRUE(set.add({0x1000, 0x3000}).ok());
    ASSERT_TRUE(set.add({0x8000, 0x9000}).ok());
    EXPECT_FALSE(set.contains(sluice::PhysicalAddress{0xfff}));
    EXPECT_TRUE(set.contains(sluice::PhysicalAddress{0x1000}));
    EXPECT_TRUE(set.contains(sluice::PhysicalAddress{0x2fff}));
    EXPECT_FALSE(set.contains(sluice::PhysicalAddress{0x3000}));
    EXPECT_TRUE(set.contains(AddressRange{0x1800, 0x3000}));
    EXPECT_FALSE(set.contains(AddressRange{0x1800, 0x3001}));
    EXPECT_FALSE(set.contains(AddressRange{0x2000, 0x8800}));  // spans the gap
    EXPECT_TRUE(set.intersects(AddressRange{0x2fff, 0x8000}));
    EXPECT_FALSE(set.intersects(AddressRange{0x3000, 0x8000}));
    EXPECT_TRUE(set.intersects(AddressRange{0x0, 0x100000}));
}

TEST(RangeSet, RangesReachingTheTopOfTheAddressSpace) {
    constexpr uint64_t top = ~uint64_t{0};
    FixedRangeSet<4> set;
    ASSERT_TRUE(set.add({0x1000, 0x2000}).ok());
    ASSERT_TRUE(set.add({top - 0x1000, top}).ok());
    ASSERT_TRUE(set.add({top - 0x3000, top}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x2000}, {top - 0x3000, top}}));
    ASSERT_TRUE(set.remove({0x1800, top}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x1800}}));
}

TEST(RangeSet, SetOperationsWithThemselves) {
    FixedRangeSet<4> set;
    ASSERT_TRUE(set.add({0x1000, 0x3000}).ok());
    ASSERT_TRUE(set.add({0x8000, 0x9000}).ok());
    ASSERT_TRUE(set.add(set).ok());
    ASSERT_TRUE(set.intersect(set).ok());
    EXPECT_EQ(set.count(), 2u);
    ASSERT_TRUE(set.remove(set).ok());
    EXPECT_TRUE(set.empty());
}

TEST(RangeSet, FullSetRefusesAndStaysUnchanged) {
    FixedRangeSet<2> set;
    ASSERT_TRUE(set.add({0x1000, 0x2000}).ok());
    ASSERT_TRUE(set.add({0x3000, 0x4000}).ok());
    const std::vector<AddressRange> before = contents(set);
    EXPECT_EQ(set.add({0x5000, 0x6000}).error(), Error::capacity);
    EXPECT_EQ(set.add({0x0, 0x800}).error(), Error::capacity);
    EXPECT_EQ(set.remove({0x1400, 0x1800}).error(), Error::capacity);  // a split needs a third slot
    EXPECT_EQ(contents(set), before);
    // Operations whose result fits still work on a full set.
    EXPECT_TRUE(set.add({0x2000, 0x3000}).ok());  // bridges the two
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x4000}}));
    EXPECT_TRUE(set.remove({0x1400, 0x1800}).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x1000, 0x1400}, {0x1800, 0x4000}}));
}

TEST(RangeSet, InPlaceOperationsNeedOnlyTheResultSize) {
    // Early splits with late removals: a naive in-place pass would need a
    // slot more than the result at some point.
    FixedRangeSet<3> set;
    ASSERT_TRUE(set.add({0x0, 0xa000}).ok());
    ASSERT_TRUE(set.add({0x10000, 0x20000}).ok());
    ASSERT_TRUE(set.add({0x30000, 0x40000}).ok());
    FixedRangeSet<4> removal;
    ASSERT_TRUE(removal.add({0x2000, 0x3000}).ok());    // splits the first range
    ASSERT_TRUE(removal.add({0x10000, 0x20000}).ok());  // drops the second
    ASSERT_TRUE(set.remove(removal).ok());
    EXPECT_EQ(contents(set),
              (std::vector<AddressRange>{{0x0, 0x2000}, {0x3000, 0xa000}, {0x30000, 0x40000}}));

    // Union: new ranges before old ones that later merge.
    FixedRangeSet<4> other;
    ASSERT_TRUE(other.add({0xb000, 0xc000}).ok());
    ASSERT_TRUE(other.add({0x2000, 0x3000}).ok());
    ASSERT_TRUE(other.add({0xa000, 0x30000}).ok());
    ASSERT_TRUE(set.add(other).ok());
    EXPECT_EQ(contents(set), (std::vector<AddressRange>{{0x0, 0x40000}}));

    // Intersection that multiplies ranges.
    FixedRangeSet<3> comb;
    ASSERT_TRUE(comb.add({0x1000, 0x2000}).ok());
    ASSERT_TRUE(comb.add({0x3000, 0x4000}).ok());
    ASSERT_TRUE(comb.add({0x5000, 0x6000}).ok());
    FixedRangeSet<3> wide;
    ASSERT_TRUE(wide.add({0x0, 0x10000}).ok());
    ASSERT_TRUE(wide.intersect(comb).ok());
    EXPECT_TRUE(wide == comb);
}

TEST(RangeSet, AssignCopiesWithinCapacity) {
    FixedRangeSet<3> source;
    ASSERT_TRUE(source.add({0x1000, 0x2000}).ok());
    ASSERT_TRUE(source.add({0x3000, 0x4000}).ok());
    FixedRangeSet<2> copy;
    ASSERT_TRUE(copy.assign(source).ok());
    EXPECT_TRUE(copy == source);
    FixedRangeSet<1> small;
    EXPECT_EQ(small.assign(source).error(), Error::capacity);
}

// --- Randomized comparison with a set of pages (or bytes) --------------------

using Model = std::set<uint64_t>;

Model model_of(const RangeSet& set, uint64_t granule) {
    Model model;
    for (const AddressRange& range : set)
        for (uint64_t unit = range.start; unit < range.end; unit += granule) model.insert(unit / granule);
    return model;
}

std::vector<AddressRange> ranges_of(const Model& model, uint64_t granule) {
    std::vector<AddressRange> ranges;
    for (uint64_t unit : model) {
        if (!ranges.empty() && ranges.back().end == unit * granule) ranges.back().end += granule;
        else ranges.push_back({unit * granule, (unit + 1) * granule});
    }
    return ranges;
}

void check_invariants(const RangeSet& set) {
    for (size_t index = 0; index < set.count(); ++index) {
        ASSERT_LT(set[index].start, set[index].end) << "empty range at " << index;
        if (index > 0) {
            ASSERT_LT(set[index - 1].end, set[index].start) << "unsorted or uncoalesced at " << index;
        }
    }
}

uint64_t seed_from_environment() {
    if (const char* text = std::getenv("SLUICE_RANGE_SET_SEED")) return std::strtoull(text, nullptr, 0);
    return std::random_device{}();
}

struct Randomized {
    uint64_t granule;
    uint64_t universe;  // in granules
};

class RangeSetRandomized : public ::testing::TestWithParam<Randomized> {};

TEST_P(RangeSetRandomized, MatchesAModelOfPages) {
    const uint64_t seed = seed_from_environment();
    SCOPED_TRACE("replay with SLUICE_RANGE_SET_SEED=" + std::to_string(seed));
    const uint64_t granule = GetParam().granule;
    const uint64_t universe = GetParam().universe;
    std::mt19937_64 random(seed);
    auto random_range = [&](uint64_t longest) {
        const uint64_t start = random() % universe;
        const uint64_t length = random() % (longest + 1);
        return AddressRange{start * granule, std::min(universe, start + length) * granule};
    };
    auto fill = [&](RangeSet& set, Model& model, size_t additions, uint64_t longest) {
        for (size_t step = 0; step < additions; ++step) {
            const AddressRange range = random_range(longest);
            if (set.add(range).ok())
                for (uint64_t unit = range.start / granule; unit < range.end / granule; ++unit) model.insert(unit);
        }
    };

    for (int round = 0; round < 400; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        VectorRangeSet set(64);
        Model model;
        fill(*set, model, random() % 24, 1 + random() % 24);
        ASSERT_EQ(model_of(*set, granule), model);
        check_invariants(*set);

        // Single-range operations and lookups.
        for (int step = 0; step < 16; ++step) {
            const AddressRange range = random_range(1 + random() % 32);
            const uint64_t first = range.start / granule;
            const uint64_t last = range.end / granule;
            const unsigned operation = random() % 3;
            Model expected = model;
            if (operation == 0) {
                for (uint64_t unit = first; unit < last; ++unit) expected.insert(unit);
            } else if (operation == 1) {
                for (uint64_t unit = first; unit < last; ++unit) expected.erase(unit);
            } else {
                for (auto iterator = expected.begin(); iterator != expected.end();)
                    iterator = (*iterator < first || *iterator >= last) ? expected.erase(iterator) : std::next(iterator);
            }
            const Status status = operation == 0   ? set->add(range)
                                  : operation == 1 ? set->remove(range)
                                                   : set->intersect(range);
            if (status.ok()) model = expected;
            else ASSERT_EQ(status.error(), Error::capacity);
            ASSERT_EQ(model_of(*set, granule), model) << "after operation " << operation << " on "
                                                      << describe({range}) << ": " << describe(contents(*set));
            check_invariants(*set);

            bool all = true;
            bool any = false;
            for (uint64_t unit = first; unit < last; ++unit) {
                all = all && model.count(unit) != 0;
                any = any || model.count(unit) != 0;
            }
            EXPECT_EQ(set->contains(range), all);
            EXPECT_EQ(set->intersects(range), any);
            const uint64_t probe = random() % universe;
            EXPECT_EQ(set->contains(probe * granule + random() % granule), model.count(probe) != 0);
        }

        // Whole-set operations, in storage exactly as large as the result
        // (or as the input, whichever is larger), then one slot short.
        VectorRangeSet other(64);
        Model other_model;
        fill(*other, other_model, random() % 24, 1 + random() % 24);
        const unsigned operation = random() % 3;
        Model expected;
        if (operation == 0) {
            expected = model;
            expected.insert(other_model.begin(), other_model.end());
        } else if (operation == 1) {
            for (uint64_t unit : model)
                if (other_model.count(unit) == 0) expected.insert(unit);
        } else {
            for (uint64_t unit : model)
                if (other_model.count(unit) != 0) expected.insert(unit);
        }
        const std::vector<AddressRange> expected_ranges = ranges_of(expected, granule);
        auto apply = [&](RangeSet& target) {
            if (operation == 0) return target.add(*other);
            if (operation == 1) return target.remove(*other);
            return target.intersect(*other);
        };
        const size_t needed = std::max(set->count(), expected_ranges.size());
        VectorRangeSet exact(needed);
        ASSERT_TRUE(exact->assign(*set).ok());
        ASSERT_TRUE(apply(*exact).ok()) << "operation " << operation << " with capacity " << needed;
        EXPECT_EQ(contents(*exact), expected_ranges) << "operation " << operation;
        check_invariants(*exact);
        if (expected_ranges.size() > set->count()) {
            VectorRangeSet short_of_one(expected_ranges.size() - 1);
            ASSERT_TRUE(short_of_one->assign(*set).ok());
            EXPECT_EQ(apply(*short_of_one).error(), Error::capacity);
            EXPECT_TRUE(*short_of_one == *set) << "a refused operation changed the set";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Granules, RangeSetRandomized,
                         ::testing::Values(Randomized{page_size, 256}, Randomized{1, 96}),
                         [](const ::testing::TestParamInfo<Randomized>& info) {
                             return info.param.granule == 1 ? std::string("Bytes") : std::string("Pages");
                         });

TEST(RangeSet, RoundingToPages) {
    using sluice::passthrough::round_inward;
    using sluice::passthrough::round_outward;
    EXPECT_EQ(round_outward({0x9fc00, 0xa0000}), (AddressRange{0x9f000, 0xa0000}));
    EXPECT_EQ(round_inward({0x0, 0x9fc00}), (AddressRange{0x0, 0x9f000}));
    EXPECT_EQ(round_inward({0x1001, 0x1fff}), (AddressRange{}));
    EXPECT_EQ(round_outward({0x1001, 0x1001}), (AddressRange{}));
    EXPECT_EQ(round_outward({0x1001, 0x1002}), (AddressRange{0x1000, 0x2000}));
}

}  // namespace
