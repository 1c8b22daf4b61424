// VT-d register values, root and context entries, invalidation descriptors and
// fault records, each checked against values worked out by hand from the
// bit positions in the VT-d specification (chapters 6.5, 9 and 11) and
// against the registers QEMU 7.2's intel-iommu reports.
#include <gtest/gtest.h>

#include <drivers/passthrough/vtd/entries.hpp>
#include <drivers/passthrough/vtd/invalidation.hpp>
#include <drivers/passthrough/vtd/registers.hpp>

#include <sluice/log.hpp>

#include "support/log_capture.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace sluice::vtd;
using sluice::Error;

// QEMU 7.2, -device intel-iommu (aw-bits=39), measured.
constexpr Capability qemu_capability{0xd2008c22260206};
constexpr ExtendedCapability qemu_extended{0xf00f4a};
// The same with aw-bits=48: SAGAW 39+48, MGAW 48 (field 47).
constexpr Capability qemu_capability_48{0x00d2008c222f0606};

// A physical memory that records the order of 64-bit writes.
class RecordingMemory final : public sluice::PhysicalMemory {
public:
    [[nodiscard]] uint64_t read64(sluice::PhysicalAddress address) const override {
        const auto found = words.find(address);
        return found == words.end() ? 0 : found->second;
    }
    void write64(sluice::PhysicalAddress address, uint64_t value) override {
        words[address] = value;
        writes.emplace_back(address, value);
    }
    void zero_page(sluice::PhysicalAddress) override {}
    [[nodiscard]] sluice::Status read_bytes(sluice::PhysicalAddress, void*, size_t) const override {
        return Error::out_of_range;
    }
    [[nodiscard]] sluice::Status write_bytes(sluice::PhysicalAddress, const void*, size_t) override {
        return Error::out_of_range;
    }
    std::map<sluice::PhysicalAddress, uint64_t> words;
    std::vector<std::pair<sluice::PhysicalAddress, uint64_t>> writes;
};

// --- Offsets ----------------------------------------------------------------------

TEST(VtdRegisters, FixedOffsets) {
    // 11.4 register address map.
    EXPECT_EQ(offset_of(Register32::version), 0x00u);
    EXPECT_EQ(offset_of(Register64::capability), 0x08u);
    EXPECT_EQ(offset_of(Register64::extended_capability), 0x10u);
    EXPECT_EQ(offset_of(Register32::global_command), 0x18u);
    EXPECT_EQ(offset_of(Register32::global_status), 0x1cu);
    EXPECT_EQ(offset_of(Register64::root_table_address), 0x20u);
    EXPECT_EQ(offset_of(Register64::context_command), 0x28u);
    EXPECT_EQ(offset_of(Register32::fault_status), 0x34u);
    EXPECT_EQ(offset_of(Register32::fault_event_control), 0x38u);
    EXPECT_EQ(offset_of(Register32::fault_event_data), 0x3cu);
    EXPECT_EQ(offset_of(Register32::fault_event_address), 0x40u);
    EXPECT_EQ(offset_of(Register32::fault_event_upper_address), 0x44u);
    EXPECT_EQ(offset_of(Register32::protected_memory_enable), 0x64u);
    EXPECT_EQ(offset_of(Register64::invalidation_queue_head), 0x80u);
    EXPECT_EQ(offset_of(Register64::invalidation_queue_tail), 0x88u);
    EXPECT_EQ(offset_of(Register64::invalidation_queue_address), 0x90u);
    EXPECT_EQ(offset_of(Register32::invalidation_completion_status), 0x9cu);
    EXPECT_EQ(offset_of(Register32::invalidation_event_control), 0xa0u);
    EXPECT_EQ(offset_of(Register64::interrupt_remapping_table_address), 0xb8u);
}

TEST(VtdRegisters, VariableOffsetsFromQemuCapabilities) {
    // ECAP.IRO 0xf (x16): IVA at 0xf0, IOTLB at 0xf8; CAP.FRO 0x22 (x16): records at 0x220.
    EXPECT_EQ(offset_of(invalidate_address_register(qemu_extended)), 0xf0u);
    EXPECT_EQ(offset_of(iotlb_invalidate_register(qemu_extended)), 0xf8u);
    EXPECT_EQ(offset_of(fault_recording_register_low(qemu_capability, 0)), 0x220u);
    EXPECT_EQ(offset_of(fault_recording_register_high(qemu_capability, 0)), 0x228u);
    EXPECT_EQ(offset_of(fault_recording_register_last_doubleword(qemu_capability, 0)), 0x22cu);
    EXPECT_EQ(offset_of(fault_recording_register_low(qemu_capability, 2)), 0x240u);
    EXPECT_EQ(fault_record_clear, 0x80000000u);
}

