// PVH start-of-day information parser (Xen public ABI, hvm/start_info.h).
#include "boot/boot_information.hpp"
#include "boot/parse_support.hpp"
#include "boot/pvh.hpp"

namespace sluice::boot {
namespace {

using detail::warn;

// How far past the copy capacity a string is followed to find its end (for
// the occupied range); a string without a NUL that long is treated as cut.
constexpr uint64_t string_scan_limit = 4 * KiB;

// The memory map table holds XEN_HVM_MEMMAP_TYPE_* values, which are the
// e820 (ACPI address range) types; values beyond them are reserved.
MemoryType memory_type(uint32_t type) {
    if (type >= 1 && type <= 7) return static_cast<MemoryType>(type);
    return MemoryType::reserved;
}

void copy_pvh_string(const PhysicalMemory& memory, BootInformation& information, PhysicalAddress address,
                     char* destination, size_t capacity, bool& truncated, size_t* length, const char* what) {
    const detail::StringCopy copy = detail::copy_string(memory, address, string_scan_limit, destination, capacity);
    if (copy.unreadable && !copy.terminated)
        warn(information, "PVH %s at 0x%llx: unreadable after %llu bytes", what, static_cast<unsigned long long>(address),
             static_cast<unsigned long long>(copy.scanned));
    else if (!copy.terminated)
        warn(information, "PVH %s at 0x%llx: no NUL within %llu bytes", what, static_cast<unsigned long long>(address),
             static_cast<unsigned long long>(string_scan_limit));
    if (copy.truncated)
        warn(information, "PVH %s at 0x%llx: longer than %zu bytes, truncated", what,
             static_cast<unsigned long long>(address), capacity - 1);
    truncated = copy.truncated;
    if (length != nullptr) *length = copy.length;
    detail::add_occupied(information, address, copy.scanned);
}

void parse_modules(const PhysicalMemory& memory, BootInformation& information, const pvh::HvmStartInfo& start) {
    if (start.nr_modules == 0) return;
    if (start.modlist_paddr == 0) {
        warn(information, "PVH start info: nr_modules %u but modlist_paddr is 0; modules ignored", start.nr_modules);
        return;
    }
    uint32_t count = start.nr_modules;
    if (count > BootInformation::module_capacity) {
        warn(information, "PVH start info: %u modules, only the first %zu are used", count,
             BootInformation::module_capacity);
        count = BootInformation::module_capacity;
    }
    detail::add_occupied(information, start.modlist_paddr, uint64_t{count} * sizeof(pvh::HvmModlistEntry));
    for (uint32_t index = 0; index < count; ++index) {
        pvh::HvmModlistEntry entry;
        const PhysicalAddress at = start.modlist_paddr + uint64_t{index} * sizeof entry;
        if (!memory.read_bytes(at, &entry, sizeof entry).ok()) {
            warn(information, "PVH module list entry %u at 0x%llx unreadable; the rest are ignored", index,
                 static_cast<unsigned long long>(at));
            return;
        }
        if (entry.paddr + entry.size < entry.paddr) {
            warn(information, "PVH module %u: paddr 0x%llx size 0x%llx wraps, ignored", index,
                 static_cast<unsigned long long>(entry.paddr), static_cast<unsigned long long>(entry.size));
            continue;
        }
        BootModule& module = information.modules[information.module_count++];
        module.start = entry.paddr;
        module.end = entry.paddr + entry.size;
        if (entry.cmdline_paddr != 0)
            copy_pvh_string(memory, information, entry.cmdline_paddr, module.string, BootModule::string_capacity,
                            module.string_truncated, nullptr, "module command line");
    }
}

void parse_memory_map(const PhysicalMemory& memory, BootInformation& information, const pvh::HvmStartInfo& start) {
    if (start.memmap_entries == 0 || start.memmap_paddr == 0) {
        warn(information, "PVH start info (version %u) has no memory map", start.version);
        return;
    }
    const uint32_t count = start.memmap_entries;
    const uint64_t table_size = uint64_t{count} * sizeof(pvh::HvmMemmapTableEntry);
    detail::add_occupied(information, start.memmap_paddr, table_size);
    for (uint32_t index = 0; index < count; ++index) {
        pvh::HvmMemmapTableEntry entry;
        const PhysicalAddress at = start.memmap_paddr + uint64_t{index} * sizeof entry;
        if (!memory.read_bytes(at, &entry, sizeof entry).ok()) {
            warn(information, "PVH memory map entry %u at 0x%llx unreadable; the rest are ignored", index,
                 static_cast<unsigned long long>(at));
            return;
        }
        detail::add_memory_region(information, entry.addr, entry.size, memory_type(entry.type), "PVH memory map",
                                  index);
        if (information.dropped_memory_regions > 0) return;
    }
}

}  // namespace

Status parse_pvh(PhysicalAddress address, const PhysicalMemory& memory, BootInformation& information) {
    information.loader = BootLoaderKind::pvh;
    pvh::HvmStartInfo start{};
    if (!memory.read_bytes(address, &start, pvh::start_info_version_0_size).ok()) {
        warn(information, "PVH start info at 0x%llx is not readable", static_cast<unsigned long long>(address));
        return Error::out_of_range;
    }
    if (start.magic != pvh::start_magic_value) {
        warn(information, "PVH start info at 0x%llx: magic 0x%08x instead of 0x%08x, ignored",
             static_cast<unsigned long long>(address), start.magic, pvh::start_magic_value);
        return Error::malformed;
    }
    size_t size = pvh::start_info_version_0_size;
    if (start.version >= 1) {
        if (memory.read_bytes(address, &start, sizeof start).ok()) {
            size = sizeof start;
        } else {
            warn(information, "PVH start info at 0x%llx: version %u but its memory map fields are unreadable",
                 static_cast<unsigned long long>(address), start.version);
            start.memmap_paddr = 0;
            start.memmap_entries = 0;
        }
    }
    detail::add_occupied(information, address, size);

    if (start.cmdline_paddr != 0)
        copy_pvh_string(memory, information, start.cmdline_paddr, information.command_line,
                        BootInformation::command_line_capacity, information.command_line_truncated,
                        &information.command_line_length, "command line");
    parse_modules(memory, information, start);
    if (start.rsdp_paddr != 0) information.rsdp_address = start.rsdp_paddr;
    parse_memory_map(memory, information, start);
    information.memory_map.sanitize();
    return success();
}

}  // namespace sluice::boot
