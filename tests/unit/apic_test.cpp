// The local APIC, its timer, the I/O APIC and the vector allocator against
// register models written from Intel SDM Vol. 3A chapter 11 and the 82093AA
// I/O APIC datasheet: which registers are written, with what, in what order.
#include <gtest/gtest.h>

#include <arch/x86/apic/io_apic.hpp>
#include <arch/x86/apic/local_apic.hpp>
#include <arch/x86/apic/registers.hpp>
#include <arch/x86/apic/timer.hpp>
#include <arch/x86/apic/vectors.hpp>
#include <drivers/pci/mmio.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace {

using sluice::Error;
using namespace sluice::x86::apic;

// --- Register layouts, from the SDM's figures -----------------------------------

static_assert(x2apic_msr_of(LocalApicRegister32::end_of_interrupt) == 0x80b);
static_assert(x2apic_msr_of(LocalApicRegister32::spurious_interrupt_vector) == 0x80f);
static_assert(x2apic_msr_of(LocalApicRegister32::lvt_timer) == 0x832);
static_assert(x2apic_msr_of(LocalApicRegister32::timer_divide_configuration) == 0x83e);
static_assert(offset_of(interrupt_request_register(0xef)) == 0x270);
static_assert(offset_of(in_service_register(0x20)) == 0x110);
static_assert(LocalVectorTableEntry::timer(0xef, TimerMode::tsc_deadline).value == 0x400ef);
static_assert(LocalVectorTableEntry::timer(0x30, TimerMode::one_shot).value == 0x30);
static_assert(decode_local_apic_id(0x03000000, false) == 3);
static_assert(decode_local_apic_id(0x12345, true) == 0x12345);
static_assert(SpuriousInterruptVector{0x000000ff}.enabled_with(0xff).value == 0x1ff);
static_assert(IoApicVersion{0x00170020}.pins() == 24);
static_assert(redirection_entry_low_index(23) == 0x3e && redirection_entry_high_index(23) == 0x3f);

// --- A 32-bit-only MMIO model -------------------------------------------------------

class Mmio32Model : public sluice::pci::MmioRegion {
public:
    [[nodiscard]] uint64_t size() const override { return 0x1000; }
    uint8_t read8(uint64_t offset) override { return wrong_width(offset, 8), 0xff; }
    uint16_t read16(uint64_t offset) override { return wrong_width(offset, 16), 0xffff; }
    uint64_t read64(uint64_t offset) override { return wrong_width(offset, 64), ~uint64_t{0}; }
    void write8(uint64_t offset, uint8_t) override { wrong_width(offset, 8); }
    void write16(uint64_t offset, uint16_t) override { wrong_width(offset, 16); }
    void write64(uint64_t offset, uint64_t) override { wrong_width(offset, 64); }

private:
    static void wrong_width(uint64_t offset, int bits) {
        ADD_FAILURE() << bits << "-bit access at offset 0x" << std::hex << offset << ": these registers are 32 bits";
    }
};

// SDM section 11.4.7.1: after reset the LVT entries read masked (0x10000)
// and the SVR 0xff (software-disabled).
class XapicModel final : public Mmio32Model {
public:
    explicit XapicModel(uint32_t version) {
        values[offset_of(LocalApicRegister32::version)] = version;
        values[offset_of(LocalApicRegister32::spurious_interrupt_vector)] = 0xff;
        values[offset_of(LocalApicRegister32::id)] = 0x02000000;
    }
    uint32_t read32(uint64_t offset) override {
        EXPECT_EQ(offset % 16, 0u);
        return values[static_cast<uint32_t>(offset)];
    }
    void write32(uint64_t offset, uint32_t value) override {
        EXPECT_EQ(offset % 16, 0u);
        EXPECT_NE(offset, offset_of(LocalApicRegister32::version)) << "the version register is read only";
        values[static_cast<uint32_t>(offset)] = value;
        writes.emplace_back(static_cast<uint32_t>(offset), value);
    }
    bool written(LocalApicRegister32 reg) const {
        for (const auto& [offset, value] : writes)
            if (offset == offset_of(reg)) return true;
        return false;
    }

