#include "arch/x86/hvm/pvh_build.hpp"

#include <common/elf.hpp>
#include <common/xen_elf_notes.hpp>

#include <sluice/format.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::hvm {
namespace {

constexpr uint64_t four_gib = uint64_t{1} << 32;

// The guest-physical type of a host region (start_info.h: the ACPI address
// range types, which MemoryType already uses).
uint32_t memmap_type(MemoryType type) { return static_cast<uint32_t>(type); }

bool inside_ram(const MemoryMap& map, uint64_t start, uint64_t length) {
    return length != 0 && start + length > start && map.covers(start, length, MemoryType::ram);
}

Error refuse(PvhBuildDiagnostic& diagnostic, Error error, const char* pattern, ...) __attribute__((format(printf, 3, 4)));
Error refuse(PvhBuildDiagnostic& diagnostic, Error error, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    (void)format_arguments(diagnostic.message, sizeof diagnostic.message, pattern, arguments);
    __builtin_va_end(arguments);
    return error;
}

}  // namespace

Result<MemoryMap> compute_pvh_memory_map(const MemoryMap& host, uint64_t ram_bytes) {
    MemoryMap guest;
    uint64_t remaining = align_down(ram_bytes, page_size);
    for (const MemoryRegion& region : host.regions()) {
        if (region.type != MemoryType::ram) {
            SLUICE_TRY(guest.add(region.base, region.length, region.type));
            continue;
        }
        // Whole pages of RAM only; the partial pages at the edges stay reserved.
        const uint64_t start = align_up(region.base, page_size);
        const uint64_t end = align_down(region.end(), page_size);
        if (start > region.base) SLUICE_TRY(guest.add(region.base, min(start, region.end()) - region.base, MemoryType::reserved));
        if (end <= start) continue;
        const uint64_t taken = min(remaining, end - start);
        if (taken != 0) SLUICE_TRY(guest.add(start, taken, MemoryType::ram));
        if (start + taken < end) SLUICE_TRY(guest.add(start + taken, end - start - taken, MemoryType::unusable));
        if (end < region.end()) SLUICE_TRY(guest.add(end, region.end() - end, MemoryType::reserved));
        remaining -= taken;
    }
    guest.sanitize();
    return guest;
}

