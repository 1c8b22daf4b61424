// Minimal ELF-64 images of a PV kernel for the dom0 builder's tests and benchmark, written from the
// ELF-64 Object File Format (header, program headers, note entries) and Xen's elfnote.h note types,
// independently of common/elf.*: two PT_LOAD segments (text; data + bss) and one PT_NOTE of "Xen" notes.
#pragma once

#include <sluice/optional.hpp>
#include <sluice/types.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace sluice::testing::pv_kernel {

struct TestSegment {
    uint64_t virtual_address = 0;
    uint64_t physical_address = 0;
    std::vector<uint8_t> bytes;
    uint64_t memory_size = 0;
};

struct TestNote {
    uint32_t type = 0;
    std::vector<uint8_t> descriptor;
};

inline TestNote string_note(uint32_t type, const std::string& text) {
    TestNote note{type, std::vector<uint8_t>(text.begin(), text.end())};
    note.descriptor.push_back(0);
    return note;
}

inline TestNote number_note(uint32_t type, uint64_t value, size_t size = 8) {
    TestNote note{type, {}};
    for (size_t index = 0; index < size; ++index) note.descriptor.push_back(static_cast<uint8_t>(value >> (8 * index)));
    return note;
}

inline void put(std::vector<uint8_t>& bytes, size_t offset, uint64_t value, size_t size) {
    if (bytes.size() < offset + size) bytes.resize(offset + size, 0);
    for (size_t index = 0; index < size; ++index) bytes[offset + index] = static_cast<uint8_t>(value >> (8 * index));
}

inline constexpr size_t header_size = 64, program_header_size = 56;

inline std::vector<uint8_t> write_elf(const std::vector<TestSegment>& segments, const std::vector<TestNote>& notes,
                               uint64_t entry) {
    std::vector<uint8_t> notes_blob;
    for (const TestNote& note : notes) {
        const size_t at = notes_blob.size();
        put(notes_blob, at, 4, 4);                                   // namesz: "Xen\0"
        put(notes_blob, at + 4, note.descriptor.size(), 4);         // descsz
        put(notes_blob, at + 8, note.type, 4);
        notes_blob.insert(notes_blob.end(), {'X', 'e', 'n', 0});
        notes_blob.insert(notes_blob.end(), note.descriptor.begin(), note.descriptor.end());
        while (notes_blob.size() % 4 != 0) notes_blob.push_back(0);
    }
    const size_t program_headers = segments.size() + (notes.empty() ? 0 : 1);
    const size_t notes_offset = header_size + program_headers * program_header_size;
    std::vector<uint8_t> bytes(notes_offset, 0);
    bytes.insert(bytes.end(), notes_blob.begin(), notes_blob.end());

    const uint8_t identity[16] = {0x7f, 'E', 'L', 'F', 2 /*ELFCLASS64*/, 1 /*ELFDATA2LSB*/, 1 /*EV_CURRENT*/};
    std::memcpy(bytes.data(), identity, sizeof identity);
    put(bytes, 16, 2, 2);                    // e_type ET_EXEC
    put(bytes, 18, 62, 2);                   // e_machine EM_X86_64
    put(bytes, 20, 1, 4);                    // e_version
    put(bytes, 24, entry, 8);                // e_entry
    put(bytes, 32, header_size, 8);          // e_phoff
    put(bytes, 40, 0, 8);                    // e_shoff: no sections
    put(bytes, 52, header_size, 2);          // e_ehsize
    put(bytes, 54, program_header_size, 2);  // e_phentsize
    put(bytes, 56, program_headers, 2);      // e_phnum

    size_t index = 0;
    for (const TestSegment& segment : segments) {
        while (bytes.size() % 4096 != 0) bytes.push_back(0);
        const size_t data_offset = bytes.size();
        bytes.insert(bytes.end(), segment.bytes.begin(), segment.bytes.end());
        const size_t at = header_size + index++ * program_header_size;
        put(bytes, at, 1, 4);                             // PT_LOAD
        put(bytes, at + 4, 7, 4);                         // PF_R | PF_W | PF_X
        put(bytes, at + 8, data_offset, 8);               // p_offset
        put(bytes, at + 16, segment.virtual_address, 8);  // p_vaddr
        put(bytes, at + 24, segment.physical_address, 8); // p_paddr
        put(bytes, at + 32, segment.bytes.size(), 8);     // p_filesz
        put(bytes, at + 40, segment.memory_size, 8);      // p_memsz
        put(bytes, at + 48, 4096, 8);                     // p_align
    }
    if (!notes.empty()) {
        const size_t at = header_size + index * program_header_size;
        put(bytes, at, 4, 4);                     // PT_NOTE
        put(bytes, at + 4, 4, 4);                 // PF_R
        put(bytes, at + 8, notes_offset, 8);
        put(bytes, at + 32, notes_blob.size(), 8);
        put(bytes, at + 40, notes_blob.size(), 8);
        put(bytes, at + 48, 4, 8);
    }
    return bytes;
}

