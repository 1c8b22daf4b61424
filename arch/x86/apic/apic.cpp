// Image only: the hardware side of the interrupt layer (MSRs, port I/O, the
// identity-mapped register windows, STI/HLT) around the host-tested parts.
#include <arch/x86/apic/apic.hpp>

#include <arch/x86/apic/io_apic.hpp>
#include <arch/x86/apic/local_apic.hpp>
#include <arch/x86/cpu.hpp>
#include <arch/x86/paging.hpp>
#include <arch/x86/port_io.hpp>
#include <drivers/pci/identity_mapped_mmio.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::x86::apic {
namespace {

constexpr Logger logger{"apic"};

bool selftest_requested = false;
SLUICE_BOOLEAN_PARAMETER("apic-selftest", selftest_requested);
// As in Xen: x2apic=false keeps the local APIC in xAPIC mode even when
// CPUID offers x2APIC.
bool x2apic_allowed = true;
SLUICE_BOOLEAN_PARAMETER("x2apic", x2apic_allowed);

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

uint64_t read_msr(uint32_t index) {
    uint32_t low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(index));
    return uint64_t{high} << 32 | low;
}

void write_msr(uint32_t index, uint64_t value) {
    asm volatile("wrmsr" : : "c"(index), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32))
                 : "memory");
}

// Section 11.12.1.2: each register is the MSR 0x800 + offset / 16; RDMSR and
// WRMSR move all 64 bits, of which these registers use the low 32.
class X2apicMsrRegisters final : public LocalApicRegisters {
public:
    [[nodiscard]] uint32_t read(LocalApicRegister32 reg) override {
        return static_cast<uint32_t>(read_msr(x2apic_msr_of(reg)));
    }
    void write(LocalApicRegister32 reg, uint32_t value) override { write_msr(x2apic_msr_of(reg), value); }
    [[nodiscard]] bool x2apic() const override { return true; }
};

class HardwareTimerPlatform final : public TimerPlatform {
public:
    [[nodiscard]] uint64_t read_time_stamp_counter() override { return apic::read_time_stamp_counter(); }
    void write_tsc_deadline(uint64_t deadline) override { write_msr(ia32_tsc_deadline_msr, deadline); }
    void order_memory_before_msr_write() override { asm volatile("mfence; lfence" ::: "memory"); }
};

// --- State (constant-initialised; filled once by initialize()) ------------------

MadtDescription madt_description;
pci::IdentityMappedMmioRegion local_apic_window;
XapicMmioRegisters xapic_registers;
X2apicMsrRegisters x2apic_registers;
LocalApic local_apic;
HardwareTimerPlatform timer_platform;
LocalApicTimer local_timer;

struct IoApicState {
    pci::IdentityMappedMmioRegion window;
    IoApic io_apic;
    uint8_t id = 0;
    unsigned pins = 0;
    uint32_t global_system_interrupt_base = 0;
};
IoApicState io_apics[MadtDescription::max_io_apics];
size_t io_apic_count = 0;

void timer_interrupt(void*) { local_timer.handle_interrupt(); }

// --- The 8259 PICs ---------------------------------------------------------------

// Intel 8259A data sheet, "Initialization Command Words" and "Operation
// Command Words"; ports as on every PC.
constexpr IoPort8 master_command{0x20};
constexpr IoPort8 master_data{0x21};
constexpr IoPort8 slave_command{0xa0};
constexpr IoPort8 slave_data{0xa1};
// A write to the POST port takes about a microsecond: the settling time the
// 8259A needs between initialisation words on old chipsets.
constexpr IoPort8 delay_port{0x80};

constexpr uint8_t icw1_initialize = 0x10;   // D4: this is ICW1
constexpr uint8_t icw1_icw4_needed = 0x01;  // IC4
constexpr uint8_t icw3_master_slave_on_ir2 = 1u << 2;
constexpr uint8_t icw3_slave_cascade_identity = 2;
constexpr uint8_t icw4_8086_mode = 0x01;  // uPM
constexpr uint8_t ocw1_mask_all = 0xff;

void pic_write(const IoPort8& port, uint8_t value) {
    port.write(value);
    delay_port.write(0);
}

