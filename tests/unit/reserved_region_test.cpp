// The vendor-neutral reserved-region list: device scopes, placement against
// the memory map, and merging or rejecting overlaps with the exact warnings.
#include <gtest/gtest.h>

#include <drivers/passthrough/reserved_region.hpp>

#include <sluice/log.hpp>
#include <sluice/memory_map.hpp>

#include "support/log_capture.hpp"

#include <memory>
#include <string>
#include <vector>

namespace {

using sluice::Error;
using sluice::MemoryMap;
using sluice::MemoryType;
using sluice::PhysicalAddress;
using sluice::paging::Access;
using sluice::pci::PciAddress;
using sluice::testing::LogCapture;
using namespace sluice::passthrough;

PciAddress pci(uint8_t bus, uint8_t device, uint8_t function, uint16_t segment = 0) {
    return PciAddress{segment, bus, device, function};
}

std::string text_of(const DeviceScope& scope, size_t capacity = 128) {
    std::vector<char> buffer(capacity);
    const size_t length = format_device_scope(buffer.data(), buffer.size(), scope);
    return std::string(buffer.data(), length);
}

ReservedRegion rmrr_region(PhysicalAddress base, PhysicalAddress end, PciAddress device, uint32_t offset) {
    ReservedRegion region;
    region.base = base;
    region.end = end;
    region.source = ReservedRegionSource::acpi_rmrr;
    region.origin_table = 0x7ffe0000;
    region.origin_offset = offset;
    EXPECT_TRUE(region.devices.add(device).ok());
    return region;
}

// A typical PC map: low RAM, the BIOS area reserved, RAM, ACPI data and NVS,
// a hole for PCI, unusable and disabled memory, the local APIC area reserved,
// and persistent memory above 4 GiB.
MemoryMap pc_map() {
    MemoryMap map;
    EXPECT_TRUE(map.add(0x0, 0x9f000, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0x9f000, 0x61000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0x100000, 0x7ee0000, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0x7fe0000, 0x10000, MemoryType::acpi_reclaimable).ok());
    EXPECT_TRUE(map.add(0x7ff0000, 0x10000, MemoryType::acpi_nvs).ok());
    EXPECT_TRUE(map.add(0xd0000000, 0x1000000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0xe0000000, 0x100000, MemoryType::unusable).ok());
    EXPECT_TRUE(map.add(0xe0100000, 0x100000, MemoryType::disabled).ok());
    EXPECT_TRUE(map.add(0xfee00000, 0x1000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0x100000000, 0x40000000, MemoryType::persistent).ok());
    map.sanitize();
    return map;
}

// --- Device scopes -------------------------------------------------------------------

TEST(DeviceScopeTest, AddsUnitesAndContains) {
    DeviceScope scope;
    EXPECT_TRUE(scope.empty());
    ASSERT_TRUE(scope.add(pci(0, 0x1d, 0)).ok());
    ASSERT_TRUE(scope.add(pci(0, 0x1d, 0)).ok());  // already there
    ASSERT_TRUE(scope.add(DeviceRange{pci(1, 0, 0), pci(1, 0x1f, 7)}).ok());
    ASSERT_TRUE(scope.add(pci(1, 3, 0)).ok());  // inside the range
    EXPECT_EQ(scope.ranges().size(), 2u);
    EXPECT_TRUE(scope.contains(pci(0, 0x1d, 0)));
    EXPECT_TRUE(scope.contains(pci(1, 7, 2)));
    EXPECT_FALSE(scope.contains(pci(0, 0x1a, 0)));
    EXPECT_FALSE(scope.contains(pci(1, 7, 2, 1)));  // other segment
    EXPECT_EQ(text_of(scope), "0000:00:1d.0, 0000:01:00.0-0000:01:1f.7");

    // A wider range swallows the ones it covers.
    ASSERT_TRUE(scope.add(DeviceRange{pci(0, 0, 0), pci(2, 0, 0)}).ok());
    EXPECT_EQ(scope.ranges().size(), 1u);

    EXPECT_EQ(scope.add(DeviceRange{pci(2, 0, 0), pci(1, 0, 0)}).error(), Error::invalid_argument);
    EXPECT_EQ(scope.add(DeviceRange{pci(0, 0, 0), pci(0, 0, 0, 1)}).error(), Error::invalid_argument);

    DeviceScope other;
    ASSERT_TRUE(other.add(pci(0, 0x14, 0, 1)).ok());
    EXPECT_FALSE(scope.covers(other));
    ASSERT_TRUE(scope.unite(other).ok());
    EXPECT_TRUE(scope.covers(other));
    EXPECT_TRUE(scope.contains(pci(0, 0x14, 0, 1)));

    const DeviceScope all = DeviceScope::all();
    EXPECT_TRUE(all.contains(pci(0x55, 1, 1, 7)));
    EXPECT_TRUE(all.covers(scope));
    EXPECT_FALSE(scope.covers(all));
    EXPECT_EQ(text_of(all), "all devices");
    EXPECT_EQ(text_of(DeviceScope{}), "no devices");
}

TEST(DeviceScopeTest, CapacityAndCutText) {
    DeviceScope scope;
    for (uint8_t device = 0; device < DeviceScope::capacity; ++device)
        ASSERT_TRUE(scope.add(pci(device / 32, device % 32, 0)).ok());
    EXPECT_EQ(scope.add(pci(9, 0, 0)).error(), Error::capacity);
    DeviceScope one;
    ASSERT_TRUE(one.add(pci(9, 0, 0)).ok());
    EXPECT_EQ(scope.unite(one).error(), Error::capacity);
    EXPECT_FALSE(scope.contains(pci(9, 0, 0)));
    // A list that does not fit says so.
    EXPECT_EQ(text_of(scope, 40), "0000:00:00.0, 0000:00:01.0, ...");
}

// --- Placement -----------------------------------------------------------------------

TEST(Placement, AllowsOnlyMemoryNobodyIsGiven) {
    const MemoryMap map = pc_map();
    EXPECT_TRUE(check_placement(map, 0xd0000000, 0xd0001000).allowed);  // e820 reserved
    EXPECT_TRUE(check_placement(map, 0xc0000000, 0xc0100000).allowed);  // hole
    EXPECT_TRUE(check_placement(map, 0xcff00000, 0xd0100000).allowed);  // hole and reserved
    EXPECT_TRUE(check_placement(map, 0x7ff0000, 0x7ff1000).allowed);    // ACPI NVS
    EXPECT_TRUE(check_placement(map, 0xe0000000, 0xe0001000).allowed);  // unusable
    EXPECT_TRUE(check_placement(map, 0xe00ff000, 0xe0101000).allowed);  // unusable and disabled
    EXPECT_TRUE(check_placement(map, 0x9f000, 0x100000).allowed);      // reserved from RAM's end to RAM's start

    PlacementCheck verdict = check_placement(map, 0x9e000, 0xa0000);  // last RAM page and reserved
    EXPECT_FALSE(verdict.allowed);
    EXPECT_EQ(verdict.conflict.type, MemoryType::ram);
    EXPECT_EQ(verdict.conflict.base, 0x0u);
    EXPECT_EQ(verdict.conflict.end(), 0x9f000u);
    verdict = check_placement(map, 0x7fe0000, 0x7fe1000);
    EXPECT_FALSE(verdict.allowed);
    EXPECT_EQ(verdict.conflict.type, MemoryType::acpi_reclaimable);
    verdict = check_placement(map, 0x13fff0000, 0x140010000);
    EXPECT_FALSE(verdict.allowed);
    EXPECT_EQ(verdict.conflict.type, MemoryType::persistent);
    // The lowest offending region is named.
    verdict = check_placement(map, 0x0, 0x200000);
    EXPECT_EQ(verdict.conflict.base, 0x0u);
}

// --- The list --------------------------------------------------------------------------

class ReservedRegionListTest : public ::testing::Test {
protected:
    MemoryMap map = pc_map();
    PlacementPolicy placement{&map, &check_placement};
    std::unique_ptr<ReservedRegionList> list = std::make_unique<ReservedRegionList>();
    LogCapture log;
};

TEST_F(ReservedRegionListTest, AddsInOrder) {
    ASSERT_EQ(list->add(rmrr_region(0xd0002000, 0xd0003000, pci(0, 2, 0), 0x60), placement).value(), AddOutcome::added);
    ASSERT_EQ(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 0x1d, 0), 0x40), placement).value(),
              AddOutcome::added);
    // Touching (not overlapping) regions stay apart.
    ASSERT_EQ(list->add(rmrr_region(0xd0001000, 0xd0002000, pci(0, 0x1a, 0), 0x80), placement).value(),
              AddOutcome::added);
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ(list->regions()[0].base, 0xd0000000u);
    EXPECT_EQ(list->regions()[1].base, 0xd0001000u);
    EXPECT_EQ(list->regions()[2].base, 0xd0002000u);
    EXPECT_TRUE(log.lines().empty());

    std::vector<PhysicalAddress> bases;
    list->for_each_region_of(pci(0, 0x1a, 0), [&](const ReservedRegion& region) { bases.push_back(region.base); });
    EXPECT_EQ(bases, std::vector<PhysicalAddress>{0xd0001000});
    list->clear();
    EXPECT_EQ(list->size(), 0u);
}

