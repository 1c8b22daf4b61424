// IVRS parsing against tables built byte by byte: QEMU 7.2's table, tables
// with IVHD types 11h and 40h, every device entry and IVMD type, and every
// malformed case with the exact warning it must produce.
#include <gtest/gtest.h>

#include <drivers/passthrough/amd/ivrs.hpp>

#include <sluice/log.hpp>

#include "support/amd_ivrs_builder.hpp"
#include "support/log_capture.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::amd;
using sluice::testing::IvrsBuilder;
using sluice::testing::LogCapture;

constexpr PhysicalAddress table_address = 0x7fe00000;

struct Parsed {
    std::unique_ptr<IvrsDescription> description = std::make_unique<IvrsDescription>();
    Status status;
    std::vector<std::string> warnings;
    std::vector<std::string> lines;
};

Parsed parse(const std::vector<uint8_t>& table) {
    Parsed parsed;
    const LogCapture log;
    parsed.status = parse_ivrs(Span<const uint8_t>(table.data(), table.size()), table_address, *parsed.description);
    parsed.warnings = log.warnings();
    parsed.lines = log.lines();
    return parsed;
}

std::string warning(const std::string& text) { return "amd-vi: warning: " + text; }

// QEMU 7.2's build_amd_iommu() with -device amd-iommu,intremap=on on q35:
// one IVHD 10h appended as little-endian integers, a select entry per PCI
// function ((bdf << 8) | 2), then the IOAPIC special entry as one 64-bit value.
std::vector<uint8_t> qemu_table() {
    IvrsBuilder builder(40u << 8);
    const size_t block = builder.begin_ivhd(0x10, 0xd1, 0x0018, 0xfed80000, 0, 0x44);
    for (uint32_t bdf : {0x0000u, 0x0008u, 0x0018u, 0x0020u, 0x00f8u, 0x00fau, 0x00fbu})
        builder.append(bdf << 8 | 0x2, 4);
    builder.append((uint64_t{1} << 56) | (uint64_t{0x00a0} << 40) | 0x48, 8);
    builder.end_block(block);
    return builder.bytes();
}

TEST(Ivrs, ParsesTheTableQemuBuilds) {
    const std::vector<uint8_t> table = qemu_table();
    ASSERT_EQ(table.size(), 48u + 24 + 7 * 4 + 8);
    const Parsed parsed = parse(table);
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_TRUE(parsed.warnings.empty());
    const IvrsDescription& description = *parsed.description;

    EXPECT_EQ(description.revision(), 1);
    EXPECT_EQ(description.iv_info().value, 0x2800u);
    EXPECT_EQ(description.iv_info().physical_address_size(), 40);
    EXPECT_EQ(description.iv_info().virtual_address_size(), 0);
    EXPECT_FALSE(description.iv_info().efr_supported());
    EXPECT_FALSE(description.iv_info().dma_remap_supported());
    EXPECT_FALSE(description.iv_info().ht_ats_reserved());

    ASSERT_EQ(description.units().size(), 1u);
    const IommuUnit& unit = description.units()[0];
    EXPECT_EQ(unit.block_type, 0x10);
    EXPECT_EQ(unit.device_id, 0x0018);  // 00:03.0
    EXPECT_EQ(unit.capability_offset, 0x40);
    EXPECT_EQ(unit.base_address, 0xfed80000u);
    EXPECT_EQ(unit.segment, 0);
    EXPECT_EQ(unit.flags, ivhd_flags::ht_tunnel_enable | ivhd_flags::iotlb_supported |
                              ivhd_flags::prefetch_supported | ivhd_flags::ppr_supported);
    const IvhdFeatureReporting features{unit.feature_reporting};
    EXPECT_TRUE(features.guest_translation_supported());
    EXPECT_TRUE(features.guest_virtual_apic_supported());
    EXPECT_FALSE(features.x2apic_supported());
    EXPECT_FALSE(unit.has_extended_features);
    EXPECT_EQ(unit.highest_device_id, 0x00fb);
    EXPECT_EQ(description.highest_device_id(0).value_or(0), 0x00fb);
    EXPECT_FALSE(description.highest_device_id(1).has_value());

    ASSERT_EQ(description.device_settings().size(), 8u);  // seven selects and the IOAPIC
    EXPECT_EQ(description.device_settings()[3].first_device, 0x0020);
    EXPECT_EQ(description.device_settings()[3].table_offset, 0x48u + 3 * 4);
    EXPECT_EQ(description.unit_for(0, 0x0020).value_or(99), 0);
    EXPECT_FALSE(description.unit_for(0, 0x0028).has_value());

    ASSERT_EQ(description.special_devices().size(), 1u);
    const SpecialDevice* ioapic = description.find_special(SpecialDeviceVariety::ioapic, 0);
    ASSERT_NE(ioapic, nullptr);
    EXPECT_EQ(ioapic->device_id, 0x00a0);  // 00:14.0
    EXPECT_EQ(description.find_special(SpecialDeviceVariety::hpet, 0), nullptr);
    EXPECT_TRUE(description.ivmd_regions().empty());
    EXPECT_EQ(description.rejected_count(), 0u);
}

