// The PV test kernels' runtime: hypercalls through the hypercall page, the
// console (console_io), one-line checks, traps taken the PV way (bounce
// frames, HYPERVISOR_iret), and the page-table helpers the checks share.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "console_runtime.hpp"
#include "xen_abi.hpp"

// --- Assembly (entry.S) ---------------------------------------------------------
extern "C" {
extern uint8_t hypercall_page[4096];
extern uint64_t entry_start_info;
extern uint64_t entry_stack_pointer;
extern uint16_t entry_code_selector;
extern uint16_t entry_stack_selector;
extern uint64_t trap_recovery;
extern uint8_t kernel_stack_top[];

long hypercall_raw(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long hypercall_direct(uint64_t number, uint64_t a1, uint64_t a2);
uint64_t iret_to_self(uint64_t value);

void trap_entry_0();
void trap_entry_1();
void trap_entry_3();
void trap_entry_4();
void trap_entry_5();
void trap_entry_6();
void trap_entry_7();
void trap_entry_10();
void trap_entry_11();
void trap_entry_12();
void trap_entry_13();
void trap_entry_14();
void trap_entry_16();
void trap_entry_17();
void trap_entry_19();
void event_callback_entry();
void failsafe_callback_entry();
void syscall_callback_entry();

void probe_write64(volatile uint64_t* address, uint64_t value);
uint64_t probe_read64(const volatile uint64_t* address);
void probe_divide_error();
void probe_breakpoint();
void probe_invalid_opcode();
void probe_single_step();
void probe_non_canonical_read();
void probe_forced_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
void probe_write_cr3(uint64_t value);
uint64_t probe_read_cr3();
uint64_t probe_read_cr0();
uint64_t probe_read_cr4();
uint64_t probe_rdmsr(uint32_t msr);
uint8_t probe_in8(uint16_t port);
void probe_out8(uint16_t port, uint8_t value);
uint32_t probe_in32(uint16_t port);
void probe_out32(uint16_t port, uint32_t value);
uint64_t probe_fs_read64();
uint64_t probe_gs_read64();
void probe_fnop();
void probe_load_es(uint16_t selector);
uint16_t read_es();
}

namespace guest {

// --- Hypercalls ---------------------------------------------------------------
template <typename... Arguments>
inline long hypercall(unsigned number, Arguments... arguments) {
    static_assert(sizeof...(Arguments) <= 5, "64-bit PV hypercalls take at most five arguments here");
    uint64_t values[5] = {(uint64_t)arguments...};
    return hypercall_raw(number, values[0], values[1], values[2], values[3], values[4]);
}
template <typename T>
inline uint64_t address(T* pointer) {
    return (uint64_t)(uintptr_t)pointer;
}

// --- Traps ----------------------------------------------------------------------
struct TrapFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;  // the bounce frame (cs carries the saved upcall mask above bit 31)
};
inline constexpr uint64_t vector_event = 256;
inline constexpr uint64_t vector_failsafe = 257;
inline constexpr uint64_t vector_syscall = 258;

// The last trap a probe took (cleared by forget_trap()).
struct TrapRecord {
    volatile uint64_t count;
    volatile uint64_t vector;
    volatile uint64_t error_code;
    volatile uint64_t rip;
    volatile uint64_t cs;
    volatile uint64_t cr2;  // vcpu_info.arch.cr2 at a #PF
};
extern TrapRecord last_trap;
void forget_trap();

// Events delivered through the event callback, by port (bounded).
extern volatile uint64_t events_seen[64];
extern volatile uint64_t event_callbacks;

// Traps and callbacks the kernel installs: the trap table and callback_op
// registrations. Return the first failing hypercall's result, or 0.
long install_trap_table();
long register_callbacks();
extern const xen::trap_info trap_table[];

// --- The domain's memory ---------------------------------------------------------
struct Domain {
    const xen::start_info* start_info = nullptr;
    xen::shared_info* shared_info = nullptr;  // after map_shared_info()
    uint64_t virt_base = 0;
    const uint64_t* p2m = nullptr;             // start_info.mfn_list
    uint64_t mapped_pfns = 0;                  // pfns [0, mapped_pfns) are in the initial mapping
};
extern Domain domain;

void set_up_domain(const xen::start_info* start_info, uint64_t virt_base);
inline constexpr uint64_t kernel_page = xen::page_present | xen::page_writable | xen::page_user |
                                        xen::page_accessed | xen::page_dirty;
inline constexpr uint64_t kernel_read_only_page = xen::page_present | xen::page_user | xen::page_accessed;

uint64_t pfn_of(const volatile void* virtual_address);
uint64_t mfn_of(const volatile void* virtual_address);
// The virtual address of machine frame `mfn` inside the initial mapping, or 0.
uint64_t virtual_of_mfn(uint64_t mfn);
// Walks the current (bootstrap) tables; the machine address of va's L1 entry, 0 if not mapped.
uint64_t l1_entry_machine_address(uint64_t virtual_address);
// The L1 entry itself (read through the read-only mapping of the tables), 0 if absent.
uint64_t l1_entry(uint64_t virtual_address);
uint64_t l4_machine_address();

long update_va_mapping(const volatile void* virtual_address, uint64_t entry, uint64_t flags);
long mmu_update_one(uint64_t pointer, uint64_t value);
long mmuext(uint32_t command, uint64_t argument1, uint64_t argument2 = 0);
long map_shared_info(void* window_page);


}  // namespace guest
