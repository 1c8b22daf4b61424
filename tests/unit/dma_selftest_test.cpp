// The DMA self-test and the edu driver on the simulated Intel platform
// (tests/support/vtd_platform.hpp): it passes in every mode on a correct
// set-up, and fails, saying why, on broken hardware or a broken policy.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/vtd_platform.hpp"

#include <drivers/passthrough/amd/ivmd_option.hpp>
#include <drivers/passthrough/dma_selftest.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/vtd/probe.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>
#include <drivers/pci/edu.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace sluice::testing {
namespace {

using passthrough::IommuSetup;
using passthrough::SelftestResult;

constexpr PhysicalAddress rmrr_base = VtdPlatform::tables + 0x10000;

class DmaSelftestTest : public ::testing::Test {
protected:
    // The option lists are process-wide; a test starts with none.
    void SetUp() override {
        vtd::clear_rmrr_option();
        amd::clear_ivmd_option_regions();
    }
    void TearDown() override { vtd::reset_probe(); }

    void set_up(DmarBuilder dmar = VtdPlatform::qemu_dmar().reserved(rmrr_base, rmrr_base + 0x1fff,
                                                                     {VtdPlatform::edu})) {
        machine->install(dmar.build());
        platform = std::make_unique<passthrough::Platform>(machine->platform());
        ASSERT_TRUE(setup->run(*platform, machine->inputs()).ok());
    }
    SelftestResult run() { return passthrough::run_dma_selftest(*platform, *setup, VtdPlatform::hypervisor_page); }
    bool line(const std::string& text) const { return log.contains(text); }
    // The line of a failed check, for messages.
    std::string failures() const {
        std::string text;
        for (const std::string& each : log.lines())
            if (each.find("FAIL") != std::string::npos) text += each + "\n";
        return text;
    }

    LogCapture log;
    std::unique_ptr<VtdPlatform> machine = std::make_unique<VtdPlatform>();
    std::unique_ptr<passthrough::Platform> platform;
    std::unique_ptr<IommuSetup> setup = std::make_unique<IommuSetup>();
};

TEST_F(DmaSelftestTest, StrictPassesEveryCheck) {
    machine->options.hardware_domain.strict = true;
    set_up();
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 0u) << failures();
    EXPECT_EQ(result.passed, 9u);
    EXPECT_TRUE(line("dma-selftest: 0000:00:01.0: edu DMA engine answers ... ok"));
    EXPECT_TRUE(line("dma-selftest: 0000:00:01.0: RMRR (DMAR at 0x2000000, offset 0x58) 0x2010000-0x2011fff, first 64 "
                     "bytes ... ok"));
    EXPECT_TRUE(line("dma-selftest: 0000:00:01.0: RMRR (DMAR at 0x2000000, offset 0x58) 0x2010000-0x2011fff, last 64 "
                     "bytes ... ok"));
    EXPECT_TRUE(line("(strict: must fault) ... ok"));
    EXPECT_TRUE(line("dma-selftest: 0000:00:01.0: read of hypervisor memory 0x180000 (strict: must fault) ... ok"));
    EXPECT_TRUE(line("mapped, reached, unmapped in one batch, then faults (strict) ... ok"));
    EXPECT_TRUE(line("dma-selftest: 9 passed, 0 failed"));
    // The hardware domain is as it was: the test page is unmapped again.
    EXPECT_FALSE(machine->unit.dma(VtdPlatform::edu.requester_id(), VtdPlatform::hypervisor_page, false).ok);
}

TEST_F(DmaSelftestTest, RelaxedPassesEveryCheck) {
    set_up();
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 0u) << failures();
    EXPECT_EQ(result.passed, 9u);
    EXPECT_TRUE(line("(relaxed: must succeed) ... ok"));
    EXPECT_TRUE(line("read of hypervisor memory 0x180000 (relaxed: must fault) ... ok"));
}

TEST_F(DmaSelftestTest, RegisterBasedInvalidationPassesToo) {
    machine->options.queued_invalidation = false;
    machine->options.hardware_domain.strict = true;
    set_up();
    EXPECT_EQ(run().failed, 0u) << failures();
}

TEST_F(DmaSelftestTest, PassThroughExpectsEverythingToGetThrough) {
    machine->options.hardware_domain.passthrough = true;
    set_up();
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 0u) << failures();
    EXPECT_EQ(result.passed, 8u);  // no unmap check: nothing is translated
    EXPECT_TRUE(line("read of hypervisor memory 0x180000 (pass-through: must succeed) ... ok"));
}

TEST_F(DmaSelftestTest, WithoutAnIommuEverythingGetsThrough) {
    machine->options.enabled = false;
    set_up();
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 0u) << failures();
    EXPECT_TRUE(line("write to hypervisor memory 0x180000 (no IOMMU: must succeed) ... ok"));
}

TEST_F(DmaSelftestTest, AMissingFlushIsCaught) {
    machine->options.hardware_domain.strict = true;
    set_up();
    machine->unit.set_ignoring_page_invalidations(true);
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 1u) << failures();
    EXPECT_TRUE(line("mapped, reached, unmapped in one batch, then faults (strict) ... FAIL (the device wrote the memory: "
                     "not blocked)"))
        << failures();
    EXPECT_TRUE(line("dma-selftest: 8 passed, 1 failed"));
}