TEST_F(ReservedRegionListTest, SameRangeForAnotherDeviceIsMerged) {
    ASSERT_TRUE(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 0x1d, 0), 0x40), placement).ok());
    const auto outcome = list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 0x1a, 0), 0x60), placement);
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome.value(), AddOutcome::merged);
    ASSERT_EQ(list->size(), 1u);
    EXPECT_TRUE(list->regions()[0].devices.contains(pci(0, 0x1d, 0)));
    EXPECT_TRUE(list->regions()[0].devices.contains(pci(0, 0x1a, 0)));
    EXPECT_EQ(list->regions()[0].origin_offset, 0x40u);  // the first description is kept
    const std::vector<std::string> expected = {
        "iommu: warning: RMRR (DMAR at 0x7ffe0000, offset 0x60) 0xd0000000-0xd0000fff for 0000:00:1a.0: same range "
        "as RMRR (DMAR at 0x7ffe0000, offset 0x40) 0xd0000000-0xd0000fff for other devices; merged"};
    EXPECT_EQ(log.lines(), expected);

    // The very same region again changes nothing.
    log.clear();
    EXPECT_EQ(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 0x1a, 0), 0x80), placement).value(),
              AddOutcome::duplicate);
    EXPECT_EQ(list->size(), 1u);
    const std::vector<std::string> duplicate = {
        "iommu: RMRR (DMAR at 0x7ffe0000, offset 0x80) 0xd0000000-0xd0000fff for 0000:00:1a.0: same as RMRR (DMAR at "
        "0x7ffe0000, offset 0x40) 0xd0000000-0xd0000fff; already present"};
    EXPECT_EQ(log.lines(), duplicate);
}

