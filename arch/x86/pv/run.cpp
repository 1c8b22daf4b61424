#include "arch/x86/pv/run.hpp"

#include "arch/x86/apic/apic.hpp"
#include "arch/x86/clock.hpp"
#include "arch/x86/console.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/cpuid_policy.hpp"
#include "arch/x86/descriptors.hpp"
#include "arch/x86/interrupts.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/port_emulation.hpp"
#include "arch/x86/port_io.hpp"
#include "arch/x86/pv/emulate.hpp"
#include "arch/x86/pv/page_table_write.hpp"
#include "arch/x86/shutdown.hpp"

#include <public/arch_x86_64.hpp>
#include <public/sched.hpp>
#include <public/xen.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

extern "C" [[noreturn]] void sluice_return_to_guest(sluice::x86::InterruptFrame* frame, uint64_t guest_cr3);
extern "C" void sluice_handle_interrupt(sluice::x86::InterruptFrame* frame);
extern "C" [[noreturn]] void sluice_handle_guest_interrupt(sluice::x86::InterruptFrame* frame);

namespace sluice::x86::pv {
namespace {

constexpr Logger logger{"pv"};

// Frame vectors interrupt_entry.S gives SYSCALL entries.
constexpr uint64_t syscall_vector = 256;
constexpr uint64_t compatibility_syscall_vector = 257;

constexpr uint64_t page_fault_user = uint64_t{1} << 2;
// #GP error code: bit 1 says the selector index names an IDT entry (Intel
// SDM Vol. 3A, "Error Code").
constexpr uint64_t error_code_idt = uint64_t{1} << 1;
// Bit 2 of trap_info.flags: the handler runs with events masked
// (TI_GET_IF in xen.h).
constexpr uint8_t trap_masks_events = 4;

constexpr uint64_t cr0_task_switched = uint64_t{1} << 3;
constexpr uint64_t cr0_monitor_coprocessor = uint64_t{1} << 1;
constexpr uint64_t cr0_emulation = uint64_t{1} << 2;
constexpr uint64_t cr4_os_fxsr = uint64_t{1} << 9;
constexpr uint64_t cr4_os_xmm_exceptions = uint64_t{1} << 10;

bool has_error_code(unsigned vector) {
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 ||
           vector == 30;
}

class RangeFramePolicy final : public GuestFramePolicy {
public:
    [[nodiscard]] bool is_guest_ram(uint64_t machine_frame) const override {
        return memory_ != nullptr && memory_->contains(machine_frame << 12);
    }
    const passthrough::RangeSet* memory_ = nullptr;
};

class Hooks final : public ModeHooks {
public:
    void switch_mode(bool) override;
    void update_port_access() override;
};

class Services;

struct Dom0 {
    PvDom0Start start;
    Vcpu vcpu;
    EventChannels events;
    RangeFramePolicy frames;
    Hooks hooks;
    PvDomainContext context;
    bool shutdown_requested = false;
    unsigned shutdown_reason = 0;
    uint64_t tsc_frequency = 0;
    uint64_t tsc_at_boot = 0;
    PvRunStatistics statistics;
};

Dom0 dom0;

void Hooks::update_port_access() { set_guest_port_access(io_ports_allowed(dom0.vcpu)); }

void Hooks::switch_mode(bool) {
    // The guest's kernel and user GS bases: the active one in GS_BASE, the
    // other in KERNEL_GS_BASE, exchanged on each switch.
    swap_gs_bases();
    set_guest_port_access(io_ports_allowed(dom0.vcpu));
}

using hypercall::shutdown_reason_name;

// Whole seconds and the remainder separately, so no product overflows 64
// bits for any TSC below 18 GHz (and no 128-bit division is needed).
constexpr uint64_t nanoseconds_per_second = 1000000000;

uint64_t tsc_to_nanoseconds(uint64_t ticks) {
    const uint64_t frequency = dom0.tsc_frequency;
    return ticks / frequency * nanoseconds_per_second + ticks % frequency * nanoseconds_per_second / frequency;
}

uint64_t nanoseconds_to_tsc(uint64_t nanoseconds) {
    const uint64_t frequency = dom0.tsc_frequency;
    return nanoseconds / nanoseconds_per_second * frequency +
           nanoseconds % nanoseconds_per_second * frequency / nanoseconds_per_second;
}

uint64_t system_time_now() { return tsc_to_nanoseconds(apic::read_time_stamp_counter() - dom0.tsc_at_boot); }

// vcpu_time_info (xen.h): system time = system_time + ((tsc - tsc_timestamp)
// << shift) * mul >> 32. Published at boot and whenever the guest is
// entered after a timer event, with the version bracketing the update.
void publish_time() {
    const uint64_t frequency = dom0.tsc_frequency;
    int8_t shift = 0;
    // tsc_to_system_mul is a 32.32 fraction (xen.h, vcpu_time_info) applied
    // after the shift.
    uint64_t scaled = frequency;
    // Choose shift so that mul = 2^32 * 1e9 / (frequency * 2^shift) fits in
    // 32 bits with the most precision.
    // Keep frequency * 2^shift in (1e9, 2e9], so that the multiplier
    // 2^32 * 1e9 / (frequency * 2^shift) lies in [2^31, 2^32).
    while (scaled > 2 * nanoseconds_per_second) {
        scaled >>= 1;
        --shift;
    }
    while (scaled <= nanoseconds_per_second) {
        scaled <<= 1;
        ++shift;
    }
    const uint32_t multiplier = static_cast<uint32_t>((nanoseconds_per_second << 32) / scaled);
    const PhysicalAddress time = dom0.vcpu.vcpu_info + __builtin_offsetof(xen::vcpu_info, time);
    xen::vcpu_time_info info{};
    (void)direct_map().read_bytes(time, &info, sizeof info);
    info.version += 1;
    (void)direct_map().write_bytes(time, &info, sizeof info);
    const uint64_t tsc = apic::read_time_stamp_counter();
    info.tsc_timestamp = tsc;
    info.system_time = tsc_to_nanoseconds(tsc - dom0.tsc_at_boot);
    info.tsc_to_system_mul = multiplier;
    info.tsc_shift = shift;
    info.flags = xen::XEN_PVCLOCK_TSC_STABLE_BIT;
    info.version += 1;
    (void)direct_map().write_bytes(time, &info, sizeof info);
}

void raise_virq(unsigned virq) {
    const int port = dom0.events.port_of_virq(virq);
    if (port < 0) return;
    dom0.events.raise(static_cast<unsigned>(port), direct_map(), dom0.start.shared_info, dom0.vcpu.vcpu_info);
}

// The vCPU's one-shot timer fired (or its deadline passed while the guest
// was elsewhere): VIRQ_TIMER.
void check_timer() {
    if (dom0.vcpu.timer_deadline == 0 || system_time_now() < dom0.vcpu.timer_deadline) return;
    dom0.vcpu.timer_deadline = 0;
    publish_time();
    raise_virq(xen::VIRQ_TIMER);
}

void timer_interrupt(void*) { check_timer(); }

class Services final : public PvServices {
public:
    void guest_console_line(uint16_t domain_id, StringView line) override {
        console_write_line("(d%u) %.*s", domain_id, static_cast<int>(line.length()), line.data());
    }
    size_t guest_console_read(char*, size_t) override { return 0; }
    [[nodiscard]] uint64_t system_time() const override { return system_time_now(); }
    void set_timer(uint64_t deadline) override {
        if (deadline == 0) {
            apic::cancel_timer();
            return;
        }
        const uint64_t now = system_time_now();
        const uint64_t delta = deadline > now ? deadline - now : 0;
        apic::arm_timer(apic::read_time_stamp_counter() + nanoseconds_to_tsc(delta));
    }
    void shutdown(uint16_t, unsigned reason) override {
        dom0.shutdown_requested = true;
        dom0.shutdown_reason = reason;
    }
    void block() override {
        // Wait with interrupts on until an event is pending or the timer
        // fires. Without a timer armed and nothing pending nothing could
        // ever wake the vCPU: return at once (the ABI allows a spurious
        // wake-up) rather than hang the machine.
        for (;;) {
            check_timer();
            if (upcall_pending(dom0.vcpu, direct_map())) return;
            if (dom0.vcpu.timer_deadline == 0) {
                static bool reported = false;
                if (!reported) logger.warning("d0 blocked with no timer and no event pending; woken at once");
                reported = true;
                return;
            }
            wait_for_interrupt();
        }
    }
    void load_guest_gdt(const uint64_t* frames, unsigned count) override {
        for (unsigned index = 0; index < guest_gdt_frame_limit; ++index)
            map_guest_gdt_frame(index, index < count ? frames[index] : 0);
        reload_global_descriptor_table();
    }
    void load_guest_ldt(const uint64_t* frames, unsigned count, unsigned entries) override {
        for (unsigned index = 0; index < ldt_area_pages; ++index)
            map_guest_ldt_frame(index, index < count ? frames[index] : 0);
        load_local_descriptor_table(entries);
    }
    [[nodiscard]] Status set_segment_base(unsigned which, uint64_t value) override {
        // While the hypervisor runs for the guest kernel, GS_BASE holds the
        // kernel's base and KERNEL_GS_BASE the user's (Hooks::switch_mode).
        switch (which) {
        case xen::SEGBASE_FS: write_msr(ModelSpecificRegister::fs_base, value); return success();
        case xen::SEGBASE_GS_USER: write_msr(ModelSpecificRegister::kernel_gs_base, value); return success();
        case xen::SEGBASE_GS_KERNEL: write_msr(ModelSpecificRegister::gs_base, value); return success();
        case xen::SEGBASE_GS_USER_SEL: {
            // Load the user's GS selector without losing the kernel's base:
            // swap, load (which also loads the base from the descriptor),
            // swap back.
            // A selector the load would fault on at CPL 0 is refused here,
            // before the instruction runs.
            const uint16_t selector = static_cast<uint16_t>(value);
            if (!data_selector_loadable(dom0.vcpu, direct_map(), selector)) return Error::invalid_argument;
            swap_gs_bases();
            asm volatile("1: movw %0, %%gs\n" : : "r"(selector) : "memory");
            swap_gs_bases();
            return success();
        }
        default: return Error::invalid_argument;
        }
    }
    void update_port_access() override { set_guest_port_access(io_ports_allowed(dom0.vcpu)); }
    void set_task_switched(bool set) override {
        uint64_t cr0 = read_cr0();
        cr0 = set ? (cr0 | cr0_task_switched) : (cr0 & ~cr0_task_switched);
        asm volatile("mov %0, %%cr0" : : "r"(cr0) : "memory");
    }
    [[nodiscard]] const MemoryMap& machine_memory_map() const override { return *dom0.start.machine_memory_map; }
    [[nodiscard]] const MemoryMap& guest_memory_map() const override { return *dom0.start.guest_memory_map; }
    [[nodiscard]] uint64_t domain_pages() const override { return dom0.start.pages; }
    [[nodiscard]] uint64_t maximum_machine_frame() const override { return dom0.start.maximum_machine_frame; }
};

Services services;

const auto value = [](uint64_t register_value) { return static_cast<unsigned long long>(register_value); };

void dump_guest_state(const InterruptFrame& frame) {
    console_write_line("pv: error:   rip 0x%016llx  cs 0x%04llx  rflags 0x%016llx  %s mode", value(frame.rip),
                       value(frame.cs), value(frame.rflags), dom0.vcpu.kernel_mode ? "kernel" : "user");
    console_write_line("pv: error:   rsp 0x%016llx  ss 0x%04llx  cr3 0x%llx (kernel 0x%llx, user 0x%llx)",
                       value(frame.rsp), value(frame.ss), value(current_page_table(dom0.vcpu)),
                       value(dom0.vcpu.kernel_page_table), value(dom0.vcpu.user_page_table));
    console_write_line("pv: error:   rax 0x%016llx  rbx 0x%016llx  rcx 0x%016llx  rdx 0x%016llx", value(frame.rax),
                       value(frame.rbx), value(frame.rcx), value(frame.rdx));
    console_write_line("pv: error:   rsi 0x%016llx  rdi 0x%016llx  rbp 0x%016llx  r8  0x%016llx", value(frame.rsi),
                       value(frame.rdi), value(frame.rbp), value(frame.r8));
    console_write_line("pv: error:   r9  0x%016llx  r10 0x%016llx  r11 0x%016llx  r12 0x%016llx", value(frame.r9),
                       value(frame.r10), value(frame.r11), value(frame.r12));
    console_write_line("pv: error:   r13 0x%016llx  r14 0x%016llx  r15 0x%016llx", value(frame.r13),
                       value(frame.r14), value(frame.r15));
    // The words at the guest's stack pointer (return addresses among them),
    // read through its own tables like any guest pointer: a stack that does
    // not translate is said so, never dereferenced.
    const PhysicalAddress root = current_page_table(dom0.vcpu);
    if (root == 0) return;
    const GuestMemory memory(direct_map(), dom0.frames, root);
    constexpr unsigned stack_words = 32;
    for (unsigned row = 0; row < stack_words / 4; ++row) {
        uint64_t words[4] = {};
        const uint64_t address = frame.rsp + row * sizeof words;
        if (!memory.copy_from(words, address, sizeof words).ok()) {
            console_write_line("pv: error:   stack 0x%016llx: not readable", value(address));
            return;
        }
        console_write_line("pv: error:   stack 0x%016llx: %016llx %016llx %016llx %016llx", value(address),
                           value(words[0]), value(words[1]), value(words[2]), value(words[3]));
    }
}

// A domain that cannot go on: a decoded report, then the fail verdict. The
// hypervisor itself is unharmed; with dom0 gone there is nothing left to
// run, so it powers off.
[[noreturn]] void crash_domain(const InterruptFrame& frame, const char* reason, uint64_t address) {
    console_write_line("pv: error: d%u crashed: %s (address 0x%llx) after %llu hypercalls", dom0.vcpu.domain_id,
                       reason, value(address), value(dom0.context.hypercalls));
    dump_guest_state(frame);
    finish_fail("dom0 crashed: %s", reason);
}

[[noreturn]] void finish_shutdown() {
    const unsigned reason = dom0.shutdown_reason;
    const PvRunStatistics& statistics = dom0.statistics;
    logger.info("d%u shut down: %s (%llu hypercalls, %llu exceptions bounced, %llu instructions emulated, %llu "
                "events delivered)",
                dom0.vcpu.domain_id, shutdown_reason_name(reason), value(dom0.context.hypercalls),
                value(statistics.exceptions_bounced), value(statistics.instructions_emulated),
                value(statistics.events_delivered));
    if (reason == xen::SHUTDOWN_poweroff) finish_pass();
    finish_fail("dom0 shut down: %s", shutdown_reason_name(reason));
}

// Bounces `vector` to the guest's handler, or crashes the domain when it
// has none.
void bounce_exception(InterruptFrame& frame, unsigned vector, uint64_t error_code) {
    const TrapHandler& trap = dom0.vcpu.traps[vector];
    if (!trap.present) {
        char reason[96];
        format(reason, sizeof reason, "exception %u %s (%s) with no handler in the guest's trap table", vector,
               exception_mnemonic(vector), exception_description(vector));
        crash_domain(frame, reason, frame.rip);
    }
    Bounce bounce;
    bounce.handler = trap.address;
    bounce.has_error_code = has_error_code(vector);
    bounce.error_code = error_code;
    bounce.mask_events = (trap.flags & trap_masks_events) != 0;
    GuestCrash crash;
    if (!create_bounce_frame(dom0.vcpu, frame, bounce, direct_map(), dom0.frames, dom0.hooks, crash).ok())
        crash_domain(frame, crash.reason, crash.address);
    ++dom0.statistics.exceptions_bounced;
}

uint64_t& general_register(InterruptFrame& frame, unsigned index) {
    // InterruptFrame stores r15 first and rax last; the encoding numbers
    // rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15.
    switch (index) {
    case 0: return frame.rax;
    case 1: return frame.rcx;
    case 2: return frame.rdx;
    case 3: return frame.rbx;
    case 4: return frame.rsp;
    case 5: return frame.rbp;
    case 6: return frame.rsi;
    case 7: return frame.rdi;
    case 8: return frame.r8;
    case 9: return frame.r9;
    case 10: return frame.r10;
    case 11: return frame.r11;
    case 12: return frame.r12;
    case 13: return frame.r13;
    case 14: return frame.r14;
    default: return frame.r15;
    }
}

bool port_reserved(uint16_t port, unsigned size) {
    for (size_t index = 0; index < dom0.start.reserved_port_count; ++index) {
        const PvDom0Start::PortRange& range = dom0.start.reserved_ports[index];
        if (port + size - 1 >= range.first && port <= range.last) return true;
    }
    return false;
}

void emulate_cpuid(InterruptFrame& frame) {
    const uint32_t leaf = static_cast<uint32_t>(frame.rax);
    const uint32_t subleaf = static_cast<uint32_t>(frame.rcx);
    const CpuidResult host = cpuid(leaf, subleaf);
    const CpuidValues result =
        guest_leaf(leaf, subleaf, CpuidValues{host.eax, host.ebx, host.ecx, host.edx}, GuestKind::pv, dom0.vcpu.domain_id, 0);
    frame.rax = result.eax;
    frame.rbx = result.ebx;
    frame.rcx = result.ecx;
    frame.rdx = result.edx;
}

// mov to/from CRn, rdmsr/wrmsr, hlt, clts, wbinvd, in/out and forced CPUID
// for the guest kernel. Returns false when the instruction is not one to
// emulate (the fault goes to the guest).
bool emulate_privileged(InterruptFrame& frame, bool from_invalid_opcode) {
    uint8_t bytes[decode_window] = {};
    const GuestMemory memory(direct_map(), dom0.frames, current_page_table(dom0.vcpu));
    unsigned available = 0;
    while (available < decode_window && memory.read(frame.rip + available, bytes[available]).ok()) ++available;
    const DecodedInstruction instruction = decode_privileged(bytes, available);
    if (from_invalid_opcode) {
        if (instruction.operation != PrivilegedOperation::forced_cpuid) return false;
        emulate_cpuid(frame);
        frame.rip += instruction.length;
        return true;
    }
    if (instruction.operation == PrivilegedOperation::none || instruction.operation == PrivilegedOperation::forced_cpuid)
        return false;
    if (!dom0.vcpu.kernel_mode) return false;

    switch (instruction.operation) {
    case PrivilegedOperation::move_to_control: {
        const uint64_t written = general_register(frame, instruction.general_register);
        if (instruction.control_register == 3) {
            if (dom0.context.page_tables == nullptr) return false;
            paging::Batch batch(*dom0.start.targets);
            const int64_t result = dom0.context.page_tables->new_base_pointer(dom0.context, written >> 12, batch);
            if (!batch.commit().ok()) logger.error("d0: IOMMU invalidation after a CR3 write failed");
            if (result != 0) return false;
        } else if (instruction.control_register == 0) {
            dom0.vcpu.task_switched = (written & cr0_task_switched) != 0;
            services.set_task_switched(dom0.vcpu.task_switched);
        } else if (instruction.control_register != 4) {
            return false;
        }
        break;
    }
    case PrivilegedOperation::move_from_control: {
        uint64_t result;
        switch (instruction.control_register) {
        case 0: result = (read_cr0() & ~cr0_task_switched) | (dom0.vcpu.task_switched ? cr0_task_switched : 0); break;
        case 2: {
            result = 0;
            (void)direct_map().read_bytes(dom0.vcpu.vcpu_info + __builtin_offsetof(xen::vcpu_info, arch), &result,
                                          sizeof result);
            break;
        }
        case 3: result = current_page_table(dom0.vcpu); break;
        case 4: result = read_cr4(); break;
        default: return false;
        }
        general_register(frame, instruction.general_register) = result;
        break;
    }
    case PrivilegedOperation::read_msr: {
        const uint32_t index = static_cast<uint32_t>(frame.rcx);
        uint64_t result;
        switch (index) {
        case 0x10: result = apic::read_time_stamp_counter(); break;  // IA32_TIME_STAMP_COUNTER
        case 0x277:                                                  // IA32_PAT
        case 0xc0000080:                                             // IA32_EFER
        case 0xc0000100:                                             // IA32_FS_BASE
        case 0xc0000101:                                             // IA32_GS_BASE
        case 0xc0000102:                                             // IA32_KERNEL_GS_BASE
            result = read_msr(static_cast<ModelSpecificRegister>(index));
            break;
        default: return false;
        }
        frame.rax = static_cast<uint32_t>(result);
        frame.rdx = result >> 32;
        break;
    }
    case PrivilegedOperation::write_msr: {
        const uint32_t index = static_cast<uint32_t>(frame.rcx);
        const uint64_t written = (frame.rdx << 32) | static_cast<uint32_t>(frame.rax);
        if (index != 0xc0000100 && index != 0xc0000101 && index != 0xc0000102) return false;
        if (!is_canonical(written)) return false;
        write_msr(static_cast<ModelSpecificRegister>(index), written);
        break;
    }
    case PrivilegedOperation::halt: block_vcpu(dom0.context); break;
    case PrivilegedOperation::clear_interrupts:
    case PrivilegedOperation::set_interrupts:
        // The guest's interrupt flag is its event mask (xen.h, vcpu_info
        // evtchn_upcall_mask). CLI and STI are the kernel's when its virtual
        // IOPL allows them, the same rule as for I/O ports (Intel SDM Vol. 2A,
        // CLI: IOPL >= CPL); otherwise the #GP is the guest's. Events that
        // STI unmasks are delivered on the way back.
        if (!io_ports_allowed(dom0.vcpu)) return false;
        set_upcall_mask(dom0.vcpu, direct_map(),
                        instruction.operation == PrivilegedOperation::clear_interrupts ? 1 : 0);
        break;
    case PrivilegedOperation::clear_task_switched:
        dom0.vcpu.task_switched = false;
        services.set_task_switched(false);
        break;
    case PrivilegedOperation::write_back_invalidate: asm volatile("wbinvd" ::: "memory"); break;
    case PrivilegedOperation::in:
    case PrivilegedOperation::out: {
        // Without the I/O privilege the access faults for the guest, as on
        // bare metal with IOPL below CPL.
        if (!io_ports_allowed(dom0.vcpu)) return false;
        const uint16_t port = instruction.port_in_dx ? static_cast<uint16_t>(frame.rdx) : instruction.port;
        const unsigned size = instruction.operand_size;
        if (emulate_pci_configuration(port, size, instruction.operation == PrivilegedOperation::in, frame.rax)) break;
        const bool reserved = port_reserved(port, size);
        if (instruction.operation == PrivilegedOperation::in)
            set_accumulator(frame.rax, size, reserved ? 0xffffffff : read_port(port, size));
        else if (!reserved)
            write_port(port, size, frame.rax);
        break;
    }
    default: return false;
    }
    frame.rip += instruction.length;
    ++dom0.statistics.instructions_emulated;
    return true;
}

// RFLAGS after CMP first, second (Intel SDM Vol. 2, CMP and CMPXCHG: the
// flags are those of first - second).
uint64_t compare_flags(uint64_t flags, uint64_t first, uint64_t second) {
    constexpr uint64_t carry = 1, parity = 4, adjust = 0x10, zero = 0x40, sign = 0x80, overflow = 0x800;
    const uint64_t result = first - second;
    flags &= ~(carry | parity | adjust | zero | sign | overflow);
    if (first < second) flags |= carry;
    if (!(__builtin_popcountll(result & 0xff) & 1)) flags |= parity;
    if (((first ^ second ^ result) >> 4) & 1) flags |= adjust;
    if (result == 0) flags |= zero;
    if (result >> 63) flags |= sign;
    if ((((first ^ second) & (first ^ result)) >> 63) & 1) flags |= overflow;
    return flags;
}

// A store of the guest kernel's to one of its L1 tables (mapped read-only,
// hence the fault) carried out as the mmu_update it stands for: Xen's
// writable page tables (arch/x86/pv/page_table_write.hpp). False when the
// fault is the guest's own.
bool emulate_page_table_write(InterruptFrame& frame, uint64_t address) {
    // A present page, a write, neither a reserved bit nor an instruction
    // fetch (Intel SDM Vol. 3A, "Page-Fault Error Code").
    if ((frame.error_code & 0x1b) != 0x3 || !dom0.vcpu.kernel_mode || dom0.context.page_tables == nullptr) return false;
    if ((address & 7) != 0) return false;
    const GuestMemory memory(direct_map(), dom0.frames, current_page_table(dom0.vcpu));
    const Result<PhysicalAddress> entry = memory.translate(address, GuestAccess::read);
    if (!entry.ok()) return false;
    uint8_t bytes[decode_window] = {};
    unsigned available = 0;
    while (available < decode_window && memory.read(frame.rip + available, bytes[available]).ok()) ++available;
    const DecodedStore store = decode_page_table_store(bytes, available);
    if (store.kind == PageTableStore::none) return false;

    const uint64_t current = direct_map().read64(entry.value());
    const uint64_t value = store.kind == PageTableStore::move_immediate ? static_cast<uint64_t>(store.immediate)
                                                                  : general_register(frame, store.source_register);
    if (store.kind == PageTableStore::compare_exchange) {
        frame.rflags = compare_flags(frame.rflags, frame.rax, current);
        if (frame.rax != current) {
            // No write; the accumulator receives the entry, as CMPXCHG does.
            frame.rax = current;
            frame.rip += store.length;
            ++dom0.statistics.instructions_emulated;
            return true;
        }
    }
    paging::Batch batch(*dom0.start.targets);
    const int64_t result = dom0.context.page_tables->write_l1_entry(dom0.context, entry.value(), value, batch);
    if (!batch.empty() && !batch.commit().ok()) logger.error("d0: IOMMU invalidation after a page-table write failed");
    if (result != 0) return false;
    if (store.kind == PageTableStore::exchange) general_register(frame, store.source_register) = current;
    frame.rip += store.length;
    ++dom0.statistics.instructions_emulated;
    return true;
}

void handle_general_protection(InterruptFrame& frame) {
    if (emulate_privileged(frame, false)) return;
    // INT n through a DPL 0 gate: the error code names the IDT vector. The
    // guest's trap table says whether its kernel (always) or its user mode
    // (DPL 3) may raise that vector.
    if ((frame.error_code & 3) == error_code_idt) {
        const unsigned vector = static_cast<unsigned>(frame.error_code >> 3) & 0xff;
        const TrapHandler& trap = dom0.vcpu.traps[vector];
        if (trap.present && (dom0.vcpu.kernel_mode || (trap.flags & 3) == 3)) {
            frame.rip += 2;
            Bounce bounce;
            bounce.handler = trap.address;
            bounce.mask_events = (trap.flags & trap_masks_events) != 0;
            GuestCrash crash;
            if (!create_bounce_frame(dom0.vcpu, frame, bounce, direct_map(), dom0.frames, dom0.hooks, crash).ok())
                crash_domain(frame, crash.reason, crash.address);
            ++dom0.statistics.exceptions_bounced;
            return;
        }
    }
    bounce_exception(frame, exception_general_protection, frame.error_code);
}

void handle_exception(InterruptFrame& frame) {
    const unsigned vector = static_cast<unsigned>(frame.vector);
    switch (vector) {
    case exception_nmi:
    case exception_double_fault:
    case exception_machine_check:
        // The machine's events, not the guest's: report as the hypervisor's.
        sluice_handle_interrupt(&frame);
        return;
    case exception_general_protection: handle_general_protection(frame); return;
    case exception_invalid_opcode:
        if (emulate_privileged(frame, true)) return;
        bounce_exception(frame, vector, 0);
        return;
    case exception_page_fault: {
        const uint64_t address = read_cr2();
        if (emulate_page_table_write(frame, address)) return;
        set_cr2(dom0.vcpu, direct_map(), address);
        // The guest kernel runs at CPL 3, so the processor sets U in every
        // error code; the guest's own kernel-mode faults show without it, as
        // on bare metal.
        const uint64_t code = dom0.vcpu.kernel_mode ? frame.error_code & ~page_fault_user : frame.error_code;
        bounce_exception(frame, vector, code);
        return;
    }
    default: bounce_exception(frame, vector, frame.error_code); return;
    }
}

void handle_system_call(InterruptFrame& frame) {
    if (dom0.vcpu.kernel_mode) {
        paging::Batch batch(*dom0.start.targets);
        GuestCrash crash;
        const Status status = dispatch_hypercall(dom0.context, frame, dom0.hooks, batch, crash);
        // One commit per hypercall, whatever it changed (docs/pv.md).
        if (!batch.empty()) {
            ++dom0.statistics.batch_commits;
            if (!batch.commit().ok())
                logger.error("d0: IOMMU invalidation after %s failed; the unit was reported",
                             hypercall_name(frame.rax));
        }
        if (!status.ok()) crash_domain(frame, crash.reason, crash.address);
        return;
    }
    // A system call of the guest's user space: to the guest kernel's
    // syscall callback, RCX and R11 as SYSCALL left them.
    const GuestCallback& callback = dom0.vcpu.syscall_callback;
    if (!callback.present) {
        bounce_exception(frame, exception_invalid_opcode, 0);
        return;
    }
    Bounce bounce;
    bounce.handler = callback.address;
    bounce.mask_events = callback.mask_events;
    GuestCrash crash;
    if (!create_bounce_frame(dom0.vcpu, frame, bounce, direct_map(), dom0.frames, dom0.hooks, crash).ok())
        crash_domain(frame, crash.reason, crash.address);
}

// DMA faults while dom0 runs: read on the way back to the guest, at most
// once per millisecond of system time, so a device that faults is reported
// while it happens without costing every hypercall an MMIO read.
constexpr uint64_t fault_poll_interval = 1000000;
uint64_t last_fault_poll = 0;

void poll_iommu_faults(bool now) {
    if (dom0.start.units == nullptr) return;
    const uint64_t time = system_time_now();
    if (!now && time - last_fault_poll < fault_poll_interval) return;
    last_fault_poll = time;
    passthrough::take_recorded_faults(*dom0.start.units);
}

[[noreturn]] void resume(InterruptFrame& frame) {
    poll_iommu_faults(dom0.shutdown_requested);
    if (dom0.shutdown_requested) finish_shutdown();
    check_timer();
    GuestCrash crash;
    const Result<bool> delivered =
        deliver_pending_events(dom0.vcpu, frame, direct_map(), dom0.frames, dom0.hooks, crash);
    if (!delivered.ok()) crash_domain(frame, crash.reason, crash.address);
    if (delivered.value()) ++dom0.statistics.events_delivered;
    if (!sanitize_return_frame(frame, crash).ok()) crash_domain(frame, crash.reason, crash.address);
    const PhysicalAddress page_table = current_page_table(dom0.vcpu);
    if (page_table == 0) crash_domain(frame, "no page table for the guest's current mode", 0);
    sluice_return_to_guest(&frame, page_table);
}

}  // namespace

const PvRunStatistics& pv_statistics() { return dom0.statistics; }

void run_pv_dom0(const PvDom0Start& start) {
    dom0.start = start;
    dom0.frames.memory_ = start.memory;
    dom0.tsc_frequency = clock().frequency() == 0 ? 1000000000 : clock().frequency();
    dom0.tsc_at_boot = apic::read_time_stamp_counter();

    Vcpu& vcpu = dom0.vcpu;
    if (start.domain == nullptr || !start.domain->add_vcpu(vcpu).ok()) finish_fail("dom0: no domain for its vCPU");
    vcpu.domain_id = start.domain->id();
    vcpu.kernel_mode = true;
    vcpu.kernel_page_table = start.l4;
    vcpu.vcpu_info = start.shared_info;  // shared_info.vcpu_info[0]

    PvDomainContext& context = dom0.context;
    context.domain = start.domain;
    context.vcpu = &vcpu;
    context.memory = &direct_map();
    context.frames = &dom0.frames;
    context.services = &services;
    context.page_tables = start.page_tables;
    context.events = &dom0.events;
    context.shared_info = start.shared_info;
    context.hypervisor_command_line = start.hypervisor_command_line;

    // Every port except the hypervisor's own reaches the hardware directly
    // from the guest kernel (the TSS bitmap); those raise #GP and read as
    // all ones.
    allow_guest_port_range(0, 0xffff);
    for (size_t index = 0; index < start.reserved_port_count; ++index)
        deny_guest_port_range(start.reserved_ports[index].first, start.reserved_ports[index].last);
    set_guest_port_access(io_ports_allowed(vcpu));

    // SSE for the guest: the hypervisor itself never touches the FPU
    // (-mgeneral-regs-only), so the guest's state stays in the registers.
    asm volatile("mov %0, %%cr4" : : "r"(read_cr4() | cr4_os_fxsr | cr4_os_xmm_exceptions) : "memory");
    asm volatile("mov %0, %%cr0" : : "r"((read_cr0() | cr0_monitor_coprocessor) & ~cr0_emulation) : "memory");
    write_msr(ModelSpecificRegister::gs_base, 0);
    write_msr(ModelSpecificRegister::kernel_gs_base, 0);
    write_msr(ModelSpecificRegister::fs_base, 0);

    apic::set_timer_handler(timer_interrupt, nullptr);
    publish_time();

    logger.info("d%u: entering the guest at 0x%llx (rsp 0x%llx, start_info 0x%llx, L4 at 0x%llx)", start.domain_id,
                value(start.rip), value(start.rsp), value(start.rsi), value(start.l4));

    auto* frame = reinterpret_cast<InterruptFrame*>(guest_entry_stack_top() - sizeof(InterruptFrame));
    *frame = InterruptFrame{};
    frame->rip = start.rip;
    frame->rsp = start.rsp;
    frame->rsi = start.rsi;
    frame->cs = xen::FLAT_KERNEL_CS;
    frame->ss = xen::FLAT_KERNEL_SS;
    frame->rflags = 0x202;
    resume(*frame);
}

}  // namespace sluice::x86::pv