    std::map<uint32_t, uint32_t> values;
    std::vector<std::pair<uint32_t, uint32_t>> writes;
};

TEST(LocalApic, EnableSetsSpuriousVectorTaskPriorityAndMasksTheLvtEntriesThatExist) {
    // Version 0x14, Max LVT Entry 5: six entries (no CMCI).
    XapicModel model(0x00050014);
    model.values[offset_of(LocalApicRegister32::task_priority)] = 0x20;
    model.values[offset_of(LocalApicRegister32::lvt_lint0)] = 0x700;  // ExtINT, as firmware leaves it
    model.values[offset_of(LocalApicRegister32::lvt_lint1)] = 0x400;  // NMI
    XapicMmioRegisters registers(model);
    LocalApic apic(registers);
    apic.enable(0xff);

    EXPECT_EQ(model.values[offset_of(LocalApicRegister32::spurious_interrupt_vector)], 0x1ffu);
    EXPECT_EQ(model.values[offset_of(LocalApicRegister32::task_priority)], 0u);
    for (LocalApicRegister32 reg : {LocalApicRegister32::lvt_timer, LocalApicRegister32::lvt_lint0,
                                    LocalApicRegister32::lvt_error, LocalApicRegister32::lvt_performance_monitoring,
                                    LocalApicRegister32::lvt_thermal_sensor})
        EXPECT_EQ(model.values[offset_of(reg)] & LocalVectorTableEntry::masked, LocalVectorTableEntry::masked)
            << "LVT at 0x" << std::hex << offset_of(reg);
    EXPECT_FALSE(model.written(LocalApicRegister32::lvt_corrected_machine_check)) << "CMCI is not implemented here";
    EXPECT_FALSE(model.written(LocalApicRegister32::lvt_lint1)) << "LINT1 keeps the firmware's NMI set-up";
    EXPECT_EQ(model.values[offset_of(LocalApicRegister32::lvt_lint1)], 0x400u);
    // The APIC is enabled last, once everything it could deliver is masked.
    EXPECT_EQ(model.writes.back().first, offset_of(LocalApicRegister32::spurious_interrupt_vector));
    EXPECT_EQ(apic.id(), 2u);
}

TEST(LocalApic, FourEntryApicGetsNoPerformanceOrThermalWrite) {
    XapicModel model(0x00030014);  // Max LVT Entry 3: timer, LINT0, LINT1, error
    XapicMmioRegisters registers(model);
    LocalApic(registers).enable(0xff);
    EXPECT_FALSE(model.written(LocalApicRegister32::lvt_performance_monitoring));
    EXPECT_FALSE(model.written(LocalApicRegister32::lvt_thermal_sensor));
    EXPECT_TRUE(model.written(LocalApicRegister32::lvt_error));
}

TEST(LocalApic, EndOfInterruptWritesZeroAndIrrIsrBitsAreFound) {
    XapicModel model(0x00050014);
    XapicMmioRegisters registers(model);
    LocalApic apic(registers);
    apic.end_of_interrupt();
    ASSERT_EQ(model.writes.size(), 1u);
    EXPECT_EQ(model.writes[0], std::make_pair(0xb0u, 0u));
    model.values[0x270] = 1u << 15;  // IRR bit 0xef
    model.values[0x110] = 1u << 1;   // ISR bit 0x21
    EXPECT_TRUE(apic.interrupt_requested(0xef));
    EXPECT_FALSE(apic.interrupt_requested(0xee));
    EXPECT_TRUE(apic.in_service(0x21));
    EXPECT_FALSE(apic.in_service(0x20));
}

// --- The I/O APIC through IOREGSEL/IOWIN ------------------------------------------------

