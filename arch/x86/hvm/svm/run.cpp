#include "arch/x86/hvm/svm/run.hpp"

#include "arch/x86/console.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/cpuid_policy.hpp"
#include "arch/x86/hvm/hypercalls.hpp"
#include "arch/x86/hvm/instruction.hpp"
#include "arch/x86/hvm/svm/vmcb.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/port_emulation.hpp"
#include "arch/x86/reserved_ports.hpp"
#include "arch/x86/shutdown.hpp"

#include <mm/page_allocator.hpp>
#include <public/sched.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::svm {
namespace {

constexpr Logger logger{"hvm"};

// MSRs (AMD APM Vol. 2, Appendix A).
constexpr uint32_t msr_time_stamp_counter = 0x10;
constexpr uint32_t msr_apic_base = 0x1b;
constexpr uint32_t msr_pat = 0x277;
constexpr uint32_t msr_efer = 0xc0000080;
constexpr uint32_t msr_tsc_aux = 0xc0000103;
// The guest's own state, switched by VMRUN/#VMEXIT or VMLOAD/VMSAVE, so
// dom0 may read and write it directly (15.5.2, 15.11).
constexpr uint32_t passed_through_msrs[] = {
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,  // STAR, LSTAR, CSTAR, SFMASK
    0xc0000100, 0xc0000101, 0xc0000102,              // FS_BASE, GS_BASE, KERNEL_GS_BASE
    0x174, 0x175, 0x176,                             // SYSENTER_CS, _ESP, _EIP
};

// EFER bits (3.1.7).
constexpr uint64_t efer_sce = uint64_t{1} << 0;
constexpr uint64_t efer_lme = uint64_t{1} << 8;
constexpr uint64_t efer_lma = uint64_t{1} << 10;
constexpr uint64_t efer_nxe = uint64_t{1} << 11;
constexpr uint64_t efer_svme = uint64_t{1} << 12;
constexpr uint64_t efer_ffxsr = uint64_t{1} << 14;
constexpr uint64_t efer_guest_writable = efer_sce | efer_lme | efer_nxe | efer_ffxsr;

constexpr uint64_t rflags_reserved_one = uint64_t{1} << 1;
constexpr uint64_t power_on_pat = 0x0007040600070406;

constexpr unsigned vector_invalid_opcode = 6;
constexpr unsigned vector_general_protection = 13;
constexpr unsigned vector_machine_check = 18;

struct Run {
    Vmcb* vmcb = nullptr;
    PhysicalAddress vmcb_address = 0;
    PhysicalAddress host_state = 0;
    uint8_t* msrpm = nullptr;
    hvm::GuestRegisters registers{};
    const SvmGuestStart* start = nullptr;
    uint64_t tsc_aux = 0;
    uint64_t exits = 0;
    // Exits by EXITCODE (0x00-0xff; #NPF counted at 0xff + 1): the
    // shutdown line names each, which is how the platform's choices show
    // (QEMU TCG reports RDTSCP as VMEXIT_RDTSC).
    uint32_t exits_by_code[0x101] = {};
    uint64_t unknown_msr_reports = 0;
    bool shutdown_requested = false;
    unsigned shutdown_reason = 0;
};

Run run;

class Services final : public hvm::HvmServices {
public:
    void guest_console_line(uint16_t domain_id, StringView line) override {
        console_write_line("(d%u) %.*s", domain_id, static_cast<int>(line.length()), line.data());
    }
    size_t guest_console_read(char*, size_t) override { return 0; }
    void shutdown(uint16_t, unsigned reason) override {
        run.shutdown_requested = true;
        run.shutdown_reason = reason;
    }
};

Services services;
hvm::HvmDomainContext domain_context;

hvm::PagingState paging_state() {
    const VmcbStateSaveArea& save = run.vmcb->save;
    return hvm::PagingState{save.cr0, save.cr3, save.cr4, save.efer};
}

hvm::HvmGuestMemory guest_memory() {
    return hvm::HvmGuestMemory(direct_map(), *run.start->guest_physical, paging_state());
}

bool in_long_mode() {
    return (run.vmcb->save.efer & efer_lma) != 0 && (run.vmcb->save.cs.attrib & segment_attribute::long_mode) != 0;
}

class HypercallBuffers final : public hypercall::GuestBuffers {
public:
    explicit HypercallBuffers(const hvm::HvmGuestMemory& memory) : memory_(memory) {}
    [[nodiscard]] Status copy_from(void* destination, uint64_t address, size_t length) const override {
        return memory_.copy_from(destination, address, length);
    }
    [[nodiscard]] Status copy_to(uint64_t address, const void* source, size_t length) const override {
        return memory_.copy_to(address, source, length);
    }

private:
    const hvm::HvmGuestMemory& memory_;
};

void dump_state() {
    const VmcbStateSaveArea& save = run.vmcb->save;
    const hvm::GuestRegisters& r = run.registers;
    const auto value = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    logger.error("  rip %016llx  rsp %016llx  rflags %016llx  cpl %u", value(save.rip), value(save.rsp),
                 value(save.rflags), save.cpl);
    logger.error("  cs %04x (attrib %03x)  cr0 %016llx  cr3 %016llx  cr4 %016llx  efer %016llx", save.cs.selector,
                 save.cs.attrib, value(save.cr0), value(save.cr3), value(save.cr4), value(save.efer));
    logger.error("  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx", value(r.rax), value(r.rbx), value(r.rcx),
                 value(r.rdx));
    logger.error("  rsi %016llx  rdi %016llx  rbp %016llx  r8  %016llx", value(r.rsi), value(r.rdi), value(r.rbp),
                 value(r.r8));
    logger.error("  exitcode %llx  exitinfo1 %016llx  exitinfo2 %016llx  exitintinfo %016llx",
                 value(run.vmcb->control.exitcode), value(run.vmcb->control.exitinfo1),
                 value(run.vmcb->control.exitinfo2), value(run.vmcb->control.exitintinfo));
}

[[noreturn]] void crash(const char* reason) {
    hypercall::console_flush(domain_context.console, services, domain_context.domain_id);
    logger.error("d%u crashed: %s", domain_context.domain_id, reason);
    dump_state();
    finish_fail("dom0 crashed: %s", reason);
}

void inject(uint64_t event) { run.vmcb->control.eventinj = event; }

// The instruction at CS:RIP, which must be one of `expected` (the exit says
// what ran; bytes that disagree mean the guest changed its code under the
// exit, or a decoder bug: either way the domain cannot go on safely).
hvm::DecodedInstruction decode_current(hvm::InterceptedInstruction expected,
                                       hvm::InterceptedInstruction alternative = hvm::InterceptedInstruction::unknown) {
    uint8_t bytes[hvm::maximum_instruction_length] = {};
    const VmcbStateSaveArea& save = run.vmcb->save;
    const bool long_mode = in_long_mode();
    const uint64_t linear = long_mode ? save.rip : (save.cs.base + save.rip) & 0xffffffff;
    const size_t fetched = guest_memory().copy_available(bytes, linear, sizeof bytes);
    const Result<hvm::DecodedInstruction> decoded = hvm::decode_intercepted(Span<const uint8_t>(bytes, fetched), long_mode);
    if (!decoded.ok() ||
        (decoded.value().instruction != expected && decoded.value().instruction != alternative)) {
        logger.error("d%u: at rip 0x%llx (%zu bytes fetched: %02x %02x %02x) the exit was for %s, the bytes say %s",
                     domain_context.domain_id, static_cast<unsigned long long>(save.rip), fetched, bytes[0], bytes[1],
                     bytes[2], hvm::describe(expected),
                     decoded.ok() ? hvm::describe(decoded.value().instruction) : describe(decoded.error()));
        crash("the intercepted instruction could not be decoded");
    }
    return decoded.value();
}

void advance(const hvm::DecodedInstruction& instruction) {
    run.vmcb->save.rip += instruction.length;
    if (!in_long_mode()) run.vmcb->save.rip &= 0xffffffff;
}

uint64_t read_time_stamp_counter() {
    uint32_t low, high;
    asm volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t{high} << 32) | low) + run.vmcb->control.tsc_offset;
}

