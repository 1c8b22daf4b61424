// IOMMU context creation rules (when VT-d may share the p2m), accounting and
// teardown.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

using passthrough::IdentityRegion;
using passthrough::IommuContext;
using passthrough::IommuTableKind;

struct Machine {
    SimulatedMemory memory{0x1'0000'0000, 64 * page_size};
    SimulatedPageAllocator allocator{memory, 0x1'0000'0000, 64};
    std::vector<IdentityRegion> regions = std::vector<IdentityRegion>(8);
    Span<IdentityRegion> storage() { return Span<IdentityRegion>(regions.data(), regions.size()); }

    p2m::P2m ept() {
        p2m::P2mConfiguration configuration;
        configuration.kind = p2m::P2mTableKind::ept;
        return p2m::P2m::create(configuration, memory, allocator).value();
    }
    p2m::P2m npt() {
        p2m::P2mConfiguration configuration;
        configuration.kind = p2m::P2mTableKind::npt;
        return p2m::P2m::create(configuration, memory, allocator).value();
    }
};

TEST(IommuContext, SharingTheFormatsCannotWalkIsRefused) {
    Machine machine;
    LogCapture log;
    p2m::P2m ept = machine.ept();
    p2m::P2m npt = machine.npt();
    const uint64_t p2m_pages = machine.allocator.live_pages();
    // AMD cannot walk NPT tables, VT-d cannot walk NPT, and sharing needs a p2m.
    auto configuration = configuration_for(IommuTableKind::amd_v1, true, machine.storage());
    EXPECT_EQ(IommuContext::create(configuration, &npt, machine.memory, machine.allocator).error(), Error::unsupported);
    configuration = configuration_for(IommuTableKind::vtd_second_level, true, machine.storage());
    EXPECT_EQ(IommuContext::create(configuration, &npt, machine.memory, machine.allocator).error(), Error::unsupported);
    EXPECT_EQ(IommuContext::create(configuration, nullptr, machine.memory, machine.allocator).error(),
              Error::unsupported);
    // VT-d without 1 GiB pages cannot walk an EPT that uses them; nor a
    // 3-level VT-d a 4-level EPT.
    configuration.vtd = passthrough::VtdSecondLevelFormat(4, true, false, false, 48, 46);
    EXPECT_EQ(IommuContext::create(configuration, &ept, machine.memory, machine.allocator).error(), Error::unsupported);
    configuration.vtd = passthrough::VtdSecondLevelFormat(3, true, true, false, 39, 46);
    EXPECT_EQ(IommuContext::create(configuration, &ept, machine.memory, machine.allocator).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("cannot walk this EPT"));
    EXPECT_EQ(machine.allocator.live_pages(), p2m_pages);
}

TEST(IommuContext, CreationOutOfMemoryLeaksNothing) {
    Machine machine;
    const auto configuration = configuration_for(IommuTableKind::vtd_second_level, false, machine.storage());
    machine.allocator.fail_allocation(1);
    EXPECT_EQ(IommuContext::create(configuration, nullptr, machine.memory, machine.allocator).error(),
              Error::out_of_memory);
    EXPECT_EQ(machine.allocator.live_pages(), 0u);
    machine.allocator.fail_allocation(0);
    auto created = IommuContext::create(configuration, nullptr, machine.memory, machine.allocator);
    ASSERT_TRUE(created.ok());
    EXPECT_FALSE(created.value().translated());
    EXPECT_EQ(machine.allocator.live_pages(), 1u);
}

TEST(IommuContext, SharingPointsTheIommuAtTheP2m) {
    Machine machine;
    p2m::P2m ept = machine.ept();
    auto created = IommuContext::create(configuration_for(IommuTableKind::vtd_second_level, true, machine.storage()),
                                        &ept, machine.memory, machine.allocator);
    ASSERT_TRUE(created.ok());
    const IommuContext& context = created.value();
    EXPECT_TRUE(context.translated());
    EXPECT_EQ(context.iommu_root(), ept.root());
    EXPECT_EQ(context.iommu_levels(), 4u);
    EXPECT_EQ(context.table_pages(), 0u);
    EXPECT_EQ(machine.allocator.live_pages(), 1u);  // the p2m root only
}