TEST(Ivrs, DecodesIvInfoFields) {
    // EFRSup, DMA remap, GVAsize 010b, PAsize 48, VAsize 64, HtAtsResv.
    const IvInfo info{1u | 2u | (2u << 5) | (48u << 8) | (64u << 15) | (1u << 22)};
    EXPECT_TRUE(info.efr_supported());
    EXPECT_TRUE(info.dma_remap_supported());
    EXPECT_EQ(info.guest_virtual_address_size_field(), 2);
    EXPECT_EQ(info.guest_virtual_address_bits(), 48);
    EXPECT_EQ(info.physical_address_size(), 48);
    EXPECT_EQ(info.virtual_address_size(), 64);
    EXPECT_TRUE(info.ht_ats_reserved());
    EXPECT_EQ(info.value, 0x00603043u);
}

TEST(Ivrs, HighestIvhdTypeWinsForEachIommu) {
    IvrsBuilder builder(0x2801, "BOCHS ", 2);  // EFRSup
    size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x02, 0x0010);
    builder.end_block(block);
    block = builder.begin_ivhd(0x11, 0, 0x0002, 0xfd200000, 0, 0, 0x9db);
    builder.entry4(0x02, 0x0011);
    builder.end_block(block);
    const size_t chosen = builder.begin_ivhd(0x40, 0, 0x0002, 0xfd200000, 0, 0, 0x9db);
    builder.entry4(0x02, 0x0040);
    builder.acpi_hid(0x00a5, "AMDI0020", "\0\0\0\0\0\0\0\0", 2, "ID0");
    builder.end_block(chosen);
    // A second IOMMU with only 10h and 11h blocks.
    block = builder.begin_ivhd(0x11, 0, 0x4002, 0xfd300000, 0, 0, 0x1);
    builder.entry4(0x02, 0x4011);
    builder.end_block(block);
    block = builder.begin_ivhd(0x10, 0, 0x4002, 0xfd300000);
    builder.entry4(0x02, 0x4010);
    builder.end_block(block);

    const Parsed parsed = parse(builder.bytes());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_TRUE(parsed.warnings.empty());
    const IvrsDescription& description = *parsed.description;
    ASSERT_EQ(description.units().size(), 2u);
    EXPECT_EQ(description.units()[0].block_type, 0x40);
    EXPECT_EQ(description.units()[0].table_offset, chosen);
    EXPECT_TRUE(description.units()[0].has_extended_features);
    EXPECT_EQ(description.units()[0].extended_features, 0x9dbu);
    EXPECT_EQ(description.units()[1].block_type, 0x11);
    EXPECT_EQ(description.units()[1].device_id, 0x4002);

    // Only the chosen blocks' entries count.
    EXPECT_EQ(description.setting_for(0, 0x0010), nullptr);
    EXPECT_EQ(description.setting_for(0, 0x0011), nullptr);
    ASSERT_NE(description.setting_for(0, 0x0040), nullptr);
    EXPECT_EQ(description.setting_for(0, 0x4010), nullptr);
    EXPECT_EQ(description.unit_for(0, 0x4011).value_or(99), 1);

    ASSERT_EQ(description.acpi_hid_devices().size(), 1u);
    const AcpiHidDevice& hid = description.acpi_hid_devices()[0];
    EXPECT_EQ(std::string(hid.hardware_id, 8), "AMDI0020");
    EXPECT_EQ(hid.unique_id_format, 2);
    EXPECT_EQ(std::string(hid.unique_id, hid.unique_id_length), "ID0");
    EXPECT_EQ(hid.device_id, 0x00a5);
}