void handle_cpuid() {
    const hvm::DecodedInstruction instruction = decode_current(hvm::InterceptedInstruction::cpuid);
    const uint32_t leaf = static_cast<uint32_t>(run.registers.rax);
    const uint32_t subleaf = static_cast<uint32_t>(run.registers.rcx);
    const CpuidResult host = cpuid(leaf, subleaf);
    const CpuidValues values = guest_leaf(leaf, subleaf, CpuidValues{host.eax, host.ebx, host.ecx, host.edx},
                                          GuestKind::hvm, domain_context.domain_id, 0);
    run.registers.rax = values.eax;
    run.registers.rbx = values.ebx;
    run.registers.rcx = values.ecx;
    run.registers.rdx = values.edx;
    advance(instruction);
}

bool valid_pat(uint64_t value) {
    // Each byte a memory type: UC 0, WC 1, WT 4, WP 5, WB 6, UC- 7 (7.8.1).
    for (unsigned index = 0; index < 8; ++index) {
        const uint8_t type = static_cast<uint8_t>(value >> (8 * index));
        if (type == 2 || type == 3 || type > 7) return false;
    }
    return true;
}

void report_unknown_msr(bool write, uint32_t msr, uint64_t value) {
    if (run.unknown_msr_reports++ >= 16) return;
    if (write)
        logger.warning("d%u: wrmsr of MSR 0x%x value 0x%llx: not emulated, #GP", domain_context.domain_id, msr,
                       static_cast<unsigned long long>(value));
    else
        logger.warning("d%u: rdmsr of MSR 0x%x: not emulated, #GP", domain_context.domain_id, msr);
}