// --- CAP and ECAP ---------------------------------------------------------------------

TEST(VtdRegisters, QemuCapabilityDecodes) {
    const Capability capability = qemu_capability;
    EXPECT_EQ(capability.number_of_domains_field(), 6u);
    EXPECT_EQ(capability.domain_id_bits(), 16u);
    EXPECT_EQ(capability.domain_count(), 65536u);
    EXPECT_FALSE(capability.advanced_fault_logging());
    EXPECT_FALSE(capability.required_write_buffer_flushing());
    EXPECT_FALSE(capability.protected_low_memory_region());
    EXPECT_FALSE(capability.protected_high_memory_region());
    EXPECT_FALSE(capability.caching_mode());
    EXPECT_EQ(capability.supported_adjusted_guest_address_widths(), 0x2u);
    EXPECT_TRUE(capability.supports_levels(3));
    EXPECT_FALSE(capability.supports_levels(4));
    EXPECT_FALSE(capability.supports_levels(5));
    EXPECT_FALSE(capability.supports_levels(2));
    EXPECT_EQ(capability.maximum_guest_address_width(), 39u);
    EXPECT_FALSE(capability.zero_length_read());
    EXPECT_EQ(capability.fault_recording_offset(), 0x220u);
    EXPECT_EQ(capability.second_stage_large_pages(), 3u);
    EXPECT_TRUE(capability.supports_2m_pages());
    EXPECT_TRUE(capability.supports_1g_pages());
    EXPECT_TRUE(capability.page_selective_invalidation());
    EXPECT_EQ(capability.fault_recording_count(), 1u);
    EXPECT_EQ(capability.maximum_address_mask(), 18u);
    EXPECT_TRUE(capability.write_draining());
    EXPECT_TRUE(capability.read_draining());
    EXPECT_FALSE(capability.posted_interrupts());
    EXPECT_FALSE(capability.enhanced_set_root_table_pointer());

    EXPECT_TRUE(qemu_capability_48.supports_levels(3));
    EXPECT_TRUE(qemu_capability_48.supports_levels(4));
    EXPECT_EQ(qemu_capability_48.maximum_guest_address_width(), 48u);
    // Caching mode is bit 7 (caching-mode=on).
    EXPECT_TRUE((Capability{qemu_capability.value | 0x80}).caching_mode());
}

TEST(VtdRegisters, SingleCapabilityBits) {
    EXPECT_TRUE((Capability{uint64_t{1} << 4}).required_write_buffer_flushing());
    EXPECT_TRUE((Capability{uint64_t{1} << 5}).protected_low_memory_region());
    EXPECT_TRUE((Capability{uint64_t{1} << 6}).protected_high_memory_region());
    EXPECT_TRUE((Capability{uint64_t{1} << 22}).zero_length_read());
    EXPECT_TRUE((Capability{uint64_t{1} << 56}).first_stage_1g_pages());
    EXPECT_TRUE((Capability{uint64_t{1} << 59}).posted_interrupts());
    EXPECT_TRUE((Capability{uint64_t{1} << 60}).first_stage_5_level_paging());
    EXPECT_TRUE((Capability{uint64_t{1} << 61}).enhanced_command());
    EXPECT_TRUE((Capability{uint64_t{1} << 62}).enhanced_set_interrupt_root_table_pointer());
    EXPECT_TRUE((Capability{uint64_t{1} << 63}).enhanced_set_root_table_pointer());
    EXPECT_EQ((Capability{uint64_t{0xff} << 40}).fault_recording_count(), 256u);
    EXPECT_EQ((Capability{0x2}).domain_id_bits(), 8u);  // ND 2: 256 domains
}

