// The ELF-64 image parser the domain builders load dom0's kernel with.
//
// Section names refer to the "ELF-64 Object File Format" (version 1.5) and the System V gABI chapters
// "ELF Header", "Program Header" and "Note Section". Image::parse() checks every offset, size and count
// against the file before it reads anything, and keeps views into the caller's bytes: a LoadSegment
// says what to copy where, a Note is a name, a type and a descriptor. Nothing is copied or allocated.
//
// On refusal the Diagnostic names the header field (as the specification spells it: "e_phoff",
// "p_filesz", "n_descsz", ...) and the file offset of that field, for the builder's one message
//     "dom0 kernel: <field> at offset 0x<offset>: <reason>"
#pragma once

#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

#include <stddef.h>

namespace sluice::elf {

// What was wrong and where, for the one message the builder prints:
//   "dom0 kernel: <field> at offset 0x<offset>: <reason>"
// field and reason are static strings.
struct Diagnostic {
    const char* field = "";
    uint64_t offset = 0;
    const char* reason = "";
};

// --- Specification structures (little-endian; only ever copied out of the file) ----------------------

inline constexpr size_t identification_size = 16;  // EI_NIDENT

// "ELF Header" (Elf64_Ehdr).
struct Elf64_Ehdr {
    uint8_t e_ident[identification_size];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint64_t e_entry;
    uint64_t e_phoff;
    uint64_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};
static_assert(sizeof(Elf64_Ehdr) == 64);
static_assert(offsetof(Elf64_Ehdr, e_type) == 16);
static_assert(offsetof(Elf64_Ehdr, e_machine) == 18);
static_assert(offsetof(Elf64_Ehdr, e_version) == 20);
static_assert(offsetof(Elf64_Ehdr, e_entry) == 24);
static_assert(offsetof(Elf64_Ehdr, e_phoff) == 32);
static_assert(offsetof(Elf64_Ehdr, e_shoff) == 40);
static_assert(offsetof(Elf64_Ehdr, e_flags) == 48);
static_assert(offsetof(Elf64_Ehdr, e_ehsize) == 52);
static_assert(offsetof(Elf64_Ehdr, e_phentsize) == 54);
static_assert(offsetof(Elf64_Ehdr, e_phnum) == 56);
static_assert(offsetof(Elf64_Ehdr, e_shentsize) == 58);
static_assert(offsetof(Elf64_Ehdr, e_shnum) == 60);
static_assert(offsetof(Elf64_Ehdr, e_shstrndx) == 62);

// "Program Header" (Elf64_Phdr).
struct Elf64_Phdr {
    uint32_t p_type;
    uint32_t p_flags;
    uint64_t p_offset;
    uint64_t p_vaddr;
    uint64_t p_paddr;
    uint64_t p_filesz;
    uint64_t p_memsz;
    uint64_t p_align;
};
static_assert(sizeof(Elf64_Phdr) == 56);
static_assert(offsetof(Elf64_Phdr, p_flags) == 4);
static_assert(offsetof(Elf64_Phdr, p_offset) == 8);
static_assert(offsetof(Elf64_Phdr, p_vaddr) == 16);
static_assert(offsetof(Elf64_Phdr, p_paddr) == 24);
static_assert(offsetof(Elf64_Phdr, p_filesz) == 32);
static_assert(offsetof(Elf64_Phdr, p_memsz) == 40);
static_assert(offsetof(Elf64_Phdr, p_align) == 48);

// "Section Header" (Elf64_Shdr).
struct Elf64_Shdr {
    uint32_t sh_name;
    uint32_t sh_type;
    uint64_t sh_flags;
    uint64_t sh_addr;
    uint64_t sh_offset;
    uint64_t sh_size;
    uint32_t sh_link;
    uint32_t sh_info;
    uint64_t sh_addralign;
    uint64_t sh_entsize;
};
static_assert(sizeof(Elf64_Shdr) == 64);
static_assert(offsetof(Elf64_Shdr, sh_type) == 4);
static_assert(offsetof(Elf64_Shdr, sh_offset) == 24);
static_assert(offsetof(Elf64_Shdr, sh_size) == 32);
static_assert(offsetof(Elf64_Shdr, sh_addralign) == 48);

// "Note Section": the header of one note entry; 32-bit words in both ELF classes (Elf64_Nhdr).
struct Elf64_Nhdr {
    uint32_t n_namesz;  // bytes of the name, its NUL included
    uint32_t n_descsz;  // bytes of the descriptor
    uint32_t n_type;
};
static_assert(sizeof(Elf64_Nhdr) == 12);
static_assert(offsetof(Elf64_Nhdr, n_descsz) == 4);
static_assert(offsetof(Elf64_Nhdr, n_type) == 8);

// e_ident indexes and values.
inline constexpr size_t EI_CLASS = 4;
inline constexpr size_t EI_DATA = 5;
inline constexpr size_t EI_VERSION = 6;
inline constexpr uint8_t ELFCLASS64 = 2;
inline constexpr uint8_t ELFDATA2LSB = 1;
inline constexpr uint8_t EV_CURRENT = 1;
// e_type, e_machine.
inline constexpr uint16_t ET_EXEC = 2;
inline constexpr uint16_t ET_DYN = 3;
inline constexpr uint16_t EM_X86_64 = 62;
// e_phnum's escape value: the real count is in section header 0's sh_info.
inline constexpr uint16_t PN_XNUM = 0xffff;
// p_type, p_flags.
inline constexpr uint32_t PT_LOAD = 1;
inline constexpr uint32_t PT_NOTE = 4;
inline constexpr uint32_t PF_X = 1;
inline constexpr uint32_t PF_W = 2;
inline constexpr uint32_t PF_R = 4;
// sh_type.
inline constexpr uint32_t SHT_NOTE = 7;

// --- What the parser hands out ----------------------------------------------------------------------

struct LoadSegment {   // one PT_LOAD program header (ELF-64 Object File Format, "Program header")
    uint64_t file_offset, file_size, virtual_address, physical_address, memory_size;
    uint32_t flags;    // PF_X 1, PF_W 2, PF_R 4
    uint64_t header_offset;  // file offset of the program header, for diagnostics
};

struct Note {          // one note entry (ELF "Note Section")
    StringView name;            // without the terminating NUL
    uint32_t type;
    Span<const uint8_t> descriptor;
    uint64_t offset;            // file offset of the note header, for diagnostics
    // The descriptor followed by its alignment padding (inside the segment or section). Xen's loader
    // reads string notes up to a NUL and Linux writes XEN_ELFNOTE_FEATURES with .ascii, relying on
    // the zero padding for the terminator; xen_elf reads strings through this view.
    Span<const uint8_t> padded_descriptor;
};

enum class NoteSource : uint8_t { none, program_headers, section_headers };

class Image {
public:
    static constexpr size_t segment_capacity = 16;
    static constexpr size_t note_capacity = 64;

