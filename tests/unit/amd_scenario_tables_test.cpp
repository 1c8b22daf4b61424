// The extra IVRS tables the AMD boot scenarios hand to QEMU with -acpitable
// (tests/boot/scenarios/amd_*.ivrs, written by tools/make-ivrs): each says
// what its scenario relies on, checked with the parser the hypervisor uses.
#include "support/log_capture.hpp"

#include <drivers/passthrough/amd/ivrs.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace sluice;

std::vector<uint8_t> scenario_table(const char* name) {
    const std::filesystem::path path =
        std::filesystem::path(__FILE__).parent_path().parent_path() / "boot" / "scenarios" / name;
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot read " + path.string());
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

struct Parsed {
    std::unique_ptr<amd::IvrsDescription> description = std::make_unique<amd::IvrsDescription>();
    Status status;
    std::vector<std::string> warnings;
};

Parsed parse(const char* name) {
    const std::vector<uint8_t> table = scenario_table(name);
    Parsed parsed;
    sluice::testing::LogCapture log;
    parsed.status = amd::parse_ivrs(Span<const uint8_t>(table.data(), table.size()), 0x1ffe22fa, *parsed.description);
    parsed.warnings = log.problems();
    // QEMU takes the length field as the file's length.
    EXPECT_EQ(table[4] | table[5] << 8 | table[6] << 16 | table[7] << 24, static_cast<int>(table.size()));
    uint8_t sum = 0;
    for (uint8_t byte : table) sum = static_cast<uint8_t>(sum + byte);
    EXPECT_EQ(sum, 0);
    return parsed;
}

TEST(AmdScenarioTables, OneIvmdForEdu) {
    const Parsed parsed = parse("amd_ivmd_one.ivrs");
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_TRUE(parsed.warnings.empty());
    EXPECT_TRUE(parsed.description->units().empty());
    ASSERT_EQ(parsed.description->ivmd_regions().size(), 1u);
    const amd::IvmdRegion& region = parsed.description->ivmd_regions()[0];
    EXPECT_EQ(region.start, 0xfffc0000u);
    EXPECT_EQ(region.length, 0x1000u);
    EXPECT_EQ(region.scope, amd::IvmdScope::one_device);
    EXPECT_EQ(region.first_device, 0x0010);  // 00:02.0, edu behind QEMU's amd-iommu at 00:01.0
    EXPECT_TRUE(region.read);
    EXPECT_TRUE(region.write);
}

TEST(AmdScenarioTables, SixteenSeparateIvmdsForEdu) {
    const Parsed parsed = parse("amd_ivmd_many.ivrs");
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_TRUE(parsed.warnings.empty());
    ASSERT_EQ(parsed.description->ivmd_regions().size(), 16u);
    for (size_t index = 0; index < 16; ++index) {
        const amd::IvmdRegion& region = parsed.description->ivmd_regions()[index];
        EXPECT_EQ(region.start, 0xfffc0000u + 0x2000 * index);
        EXPECT_EQ(region.length, 0x1000u);
        EXPECT_EQ(region.first_device, 0x0010);
    }
}

TEST(AmdScenarioTables, MalformedBlocksAreRejectedOneByOne) {
    const Parsed parsed = parse("amd_ivrs_malformed.ivrs");
    ASSERT_TRUE(parsed.status.ok());
    // flags, empty, reversed, the IVHD base and the truncated block are
    // rejected; the unaligned IVMD is kept, rounded outward to whole pages
    // (one more warning); the unknown block type is only an info line.
    EXPECT_EQ(parsed.description->rejected_count(), 5u);
    EXPECT_EQ(parsed.description->rounded_count(), 1u);
    EXPECT_EQ(parsed.warnings.size(), 6u);
    EXPECT_TRUE(parsed.description->units().empty());
    ASSERT_EQ(parsed.description->ivmd_regions().size(), 2u);
    EXPECT_EQ(parsed.description->ivmd_regions()[0].start, 0xfffc0000u);
    EXPECT_EQ(parsed.description->ivmd_regions()[1].start, 0xfffd0000u);
    EXPECT_EQ(parsed.description->ivmd_regions()[1].length, 0x2000u);
    EXPECT_EQ(parsed.description->ivmd_regions()[1].first_device, 0x0010);
}

TEST(AmdScenarioTables, AShortTableIsRefusedWhole) {
    const Parsed parsed = parse("amd_ivrs_short.ivrs");
    EXPECT_EQ(parsed.status.error(), Error::malformed);
    EXPECT_EQ(parsed.warnings.size(), 1u);
}

}  // namespace
