// The identity-mapping API over every kind of domain: PV (IOMMU only), HVM
// and PVH (p2m direct-MMIO entry plus IOMMU, or p2m only when VT-d shares
// EPT); reference counting, overlap refusal, rollback and batching.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

using paging::Access;
using paging::Batch;
using sluice::DomainKind;
using passthrough::identity_map;
using passthrough::identity_unmap;
using passthrough::IommuTableKind;

struct Setup {
    const char* name;
    DomainKind kind;
    IommuTableKind iommu;
    bool share;
};

void PrintTo(const Setup& setup, std::ostream* stream) { *stream << setup.name; }

const Setup setups[] = {
    {"PvVtd", DomainKind::pv, IommuTableKind::vtd_second_level, false},
    {"PvAmd", DomainKind::pv, IommuTableKind::amd_v1, false},
    {"HvmVtdEpt", DomainKind::hvm, IommuTableKind::vtd_second_level, false},
    {"PvhVtdSharingEpt", DomainKind::pvh, IommuTableKind::vtd_second_level, true},
    {"HvmAmdNpt", DomainKind::hvm, IommuTableKind::amd_v1, false},
};

class IdentityMap : public ::testing::TestWithParam<Setup> {
protected:
    IdentityMap() : fixture_(GetParam().kind, GetParam().iommu, GetParam().share) {}

    // Every sampled page of [start, end) translates to itself with `access`,
    // for DMA and (translated domains) for the guest.
    void expect_identity(uint64_t start, uint64_t end, Access access, uint64_t step = page_size) {
        for (uint64_t address = start; address < end; address += step) {
            const ReferenceTranslation dma = fixture_.dma(address);
            ASSERT_TRUE(dma.translated()) << std::hex << address << " " << dma.to_string();
            EXPECT_EQ(dma.output, address);
            EXPECT_EQ(dma.read, paging::allows_read(access)) << std::hex << address;
            EXPECT_EQ(dma.write, paging::allows_write(access)) << std::hex << address;
            if (fixture_.has_p2m()) {
                const ReferenceTranslation guest = fixture_.guest(address);
                ASSERT_TRUE(guest.translated()) << std::hex << address;
                EXPECT_EQ(guest.output, address);
                EXPECT_EQ(guest.software_type, static_cast<unsigned>(p2m::P2mType::mmio_direct));
                EXPECT_TRUE(guest.uncached);
                EXPECT_EQ(guest.write, paging::allows_write(access));
            }
        }
    }
    void expect_unmapped(uint64_t start, uint64_t end, uint64_t step = page_size) {
        for (uint64_t address = start; address < end; address += step) {
            EXPECT_EQ(fixture_.dma(address).fault, ReferenceFault::not_present) << std::hex << address;
            if (fixture_.has_p2m())
                EXPECT_EQ(fixture_.guest(address).fault, ReferenceFault::not_present) << std::hex << address;
        }
    }
    Batch batch() { return Batch(fixture_.domain().invalidation_targets()); }
    uint64_t regions_in_use() {
        uint64_t count = 0;
        for (const auto& region : fixture_.domain().identity_regions()) count += region.in_use ? 1 : 0;
        return count;
    }

    DomainFixture fixture_;
};