TEST(Ivrs, EfrImageIsIgnoredWithoutEfrSup) {
    IvrsBuilder builder(0x2800);
    const size_t block = builder.begin_ivhd(0x11, 0, 0x0002, 0xfd200000, 0, 0, 0x9db);
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    ASSERT_EQ(parsed.description->units().size(), 1u);
    EXPECT_FALSE(parsed.description->units()[0].has_extended_features);
    EXPECT_EQ(parsed.description->units()[0].extended_features, 0u);
}

TEST(Ivrs, BrokenHigherTypeDoesNotHideTheLowerOne) {
    IvrsBuilder builder(0x2801, "BOCHS ", 2);
    size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x02, 0x0010);
    builder.end_block(block);
    const size_t broken = builder.begin_ivhd(0x11, 0, 0x0002, 0);
    builder.end_block(broken);
    const Parsed parsed = parse(builder.bytes());
    ASSERT_EQ(parsed.description->units().size(), 1u);
    EXPECT_EQ(parsed.description->units()[0].block_type, 0x10);
    ASSERT_EQ(parsed.warnings.size(), 1u);
    EXPECT_EQ(parsed.warnings[0],
              warning("IVRS at 0x7fe00000 offset 0x4c: IVHD type 0x11: IOMMU base address is 0, ignored"));
}

TEST(Ivrs, RangesAliasesExtendedAndAll) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x03, 0x0100, 0xd7);  // INITPass EIntPass NMIPass SysMgt=01b Lint0Pass Lint1Pass
    builder.entry4(0x04, 0x01ff);
    builder.alias(0x42, 0x0300, 0x0200, 0x01);
    builder.alias(0x43, 0x0400, 0x03f8);
    builder.entry4(0x04, 0x04ff);
    builder.entry8(0x46, 0x0500, 0, extended_dte_setting_ats_disabled);
    builder.entry8(0x47, 0x0600, 0x30, 0);
    builder.entry4(0x04, 0x06ff);
    builder.entry4(0x00, 0);  // padding
    builder.entry8(0x40, 0, 0, 0);
    builder.end_block(block);

    const Parsed parsed = parse(builder.bytes());
    EXPECT_TRUE(parsed.warnings.empty());
    const IvrsDescription& description = *parsed.description;
    ASSERT_EQ(description.device_settings().size(), 5u);

    const DeviceSetting& range = description.device_settings()[0];
    EXPECT_EQ(range.first_device, 0x0100);
    EXPECT_EQ(range.last_device, 0x01ff);
    EXPECT_EQ(range.entry_type, DeviceEntryType::start_of_range);
    EXPECT_TRUE(range.setting.init_pass());
    EXPECT_TRUE(range.setting.external_interrupt_pass());
    EXPECT_TRUE(range.setting.nmi_pass());
    EXPECT_EQ(range.setting.system_management(), 1);
    EXPECT_TRUE(range.setting.lint0_pass());
    EXPECT_TRUE(range.setting.lint1_pass());
    EXPECT_EQ(description.setting_for(0, 0x0180), &range);

    const DeviceSetting& alias = description.device_settings()[1];
    EXPECT_EQ(alias.first_device, 0x0300);
    EXPECT_TRUE(alias.has_alias);
    EXPECT_EQ(alias.alias_device_id, 0x0200);
    EXPECT_TRUE(alias.setting.init_pass());
    EXPECT_FALSE(alias.setting.nmi_pass());

    const DeviceSetting& alias_range = description.device_settings()[2];
    EXPECT_EQ(alias_range.first_device, 0x0400);
    EXPECT_EQ(alias_range.last_device, 0x04ff);
    EXPECT_EQ(alias_range.alias_device_id, 0x03f8);

    EXPECT_EQ(description.device_settings()[3].extended_setting, 0x80000000u);
    EXPECT_EQ(description.device_settings()[4].first_device, 0x0600);
    EXPECT_EQ(description.device_settings()[4].last_device, 0x06ff);
    EXPECT_EQ(description.device_settings()[4].setting.system_management(), 3);
    EXPECT_EQ(description.highest_device_id(0).value_or(0), 0x06ff);
}