// Remaps the PICs to vectors 0xf0-0xff (their reset vectors 0x08-0x0f are
// exceptions, so a stray IRQ would look like a #DF) and masks every IRQ:
// the hypervisor takes interrupts through the local APIC only.
void mask_legacy_pics() {
    pic_write(master_data, ocw1_mask_all);
    pic_write(slave_data, ocw1_mask_all);
    pic_write(master_command, icw1_initialize | icw1_icw4_needed);
    pic_write(slave_command, icw1_initialize | icw1_icw4_needed);
    pic_write(master_data, legacy_pic_master_vector_base);
    pic_write(slave_data, legacy_pic_slave_vector_base);
    pic_write(master_data, icw3_master_slave_on_ir2);
    pic_write(slave_data, icw3_slave_cascade_identity);
    pic_write(master_data, icw4_8086_mode);
    pic_write(slave_data, icw4_8086_mode);
    pic_write(master_data, ocw1_mask_all);
    pic_write(slave_data, ocw1_mask_all);
}

// --- Bring-up ----------------------------------------------------------------------

bool window_reachable(PhysicalAddress base, uint64_t size) {
    return base < boot_direct_map_limit && size <= boot_direct_map_limit - base;
}

Status enable_local_apic(const CpuidResult& features) {
    ApicBase base{read_msr(ia32_apic_base_msr)};
    const bool offer_x2apic = (features.ecx & cpuid1_ecx_x2apic) != 0;
    PhysicalAddress address = madt_description.local_apic_address();
    if (address == 0) {
        address = base.base();
    } else if (address != base.base()) {
        logger.warning("local APIC: the MADT says 0x%llx, IA32_APIC_BASE says 0x%llx; using the MADT's",
                       printable(address), printable(base.base()));
    }

    // Section 11.12.5: x2APIC mode is entered from xAPIC mode by setting EXTD
    // with EN set, and can only be left through a reset of both; firmware
    // that already entered it is followed.
    const bool use_x2apic = base.x2apic() || (offer_x2apic && x2apic_allowed);
    uint64_t wanted = base.value | ApicBase::apic_global_enable;
    if (use_x2apic) wanted |= ApicBase::x2apic_enable;
    if (wanted != base.value) write_msr(ia32_apic_base_msr, wanted);

    if (use_x2apic) {
        local_apic = LocalApic(x2apic_registers);
    } else {
        if (!window_reachable(address, xapic_window_size)) {
            logger.error("local APIC at 0x%llx lies beyond the identity map's 4 GiB; no interrupts",
                         printable(address));
            return Error::unsupported;
        }
        local_apic_window = pci::IdentityMappedMmioRegion(address, xapic_window_size);
        xapic_registers = XapicMmioRegisters(local_apic_window);
        local_apic = LocalApic(xapic_registers);
    }
    local_apic.enable(spurious_interrupt_vector);
    const uint32_t id = local_apic.id();
    if (madt_description.parsed() && madt_description.find_processor(id) == nullptr)
        logger.warning("local APIC id %u (this processor) is not listed in the MADT at 0x%llx", id,
                       printable(madt_description.table_address()));
    return success();
}

void mask_io_apics() {
    io_apic_count = 0;
    for (const MadtIoApic& entry : madt_description.io_apics()) {
        if (!window_reachable(entry.address, io_apic_window_size)) {
            logger.warning("MADT at 0x%llx, offset 0x%x: I/O APIC id %u at 0x%llx lies beyond the identity map's "
                           "4 GiB; left as firmware set it",
                           printable(entry.location.table), entry.location.offset, entry.id, printable(entry.address));
            continue;
        }
        IoApicState& state = io_apics[io_apic_count];
        state.window = pci::IdentityMappedMmioRegion(entry.address, io_apic_window_size);
        state.io_apic = IoApic(state.window);
        const uint32_t version = state.io_apic.read(IoApicRegister32::version);
        if (version == 0xffffffff) {
            logger.warning("MADT at 0x%llx, offset 0x%x: I/O APIC id %u at 0x%llx reads all ones; no I/O APIC there",
                           printable(entry.location.table), entry.location.offset, entry.id, printable(entry.address));
            continue;
        }
        const uint8_t hardware_id = state.io_apic.id();
        if (hardware_id != entry.id)
            logger.info("I/O APIC at 0x%llx: its ID register says %u, the MADT %u; the MADT's is used",
                        printable(entry.address), hardware_id, entry.id);
        state.id = entry.id;
        state.global_system_interrupt_base = entry.global_system_interrupt_base;
        state.pins = state.io_apic.mask_all();
        for (size_t other = 0; other < io_apic_count; ++other) {
            const IoApicState& previous = io_apics[other];
            const uint64_t first = state.global_system_interrupt_base, last = first + state.pins;
            const uint64_t previous_first = previous.global_system_interrupt_base,
                           previous_last = previous_first + previous.pins;
            if (first < previous_last && previous_first < last)
                logger.warning("I/O APIC id %u: GSIs %llu-%llu overlap I/O APIC id %u's %llu-%llu", state.id,
                               printable(first), printable(last - 1), previous.id, printable(previous_first),
                               printable(previous_last - 1));
        }
        ++io_apic_count;
    }
}

