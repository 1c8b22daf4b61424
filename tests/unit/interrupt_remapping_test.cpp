// Interrupt remapping: the VT-d unit's table, enable sequence and
// interrupt-entry-cache invalidation against the register model
// (tests/support/vtd_register_model.hpp), whose remapping of interrupt
// requests and whose entry cache are written from the VT-d spec (5.1, 6.5.2.8,
// 9.10), not from the driver. A missing or under-scoped invalidation shows
// up as an interrupt the model still delivers from its cache.
#include "support/advancing_clock.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"
#include "support/vtd_register_model.hpp"

#include <drivers/passthrough/interrupt_remapping.hpp>
#include <drivers/passthrough/vtd/interrupt_remapping.hpp>
#include <drivers/passthrough/vtd/unit.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sluice::testing {
namespace {

using Operation = VtdRegisterModel::Operation;
using passthrough::InterruptBatch;
using passthrough::InterruptTarget;

constexpr PhysicalAddress memory_base = 0x1000'0000;
constexpr uint16_t edu = 0x0010;          // 00:02.0
constexpr uint16_t host_bridge = 0x0000;  // 00:00.0

class InterruptRemappingTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(initialize().ok()); }

    Status initialize(bool queued = true, uint64_t extended = VtdRegisterModel::qemu_extended_capability) {
        model = std::make_unique<VtdRegisterModel>(memory, VtdRegisterModel::qemu_capability, extended);
        unit = std::make_unique<vtd::Unit>();
        vtd::UnitDefinition definition;
        definition.register_base = 0xfed90000;
        definition.include_pci_all = true;
        vtd::UnitServices services{model.get(), &memory, &allocator, &clock, &cache};
        vtd::UnitSettings settings;
        settings.queued_invalidation = queued;
        settings.timeout_nanoseconds = 1'000'000;
        return unit->initialize(0, definition, services, settings);
    }

    // What the device's MSI write of `interrupt` becomes.
    VtdRegisterModel::InterruptResult raise(uint16_t source, const passthrough::RemappedInterrupt& interrupt) {
        const passthrough::MsiMessage message = interrupt.unit->message_for(interrupt.index);
        return model->interrupt(source, message.address, message.data);
    }

    SimulatedMemory memory{memory_base, 512 * page_size};
    SimulatedPageAllocator allocator{memory, memory_base, 512};
    AdvancingClock clock{1000};
    RecordingCache cache;
    std::unique_ptr<VtdRegisterModel> model;
    std::unique_ptr<vtd::Unit> unit;
};

