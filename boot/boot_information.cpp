#include "boot/boot_information.hpp"

#include "boot/parse_support.hpp"

#include <sluice/log.hpp>

namespace sluice::boot {

const char* describe(BootLoaderKind kind) {
    switch (kind) {
    case BootLoaderKind::multiboot2: return "multiboot2";
    case BootLoaderKind::pvh: return "PVH";
    }
    return "unknown";
}

Status parse_boot_information(uint32_t boot_magic, PhysicalAddress address, const PhysicalMemory& memory,
                              BootInformation& information) {
    if (boot_magic == multiboot2_boot_magic) return parse_multiboot2(address, memory, information);
    if (boot_magic == pvh_boot_magic) return parse_pvh(address, memory, information);
    detail::warn(information, "unknown boot magic 0x%08x (expected 0x%08x for multiboot2 or 0x%08x for PVH)",
                 boot_magic, multiboot2_boot_magic, pvh_boot_magic);
    return Error::unsupported;
}

namespace detail {

void warn(BootInformation& information, const char* pattern, ...) {
    ++information.warning_count;
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    log_message_arguments(LogLevel::warning, "boot", pattern, arguments);
    __builtin_va_end(arguments);
}

void add_occupied(BootInformation& information, PhysicalAddress base, uint64_t length) {
    if (length == 0) return;
    if (information.occupied_count == BootInformation::occupied_capacity) {
        warn(information, "more than %zu boot information ranges; 0x%llx-0x%llx is not tracked",
             BootInformation::occupied_capacity, static_cast<unsigned long long>(base),
             static_cast<unsigned long long>(base + length - 1));
        return;
    }
    information.occupied[information.occupied_count++] = PhysicalRange{base, length};
}

StringCopy copy_string(const PhysicalMemory& memory, PhysicalAddress address, uint64_t limit, char* destination,
                       size_t capacity) {
    StringCopy copy;
    while (copy.scanned < limit) {
        char character;
        if (address + copy.scanned < address ||
            !memory.read_bytes(address + copy.scanned, &character, 1).ok()) {
            copy.unreadable = true;
            break;
        }
        ++copy.scanned;
        if (character == '\0') {
            copy.terminated = true;
            break;
        }
        if (copy.length + 1 < capacity) destination[copy.length++] = character;
        else copy.truncated = true;
    }
    if (capacity > 0) destination[copy.length] = '\0';
    return copy;
}

void add_memory_region(BootInformation& information, PhysicalAddress base, uint64_t length, MemoryType type,
                       const char* source, size_t index) {
    if (length == 0) return;  // firmware emits these; they describe nothing
    const Status added = information.memory_map.add(base, length, type);
    if (added.ok()) return;
    if (added.error() == Error::capacity) {
        if (information.dropped_memory_regions++ == 0)
            warn(information, "%s entry %zu: the memory map is full (%zu regions); this and later entries dropped",
                 source, index, MemoryMap::capacity);
    } else {
        warn(information, "%s entry %zu: base 0x%llx length 0x%llx wraps past the end of the address space, ignored",
             source, index, static_cast<unsigned long long>(base), static_cast<unsigned long long>(length));
    }
}

}  // namespace detail
}  // namespace sluice::boot