void print_summary(bool pics_masked) {
    char line[log_line_capacity];
    size_t length = format(line, sizeof line, "local APIC id %u (%s), timer %s", local_apic.id(),
                           local_apic.registers().x2apic() ? "x2APIC" : "xAPIC", describe(local_timer.kind()));
    if (local_timer.kind() == TimerKind::one_shot) {
        const uint64_t frequency = local_timer.frequency();
        length += format(line + length, sizeof line - length, " at %llu.%03llu MHz", printable(frequency / 1'000'000),
                         printable(frequency / 1000 % 1000));
    }
    length += format(line + length, sizeof line - length, "; %zu IO-APIC%s", io_apic_count, io_apic_count == 1 ? "" : "s");
    for (size_t index = 0; index < io_apic_count; ++index)
        length += format(line + length, sizeof line - length, "%sid %u, %u pins, GSI %u", index == 0 ? " (" : "; ",
                         io_apics[index].id, io_apics[index].pins, io_apics[index].global_system_interrupt_base);
    length += format(line + length, sizeof line - length, "%s masked", io_apic_count == 0 ? "" : ")");
    if (pics_masked) format(line + length, sizeof line - length, "; 8259 PICs masked");
    logger.info("%s", line);
}

// --- apic-selftest -----------------------------------------------------------------

volatile bool selftest_fired = false;
volatile uint64_t selftest_fired_at = 0;

void selftest_handler(void*) {
    selftest_fired_at = read_time_stamp_counter();
    selftest_fired = true;
}

uint64_t to_microseconds(uint64_t ticks, uint64_t frequency) {
    // Seconds and remainder apart: no 128-bit division (the image has no
    // __udivti3), and no overflow for any TSC below 18 THz.
    return ticks / frequency * 1'000'000 + ticks % frequency * 1'000'000 / frequency;
}

// Arms the timer for 1 ms twice. First with interrupts disabled, polling the
// IRR: the request must appear (so the second part cannot wait forever), and
// STI; HLT delivers it. Then with STI; HLT from the start: the handler must
// run, not before the deadline and not much after it.
Status run_timer_selftest(const TscClock& clock) {
    const uint64_t frequency = clock.frequency();
    const uint64_t delay = frequency / 1000;
    const uint64_t limit = frequency / 10;  // 100 ms: the request is surely lost by then
    constexpr uint64_t delay_microseconds = 1000;
    constexpr uint64_t plausible_lateness_microseconds = 5000;
    set_timer_handler(selftest_handler, nullptr);

    selftest_fired = false;
    uint64_t start = read_time_stamp_counter();
    arm_timer(start + delay);
    uint64_t now = start;
    while (!local_apic.interrupt_requested(timer_vector) && now - start < limit) now = read_time_stamp_counter();
    if (!local_apic.interrupt_requested(timer_vector)) {
        cancel_timer();
        logger.error("timer self-test: no interrupt request within %llu us of a %llu us deadline (%s timer) ... failed",
                     printable(to_microseconds(limit, frequency)), printable(delay_microseconds),
                     describe(local_timer.kind()));
        return Error::hardware_failure;
    }
    logger.info("timer self-test: request pending after %llu us with interrupts disabled ... ok",
                printable(to_microseconds(now - start, frequency)));
    while (!selftest_fired && read_time_stamp_counter() - start < limit) asm volatile("sti; hlt; cli" ::: "memory");
    if (!selftest_fired) {
        cancel_timer();
        logger.error("timer self-test: the pending request never reached the handler ... failed");
        return Error::hardware_failure;
    }

    // HLT below waits for the timer alone. It is woken for sure only when
    // the first interrupt was ended (its ISR bit clear, section 11.8.4) and
    // the processor priority lets the timer's class through (section
    // 11.8.3.1); otherwise the request would wait in the IRR for ever.
    const uint32_t processor_priority = local_apic.registers().read(LocalApicRegister32::processor_priority);
    if (local_apic.in_service(timer_vector) || (processor_priority & 0xf0) >= (timer_vector & 0xf0)) {
        logger.error("timer self-test: after the first interrupt vector 0x%02x is %s (PPR 0x%02x); no second one "
                     "could arrive ... failed",
                     timer_vector, local_apic.in_service(timer_vector) ? "still in service (no EOI)" : "blocked",
                     processor_priority);
        return Error::hardware_failure;
    }

    selftest_fired = false;
    start = read_time_stamp_counter();
    arm_timer(start + delay);
    while (!selftest_fired && read_time_stamp_counter() - start < limit) asm volatile("sti; hlt; cli" ::: "memory");
    set_timer_handler(nullptr, nullptr);
    if (!selftest_fired) {
        cancel_timer();
        logger.error("timer self-test: no interrupt within %llu us of a %llu us deadline ... failed",
                     printable(to_microseconds(limit, frequency)), printable(delay_microseconds));
        return Error::hardware_failure;
    }
    const uint64_t elapsed = to_microseconds(selftest_fired_at - start, frequency);
    if (selftest_fired_at - start < delay || elapsed > delay_microseconds + plausible_lateness_microseconds) {
        logger.error("timer self-test: interrupt after %llu us, outside %llu-%llu us ... failed", printable(elapsed),
                     printable(delay_microseconds), printable(delay_microseconds + plausible_lateness_microseconds));
        return Error::hardware_failure;
    }
    logger.info("timer self-test: interrupt after %llu us ... ok", printable(elapsed));
    return success();
}

}  // namespace

