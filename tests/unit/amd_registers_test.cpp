// AMD-Vi hardware types against values computed by hand from the
// specification (48882): register offsets and bits, Device Table Entries and
// their write order, commands and the size-encoded invalidation range, and
// event log decoding.
#include <gtest/gtest.h>

#include <drivers/passthrough/amd/commands.hpp>
#include <drivers/passthrough/amd/device_table.hpp>
#include <drivers/passthrough/amd/event_log.hpp>
#include <drivers/passthrough/amd/registers.hpp>

#include <map>
#include <string>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::amd;

// --- Registers -------------------------------------------------------------------

TEST(AmdRegisters, OffsetsFromTheSpecification) {
    EXPECT_EQ(offset_of(Register64::device_table_base), 0x0000u);
    EXPECT_EQ(offset_of(Register64::command_buffer_base), 0x0008u);
    EXPECT_EQ(offset_of(Register64::event_log_base), 0x0010u);
    EXPECT_EQ(offset_of(Register64::control), 0x0018u);
    EXPECT_EQ(offset_of(Register64::exclusion_base), 0x0020u);
    EXPECT_EQ(offset_of(Register64::exclusion_range_limit), 0x0028u);
    EXPECT_EQ(offset_of(Register64::extended_feature), 0x0030u);
    EXPECT_EQ(offset_of(Register64::command_buffer_head), 0x2000u);
    EXPECT_EQ(offset_of(Register64::command_buffer_tail), 0x2008u);
    EXPECT_EQ(offset_of(Register64::event_log_head), 0x2010u);
    EXPECT_EQ(offset_of(Register64::event_log_tail), 0x2018u);
    EXPECT_EQ(offset_of(Register64::status), 0x2020u);
    EXPECT_EQ(offset_of(Register32::msi_data), 0x0164u);
}

TEST(AmdRegisters, ControlAndStatusBits) {
    // IommuEn (0), EventLogEn (2), CmdBufEn (12): the usual enable value.
    EXPECT_EQ(control::iommu_enable | control::event_log_enable | control::command_buffer_enable, 0x1005u);
    EXPECT_EQ(control::completion_wait_interrupt_enable, 0x10u);
    EXPECT_EQ(control::coherent, 0x400u);
    EXPECT_EQ(control::x2apic_enable, uint64_t{1} << 50);
    // InvTimeOut in bits 7:5: 1 s is 100b.
    EXPECT_EQ(with_invalidation_timeout(0x1005, InvalidationTimeout::one_second), 0x1085u);
    EXPECT_EQ(with_invalidation_timeout(0xffff, InvalidationTimeout::none), 0xff1fu);
    EXPECT_EQ(status::event_log_overflow | status::completion_wait_interrupt, 0x5u);
    EXPECT_EQ(status::command_buffer_running, 0x10u);
    EXPECT_EQ(status::guest_log_interrupt, 0x400u);
}

TEST(AmdRegisters, TableBaseValues) {
    // 65536 entries of 32 bytes: 2 MiB = 512 pages, Size = 511 (1FFh).
    EXPECT_EQ(device_table_base_value(0x1000000, 65536), 0x10001ffu);
    // 256 entries: 8 KiB, Size = 1. A partial page counts as a page.
    EXPECT_EQ(device_table_base_value(0x2000, 256), 0x2001u);
    EXPECT_EQ(device_table_base_value(0x2000, 129), 0x2001u);
    EXPECT_EQ(device_table_base_value(0x2000, 128), 0x2000u);
    // ComLen 1001b in bits 59:56 for 512 entries.
    EXPECT_EQ(ring_base_value(0x2000000, 9), 0x0900000002000000u);
    EXPECT_EQ(ring_base_value(0x3000, 2), 0x0800000000003000u);  // at least 256 entries
    EXPECT_EQ(ring_base_value(0x3000, 20), 0x0f00000000003000u);
}