TEST(Ivrs, AllEntrySizesTheDeviceTableForEveryId) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x01, 0, 0x04);
    builder.special(1, 0xa0, 2);  // HPET 1
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.description->highest_device_id(0).value_or(0), 0xffff);
    ASSERT_NE(parsed.description->setting_for(0, 0x1234), nullptr);
    EXPECT_TRUE(parsed.description->setting_for(0, 0x1234)->setting.nmi_pass());
    ASSERT_NE(parsed.description->find_special(SpecialDeviceVariety::hpet, 1), nullptr);
}

TEST(Ivrs, MemoryDefinitionsOfAllThreeTypes) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.end_block(block);
    const size_t all = builder.ivmd(0x20, ivmd_flags::unity | ivmd_flags::read | ivmd_flags::write, 0, 0,
                                    0xd5d45000, 0x1000);
    builder.ivmd(0x21, ivmd_flags::unity | ivmd_flags::read, 0x00a0, 0, 0xd0000000, 0x3000);
    builder.ivmd(0x22, ivmd_flags::unity | ivmd_flags::write, 0x0100, 0x01ff, 0xd1000000, 0x2000, 2);
    builder.ivmd(0x21, ivmd_flags::exclusion_range, 0x0008, 0, 0xe0000000, 0x10000);

    const Parsed parsed = parse(builder.bytes());
    EXPECT_TRUE(parsed.warnings.empty());
    const auto regions = parsed.description->ivmd_regions();
    ASSERT_EQ(regions.size(), 4u);

    EXPECT_EQ(regions[0].scope, IvmdScope::all_devices);
    EXPECT_EQ(regions[0].start, 0xd5d45000u);
    EXPECT_EQ(regions[0].length, 0x1000u);
    EXPECT_TRUE(regions[0].read);
    EXPECT_TRUE(regions[0].write);
    EXPECT_EQ(regions[0].origin, IvmdOrigin::ivrs_table);
    EXPECT_EQ(regions[0].origin_table, table_address);
    EXPECT_EQ(regions[0].origin_offset, all);
    EXPECT_TRUE(regions[0].applies_to(0, 0x1234));
    EXPECT_FALSE(regions[0].applies_to(1, 0x1234));

    // IR (bit 1) alone: the device may read and not write.
    EXPECT_EQ(regions[1].scope, IvmdScope::one_device);
    EXPECT_TRUE(regions[1].read);
    EXPECT_FALSE(regions[1].write);
    EXPECT_TRUE(regions[1].applies_to(0, 0x00a0));
    EXPECT_FALSE(regions[1].applies_to(0, 0x00a1));

    // IW (bit 2) alone: the device may write and not read.
    EXPECT_EQ(regions[2].scope, IvmdScope::device_range);
    EXPECT_FALSE(regions[2].read);
    EXPECT_TRUE(regions[2].write);
    EXPECT_EQ(regions[2].segment, 2);
    EXPECT_TRUE(regions[2].applies_to(2, 0x01ff));
    EXPECT_FALSE(regions[2].applies_to(2, 0x0200));
    EXPECT_FALSE(regions[2].applies_to(0, 0x0100));

    // An exclusion range becomes a read/write identity mapping.
    EXPECT_TRUE(regions[3].exclusion_range);
    EXPECT_TRUE(regions[3].read);
    EXPECT_TRUE(regions[3].write);
    EXPECT_EQ(regions[3].end(), 0xe0010000u);
}

// --- Malformed input: one warning each, the rest kept ------------------------------

struct MalformedCase {
    const char* name;
    std::vector<uint8_t> table;
    std::vector<std::string> warnings;
};

TEST(Ivrs, RangeStartWithoutEndIsRejectedAndTheNextEntryKept) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x03, 0x0010);
    builder.entry4(0x02, 0x0020);
    builder.entry4(0x47, 0x0030);  // an 8-byte start: type 0x47 takes 8 bytes
    builder.append(0, 4);
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x48: device entry type 0x03 (start of range): start of range "
                          "without end of range, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x50: device entry type 0x47 (extended start of range): start "
                          "of range without end of range, ignored")}));
    ASSERT_EQ(parsed.description->device_settings().size(), 1u);
    EXPECT_EQ(parsed.description->device_settings()[0].first_device, 0x0020);
    EXPECT_EQ(parsed.description->rejected_count(), 2u);
}