    // Parses an ELF64 little-endian x86-64 ET_EXEC (or ET_DYN) image held in `bytes` (which must outlive
    // the Image). Checks every bound: header size and identity, e_phoff/e_phentsize/e_phnum and
    // e_shoff/e_shentsize/e_shnum inside the file without overflow, every PT_LOAD's file range inside the
    // file, file_size <= memory_size, no address overflow, at least one PT_LOAD, and notes from PT_NOTE
    // segments (or, when there is none, SHT_NOTE sections) with namesz/descsz/padding inside the segment.
    // On failure returns Error::malformed (or unsupported for a valid ELF of another class/machine) and
    // fills `diagnostic`.
    //
    // Choices, each where the specifications leave room:
    // - A PT_LOAD with none of PF_R/PF_W/PF_X is not loaded and not listed (Xen's libelf,
    //   elf_phdr_is_loadable, ignores it too).
    // - A PT_NOTE at file offset 0 is skipped: some binutils versions wrote p_offset 0 for note
    //   segments, and Xen's loader skips those as well.
    // - Note entries are padded to 8 bytes when their segment's p_align (section's sh_addralign) is 8,
    //   to 4 otherwise (what binutils and glibc do for ELF64 .note.gnu.property; Xen does the same).
    // - SHT_NOTE sections are read only when no PT_NOTE segment holds a note. (Xen falls back to the
    //   sections when the segments hold no *Xen* note; a kernel whose segments carry only other notes
    //   and whose Xen notes live in unloaded sections is not supported.)
    // - More than segment_capacity PT_LOADs or note_capacity notes is Error::unsupported.
    [[nodiscard]] static Result<Image> parse(Span<const uint8_t> bytes, Diagnostic& diagnostic);

    [[nodiscard]] uint64_t entry() const { return entry_; }
    [[nodiscard]] uint16_t type() const { return type_; }  // ET_EXEC or ET_DYN
    [[nodiscard]] Span<const LoadSegment> segments() const {
        return Span<const LoadSegment>(segments_, segment_count_);
    }
    [[nodiscard]] Span<const Note> notes() const { return Span<const Note>(notes_, note_count_); }
    [[nodiscard]] NoteSource note_source() const { return note_source_; }
    // Lowest virtual_address and highest virtual_address + memory_size of the PT_LOAD segments.
    [[nodiscard]] uint64_t lowest_virtual_address() const { return lowest_virtual_; }
    [[nodiscard]] uint64_t highest_virtual_address() const { return highest_virtual_; }  // exclusive
    // The same over physical_address: Xen places a PV kernel by p_paddr (xen_elf::compute_pv_layout).
    [[nodiscard]] uint64_t lowest_physical_address() const { return lowest_physical_; }
    [[nodiscard]] uint64_t highest_physical_address() const { return highest_physical_; }  // exclusive
    [[nodiscard]] Span<const uint8_t> bytes() const { return bytes_; }
    // The file bytes of a segment ([file_offset, file_offset + file_size), checked by parse()).
    [[nodiscard]] Span<const uint8_t> contents(const LoadSegment& segment) const {
        return Span<const uint8_t>(bytes_.data() + segment.file_offset, segment.file_size);
    }

private:
    Image() = default;

    Span<const uint8_t> bytes_;
    uint64_t entry_ = 0;
    uint16_t type_ = 0;
    NoteSource note_source_ = NoteSource::none;
    uint64_t lowest_virtual_ = 0, highest_virtual_ = 0;
    uint64_t lowest_physical_ = 0, highest_physical_ = 0;
    LoadSegment segments_[segment_capacity] = {};
    size_t segment_count_ = 0;
    Note notes_[note_capacity] = {};
    size_t note_count_ = 0;

    friend class ImageParser;
};

// Formats "<field> at offset 0x<offset>: <reason>" into buffer (always NUL-terminated); returns the
// length written, as format() does.
size_t describe(const Diagnostic& diagnostic, char* buffer, size_t capacity);

}  // namespace sluice::elf