Result<PvhInitialState> build_pvh_dom0(const PvhBuildInputs& inputs, GuestPhysicalWriter& writer,
                                       PvhBuildDiagnostic& diagnostic) {
    const MemoryMap& map = *inputs.guest_memory_map;
    elf::Diagnostic elf_diagnostic;
    const Result<elf::Image> parsed = elf::Image::parse(inputs.kernel, elf_diagnostic);
    if (!parsed.ok())
        return refuse(diagnostic, parsed.error(), "dom0 kernel: %s at offset 0x%llx: %s", elf_diagnostic.field,
                      static_cast<unsigned long long>(elf_diagnostic.offset), elf_diagnostic.reason);
    const elf::Image& image = parsed.value();
    const Result<xen_elf::XenNotes> notes = xen_elf::read_xen_notes(image, elf_diagnostic);
    if (!notes.ok())
        return refuse(diagnostic, notes.error(), "dom0 kernel: %s at offset 0x%llx: %s", elf_diagnostic.field,
                      static_cast<unsigned long long>(elf_diagnostic.offset), elf_diagnostic.reason);
    if (!notes.value().phys32_entry.has_value())
        return refuse(diagnostic, Error::malformed,
                      "dom0 kernel: XEN_ELFNOTE_PHYS32_ENTRY: absent, so the kernel has no PVH entry point");
    const uint64_t entry = notes.value().phys32_entry.value();

    // 2. The segments at their physical addresses.
    PvhInitialState state;
    state.kernel_start = ~uint64_t{0};
    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t start = segment.physical_address;
        const uint64_t end = start + segment.memory_size;
        if (end < start || end > four_gib || !inside_ram(map, start, segment.memory_size))
            return refuse(diagnostic, Error::out_of_range,
                          "dom0 kernel: p_paddr at offset 0x%llx: segment 0x%llx-0x%llx lies outside dom0's RAM below "
                          "4 GiB",
                          static_cast<unsigned long long>(segment.header_offset + 24),
                          static_cast<unsigned long long>(start), static_cast<unsigned long long>(end - 1));
        const Span<const uint8_t> contents = image.contents(segment);
        SLUICE_TRY(writer.write(start, contents.data(), contents.size()));
        if (segment.memory_size > segment.file_size)
            SLUICE_TRY(writer.zero(start + segment.file_size, segment.memory_size - segment.file_size));
        state.kernel_start = min(state.kernel_start, start);
        state.kernel_end = max(state.kernel_end, end);
    }
    bool entry_inside = false;
    for (const elf::LoadSegment& segment : image.segments())
        if (entry >= segment.physical_address && entry < segment.physical_address + segment.memory_size)
            entry_inside = true;
    if (!entry_inside)
        return refuse(diagnostic, Error::out_of_range,
                      "dom0 kernel: XEN_ELFNOTE_PHYS32_ENTRY at offset 0x%llx: entry 0x%llx lies outside the kernel's "
                      "segments",
                      static_cast<unsigned long long>(notes.value().note_offset(xen_elf::XEN_ELFNOTE_PHYS32_ENTRY)),
                      static_cast<unsigned long long>(entry));

    // 3. The start-of-day structures after the kernel, in one block.
    const size_t memmap_entries = map.size();
    const uint64_t start_info = align_up(state.kernel_end, page_size);
    const uint64_t modlist = start_info + sizeof(xen::hvm_start_info);
    const uint64_t memmap = align_up(modlist + sizeof(xen::hvm_modlist_entry), 8);
    const uint64_t command_line = memmap + memmap_entries * sizeof(xen::hvm_memmap_table_entry);
    const uint64_t block_end = command_line + inputs.command_line.length() + 1;
    const uint64_t initrd = align_up(block_end, page_size);
    const uint64_t initrd_end = initrd + inputs.initrd.size();
    state.highest_used = inputs.initrd.empty() ? block_end : initrd_end;
    if (state.highest_used > four_gib || !inside_ram(map, start_info, state.highest_used - start_info))
        return refuse(diagnostic, Error::out_of_range,
                      "dom0 start of day: 0x%llx-0x%llx (start info, memory map, command line, initrd) lies outside "
                      "dom0's RAM below 4 GiB",
                      static_cast<unsigned long long>(start_info), static_cast<unsigned long long>(state.highest_used - 1));

    xen::hvm_start_info information{};
    information.magic = xen::XEN_HVM_START_MAGIC_VALUE;
    information.version = 1;
    information.flags = inputs.flags;
    information.nr_modules = inputs.initrd.empty() ? 0 : 1;
    information.modlist_paddr = inputs.initrd.empty() ? 0 : modlist;
    information.cmdline_paddr = command_line;
    information.rsdp_paddr = inputs.rsdp;
    information.memmap_paddr = memmap;
    information.memmap_entries = static_cast<uint32_t>(memmap_entries);
    SLUICE_TRY(writer.write(start_info, &information, sizeof information));
    if (!inputs.initrd.empty()) {
        const xen::hvm_modlist_entry module{initrd, inputs.initrd.size(), 0, 0};
        SLUICE_TRY(writer.write(modlist, &module, sizeof module));
        SLUICE_TRY(writer.write(initrd, inputs.initrd.data(), inputs.initrd.size()));
        state.initrd_start = initrd;
        state.initrd_length = inputs.initrd.size();
    }
    for (size_t index = 0; index < memmap_entries; ++index) {
        const MemoryRegion& region = map.regions()[index];
        const xen::hvm_memmap_table_entry entry_value{region.base, region.length, memmap_type(region.type), 0};
        SLUICE_TRY(writer.write(memmap + index * sizeof entry_value, &entry_value, sizeof entry_value));
    }
    SLUICE_TRY(writer.write(command_line, inputs.command_line.data(), inputs.command_line.length()));
    SLUICE_TRY(writer.zero(command_line + inputs.command_line.length(), 1));

    state.entry = static_cast<uint32_t>(entry);
    state.start_info = static_cast<uint32_t>(start_info);
    return state;
}

}  // namespace sluice::x86::hvm