TEST(Ivrs, RangeEndingBeforeItStartsAndEndWithoutStart) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x03, 0x0020);
    builder.entry4(0x04, 0x0010);
    builder.entry4(0x04, 0x0030);
    builder.entry4(0x02, 0x0040);
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x48: device entry type 0x03 (start of range): range "
                          "0x0020-0x0010 ends before it starts, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x50: device entry type 0x04 (end of range): end of range "
                          "without start of range, ignored")}));
    ASSERT_EQ(parsed.description->device_settings().size(), 1u);
    EXPECT_EQ(parsed.description->device_settings()[0].first_device, 0x0040);
}

TEST(Ivrs, UnknownEntryTypes) {
    IvrsBuilder builder;
    size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.entry4(0x05, 0x0001);      // unknown 4-byte entry: skipped
    builder.entry8(0x41, 0x0002, 0, 0);  // unknown 8-byte entry: skipped
    builder.entry4(0x02, 0x0003);
    builder.entry4(0x90, 0x0004);  // unknown size: the rest of this IVHD is lost
    builder.entry4(0x02, 0x0005);
    builder.end_block(block);
    block = builder.begin_ivhd(0x10, 0, 0x0012, 0xfd300000);  // the next block is still read
    builder.entry4(0x02, 0x0006);
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x48: device entry type 0x05 (unknown): unknown entry type, "
                          "ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x4c: device entry type 0x41 (unknown): unknown entry type, "
                          "ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x58: device entry type 0x90 (unknown): unknown entry type of "
                          "unknown size, rest of IVHD, ignored")}));
    ASSERT_EQ(parsed.description->device_settings().size(), 2u);
    EXPECT_EQ(parsed.description->device_settings()[0].first_device, 0x0003);
    EXPECT_EQ(parsed.description->device_settings()[1].first_device, 0x0006);
    EXPECT_EQ(parsed.description->units().size(), 2u);
}

TEST(Ivrs, TruncatedEntries) {
    {
        IvrsBuilder builder;
        const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
        builder.entry4(0x02, 0x0001);
        builder.entry4(0x42, 0x0002);  // an alias entry needs 8 bytes; the block ends after 4
        builder.end_block(block);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x4c: device entry type 0x42 (alias select): "
                                       "truncated: 4 bytes left of a 8-byte entry, ignored")}));
        EXPECT_EQ(parsed.description->device_settings().size(), 1u);
    }
    {
        IvrsBuilder builder(0x2800, "BOCHS ", 2);
        const size_t block = builder.begin_ivhd(0x40, 0, 0x0002, 0xfd200000);
        builder.acpi_hid(0x00a5, "AMDI0020", "\0\0\0\0\0\0\0\0", 2, "ID0");
        builder.end_block(block);
        std::vector<uint8_t> table = builder.bytes();
        table[block + 40 + 21] = 9;  // UID length past the block's end
        const Parsed parsed = parse(table);
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x58: device entry type 0xf0 (ACPI HID device): "
                                       "truncated: UID of 9 bytes runs past the end of the IVHD, ignored")}));
        EXPECT_TRUE(parsed.description->acpi_hid_devices().empty());
    }
    {
        IvrsBuilder builder(0x2800, "BOCHS ", 2);
        const size_t block = builder.begin_ivhd(0x40, 0, 0x0002, 0xfd200000);
        builder.entry4(0xf0, 0x00a5);  // only 4 of the 22 fixed bytes
        builder.end_block(block);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x58: device entry type 0xf0 (ACPI HID device): "
                                       "truncated: 4 bytes left of its 22-byte fixed part, ignored")}));
    }
}

