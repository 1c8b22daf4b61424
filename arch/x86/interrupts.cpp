#include "arch/x86/interrupts.hpp"

#include "arch/x86/address_space.hpp"

#include "arch/x86/apic/apic.hpp"
#include "arch/x86/console.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/shutdown.hpp"

#include <sluice/cmdline.hpp>
#include <sluice/format.hpp>

extern "C" const uint8_t sluice_interrupt_stubs[];
extern "C" void sluice_handle_interrupt(sluice::x86::InterruptFrame* frame);

namespace sluice::x86 {
namespace {

constexpr uint64_t interrupt_stub_stride = 16;  // interrupt_entry.S aligns each stub to 16 bytes

struct ExceptionName {
    const char* mnemonic;
    const char* description;
};

// Intel SDM Vol. 3A, "Exception and Interrupt Reference"; #HV, #VC and #SX
// from AMD APM Vol. 2, "Exceptions and Interrupts".
constexpr ExceptionName exception_names[exception_vector_count] = {
    {"#DE", "divide error"},
    {"#DB", "debug"},
    {"NMI", "non-maskable interrupt"},
    {"#BP", "breakpoint"},
    {"#OF", "overflow"},
    {"#BR", "bound range exceeded"},
    {"#UD", "invalid opcode"},
    {"#NM", "device not available"},
    {"#DF", "double fault"},
    {"", "coprocessor segment overrun"},
    {"#TS", "invalid TSS"},
    {"#NP", "segment not present"},
    {"#SS", "stack-segment fault"},
    {"#GP", "general protection"},
    {"#PF", "page fault"},
    {"", "reserved"},
    {"#MF", "x87 floating-point error"},
    {"#AC", "alignment check"},
    {"#MC", "machine check"},
    {"#XM", "SIMD floating-point exception"},
    {"#VE", "virtualization exception"},
    {"#CP", "control protection"},
    {"", "reserved"},
    {"", "reserved"},
    {"", "reserved"},
    {"", "reserved"},
    {"", "reserved"},
    {"", "reserved"},
    {"#HV", "hypervisor injection"},
    {"#VC", "VMM communication"},
    {"#SX", "security exception"},
    {"", "reserved"},
};

// Page-fault error code bits (Intel SDM Vol. 3A, "Interrupt 14-Page-Fault
// Exception (#PF)").
constexpr uint64_t page_fault_present = 1u << 0;
constexpr uint64_t page_fault_write = 1u << 1;
constexpr uint64_t page_fault_user = 1u << 2;
constexpr uint64_t page_fault_reserved_bit = 1u << 3;
constexpr uint64_t page_fault_instruction_fetch = 1u << 4;

// Set while a report is being printed: a fault inside the reporter must not
// recurse forever.
bool reporting = false;

void report_page_fault(const InterruptFrame& frame, uint64_t fault_address) {
    const uint64_t code = frame.error_code;
    console_write_line("x86: error:   page fault at 0x%016llx: %s %s, %s mode%s",
                       static_cast<unsigned long long>(fault_address),
                       (code & page_fault_present) ? "protection violation on" : "not-present",
                       (code & page_fault_instruction_fetch) ? "instruction fetch"
                       : (code & page_fault_write)            ? "write"
                                                              : "read",
                       (code & page_fault_user) ? "user" : "supervisor",
                       (code & page_fault_reserved_bit) ? ", reserved bit set in a paging entry" : "");
}

// --- crash-test=<name> ---------------------------------------------------------

enum class CrashTest : uint8_t { none, divide_error, breakpoint, invalid_opcode, general_protection, page_fault,
                                 double_fault, stack_overflow };

struct CrashTestName {
    const char* name;
    CrashTest test;
};

constexpr CrashTestName crash_test_names[] = {
    {"de", CrashTest::divide_error},       {"bp", CrashTest::breakpoint},  {"ud", CrashTest::invalid_opcode},
    {"gp", CrashTest::general_protection}, {"pf", CrashTest::page_fault},  {"df", CrashTest::double_fault},
    {"stack", CrashTest::stack_overflow},
};

CrashTest requested_crash_test = CrashTest::none;

// A hidden option for the boot tests: proves that each kind of fault is
// reported instead of hanging or resetting the machine.
void parse_crash_test(StringView option, StringView value, cmdline::Reporter& reporter) {
    for (const CrashTestName& entry : crash_test_names) {
        if (value == StringView(entry.name)) {
            requested_crash_test = entry.test;
            return;
        }
    }
    reporter.warn_formatted(option, "unknown exception '%.*s', ignored (known: de, bp, ud, gp, pf, df, stack)",
                            static_cast<int>(value.length()), value.data());
}

SLUICE_CUSTOM_PARAMETER("crash-test", parse_crash_test);

// Canonical (bits 63:47 equal) but not mapped: the direct map never reaches
// the top of the lower half.
constexpr uint64_t unmapped_address = 0x00007ffffffff000;
// Bit 63 set and bit 47 clear: not canonical, so any access raises #GP.
constexpr uint64_t non_canonical_address = 0x8000000000000000;

}  // namespace

uint64_t interrupt_stub_address(unsigned vector) {
    return reinterpret_cast<uint64_t>(sluice_interrupt_stubs) + interrupt_stub_stride * vector;
}

const char* exception_mnemonic(unsigned vector) {
    return vector < exception_vector_count ? exception_names[vector].mnemonic : "";
}

const char* exception_description(unsigned vector) {
    return vector < exception_vector_count ? exception_names[vector].description : "external interrupt";
}

void run_requested_crash_test() {
    switch (requested_crash_test) {
    case CrashTest::none: return;
    case CrashTest::divide_error: {
        uint64_t quotient = 1, remainder = 0;
        asm volatile("divq %2" : "+a"(quotient), "+d"(remainder) : "r"(uint64_t{0}));
        break;
    }
    case CrashTest::breakpoint: asm volatile("int3"); break;
    case CrashTest::invalid_opcode: asm volatile("ud2"); break;
    case CrashTest::general_protection: {
        const uint64_t value = *reinterpret_cast<volatile uint64_t*>(non_canonical_address);
        (void)value;
        break;
    }
    case CrashTest::page_fault: {
        const uint64_t value = *reinterpret_cast<volatile uint64_t*>(unmapped_address);
        (void)value;
        break;
    }
    case CrashTest::double_fault:
        // With RSP on an unmapped page the CPU can't push the #PF frame,
        // which makes the page fault a double fault; only the IST stack
        // keeps this from becoming a triple fault and a reset.
        asm volatile("movq %0, %%rsp\n\tpushq $0" : : "r"(unmapped_address + 0x800) : "memory");
        break;
    case CrashTest::stack_overflow:
        // Pushes until the boot stack's guard page stops it.
        asm volatile("1: pushq $0\n\tjmp 1b" ::: "memory");
        break;
    }
    finish_fail("crash-test: the requested exception was not raised");
}

}  // namespace sluice::x86

