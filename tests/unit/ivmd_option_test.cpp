// The ivmd= option: Xen's syntax, device lists and ranges, and one warning
// per malformed part with the good parts kept.
#include <gtest/gtest.h>

#include <drivers/passthrough/amd/ivmd_option.hpp>

#include <sluice/cmdline.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::amd;

class CapturingReporter final : public cmdline::Reporter {
public:
    void warn(StringView option, StringView reason) override {
        warnings.push_back(std::string(option.data(), option.length()) + ": " +
                           std::string(reason.data(), reason.length()));
    }
    std::vector<std::string> warnings;
};

struct Outcome {
    std::unique_ptr<IvmdOptionRegions> regions = std::make_unique<IvmdOptionRegions>();
    std::vector<std::string> warnings;
};

Outcome parse(const char* value) {
    Outcome outcome;
    CapturingReporter reporter;
    parse_ivmd_option(value, reporter, *outcome.regions);
    outcome.warnings = reporter.warnings;
    return outcome;
}

TEST(IvmdOption, SingleFrameForAllDevices) {
    const Outcome outcome = parse("d5d45");
    EXPECT_TRUE(outcome.warnings.empty());
    ASSERT_EQ(outcome.regions->size(), 1u);
    const IvmdRegion& region = outcome.regions->regions()[0];
    EXPECT_EQ(region.start, 0xd5d45000u);
    EXPECT_EQ(region.length, 0x1000u);
    EXPECT_EQ(region.scope, IvmdScope::all_devices);
    EXPECT_EQ(region.segment, 0);
    EXPECT_TRUE(region.read);
    EXPECT_TRUE(region.write);
    EXPECT_FALSE(region.exclusion_range);
    EXPECT_EQ(region.origin, IvmdOrigin::ivmd_option);
    EXPECT_EQ(region.origin_offset, 1u);
    EXPECT_TRUE(region.applies_to(0, 0xffff));
}

TEST(IvmdOption, InclusiveFrameRangeForOneDevice) {
    const Outcome outcome = parse("0xd5d46-0xd5d48=0:0:1a.0");
    EXPECT_TRUE(outcome.warnings.empty());
    ASSERT_EQ(outcome.regions->size(), 1u);
    const IvmdRegion& region = outcome.regions->regions()[0];
    EXPECT_EQ(region.start, 0xd5d46000u);
    EXPECT_EQ(region.length, 0x3000u);  // frames d5d46, d5d47 and d5d48
    EXPECT_EQ(region.scope, IvmdScope::one_device);
    EXPECT_EQ(region.first_device, 0x00d0);  // 00:1a.0
    EXPECT_TRUE(region.applies_to(0, 0x00d0));
    EXPECT_FALSE(region.applies_to(0, 0x00d1));
}

TEST(IvmdOption, DeviceRangesListsAndSeveralRanges) {
    const Outcome outcome = parse("100-1ff=00:14.0-00:14.7,1:2:3.4;300=0:1:0.0-0:2:0.0");
    EXPECT_TRUE(outcome.warnings.empty());
    ASSERT_EQ(outcome.regions->size(), 3u);
    const auto regions = outcome.regions->regions();

    EXPECT_EQ(regions[0].start, 0x100000u);
    EXPECT_EQ(regions[0].length, 0x100000u);
    EXPECT_EQ(regions[0].scope, IvmdScope::device_range);
    EXPECT_EQ(regions[0].first_device, 0x00a0);
    EXPECT_EQ(regions[0].last_device, 0x00a7);
    EXPECT_EQ(regions[0].origin_offset, 1u);

    EXPECT_EQ(regions[1].scope, IvmdScope::one_device);
    EXPECT_EQ(regions[1].segment, 1);
    EXPECT_EQ(regions[1].first_device, 0x021c);  // bus 2, device 3, function 4
    EXPECT_EQ(regions[1].start, 0x100000u);

    EXPECT_EQ(regions[2].start, 0x300000u);
    EXPECT_EQ(regions[2].length, 0x1000u);
    EXPECT_EQ(regions[2].first_device, 0x0100);
    EXPECT_EQ(regions[2].last_device, 0x0200);
    EXPECT_EQ(regions[2].origin_offset, 2u);
}

