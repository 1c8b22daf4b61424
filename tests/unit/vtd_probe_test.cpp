// vtd::probe and vtd::configure_domain on the simulated Intel platform:
// units from every DMAR table, failed units registered, the reserved
// regions collected, and the table format all units share.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/vtd_platform.hpp"

#include <drivers/passthrough/vtd/probe.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sluice::testing {
namespace {

class VtdProbeTest : public ::testing::Test {
protected:
    void SetUp() override { vtd::clear_rmrr_option(); }
    void TearDown() override {
        vtd::reset_probe();
        vtd::clear_rmrr_option();
    }
    Status probe(const std::vector<uint8_t>& dmar) {
        machine->install(dmar);
        platform = std::make_unique<passthrough::Platform>(machine->platform());
        return vtd::probe(*platform, registry, regions);
    }

    LogCapture log;
    std::unique_ptr<VtdPlatform> machine = std::make_unique<VtdPlatform>();
    std::unique_ptr<passthrough::Platform> platform;
    passthrough::UnitRegistry registry;
    passthrough::ReservedRegionList regions;
};

TEST_F(VtdProbeTest, QemusTableGivesOneWorkingUnitForEveryBusZeroDevice) {
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar().build()).ok());
    ASSERT_EQ(registry.units().size(), 1u);
    passthrough::IommuUnit& unit = *registry.units()[0];
    EXPECT_FALSE(unit.failed());
    EXPECT_EQ(unit.register_base(), VtdPlatform::unit_base);
    EXPECT_EQ(registry.unit_for(VtdPlatform::edu), &unit);
    EXPECT_EQ(registry.unit_for(pci::PciAddress{0, 0, 5, 0}), nullptr);
    EXPECT_TRUE(log.contains("vtd: DMAR: host address width 39, 1 unit, 0 RMRRs"));
    // Translation stays off until the set-up enables it.
    EXPECT_EQ(machine->unit.status() & VtdRegisterModel::te, 0u);
}

TEST_F(VtdProbeTest, NoDmarIsNotAVtdPlatform) {
    platform = std::make_unique<passthrough::Platform>(machine->platform());
    EXPECT_EQ(vtd::probe(*platform, registry, regions).error(), Error::not_found);
    EXPECT_TRUE(registry.units().empty());
}

TEST_F(VtdProbeTest, ADmarWithoutUnitsIsNotAVtdPlatform) {
    EXPECT_EQ(probe(DmarBuilder().build()).error(), Error::not_found);
    EXPECT_TRUE(log.contains("DMAR tables describe no remapping unit; VT-d not used"));
}

TEST_F(VtdProbeTest, AUnitWhereNothingAnswersIsRegisteredAsFailed) {
    // The second DRHD's base has no register model behind it.
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar().unit(0xfed98000, {pci::PciAddress{0, 0, 0x1e, 0}}).build()).ok());
    ASSERT_EQ(registry.units().size(), 2u);
    EXPECT_FALSE(registry.units()[0]->failed());
    EXPECT_TRUE(registry.units()[1]->failed());
    EXPECT_TRUE(log.contains("vtd1 at 0xfed98000: registers (4096 bytes) cannot be mapped"));
    EXPECT_EQ(registry.unit_for(pci::PciAddress{0, 0, 0x1e, 0}), registry.units()[1]);
    // The working unit alone decides the format.
    passthrough::IommuConfiguration configuration;
    ASSERT_TRUE(vtd::configure_domain(machine->options, configuration).ok());
    EXPECT_EQ(configuration.vtd.levels(), 3u);
}

TEST_F(VtdProbeTest, ReservedRegionsFromTheTableAndTheOption) {
    cmdline::LogReporter reporter;
    vtd::parse_rmrr_option("rmrr", "2020=0:0:1.0", reporter);
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar()
                          .reserved(0x2010000, 0x2010fff, {VtdPlatform::edu})
                          .reserved(0x100000, 0x100fff, {VtdPlatform::edu})  // RAM: refused
                          .build())
                    .ok());
    ASSERT_EQ(regions.size(), 2u);
    EXPECT_EQ(regions.regions()[0].base, 0x2010000u);
    EXPECT_EQ(regions.regions()[1].base, 0x2020000u);
    EXPECT_TRUE(log.contains("touches RAM"));
    EXPECT_TRUE(log.contains("reserved memory: 2 regions from RMRRs and rmrr= accepted, 1 rejected"));
}

TEST_F(VtdProbeTest, VerboseDecodesTheCapabilities) {
    machine->options.verbose = true;
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar().build()).ok());
    EXPECT_TRUE(log.contains("vtd: unit 0 at 0xfed90000: CAP 0xd2008c22260206 ECAP 0xf00f4a"));
    EXPECT_TRUE(log.contains("vtd: unit 0: domains 65536, SAGAW 39, MGAW 39, SSLPS 2M+1G"));
    EXPECT_TRUE(log.contains("queued invalidation, table updates written back (not coherent)"));
}

TEST_F(VtdProbeTest, FormatFollowsTheUnitAndTheOptions) {
    machine = std::make_unique<VtdPlatform>(0x00d2008c222f0606);  // aw-bits=48
    ASSERT_TRUE(probe(DmarBuilder(48).unit(VtdPlatform::unit_base, {VtdPlatform::edu}).build()).ok());
    passthrough::IommuConfiguration configuration;
    ASSERT_TRUE(vtd::configure_domain(machine->options, configuration).ok());
    EXPECT_EQ(configuration.iommu, passthrough::IommuTableKind::vtd_second_level);
    EXPECT_EQ(configuration.vtd.levels(), 4u);
    EXPECT_EQ(configuration.vtd.last_input(), (uint64_t{1} << 48) - 1);
    EXPECT_TRUE(configuration.vtd.leaf_allowed(2));
    EXPECT_TRUE(configuration.vtd.leaf_allowed(3));
    // No snoop control on QEMU: leaves never carry SNP.
    EXPECT_FALSE(configuration.vtd.snoop());
    machine->options.superpages = false;
    ASSERT_TRUE(vtd::configure_domain(machine->options, configuration).ok());
    EXPECT_FALSE(configuration.vtd.leaf_allowed(2));
}

TEST_F(VtdProbeTest, NoWorkingUnitNoFormat) {
    machine->unit.set_register_reads_all_ones(true);
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar().build()).ok());
    passthrough::IommuConfiguration configuration;
    EXPECT_EQ(vtd::configure_domain(machine->options, configuration).error(), Error::not_found);
}

TEST_F(VtdProbeTest, QueuedInvalidationFollowsTheOption) {
    machine->options.queued_invalidation = false;
    ASSERT_TRUE(probe(VtdPlatform::qemu_dmar().build()).ok());
    EXPECT_FALSE(vtd::probed_units()[0].uses_queued_invalidation());
    EXPECT_EQ(machine->unit.status() & VtdRegisterModel::qie, 0u);
}

}  // namespace
}  // namespace sluice::testing