class IoApicModel final : public Mmio32Model {
public:
    IoApicModel(uint8_t id, unsigned maximum_redirection_entry) {
        registers[0x00] = uint32_t{id} << 24;
        registers[0x01] = maximum_redirection_entry << 16 | 0x20;
        for (unsigned pin = 0; pin <= maximum_redirection_entry && pin < 120; ++pin) {
            registers[0x10 + 2 * pin] = 0x00000030 + pin;  // unmasked, as a previous owner might leave them
            registers[0x11 + 2 * pin] = 0x01000000;
        }
    }
    uint32_t read32(uint64_t offset) override {
        if (offset == 0x10) return registers[select];
        if (offset == 0x00) return select;
        ADD_FAILURE() << "read of offset 0x" << std::hex << offset;
        return 0;
    }
    void write32(uint64_t offset, uint32_t value) override {
        if (offset == 0x00) {
            EXPECT_LE(value, 0xffu) << "IOREGSEL is 8 bits";
            select = static_cast<uint8_t>(value);
        } else if (offset == 0x10) {
            EXPECT_NE(select, 0x01) << "IOAPICVER is read only";
            registers[select] = value;
            window_writes.push_back(select);
        } else {
            ADD_FAILURE() << "write of offset 0x" << std::hex << offset;
        }
    }
    uint64_t entry(unsigned pin) { return uint64_t{registers[0x11 + 2 * pin]} << 32 | registers[0x10 + 2 * pin]; }

    uint8_t select = 0;
    std::map<uint8_t, uint32_t> registers;
    std::vector<uint8_t> window_writes;
};

TEST(IoApic, MaskAllMasksEveryPinTheVersionRegisterReports) {
    IoApicModel model(2, 23);
    IoApic io_apic(model);
    EXPECT_EQ(io_apic.id(), 2u);
    EXPECT_EQ(io_apic.pins(), 24u);
    EXPECT_EQ(io_apic.mask_all(), 24u);
    for (unsigned pin = 0; pin < 24; ++pin) EXPECT_EQ(model.entry(pin), 0x10000u) << "pin " << pin;
    EXPECT_EQ(model.window_writes.size(), 48u);
    EXPECT_EQ(model.registers.count(0x40), 0u) << "nothing past the last pin is written";
    // Each masking write touches the low dword (the mask bit) first.
    EXPECT_EQ(model.window_writes[0], 0x10u);
    EXPECT_EQ(model.window_writes[1], 0x11u);
}

TEST(IoApic, UnmaskingWriteSetsTheDestinationFirst) {
    IoApicModel model(0, 23);
    IoApic io_apic(model);
    io_apic.write_entry(3, RedirectionEntry{0x0300000000000041});
    ASSERT_EQ(model.window_writes.size(), 2u);
    EXPECT_EQ(model.window_writes[0], 0x17u);
    EXPECT_EQ(model.window_writes[1], 0x16u);
    EXPECT_EQ(io_apic.read_entry(3).value, 0x0300000000000041u);
}

TEST(IoApic, PinCountIsLimitedToWhatIoregselCanAddress) {
    IoApicModel model(0, 0xff);
    IoApic io_apic(model);
    EXPECT_EQ(io_apic.version().pins(), 256u);
    EXPECT_EQ(io_apic.pins(), 120u);
    EXPECT_EQ(io_apic.mask_all(), 120u);
    for (uint8_t index : model.window_writes) EXPECT_GE(index, 0x10u);
}

// --- The timer -------------------------------------------------------------------------

// The local APIC's timer registers and the TSC: the TSC advances by `step`
// on every read; the timer's current count falls at timer_hz from the moment
// the initial count is written (SDM section 11.5.4) and stops at 0.
class TimerModel final : public LocalApicRegisters, public TimerPlatform {
public:
    enum class Kind { register_write, fence, deadline_write };
    struct Event {
        Kind kind;
        uint32_t offset;
        uint64_t value;
    };

    TimerModel(uint64_t tsc_hz, uint64_t timer_hz, uint64_t step = 1000) : tsc_hz_(tsc_hz), timer_hz_(timer_hz), step_(step) {}

    uint32_t read(LocalApicRegister32 reg) override {
        if (reg == LocalApicRegister32::timer_current_count) return current_count();
        return values[offset_of(reg)];
    }
    void write(LocalApicRegister32 reg, uint32_t value) override {
        EXPECT_NE(reg, LocalApicRegister32::timer_current_count) << "the current count is read only";
        values[offset_of(reg)] = value;
        events.push_back({Kind::register_write, offset_of(reg), value});
        if (reg == LocalApicRegister32::timer_initial_count) count_start_ = tsc;
    }
    bool x2apic() const override { return false; }