TEST(IvmdOption, EachMalformedPartWarnsOnceAndTheRestIsKept) {
    const Outcome outcome =
        parse("xyz;100-zz;200-100;300=;400=0:1f.8,0:2.0;500=0:5.0-0:4.0;600=0:0:1.0-1:0:1.0;;10000000000;700");
    EXPECT_EQ(outcome.warnings,
              (std::vector<std::string>{
                  "ivmd: 'xyz': start frame 'xyz' is not a hex number, ignored",
                  "ivmd: '100-zz': end frame 'zz' is not a hex number, ignored",
                  "ivmd: '200-100': end frame 100 is below start frame 200, ignored",
                  "ivmd: '300=': empty device list, ignored",
                  "ivmd: '400=0:1f.8,0:2.0': device '0:1f.8' is not [seg:]bus:dev.fn, ignored",
                  "ivmd: '500=0:5.0-0:4.0': device range '0:5.0-0:4.0' ends before it starts, ignored",
                  "ivmd: '600=0:0:1.0-1:0:1.0': device range '0:0:1.0-1:0:1.0' spans PCI segments, ignored",
                  "ivmd: '10000000000': frame 10000000000 lies above the 52-bit physical address space, ignored",
              }));
    ASSERT_EQ(outcome.regions->size(), 2u);
    EXPECT_EQ(outcome.regions->regions()[0].start, 0x400000u);  // the good device of a part is kept
    EXPECT_EQ(outcome.regions->regions()[0].first_device, 0x0010);
    EXPECT_EQ(outcome.regions->regions()[1].start, 0x700000u);
    EXPECT_EQ(outcome.regions->regions()[1].origin_offset, 9u);  // the empty part is not counted
}

TEST(IvmdOption, MissingValue) {
    const Outcome outcome = parse("");
    EXPECT_EQ(outcome.warnings, (std::vector<std::string>{"ivmd: missing value, ignored"}));
    EXPECT_EQ(outcome.regions->size(), 0u);
}

TEST(IvmdOption, CapacityIsEnforcedWithAWarning) {
    std::string value;
    for (size_t index = 0; index < IvmdOptionRegions::capacity + 1; ++index) {
        char part[16];
        snprintf(part, sizeof part, "%zx;", 0x100 + index);
        value += part;
    }
    const Outcome outcome = parse(value.c_str());
    EXPECT_EQ(outcome.regions->size(), IvmdOptionRegions::capacity);
    EXPECT_EQ(outcome.warnings, (std::vector<std::string>{"ivmd: '120': more than 32 regions, ignored"}));
}

TEST(IvmdOption, RepeatedOptionsAddUp) {
    auto regions = std::make_unique<IvmdOptionRegions>();
    CapturingReporter reporter;
    parse_ivmd_option("100", reporter, *regions);
    parse_ivmd_option("200=0:3.0", reporter, *regions);
    EXPECT_TRUE(reporter.warnings.empty());
    ASSERT_EQ(regions->size(), 2u);
    EXPECT_EQ(regions->regions()[1].origin_offset, 2u);
    regions->clear();
    EXPECT_EQ(regions->size(), 0u);
}

TEST(IvmdOption, IsRegisteredWithTheCommandLine) {
    const cmdline::Parameter* found = nullptr;
    for (const cmdline::Parameter& parameter : cmdline::registered_parameters())
        if (StringView(parameter.name) == StringView("ivmd")) found = &parameter;
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->kind, cmdline::ParameterKind::custom);
    EXPECT_EQ(found->handler, &handle_ivmd_option);

    // The process-wide list is left empty for the tests that follow in the
    // same process (the AMD probe adds whatever it holds).
    clear_ivmd_option_regions();
    CapturingReporter reporter;
    cmdline::parse_registered("ivmd=abc-abd=0:4.0", reporter);
    EXPECT_TRUE(reporter.warnings.empty());
    ASSERT_EQ(ivmd_option_regions().size(), 1u);
    const IvmdRegion& region = ivmd_option_regions().regions()[0];
    EXPECT_EQ(region.start, 0xabc000u);
    EXPECT_EQ(region.length, 0x2000u);
    EXPECT_EQ(region.first_device, 0x0020);
    clear_ivmd_option_regions();
    EXPECT_EQ(ivmd_option_regions().size(), 0u);
}

}  // namespace
