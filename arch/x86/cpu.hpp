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
};

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

// Stops this CPU for good: with interrupts off only an NMI or SMI wakes hlt,
// and the loop sends it straight back.
[[noreturn]] inline void halt_forever() {
    for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace sluice::x86