    uint64_t read_time_stamp_counter() override {
        tsc += step_;
        return tsc;
    }
    void write_tsc_deadline(uint64_t deadline) override { events.push_back({Kind::deadline_write, 0, deadline}); }
    void order_memory_before_msr_write() override { events.push_back({Kind::fence, 0, 0}); }

    uint32_t current_count() const {
        if (!counting) return values.count(0x380) ? values.at(0x380) : 0;
        const uint64_t initial = values.count(0x380) ? values.at(0x380) : 0;
        const uint64_t elapsed = static_cast<uint64_t>(static_cast<unsigned __int128>(tsc - count_start_) * timer_hz_ / tsc_hz_);
        return static_cast<uint32_t>(initial > elapsed ? initial - elapsed : 0);
    }
    std::vector<uint64_t> written(LocalApicRegister32 reg) const {
        std::vector<uint64_t> result;
        for (const Event& event : events)
            if (event.kind == Kind::register_write && event.offset == offset_of(reg)) result.push_back(event.value);
        return result;
    }
    std::vector<uint64_t> deadlines() const {
        std::vector<uint64_t> result;
        for (const Event& event : events)
            if (event.kind == Kind::deadline_write) result.push_back(event.value);
        return result;
    }

    uint64_t tsc = 1'000'000'000;
    bool counting = true;
    std::map<uint32_t, uint32_t> values;
    std::vector<Event> events;

private:
    uint64_t tsc_hz_, timer_hz_, step_;
    uint64_t count_start_ = 0;
};

int handler_calls = 0;
void count_call(void* context) {
    ++handler_calls;
    ++*static_cast<int*>(context);
}