using namespace sluice::x86;

// interrupt_entry.S: the IRETQ that returns to a guest; run.cpp: what
// happens when it faults.
extern "C" const uint8_t sluice_guest_return_instruction[];
extern "C" [[noreturn]] void sluice_guest_return_faulted(InterruptFrame* frame);

extern "C" void sluice_handle_interrupt(InterruptFrame* frame) {
    const uint64_t fault_address = read_cr2();
    const unsigned vector = static_cast<unsigned>(frame->vector);
    // The return to a guest faulted (#GP, #NP, #SS from IRETQ's checks of the
    // guest's selectors and addresses): the guest's doing, so its domain
    // goes, not the hypervisor.
    if (frame->rip == alias_base + reinterpret_cast<uint64_t>(sluice_guest_return_instruction) &&
        (vector == exception_general_protection || vector == 11 || vector == 12))
        sluice_guest_return_faulted(frame);
    // External interrupts go to the handlers registered with the APIC layer,
    // which sends the EOI; exceptions (and anything before the APIC is up)
    // stay fatal.
    if (vector >= exception_vector_count && vector < interrupt_vector_count &&
        apic::handle_external_interrupt(static_cast<uint8_t>(vector)))
        return;
    if (reporting) finish_fail("CPU exception %u while reporting an earlier one", vector);
    reporting = true;

    const char* mnemonic = exception_mnemonic(vector);
    if (vector < exception_vector_count) {
        console_write_line("x86: error: CPU exception %u %s (%s), error code 0x%llx", vector, mnemonic,
                           exception_description(vector), static_cast<unsigned long long>(frame->error_code));
    } else {
        console_write_line("x86: error: unexpected interrupt, vector %u", vector);
    }
    console_write_line("x86: error:   rip 0x%016llx  cs 0x%04llx  rflags 0x%016llx",
                       static_cast<unsigned long long>(frame->rip), static_cast<unsigned long long>(frame->cs),
                       static_cast<unsigned long long>(frame->rflags));
    console_write_line("x86: error:   rsp 0x%016llx  ss 0x%04llx", static_cast<unsigned long long>(frame->rsp),
                       static_cast<unsigned long long>(frame->ss));
    console_write_line("x86: error:   cr2 0x%016llx  cr3 0x%016llx", static_cast<unsigned long long>(fault_address),
                       static_cast<unsigned long long>(read_cr3()));
    const auto value = [](uint64_t register_value) { return static_cast<unsigned long long>(register_value); };
    console_write_line("x86: error:   rax 0x%016llx  rbx 0x%016llx  rcx 0x%016llx  rdx 0x%016llx", value(frame->rax),
                       value(frame->rbx), value(frame->rcx), value(frame->rdx));
    console_write_line("x86: error:   rsi 0x%016llx  rdi 0x%016llx  rbp 0x%016llx  r8  0x%016llx", value(frame->rsi),
                       value(frame->rdi), value(frame->rbp), value(frame->r8));
    console_write_line("x86: error:   r9  0x%016llx  r10 0x%016llx  r11 0x%016llx  r12 0x%016llx", value(frame->r9),
                       value(frame->r10), value(frame->r11), value(frame->r12));
    console_write_line("x86: error:   r13 0x%016llx  r14 0x%016llx  r15 0x%016llx", value(frame->r13),
                       value(frame->r14), value(frame->r15));
    if (vector == exception_page_fault) report_page_fault(*frame, fault_address);
    if ((vector == exception_page_fault || vector == exception_double_fault) && is_boot_stack_guard(fault_address))
        console_write_line("x86: error:   stack overflow: 0x%016llx is the boot stack's guard page", value(fault_address));

    if (vector < exception_vector_count)
        finish_fail("CPU exception %s%s%u at rip 0x%llx", mnemonic, *mnemonic ? ", vector " : "vector ", vector,
                    value(frame->rip));
    finish_fail("unexpected interrupt, vector %u", vector);
}
