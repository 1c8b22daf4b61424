// Multiboot2 boot information parser (Multiboot2 specification 2.0, 3.6).
#include "boot/boot_information.hpp"
#include "boot/multiboot2.hpp"
#include "boot/parse_support.hpp"

#include <sluice/utility.hpp>

namespace sluice::boot {
namespace {

using detail::warn;

// GRUB's information block is a few KiB; anything claiming more than this
// is garbage, not a real block.
constexpr uint32_t maximum_total_size = 1 * MiB;

constexpr char rsdp_signature[8] = {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '};

// Specification 3.6.8: 1 available, 3 ACPI information, 4 reserved memory to
// preserve on hibernation (ACPI NVS), 5 defective RAM; any other value is
// reserved.
MemoryType memory_type(uint32_t type) {
    switch (type) {
    case 1: return MemoryType::ram;
    case 3: return MemoryType::acpi_reclaimable;
    case 4: return MemoryType::acpi_nvs;
    case 5: return MemoryType::unusable;
    default: return MemoryType::reserved;
    }
}

struct Parser {
    const PhysicalMemory& memory;
    BootInformation& information;
    PhysicalAddress base;  // of the information block
    bool saw_memory_map = false;
    bool saw_new_rsdp = false;

    // A tag's payload string: the bytes after the header up to the first NUL.
    void copy_tag_string(PhysicalAddress tag, uint32_t size, uint32_t payload_offset, char* destination,
                         size_t capacity, bool& truncated, size_t* length, const char* what) {
        const detail::StringCopy copy =
            detail::copy_string(memory, tag + payload_offset, size - payload_offset, destination, capacity);
        if (!copy.terminated)
            warn(information, "multiboot2 %s tag at offset 0x%llx: string not NUL-terminated within the tag", what,
                 static_cast<unsigned long long>(tag - base));
        if (copy.truncated)
            warn(information, "multiboot2 %s tag at offset 0x%llx: string longer than %zu bytes, truncated", what,
                 static_cast<unsigned long long>(tag - base), capacity - 1);
        truncated = copy.truncated;
        if (length != nullptr) *length = copy.length;
    }

    void command_line(PhysicalAddress tag, uint32_t size) {
        copy_tag_string(tag, size, sizeof(multiboot2::TagHeader), information.command_line,
                        BootInformation::command_line_capacity, information.command_line_truncated,
                        &information.command_line_length, "command line");
    }

    void loader_name(PhysicalAddress tag, uint32_t size) {
        bool truncated = false;
        copy_tag_string(tag, size, sizeof(multiboot2::TagHeader), information.loader_name,
                        BootInformation::loader_name_capacity, truncated, nullptr, "boot loader name");
    }

    void module(PhysicalAddress tag, uint32_t size) {
        const unsigned long long offset = tag - base;
        if (size < sizeof(multiboot2::ModuleTag)) {
            warn(information, "multiboot2 module tag at offset 0x%llx: size %u smaller than %zu, ignored", offset, size,
                 sizeof(multiboot2::ModuleTag));
            return;
        }
        multiboot2::ModuleTag header;
        if (!memory.read_bytes(tag, &header, sizeof header).ok()) return;
        if (header.mod_end < header.mod_start) {
            warn(information, "multiboot2 module tag at offset 0x%llx: end 0x%x below start 0x%x, ignored", offset,
                 header.mod_end, header.mod_start);
            return;
        }
        if (information.module_count == BootInformation::module_capacity) {
            warn(information, "multiboot2 module tag at offset 0x%llx: more than %zu modules, ignored", offset,
                 BootInformation::module_capacity);
            return;
        }
        BootModule& entry = information.modules[information.module_count++];
        entry.start = header.mod_start;
        entry.end = header.mod_end;
        copy_tag_string(tag, size, sizeof(multiboot2::ModuleTag), entry.string, BootModule::string_capacity,
                        entry.string_truncated, nullptr, "module");
    }

    void memory_map(PhysicalAddress tag, uint32_t size) {
        const unsigned long long offset = tag - base;
        if (size < sizeof(multiboot2::MemoryMapTag)) {
            warn(information, "multiboot2 memory map tag at offset 0x%llx: size %u smaller than %zu, ignored", offset,
                 size, sizeof(multiboot2::MemoryMapTag));
            return;
        }
        multiboot2::MemoryMapTag header;
        if (!memory.read_bytes(tag, &header, sizeof header).ok()) return;
        if (header.entry_size < sizeof(multiboot2::MemoryMapEntry)) {
            warn(information, "multiboot2 memory map tag at offset 0x%llx: entry_size %u smaller than %zu, ignored",
                 offset, header.entry_size, sizeof(multiboot2::MemoryMapEntry));
            return;
        }
        if (header.entry_size % 8 != 0)
            warn(information, "multiboot2 memory map tag at offset 0x%llx: entry_size %u not a multiple of 8", offset,
                 header.entry_size);
        const uint32_t payload = size - static_cast<uint32_t>(sizeof header);
        if (payload % header.entry_size != 0)
            warn(information,
                 "multiboot2 memory map tag at offset 0x%llx: %u bytes of entries is not a multiple of entry_size %u; "
                 "the partial entry is ignored",
                 offset, payload, header.entry_size);
        saw_memory_map = true;
        const uint32_t count = payload / header.entry_size;
        for (uint32_t index = 0; index < count; ++index) {
            multiboot2::MemoryMapEntry entry;
            const PhysicalAddress at = tag + sizeof header + uint64_t{index} * header.entry_size;
            if (!memory.read_bytes(at, &entry, sizeof entry).ok()) {
                warn(information, "multiboot2 memory map entry %u at 0x%llx unreadable", index,
                     static_cast<unsigned long long>(at));
                return;
            }
            detail::add_memory_region(information, entry.base_addr, entry.length, memory_type(entry.type),
                                      "multiboot2 memory map", index);
        }
    }

    void rsdp(PhysicalAddress tag, uint32_t size, bool new_rsdp) {
        const unsigned long long offset = tag - base;
        const size_t minimum = new_rsdp ? multiboot2::rsdp_revision_2_length : multiboot2::rsdp_revision_0_length;
        const char* name = new_rsdp ? "new RSDP" : "old RSDP";
        if (size < sizeof(multiboot2::TagHeader) + minimum) {
            warn(information, "multiboot2 ACPI %s tag at offset 0x%llx: size %u too small for an RSDP (%zu bytes), ignored",
                 name, offset, size, minimum);
            return;
        }
        char signature[sizeof rsdp_signature];
        const PhysicalAddress copy = tag + sizeof(multiboot2::TagHeader);
        if (!memory.read_bytes(copy, signature, sizeof signature).ok()) return;
        for (size_t index = 0; index < sizeof signature; ++index) {
            if (signature[index] != rsdp_signature[index]) {
                warn(information, "multiboot2 ACPI %s tag at offset 0x%llx: no \"RSD PTR \" signature, ignored", name,
                     offset);
                return;
            }
        }
        // An ACPI 2.0+ RSDP (with the XSDT) wins over the 1.0 copy.
        if (new_rsdp || !saw_new_rsdp) information.rsdp_address = copy;
        if (new_rsdp) saw_new_rsdp = true;
    }
};

}  // namespace

Status parse_multiboot2(PhysicalAddress address, const PhysicalMemory& memory, BootInformation& information) {
    information.loader = BootLoaderKind::multiboot2;
    multiboot2::InformationHeader header;
    if (!memory.read_bytes(address, &header, sizeof header).ok()) {
        warn(information, "multiboot2 information at 0x%llx is not readable", static_cast<unsigned long long>(address));
        return Error::out_of_range;
    }
    if (!is_aligned(address, multiboot2::tag_alignment))
        warn(information, "multiboot2 information at 0x%llx is not 8-byte aligned", static_cast<unsigned long long>(address));
    uint32_t total_size = header.total_size;
    if (total_size < sizeof header + sizeof(multiboot2::TagHeader) || total_size > maximum_total_size) {
        warn(information, "multiboot2 information at 0x%llx: total_size %u is implausible (16 to %u bytes), ignored",
             static_cast<unsigned long long>(address), total_size, maximum_total_size);
        return Error::malformed;
    }
    uint8_t probe;
    if (!memory.read_bytes(address + total_size - 1, &probe, 1).ok()) {
        // Only part of the block can be read: parse what is there.
        uint32_t readable = sizeof header;
        while (readable < total_size && memory.read_bytes(address + readable, &probe, 1).ok()) ++readable;
        warn(information, "multiboot2 information at 0x%llx: total_size %u, but only %u bytes are readable",
             static_cast<unsigned long long>(address), total_size, readable);
        total_size = readable;
    }
    detail::add_occupied(information, address, total_size);

    Parser parser{memory, information, address};
    uint32_t offset = sizeof header;
    bool ended = false;
    while (offset + sizeof(multiboot2::TagHeader) <= total_size) {
        multiboot2::TagHeader tag;
        const PhysicalAddress tag_address = address + offset;
        if (!memory.read_bytes(tag_address, &tag, sizeof tag).ok()) break;
        if (tag.size < sizeof tag) {
            warn(information, "multiboot2 tag type %u at offset 0x%x: size %u smaller than a tag header; "
                 "the remaining tags are ignored", tag.type, offset, tag.size);
            break;
        }
        if (tag.size > total_size - offset) {
            warn(information, "multiboot2 tag type %u at offset 0x%x: size %u runs past the end of the information "
                 "(total_size %u); it and any later tags are ignored", tag.type, offset, tag.size, total_size);
            break;
        }
        switch (static_cast<multiboot2::TagType>(tag.type)) {
        case multiboot2::TagType::end:
            if (tag.size != sizeof tag)
                warn(information, "multiboot2 end tag at offset 0x%x: size %u instead of 8", offset, tag.size);
            ended = true;
            break;
        case multiboot2::TagType::command_line: parser.command_line(tag_address, tag.size); break;
        case multiboot2::TagType::boot_loader_name: parser.loader_name(tag_address, tag.size); break;
        case multiboot2::TagType::module: parser.module(tag_address, tag.size); break;
        case multiboot2::TagType::memory_map: parser.memory_map(tag_address, tag.size); break;
        case multiboot2::TagType::acpi_old_rsdp: parser.rsdp(tag_address, tag.size, false); break;
        case multiboot2::TagType::acpi_new_rsdp: parser.rsdp(tag_address, tag.size, true); break;
        default: break;  // tags we don't use (framebuffer, ELF sections, ...) are skipped, as the spec allows
        }
        if (ended) break;
        const uint64_t next = align_up(uint64_t{offset} + tag.size, multiboot2::tag_alignment);
        if (next > total_size) break;
        offset = static_cast<uint32_t>(next);
    }
    if (!ended)
        warn(information, "multiboot2 information at 0x%llx: no end tag within total_size %u",
             static_cast<unsigned long long>(address), total_size);
    if (!parser.saw_memory_map) warn(information, "multiboot2 information has no memory map (tag 6)");
    information.memory_map.sanitize();
    return success();
}

}  // namespace sluice::boot
