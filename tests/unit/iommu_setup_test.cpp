// The hardware domain's IOMMU set-up on a simulated Intel platform
// (tests/support/vtd_platform.hpp): what the edu device can reach through
// the unit model afterwards, how many invalidations the set-up issued, and
// the iommu=force/required/0 rules.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/vtd_platform.hpp"

#include <drivers/passthrough/amd/ivmd_option.hpp>
#include <drivers/passthrough/amd/probe.hpp>
#include <drivers/passthrough/iommu_setup.hpp>
#include <drivers/passthrough/iommu_vendor.hpp>
#include <drivers/passthrough/vtd/probe.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sluice::testing {
namespace {

using passthrough::HardwareDomainIommuMode;
using passthrough::IommuSetup;
using passthrough::ProtectionState;
using Operation = VtdRegisterModel::Operation;

constexpr uint64_t caching_mode_bit = uint64_t{1} << 7;
constexpr uint64_t pass_through_bit = uint64_t{1} << 6;
// An RMRR in the e820 reserved range above RAM.
constexpr PhysicalAddress rmrr_base = VtdPlatform::tables + 0x10000;

class IommuSetupTest : public ::testing::Test {
protected:
    // The option lists are process-wide; a test starts with none.
    void SetUp() override {
        vtd::clear_rmrr_option();
        amd::clear_ivmd_option_regions();
    }
    void TearDown() override {
        vtd::reset_probe();
        vtd::clear_rmrr_option();
    }

    void make_platform(uint64_t capability = VtdRegisterModel::qemu_capability,
                       uint64_t extended = VtdRegisterModel::qemu_extended_capability) {
        machine = std::make_unique<VtdPlatform>(capability, extended);
    }
    Status run(DmarBuilder dmar = VtdPlatform::qemu_dmar(), uint64_t dom0_bytes = 8 * MiB) {
        if (!machine) make_platform();
        machine->install(dmar.build());
        platform = std::make_unique<passthrough::Platform>(machine->platform());
        return setup->run(*platform, machine->inputs(dom0_bytes));
    }
    uint16_t edu() const { return VtdPlatform::edu.requester_id(); }
    bool reaches(PhysicalAddress address, bool write = false) {
        return machine->unit.dma(edu(), address, write).ok;
    }