using namespace sluice::x86;
using namespace sluice::x86::pv;

extern "C" void sluice_guest_return_faulted(InterruptFrame* frame) {
    // The exception frame sits below what was left of the guest's: RIP, CS,
    // RFLAGS, RSP, SS at the faulting RSP. Registers other than those are the
    // guest's, saved by the stub.
    InterruptFrame guest = *frame;
    const auto* remaining = reinterpret_cast<const uint64_t*>(frame->rsp);
    guest.rip = remaining[0];
    guest.cs = remaining[1];
    guest.rflags = remaining[2];
    guest.rsp = remaining[3];
    guest.ss = remaining[4];
    char reason[96];
    sluice::format(reason, sizeof reason, "the return to the guest faulted (%s, error code 0x%llx)",
           exception_mnemonic(static_cast<unsigned>(frame->vector)), value(frame->error_code));
    crash_domain(guest, reason, guest.rip);
}

extern "C" void sluice_handle_guest_interrupt(InterruptFrame* frame) {
    const uint64_t vector = frame->vector;
    if (vector == syscall_vector) {
        ++dom0.statistics.hypercalls;
        handle_system_call(*frame);
    } else if (vector == compatibility_syscall_vector) {
        // 32-bit user space is not supported: SYSCALL from compatibility mode
        // is an invalid opcode for the guest, as with SYSCALL disabled.
        bounce_exception(*frame, exception_invalid_opcode, 0);
    } else if (vector < exception_vector_count) {
        handle_exception(*frame);
    } else if (!apic::handle_external_interrupt(static_cast<uint8_t>(vector))) {
        sluice_handle_interrupt(frame);
    }
    resume(*frame);
}
