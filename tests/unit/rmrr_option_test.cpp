// The rmrr= option in Xen's syntax: ranges, devices, segments, the caps, and
// one warning per malformed part with the valid parts kept.
#include <gtest/gtest.h>

#include <drivers/passthrough/vtd/reserved_regions.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <sluice/cmdline.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

using sluice::pci::PciAddress;
using sluice::vtd::RmrrOption;
using sluice::vtd::RmrrOptionRange;

class CollectingReporter final : public sluice::cmdline::Reporter {
public:
    void warn(sluice::StringView option, sluice::StringView reason) override {
        warnings.push_back(std::string(option.data(), option.length()) + ": " +
                           std::string(reason.data(), reason.length()));
    }
    std::vector<std::string> warnings;
};

PciAddress pci(uint8_t bus, uint8_t device, uint8_t function, uint16_t segment = 0) {
    return PciAddress{segment, bus, device, function};
}

std::vector<PciAddress> devices_of(const RmrrOptionRange& range) {
    return std::vector<PciAddress>(range.device_list().begin(), range.device_list().end());
}

struct Parsed {
    std::unique_ptr<RmrrOption> option = std::make_unique<RmrrOption>();
    CollectingReporter reporter;
};

std::unique_ptr<Parsed> parse(const char* value) {
    auto parsed = std::make_unique<Parsed>();
    parsed->option->parse("rmrr", value, parsed->reporter);
    return parsed;
}

TEST(RmrrOption, XenExample) {
    // From Xen's documentation of the option.
    const auto parsed = parse("d5d45=0:0:1d.0;0xd5d46-0xd5d48=0:0:1a.0");
    EXPECT_TRUE(parsed->reporter.warnings.empty());
    const auto ranges = parsed->option->ranges();
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].first_frame, 0xd5d45u);
    EXPECT_EQ(ranges[0].last_frame, 0xd5d45u);
    EXPECT_EQ(ranges[0].base(), 0xd5d45000u);
    EXPECT_EQ(ranges[0].end(), 0xd5d46000u);
    EXPECT_EQ(devices_of(ranges[0]), std::vector<PciAddress>{pci(0, 0x1d, 0)});
    EXPECT_EQ(ranges[1].first_frame, 0xd5d46u);
    EXPECT_EQ(ranges[1].last_frame, 0xd5d48u);
    EXPECT_EQ(ranges[1].end(), 0xd5d49000u);
    EXPECT_EQ(devices_of(ranges[1]), std::vector<PciAddress>{pci(0, 0x1a, 0)});
}

TEST(RmrrOption, SeveralDevicesAndSegments) {
    const auto parsed = parse("100-10f=2:00:14.0,2:0:14.2,02:3:00.0;200=0:1a.0,1a.1,0:1d.0,0:1a.0");
    ASSERT_EQ(parsed->option->ranges().size(), 2u);
    const RmrrOptionRange& first = parsed->option->ranges()[0];
    EXPECT_EQ(first.segment, 2u);
    EXPECT_EQ(devices_of(first), (std::vector<PciAddress>{pci(0, 0x14, 0, 2), pci(0, 0x14, 2, 2), pci(3, 0, 0, 2)}));
    const RmrrOptionRange& second = parsed->option->ranges()[1];
    EXPECT_EQ(second.segment, 0u);
    // "1a.1" is malformed; the repeated 0:1a.0 is kept once.
    EXPECT_EQ(devices_of(second), (std::vector<PciAddress>{pci(0, 0x1a, 0), pci(0, 0x1d, 0)}));
    const std::vector<std::string> expected = {
        "rmrr: range '200=0:1a.0,1a.1,0:1d.0,0:1a.0': device '1a.1' is not [seg:]bus:dev.fn; device ignored"};
    EXPECT_EQ(parsed->reporter.warnings, expected);
}

TEST(RmrrOption, DevicesOnAnotherSegmentAreDropped) {
    const auto parsed = parse("300=1:0:2.0,0:0:2.1,1:0:2.1");
    ASSERT_EQ(parsed->option->ranges().size(), 1u);
    EXPECT_EQ(devices_of(parsed->option->ranges()[0]), (std::vector<PciAddress>{pci(0, 2, 0, 1), pci(0, 2, 1, 1)}));
    const std::vector<std::string> expected = {
        "rmrr: range '300=1:0:2.0,0:0:2.1,1:0:2.1': device '0:0:2.1' is on segment 0, the range on segment 1; device "
        "ignored"};
    EXPECT_EQ(parsed->reporter.warnings, expected);
}