TEST(VtdRegisters, QemuExtendedCapabilityDecodes) {
    const ExtendedCapability extended = qemu_extended;
    EXPECT_FALSE(extended.page_walk_coherency());
    EXPECT_TRUE(extended.queued_invalidation());
    EXPECT_FALSE(extended.device_tlb());
    EXPECT_TRUE(extended.interrupt_remapping());
    EXPECT_FALSE(extended.extended_interrupt_mode());
    EXPECT_TRUE(extended.pass_through());
    EXPECT_FALSE(extended.snoop_control());
    EXPECT_EQ(extended.iotlb_register_offset(), 0xf0u);
    EXPECT_EQ(extended.maximum_handle_mask(), 0xfu);
    EXPECT_FALSE(extended.nested_translation());
    EXPECT_FALSE(extended.pasid());
    EXPECT_FALSE(extended.scalable_mode());

    EXPECT_TRUE((ExtendedCapability{1}).page_walk_coherency());
    EXPECT_TRUE((ExtendedCapability{1u << 4}).extended_interrupt_mode());
    EXPECT_TRUE((ExtendedCapability{1u << 7}).snoop_control());
    EXPECT_TRUE((ExtendedCapability{1u << 26}).nested_translation());
    EXPECT_TRUE((ExtendedCapability{uint64_t{1} << 40}).pasid());
    EXPECT_TRUE((ExtendedCapability{uint64_t{1} << 43}).scalable_mode());
    EXPECT_EQ((ExtendedCapability{uint64_t{0x13} << 35}).pasid_size(), 0x13u);
    EXPECT_TRUE((ExtendedCapability{uint64_t{1} << 46}).second_stage_translation());
    EXPECT_TRUE((ExtendedCapability{uint64_t{1} << 52}).abort_dma_mode());
}

TEST(VtdRegisters, CapabilitiesArePrinted) {
    char text[256];
    format_capabilities(text, sizeof text, qemu_capability, qemu_extended);
    EXPECT_STREQ(text,
                 "domains 65536, SAGAW 39, MGAW 39, SSLPS 2M+1G, FRO 0x220, NFR 1, PSI 1, MAMV 18, CM 0, RWBF 0, "
                 "ZLR 0, PLMR 0, PHMR 0, DWD 1, DRD 1; C 0, QI 1, DT 0, IR 1, EIM 0, PT 1, SC 0, IRO 0xf0, NEST 0, "
                 "PASID 0, SMTS 0");

    const sluice::testing::LogCapture log;
    constexpr sluice::Logger logger{"vtd"};
    log_capabilities(logger, 0, 0xfed90000, qemu_capability_48, qemu_extended);
    ASSERT_EQ(log.lines().size(), 2u);
    EXPECT_EQ(log.lines()[0], "vtd: unit 0 at 0xfed90000: CAP 0xd2008c222f0606 ECAP 0xf00f4a");
    EXPECT_EQ(log.lines()[1],
              "vtd: unit 0: domains 65536, SAGAW 39+48, MGAW 48, SSLPS 2M+1G, FRO 0x220, NFR 1, PSI 1, MAMV 18, CM 0, "
              "RWBF 0, ZLR 0, PLMR 0, PHMR 0, DWD 1, DRD 1; C 0, QI 1, DT 0, IR 1, EIM 0, PT 1, SC 0, IRO 0xf0, "
              "NEST 0, PASID 0, SMTS 0");
}

// --- GCMD / GSTS ---------------------------------------------------------------------

TEST(VtdRegisters, GlobalCommandBits) {
    // 11.4.4.1.
    EXPECT_EQ(bit(GlobalCommand::translation_enable), 0x80000000u);
    EXPECT_EQ(bit(GlobalCommand::set_root_table_pointer), 0x40000000u);
    EXPECT_EQ(bit(GlobalCommand::set_fault_log), 0x20000000u);
    EXPECT_EQ(bit(GlobalCommand::enable_advanced_fault_logging), 0x10000000u);
    EXPECT_EQ(bit(GlobalCommand::write_buffer_flush), 0x08000000u);
    EXPECT_EQ(bit(GlobalCommand::queued_invalidation_enable), 0x04000000u);
    EXPECT_EQ(bit(GlobalCommand::interrupt_remapping_enable), 0x02000000u);
    EXPECT_EQ(bit(GlobalCommand::set_interrupt_remapping_table_pointer), 0x01000000u);
    EXPECT_EQ(bit(GlobalCommand::compatibility_format_interrupt), 0x00800000u);
    // The one-shot status bits are exactly what the 0x96ffffff mask clears.
    EXPECT_EQ(~global_status_one_shot_clear_mask,
              bit(GlobalStatus::root_table_pointer) | bit(GlobalStatus::fault_log) |
                  bit(GlobalStatus::write_buffer_flush) | bit(GlobalStatus::interrupt_remapping_table_pointer));
}