TEST_P(IdentityMap, MapsAndUnmapsAnRmrr) {
    const uint64_t baseline = fixture_.allocator().live_pages();
    Batch batch(fixture_.domain().invalidation_targets());
    ASSERT_TRUE(identity_map(fixture_.domain(), 0xd5d45000, 0xd5d49000, Access::read_write, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_identity(0xd5d45000, 0xd5d49000, Access::read_write);
    expect_unmapped(0xd5d44000, 0xd5d45000);
    expect_unmapped(0xd5d49000, 0xd5d4a000);
    if (GetParam().share) EXPECT_EQ(fixture_.domain().iommu_root(), fixture_.p2m().root());

    ASSERT_TRUE(identity_unmap(fixture_.domain(), 0xd5d45000, 0xd5d49000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_unmapped(0xd5d45000, 0xd5d49000);
    EXPECT_EQ(fixture_.allocator().live_pages(), baseline);
}

TEST_P(IdentityMap, WholeRegionsUseSuperpages) {
    Batch batch(fixture_.domain().invalidation_targets());
    ASSERT_TRUE(identity_map(fixture_.domain(), GiB, 2 * GiB + 4 * MiB, Access::read, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(fixture_.dma(GiB + 0x1234000).page_size, GiB);
    EXPECT_EQ(fixture_.dma(2 * GiB + 3 * MiB).page_size, 2 * MiB);
    if (fixture_.has_p2m()) {
        EXPECT_EQ(fixture_.guest(GiB).page_size, GiB);
        EXPECT_EQ(fixture_.guest(2 * GiB).page_size, 2 * MiB);
    }
    expect_identity(GiB, 2 * GiB + 4 * MiB, Access::read, 509 * page_size);
    // Per table: the root, one level-3 table, one level-2 table.
    EXPECT_EQ(fixture_.reachable_pages(), (fixture_.has_p2m() && !GetParam().share ? 2u : 1u) * 3u);
}

TEST_P(IdentityMap, TheSameRegionTwiceMapsOnceAndUnmapsOnTheLastRelease) {
    const uint64_t baseline = fixture_.allocator().live_pages();
    Batch batch(fixture_.domain().invalidation_targets());
    ASSERT_TRUE(identity_map(fixture_.domain(), 0x7000'0000, 0x7000'8000, Access::read_write, batch).ok());
    const uint64_t after_first = fixture_.allocator().live_pages();
    ASSERT_TRUE(identity_map(fixture_.domain(), 0x7000'0000, 0x7000'8000, Access::read_write, batch).ok());
    EXPECT_EQ(fixture_.allocator().live_pages(), after_first);
    EXPECT_EQ(regions_in_use(), 1u);
    ASSERT_TRUE(identity_unmap(fixture_.domain(), 0x7000'0000, 0x7000'8000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_identity(0x7000'0000, 0x7000'8000, Access::read_write);
    ASSERT_TRUE(identity_unmap(fixture_.domain(), 0x7000'0000, 0x7000'8000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_unmapped(0x7000'0000, 0x7000'8000);
    EXPECT_EQ(fixture_.allocator().live_pages(), baseline);
    EXPECT_EQ(identity_unmap(fixture_.domain(), 0x7000'0000, 0x7000'8000, batch).error(), Error::not_found);
}

TEST_P(IdentityMap, PartialOverlapIsRefusedAndChangesNothing) {
    LogCapture log;
    Batch batch(fixture_.domain().invalidation_targets());
    ASSERT_TRUE(identity_map(fixture_.domain(), 0x10'0000, 0x20'0000, Access::read_write, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    const uint64_t pages = fixture_.allocator().live_pages();
    const Status status = identity_map(fixture_.domain(), 0x18'0000, 0x28'0000, Access::read_write, batch);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error(), Error::overlap);
    EXPECT_TRUE(log.contains("overlaps region [0x100000, 0x200000)")) << (log.lines().empty() ? "" : log.lines().back());
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(fixture_.allocator().live_pages(), pages);
    expect_identity(0x10'0000, 0x20'0000, Access::read_write, 17 * page_size);
    expect_unmapped(0x20'0000, 0x28'0000, 17 * page_size);
    // A range containing the region is refused too; so is other access.
    EXPECT_EQ(identity_map(fixture_.domain(), 0, 0x40'0000, Access::read_write, batch).error(), Error::overlap);
    EXPECT_EQ(identity_map(fixture_.domain(), 0x10'0000, 0x20'0000, Access::read, batch).error(), Error::overlap);
    EXPECT_EQ(regions_in_use(), 1u);
}

TEST_P(IdentityMap, ARegionInsideALargerOneSharesItsMapping) {
    const uint64_t baseline = fixture_.allocator().live_pages();
    Batch batch(fixture_.domain().invalidation_targets());
    ASSERT_TRUE(identity_map(fixture_.domain(), 0, 16 * MiB, Access::read_write, batch).ok());
    const uint64_t pages = fixture_.allocator().live_pages();
    ASSERT_TRUE(identity_map(fixture_.domain(), 8 * MiB, 8 * MiB + 0x4000, Access::read, batch).ok());
    EXPECT_EQ(fixture_.allocator().live_pages(), pages);
    // The outer region's owner lets go first: the inner one keeps it mapped.
    ASSERT_TRUE(identity_unmap(fixture_.domain(), 0, 16 * MiB, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_identity(0, 16 * MiB, Access::read_write, 61 * page_size);
    // Releasing the outer range again is a caller's error: nobody holds it
    // any more, and the inner region still needs the mapping.
    EXPECT_EQ(identity_unmap(fixture_.domain(), 0, 16 * MiB, batch).error(), Error::not_found);
    ASSERT_TRUE(batch.commit().ok());
    expect_identity(0, 16 * MiB, Access::read_write, 61 * page_size);
    ASSERT_TRUE(identity_unmap(fixture_.domain(), 8 * MiB, 8 * MiB + 0x4000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_unmapped(0, 16 * MiB, 61 * page_size);
    EXPECT_EQ(fixture_.allocator().live_pages(), baseline);
    EXPECT_EQ(regions_in_use(), 0u);

    // Inside a read-only region, read-write is refused.
    ASSERT_TRUE(identity_map(fixture_.domain(), 0, 16 * MiB, Access::read, batch).ok());
    EXPECT_EQ(identity_map(fixture_.domain(), 8 * MiB, 9 * MiB, Access::read_write, batch).error(), Error::overlap);
    ASSERT_TRUE(batch.commit().ok());
}

TEST_P(IdentityMap, ARangeHoldingOtherMappingsIsRefused) {
    Batch batch(fixture_.domain().invalidation_targets());
    auto& domain = fixture_.domain();
    if (domain.translated())
        ASSERT_TRUE(fixture_.p2m().map(0x30'0000, page_size, 0x9000'0000, {Access::read_write, p2m::P2mType::ram},
                                   fixture_.allocator(), batch).ok());
    else
        ASSERT_TRUE(domain.iommu_map(0x30'0000, page_size, 0x9000'0000, Access::read_write, fixture_.allocator(), batch).ok());
    EXPECT_EQ(identity_map(domain, 0x20'0000, 0x40'0000, Access::read_write, batch).error(), Error::already_exists);
    EXPECT_EQ(regions_in_use(), 0u);
    ASSERT_TRUE(batch.commit().ok());
}

TEST_P(IdentityMap, MalformedRequestsAreRefused) {
    auto& domain = fixture_.domain();
    Batch batch(domain.invalidation_targets());
    EXPECT_EQ(identity_map(domain, 0x1001, 0x3000, Access::read, batch).error(), Error::invalid_argument);
    EXPECT_EQ(identity_map(domain, 0x3000, 0x3000, Access::read, batch).error(), Error::invalid_argument);
    EXPECT_EQ(identity_map(domain, 0x3000, 0x4000, Access::none, batch).error(), Error::invalid_argument);
    EXPECT_EQ(identity_map(domain, uint64_t{1} << 48, (uint64_t{1} << 48) + page_size, Access::read, batch).error(),
              Error::out_of_range);
    if (domain.translated())
        EXPECT_EQ(identity_map(domain, 0x3000, 0x4000, Access::write, batch).error(), Error::invalid_argument);
    paging::InvalidationTargets other;
    Batch foreign(other);
    EXPECT_EQ(identity_map(domain, 0x3000, 0x4000, Access::read, foreign).error(), Error::invalid_argument);
    EXPECT_EQ(identity_unmap(domain, 0x3000, 0x4000, batch).error(), Error::not_found);
    EXPECT_TRUE(batch.empty());
}

// For every N, the N-th page allocation fails during a mapping that merges
// with its left neighbour, spans 1 GiB leaves and needs new tables at its
// right end: the call must undo itself, leave every translation as it was
// and leak nothing.
TEST_P(IdentityMap, RollsBackOnOutOfMemoryAtEveryAllocation) {
    auto& domain = fixture_.domain();
    auto& allocator = fixture_.allocator();
    Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(identity_map(domain, 0, MiB, Access::read_write, batch).ok());
    ASSERT_TRUE(identity_map(domain, 5 * GiB, 5 * GiB + MiB, Access::read_write, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    const uint64_t start = MiB, end = 3 * GiB + 5 * MiB + 3 * page_size;
    std::vector<uint64_t> samples = {0,       MiB - page_size,     MiB,          2 * MiB - page_size, 2 * MiB,
                                     GiB,     2 * GiB + 4 * MiB,   3 * GiB,      3 * GiB + 5 * MiB,   end - page_size,
                                     end,     end + page_size,     5 * GiB,      5 * GiB + MiB - page_size};
    auto snapshot = [&] {
        std::vector<std::string> state;
        for (uint64_t address : samples) {
            state.push_back(fixture_.dma(address).to_string());
            if (fixture_.has_p2m()) state.push_back(fixture_.guest(address).to_string());
        }
        return state;
    };
    const auto before = snapshot();
    const uint64_t regions_before = regions_in_use();
    bool succeeded = false;
    uint64_t failures_after_changes = 0;
    for (uint64_t failing = 1; failing < 64 && !succeeded; ++failing) {
        allocator.fail_allocation(failing);
        const Status status = identity_map(domain, start, end, Access::read_write, batch);
        allocator.fail_allocation(0);
        const bool changed = !batch.empty();
        ASSERT_TRUE(batch.commit().ok());
        if (status.ok()) {
            succeeded = true;
            break;
        }
        failures_after_changes += changed ? 1 : 0;
        ASSERT_EQ(status.error(), Error::out_of_memory) << "allocation " << failing;
        EXPECT_EQ(snapshot(), before) << "allocation " << failing << " left a change behind";
        EXPECT_EQ(allocator.live_pages(), fixture_.reachable_pages()) << "allocation " << failing << " leaked";
        EXPECT_EQ(regions_in_use(), regions_before);
    }
    ASSERT_TRUE(succeeded);
    // Some failures hit the mapping itself, not only the undo reserve.
    EXPECT_GE(failures_after_changes, 2u);
    expect_identity(0, end, Access::read_write, 4093 * page_size);
    expect_identity(end - 4 * page_size, end, Access::read_write);
    expect_unmapped(end, end + page_size);
    EXPECT_EQ(fixture_.dma(0).page_size, GiB);  // merged with the neighbour, up to 1 GiB

    // Unmapping needs pages to split the edge superpages: with none to be
    // had it refuses and changes nothing.
    allocator.fail_allocation(1);
    EXPECT_EQ(identity_unmap(domain, start, end, batch).error(), Error::out_of_memory);
    allocator.fail_allocation(0);
    EXPECT_TRUE(batch.empty());
    expect_identity(0, end, Access::read_write, 4093 * page_size);
    ASSERT_TRUE(identity_unmap(domain, start, end, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(snapshot(), before);
    ASSERT_TRUE(identity_unmap(domain, 0, MiB, batch).ok());
    ASSERT_TRUE(identity_unmap(domain, 5 * GiB, 5 * GiB + MiB, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    expect_unmapped(0, end, 4093 * page_size);
    EXPECT_EQ(allocator.live_pages(), fixture_.reachable_pages());
}

INSTANTIATE_TEST_SUITE_P(AllDomainKinds, IdentityMap, ::testing::ValuesIn(setups),
                         [](const auto& info) { return std::string(info.param.name); });

// Mapping K regions in one batch costs one invalidation per unit, whatever K.
TEST(IdentityMapBatching, ThousandRegionsOneInvalidationPerUnit) {
    for (bool caching_mode : {false, true}) {
        DomainFixture fixture(DomainKind::hvm, IommuTableKind::vtd_second_level, false, {caching_mode, true, 18});
        std::vector<passthrough::IdentityRegion> storage(1100);
        passthrough::IommuConfiguration configuration = configuration_for(
            IommuTableKind::vtd_second_level, false, Span<passthrough::IdentityRegion>(storage.data(), storage.size()));
        auto created = passthrough::IommuContext::create(configuration, nullptr, fixture.memory(), fixture.allocator());
        ASSERT_TRUE(created.ok());
        passthrough::IommuContext domain = std::move(created).value();
        const VtdReference reference(4, true, true, 46);
        ModelIommu second(fixture.memory(), reference, {caching_mode, true, 9});
        ASSERT_TRUE(domain.invalidation_targets().attach(fixture.unit(), 1).ok());
        ASSERT_TRUE(domain.invalidation_targets().attach(second, 2).ok());
        Batch batch(domain.invalidation_targets());
        for (uint64_t index = 0; index < 1000; ++index) {
            const uint64_t start = 0x8000'0000 + index * 0x10'0000;
            ASSERT_TRUE(identity_map(domain, start, start + 4 * page_size, Access::read_write, batch).ok());
        }
        ASSERT_TRUE(batch.commit().ok());
        const size_t expected = caching_mode ? 1 : 0;
        EXPECT_EQ(fixture.unit().log().size(), expected) << "caching mode " << caching_mode;
        EXPECT_EQ(second.log().size(), expected);
        for (uint64_t index = 0; index < 1000; ++index) {
            const uint64_t start = 0x8000'0000 + index * 0x10'0000;
            ASSERT_TRUE(identity_unmap(domain, start, start + 4 * page_size, batch).ok());
        }
        // Unmapping frees ~500 tables: more than the batch holds, so it
        // commits early once per Batch::release_capacity pages.
        const uint64_t early = batch.statistics().early_commits;
        EXPECT_EQ(early, 1u);
        ASSERT_TRUE(batch.commit().ok());
        EXPECT_EQ(fixture.unit().log().size(), expected + 1 + early);
        EXPECT_EQ(second.log().size(), expected + 1 + early);
        domain.destroy(batch);
        ASSERT_TRUE(batch.commit().ok());
    }
}

}  // namespace
}  // namespace sluice::testing