TEST(RmrrOption, MalformedRangesWarnOnceEachAndValidOnesAreKept) {
    const auto parsed = parse("zz=0:1d.0;d5d48-d5d45=0:1d.0;d5d45;d5d45-=0:1d.0;=0:1d.0;d5d45=;d5d45=junk,0:0;"
                              "10000000000=0:1d.0;;d5d49=0:1d.0;");
    ASSERT_EQ(parsed->option->ranges().size(), 1u);
    EXPECT_EQ(parsed->option->ranges()[0].first_frame, 0xd5d49u);
    const std::vector<std::string> expected = {
        "rmrr: range 'zz=0:1d.0': start 'zz' is not a hex page frame number; ignored",
        "rmrr: range 'd5d48-d5d45=0:1d.0': end frame 0xd5d45 is below start frame 0xd5d48; ignored",
        "rmrr: range 'd5d45' has no '=' and device list; ignored",
        "rmrr: range 'd5d45-=0:1d.0': end '' is not a hex page frame number; ignored",
        "rmrr: range '=0:1d.0': start '' is not a hex page frame number; ignored",
        "rmrr: range 'd5d45=' names no valid device; ignored",
        "rmrr: range 'd5d45=junk,0:0': device 'junk' is not [seg:]bus:dev.fn; device ignored",
        "rmrr: range 'd5d45=junk,0:0': device '0:0' is not [seg:]bus:dev.fn; device ignored",
        "rmrr: range 'd5d45=junk,0:0' names no valid device; ignored",
        "rmrr: range '10000000000=0:1d.0': frame 0x10000000000 lies beyond the 52-bit physical address space; "
        "ignored",
    };
    EXPECT_EQ(parsed->reporter.warnings, expected);
}

TEST(RmrrOption, LongTextIsQuotedShort) {
    const auto parsed = parse("d5d45=0:1d.0,0123456789012345678901234567890123456789");
    const std::vector<std::string> expected = {
        "rmrr: range 'd5d45=0:1d.0,012345678901234567890123456...': device "
        "'0123456789012345678901234567890123456789' is not [seg:]bus:dev.fn; device ignored"};
    EXPECT_EQ(parsed->reporter.warnings, expected);
    EXPECT_EQ(parsed->option->ranges().size(), 1u);
}

TEST(RmrrOption, RangeCap) {
    std::string value;
    for (unsigned index = 0; index < RmrrOption::max_ranges + 3; ++index)
        value += std::to_string(index + 1) + "=0:1d.0;";
    const auto parsed = parse(value.c_str());
    EXPECT_EQ(parsed->option->ranges().size(), RmrrOption::max_ranges);
    const std::vector<std::string> expected = {"rmrr: more than 16 ranges; '17=0:1d.0' and the rest ignored"};
    EXPECT_EQ(parsed->reporter.warnings, expected);
    // A second rmrr= adds nothing more and does not repeat the warning.
    parsed->option->parse("rmrr", "99=0:1d.0", parsed->reporter);
    EXPECT_EQ(parsed->reporter.warnings.size(), 1u);
    parsed->option->clear();
    EXPECT_TRUE(parsed->option->ranges().empty());
}

TEST(RmrrOption, DeviceCap) {
    std::string value = "d5d45=";
    for (unsigned index = 0; index < RmrrOptionRange::max_devices + 2; ++index)
        value += "0:" + std::to_string(index / 8) + "." + std::to_string(index % 8) + ",";
    const auto parsed = parse(value.c_str());
    ASSERT_EQ(parsed->option->ranges().size(), 1u);
    EXPECT_EQ(parsed->option->ranges()[0].device_count, RmrrOptionRange::max_devices);
    ASSERT_EQ(parsed->reporter.warnings.size(), 1u);
    EXPECT_EQ(parsed->reporter.warnings[0],
              "rmrr: range 'd5d45=0:0.0,0:0.1,0:0.2,0:0.3,0:0.4,0:0....': more than 32 devices; '0:4.0' and the rest "
              "ignored");
}

TEST(RmrrOption, EmptyValue) {
    const auto parsed = parse("");
    EXPECT_TRUE(parsed->option->ranges().empty());
    const std::vector<std::string> expected = {"rmrr: missing value, ignored"};
    EXPECT_EQ(parsed->reporter.warnings, expected);
}

TEST(RmrrOption, RegisteredOnTheCommandLine) {
    sluice::vtd::clear_rmrr_option();
    CollectingReporter reporter;
    const auto parameters = sluice::cmdline::registered_parameters();
    sluice::cmdline::parse("rmrr=d5d45=0:1d.0 rmrr=d5d46-d5d47=0:1a.0;x=1", parameters, reporter);
    const auto ranges = sluice::vtd::rmrr_option().ranges();
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].first_frame, 0xd5d45u);
    EXPECT_EQ(ranges[1].last_frame, 0xd5d47u);
    const std::vector<std::string> expected = {"rmrr: range 'x=1': start 'x' is not a hex page frame number; ignored"};
    EXPECT_EQ(reporter.warnings, expected);
    sluice::vtd::clear_rmrr_option();
    EXPECT_TRUE(sluice::vtd::rmrr_option().ranges().empty());
}

TEST(RmrrOption, BecomesAReservedRegion) {
    const auto parsed = parse("d5d46-d5d48=0:1a.0,0:1a.7");
    const auto region = sluice::vtd::to_reserved_region(parsed->option->ranges()[0], 3);
    EXPECT_EQ(region.base, 0xd5d46000u);
    EXPECT_EQ(region.end, 0xd5d49000u);
    EXPECT_EQ(region.source, sluice::passthrough::ReservedRegionSource::rmrr_option);
    EXPECT_EQ(region.origin_offset, 3u);
    EXPECT_EQ(region.access, sluice::paging::Access::read_write);
    EXPECT_TRUE(region.devices.contains(pci(0, 0x1a, 7)));
    EXPECT_FALSE(region.devices.contains(pci(0, 0x1a, 1)));
}

}  // namespace
