// Writing cached lines back to memory, for devices whose reads of memory do
// not snoop the processor caches (a VT-d unit with ECAP.C = 0).
#pragma once

#include "arch/x86/cpu.hpp"

#include <sluice/types.hpp>

namespace sluice::x86 {

// CLFLUSH writes a dirty line back and invalidates it (Intel SDM Vol. 2A,
// CLFLUSH); MFENCE orders the flushes before any later store, such as the
// register write that tells the device to look (SDM: CLFLUSH is ordered by
// MFENCE). line is cache_line_size(): CPUID.01H:EBX[15:8] * 8 bytes.
inline uint64_t cache_line_size() {
    const uint64_t line = ((cpuid(1).ebx >> 8) & 0xff) * 8;
    return line == 0 ? 64 : line;
}

inline void write_back_cache_lines(PhysicalAddress address, uint64_t length, uint64_t line) {
    if (length == 0) return;
    const uint64_t end = address + length;
    asm volatile("mfence" ::: "memory");
    for (uint64_t current = address & ~(line - 1); current < end; current += line)
        asm volatile("clflush (%0)" : : "r"(current) : "memory");
    asm volatile("mfence" ::: "memory");
}

}  // namespace sluice::x86