TEST(AmdRegisters, ExtendedFeatureDecodeAndPrint) {
    // PreFSup, PPRSup, NXSup, GTSup, IASup, GASup, HESup, HATS = 10b.
    const ExtendedFeatures features{0x9db};
    EXPECT_TRUE(features.prefetch_supported());
    EXPECT_TRUE(features.ppr_supported());
    EXPECT_FALSE(features.x2apic_supported());
    EXPECT_TRUE(features.no_execute_supported());
    EXPECT_TRUE(features.guest_translation_supported());
    EXPECT_TRUE(features.invalidate_all_supported());
    EXPECT_TRUE(features.guest_virtual_apic_supported());
    EXPECT_TRUE(features.hardware_error_registers_supported());
    EXPECT_FALSE(features.performance_counters_supported());
    EXPECT_EQ(features.host_address_translation_size(), 2);
    EXPECT_EQ(features.maximum_host_levels(), 6);
    EXPECT_EQ(ExtendedFeatures{uint64_t{3} << 10}.maximum_host_levels(), 0);
    EXPECT_EQ(ExtendedFeatures{uint64_t{0x1f} << 32}.pasid_max(), 0x1f);
    EXPECT_EQ(ExtendedFeatures{uint64_t{1} << 4 | uint64_t{1} << 46}.msi_capability_mmio_supported(), true);

    char line[200];
    describe_extended_features(features, line, sizeof line);
    EXPECT_STREQ(line, "EFR 0x00000000000009db: PreFSup PPRSup NXSup GTSup IASup GASup HESup HATS=2 (6 levels) "
                       "GATS=0 GLXSup=0 PASmax=0");
    describe_extended_features(ExtendedFeatures{0x4 | (uint64_t{3} << 10) | (uint64_t{1} << 12)}, line, sizeof line);
    EXPECT_STREQ(line, "EFR 0x0000000000001c04: XTSup HATS=3 (reserved) GATS=1 GLXSup=0 PASmax=0");
    char small[16];
    EXPECT_EQ(describe_extended_features(features, small, sizeof small), 15u);
    EXPECT_STREQ(small, "EFR 0x000000000");
}

// --- Device Table Entries ------------------------------------------------------------

