// Domain creation rules (which kinds have a p2m, when VT-d may share EPT),
// accounting and teardown.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

using passthrough::Domain;
using passthrough::DomainKind;
using passthrough::IdentityRegion;
using passthrough::IommuTableKind;
using passthrough::P2mTableKind;

struct Machine {
    SimulatedMemory memory{0x1'0000'0000, 64 * page_size};
    SimulatedPageAllocator allocator{memory, 0x1'0000'0000, 64};
    std::vector<IdentityRegion> regions = std::vector<IdentityRegion>(8);
    Span<IdentityRegion> storage() { return Span<IdentityRegion>(regions.data(), regions.size()); }
};

TEST(Domain, ConfigurationsThatCannotWorkAreRefused) {
    Machine machine;
    LogCapture log;
    auto configuration = configuration_for(DomainKind::pv, IommuTableKind::vtd_second_level, false, machine.storage());
    configuration.p2m = P2mTableKind::ept;
    EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::invalid_argument);
    configuration = configuration_for(DomainKind::hvm, IommuTableKind::vtd_second_level, false, machine.storage());
    configuration.p2m = P2mTableKind::none;
    EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::invalid_argument);
    // AMD cannot walk NPT tables.
    configuration = configuration_for(DomainKind::hvm, IommuTableKind::amd_v1, true, machine.storage());
    EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::unsupported);
    // VT-d without 1 GiB pages cannot walk an EPT that uses them; nor a
    // 3-level VT-d a 4-level EPT.
    configuration = configuration_for(DomainKind::hvm, IommuTableKind::vtd_second_level, true, machine.storage());
    configuration.vtd = passthrough::VtdSecondLevelFormat(4, true, false, false, 48, 46);
    EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::unsupported);
    configuration.vtd = passthrough::VtdSecondLevelFormat(3, true, true, false, 39, 46);
    EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("cannot walk this EPT"));
    EXPECT_EQ(machine.allocator.live_pages(), 0u);
}

TEST(Domain, CreationOutOfMemoryLeaksNothing) {
    Machine machine;
    const auto configuration =
        configuration_for(DomainKind::hvm, IommuTableKind::vtd_second_level, false, machine.storage());
    for (uint64_t failing = 1; failing <= 2; ++failing) {
        machine.allocator.fail_allocation(failing);
        EXPECT_EQ(Domain::create(configuration, machine.memory, machine.allocator).error(), Error::out_of_memory);
        EXPECT_EQ(machine.allocator.live_pages(), 0u);
    }
    machine.allocator.fail_allocation(0);
    auto created = Domain::create(configuration, machine.memory, machine.allocator);
    ASSERT_TRUE(created.ok());
    EXPECT_EQ(machine.allocator.live_pages(), 2u);
}

TEST(Domain, SharingPointsTheIommuAtTheP2m) {
    Machine machine;
    auto created = Domain::create(
        configuration_for(DomainKind::pvh, IommuTableKind::vtd_second_level, true, machine.storage()), machine.memory,
        machine.allocator);
    ASSERT_TRUE(created.ok());
    const Domain& domain = created.value();
    EXPECT_TRUE(domain.translated());
    EXPECT_EQ(domain.iommu_root(), domain.p2m_root());
    EXPECT_EQ(domain.iommu_levels(), 4u);
    EXPECT_EQ(machine.allocator.live_pages(), 1u);
}

TEST(Domain, DestroyReturnsEveryTablePageAfterTheInvalidation) {
    DomainFixture fixture(DomainKind::hvm, IommuTableKind::amd_v1, false);
    auto& domain = fixture.domain();
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(passthrough::identity_map(domain, 0x1000, 0x40'3000, paging::Access::read, batch).ok());
    ASSERT_TRUE(domain.p2m_map(8 * GiB, 3 * page_size, 0x5000'0000, {paging::Access::read_write, p2m::P2mType::ram},
                               fixture.allocator(), batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(domain.table_pages(), fixture.reachable_pages());
    EXPECT_EQ(fixture.allocator().live_pages(), fixture.reachable_pages());
    const size_t invalidations = fixture.unit().log().size();
    domain.destroy(batch);
    EXPECT_GT(fixture.allocator().live_pages(), 0u);  // not before the commit
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(fixture.unit().log().size(), invalidations + 1);
    EXPECT_TRUE(fixture.unit().log().back().domain);
    EXPECT_EQ(fixture.allocator().live_pages(), 0u);
}

TEST(Domain, VtdFormatFollowsTheCapabilityRegister) {
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
TEST(Domain, AmdTablesOfEveryDepthTranslate) {
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