TEST(VtdRegisters, GlobalCommandPreservesTheOtherEnables) {
    // Translation, queued invalidation and interrupt remapping on, and the
    // root table pointer status still reading 1 from the last SRTP.
    const uint32_t status = 0xc6000000;
    EXPECT_TRUE(has(status, GlobalStatus::translation_enable));
    EXPECT_TRUE(has(status, GlobalStatus::root_table_pointer));
    EXPECT_FALSE(has(status, GlobalStatus::write_buffer_flush));
    // A write-buffer flush keeps TE, QIE, IRE and drops the stale RTPS.
    EXPECT_EQ(global_command_value(status, GlobalCommand::write_buffer_flush), 0x8e000000u);
    // SRTP with translation on: TE must stay set or QEMU turns translation off.
    EXPECT_EQ(global_command_value(status, GlobalCommand::set_root_table_pointer), 0xc6000000u);
    EXPECT_EQ(global_command_value(0x00000000, GlobalCommand::set_root_table_pointer), 0x40000000u);
    // Turning translation off keeps queued invalidation and interrupt remapping.
    EXPECT_EQ(global_command_value(status, GlobalCommand::translation_enable, false), 0x06000000u);
    EXPECT_EQ(global_command_value(0x06000000, GlobalCommand::translation_enable), 0x86000000u);
}

TEST(VtdRegisters, RootTableAddress) {
    EXPECT_EQ(root_table_address_value(0x12345000), 0x12345000u);
    EXPECT_EQ(root_table_address_value(0x12345000, TranslationTableMode::scalable), 0x12345400u);
    EXPECT_EQ(root_table_address_value(0x12345000, TranslationTableMode::abort_dma), 0x12345c00u);
}

TEST(VtdRegisters, VersionRegister) {
    EXPECT_EQ((Version{0x10}).major(), 1u);
    EXPECT_EQ((Version{0x10}).minor(), 0u);
    EXPECT_EQ((Version{0x61}).major(), 6u);
    EXPECT_EQ((Version{0x61}).minor(), 1u);
}

// --- Register-based invalidation ------------------------------------------------------

TEST(VtdRegisters, ContextCommand) {
    // ICC 63, CIRG 62:61, FM 33:32, SID 31:16, DID 15:0 (11.4.6.1).
    EXPECT_EQ(context_command_value(ContextInvalidationGranularity::global, 0), 0xa000000000000000u);
    EXPECT_EQ(context_command_value(ContextInvalidationGranularity::domain, 7), 0xc000000000000007u);
    EXPECT_EQ(context_command_value(ContextInvalidationGranularity::device, 7, 0x0100, FunctionMask::bit2),
              0xe000000101000007u);
    EXPECT_TRUE(context_command_pending(0xa000000000000000u));
    EXPECT_FALSE(context_command_pending(0x2800000000000000u));
    // CAIG 60:59.
    EXPECT_EQ(context_command_actual_granularity(0x0800000000000000u), ContextInvalidationGranularity::global);
    EXPECT_EQ(context_command_actual_granularity(0x1000000000000000u), ContextInvalidationGranularity::domain);
    EXPECT_EQ(context_command_actual_granularity(0x1800000000000000u), ContextInvalidationGranularity::device);
    EXPECT_EQ(context_command_actual_granularity(0x2000000000000000u), ContextInvalidationGranularity::none);
}

TEST(VtdRegisters, IotlbInvalidate) {
    // IVT 63, IIRG 61:60, DR 49, DW 48, DID 47:32 (11.4.6.3).
    EXPECT_EQ(iotlb_invalidate_value(IotlbInvalidationGranularity::global, 0), 0x9003000000000000u);
    EXPECT_EQ(iotlb_invalidate_value(IotlbInvalidationGranularity::domain, 0x1234), 0xa003123400000000u);
    EXPECT_EQ(iotlb_invalidate_value(IotlbInvalidationGranularity::page, 3, false, false), 0xb000000300000000u);
    EXPECT_TRUE(iotlb_invalidate_pending(0x9003000000000000u));
    // IAIG 58:57.
    EXPECT_EQ(iotlb_invalidate_actual_granularity(0x0200000000000000u), IotlbInvalidationGranularity::global);
    EXPECT_EQ(iotlb_invalidate_actual_granularity(0x0600000000000000u), IotlbInvalidationGranularity::page);
    EXPECT_EQ(iotlb_invalidate_actual_granularity(0x1000000000000000u), IotlbInvalidationGranularity::none);
    // IVA: ADDR 63:12, IH 6, AM 5:0 (11.4.6.4).
    EXPECT_EQ(invalidate_address_value(0x7fff0000, 4, true), 0x7fff0044u);
    EXPECT_EQ(invalidate_address_value(0x40000000, 18), 0x40000012u);
}