// The hypercall page (CPUID 0x40000002 EBX names the MSR): the guest-physical
// frame in bits 63:12, the page index (only 0: one page) in bits 11:0.
bool write_hypercall_page(uint64_t value) {
    if ((value & 0xfff) != 0) return false;
    static uint8_t page[4096];
    hvm::fill_hypercall_page(page, hvm::HypercallInstruction::vmmcall);
    const Status written = guest_memory().write_physical(value & ~uint64_t{0xfff}, page, sizeof page);
    logger.info("d%u: hypercall page at guest-physical 0x%llx%s", domain_context.domain_id,
                static_cast<unsigned long long>(value & ~uint64_t{0xfff}), written.ok() ? "" : ": not RAM, #GP");
    return written.ok();
}

void handle_msr() {
    const bool write = run.vmcb->control.exitinfo1 == 1;
    const hvm::DecodedInstruction instruction =
        decode_current(write ? hvm::InterceptedInstruction::wrmsr : hvm::InterceptedInstruction::rdmsr);
    const uint32_t msr = static_cast<uint32_t>(run.registers.rcx);
    const uint64_t value = (run.registers.rdx << 32) | (run.registers.rax & 0xffffffff);
    VmcbStateSaveArea& save = run.vmcb->save;
    bool handled = true;
    uint64_t result = 0;
    switch (msr) {
    case msr_efer:
        if (!write) {
            result = save.efer & ~efer_svme;  // the guest has no SVM
        } else if ((value & ~(efer_guest_writable | efer_lma)) != 0) {
            handled = false;
        } else {
            // LMA is the processor's; SVME must stay set for VMRUN (15.5.1).
            save.efer = (value & efer_guest_writable) | (save.efer & efer_lma) | efer_svme;
        }
        break;
    case msr_pat:
        if (!write) result = save.g_pat;
        else if (valid_pat(value)) save.g_pat = value;
        else handled = false;
        break;
    case msr_tsc_aux:
        if (!write) result = run.tsc_aux;
        else if ((value >> 32) == 0) run.tsc_aux = value;
        else handled = false;
        break;
    case msr_time_stamp_counter:
        if (!write) result = read_time_stamp_counter();
        else handled = false;
        break;
    case msr_apic_base:
        // No virtual local APIC yet: the architectural default, enabled, BSP.
        if (!write) result = 0xfee00000 | (uint64_t{1} << 11) | (uint64_t{1} << 8);
        else handled = false;
        break;
    case xen_hypercall_page_msr:
        handled = write && write_hypercall_page(value);
        break;
    default: handled = false; break;
    }
    if (!handled) {
        if (msr != xen_hypercall_page_msr) report_unknown_msr(write, msr, value);
        inject(exception_event(vector_general_protection, true, 0));
        return;
    }
    if (!write) {
        run.registers.rax = result & 0xffffffff;
        run.registers.rdx = result >> 32;
    }
    advance(instruction);
}

void handle_ioio() {
    const IoioExitInformation io = decode_ioio(run.vmcb->control.exitinfo1);
    if (io.string) crash("string I/O to a port the hypervisor keeps");
    uint64_t& accumulator = run.registers.rax;
    // The PCI configuration ports (the same emulation as for a PV dom0), then
    // the hypervisor's own ports: all ones, writes dropped.
    if (!emulate_pci_configuration(io.port, io.size, io.in, accumulator) && io.in)
        set_accumulator(accumulator, io.size, 0xffffffff);
    // EXITINFO2 holds the next RIP on IOIO even without nRIP save (docs/pvh.md).
    run.vmcb->save.rip = run.vmcb->control.exitinfo2;
}