TEST_F(ReservedRegionListTest, OverlapsAreMergedIntoTheUnion) {
    ASSERT_TRUE(list->add(rmrr_region(0xd0000000, 0xd0002000, pci(0, 0x1d, 0), 0x40), placement).ok());
    ASSERT_TRUE(list->add(rmrr_region(0xd0004000, 0xd0005000, pci(0, 0x1d, 1), 0x60), placement).ok());
    ReservedRegion option;
    option.base = 0xd0001000;
    option.end = 0xd0006000;
    option.source = ReservedRegionSource::rmrr_option;
    option.origin_offset = 1;
    ASSERT_TRUE(option.devices.add(pci(0, 0x14, 0)).ok());
    const auto outcome = list->add(option, placement);
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome.value(), AddOutcome::merged);

    ASSERT_EQ(list->size(), 1u);
    const ReservedRegion& merged = list->regions()[0];
    EXPECT_EQ(merged.base, 0xd0000000u);
    EXPECT_EQ(merged.end, 0xd0006000u);
    EXPECT_EQ(merged.source, ReservedRegionSource::acpi_rmrr);
    EXPECT_TRUE(merged.devices.contains(pci(0, 0x1d, 0)));
    EXPECT_TRUE(merged.devices.contains(pci(0, 0x1d, 1)));
    EXPECT_TRUE(merged.devices.contains(pci(0, 0x14, 0)));
    const std::vector<std::string> expected = {
        "iommu: warning: rmrr= range 1 0xd0001000-0xd0005fff for 0000:00:14.0: overlaps RMRR (DMAR at 0x7ffe0000, "
        "offset 0x40) 0xd0000000-0xd0001fff; merged into 0xd0000000-0xd0005fff",
        "iommu: warning: rmrr= range 1 0xd0001000-0xd0005fff for 0000:00:14.0: overlaps RMRR (DMAR at 0x7ffe0000, "
        "offset 0x60) 0xd0004000-0xd0004fff; merged into 0xd0000000-0xd0005fff"};
    EXPECT_EQ(log.lines(), expected);
}

TEST_F(ReservedRegionListTest, OverlapWithOtherAccessIsRejected) {
    ASSERT_TRUE(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 0x1d, 0), 0x40), placement).ok());
    ReservedRegion ivmd;
    ivmd.base = 0xd0000000;
    ivmd.end = 0xd0002000;
    ivmd.access = Access::read;
    ivmd.source = ReservedRegionSource::acpi_ivmd;
    ivmd.origin_table = 0x7ffd0000;
    ivmd.origin_offset = 0x90;
    ASSERT_TRUE(ivmd.devices.add(pci(0, 0x14, 0)).ok());
    EXPECT_EQ(list->add(ivmd, placement).error(), Error::overlap);
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(list->regions()[0].end, 0xd0001000u);
    const std::vector<std::string> expected = {
        "iommu: warning: IVMD (IVRS at 0x7ffd0000, offset 0x90) 0xd0000000-0xd0001fff for 0000:00:14.0: overlaps "
        "RMRR (DMAR at 0x7ffe0000, offset 0x40) 0xd0000000-0xd0000fff with different access (read-write, not "
        "read-only); rejected"};
    EXPECT_EQ(log.lines(), expected);
}

