// Thin wrappers around privileged x86-64 instructions (Intel SDM Vol. 2).
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

// Control register bits (Intel SDM Vol. 3A, "Control Registers").
inline constexpr uint64_t cr0_write_protect = uint64_t{1} << 16;
inline constexpr uint64_t cr0_paging = uint64_t{1} << 31;
inline constexpr uint64_t cr4_physical_address_extension = uint64_t{1} << 5;

// Model-specific registers (Intel SDM Vol. 4).
enum class ModelSpecificRegister : uint32_t {
    extended_feature_enable = 0xc0000080,  // IA32_EFER
    system_call_target = 0xc0000081,       // IA32_STAR: SYSCALL/SYSRET selectors
    long_mode_system_call_target = 0xc0000082,  // IA32_LSTAR: 64-bit SYSCALL entry
    compatibility_system_call_target = 0xc0000083,  // IA32_CSTAR (AMD): compatibility-mode SYSCALL entry
    system_call_flag_mask = 0xc0000084,    // IA32_FMASK: RFLAGS bits SYSCALL clears
    fs_base = 0xc0000100,                  // IA32_FS_BASE
    gs_base = 0xc0000101,                  // IA32_GS_BASE
    kernel_gs_base = 0xc0000102,           // IA32_KERNEL_GS_BASE: what SWAPGS exchanges with GS_BASE
    vm_cr = 0xc0010114,                    // AMD VM_CR (APM Vol. 2, 15.30.1): SVMDIS, LOCK
    vm_hsave_pa = 0xc0010117,              // AMD VM_HSAVE_PA (15.30.4): the host save area
};

// IA32_EFER bits (Intel SDM Vol. 3A, "IA32_EFER MSR").
inline constexpr uint64_t efer_system_call_enable = uint64_t{1} << 0;

// RFLAGS bits (Intel SDM Vol. 1, "EFLAGS Register").
inline constexpr uint64_t rflags_carry = uint64_t{1} << 0;
inline constexpr uint64_t rflags_trap = uint64_t{1} << 8;
inline constexpr uint64_t rflags_interrupt = uint64_t{1} << 9;
inline constexpr uint64_t rflags_direction = uint64_t{1} << 10;
inline constexpr uint64_t rflags_io_privilege = uint64_t{3} << 12;
inline constexpr uint64_t rflags_nested_task = uint64_t{1} << 14;
inline constexpr uint64_t rflags_resume = uint64_t{1} << 16;
inline constexpr uint64_t rflags_virtual_8086 = uint64_t{1} << 17;
inline constexpr uint64_t rflags_alignment_check = uint64_t{1} << 18;
inline constexpr uint64_t rflags_virtual_interrupt = uint64_t{1} << 19;
inline constexpr uint64_t rflags_virtual_interrupt_pending = uint64_t{1} << 20;
inline constexpr uint64_t rflags_identification = uint64_t{1} << 21;

inline uint64_t read_cr0() {
    uint64_t value;
    asm volatile("mov %%cr0, %0" : "=r"(value));
    return value;
}
inline uint64_t read_cr2() {
    uint64_t value;
    asm volatile("mov %%cr2, %0" : "=r"(value));
    return value;
}
inline uint64_t read_cr3() {
    uint64_t value;
    asm volatile("mov %%cr3, %0" : "=r"(value));
    return value;
}
inline void write_cr3(uint64_t value) { asm volatile("mov %0, %%cr3" : : "r"(value) : "memory"); }
inline uint64_t read_cr4() {
    uint64_t value;
    asm volatile("mov %%cr4, %0" : "=r"(value));
    return value;
}

inline uint64_t read_msr(ModelSpecificRegister which) {
    uint32_t low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(static_cast<uint32_t>(which)));
    return (uint64_t{high} << 32) | low;
}
inline void write_msr(ModelSpecificRegister which, uint64_t value) {
    asm volatile("wrmsr"
                 :
                 : "c"(static_cast<uint32_t>(which)), "a"(static_cast<uint32_t>(value)),
                   "d"(static_cast<uint32_t>(value >> 32))
                 : "memory");
}

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult result;
    asm volatile("cpuid" : "=a"(result.eax), "=b"(result.ebx), "=c"(result.ecx), "=d"(result.edx)
                 : "a"(leaf), "c"(subleaf));
    return result;
}

// Reloading CR3 drops every non-global TLB entry.
inline void flush_tlb() { write_cr3(read_cr3()); }

inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }
// STI's one-instruction shadow makes "sti; hlt" wait for an interrupt
// without a window in which one could arrive before the HLT.
inline void wait_for_interrupt() { asm volatile("sti; hlt; cli" ::: "memory"); }
// Opens a window of one instruction after STI's shadow, so interrupts
// already pending are taken, then closes it again.
inline void take_pending_interrupts() { asm volatile("sti; nop; cli" ::: "memory"); }
inline void swap_gs_bases() { asm volatile("swapgs" ::: "memory"); }
inline void invalidate_page(uint64_t address) { asm volatile("invlpg (%0)" : : "r"(address) : "memory"); }

// Stops this CPU for good: with interrupts off only an NMI or SMI wakes hlt,
// and the loop sends it straight back.
[[noreturn]] inline void halt_forever() {
    for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace sluice::x86