void handle_vmmcall() {
    const hvm::DecodedInstruction instruction = decode_current(hvm::InterceptedInstruction::vmmcall);
    const hvm::HvmGuestMemory memory = guest_memory();
    const HypercallBuffers buffers(memory);
    const hvm::HypercallMode mode{in_long_mode(), run.vmcb->save.cpl};
    if (hvm::dispatch_hvm_hypercall(domain_context, run.registers, mode, buffers) == hvm::HypercallOutcome::done)
        advance(instruction);
    if (run.start->poll_dma_faults != nullptr) run.start->poll_dma_faults();
}

void handle_rdtsc() {
    // QEMU TCG reports RDTSCP as the RDTSC exit (docs/pvh.md): the bytes say
    // which it was.
    const hvm::DecodedInstruction instruction =
        decode_current(hvm::InterceptedInstruction::rdtsc, hvm::InterceptedInstruction::rdtscp);
    const uint64_t now = read_time_stamp_counter();
    run.registers.rax = now & 0xffffffff;
    run.registers.rdx = now >> 32;
    if (instruction.instruction == hvm::InterceptedInstruction::rdtscp) run.registers.rcx = run.tsc_aux;
    advance(instruction);
}

void handle_nested_page_fault() {
    const NestedPageFault fault = decode_npf(run.vmcb->control.exitinfo1);
    const uint64_t address = run.vmcb->control.exitinfo2;
    const char* access = fault.fetch ? "instruction fetch" : fault.write ? "write" : "read";
    logger.error("d%u: nested page fault at guest-physical 0x%llx: %s, %s%s, during %s, rip 0x%llx",
                 domain_context.domain_id, static_cast<unsigned long long>(address), access,
                 fault.present ? "protection violation" : "not mapped",
                 fault.reserved_bit ? " (reserved bit set)" : "",
                 fault.page_table_access ? "a guest page-table access" : "the final translation",
                 static_cast<unsigned long long>(run.vmcb->save.rip));
    crash(fault.present ? "nested page fault: an access the p2m does not allow"
                        : "nested page fault on an address dom0 has no memory at");
}

[[noreturn]] void finish_shutdown() {
    if (run.start->poll_dma_faults != nullptr) run.start->poll_dma_faults();
    const unsigned reason = run.shutdown_reason;
    logger.info("d%u shut down: %s (%llu exits, %llu hypercalls)", domain_context.domain_id,
                hypercall::shutdown_reason_name(reason), static_cast<unsigned long long>(run.exits),
                static_cast<unsigned long long>(domain_context.hypercalls));
    char line[512] = {};
    size_t length = 0;
    for (uint64_t code = 0; code < array_length(run.exits_by_code); ++code) {
        if (run.exits_by_code[code] == 0) continue;
        char buffer[24];
        length += format(line + length, sizeof line - length, " %s %u",
                         exit_code_name(code == 0x100 ? static_cast<uint64_t>(ExitCode::npf) : code, buffer),
                         run.exits_by_code[code]);
        if (length >= sizeof line - 1) break;
    }
    logger.info("d%u exits:%s", domain_context.domain_id, line);
    if (reason == xen::SHUTDOWN_poweroff) finish_pass();
    finish_fail("dom0 shut down: %s", hypercall::shutdown_reason_name(reason));
}