TEST(IommuContext, DestroyReturnsEveryTablePageAfterTheInvalidation) {
    DomainFixture fixture(DomainKind::hvm, IommuTableKind::amd_v1, false);
    auto& domain = fixture.domain();
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(passthrough::identity_map(domain, 0x1000, 0x40'3000, paging::Access::read, batch).ok());
    ASSERT_TRUE(fixture.p2m().map(8 * GiB, 3 * page_size, 0x5000'0000, {paging::Access::read_write, p2m::P2mType::ram},
                                  fixture.allocator(), batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(domain.table_pages() + fixture.p2m().table_pages(), fixture.reachable_pages());
    EXPECT_EQ(fixture.allocator().live_pages(), fixture.reachable_pages());
    const size_t invalidations = fixture.unit().log().size();
    fixture.owner().destroy(batch);
    EXPECT_GT(fixture.allocator().live_pages(), 0u);  // not before the commit
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(fixture.unit().log().size(), invalidations + 1);
    EXPECT_TRUE(fixture.unit().log().back().domain);
    EXPECT_EQ(fixture.allocator().live_pages(), 0u);
}

TEST(IommuContext, VtdFormatFollowsTheCapabilityRegister) {
    // QEMU intel-iommu, aw-bits=39: SAGAW 3-level only, MGAW 39, SLLPS 2M+1G.
    const uint64_t qemu = 0xd2008c22260206;
    auto format = passthrough::VtdSecondLevelFormat::from_capability(qemu, 48, 39, false);
    ASSERT_TRUE(format.ok());
    EXPECT_EQ(format.value().levels(), 3u);
    EXPECT_EQ(format.value().last_input(), (uint64_t{1} << 39) - 1);
    EXPECT_TRUE(format.value().leaf_allowed(2));
    EXPECT_TRUE(format.value().leaf_allowed(3));
    EXPECT_EQ(passthrough::vtd_capability::maximum_address_mask_value(qemu), 18u);
    // With 4- and 5-level support a 48-bit domain gets 4 levels.
    const uint64_t wide = (qemu & ~(uint64_t{0x1f} << 8) & ~(uint64_t{0x3f} << 16)) | (uint64_t{0xe} << 8) |
                          (uint64_t{56} << 16);
    auto deeper = passthrough::VtdSecondLevelFormat::from_capability(wide, 48, 46, true);
    ASSERT_TRUE(deeper.ok());
    EXPECT_EQ(deeper.value().levels(), 4u);
    EXPECT_TRUE(deeper.value().snoop());
    EXPECT_EQ(passthrough::VtdSecondLevelFormat::from_capability(0, 48, 46, false).error(), Error::unsupported);
    // SLLPS with 1 GiB but not 2 MiB: splitting a 1 GiB leaf would need 2 MiB
    // leaves the unit cannot walk, so neither superpage size is used.
    const uint64_t only_1g = (qemu & ~(uint64_t{0xf} << 34)) | (uint64_t{0x2} << 34);
    auto gigabyte_only = passthrough::VtdSecondLevelFormat::from_capability(only_1g, 48, 39, false);
    ASSERT_TRUE(gigabyte_only.ok());
    EXPECT_FALSE(gigabyte_only.value().leaf_allowed(2));
    EXPECT_FALSE(gigabyte_only.value().leaf_allowed(3));
    EXPECT_FALSE(p2m::EptFormat(4, false, true, 46).leaf_allowed(3));
    auto amd = passthrough::AmdV1Format::for_address_width(48, 6);
    ASSERT_TRUE(amd.ok());
    EXPECT_EQ(amd.value().levels(), 4u);
    EXPECT_EQ(passthrough::AmdV1Format::for_address_width(64, 6).value().levels(), 6u);
    EXPECT_EQ(passthrough::AmdV1Format::for_address_width(20, 6).value().levels(), 1u);
}

// AMD tables from one level (2 MiB of address space) to six (all of it).
TEST(IommuContext, AmdTablesOfEveryDepthTranslate) {
    for (unsigned levels = 1; levels <= 6; ++levels) {
        SimulatedMemory memory(0x1'0000'0000, 64 * page_size);
        SimulatedPageAllocator allocator(memory, 0x1'0000'0000, 64);
        const passthrough::AmdV1Format format(levels, 3, 64);
        using Walker = paging::PageTableWalker<passthrough::AmdV1Format, PhysicalMemory>;
        const PhysicalAddress root = Walker::create_root(memory, allocator).value();
        Walker walker(format, memory, root, allocator);
        paging::InvalidationTargets targets;
        paging::Batch batch(targets);
        const uint64_t address = paging::last_address_for_levels(levels) & ~uint64_t{0x3f'ffff} & ~page_mask;
        ASSERT_TRUE(walker.map(address, 4 * MiB > format.last_input() ? 2 * MiB : 4 * MiB, 0x8000'0000,
                               {paging::Access::read}, allocator, batch).ok())
            << levels;
        const AmdReference reference(levels);
        const ReferenceTranslation translation = reference.translate(memory, root, address + 0x1000);
        ASSERT_TRUE(translation.translated()) << levels;
        EXPECT_EQ(translation.output, 0x8000'1000u);
        EXPECT_TRUE(translation.read);
        EXPECT_FALSE(translation.write);
        EXPECT_EQ(translation.page_size, levels >= 2 ? 2 * MiB : page_size);
        ASSERT_TRUE(walker.unmap(address, 2 * MiB, allocator, batch).ok());
        ASSERT_TRUE(batch.commit().ok());
        EXPECT_EQ(allocator.live_pages(), reachable_tables(reference, memory, root).size()) << levels;
    }
}

}  // namespace
}  // namespace sluice::testing