TEST(Ivrs, BadSpecialDevicesAndDuplicateUnits) {
    IvrsBuilder builder;
    size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.special(0, 0x00a0, 3);
    builder.special(0, 0x00a0, 1);
    builder.special(0, 0x00a1, 1);
    builder.end_block(block);
    block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
    builder.end_block(block);
    block = builder.begin_ivhd(0x10, 0, 0x0012, 0xfd201000);
    builder.end_block(block);
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x48: device entry type 0x48 (special device): variety 0x03 is "
                          "neither IOAPIC (1) nor HPET (2), ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x58: device entry type 0x48 (special device): IOAPIC 0 already "
                          "has device ID 0x00a0 (offset 0x50), ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x60: IVHD type 0x10: a second IVHD for IOMMU 0000:00:00.2 "
                          "(first at offset 0x30), ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x78: IVHD type 0x10: IOMMU base address is not 16 KiB aligned, "
                          "ignored")}));
    EXPECT_EQ(parsed.description->units().size(), 1u);
    EXPECT_EQ(parsed.description->special_devices().size(), 1u);
}

TEST(Ivrs, MalformedMemoryDefinitions) {
    IvrsBuilder builder;
    const uint8_t unity_rw = ivmd_flags::unity | ivmd_flags::read | ivmd_flags::write;
    builder.ivmd(0x20, unity_rw, 0, 0, 0xd0000000, 0);             // 0x30 zero length
    builder.ivmd(0x20, ivmd_flags::read, 0, 0, 0xd0000000, 0x1000);  // 0x50 no Unity, no ExclusionRange
    builder.ivmd(0x20, ivmd_flags::unity, 0, 0, 0xd0000000, 0x1000);  // 0x70 no access
    builder.ivmd(0x22, unity_rw, 0x20, 0x10, 0xd0000000, 0x1000);  // 0x90 reversed device range
    builder.ivmd(0x20, unity_rw, 0, 0, 0xffff'ffff'ffff'f000, 0x2000);  // 0xb0 beyond 2^52
    builder.ivmd(0x20, unity_rw, 0, 0, 0x000f'ffff'ffff'f800, 0x800);   // 0xd0 misaligned, ends at 2^52: kept, rounded
    builder.ivmd(0x20, unity_rw, 0, 0, 0xd0000000, 0x1000);        // 0xf0 good
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x30: IVMD type 0x20: zero length at 0xd0000000, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x50: IVMD type 0x20: flags 0x02 set neither Unity nor "
                          "ExclusionRange, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x70: IVMD type 0x20: unity mapping at 0xd0000000 grants neither "
                          "read (IR) nor write (IW), ignored"),
                  warning("IVRS at 0x7fe00000 offset 0x90: IVMD type 0x22: device range 0x0020-0x0010 ends before it "
                          "starts, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0xb0: IVMD type 0x20: 0xfffffffffffff000+0x2000 reaches above "
                          "2^52, ignored"),
                  warning("IVRS at 0x7fe00000 offset 0xd0: IVMD type 0x20: 0xffffffffff800+0x800 is not whole 4 KiB "
                          "pages; rounded outward to 0xffffffffff000-0xfffffffffffff")}));
    EXPECT_EQ(parsed.description->rejected_count(), 5u);
    EXPECT_EQ(parsed.description->rounded_count(), 1u);
    ASSERT_EQ(parsed.description->ivmd_regions().size(), 2u);
    EXPECT_EQ(parsed.description->ivmd_regions()[0].end(), uint64_t{1} << 52);
    EXPECT_EQ(parsed.description->ivmd_regions()[1].origin_offset, 0xf0u);
}