void handle_exit() {
    const uint64_t code = canonical_exit_code(run.vmcb->control.exitcode);
    switch (static_cast<ExitCode>(code)) {
    case ExitCode::cpuid: handle_cpuid(); return;
    case ExitCode::msr: handle_msr(); return;
    case ExitCode::ioio: handle_ioio(); return;
    case ExitCode::vmmcall: handle_vmmcall(); return;
    case ExitCode::rdtsc:
    case ExitCode::rdtscp: handle_rdtsc(); return;
    case ExitCode::npf: handle_nested_page_fault(); return;
    case ExitCode::intr:
        // A host interrupt arrived while the guest ran: take it now.
        asm volatile("sti; nop; cli" ::: "memory");
        return;
    case ExitCode::nmi:
        // The NMI is held while GIF is clear and taken by the host's own
        // handler at the STGI after #VMEXIT (15.17): nothing to do here.
        return;
    case ExitCode::hlt: {
        const hvm::DecodedInstruction instruction = decode_current(hvm::InterceptedInstruction::hlt);
        if ((run.vmcb->save.rflags & rflags_interrupt) == 0)
            crash("halted with interrupts disabled: nothing can wake the vCPU");
        // No virtual interrupt source exists yet: HLT returns at once, as if
        // woken (a guest must cope with spurious wake-ups).
        advance(instruction);
        return;
    }
    case ExitCode::invd:
    case ExitCode::wbinvd: {
        const hvm::DecodedInstruction instruction =
            decode_current(hvm::InterceptedInstruction::wbinvd, hvm::InterceptedInstruction::invd);
        // INVD would drop other domains' and the hypervisor's dirty lines:
        // both are carried out as WBINVD, as Xen does.
        asm volatile("wbinvd" ::: "memory");
        advance(instruction);
        return;
    }
    case ExitCode::vmrun:
    case ExitCode::vmload:
    case ExitCode::vmsave:
    case ExitCode::stgi:
    case ExitCode::clgi:
    case ExitCode::skinit:
    case ExitCode::invlpga:
        // The guest is told it has no SVM: these raise #UD (15.4).
        inject(exception_event(vector_invalid_opcode));
        return;
    case ExitCode::shutdown: crash("shutdown intercept (a triple fault)");
    case ExitCode::excp18:
        crash("a machine check while dom0 ran");
    case ExitCode::invalid: crash("VMRUN refused the guest state (VMEXIT_INVALID)");
    default: {
        char buffer[24];
        logger.error("d%u: unexpected exit %s (0x%llx)", domain_context.domain_id, exit_code_name(code, buffer),
                     static_cast<unsigned long long>(code));
        crash("an exit this hypervisor does not handle");
    }
    }
}

void allow_msr(uint32_t msr) {
    const MsrpmPosition position = msrpm_position(msr);
    if (position.found) run.msrpm[position.byte] &= static_cast<uint8_t>(~(3u << position.bit));
}

PhysicalAddress allocate_zeroed(PhysicalPageAllocator& allocator, uint64_t pages, const char* what) {
    const Result<PhysicalAddress> allocated = allocator.allocate_contiguous(pages);
    if (!allocated.ok()) finish_fail("dom0 build: no memory for the %s", what);
    for (uint64_t page = 0; page < pages; ++page) direct_map().zero_page(allocated.value() + page * page_size);
    return allocated.value();
}

void set_segment(VmcbSegment& segment, uint16_t selector, uint16_t attrib, uint32_t limit) {
    segment = VmcbSegment{selector, attrib, limit, 0};
}