TEST(VtdRegisters, FaultStatusAndQueueRegisters) {
    EXPECT_EQ(bit(FaultStatus::primary_fault_overflow), 0x1u);
    EXPECT_EQ(bit(FaultStatus::primary_pending_fault), 0x2u);
    EXPECT_EQ(bit(FaultStatus::invalidation_queue_error), 0x10u);
    EXPECT_EQ(bit(FaultStatus::invalidation_completion_error), 0x20u);
    EXPECT_EQ(bit(FaultStatus::invalidation_timeout_error), 0x40u);
    EXPECT_EQ(fault_record_index(0x00000302), 3u);
    EXPECT_EQ(fault_event_interrupt_mask, 0x80000000u);
    // IQA: address 63:12, DW 11, QS 2:0 (11.4.9.3).
    EXPECT_EQ(invalidation_queue_address_value(0x12340000, 0), 0x12340000u);
    EXPECT_EQ(invalidation_queue_address_value(0x12340000, 1, true), 0x12340801u);
    // IQH/IQT advance 16 bytes per 128-bit descriptor.
    EXPECT_EQ(invalidation_queue_pointer(1), 0x10u);
    EXPECT_EQ(invalidation_queue_pointer(255), 0xff0u);
}

// --- Root and context entries ----------------------------------------------------------

TEST(VtdEntries, RootEntry) {
    const RootEntry entry = RootEntry::pointing_to(0x12345000);
    EXPECT_EQ(entry.low, 0x12345001u);
    EXPECT_EQ(entry.high, 0u);
    EXPECT_TRUE(entry.present());
    EXPECT_EQ(entry.context_table(), 0x12345000u);
    EXPECT_EQ(root_entry_address(0x100000, 0x80), 0x100800u);
    EXPECT_EQ(context_entry_address(0x200000, 0xf8), 0x200f80u);  // 00:1f.0
}

TEST(VtdEntries, ContextEntryFields) {
    ContextEntry entry;
    entry.set_second_stage_table(0xabcde000)
        .set_translation_type(TranslationType::untranslated)
        .set_address_width(AddressWidth::bits_48)
        .set_domain_id(0x1234);
    // Built completely but not present yet.
    EXPECT_EQ(entry.low, 0xabcde000u);
    EXPECT_EQ(entry.high, 0x123402u);
    entry.set_present(true);
    EXPECT_EQ(entry.low, 0xabcde001u);
    entry.set_fault_processing_disable(true).set_translation_type(TranslationType::pass_through);
    EXPECT_EQ(entry.low, 0xabcde00bu);
    EXPECT_TRUE(entry.fault_processing_disable());
    EXPECT_EQ(entry.translation_type(), TranslationType::pass_through);
    EXPECT_EQ(entry.second_stage_table(), 0xabcde000u);
    EXPECT_EQ(entry.address_width(), AddressWidth::bits_48);
    EXPECT_EQ(entry.domain_id(), 0x1234u);
    entry.set_domain_id(0xffff).set_address_width(AddressWidth::bits_57);
    EXPECT_EQ(entry.high, 0xffff03u);

    EXPECT_EQ(levels(AddressWidth::bits_39), 3u);
    EXPECT_EQ(address_bits(AddressWidth::bits_39), 39u);
    EXPECT_EQ(address_bits(AddressWidth::bits_48), 48u);
    EXPECT_EQ(address_bits(AddressWidth::bits_57), 57u);
    EXPECT_EQ(address_width_for_levels(4).value(), AddressWidth::bits_48);
    EXPECT_FALSE(address_width_for_levels(6).has_value());
    EXPECT_EQ(largest_address_width(qemu_capability).value(), AddressWidth::bits_39);
    EXPECT_EQ(largest_address_width(qemu_capability_48).value(), AddressWidth::bits_48);
    EXPECT_FALSE(largest_address_width(Capability{0}).has_value());
}