TEST(LocalApicTimer, TscDeadlineModeSetsTheLvtThenFencesThenWritesTheMsr) {
    TimerModel model(3'000'000'000, 100'000'000);
    LocalApicTimer timer;
    ASSERT_TRUE(timer.configure(model, model, 0xef, true, 3'000'000'000).ok());
    EXPECT_EQ(timer.kind(), TimerKind::tsc_deadline);
    ASSERT_EQ(model.events.size(), 3u);
    EXPECT_EQ(model.events[0].kind, TimerModel::Kind::register_write);
    EXPECT_EQ(model.events[0].offset, 0x320u);
    EXPECT_EQ(model.events[0].value, 0x400efu) << "TSC-deadline mode (bits 18:17 = 10b), unmasked, vector 0xef";
    EXPECT_EQ(model.events[1].kind, TimerModel::Kind::fence);
    EXPECT_EQ(model.events[2].kind, TimerModel::Kind::deadline_write);
    EXPECT_EQ(model.events[2].value, 0u) << "whatever firmware armed is disarmed";

    timer.arm(5'000'000'000);
    timer.arm(0);  // "now": 0 would disarm, so 1 (already passed) is written
    timer.cancel();
    EXPECT_EQ(model.deadlines(), (std::vector<uint64_t>{0, 5'000'000'000, 1, 0}));
    EXPECT_TRUE(model.written(LocalApicRegister32::timer_initial_count).empty())
        << "the initial count is ignored in TSC-deadline mode";
}

TEST(LocalApicTimer, OneShotCalibratesAgainstTheTscAndConvertsDeadlines) {
    TimerModel model(3'000'000'000, 100'000'000);
    LocalApicTimer timer;
    ASSERT_TRUE(timer.configure(model, model, 0xef, false, 3'000'000'000).ok());
    EXPECT_EQ(timer.kind(), TimerKind::one_shot);
    EXPECT_NEAR(static_cast<double>(timer.frequency()), 100e6, 100e3);
    // Divide by 1 (1011b) before any count; the final LVT is one-shot, unmasked.
    EXPECT_EQ(model.written(LocalApicRegister32::timer_divide_configuration), (std::vector<uint64_t>{0xb}));
    EXPECT_EQ(model.values[0x320], 0xefu);
    EXPECT_EQ(model.values[0x380], 0u) << "stopped after the measurement";
    size_t divide_at = 0, first_count = 0;
    for (size_t index = 0; index < model.events.size(); ++index) {
        if (model.events[index].offset == 0x3e0 && divide_at == 0) divide_at = index;
        if (model.events[index].offset == 0x380 && model.events[index].value != 0 && first_count == 0) first_count = index;
    }
    EXPECT_LT(divide_at, first_count) << "the divider is set before the timer counts";
    EXPECT_TRUE(model.deadlines().empty()) << "IA32_TSC_DEADLINE is not touched in one-shot mode";

    // 1 ms ahead is 3,000,000 TSC ticks: 100,000 timer ticks.
    const uint64_t now = model.tsc;
    timer.arm(now + 3'000'000);
    EXPECT_NEAR(static_cast<double>(model.values[0x380]), 100'000.0, 200.0);
    EXPECT_TRUE(timer.armed());
    EXPECT_EQ(timer.deadline(), now + 3'000'000);
}

TEST(LocalApicTimer, OneShotDeadlineInThePastExpiresAtOnce) {
    TimerModel model(1'000'000'000, 1'000'000'000);
    LocalApicTimer timer;
    ASSERT_TRUE(timer.configure(model, model, 0xef, false, 1'000'000'000).ok());
    timer.arm(5);
    EXPECT_EQ(model.values[0x380], 1u);
}

TEST(LocalApicTimer, LongDeadlineIsClampedAndReArmedUntilReached) {
    TimerModel model(3'000'000'000, 100'000'000);
    LocalApicTimer timer;
    ASSERT_TRUE(timer.configure(model, model, 0xef, false, 3'000'000'000).ok());
    int calls = 0;
    timer.set_handler(count_call, &calls);
    const uint64_t deadline = model.tsc + 3'000'000'000ull * 100;  // 100 s: 10^10 timer ticks
    timer.arm(deadline);
    EXPECT_EQ(model.values[0x380], 0xffffffffu);

    // The clamped count expires at ~43 s: the handler must not run yet.
    model.tsc += 3'000'000'000ull * 43;
    EXPECT_FALSE(timer.handle_interrupt());
    EXPECT_EQ(calls, 0);
    EXPECT_TRUE(timer.armed());
    EXPECT_EQ(model.values[0x380], 0xffffffffu) << "57 s left: clamped again";

    model.tsc = deadline - 30'000;  // 10 us early (calibration error)
    EXPECT_FALSE(timer.handle_interrupt());
    EXPECT_NEAR(static_cast<double>(model.values[0x380]), 1000.0, 40.0);

    model.tsc = deadline;
    EXPECT_TRUE(timer.handle_interrupt());
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(timer.armed());
    EXPECT_FALSE(timer.handle_interrupt()) << "a second expiry runs nothing";
    EXPECT_EQ(calls, 1);
}

TEST(LocalApicTimer, CancelledTimerIgnoresItsPendingInterrupt) {
    TimerModel model(1'000'000'000, 1'000'000'000);
    LocalApicTimer timer;
    ASSERT_TRUE(timer.configure(model, model, 0x40, false, 1'000'000'000).ok());
    int calls = 0;
    timer.set_handler(count_call, &calls);
    timer.arm(model.tsc + 1000);
    timer.cancel();
    EXPECT_EQ(model.values[0x380], 0u) << "a zero initial count stops the timer";
    model.tsc += 1'000'000;
    EXPECT_FALSE(timer.handle_interrupt());
    EXPECT_EQ(calls, 0);
}

TEST(LocalApicTimer, TimerThatDoesNotCountIsRefused) {
    TimerModel model(1'000'000'000, 1'000'000'000);
    model.counting = false;
    LocalApicTimer timer;
    EXPECT_EQ(timer.configure(model, model, 0xef, false, 1'000'000'000).error(), Error::hardware_failure);
    EXPECT_EQ(timer.kind(), TimerKind::none);
    timer.arm(1);  // harmless before a successful configure
    EXPECT_TRUE(model.deadlines().empty());
    EXPECT_EQ(timer.configure(model, model, 0xef, true, 0).error(), Error::invalid_argument);
}

// --- Vectors ------------------------------------------------------------------------------

TEST(VectorAllocator, HandsOutEvery0x20To0xefVectorOnceLowestFirst) {
    VectorAllocator allocator;
    EXPECT_EQ(allocator.free_count(), 208u);
    std::set<unsigned> seen;
    for (unsigned expected = 0x20; expected <= 0xef; ++expected) {
        const auto vector = allocator.allocate();
        ASSERT_TRUE(vector.ok());
        EXPECT_EQ(vector.value(), expected);
        seen.insert(vector.value());
    }
    EXPECT_EQ(seen.size(), 208u);
    EXPECT_EQ(allocator.allocate().error(), Error::capacity);
    EXPECT_EQ(allocator.free_count(), 0u);
    ASSERT_TRUE(allocator.release(0x42).ok());
    EXPECT_EQ(allocator.release(0x42).error(), Error::not_found);
    EXPECT_EQ(allocator.allocate().value(), 0x42u);
}

TEST(VectorAllocator, ReserveRefusesExceptionsLegacyAndSpuriousVectorsAndTakenOnes) {
    VectorAllocator allocator;
    for (uint8_t vector : {uint8_t{0x00}, uint8_t{0x1f}, uint8_t{0xf0}, uint8_t{0xf7}, uint8_t{0xff}})
        EXPECT_EQ(allocator.reserve(vector).error(), Error::invalid_argument) << int{vector};
    ASSERT_TRUE(allocator.reserve(0xef).ok());
    EXPECT_EQ(allocator.reserve(0xef).error(), Error::already_exists);
    EXPECT_TRUE(allocator.is_allocated(0xef));
    EXPECT_FALSE(allocator.is_allocated(0xee));
    EXPECT_EQ(allocator.allocate().value(), 0x20u);
    EXPECT_EQ(allocator.release(0xff).error(), Error::not_found);
}

TEST(HandlerTable, DispatchRunsTheRegisteredHandlerWithItsContext) {
    HandlerTable table;
    int first = 0, second = 0;
    handler_calls = 0;
    ASSERT_TRUE(table.register_handler(0x30, count_call, &first).ok());
    ASSERT_TRUE(table.register_handler(0xef, count_call, &second).ok());
    EXPECT_EQ(table.register_handler(0x30, count_call, &second).error(), Error::already_exists);
    EXPECT_EQ(table.dispatch(0x30), DispatchOutcome::handled);
    EXPECT_EQ(table.dispatch(0x30), DispatchOutcome::handled);
    EXPECT_EQ(table.dispatch(0xef), DispatchOutcome::handled);
    EXPECT_EQ(first, 2);
    EXPECT_EQ(second, 1);
    EXPECT_EQ(table.count(0x30), 2u);
    EXPECT_EQ(table.dispatch(0x31), DispatchOutcome::unhandled);
    EXPECT_EQ(table.dispatch(0xff), DispatchOutcome::spurious);
    EXPECT_EQ(table.dispatch(0xf7), DispatchOutcome::unhandled) << "a stray legacy PIC vector has no handler";
    EXPECT_EQ(handler_calls, 3);
    ASSERT_TRUE(table.unregister_handler(0x30).ok());
    EXPECT_EQ(table.unregister_handler(0x30).error(), Error::not_found);
    EXPECT_EQ(table.dispatch(0x30), DispatchOutcome::unhandled);
    EXPECT_EQ(first, 2);
}

TEST(HandlerTable, RefusesVectorsOutsideTheAllocatableRangeAndNullHandlers) {
    HandlerTable table;
    int context = 0;
    for (uint8_t vector : {uint8_t{0x0e}, uint8_t{0x1f}, uint8_t{0xf0}, uint8_t{0xff}})
        EXPECT_EQ(table.register_handler(vector, count_call, &context).error(), Error::invalid_argument) << int{vector};
    EXPECT_EQ(table.register_handler(0x40, nullptr, &context).error(), Error::invalid_argument);
    EXPECT_FALSE(table.has_handler(0x40));
}

}  // namespace