TEST_F(InterruptRemappingTest, EnablingLatchesTheTableInvalidatesAndBlocksCompatibilityFormat) {
    model->clear_events();
    ASSERT_TRUE(unit->enable_interrupt_remapping(false).ok());
    EXPECT_TRUE(unit->remaps_interrupts());
    EXPECT_NE(model->status() & VtdRegisterModel::ire, 0u);
    EXPECT_EQ(model->status() & VtdRegisterModel::cfi, 0u);
    // IRTA: the table page, S = 7 (256 entries), xAPIC destinations.
    EXPECT_EQ(model->active_interrupt_table(), unit->interrupt_table() | 7);
    // A global entry-cache invalidation (and its wait) before IRE was set.
    ASSERT_EQ(model->count(Operation::interrupt_entry_global), 1u);
    const auto& writes = model->command_writes();
    ASSERT_GE(writes.size(), 2u);
    EXPECT_NE(writes.back() & VtdRegisterModel::ire, 0u);
    // A compatibility-format MSI is refused, named, and recorded.
    LogCapture log;
    const auto forged = model->interrupt(edu, 0xfee0'0000, 0x41);
    EXPECT_FALSE(forged.delivered);
    EXPECT_EQ(forged.reason, 0x25);
    passthrough::DmaFault faults[2];
    ASSERT_EQ(unit->take_faults(Span<passthrough::DmaFault>(faults, 2)), 1u);
    EXPECT_EQ(faults[0].reason, 0x25);
    EXPECT_TRUE(log.contains("compatibility-format interrupt blocked"));
}

TEST_F(InterruptRemappingTest, AnEntryDeliversItsVectorForItsRequesterOnly) {
    ASSERT_TRUE(unit->enable_interrupt_remapping(false).ok());
    InterruptBatch batch;
    auto interrupt = batch.allocate(*unit, edu, InterruptTarget{0x41, 3});
    ASSERT_TRUE(interrupt.ok());
    ASSERT_TRUE(batch.commit().ok());
    const auto delivered = raise(edu, interrupt.value());
    ASSERT_TRUE(delivered.delivered) << unsigned(delivered.reason);
    EXPECT_EQ(delivered.vector, 0x41);
    EXPECT_EQ(delivered.destination, 3u);
    // The same message from another requester fails source validation.
    LogCapture log;
    const auto stolen = raise(host_bridge, interrupt.value());
    EXPECT_FALSE(stolen.delivered);
    EXPECT_EQ(stolen.reason, 0x26);
    // An index nobody allocated is not present.
    const auto unallocated = model->interrupt(edu, unit->message_for(200).address, 0);
    EXPECT_FALSE(unallocated.delivered);
    EXPECT_EQ(unallocated.reason, 0x22);
    // The remappable address format, written out from 5.1.5.2.
    EXPECT_EQ(unit->message_for(0x8005).address, 0xfee0'0000u | (5u << 5) | (1u << 4) | (1u << 2));
    EXPECT_EQ(unit->message_for(0x8005).data, 0u);
}

TEST_F(InterruptRemappingTest, ManyEntriesOneInvalidationPerBatch) {
    ASSERT_TRUE(unit->enable_interrupt_remapping(false).ok());
    model->clear_events();
    InterruptBatch batch;
    passthrough::RemappedInterrupt interrupts[8];
    for (unsigned index = 0; index < 8; ++index) {
        auto allocated = batch.allocate(*unit, edu, InterruptTarget{static_cast<uint8_t>(0x50 + index), 0});
        ASSERT_TRUE(allocated.ok());
        interrupts[index] = allocated.value();
    }
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(model->count(Operation::interrupt_entry_global) + model->count(Operation::interrupt_entry_index), 1u);
    EXPECT_EQ(model->count(Operation::wait), 1u);
    EXPECT_EQ(batch.invalidations(), 1u);
    for (unsigned index = 0; index < 8; ++index) EXPECT_EQ(raise(edu, interrupts[index]).vector, 0x50 + index);
    // Entries 0-7: one index-selective invalidation of the aligned block.
    model->clear_events();
    for (const auto& interrupt : interrupts) ASSERT_TRUE(batch.free(interrupt).ok());
    ASSERT_TRUE(batch.commit().ok());
    ASSERT_EQ(model->count(Operation::interrupt_entry_index), 1u);
    const auto& events = model->events();
    const auto invalidation = std::find_if(events.begin(), events.end(), [](const auto& event) {
        return event.operation == Operation::interrupt_entry_index;
    });
    EXPECT_EQ(invalidation->address, 0u);
    EXPECT_EQ(invalidation->address_mask, 3u);
}

// The model caches entries as the hardware may; only the invalidation after
// the free makes the device unable to raise the interrupt.
TEST_F(InterruptRemappingTest, AFreedEntryStopsDeliveringOnlyAfterTheInvalidation) {
    ASSERT_TRUE(unit->enable_interrupt_remapping(false).ok());
    InterruptBatch batch;
    const auto interrupt = batch.allocate(*unit, edu, InterruptTarget{0x61, 0}).value();
    ASSERT_TRUE(batch.commit().ok());
    ASSERT_TRUE(raise(edu, interrupt).delivered);  // now cached
    ASSERT_TRUE(batch.free(interrupt).ok());
    EXPECT_TRUE(raise(edu, interrupt).delivered) << "the model's entry cache must hold the entry until invalidated";
    LogCapture log;
    ASSERT_TRUE(batch.commit().ok());
    const auto after = raise(edu, interrupt);
    EXPECT_FALSE(after.delivered);
    EXPECT_EQ(after.reason, 0x22);
    EXPECT_EQ(batch.free(interrupt).error(), Error::not_found);  // freed once only
}

TEST_F(InterruptRemappingTest, X2apicDestinationsUseTheWholeField) {
    // ECAP.EIM (bit 4) set: x2APIC IDs in DST 31:0, IRTA.EIME set.
    ASSERT_TRUE(initialize(true, VtdRegisterModel::qemu_extended_capability | (1u << 4)).ok());
    ASSERT_TRUE(unit->enable_interrupt_remapping(true).ok());
    EXPECT_NE(model->active_interrupt_table() & (1u << 11), 0u);
    InterruptBatch batch;
    const auto interrupt = batch.allocate(*unit, edu, InterruptTarget{0x70, 0x1234}).value();
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(raise(edu, interrupt).destination, 0x1234u);
}

TEST_F(InterruptRemappingTest, WithoutWhatItNeedsRemappingIsRefusedWithAReason) {
    LogCapture log;
    ASSERT_TRUE(initialize(false).ok());  // register-based invalidation only
    EXPECT_EQ(unit->enable_interrupt_remapping(false).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("needs queued invalidation"));
    EXPECT_FALSE(unit->remaps_interrupts());
    EXPECT_EQ(model->status() & VtdRegisterModel::ire, 0u);
    ASSERT_TRUE(initialize(true, VtdRegisterModel::qemu_extended_capability & ~uint64_t{1u << 3}).ok());
    EXPECT_EQ(unit->enable_interrupt_remapping(false).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("no interrupt remapping (ECAP.IR = 0)"));
    ASSERT_TRUE(initialize().ok());
    EXPECT_EQ(unit->enable_interrupt_remapping(true).error(), Error::unsupported);  // QEMU: no EIM
    InterruptBatch batch;
    EXPECT_EQ(batch.allocate(*unit, edu, InterruptTarget{0x41, 0}).error(), Error::unsupported);
}

TEST_F(InterruptRemappingTest, AFullTableIsReported) {
    ASSERT_TRUE(unit->enable_interrupt_remapping(false).ok());
    InterruptBatch batch;
    for (size_t index = 0; index < vtd::Unit::interrupt_entries; ++index)
        ASSERT_TRUE(batch.allocate(*unit, edu, InterruptTarget{0x41, 0}).ok());
    LogCapture log;
    EXPECT_EQ(batch.allocate(*unit, edu, InterruptTarget{0x41, 0}).error(), Error::capacity);
    EXPECT_TRUE(log.contains("interrupt remapping table full"));
    ASSERT_TRUE(batch.commit().ok());
}

TEST(InterruptIndexMask, CoversBothEndsWithTheSmallestAlignedBlock) {
    EXPECT_EQ(vtd::interrupt_index_mask(5, 5), 0u);
    EXPECT_EQ(vtd::interrupt_index_mask(4, 5), 1u);
    EXPECT_EQ(vtd::interrupt_index_mask(3, 4), 3u);
    EXPECT_EQ(vtd::interrupt_index_mask(0, 255), 8u);
}

}  // namespace
}  // namespace sluice::testing