TEST_F(DmaSelftestTest, AFaultRecordWithTheWrongSourceIsCaught) {
    machine->options.hardware_domain.strict = true;
    set_up();
    machine->unit.set_recorded_source(VtdPlatform::isa_bridge.requester_id());
    const SelftestResult result = run();
    EXPECT_EQ(result.failed, 5u);  // every expected fault
    EXPECT_TRUE(line("must fault) ... FAIL (fault recorded for 0000:00:1f.0)"));
}

TEST_F(DmaSelftestTest, HypervisorMemoryMappedForTheDeviceIsCaught) {
    machine->options.hardware_domain.strict = true;
    set_up();
    // A policy bug: the hypervisor's page identity-mapped for dom0.
    passthrough::IommuContext& domain = *setup->hardware_domain();
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(passthrough::identity_map(domain, VtdPlatform::image_start, VtdPlatform::image_end,
                                          paging::Access::read_write, batch)
                    .ok());
    ASSERT_TRUE(batch.commit().ok());
    const SelftestResult result = run();
    EXPECT_GE(result.failed, 2u);
    EXPECT_TRUE(line("read of hypervisor memory 0x180000 (strict: must fault) ... FAIL (the device read the memory: not "
                     "blocked)"))
        << failures();
    EXPECT_TRUE(line("write to hypervisor memory 0x180000 (strict: must fault) ... FAIL"));
}

TEST_F(DmaSelftestTest, FreeRamReachableInStrictModeIsCaught) {
    machine->options.hardware_domain.strict = true;
    set_up();
    // Map all RAM the allocator manages, as relaxed mode would.
    passthrough::IommuContext& domain = *setup->hardware_domain();
    paging::Batch batch(domain.invalidation_targets());
    const PhysicalAddress first = setup->hardware_domain_memory()[0].end;
    ASSERT_TRUE(passthrough::identity_map(domain, first, VtdPlatform::ram_end, paging::Access::read_write, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_GE(run().failed, 2u);
    EXPECT_TRUE(line("not the hardware domain's (strict: must fault) ... FAIL"));
}

TEST_F(DmaSelftestTest, NoEduDeviceIsAFailure) {
    machine->devices.clear();
    set_up();
    const SelftestResult result = run();
    EXPECT_EQ(result.passed, 0u);
    EXPECT_EQ(result.failed, 1u);
    EXPECT_TRUE(line("dma-selftest: an edu device (PCI 1234:11e8) to drive ... FAIL (none found)"));
}

TEST_F(DmaSelftestTest, AStuckDeviceFailsWithinItsTimeLimit) {
    set_up();
    machine->edu_model.stuck = true;
    const SelftestResult result = run();
    EXPECT_GE(result.failed, 1u);
    EXPECT_TRUE(line("did not complete: timed out"));
}

// --- The edu driver ---------------------------------------------------------------------

class EduTest : public DmaSelftestTest {
protected:
    pci::EduDevice open() {
        const Optional<pci::Device> device = machine->devices.find(VtdPlatform::edu);
        if (!device) throw std::runtime_error("no edu");
        auto opened = pci::EduDevice::open(*device, machine->configuration, machine->mmio, machine->clock);
        if (!opened.ok()) throw std::runtime_error("edu open");
        return opened.value();
    }
};

TEST_F(EduTest, OpeningEnablesMemoryDecodingAndBusMastering) {
    const pci::EduDevice edu = open();
    EXPECT_EQ(machine->configuration.command(VtdPlatform::edu) & 6, 6);
    EXPECT_EQ(edu.registers_base(), VtdPlatform::edu_base);
}

TEST_F(EduTest, TransfersAreCheckedAgainstQemusLimits) {
    pci::EduDevice edu = open();
    EXPECT_EQ(edu.copy_from_memory(0x300000, 0, 2049).error(), Error::invalid_argument);
    EXPECT_EQ(edu.copy_from_memory(0x300000, 2048, 2048).error(), Error::invalid_argument);  // would end at 0x41000
    EXPECT_EQ(edu.copy_to_memory(0, 0x300000, 0).error(), Error::invalid_argument);
    EXPECT_TRUE(edu.copy_from_memory(0x300000, 2047, 2048).ok());
    EXPECT_EQ(machine->edu_model.transfers, 1u);
}

TEST_F(EduTest, DataGoesBothWays) {
    pci::EduDevice edu = open();
    const uint8_t pattern[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    ASSERT_TRUE(machine->memory.write_bytes(0x300000, pattern, sizeof pattern).ok());
    ASSERT_TRUE(edu.copy_from_memory(0x300000, 100, sizeof pattern).ok());
    EXPECT_EQ(machine->edu_model.buffer()[100], 1);
    EXPECT_EQ(machine->edu_model.buffer()[115], 16);
    ASSERT_TRUE(edu.copy_to_memory(100, 0x301000, sizeof pattern).ok());
    uint8_t seen[16] = {};
    ASSERT_TRUE(machine->memory.read_bytes(0x301000, seen, sizeof seen).ok());
    EXPECT_EQ(std::memcmp(seen, pattern, sizeof pattern), 0);
}

TEST_F(EduTest, AnAbsentDeviceIsRefused) {
    machine->configuration.add(pci::PciAddress{0, 0, 2, 0}, 0x1234, 0x11e8, 0x00ff00, 0);
    pci::Device device;
    device.address = pci::PciAddress{0, 0, 2, 0};
    device.vendor_id = 0x1234;
    device.device_id = 0x11e8;
    EXPECT_EQ(pci::EduDevice::open(device, machine->configuration, machine->mmio, machine->clock).error(),
              Error::unsupported);
    EXPECT_TRUE(log.contains("0000:00:02.0: BAR0 is not assigned"));
}

}  // namespace
}  // namespace sluice::testing