TEST(VtdEntries, MakeContextEntryChecksTheUnit) {
    ContextEntryFields fields;
    fields.second_stage_table = 0x5000;
    fields.width = AddressWidth::bits_39;
    fields.domain_id = 1;
    const auto entry = make_context_entry(fields, qemu_capability, qemu_extended);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(entry.value().low, 0x5001u);
    EXPECT_EQ(entry.value().high, 0x101u);

    // Pass-through: no table, AW forced to the widest supported (9.3).
    fields.type = TranslationType::pass_through;
    fields.width = AddressWidth::bits_57;
    const auto pass_through = make_context_entry(fields, qemu_capability_48, qemu_extended);
    ASSERT_TRUE(pass_through.ok());
    EXPECT_EQ(pass_through.value().low, 0x9u);
    EXPECT_EQ(pass_through.value().high, 0x102u);
    EXPECT_EQ(make_context_entry(fields, qemu_capability, ExtendedCapability{0}).error(), Error::unsupported);

    fields.type = TranslationType::untranslated;
    fields.width = AddressWidth::bits_48;
    EXPECT_EQ(make_context_entry(fields, qemu_capability, qemu_extended).error(), Error::unsupported);
    fields.width = AddressWidth::bits_39;
    fields.second_stage_table = 0x5800;
    EXPECT_EQ(make_context_entry(fields, qemu_capability, qemu_extended).error(), Error::invalid_argument);
    fields.second_stage_table = 0;
    EXPECT_EQ(make_context_entry(fields, qemu_capability, qemu_extended).error(), Error::invalid_argument);
    fields.second_stage_table = 0x5000;
    fields.type = TranslationType::device_tlb;
    EXPECT_EQ(make_context_entry(fields, qemu_capability, qemu_extended).error(), Error::unsupported);
    fields.type = TranslationType::untranslated;
    // Domain 0 is reserved under caching mode (6.2.2.1); ND 2 allows 8-bit ids.
    fields.domain_id = 0;
    EXPECT_EQ(make_context_entry(fields, Capability{qemu_capability.value | 0x80}, qemu_extended).error(),
              Error::unsupported);
    EXPECT_TRUE(make_context_entry(fields, qemu_capability, qemu_extended).ok());
    fields.domain_id = 0x100;
    EXPECT_EQ(make_context_entry(fields, Capability{(qemu_capability.value & ~uint64_t{7}) | 2}, qemu_extended).error(),
              Error::unsupported);
}

TEST(VtdEntries, StoreWritesThePresentBitLast) {
    RecordingMemory memory;
    ContextEntry entry;
    entry.set_second_stage_table(0xabcde000).set_address_width(AddressWidth::bits_39).set_domain_id(9).set_present(true);
    store(memory, 0x200f80, entry);
    ASSERT_EQ(memory.writes.size(), 2u);
    EXPECT_EQ(memory.writes[0], std::make_pair(sluice::PhysicalAddress{0x200f88}, uint64_t{0x901}));
    EXPECT_EQ(memory.writes[1], std::make_pair(sluice::PhysicalAddress{0x200f80}, uint64_t{0xabcde001}));
    const ContextEntry loaded = load_context_entry(memory, 0x200f80);
    EXPECT_EQ(loaded.low, entry.low);
    EXPECT_EQ(loaded.high, entry.high);

    // Clearing: the present bit goes first.
    memory.writes.clear();
    store(memory, 0x200f80, ContextEntry{});
    ASSERT_EQ(memory.writes.size(), 2u);
    EXPECT_EQ(memory.writes[0], std::make_pair(sluice::PhysicalAddress{0x200f80}, uint64_t{0}));
    EXPECT_EQ(memory.writes[1], std::make_pair(sluice::PhysicalAddress{0x200f88}, uint64_t{0}));

    memory.writes.clear();
    store(memory, 0x100010, RootEntry::pointing_to(0x200000));
    ASSERT_EQ(memory.writes.size(), 2u);
    EXPECT_EQ(memory.writes[0].first, 0x100018u);
    EXPECT_EQ(memory.writes[1], std::make_pair(sluice::PhysicalAddress{0x100010}, uint64_t{0x200001}));
    EXPECT_EQ(load_root_entry(memory, 0x100010).context_table(), 0x200000u);
}

// --- Queued invalidation descriptors -----------------------------------------------------

TEST(VtdInvalidation, ContextCacheDescriptor) {
    // Type 1 (3:0), G 5:4, DID 31:16, SID 47:32, FM 49:48 (6.5.2.1).
    const InvalidationDescriptor global = context_cache_invalidation(ContextInvalidationGranularity::global);
    EXPECT_EQ(global.low, 0x11u);
    EXPECT_EQ(global.high, 0u);
    EXPECT_EQ(global.type(), 1u);
    const InvalidationDescriptor device =
        context_cache_invalidation(ContextInvalidationGranularity::device, 0x42, 0x00f8, FunctionMask::bits2_0);
    EXPECT_EQ(device.low, 0x000300f800420031u);
    EXPECT_EQ(device.high, 0u);
}