// 5.2.2.3 asks for a 4 KiB aligned start and length. A block that is not
// whole pages (one real laptop's table has five 22h blocks of length 1) is
// kept as every page it touches, with a warning, not dropped.
TEST(Ivrs, MemoryDefinitionsThatAreNotWholePagesAreRoundedOutward) {
    IvrsBuilder builder;
    const uint8_t unity_rw = ivmd_flags::unity | ivmd_flags::read | ivmd_flags::write;
    builder.ivmd(0x22, unity_rw, 0x0300, 0x0307, 0x9618e000, 1);  // 0x30 one byte: its page
    builder.ivmd(0x20, unity_rw, 0, 0, 0xd0000800, 0x1000);       // 0x50 straddles two pages
    builder.ivmd(0x21, unity_rw, 0x10, 0, 0xd0010000, 0x1800);    // 0x70 one and a half pages
    builder.ivmd(0x21, unity_rw, 0x10, 0, 0xd0020fff, 2);         // 0x90 last byte of a page, first of the next
    builder.ivmd(0x20, unity_rw, 0, 0, 0xd0030000, 0x3000);       // 0xb0 whole pages: unchanged, no warning
    const Parsed parsed = parse(builder.bytes());
    EXPECT_EQ(parsed.warnings,
              (std::vector<std::string>{
                  warning("IVRS at 0x7fe00000 offset 0x30: IVMD type 0x22: 0x9618e000+0x1 is not whole 4 KiB pages; "
                          "rounded outward to 0x9618e000-0x9618efff"),
                  warning("IVRS at 0x7fe00000 offset 0x50: IVMD type 0x20: 0xd0000800+0x1000 is not whole 4 KiB "
                          "pages; rounded outward to 0xd0000000-0xd0001fff"),
                  warning("IVRS at 0x7fe00000 offset 0x70: IVMD type 0x21: 0xd0010000+0x1800 is not whole 4 KiB "
                          "pages; rounded outward to 0xd0010000-0xd0011fff"),
                  warning("IVRS at 0x7fe00000 offset 0x90: IVMD type 0x21: 0xd0020fff+0x2 is not whole 4 KiB "
                          "pages; rounded outward to 0xd0020000-0xd0021fff")}));
    EXPECT_EQ(parsed.description->rejected_count(), 0u);
    EXPECT_EQ(parsed.description->rounded_count(), 4u);
    const Span<const IvmdRegion> regions = parsed.description->ivmd_regions();
    ASSERT_EQ(regions.size(), 5u);
    const std::pair<uint64_t, uint64_t> expected[] = {{0x9618e000, 0x1000},
                                                      {0xd0000000, 0x2000},
                                                      {0xd0010000, 0x2000},
                                                      {0xd0020000, 0x2000},
                                                      {0xd0030000, 0x3000}};
    for (size_t index = 0; index < regions.size(); ++index) {
        EXPECT_EQ(regions[index].start, expected[index].first) << index;
        EXPECT_EQ(regions[index].length, expected[index].second) << index;
    }
    EXPECT_EQ(regions[0].scope, IvmdScope::device_range);
    EXPECT_EQ(regions[0].first_device, 0x0300);
    EXPECT_EQ(regions[0].last_device, 0x0307);
}

TEST(Ivrs, BlockLengthsThatCannotBeTrusted) {
    {
        // A block shorter than its header ends the walk; what came before is kept.
        IvrsBuilder builder;
        builder.ivmd(0x20, ivmd_flags::unity | ivmd_flags::read, 0, 0, 0xd0000000, 0x1000);
        const size_t bad = builder.ivmd(0x20, ivmd_flags::unity | ivmd_flags::read, 0, 0, 0xd0001000, 0x1000);
        builder.patch16(bad + 2, 0);
        builder.ivmd(0x20, ivmd_flags::unity | ivmd_flags::read, 0, 0, 0xd0002000, 0x1000);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x50: IVMD type 0x20: length 0 is shorter than its "
                                       "32-byte header, rest of table ignored")}));
        EXPECT_EQ(parsed.description->ivmd_regions().size(), 1u);
    }
    {
        IvrsBuilder builder;
        const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfd200000);
        builder.end_block(block);
        builder.patch16(block + 2, 0x400);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x30: IVHD type 0x10: length 1024 runs past the end "
                                       "of the table (24 bytes left), rest of table ignored")}));
        EXPECT_TRUE(parsed.description->units().empty());
    }
    {
        IvrsBuilder builder;
        builder.append(0x10, 1);
        builder.append(0, 1);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000 offset 0x30: block: 2 trailing bytes are too short for a "
                                       "block header, ignored")}));
    }
    {
        // An unknown block type is stepped over by its length.
        IvrsBuilder builder;
        builder.append(0x77, 1);
        builder.append(0, 1);
        builder.append(8, 2);
        builder.append(0, 4);
        builder.ivmd(0x20, ivmd_flags::unity | ivmd_flags::read, 0, 0, 0xd0000000, 0x1000);
        const Parsed parsed = parse(builder.bytes());
        EXPECT_TRUE(parsed.warnings.empty());
        EXPECT_EQ(parsed.lines, (std::vector<std::string>{
                                    "amd-vi: IVRS at 0x7fe00000 offset 0x30: block type 0x77 is not known, skipped"}));
        EXPECT_EQ(parsed.description->ivmd_regions().size(), 1u);
    }
}