    LogCapture log;
    std::unique_ptr<VtdPlatform> machine;
    std::unique_ptr<passthrough::Platform> platform;
    std::unique_ptr<IommuSetup> setup = std::make_unique<IommuSetup>();
};

// The vendors reach the set-up only through their SLUICE_IOMMU_VENDOR
// registrations; the set-up probes them sorted by order, whatever order the
// linker put the registrations in.
TEST(IommuVendorRegistry, BothVendorsAreRegisteredVtdFirst) {
    const Span<const passthrough::IommuVendor> vendors = passthrough::iommu_vendors();
    ASSERT_EQ(vendors.size(), 2u);
    EXPECT_EQ(vendors[0].order, 10u);
    EXPECT_STREQ(vendors[0].name, "Intel VT-d");
    EXPECT_EQ(vendors[0].probe, &vtd::probe);
    EXPECT_EQ(vendors[0].configure_domain, &vtd::configure_domain);
    EXPECT_EQ(vendors[0].report_unused_options, &vtd::report_unused_options);
    EXPECT_EQ(vendors[1].order, 20u);
    EXPECT_STREQ(vendors[1].name, "AMD-Vi");
    EXPECT_EQ(vendors[1].probe, &amd::probe);
    EXPECT_EQ(vendors[1].configure_domain, &amd::configure_domain);
    EXPECT_EQ(vendors[1].report_unused_options, &amd::report_unused_options);
    // Asking again gives the same answer (the sort works on a copy).
    const Span<const passthrough::IommuVendor> again = passthrough::iommu_vendors();
    ASSERT_EQ(again.size(), 2u);
    EXPECT_EQ(again[0].order, 10u);
    EXPECT_EQ(again[1].order, 20u);
}

TEST_F(IommuSetupTest, StrictHardwareDomainReachesItsMemoryAndItsRmrrOnly) {
    machine = std::make_unique<VtdPlatform>();
    machine->options.hardware_domain.strict = true;
    ASSERT_TRUE(run(VtdPlatform::qemu_dmar().reserved(rmrr_base, rmrr_base + 0xfff, {VtdPlatform::edu})).ok());

    EXPECT_EQ(setup->state(), ProtectionState::active);
    EXPECT_STREQ(setup->vendor(), "Intel VT-d");
    EXPECT_EQ(setup->policy().mode, HardwareDomainIommuMode::strict);
    ASSERT_NE(setup->hardware_domain(), nullptr);
    EXPECT_EQ(setup->hardware_domain_memory().total_length(), 8 * MiB);
    EXPECT_EQ(setup->protected_devices(), 3u);
    EXPECT_EQ(setup->unprotected_devices(), 0u);
    EXPECT_EQ(setup->mapped_reserved_regions(), 1u);
    EXPECT_NE(machine->unit.status() & VtdRegisterModel::te, 0u);

    const PhysicalAddress own = setup->hardware_domain_memory()[0].start;
    EXPECT_TRUE(reaches(own, true));
    EXPECT_TRUE(reaches(rmrr_base, true));
    // Not its own: free RAM, the hypervisor, the unit's root table.
    const Result<PhysicalAddress> free_page = machine->allocator.allocate_page();
    ASSERT_TRUE(free_page.ok());
    EXPECT_FALSE(reaches(free_page.value()));
    EXPECT_FALSE(reaches(VtdPlatform::hypervisor_page));
    EXPECT_FALSE(reaches(vtd::probed_units()[0].root_table()));
    EXPECT_TRUE(log.contains("iommu: hardware domain: 8 MiB in 1 range (dom0_mem=as given)"));
    EXPECT_TRUE(log.contains("RMRR (DMAR at 0x2000000, offset 0x58) 0x2010000-0x2010fff identity-mapped read-write "
                             "for 0000:00:01.0"));
}

TEST_F(IommuSetupTest, RelaxedReachesFreeRamButNeverTheHypervisorOrTheIommuTables) {
    ASSERT_TRUE(run().ok());
    EXPECT_EQ(setup->policy().mode, HardwareDomainIommuMode::relaxed);
    const Result<PhysicalAddress> free_page = machine->allocator.allocate_page();
    ASSERT_TRUE(free_page.ok());
    EXPECT_TRUE(reaches(free_page.value(), true));
    EXPECT_FALSE(reaches(VtdPlatform::hypervisor_page));
    // Every page of the table pool stays out of reach, in use or not.
    const passthrough::AddressRange pool = setup->table_pool().block();
    ASSERT_FALSE(pool.empty());
    EXPECT_GT(setup->table_pool().pages_in_use(), 0u);
    EXPECT_FALSE(reaches(pool.start));
    EXPECT_FALSE(reaches(pool.end - page_size));
    EXPECT_FALSE(reaches(vtd::probed_units()[0].root_table()));
    EXPECT_FALSE(reaches(setup->hardware_domain()->iommu_root()));
    // e820 reserved memory (map-reserved, the default) is mapped.
    EXPECT_TRUE(reaches(0xf0000));
}

TEST_F(IommuSetupTest, OneBatchOneFlushWhateverTheNumberOfReservedRegions) {
    // Caching Mode: every added mapping would need a flush if it were made
    // and committed on its own.
    size_t invalidations[2] = {};
    size_t context[2] = {};
    const size_t counts[2] = {1, 16};
    for (int run_index = 0; run_index < 2; ++run_index) {
        vtd::reset_probe();
        setup = std::make_unique<IommuSetup>();
        make_platform(VtdRegisterModel::qemu_capability | caching_mode_bit);
        machine->options.hardware_domain.strict = true;
        machine->options.hardware_domain.map_reserved = false;
        DmarBuilder dmar = VtdPlatform::qemu_dmar();
        for (size_t index = 0; index < counts[run_index]; ++index)
            dmar.reserved(rmrr_base + index * 0x2000, rmrr_base + index * 0x2000 + 0xfff, {VtdPlatform::edu});
        ASSERT_TRUE(run(std::move(dmar)).ok());
        EXPECT_EQ(setup->mapped_reserved_regions(), counts[run_index]);
        EXPECT_TRUE(reaches(rmrr_base + (counts[run_index] - 1) * 0x2000));
        invalidations[run_index] = machine->unit.iotlb_invalidations();
        context[run_index] = machine->unit.context_invalidations();
    }
    EXPECT_EQ(invalidations[0], invalidations[1]);
    EXPECT_EQ(context[0], context[1]);
    EXPECT_EQ(invalidations[1], 1u);  // the global one before translation is enabled
}

TEST_F(IommuSetupTest, PassThroughContextEntriesWhenTheUnitOffersIt) {
    machine = std::make_unique<VtdPlatform>();
    machine->options.hardware_domain.passthrough = true;
    ASSERT_TRUE(run().ok());
    EXPECT_TRUE(setup->passthrough_active());
    EXPECT_TRUE(setup->mapped_read_write().empty());
    EXPECT_TRUE(reaches(VtdPlatform::hypervisor_page, true));
    EXPECT_TRUE(log.contains("devices: 0 translated, 3 passed through, 0 unprotected"));
    // Said plainly, as a warning.
    EXPECT_EQ(log.count_warnings("dom0-iommu=passthrough: 3 devices of the hardware domain are not restricted: their "
                                 "DMA reaches all memory untranslated, the hypervisor's included"),
              1u);
}

TEST_F(IommuSetupTest, PassThroughWithoutEcapPtFallsBackToTheRelaxedMap) {
    make_platform(VtdRegisterModel::qemu_capability, VtdRegisterModel::qemu_extended_capability & ~pass_through_bit);
    machine->options.hardware_domain.passthrough = true;
    ASSERT_TRUE(run().ok());
    EXPECT_EQ(setup->policy().mode, HardwareDomainIommuMode::relaxed);
    EXPECT_TRUE(log.contains("vtd0 at 0xfed90000 cannot pass DMA through untranslated"));
    EXPECT_FALSE(log.contains("not restricted"));  // nothing was passed through after all
    EXPECT_FALSE(reaches(VtdPlatform::hypervisor_page));
    EXPECT_TRUE(reaches(setup->hardware_domain_memory()[0].start));
}

TEST_F(IommuSetupTest, MapReservedOffKeepsReservedMemoryOutButRmrrsIn) {
    make_platform();
    machine->options.hardware_domain.strict = true;
    machine->options.hardware_domain.map_reserved = false;
    ASSERT_TRUE(run(VtdPlatform::qemu_dmar().reserved(rmrr_base, rmrr_base + 0xfff, {VtdPlatform::edu})).ok());
    EXPECT_FALSE(reaches(0xf0000));
    EXPECT_TRUE(reaches(rmrr_base));
    EXPECT_FALSE(reaches(rmrr_base + page_size));
}

TEST_F(IommuSetupTest, ReservedRegionsOfAbsentDevicesAreNotMapped) {
    make_platform();
    machine->options.hardware_domain.map_reserved = false;
    ASSERT_TRUE(run(VtdPlatform::qemu_dmar().reserved(rmrr_base, rmrr_base + 0xfff, {pci::PciAddress{0, 0, 5, 0}}))
                    .ok());
    EXPECT_EQ(setup->mapped_reserved_regions(), 0u);
    EXPECT_TRUE(log.contains("no device of its scope is present; not mapped"));
}

TEST_F(IommuSetupTest, RmrrOptionRegionsAreMappedForTheirDevice) {
    make_platform();
    machine->options.hardware_domain.strict = true;
    machine->options.hardware_domain.map_reserved = false;
    LogCapture quiet;
    cmdline::LogReporter reporter;
    vtd::parse_rmrr_option("rmrr", "2012=0:0:1.0", reporter);
    ASSERT_TRUE(run().ok());
    EXPECT_TRUE(reaches(0x2012000));
    EXPECT_TRUE(quiet.contains("rmrr= range 1 0x2012000-0x2012fff identity-mapped read-write for 0000:00:01.0"));
}

TEST_F(IommuSetupTest, IommuZeroBootsWithoutTouchingTheUnit) {
    make_platform();
    machine->options.enabled = false;
    ASSERT_TRUE(run().ok());
    EXPECT_EQ(setup->state(), ProtectionState::disabled);
    EXPECT_TRUE(machine->unit.command_writes().empty());
    ASSERT_NE(setup->hardware_domain(), nullptr);
    EXPECT_EQ(setup->hardware_domain_memory().total_length(), 8 * MiB);
    EXPECT_TRUE(log.contains("iommu: warning: IOMMU disabled by iommu=0: DMA from devices is not restricted"));
}

TEST_F(IommuSetupTest, IommuZeroWithRequiredRefuses) {
    make_platform();
    machine->options.enabled = false;
    machine->options.required = true;
    EXPECT_FALSE(run().ok());
}

TEST_F(IommuSetupTest, NoIommuIsReportedAndRefusedOnlyWhenRequired) {
    make_platform();
    machine->directory = acpi::TableDirectory{};
    platform = std::make_unique<passthrough::Platform>(machine->platform());
    ASSERT_TRUE(setup->run(*platform, machine->inputs()).ok());
    EXPECT_EQ(setup->state(), ProtectionState::absent);
    EXPECT_TRUE(log.contains("iommu: warning: no IOMMU found: DMA from devices is not restricted"));

    setup = std::make_unique<IommuSetup>();
    machine->options.required = true;
    EXPECT_EQ(setup->run(*platform, machine->inputs()).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("no IOMMU found, and iommu=force/required asks for DMA protection: refusing to boot"));
}

TEST_F(IommuSetupTest, AUnitThatNeverAnswersLeavesItsDevicesReportedAsUnprotected) {
    make_platform();
    machine->unit.set_answering(false);
    ASSERT_TRUE(run().ok());
    EXPECT_EQ(setup->state(), ProtectionState::failed);
    EXPECT_TRUE(log.contains("0000:00:01.0 is behind vtd0 at 0xfed90000, which failed: its DMA is not restricted"));
    EXPECT_TRUE(log.contains("no IOMMU unit works: DMA from devices is not restricted"));
}

TEST_F(IommuSetupTest, AUnitThatNeverAnswersRefusesBootWhenRequired) {
    make_platform();
    machine->unit.set_answering(false);
    machine->options.required = true;
    EXPECT_EQ(run().error(), Error::unsupported);
}

TEST_F(IommuSetupTest, ADeviceBehindNoUnitIsNamed) {
    make_platform();
    ASSERT_TRUE(run(DmarBuilder().unit(VtdPlatform::unit_base, {VtdPlatform::host_bridge, VtdPlatform::isa_bridge}))
                    .ok());
    EXPECT_EQ(setup->state(), ProtectionState::partial);
    EXPECT_EQ(setup->unprotected_devices(), 1u);
    EXPECT_TRUE(log.contains("0000:00:01.0 is behind no IOMMU unit: its DMA is not restricted"));
    EXPECT_TRUE(log.contains("DMA protection is incomplete: 0 units failed, 1 device unprotected"));
}

TEST_F(IommuSetupTest, IncompleteProtectionRefusesBootWhenRequired) {
    make_platform();
    machine->options.required = true;
    EXPECT_EQ(run(DmarBuilder().unit(VtdPlatform::unit_base, {VtdPlatform::host_bridge})).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("iommu=force/required asks for it: refusing to boot"));
}

TEST_F(IommuSetupTest, TablesOfANonCoherentUnitAreWrittenBack) {
    ASSERT_TRUE(run().ok());  // QEMU: ECAP.C = 0
    const PhysicalAddress root = setup->hardware_domain()->iommu_root();
    EXPECT_TRUE(machine->cache.covers(root, page_size));
    // Every 64-bit store to the hardware domain's tables was written back:
    // look for the leaf of the first range.
    size_t table_writes = 0;
    for (const auto& [address, length] : machine->cache.ranges)
        if (length == 8) ++table_writes;
    EXPECT_GT(table_writes, 0u);
}

TEST_F(IommuSetupTest, DefaultDom0MemoryLeavesXensReserve) {
    make_platform();
    machine->install(VtdPlatform::qemu_dmar().build());
    platform = std::make_unique<passthrough::Platform>(machine->platform());
    passthrough::SetupInputs inputs = machine->inputs();
    inputs.hardware_domain.memory = passthrough::HardwareDomainMemoryOptions{};
    ASSERT_TRUE(setup->run(*platform, inputs).ok());
    // 30 MiB available: a sixteenth (under 128 MiB) stays with the hypervisor,
    // the rest goes to dom0 as far as it is free after the table pool.
    const uint64_t available = inputs.available_bytes;
    EXPECT_LE(setup->hardware_domain_memory().total_length(), available - available / 16);
    EXPECT_GE(setup->hardware_domain_memory().total_length(),
              available - available / 16 - passthrough::TablePool::page_count * page_size - 64 * page_size);
}

// --- Pieces -------------------------------------------------------------------------------

TEST(DomainMemory, AllocatedInTheLargestRunsAvailable) {
    SimulatedMemory memory(0, 64 * page_size);
    SimulatedPageAllocator allocator(memory, 0, 64);
    // Fragment: pages 8 and 20 taken.
    std::vector<PhysicalAddress> taken;
    for (int index = 0; index < 21; ++index) taken.push_back(allocator.allocate_page().value());
    for (PhysicalAddress page : taken)
        if (page != 8 * page_size && page != 20 * page_size) allocator.free_page(page);
    passthrough::AddressRange storage[8];
    passthrough::RangeSet ranges{Span<passthrough::AddressRange>(storage, 8)};
    const uint64_t obtained = passthrough::allocate_domain_memory(allocator, 40 * page_size, ranges);
    EXPECT_EQ(obtained, 40 * page_size);
    EXPECT_EQ(ranges.total_length(), 40 * page_size);
    EXPECT_FALSE(ranges.contains(8 * page_size));
    EXPECT_FALSE(ranges.contains(20 * page_size));
    EXPECT_EQ(allocator.live_pages(), 42u);
}

TEST(DomainMemory, StopsWhenMemoryRunsOut) {
    SimulatedMemory memory(0, 16 * page_size);
    SimulatedPageAllocator allocator(memory, 0, 16);
    passthrough::AddressRange storage[8];
    passthrough::RangeSet ranges{Span<passthrough::AddressRange>(storage, 8)};
    EXPECT_EQ(passthrough::allocate_domain_memory(allocator, 64 * page_size, ranges), 16 * page_size);
}

TEST(TablePool, ServesFromItsBlockThenFallsBackWithAWarning) {
    LogCapture log;
    SimulatedMemory memory(0, 2048 * page_size);
    SimulatedPageAllocator allocator(memory, 0, 2048);
    passthrough::TablePool pool;
    pool.initialize(allocator);
    const passthrough::AddressRange block = pool.block();
    ASSERT_EQ(block.length(), passthrough::TablePool::page_count * page_size);
    std::vector<PhysicalAddress> pages;
    for (uint64_t index = 0; index < passthrough::TablePool::page_count; ++index) {
        const Result<PhysicalAddress> page = pool.allocate_page();
        ASSERT_TRUE(page.ok());
        ASSERT_TRUE(block.contains(page.value()));
        pages.push_back(page.value());
    }
    EXPECT_EQ(pool.pages_in_use(), passthrough::TablePool::page_count);
    const Result<PhysicalAddress> outside = pool.allocate_page();
    ASSERT_TRUE(outside.ok());
    EXPECT_FALSE(block.contains(outside.value()));
    EXPECT_TRUE(log.contains("the IOMMU table pool (1024 pages) is used up"));
    pool.free_page(outside.value());
    pool.free_page(pages[5]);
    EXPECT_EQ(pool.allocate_page().value(), pages[5]);
    // Contiguous and aligned runs come from the block while it has them.
    pool.free_page(pages[64]);
    pool.free_page(pages[65]);
    EXPECT_EQ(pool.allocate_contiguous(2, 2 * page_size, ~PhysicalAddress{0}).value(), pages[64]);
    // A double free is refused.
    pool.free_page(pages[7]);
    pool.free_page(pages[7]);
    EXPECT_TRUE(log.contains("freed but not in use"));
}

}  // namespace
}  // namespace sluice::testing