TEST(VtdInvalidation, IotlbDescriptor) {
    // Type 2, G 5:4, DW 6, DR 7, DID 31:16; AM 69:64, IH 70, ADDR 127:76 (6.5.2.3).
    IotlbInvalidation request;
    EXPECT_EQ(iotlb_invalidation(request).low, 0xd2u);
    EXPECT_EQ(iotlb_invalidation(request).high, 0u);
    request.granularity = IotlbInvalidationGranularity::domain;
    request.domain_id = 0x1234;
    request.drain_reads = false;
    request.drain_writes = false;
    request.address = 0x40000000;  // ignored for domain granularity
    EXPECT_EQ(iotlb_invalidation(request).low, 0x12340022u);
    EXPECT_EQ(iotlb_invalidation(request).high, 0u);
    request.granularity = IotlbInvalidationGranularity::page;
    request.domain_id = 5;
    request.address_mask = 9;
    request.invalidation_hint = true;
    request.drain_reads = true;
    request.drain_writes = true;
    const InvalidationDescriptor page = iotlb_invalidation(request);
    EXPECT_EQ(page.low, 0x500f2u);
    EXPECT_EQ(page.high, 0x40000049u);
    EXPECT_EQ(page.type(), 2u);
}

TEST(VtdInvalidation, WaitAndInterruptEntryDescriptors) {
    // Type 5, IF 4, SW 5, FN 6, PD 7, data 63:32; status address 127:66 (6.5.2.9).
    InvalidationWait wait;
    wait.status_address = 0x1000;
    wait.status_data = 1;
    const InvalidationDescriptor descriptor = invalidation_wait(wait);
    EXPECT_EQ(descriptor.low, 0x0000000100000065u);
    EXPECT_EQ(descriptor.high, 0x1000u);
    EXPECT_EQ(descriptor.type(), 5u);
    wait.interrupt = true;
    wait.fence = false;
    wait.status_write = false;
    EXPECT_EQ(invalidation_wait(wait).low, 0x0000000100000015u);
    EXPECT_EQ(invalidation_wait(wait).high, 0u);

    // Type 4, G 4, IM 31:27, IIDX 47:32 (6.5.2.8).
    EXPECT_EQ(interrupt_entry_cache_invalidation().low, 0x4u);
    EXPECT_EQ(interrupt_entry_cache_invalidation(true, 0x10, 2).low, 0x0000001010000014u);
}

TEST(VtdInvalidation, RequestsAreCheckedAgainstTheUnit) {
    IotlbInvalidation request;
    request.granularity = IotlbInvalidationGranularity::page;
    request.address = 0x40000000;
    request.address_mask = 18;
    EXPECT_TRUE(check(request, qemu_capability).ok());
    request.address_mask = 19;  // above MAMV 18
    EXPECT_EQ(check(request, qemu_capability).error(), Error::unsupported);
    request.address = 0x1000;
    request.address_mask = 1;  // 2 pages need an 8 KiB aligned address
    EXPECT_EQ(check(request, qemu_capability).error(), Error::invalid_argument);
    request.address = 0x2000;
    EXPECT_TRUE(check(request, qemu_capability).ok());
    EXPECT_EQ(check(request, Capability{qemu_capability.value & ~(uint64_t{1} << 39)}).error(), Error::unsupported);
    request.granularity = IotlbInvalidationGranularity::none;
    EXPECT_EQ(check(request, qemu_capability).error(), Error::invalid_argument);

    InvalidationWait wait;
    wait.status_address = 0x1002;
    EXPECT_EQ(check(wait).error(), Error::invalid_argument);
    wait.status_address = 0x1004;
    EXPECT_TRUE(check(wait).ok());
}

TEST(VtdInvalidation, AddressMaskForARange) {
    EXPECT_EQ(address_mask_for(0, 0x1000).value(), 0u);
    EXPECT_EQ(address_mask_for(0x200000, 0x200000).value(), 9u);
    EXPECT_EQ(address_mask_for(0x40000000, 0x40000000).value(), 18u);
    EXPECT_FALSE(address_mask_for(0x1000, 0x2000).has_value());  // not aligned to its size
    EXPECT_FALSE(address_mask_for(0x1000, 0x3000).has_value());  // not a power of two
    EXPECT_FALSE(address_mask_for(0x1000, 0).has_value());
    EXPECT_FALSE(address_mask_for(0x1000, 0x800).has_value());
}