void set_up(const SvmGuestStart& start) {
    PhysicalPageAllocator& allocator = *start.allocator;
    run.start = &start;
    run.vmcb_address = allocate_zeroed(allocator, 1, "VMCB");
    run.host_state = allocate_zeroed(allocator, 1, "host VMSAVE area");
    run.vmcb = static_cast<Vmcb*>(physical_to_virtual(run.vmcb_address));
    const PhysicalAddress iopm = allocate_zeroed(allocator, iopm_size / page_size, "I/O permission map");
    const PhysicalAddress msrpm = allocate_zeroed(allocator, msrpm_size / page_size, "MSR permission map");

    // I/O permission map (15.10.1): one bit per port, set = intercepted.
    auto* io_bits = static_cast<uint8_t*>(physical_to_virtual(iopm));
    for (const ReservedPortRange& range : hardware_domain_reserved_ports())
        for (uint32_t port = range.first; port <= range.last; ++port) io_bits[port / 8] |= static_cast<uint8_t>(1u << (port % 8));
    // The third page covers accesses that run past port 0xffff.
    for (uint64_t byte = 0x2000; byte < iopm_size; ++byte) io_bits[byte] = 0xff;
    // MSR permission map (15.11): everything intercepted but the guest's own state.
    run.msrpm = static_cast<uint8_t*>(physical_to_virtual(msrpm));
    for (uint64_t byte = 0; byte < msrpm_size; ++byte) run.msrpm[byte] = 0xff;
    for (uint32_t msr : passed_through_msrs) allow_msr(msr);

    VmcbControlArea& control = run.vmcb->control;
    // Machine checks are the host's (vector 18).
    control.intercept_exceptions = 1u << vector_machine_check;
    control.intercept_vector3 = intercept3::intr | intercept3::nmi | intercept3::cpuid | intercept3::invd | intercept3::hlt |
                                intercept3::ioio_prot | intercept3::msr_prot | intercept3::shutdown |
                                intercept3::rdtsc | intercept3::invlpga;
    control.intercept_vector4 = intercept4::vmrun | intercept4::vmmcall | intercept4::vmload | intercept4::vmsave |
                                intercept4::stgi | intercept4::clgi | intercept4::skinit | intercept4::rdtscp |
                                intercept4::wbinvd;
    control.iopm_base_pa = iopm;
    control.msrpm_base_pa = msrpm;
    control.guest_asid = 1;
    // Everything flushed on the first VMRUN; nothing changes the p2m after
    // (a p2m change would set it again, the CPU unit of the batch).
    control.tlb_control = static_cast<uint8_t>(TlbControl::flush_all);
    control.vintr = vintr_masking;
    control.np_enable = np_enable;
    control.n_cr3 = start.nested_page_table;
    control.vmcb_clean = 0;

    // The PVH entry state (Xen's docs/misc/pvh.pandoc): 32-bit flat protected
    // mode, paging off, CR0 = PE | ET, CR4 = 0, flat 4 GiB code and data
    // segments, TR a busy 32-bit TSS, EBX = the start info.
    VmcbStateSaveArea& save = run.vmcb->save;
    using namespace segment_attribute;
    const uint16_t code_attrib = granularity | default_big | present | descriptor | code | (1u << 1) | accessed;  // 0xc9b
    const uint16_t data_attrib = granularity | default_big | present | descriptor | (1u << 1) | accessed;         // 0xc93
    set_segment(save.cs, 0x10, code_attrib, 0xffffffff);
    set_segment(save.ds, 0x18, data_attrib, 0xffffffff);
    set_segment(save.es, 0x18, data_attrib, 0xffffffff);
    set_segment(save.ss, 0x18, data_attrib, 0xffffffff);
    set_segment(save.fs, 0x18, data_attrib, 0xffffffff);
    set_segment(save.gs, 0x18, data_attrib, 0xffffffff);
    set_segment(save.tr, 0x20, present | 0xb, 0x67);  // 0x8b
    set_segment(save.ldtr, 0, present | 0x2, 0);
    save.cpl = 0;
    save.efer = efer_svme;
    save.cr0 = 0x11;  // PE, ET
    save.cr3 = 0;
    save.cr4 = 0;
    save.dr6 = 0xffff0ff0;
    save.dr7 = 0x400;
    save.rflags = rflags_reserved_one;
    save.rip = start.entry;
    save.rsp = 0;
    save.g_pat = power_on_pat;
    run.registers = hvm::GuestRegisters{};
    run.registers.rbx = start.start_info;

    domain_context.domain_id = start.domain_id;
    domain_context.services = &services;
    domain_context.hypervisor_command_line = start.hypervisor_command_line;
}

}  // namespace

void run_pvh_dom0_svm(const SvmGuestStart& start) {
    set_up(start);
    logger.info("d%u: entering at 0x%x (32-bit, paging off), start info at 0x%x", start.domain_id, start.entry,
                start.start_info);
    // Host interrupts are taken only between exits (the INTR intercept).
    asm volatile("cli" ::: "memory");
    for (;;) {
        run.vmcb->save.rax = run.registers.rax;
        sluice_svm_vmrun(&run.registers, run.vmcb_address, run.host_state);
        run.registers.rax = run.vmcb->save.rax;
        ++run.exits;
        const uint64_t code = canonical_exit_code(run.vmcb->control.exitcode);
        ++run.exits_by_code[code < 0x100 ? code : code == static_cast<uint64_t>(ExitCode::npf) ? 0x100 : 0xff];
        VmcbControlArea& control = run.vmcb->control;
        control.tlb_control = static_cast<uint8_t>(TlbControl::do_nothing);
        control.eventinj = 0;
        const uint64_t interrupted = control.exitintinfo;
        handle_exit();
        if (run.shutdown_requested) finish_shutdown();
        // An event whose delivery the exit interrupted is delivered again
        // (15.7.2), unless the handler injected something itself. QEMU TCG
        // leaves a stale vector with V clear (docs/pvh.md): only V counts.
        if ((interrupted & event::valid) != 0 && (control.eventinj & event::valid) == 0) control.eventinj = interrupted;
    }
}

}  // namespace sluice::x86::svm
