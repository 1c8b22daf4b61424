// The extra DMAR tables the VT-d boot scenarios hand to QEMU with -acpitable
// (tests/boot/scenarios/vtd_*.dmar, written by tools/make-dmar): each says
// what its scenario relies on, checked with the parser the hypervisor uses.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/vtd_platform.hpp"

#include <drivers/passthrough/vtd/dmar.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace sluice::testing {
namespace {

std::vector<uint8_t> scenario_table(const char* name) {
    const std::filesystem::path path =
        std::filesystem::path(__FILE__).parent_path().parent_path() / "boot" / "scenarios" / name;
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot read " + path.string());
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

struct Parsed {
    Status status;
    std::unique_ptr<vtd::DmarDescription> description = std::make_unique<vtd::DmarDescription>();
};

// after_qemu: parse QEMU's own DMAR first, as the hypervisor sees them.
Parsed parse(const char* name, LogCapture& log, bool after_qemu = false) {
    const std::vector<uint8_t> bytes = scenario_table(name);
    // The table's own checksum must be right: QEMU recomputes it anyway.
    uint8_t sum = 0;
    for (uint8_t byte : bytes) sum = static_cast<uint8_t>(sum + byte);
    EXPECT_EQ(sum, 0) << name;
    Parsed parsed;
    if (after_qemu) {
        const std::vector<uint8_t> qemu = VtdPlatform::qemu_dmar().build();
        EXPECT_TRUE(vtd::parse_dmar(Span<const uint8_t>(qemu.data(), qemu.size()), 0x1ffe2259, *parsed.description).ok());
    }
    parsed.status = vtd::parse_dmar(Span<const uint8_t>(bytes.data(), bytes.size()), 0x1ffe22f1, *parsed.description);
    (void)log;
    return parsed;
}

TEST(VtdScenarioTables, OneRmrrForEdu) {
    LogCapture log;
    const Parsed parsed = parse("vtd_rmrr_one.dmar", log);
    ASSERT_TRUE(parsed.status.ok());
    const vtd::DmarDescription& dmar = *parsed.description;
    // QEMU's own values (aw-bits=39, interrupt remapping on), so no warning.
    EXPECT_EQ(dmar.host_address_width(), 39u);
    EXPECT_EQ(dmar.flags(), 0x01);
    EXPECT_TRUE(dmar.units().empty());
    ASSERT_EQ(dmar.reserved_memory().size(), 1u);
    EXPECT_EQ(dmar.reserved_memory()[0].base, 0xfffc0000u);
    EXPECT_EQ(dmar.reserved_memory()[0].limit, 0xfffc0fffu);
    EXPECT_EQ(dmar.reserved_memory()[0].offset, 0x30u);
    const auto scopes = dmar.scopes(dmar.reserved_memory()[0].scopes);
    ASSERT_EQ(scopes.size(), 1u);
    EXPECT_TRUE(scopes[0].resolved);
    EXPECT_EQ(scopes[0].device, (pci::PciAddress{0, 0, 1, 0}));
    EXPECT_TRUE(log.lines().empty());
}

TEST(VtdScenarioTables, SixteenSeparateRmrrsForEdu) {
    LogCapture log;
    const Parsed parsed = parse("vtd_rmrr_many.dmar", log);
    ASSERT_TRUE(parsed.status.ok());
    const auto regions = parsed.description->reserved_memory();
    ASSERT_EQ(regions.size(), 16u);
    for (size_t index = 0; index < regions.size(); ++index) {
        EXPECT_EQ(regions[index].base, 0xfffc0000u + index * 0x2000);
        EXPECT_EQ(regions[index].limit, 0xfffc0fffu + index * 0x2000);
    }
    EXPECT_TRUE(log.lines().empty());
}

TEST(VtdScenarioTables, MalformedTableKeepsItsGoodRmrr) {
    LogCapture log;
    const Parsed parsed = parse("vtd_dmar_malformed.dmar", log, true);
    ASSERT_TRUE(parsed.status.ok());
    const vtd::DmarDescription& dmar = *parsed.description;
    // Both of its DRHDs are rejected (base 0; QEMU's base again): QEMU's unit only.
    ASSERT_EQ(dmar.units().size(), 1u);
    EXPECT_EQ(dmar.units()[0].table, 0x1ffe2259u);
    // The good RMRR and the one in RAM (which the placement check refuses later).
    ASSERT_EQ(dmar.reserved_memory().size(), 2u);
    EXPECT_EQ(dmar.reserved_memory()[0].base, 0xfffc0000u);
    EXPECT_EQ(dmar.reserved_memory()[1].base, 0x100000u);
    EXPECT_EQ(dmar.rejected(), 10u);
    EXPECT_TRUE(log.contains("offset 0x13f: RMRR: length 32 runs past the end of the table (20 bytes left)"));
}

TEST(VtdScenarioTables, ZeroLengthStopsTheTableAfterItsRmrr) {
    LogCapture log;
    const Parsed parsed = parse("vtd_dmar_zero_length.dmar", log);
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.description->reserved_memory().size(), 1u);
    EXPECT_TRUE(log.contains("offset 0x50: RMRR: length 0 is smaller than its 24-byte header"));
}

TEST(VtdScenarioTables, ShortTableIsRefusedAsAWhole) {
    LogCapture log;
    const Parsed parsed = parse("vtd_dmar_short.dmar", log);
    EXPECT_EQ(parsed.status.error(), Error::malformed);
    EXPECT_EQ(scenario_table("vtd_dmar_short.dmar").size(), 40u);
}

TEST(VtdScenarioTables, AbsentUnitIsAWellFormedDrhd) {
    LogCapture log;
    const Parsed parsed = parse("vtd_dmar_absent_unit.dmar", log);
    ASSERT_TRUE(parsed.status.ok());
    ASSERT_EQ(parsed.description->units().size(), 1u);
    EXPECT_EQ(parsed.description->units()[0].register_base, 0xfed98000u);
    EXPECT_FALSE(parsed.description->units()[0].include_pci_all);
    EXPECT_TRUE(log.lines().empty());
}

}  // namespace
}  // namespace sluice::testing
