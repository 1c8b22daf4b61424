// ELF-64 images built byte by byte from the specification ("ELF-64 Object File Format" 1.5, gABI
// "Note Section"), for the parser's tests and its fuzzer's seeds. Nothing here uses the parser.
//
// Layout of build(): the 64-byte header, the program headers (56 bytes each), then each segment's and
// section's contents at a 16-byte boundary, then the section header table (the null section first),
// so that cutting any byte off the end of an image with sections leaves the table incomplete.
#pragma once

#include "support/little_endian_bytes.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing::elf_image {

using sluice::testing::Bytes;

using sluice::testing::put16;
using sluice::testing::put32;
using sluice::testing::put64;
// Overwrite little-endian fields of a built image.
inline void poke(Bytes& bytes, size_t at, uint64_t value, size_t width) {
    for (size_t index = 0; index < width; ++index) bytes.at(at + index) = static_cast<uint8_t>(value >> (8 * index));
}
inline void poke16(Bytes& bytes, size_t at, uint16_t value) { poke(bytes, at, value, 2); }
inline void poke32(Bytes& bytes, size_t at, uint32_t value) { poke(bytes, at, value, 4); }
inline void poke64(Bytes& bytes, size_t at, uint64_t value) { poke(bytes, at, value, 8); }

inline void pad_to(Bytes& bytes, size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
}

// Descriptor helpers.
inline Bytes u8(uint8_t value) { return Bytes{value}; }
inline Bytes u16(uint16_t value) { Bytes bytes; put16(bytes, value); return bytes; }
inline Bytes u32(uint32_t value) { Bytes bytes; put32(bytes, value); return bytes; }
inline Bytes u64(uint64_t value) { Bytes bytes; put64(bytes, value); return bytes; }
// Like .asciz (with_nul) or .ascii (without).
inline Bytes text(const std::string& characters, bool with_nul = true) {
    Bytes bytes(characters.begin(), characters.end());
    if (with_nul) bytes.push_back(0);
    return bytes;
}
inline Bytes join(const std::vector<Bytes>& parts) {
    Bytes bytes;
    for (const Bytes& part : parts) bytes.insert(bytes.end(), part.begin(), part.end());
    return bytes;
}

// One note entry: n_namesz (name + NUL), n_descsz, n_type, the name from byte 12, the descriptor at
// the next `alignment` boundary after the name, padding to the next boundary after the descriptor.
inline Bytes note(const std::string& name, uint32_t type, const Bytes& descriptor, size_t alignment = 4) {
    Bytes bytes;
    put32(bytes, name.empty() ? 0 : static_cast<uint32_t>(name.size() + 1));
    put32(bytes, static_cast<uint32_t>(descriptor.size()));
    put32(bytes, type);
    bytes.insert(bytes.end(), name.begin(), name.end());
    if (!name.empty()) bytes.push_back(0);
    pad_to(bytes, alignment);
    bytes.insert(bytes.end(), descriptor.begin(), descriptor.end());
    pad_to(bytes, alignment);
    return bytes;
}
inline Bytes xen_note(uint32_t type, const Bytes& descriptor) { return note("Xen", type, descriptor); }

// A note header with arbitrary sizes and whatever body follows (for malformed cases).
inline Bytes raw_note(uint32_t namesz, uint32_t descsz, uint32_t type, const Bytes& body) {
    Bytes bytes;
    put32(bytes, namesz);
    put32(bytes, descsz);
    put32(bytes, type);
    bytes.insert(bytes.end(), body.begin(), body.end());
    return bytes;
}

inline constexpr uint32_t pt_load = 1, pt_note = 4, pt_phdr = 6;
inline constexpr uint32_t pf_x = 1, pf_w = 2, pf_r = 4;
inline constexpr uint32_t sht_progbits = 1, sht_note = 7, sht_nobits = 8;
inline constexpr size_t header_size = 64, program_header_size = 56, section_header_size = 64;

// Field offsets inside the structures (from the specification's tables).
namespace field {
inline constexpr size_t e_type = 16, e_machine = 18, e_version = 20, e_entry = 24, e_phoff = 32, e_shoff = 40,
                        e_ehsize = 52, e_phentsize = 54, e_phnum = 56, e_shentsize = 58, e_shnum = 60;
inline constexpr size_t p_type = 0, p_flags = 4, p_offset = 8, p_vaddr = 16, p_paddr = 24, p_filesz = 32,
                        p_memsz = 40, p_align = 48;
inline constexpr size_t sh_type = 4, sh_offset = 24, sh_size = 32, sh_addralign = 48;
inline constexpr size_t n_namesz = 0, n_descsz = 4, n_type = 8;
}  // namespace field

class ElfBuilder {
public:
    // e_ident and header fields; change before build() for identity tests.
    uint8_t elf_class = 2;      // ELFCLASS64
    uint8_t data_encoding = 1;  // ELFDATA2LSB
    uint8_t ident_version = 1;
    uint16_t type = 2;          // ET_EXEC
    uint16_t machine = 62;      // EM_X86_64
    uint32_t version = 1;
    uint64_t entry = 0;
    bool with_section_table = true;