// elfnote.h note types.
inline constexpr uint32_t ENTRY = 1, HYPERCALL_PAGE = 2, VIRT_BASE = 3, PADDR_OFFSET = 4, XEN_VERSION = 5, GUEST_OS = 6,
                   LOADER = 8, PAE_MODE = 9, FEATURES = 10, MOD_START_PFN = 16, SUPPORTED_FEATURES = 17;

// A kernel description the tests vary.
struct KernelSpec {
    Optional<uint64_t> virt_base;
    Optional<uint64_t> paddr_offset;
    uint64_t physical_start = 0x100000;  // p_paddr of the text segment
    uint64_t text_size = 0x3000;         // file bytes of the text segment
    uint64_t bss_size = 0x2800;          // memory beyond the file bytes (second segment, data + bss)
    uint64_t entry_offset = 0x10;        // from the kernel start
    Optional<uint64_t> hypercall_page_offset = uint64_t{0x1000};
    bool entry_note = true;
    std::string features = "pae_pgdir_above_4gb";
    Optional<uint32_t> supported_features;
    bool mod_start_pfn = false;
    std::string loader = "generic";
    std::string xen_version = "xen-3.0";
    std::vector<TestNote> extra_notes;
};

// The byte of the test kernel at offset (a pattern no page of zeros or 0xa5 matches).
inline uint8_t text_byte(uint64_t offset) { return static_cast<uint8_t>(offset * 7 + 3); }
inline constexpr uint64_t data_file_size = 0x1234;
inline uint8_t data_byte(uint64_t offset) { return static_cast<uint8_t>(offset * 13 + 1); }

inline uint64_t kernel_virtual_start(const KernelSpec& spec) {
    return spec.physical_start + spec.virt_base.value_or(0) - spec.paddr_offset.value_or(0);
}

inline std::vector<uint8_t> build_kernel(const KernelSpec& spec) {
    const uint64_t start = kernel_virtual_start(spec);
    TestSegment text;
    text.virtual_address = start;
    text.physical_address = spec.physical_start;
    for (uint64_t offset = 0; offset < spec.text_size; ++offset) text.bytes.push_back(text_byte(offset));
    text.memory_size = spec.text_size;
    TestSegment data;
    data.virtual_address = start + spec.text_size;
    data.physical_address = spec.physical_start + spec.text_size;
    for (uint64_t offset = 0; offset < data_file_size; ++offset) data.bytes.push_back(data_byte(offset));
    data.memory_size = data_file_size + spec.bss_size;

    std::vector<TestNote> notes{string_note(GUEST_OS, "sluice-test"), string_note(XEN_VERSION, spec.xen_version),
                                string_note(LOADER, spec.loader), string_note(PAE_MODE, "yes")};
    if (spec.entry_note) notes.push_back(number_note(ENTRY, start + spec.entry_offset));
    if (spec.hypercall_page_offset.has_value())
        notes.push_back(number_note(HYPERCALL_PAGE, start + spec.hypercall_page_offset.value()));
    if (spec.virt_base.has_value()) notes.push_back(number_note(VIRT_BASE, spec.virt_base.value()));
    if (spec.paddr_offset.has_value()) notes.push_back(number_note(PADDR_OFFSET, spec.paddr_offset.value()));
    if (!spec.features.empty()) notes.push_back(string_note(FEATURES, spec.features));
    if (spec.supported_features.has_value())
        notes.push_back(number_note(SUPPORTED_FEATURES, spec.supported_features.value(), 4));
    if (spec.mod_start_pfn) notes.push_back(number_note(MOD_START_PFN, 1, 4));
    notes.insert(notes.end(), spec.extra_notes.begin(), spec.extra_notes.end());
    return write_elf({text, data}, notes, start + spec.entry_offset);
}

}  // namespace sluice::testing::pv_kernel