// --- Fault records -------------------------------------------------------------------------

TEST(VtdFaults, QemuReadFault) {
    // A DMA read of an unmapped IOVA by 00:01.0: F (127), T1 = 1 (126), FR 6
    // (103:96), SID 0x0008 (79:64), FI = the page (63:12).
    const FaultRecord record{0x12345000, 0xc000000600000008};
    EXPECT_TRUE(record.fault());
    EXPECT_EQ(record.request_type(), FaultRequestType::read);
    EXPECT_EQ(record.reason(), 6u);
    EXPECT_EQ(record.source_id(), 0x0008u);
    EXPECT_EQ(record.bus(), 0u);
    EXPECT_EQ(record.device(), 1u);
    EXPECT_EQ(record.function(), 0u);
    EXPECT_EQ(record.fault_information(), 0x12345000u);
    EXPECT_EQ(record.address_type(), FaultAddressType::untranslated);
    EXPECT_FALSE(record.pasid_present());
    EXPECT_FALSE(record.interrupt_remapping_fault());
    char text[160];
    format_fault_record(text, sizeof text, record);
    EXPECT_STREQ(text, "DMA read fault from 00:01.0 at 0x12345000: reason 0x6 (read from a page without read permission)");
}

TEST(VtdFaults, RequestTypesAndOtherFields) {
    // T1 T2: 00 write, 01 page request, 10 read, 11 atomic (11.4.7.6).
    EXPECT_EQ((FaultRecord{0, 0x8000000500000000}).request_type(), FaultRequestType::write);
    EXPECT_EQ((FaultRecord{0, 0x8000000010000000}).request_type(), FaultRequestType::page_request);
    EXPECT_EQ((FaultRecord{0, 0xc000000010000000}).request_type(), FaultRequestType::atomic);
    // F, AT 10b (translated), PV 0xbcde, PP, EXE, PRIV.
    const FaultRecord pasid{0x1000, 0xa0bcde00e0000000};
    EXPECT_EQ(pasid.address_type(), FaultAddressType::translated);
    EXPECT_EQ(pasid.pasid_value(), 0xbcdeu);
    EXPECT_TRUE(pasid.pasid_present());
    EXPECT_TRUE(pasid.privilege_requested());
    EXPECT_TRUE(pasid.execute_requested());
    EXPECT_FALSE((FaultRecord{0, 0x4000000600000008}).fault());

    char text[160];
    format_fault_record(text, sizeof text, FaultRecord{0x7000, 0x8000000500000108});
    EXPECT_STREQ(text, "DMA write fault from 01:01.0 at 0x7000: reason 0x5 (write to a page without write permission)");
}

TEST(VtdFaults, InterruptRemappingFault) {
    const FaultRecord record{uint64_t{0x12} << 48, 0x80000022000000f8};
    EXPECT_TRUE(record.interrupt_remapping_fault());
    EXPECT_EQ(record.interrupt_index(), 0x12u);
    char text[160];
    format_fault_record(text, sizeof text, record);
    EXPECT_STREQ(text,
                 "interrupt remapping fault from 00:1f.0, index 0x12: reason 0x22 (interrupt remapping entry not "
                 "present)");
}

TEST(VtdFaults, ReasonTexts) {
    EXPECT_STREQ(describe_fault_reason(0x1), "root entry not present");
    EXPECT_STREQ(describe_fault_reason(0x2), "context entry not present");
    EXPECT_STREQ(describe_fault_reason(0x4), "address beyond the address width");
    EXPECT_STREQ(describe_fault_reason(0x5), "write to a page without write permission");
    EXPECT_STREQ(describe_fault_reason(0xd), "translation request blocked by the context entry's type");
    EXPECT_STREQ(describe_fault_reason(0x26), "interrupt source-id check failed");
    EXPECT_STREQ(describe_fault_reason(0x0), "unknown fault reason");
    EXPECT_STREQ(describe_fault_reason(0xf), "unknown fault reason");
    EXPECT_STREQ(describe_fault_reason(0xff), "unknown fault reason");
    for (unsigned reason = 1; reason <= 0xe; ++reason)
        EXPECT_STRNE(describe_fault_reason(static_cast<uint8_t>(reason)), "unknown fault reason") << reason;
}

}  // namespace