    // A PT_LOAD whose file bytes are `contents` (memory size at least that).
    ElfBuilder& load(uint64_t virtual_address, uint64_t physical_address, const Bytes& contents,
                     uint64_t memory_size = 0, uint32_t flags = pf_r | pf_x) {
        programs_.push_back({pt_load, flags, virtual_address, physical_address,
                             memory_size > contents.size() ? memory_size : contents.size(), 0x1000, contents, true});
        return *this;
    }
    // A PT_NOTE holding `notes`; p_align as given (4 or 8).
    ElfBuilder& note_segment(const Bytes& notes, uint64_t alignment = 4) {
        programs_.push_back({pt_note, pf_r, 0, 0, notes.size(), alignment, notes, true});
        return *this;
    }
    // A program header of any type with contents placed in the file (file size = contents size).
    ElfBuilder& segment(uint32_t program_type, uint32_t flags, uint64_t virtual_address, uint64_t physical_address,
                        const Bytes& contents, uint64_t memory_size, uint64_t alignment = 0x1000) {
        programs_.push_back({program_type, flags, virtual_address, physical_address, memory_size, alignment, contents, true});
        return *this;
    }
    // An SHT_NOTE section (not in any segment) holding `notes`.
    ElfBuilder& note_section(const Bytes& notes, uint64_t alignment = 4) { return section(sht_note, notes, alignment); }
    ElfBuilder& section(uint32_t section_type, const Bytes& contents, uint64_t alignment = 1) {
        sections_.push_back({section_type, alignment, contents});
        return *this;
    }

    Bytes build() {
        Bytes bytes;
        bytes.resize(header_size + programs_.size() * program_header_size);
        std::vector<uint64_t> program_offsets, section_offsets;
        for (Program& program : programs_) {
            pad_to(bytes, 16);
            program_offsets.push_back(bytes.size());
            bytes.insert(bytes.end(), program.contents.begin(), program.contents.end());
        }
        for (Section& section : sections_) {
            pad_to(bytes, 16);
            section_offsets.push_back(bytes.size());
            bytes.insert(bytes.end(), section.contents.begin(), section.contents.end());
        }
        uint64_t section_table = 0;
        if (with_section_table) {
            pad_to(bytes, 8);
            section_table = bytes.size();
            bytes.resize(bytes.size() + section_header_size);  // the null section
            for (size_t index = 0; index < sections_.size(); ++index) {
                Bytes entry_bytes;
                put32(entry_bytes, 0);                                        // sh_name
                put32(entry_bytes, sections_[index].type);                    // sh_type
                put64(entry_bytes, 0);                                        // sh_flags
                put64(entry_bytes, 0);                                        // sh_addr
                put64(entry_bytes, section_offsets[index]);                   // sh_offset
                put64(entry_bytes, sections_[index].contents.size());         // sh_size
                put32(entry_bytes, 0);                                        // sh_link
                put32(entry_bytes, 0);                                        // sh_info
                put64(entry_bytes, sections_[index].alignment);               // sh_addralign
                put64(entry_bytes, 0);                                        // sh_entsize
                bytes.insert(bytes.end(), entry_bytes.begin(), entry_bytes.end());
            }
        }

        Bytes header;
        header.push_back(0x7f);
        header.push_back('E');
        header.push_back('L');
        header.push_back('F');
        header.push_back(elf_class);
        header.push_back(data_encoding);
        header.push_back(ident_version);
        header.resize(16, 0);  // EI_OSABI, EI_ABIVERSION, padding
        put16(header, type);
        put16(header, machine);
        put32(header, version);
        put64(header, entry);
        put64(header, programs_.empty() ? 0 : header_size);                       // e_phoff
        put64(header, section_table);                                              // e_shoff
        put32(header, 0);                                                          // e_flags
        put16(header, header_size);                                                // e_ehsize
        put16(header, program_header_size);                                        // e_phentsize
        put16(header, static_cast<uint16_t>(programs_.size()));                    // e_phnum
        put16(header, section_header_size);                                        // e_shentsize
        put16(header, static_cast<uint16_t>(with_section_table ? sections_.size() + 1 : 0));  // e_shnum
        put16(header, 0);                                                          // e_shstrndx
        std::memcpy(bytes.data(), header.data(), header.size());

        for (size_t index = 0; index < programs_.size(); ++index) {
            const Program& program = programs_[index];
            Bytes entry_bytes;
            put32(entry_bytes, program.type);
            put32(entry_bytes, program.flags);
            put64(entry_bytes, program_offsets[index]);
            put64(entry_bytes, program.virtual_address);
            put64(entry_bytes, program.physical_address);
            put64(entry_bytes, program.contents.size());
            put64(entry_bytes, program.memory_size);
            put64(entry_bytes, program.alignment);
            std::memcpy(bytes.data() + program_header_offset(index), entry_bytes.data(), entry_bytes.size());
        }
        program_offsets_ = program_offsets;
        section_offsets_ = section_offsets;
        section_table_ = section_table;
        return bytes;
    }

    // After build(): where things landed.
    static constexpr size_t program_header_offset(size_t index) { return header_size + index * program_header_size; }
    size_t contents_offset(size_t program_index) const { return program_offsets_.at(program_index); }
    size_t section_contents_offset(size_t section_index) const { return section_offsets_.at(section_index); }
    // Index 0 is the null section; the sections added are 1.. in order.
    size_t section_header_offset(size_t index) const { return section_table_ + index * section_header_size; }

private:
    struct Program {
        uint32_t type;
        uint32_t flags;
        uint64_t virtual_address;
        uint64_t physical_address;
        uint64_t memory_size;
        uint64_t alignment;
        Bytes contents;
        bool placed;
    };
    struct Section {
        uint32_t type;
        uint64_t alignment;
        Bytes contents;
    };

    std::vector<Program> programs_;
    std::vector<Section> sections_;
    std::vector<uint64_t> program_offsets_, section_offsets_;
    uint64_t section_table_ = 0;
};

}  // namespace sluice::testing::elf_image