TEST(Ivrs, UnusableTables) {
    const std::vector<uint8_t> good = qemu_table();
    {
        const Parsed parsed = parse(std::vector<uint8_t>(good.begin(), good.begin() + 20));
        EXPECT_EQ(parsed.status.error(), Error::malformed);
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000: 20 bytes are shorter than the 48-byte IVRS header, table "
                                       "ignored")}));
    }
    {
        std::vector<uint8_t> table = good;
        table[0] = 'D';
        const Parsed parsed = parse(table);
        EXPECT_EQ(parsed.status.error(), Error::malformed);
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000: signature 0x53525644 is not IVRS, table ignored")}));
    }
    {
        // The header claims more bytes than there are.
        const Parsed parsed = parse(std::vector<uint8_t>(good.begin(), good.end() - 4));
        EXPECT_EQ(parsed.status.error(), Error::malformed);
        EXPECT_EQ(parsed.warnings, (std::vector<std::string>{warning(
                                       "IVRS at 0x7fe00000: table length 108 is outside 48..104, table ignored")}));
    }
    {
        // Bytes past the table's own length are not part of it.
        std::vector<uint8_t> table = good;
        table.insert(table.end(), {0x10, 0, 0xff, 0xff});
        const Parsed parsed = parse(table);
        EXPECT_TRUE(parsed.status.ok());
        EXPECT_TRUE(parsed.warnings.empty());
        EXPECT_EQ(parsed.description->units().size(), 1u);
    }
}

TEST(Ivrs, ReparsingReplacesThePreviousDescription) {
    auto description = std::make_unique<IvrsDescription>();
    const std::vector<uint8_t> table = qemu_table();
    ASSERT_TRUE(parse_ivrs(Span<const uint8_t>(table.data(), table.size()), table_address, *description).ok());
    ASSERT_TRUE(parse_ivrs(Span<const uint8_t>(table.data(), table.size()), table_address, *description).ok());
    EXPECT_EQ(description->units().size(), 1u);
    EXPECT_EQ(description->device_settings().size(), 8u);
}

TEST(Ivrs, ConvertsMemoryDefinitionsToReservedRegions) {
    IvmdRegion region;
    region.start = 0xd1000000;
    region.length = 0x2000;
    region.scope = IvmdScope::device_range;
    region.segment = 2;
    region.first_device = 0x0100;
    region.last_device = 0x01ff;
    region.read = false;
    region.write = true;
    region.origin_table = table_address;
    region.origin_offset = 0x70;
    const auto reserved = to_reserved_region(region);
    ASSERT_TRUE(reserved.ok());
    EXPECT_EQ(reserved.value().base, 0xd1000000u);
    EXPECT_EQ(reserved.value().end, 0xd1002000u);
    EXPECT_EQ(reserved.value().access, paging::Access::write);
    EXPECT_EQ(reserved.value().source, passthrough::ReservedRegionSource::acpi_ivmd);
    EXPECT_EQ(reserved.value().origin_offset, 0x70u);
    EXPECT_TRUE(reserved.value().devices.contains(pci::PciAddress{2, 1, 0x1f, 7}));
    EXPECT_FALSE(reserved.value().devices.contains(pci::PciAddress{2, 2, 0, 0}));
    EXPECT_FALSE(reserved.value().devices.contains(pci::PciAddress{0, 1, 0, 0}));

    region.scope = IvmdScope::all_devices;
    region.read = true;
    region.origin = IvmdOrigin::ivmd_option;
    const auto all = to_reserved_region(region);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all.value().access, paging::Access::read_write);
    EXPECT_EQ(all.value().source, passthrough::ReservedRegionSource::ivmd_option);
    EXPECT_TRUE(all.value().devices.contains(pci::PciAddress{2, 0xff, 0x1f, 7}));
    EXPECT_FALSE(all.value().devices.contains(pci::PciAddress{0, 0, 0, 0}));

    region.read = region.write = false;
    EXPECT_EQ(to_reserved_region(region).error(), Error::invalid_argument);
}

}  // namespace
