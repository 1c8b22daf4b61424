// Helpers shared by the multiboot2 and PVH parsers (internal to boot/).
#pragma once

#include "boot/boot_information.hpp"

namespace sluice::boot::detail {

// Logs "boot: warning: ..." and counts it in information.warning_count.
void warn(BootInformation& information, const char* pattern, ...) __attribute__((format(printf, 2, 3)));

// Records memory the loader's structures occupy.
void add_occupied(BootInformation& information, PhysicalAddress base, uint64_t length);

struct StringCopy {
    size_t length = 0;          // characters copied (without the NUL)
    uint64_t scanned = 0;       // bytes of the source examined, the NUL included when found
    bool terminated = false;    // a NUL was found within the limit
    bool truncated = false;     // the destination was too small
    bool unreadable = false;    // a byte within the limit could not be read
};

// Copies the NUL-terminated string at address into destination (always
// NUL-terminated), reading at most limit bytes of the source.
StringCopy copy_string(const PhysicalMemory& memory, PhysicalAddress address, uint64_t limit, char* destination,
                       size_t capacity);

// Adds one memory map entry, warning about zero-length, wrapping entries and
// a full map (once). source names the structure for the message.
void add_memory_region(BootInformation& information, PhysicalAddress base, uint64_t length, MemoryType type,
                       const char* source, size_t index);

}  // namespace sluice::boot::detail