TEST_F(ReservedRegionListTest, MergeThatWouldOverflowTheDeviceListIsRejected) {
    ReservedRegion wide = rmrr_region(0xd0000000, 0xd0001000, pci(0, 0, 0), 0x40);
    for (uint8_t device = 1; device < DeviceScope::capacity; ++device)
        ASSERT_TRUE(wide.devices.add(pci(device / 32, device % 32, 0)).ok());
    ASSERT_TRUE(list->add(wide, placement).ok());
    EXPECT_EQ(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(5, 0, 0), 0x60), placement).error(), Error::overlap);
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0],
              "iommu: warning: RMRR (DMAR at 0x7ffe0000, offset 0x60) 0xd0000000-0xd0000fff for 0000:05:00.0: merging "
              "with RMRR (DMAR at 0x7ffe0000, offset 0x40) 0xd0000000-0xd0000fff would need more than 64 device "
              "ranges; rejected");
    EXPECT_FALSE(list->regions()[0].devices.contains(pci(5, 0, 0)));
}

TEST_F(ReservedRegionListTest, BadRegionsAreRejectedWithTheReason) {
    ReservedRegion option;
    option.source = ReservedRegionSource::rmrr_option;
    option.origin_offset = 1;
    ASSERT_TRUE(option.devices.add(pci(0, 0x1d, 0)).ok());
    option.base = 0xd0000800;
    option.end = 0xd0002000;
    EXPECT_EQ(list->add(option, placement).error(), Error::invalid_argument);
    option.base = 0xd0002000;
    EXPECT_EQ(list->add(option, placement).error(), Error::invalid_argument);
    option.base = 0xfffffffffffff000;
    option.end = 0;
    EXPECT_EQ(list->add(option, placement).error(), Error::invalid_argument);
    option.base = 0xd0000000;
    option.end = 0xd0001000;
    option.access = Access::none;
    EXPECT_EQ(list->add(option, placement).error(), Error::invalid_argument);
    ReservedRegion nobody;
    nobody.base = 0xd0000000;
    nobody.end = 0xd0001000;
    nobody.source = ReservedRegionSource::ivmd_option;
    nobody.origin_offset = 2;
    EXPECT_EQ(list->add(nobody, placement).error(), Error::invalid_argument);
    EXPECT_EQ(list->add(rmrr_region(0x9e000, 0xa0000, pci(0, 0x1d, 0), 0x40), placement).error(), Error::unsupported);
    EXPECT_EQ(list->size(), 0u);

    const std::vector<std::string> expected = {
        "iommu: warning: rmrr= range 1 0xd0000800-0xd0001fff for 0000:00:1d.0: not 4 KiB aligned; rejected",
        "iommu: warning: rmrr= range 1 0xd0002000 (end 0xd0002000) for 0000:00:1d.0: empty or wrapping range; "
        "rejected",
        "iommu: warning: rmrr= range 1 0xfffffffffffff000 (end 0x0) for 0000:00:1d.0: empty or wrapping range; "
        "rejected",
        "iommu: warning: rmrr= range 1 0xd0000000-0xd0000fff for 0000:00:1d.0: grants no access; rejected",
        "iommu: warning: ivmd= range 2 0xd0000000-0xd0000fff for no devices: no device needs it; rejected",
        "iommu: warning: RMRR (DMAR at 0x7ffe0000, offset 0x40) 0x9e000-0x9ffff for 0000:00:1d.0: touches RAM "
        "0x0-0x9efff of the memory map; rejected",
    };
    EXPECT_EQ(log.lines(), expected);
}

TEST_F(ReservedRegionListTest, NoMapMeansNoPlacementCheck) {
    EXPECT_TRUE(list->add(rmrr_region(0x9e000, 0xa0000, pci(0, 0x1d, 0), 0x40), PlacementPolicy{}).ok());
    EXPECT_TRUE(log.lines().empty());
}

TEST_F(ReservedRegionListTest, FullList) {
    for (size_t index = 0; index < ReservedRegionList::capacity; ++index)
        ASSERT_TRUE(list->add(rmrr_region(0xd0000000 + index * 0x2000, 0xd0001000 + index * 0x2000, pci(0, 1, 0), 0x40),
                              placement)
                        .ok());
    EXPECT_EQ(list->add(rmrr_region(0xd0800000, 0xd0801000, pci(0, 1, 0), 0x40), placement).error(), Error::capacity);
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0],
              "iommu: warning: RMRR (DMAR at 0x7ffe0000, offset 0x40) 0xd0800000-0xd0800fff for 0000:00:01.0: more "
              "than 96 reserved regions; rejected");
    // A merge still works on a full list: it never needs a new slot.
    EXPECT_EQ(list->add(rmrr_region(0xd0000000, 0xd0001000, pci(0, 2, 0), 0x60), placement).value(), AddOutcome::merged);
}

}  // namespace