TEST(AmdDeviceTable, TranslatedEntryFields) {
    const auto entry = make_translated_entry(DeviceTableTranslation{0x123456000, 4, 5, true, true});
    ASSERT_TRUE(entry.ok());
    // V (0), TV (1), Mode 4 in bits 11:9 (0x800), root, IR (61), IW (62).
    EXPECT_EQ(entry.value().qwords[0], 0x6000000123456803u);
    EXPECT_EQ(entry.value().qwords[1], 5u);
    EXPECT_EQ(entry.value().qwords[2], 0u);
    EXPECT_EQ(entry.value().qwords[3], 0u);
    EXPECT_TRUE(is_valid(entry.value()));
    EXPECT_TRUE(translation_is_valid(entry.value()));
    EXPECT_EQ(paging_mode(entry.value()), 4);
    EXPECT_EQ(root_pointer(entry.value()), 0x123456000u);
    EXPECT_EQ(domain_id(entry.value()), 5);

    const auto read_only = make_translated_entry(DeviceTableTranslation{0xf'ffff'ffff'f000, 6, 0xffff, true, false});
    ASSERT_TRUE(read_only.ok());
    EXPECT_EQ(read_only.value().qwords[0], 0x200ffffffffffc03u);
    EXPECT_EQ(read_only.value().qwords[1], 0xffffu);

    EXPECT_EQ(make_translated_entry({0x1000, 0, 1, true, true}).error(), Error::invalid_argument);
    EXPECT_EQ(make_translated_entry({0x1000, 7, 1, true, true}).error(), Error::invalid_argument);
    EXPECT_EQ(make_translated_entry({0x1800, 3, 1, true, true}).error(), Error::invalid_argument);
    EXPECT_EQ(make_translated_entry({uint64_t{1} << 52, 3, 1, true, true}).error(), Error::invalid_argument);
}

TEST(AmdDeviceTable, BlockedEntryAndSystemManagement) {
    const DeviceTableEntry blocked = make_blocked_entry(9);
    EXPECT_EQ(blocked.qwords[0], 0x3u);  // V, TV, Mode 0, IR = IW = 0
    EXPECT_EQ(blocked.qwords[1], 9u);
    const DeviceTableEntry managed = with_system_management(blocked, DeviceTableSetting{0x30});
    EXPECT_EQ(managed.qwords[1], 0x30000000009u);  // SysMgt = 11b in bits 105:104
    EXPECT_EQ(with_system_management(managed, DeviceTableSetting{0x10}).qwords[1], 0x10000000009u);
}

std::vector<std::pair<int, uint64_t>> writes_of(const DeviceTableWritePlan& plan) {
    std::vector<std::pair<int, uint64_t>> writes;
    for (const DeviceTableWrite& write : plan.writes()) writes.emplace_back(write.qword, write.value);
    return writes;
}

TEST(AmdDeviceTable, EnablingWritesValidLast) {
    const DeviceTableEntry entry = make_translated_entry({0x5000, 3, 7, true, true}).value();
    const auto writes = writes_of(plan_device_table_update(DeviceTableEntry{}, entry));
    EXPECT_EQ(writes, (std::vector<std::pair<int, uint64_t>>{{1, 7}, {0, entry.qwords[0]}}));
}

TEST(AmdDeviceTable, DisablingClearsValidFirst) {
    DeviceTableEntry entry = make_translated_entry({0x5000, 3, 7, true, true}).value();
    entry.qwords[2] = 0x1234;
    const auto writes = writes_of(plan_device_table_update(entry, DeviceTableEntry{}));
    EXPECT_EQ(writes, (std::vector<std::pair<int, uint64_t>>{{0, 0}, {1, 0}, {2, 0}}));
}

TEST(AmdDeviceTable, SameDomainNewRootIsOneStore) {
    const DeviceTableEntry before = make_translated_entry({0x5000, 3, 7, true, true}).value();
    const DeviceTableEntry after = make_translated_entry({0x9000, 4, 7, true, true}).value();
    EXPECT_EQ(writes_of(plan_device_table_update(before, after)),
              (std::vector<std::pair<int, uint64_t>>{{0, after.qwords[0]}}));
    EXPECT_TRUE(plan_device_table_update(after, after).writes().empty());
}

TEST(AmdDeviceTable, NewDomainOnALiveEntryPassesThroughBlocked) {
    const DeviceTableEntry before = make_translated_entry({0x5000, 3, 7, true, true}).value();
    const DeviceTableEntry after = make_translated_entry({0x9000, 3, 8, true, true}).value();
    EXPECT_EQ(writes_of(plan_device_table_update(before, after)),
              (std::vector<std::pair<int, uint64_t>>{{0, 0x3}, {1, 8}, {0, after.qwords[0]}}));
    // Into a blocked entry of another domain: the blocking store is the final word 0.
    EXPECT_EQ(writes_of(plan_device_table_update(before, make_blocked_entry(1))),
              (std::vector<std::pair<int, uint64_t>>{{0, 0x3}, {1, 1}}));
    // Only the domain changes (same word 0): one store.
    DeviceTableEntry renamed = before;
    renamed.qwords[1] = 9;
    EXPECT_EQ(writes_of(plan_device_table_update(before, renamed)), (std::vector<std::pair<int, uint64_t>>{{1, 9}}));
}

// Physical memory that remembers every store, to replay an update.
class RecordingMemory final : public PhysicalMemory {
public:
    [[nodiscard]] uint64_t read64(PhysicalAddress address) const override {
        const auto found = words.find(address);
        return found == words.end() ? 0 : found->second;
    }
    void write64(PhysicalAddress address, uint64_t value) override {
        words[address] = value;
        stores.emplace_back(address, value);
    }
    void zero_page(PhysicalAddress) override {}
    [[nodiscard]] Status read_bytes(PhysicalAddress, void*, size_t) const override { return Error::unsupported; }
    [[nodiscard]] Status write_bytes(PhysicalAddress, const void*, size_t) override { return Error::unsupported; }

    DeviceTableEntry entry_at(PhysicalAddress address) const {
        DeviceTableEntry entry;
        for (size_t index = 0; index < 4; ++index) entry.qwords[index] = read64(address + 8 * index);
        return entry;
    }

    std::map<PhysicalAddress, uint64_t> words;
    std::vector<std::pair<PhysicalAddress, uint64_t>> stores;
};

// After every single store the IOMMU may read the entry. It must then be the
// old entry, the new one, a blocked one, or a translating entry whose word 0
// and domain ID come from the same side (never one domain's tables under the
// other's tag).
TEST(AmdDeviceTable, EveryIntermediateStateIsSafe) {
    const DeviceTableEntry invalid{};
    const DeviceTableEntry a = with_system_management(make_translated_entry({0x5000, 3, 7, true, true}).value(),
                                                      DeviceTableSetting{0x10});
    const DeviceTableEntry b = make_translated_entry({0x9000, 4, 8, true, false}).value();
    const DeviceTableEntry c = make_translated_entry({0x5000, 3, 8, true, true}).value();
    const DeviceTableEntry d = make_blocked_entry(7);
    const DeviceTableEntry entries[] = {invalid, a, b, c, d};
    constexpr PhysicalAddress base = 0x100000 + 32 * 0x20;

    for (const DeviceTableEntry& from : entries) {
        for (const DeviceTableEntry& to : entries) {
            RecordingMemory memory;
            for (size_t index = 0; index < 4; ++index) memory.words[base + 8 * index] = from.qwords[index];
            const DeviceTableWritePlan plan = plan_device_table_update(from, to);
            for (const DeviceTableWrite& write : plan.writes()) {
                DeviceTableWritePlan single;
                single.add(write.qword, write.value);
                apply_device_table_update(memory, base, single);
                const DeviceTableEntry seen = memory.entry_at(base);
                if (!is_valid(seen)) continue;  // an invalid entry is never used
                if (translation_is_valid(seen) && paging_mode(seen) == 0 &&
                    (seen.qwords[0] & (device_table_entry::read_permission | device_table_entry::write_permission)) == 0)
                    continue;  // blocked
                const bool from_side = seen.qwords[0] == from.qwords[0] && domain_id(seen) == domain_id(from);
                const bool to_side = seen.qwords[0] == to.qwords[0] && domain_id(seen) == domain_id(to);
                EXPECT_TRUE(from_side || to_side) << "a torn entry between two entries";
            }
            EXPECT_TRUE(memory.entry_at(base) == to);
        }
    }
}

TEST(AmdDeviceTable, ApplyStoresEachWordAtItsAddress) {
    const DeviceTableEntry entry = make_translated_entry({0x5000, 3, 7, true, true}).value();
    RecordingMemory memory;
    apply_device_table_update(memory, 0x200040, plan_device_table_update(DeviceTableEntry{}, entry));
    EXPECT_EQ(memory.stores, (std::vector<std::pair<PhysicalAddress, uint64_t>>{{0x200048, 7},
                                                                               {0x200040, entry.qwords[0]}}));
}

// --- Commands ------------------------------------------------------------------------

TEST(AmdCommands, CompletionWait) {
    const Command wait = make_completion_wait(0x12345678, 0xdeadbeef);
    // Opcode 1 in bits 63:60, S (bit 0), the store address in bits 51:3.
    EXPECT_EQ(wait.qwords[0], 0x1000000012345679u);
    EXPECT_EQ(wait.qwords[1], 0xdeadbeefu);
    EXPECT_EQ(opcode(wait), CommandOpcode::completion_wait);
    const Command with_interrupt = make_completion_wait(0xf'ffff'ffff'fff8, 1, true, true);
    EXPECT_EQ(with_interrupt.qwords[0], 0x100fffffffffffffu);  // S, I, F and the highest address
}

TEST(AmdCommands, InvalidateDeviceTableEntryInterruptTableAndAll) {
    EXPECT_EQ(make_invalidate_device_table_entry(0x0020).qwords[0], 0x2000000000000020u);
    EXPECT_EQ(make_invalidate_device_table_entry(0x0020).qwords[1], 0u);
    EXPECT_EQ(make_invalidate_interrupt_table(0x00a0).qwords[0], 0x50000000000000a0u);
    EXPECT_EQ(make_invalidate_iommu_all().qwords[0], 0x8000000000000000u);
    EXPECT_EQ(make_invalidate_iommu_all().qwords[1], 0u);
}

TEST(AmdCommands, InvalidationRangeEncodingMatchesTheSpecificationExamples) {
    // S = 0: one 4 KiB page, the address as is.
    EXPECT_EQ(encode_invalidation_range(0x1234000, 0).address, 0x1234000u);
    EXPECT_FALSE(encode_invalidation_range(0x1234000, 0).size);
    // S = 1, bit 12 clear: 8 KiB.
    EXPECT_EQ(encode_invalidation_range(0x2000, 1).address, 0x2000u);
    EXPECT_TRUE(encode_invalidation_range(0x2000, 1).size);
    // Bits 13:12 = 01b: 16 KiB; bits 14:12 = 011b: 32 KiB.
    EXPECT_EQ(encode_invalidation_range(0x4000, 2).address, 0x5000u);
    EXPECT_EQ(encode_invalidation_range(0x8000, 3).address, 0xb000u);
    // Bits 20:12 = 0_1111_1111b: a 2 MiB page.
    EXPECT_EQ(encode_invalidation_range(0x200000, 9).address, 0x2ff000u);
    // Bits 29:12 = 01_1111_1111_1111_1111b: a 1 GiB page.
    EXPECT_EQ(encode_invalidation_range(0x40000000, 18).address, 0x5ffff000u);
    // Everything: 7FFF_FFFF_FFFF_F000h.
    EXPECT_EQ(encode_invalidation_range(0x1234000, 52).address, 0x7ffffffffffff000u);
    EXPECT_EQ(encode_invalidation_range(0, 60).address, 0x7ffffffffffff000u);
    // An unaligned address is widened to the aligned block that contains it.
    EXPECT_EQ(encode_invalidation_range(0x3ff000, 9).address, 0x2ff000u);
}

TEST(AmdCommands, InvalidationRangeRoundTrips) {
    const uint64_t addresses[] = {0, 0x1000, 0x7654321000, 0xffff'ffff'ffff'f000, 0x8000'0000'0000'0000};
    for (const uint64_t address : addresses) {
        for (unsigned order = 0; order < 52; ++order) {
            const DecodedInvalidationRange decoded = decode_invalidation_range(encode_invalidation_range(address, order));
            const uint64_t length = uint64_t{1} << (12 + order);
            EXPECT_EQ(decoded.length, length) << "order " << order;
            EXPECT_EQ(decoded.base, address & ~(length - 1)) << "order " << order;
        }
    }
    EXPECT_EQ(decode_invalidation_range(encode_invalidation_range(0x1000, 52)).length, 0u);
}

TEST(AmdCommands, InvalidateIommuPages) {
    const Command command = make_invalidate_iommu_pages(5, encode_invalidation_range(0x200000, 9), true);
    // Opcode 3, DomainID in bits 47:32; S (bit 64), PDE (bit 65), the address.
    EXPECT_EQ(command.qwords[0], 0x3000000500000000u);
    EXPECT_EQ(command.qwords[1], 0x2ff003u);
    const Command page = make_invalidate_iommu_pages(0xffff, encode_invalidation_range(0xabc000, 0), false);
    EXPECT_EQ(page.qwords[0], 0x3000ffff00000000u);
    EXPECT_EQ(page.qwords[1], 0xabc000u);
    EXPECT_EQ(make_invalidate_domain(7).qwords[1], 0x7ffffffffffff003u);
}

// --- Event log -----------------------------------------------------------------------

std::string describe(uint32_t dword0, uint32_t dword1, uint64_t address) {
    const EventLogEntry entry{{uint64_t{dword1} << 32 | dword0, address}};
    char line[160];
    describe_event(entry, line, sizeof line);
    return line;
}

TEST(AmdEventLog, IoPageFault) {
    // dword 1: code 2 (bits 31:28), flags RW | PR | PE = 070h (bits 27:16),
    // domain 1 (bits 15:0); dword 0: device 00:04.0.
    const EventLogEntry entry{{0x2070000100000020u, 0x12345000}};
    const DecodedEvent event = decode_event(entry);
    EXPECT_EQ(event.code, 2);
    EXPECT_EQ(event.device_id, 0x0020);
    EXPECT_EQ(event.domain_id, 1);
    EXPECT_EQ(event.flags, 0x070);
    EXPECT_EQ(event.address, 0x12345000u);
    EXPECT_EQ(describe(0x00000020, 0x20700001, 0x12345000),
              "IO_PAGE_FAULT device 00:04.0 domain 0x0001 address 0x12345000 flags 0x070: write, present, "
              "permission");
    EXPECT_EQ(describe(0x000000fa, 0x20000005, 0xfee00000),
              "IO_PAGE_FAULT device 00:1f.2 domain 0x0005 address 0xfee00000 flags 0x000: read, not present");
    EXPECT_EQ(describe(0x00000100, 0x20880002, 0x1000),
              "IO_PAGE_FAULT device 01:00.0 domain 0x0002 address 0x1000 flags 0x088: interrupt, not present, "
              "reserved bit");
}

TEST(AmdEventLog, OtherEvents) {
    EXPECT_EQ(describe(0x00000018, 0x10200000, 0x4000),
              "ILLEGAL_DEV_TABLE_ENTRY device 00:03.0 address 0x4000 flags 0x020: write");
    // Type 10b (target abort) in bits 58:57 = flags bits 10:9.
    EXPECT_EQ(describe(0x00000020, 0x34000000, 0x100400),
              "DEV_TAB_HARDWARE_ERROR device 00:04.0 device table entry at 0x100400 flags 0x400: target abort, read");
    EXPECT_EQ(describe(0x00000020, 0x46200003, 0x7000008),
              "PAGE_TAB_HARDWARE_ERROR device 00:04.0 domain 0x0003 page table entry at 0x7000008 flags 0x620: "
              "data error, write");
    EXPECT_EQ(describe(0, 0x50000000, 0x300010), "ILLEGAL_COMMAND_ERROR command at 0x300010");
    EXPECT_EQ(describe(0, 0x62000000, 0x300020), "COMMAND_HARDWARE_ERROR command buffer access at 0x300020: "
                                                 "master abort");
    EXPECT_EQ(describe(0x00000020, 0x70000000, 0x300030), "IOTLB_INV_TIMEOUT device 00:04.0 command at 0x300030");
    // Type 001b in bits 59:57, TR (bit 56).
    EXPECT_EQ(describe(0x00000020, 0x83000000, 0x8000),
              "INVALID_DEVICE_REQUEST device 00:04.0 address 0x8000 flags 0x300 type 1: translation request");
    EXPECT_EQ(describe(0x11111111, 0xf2222222, 0x33), "UNKNOWN_EVENT code 0xf: 0xf222222211111111 0x0000000000000033");
}

}  // namespace
