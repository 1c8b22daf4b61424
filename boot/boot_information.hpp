// What the boot loader told us, in one loader-independent structure.
//
// parse_boot_information() reads the multiboot2 information or the PVH
// hvm_start_info through a PhysicalMemory (so host tests feed it synthetic
// bytes) and copies everything it needs into a BootInformation: nothing in
// it points back into the loader's structures except rsdp_address (for
// multiboot2 the RSDP copy inside the information block, which stays
// reserved because the block is listed in occupied_ranges()).
//
// Malformed input produces one "boot: warning: ..." line per problem naming
// the structure, offset or address and what is wrong; parsing keeps
// everything valid and never reads outside the declared structures.
#pragma once

#include "mm/page_allocator.hpp"

#include <sluice/memory_map.hpp>
#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::boot {

enum class BootLoaderKind : uint8_t {
    multiboot2,  // GRUB's multiboot2 command
    pvh,         // the Xen PVH entry (QEMU -kernel)
};

const char* describe(BootLoaderKind kind);

struct BootModule {
    static constexpr size_t string_capacity = 128;

    PhysicalAddress start = 0;
    PhysicalAddress end = 0;  // one past the last byte
    char string[string_capacity] = {};
    bool string_truncated = false;

    [[nodiscard]] StringView name() const { return StringView(string); }
    [[nodiscard]] PhysicalRange range() const { return PhysicalRange{start, end - start}; }
};

struct BootInformation {
    static constexpr size_t command_line_capacity = 1024;
    static constexpr size_t loader_name_capacity = 64;
    static constexpr size_t module_capacity = 16;
    // The information block (or start_info, its command line, module list
    // and memory map) plus one string per module.
    static constexpr size_t occupied_capacity = 8 + module_capacity;

    BootLoaderKind loader = BootLoaderKind::multiboot2;

    // NUL-terminated copy; truncated (with a warning) beyond the capacity.
    char command_line[command_line_capacity] = {};
    size_t command_line_length = 0;
    bool command_line_truncated = false;

    // The loader's name (multiboot2 tag 2); empty when not given.
    char loader_name[loader_name_capacity] = {};

    // Sanitized: sorted, overlaps resolved, neighbours merged.
    MemoryMap memory_map;
    // Entries that did not fit in memory_map (warned about once).
    size_t dropped_memory_regions = 0;

    // Where the ACPI RSDP is, if the loader said. For multiboot2 this is the
    // RSDP copy inside tag 15 (preferred) or 14.
    Optional<PhysicalAddress> rsdp_address;

    BootModule modules[module_capacity];
    size_t module_count = 0;

    PhysicalRange occupied[occupied_capacity];
    size_t occupied_count = 0;

    // Problems found (each also logged as a warning).
    size_t warning_count = 0;

    [[nodiscard]] StringView command_line_view() const { return StringView(command_line, command_line_length); }
    [[nodiscard]] Span<const BootModule> module_list() const { return Span<const BootModule>(modules, module_count); }
    // Memory the loader's own structures occupy; keep it out of allocation.
    [[nodiscard]] Span<const PhysicalRange> occupied_ranges() const {
        return Span<const PhysicalRange>(occupied, occupied_count);
    }
};

// The boot magic the entry code passes: EAX from a multiboot2 loader, or the
// hvm_start_info magic for the PVH entry.
inline constexpr uint32_t multiboot2_boot_magic = 0x36d76289;
inline constexpr uint32_t pvh_boot_magic = 0x336ec578;

// Fills information (which should be freshly constructed) from the structure
// at address. Fails (Error::unsupported) for an unknown magic,
// (Error::out_of_range) when the structure's header can't be read and
// (Error::malformed) when its header is unusable; otherwise succeeds, with
// warnings for whatever had to be skipped.
[[nodiscard]] Status parse_boot_information(uint32_t boot_magic, PhysicalAddress address,
                                            const PhysicalMemory& memory, BootInformation& information);

[[nodiscard]] Status parse_multiboot2(PhysicalAddress address, const PhysicalMemory& memory,
                                      BootInformation& information);
[[nodiscard]] Status parse_pvh(PhysicalAddress address, const PhysicalMemory& memory, BootInformation& information);

}  // namespace sluice::boot
