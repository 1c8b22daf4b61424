// The domain object: which kinds have a p2m, its vCPUs, and identity maps
// named by the domain reaching both its p2m and its IOMMU tables (read back
// by the reference walkers, support/reference_walkers.hpp).
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"

#include <common/domain.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sluice::testing {
namespace {

struct Machine {
    SimulatedMemory memory{0x1'0000'0000, 64 * page_size};
    SimulatedPageAllocator allocator{memory, 0x1'0000'0000, 64};
};

TEST(Domain, KindAndP2mMustAgree) {
    Machine machine;
    LogCapture log;
    auto domain = std::make_unique<Domain>();
    DomainConfiguration configuration = domain_configuration_for(DomainKind::pv, passthrough::IommuTableKind::amd_v1);
    configuration.p2m.kind = p2m::P2mTableKind::npt;
    EXPECT_EQ(domain->initialize(configuration, machine.memory, machine.allocator).error(), Error::invalid_argument);
    configuration = domain_configuration_for(DomainKind::pvh, passthrough::IommuTableKind::amd_v1);
    configuration.p2m.kind = p2m::P2mTableKind::none;
    EXPECT_EQ(domain->initialize(configuration, machine.memory, machine.allocator).error(), Error::invalid_argument);
    EXPECT_TRUE(log.contains("a PVH domain needs a p2m"));
    EXPECT_FALSE(domain->initialized());
    EXPECT_EQ(machine.allocator.live_pages(), 0u);

    ASSERT_TRUE(domain->initialize(domain_configuration_for(DomainKind::pv, passthrough::IommuTableKind::amd_v1),
                                   machine.memory, machine.allocator).ok());
    EXPECT_EQ(domain->p2m(), nullptr);
    EXPECT_EQ(domain->iommu(), nullptr);
    EXPECT_EQ(domain->initialize(domain_configuration_for(DomainKind::pv, passthrough::IommuTableKind::amd_v1),
                                 machine.memory, machine.allocator).error(),
              Error::invalid_argument);
}

TEST(Domain, TranslatedDomainsGetAP2mAndOutOfMemoryLeaksNothing) {
    Machine machine;
    auto domain = std::make_unique<Domain>();
    const DomainConfiguration configuration =
        domain_configuration_for(DomainKind::pvh, passthrough::IommuTableKind::vtd_second_level);
    machine.allocator.fail_allocation(1);
    EXPECT_EQ(domain->initialize(configuration, machine.memory, machine.allocator).error(), Error::out_of_memory);
    EXPECT_EQ(machine.allocator.live_pages(), 0u);
    machine.allocator.fail_allocation(0);
    ASSERT_TRUE(domain->initialize(configuration, machine.memory, machine.allocator).ok());
    ASSERT_NE(domain->p2m(), nullptr);
    EXPECT_EQ(domain->p2m()->kind(), p2m::P2mTableKind::ept);
    EXPECT_TRUE(domain->translated());
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    EXPECT_EQ(domain->identity_map(0, page_size, paging::Access::read, batch).error(), Error::not_found);
}

TEST(Domain, VcpusAreNumberedAndBound) {
    Machine machine;
    auto domain = std::make_unique<Domain>();
    ASSERT_TRUE(domain->initialize(domain_configuration_for(DomainKind::pv, passthrough::IommuTableKind::amd_v1),
                                   machine.memory, machine.allocator).ok());
    std::vector<Vcpu> vcpus(Domain::vcpu_capacity + 1);
    for (size_t index = 0; index < Domain::vcpu_capacity; ++index) ASSERT_TRUE(domain->add_vcpu(vcpus[index]).ok());
    EXPECT_EQ(domain->add_vcpu(vcpus.back()).error(), Error::capacity);
    ASSERT_EQ(domain->vcpus().size(), Domain::vcpu_capacity);
    for (size_t index = 0; index < Domain::vcpu_capacity; ++index) {
        EXPECT_EQ(domain->vcpus()[index], &vcpus[index]);
        EXPECT_EQ(vcpus[index].vcpu_id, index);
        EXPECT_EQ(vcpus[index].domain, domain.get());
    }
}

// An identity map named by the domain goes into its p2m and its IOMMU
// tables, in one batch with one invalidation; the IOMMU context follows the
// domain's p2m, which the domain owns.
TEST(Domain, IdentityMapsReachTheP2mAndTheIommu) {
    DomainFixture fixture(DomainKind::pvh, passthrough::IommuTableKind::amd_v1, false, {true, true, 18});
    Domain& domain = fixture.owner();
    EXPECT_EQ(domain.iommu()->p2m(), domain.p2m());
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(domain.identity_map(0xfed0'0000, 0xfed0'4000, paging::Access::read_write, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(fixture.unit().log().size(), 1u);
    for (uint64_t address : {0xfed0'0000ull, 0xfed0'3ff8ull}) {
        const ReferenceTranslation dma = fixture.dma(address);
        const ReferenceTranslation guest = fixture.guest(address);
        ASSERT_TRUE(dma.translated()) << dma.to_string();
        ASSERT_TRUE(guest.translated()) << guest.to_string();
        EXPECT_EQ(dma.output, address);
        EXPECT_EQ(guest.output, address);
        EXPECT_TRUE(dma.write && guest.write);
    }
    ASSERT_TRUE(domain.identity_unmap(0xfed0'0000, 0xfed0'4000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_FALSE(fixture.dma(0xfed0'0000).translated());
    EXPECT_FALSE(fixture.guest(0xfed0'0000).translated());
}

}  // namespace
}  // namespace sluice::testing