uint64_t read_time_stamp_counter() {
    uint32_t low, high;
    asm volatile("lfence; rdtsc" : "=a"(low), "=d"(high) : : "memory");
    return uint64_t{high} << 32 | low;
}

Status initialize(const acpi::TableDirectory& tables, const PhysicalMemory& memory, const TscClock& clock) {
    const CpuidResult features = cpuid(1);
    if ((features.edx & cpuid1_edx_apic) == 0) {
        logger.error("CPUID.01H:EDX[9] clear: this processor has no local APIC; no interrupts");
        return Error::unsupported;
    }
    if (!read_madt(memory, tables, madt_description).ok())
        logger.warning("no MADT: local APIC at IA32_APIC_BASE's address, no I/O APIC known");

    SLUICE_TRY(enable_local_apic(features));

    SLUICE_TRY(vector_allocator().reserve(timer_vector));
    SLUICE_TRY(register_handler(timer_vector, timer_interrupt, nullptr));
    const bool tsc_deadline = (features.ecx & cpuid1_ecx_tsc_deadline) != 0;
    const Status timer_ready =
        local_timer.configure(local_apic.registers(), timer_platform, timer_vector, tsc_deadline, clock.frequency());
    if (!timer_ready.ok()) {
        logger.error("local APIC timer: does not count down in one-shot mode (%s); no timer",
                     describe(timer_ready.error()));
        return timer_ready;
    }

    // 5.2.12, table 5.20: PCAT_COMPAT says the 8259s are there; without a
    // MADT they are assumed to be (every PC has them).
    const bool pics = !madt_description.parsed() || madt_description.pcat_compatible();
    if (pics) mask_legacy_pics();
    mask_io_apics();
    print_summary(pics);

    if (selftest_requested) SLUICE_TRY(run_timer_selftest(clock));
    return success();
}

void arm_timer(uint64_t deadline_tsc) { local_timer.arm(deadline_tsc); }
void cancel_timer() { local_timer.cancel(); }
void set_timer_handler(TimerHandler handler, void* context) { local_timer.set_handler(handler, context); }
const LocalApicTimer& timer() { return local_timer; }

uint32_t local_apic_id() { return local_apic.present() ? local_apic.id() : 0; }
bool x2apic_enabled() { return local_apic.present() && local_apic.registers().x2apic(); }
const MadtDescription& madt() { return madt_description; }

bool handle_external_interrupt(uint8_t vector) {
    if (!local_apic.present()) return false;
    HandlerTable& handlers = interrupt_handlers();
    switch (handlers.dispatch(vector)) {
    case DispatchOutcome::handled: local_apic.end_of_interrupt(); return true;
    case DispatchOutcome::spurious: return true;  // section 11.9: not in service, so no EOI
    case DispatchOutcome::unhandled: break;
    }
    // Nothing should send it (every source is masked): report the first
    // arrival of each such vector, and end it if the APIC holds it in
    // service, so lower-priority vectors are not blocked behind it.
    const bool in_service = local_apic.in_service(vector);
    if (in_service) local_apic.end_of_interrupt();
    if (handlers.count(vector) == 1)
        logger.warning("interrupt vector 0x%02x arrived with no handler registered; ignored (%s)", vector,
                       in_service ? "EOI sent" : "not in service, no EOI");
    return true;
}

}  // namespace sluice::x86::apic
