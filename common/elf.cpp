#include <common/elf.hpp>

#include <sluice/format.hpp>
#include <sluice/utility.hpp>

namespace sluice::elf {
namespace {

constexpr uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};

// Copies a structure out of the file; the caller has checked the bounds.
template <typename Structure> Structure load(Span<const uint8_t> bytes, uint64_t offset) {
    static_assert(__is_trivially_copyable(Structure));
    Structure structure;
    __builtin_memcpy(&structure, bytes.data() + offset, sizeof structure);
    return structure;
}

// True when [offset, offset + length) lies inside a file of file_size bytes, computed without overflow.
constexpr bool inside(uint64_t offset, uint64_t length, uint64_t file_size) {
    return offset <= file_size && length <= file_size - offset;
}

// True when count entries of entry_size bytes from offset fit in the file, without overflow.
constexpr bool table_inside(uint64_t offset, uint64_t entry_size, uint64_t count, uint64_t file_size) {
    if (offset > file_size) return false;
    if (count == 0) return true;
    return entry_size <= (file_size - offset) / count;
}

constexpr bool adds_without_overflow(uint64_t base, uint64_t length) { return length <= ~uint64_t{0} - base; }

}  // namespace

// The parse, in the order the file is laid out: header, program headers, sections. Every failure
// stops it with one diagnostic.
class ImageParser {
public:
    ImageParser(Span<const uint8_t> bytes, Diagnostic& diagnostic) : bytes_(bytes), diagnostic_(diagnostic) {
        image_.bytes_ = bytes;
    }

    Result<Image> run() {
        SLUICE_TRY(parse_header());
        SLUICE_TRY(parse_section_count());
        SLUICE_TRY(parse_program_headers());
        if (image_.note_count_ == 0) SLUICE_TRY(parse_note_sections());
        return sluice::move(image_);
    }

private:
    Error fail(Error error, const char* field, uint64_t offset, const char* reason) {
        diagnostic_.field = field;
        diagnostic_.offset = offset;
        diagnostic_.reason = reason;
        return error;
    }

    Error malformed(const char* field, uint64_t offset, const char* reason) {
        return fail(Error::malformed, field, offset, reason);
    }

    Error unsupported(const char* field, uint64_t offset, const char* reason) {
        return fail(Error::unsupported, field, offset, reason);
    }

    // "ELF Header": identification first, so that a valid ELF of another kind is told apart from junk.
    Status parse_header() {
        if (bytes_.size() < sizeof(Elf64_Ehdr)) {
            if (bytes_.size() < 4 || __builtin_memcmp(bytes_.data(), elf_magic, 4) != 0)
                return malformed("e_ident", 0, "not an ELF file (no \\x7fELF magic)");
            if (bytes_.size() > EI_CLASS && bytes_[EI_CLASS] != ELFCLASS64)
                return unsupported("e_ident[EI_CLASS]", EI_CLASS, "not a 64-bit (ELFCLASS64) image");
            return malformed("e_ehsize", 0, "file is shorter than the 64-byte ELF64 header");
        }
        header_ = load<Elf64_Ehdr>(bytes_, 0);
        if (__builtin_memcmp(header_.e_ident, elf_magic, 4) != 0)
            return malformed("e_ident", 0, "not an ELF file (no \\x7fELF magic)");
        if (header_.e_ident[EI_CLASS] != ELFCLASS64)
            return unsupported("e_ident[EI_CLASS]", EI_CLASS, "not a 64-bit (ELFCLASS64) image");
        if (header_.e_ident[EI_DATA] != ELFDATA2LSB)
            return unsupported("e_ident[EI_DATA]", EI_DATA, "not a little-endian (ELFDATA2LSB) image");
        if (header_.e_ident[EI_VERSION] != EV_CURRENT)
            return malformed("e_ident[EI_VERSION]", EI_VERSION, "ELF version is not EV_CURRENT (1)");
        if (header_.e_version != EV_CURRENT)
            return malformed("e_version", offsetof(Elf64_Ehdr, e_version), "ELF version is not EV_CURRENT (1)");
        if (header_.e_type != ET_EXEC && header_.e_type != ET_DYN)
            return unsupported("e_type", offsetof(Elf64_Ehdr, e_type),
                               "not an executable (ET_EXEC) or shared object (ET_DYN)");
        if (header_.e_machine != EM_X86_64)
            return unsupported("e_machine", offsetof(Elf64_Ehdr, e_machine), "not an x86-64 (EM_X86_64) image");
        image_.entry_ = header_.e_entry;
        image_.type_ = header_.e_type;
        return success();
    }

    // The section header table: its bounds always, its entry count possibly from section 0 (gABI
    // "Sections": e_shnum 0 with e_shoff set means the count is in section 0's sh_size).
    Status parse_section_count() {
        if (header_.e_shoff == 0) return success();  // no section header table
        if (header_.e_shentsize < sizeof(Elf64_Shdr))
            return malformed("e_shentsize", offsetof(Elf64_Ehdr, e_shentsize),
                             "section header entries are smaller than Elf64_Shdr (64 bytes)");
        section_count_ = header_.e_shnum;
        if (section_count_ == 0) {
            if (!inside(header_.e_shoff, sizeof(Elf64_Shdr), bytes_.size()))
                return malformed("e_shoff", offsetof(Elf64_Ehdr, e_shoff),
                                 "section header table lies outside the file");
            section_count_ = load<Elf64_Shdr>(bytes_, header_.e_shoff).sh_size;
        }
        if (!table_inside(header_.e_shoff, header_.e_shentsize, section_count_, bytes_.size()))
            return malformed(header_.e_shnum == 0 ? "sh_size" : "e_shoff",
                             header_.e_shnum == 0 ? header_.e_shoff + offsetof(Elf64_Shdr, sh_size)
                                                  : offsetof(Elf64_Ehdr, e_shoff),
                             "section header table extends past the end of the file");
        return success();
    }

    Status parse_program_headers() {
        const uint64_t count = header_.e_phnum;
        if (count == PN_XNUM)
            return unsupported("e_phnum", offsetof(Elf64_Ehdr, e_phnum),
                               "PN_XNUM (more than 65534 program headers) is not supported");
        if (count == 0) return malformed("e_phnum", offsetof(Elf64_Ehdr, e_phnum), "no program headers (no PT_LOAD)");
        if (header_.e_phentsize < sizeof(Elf64_Phdr))
            return malformed("e_phentsize", offsetof(Elf64_Ehdr, e_phentsize),
                             "program header entries are smaller than Elf64_Phdr (56 bytes)");
        if (!table_inside(header_.e_phoff, header_.e_phentsize, count, bytes_.size()))
            return malformed("e_phoff", offsetof(Elf64_Ehdr, e_phoff),
                             "program header table extends past the end of the file");

        for (uint64_t index = 0; index < count; ++index) {
            const uint64_t at = header_.e_phoff + index * header_.e_phentsize;
            const Elf64_Phdr program = load<Elf64_Phdr>(bytes_, at);
            if (program.p_type == PT_LOAD) SLUICE_TRY(add_load(program, at));
            else if (program.p_type == PT_NOTE) SLUICE_TRY(add_note_segment(program, at));
        }
        if (image_.segment_count_ == 0)
            return malformed("e_phnum", offsetof(Elf64_Ehdr, e_phnum), "no loadable PT_LOAD segment");
        return success();
    }

    Status add_load(const Elf64_Phdr& program, uint64_t at) {
        // Xen's libelf loads only PT_LOADs with some access right; one with none is left out.
        if ((program.p_flags & (PF_R | PF_W | PF_X)) == 0) return success();
        if (!inside(program.p_offset, program.p_filesz, bytes_.size()))
            return malformed("p_filesz", at + offsetof(Elf64_Phdr, p_filesz),
                             "PT_LOAD file range extends past the end of the file");
        if (program.p_filesz > program.p_memsz)
            return malformed("p_filesz", at + offsetof(Elf64_Phdr, p_filesz),
                             "PT_LOAD file size is larger than its memory size");
        if (!adds_without_overflow(program.p_vaddr, program.p_memsz))
            return malformed("p_vaddr", at + offsetof(Elf64_Phdr, p_vaddr),
                             "PT_LOAD virtual address + memory size overflows");
        if (!adds_without_overflow(program.p_paddr, program.p_memsz))
            return malformed("p_paddr", at + offsetof(Elf64_Phdr, p_paddr),
                             "PT_LOAD physical address + memory size overflows");
        if (image_.segment_count_ == Image::segment_capacity)
            return unsupported("p_type", at, "more than 16 PT_LOAD segments");

        LoadSegment& segment = image_.segments_[image_.segment_count_];
        segment.file_offset = program.p_offset;
        segment.file_size = program.p_filesz;
        segment.virtual_address = program.p_vaddr;
        segment.physical_address = program.p_paddr;
        segment.memory_size = program.p_memsz;
        segment.flags = program.p_flags;
        segment.header_offset = at;

        const uint64_t virtual_end = program.p_vaddr + program.p_memsz;
        const uint64_t physical_end = program.p_paddr + program.p_memsz;
        if (image_.segment_count_ == 0) {
            image_.lowest_virtual_ = program.p_vaddr;
            image_.highest_virtual_ = virtual_end;
            image_.lowest_physical_ = program.p_paddr;
            image_.highest_physical_ = physical_end;
        } else {
            image_.lowest_virtual_ = min(image_.lowest_virtual_, program.p_vaddr);
            image_.highest_virtual_ = max(image_.highest_virtual_, virtual_end);
            image_.lowest_physical_ = min(image_.lowest_physical_, program.p_paddr);
            image_.highest_physical_ = max(image_.highest_physical_, physical_end);
        }
        ++image_.segment_count_;
        return success();
    }

    Status add_note_segment(const Elf64_Phdr& program, uint64_t at) {
        if (program.p_offset == 0) return success();  // the old binutils p_offset bug; Xen skips these too
        if (!inside(program.p_offset, program.p_filesz, bytes_.size()))
            return malformed("p_filesz", at + offsetof(Elf64_Phdr, p_filesz),
                             "PT_NOTE file range extends past the end of the file");
        SLUICE_TRY(parse_notes(program.p_offset, program.p_filesz, program.p_align == 8 ? 8 : 4));
        if (image_.note_count_ != 0) image_.note_source_ = NoteSource::program_headers;
        return success();
    }

    Status parse_note_sections() {
        // Index 0 is the null section (or holds the extended count), never a real one.
        for (uint64_t index = 1; index < section_count_; ++index) {
            const uint64_t at = header_.e_shoff + index * header_.e_shentsize;
            const Elf64_Shdr section = load<Elf64_Shdr>(bytes_, at);
            if (section.sh_type != SHT_NOTE) continue;
            if (!inside(section.sh_offset, section.sh_size, bytes_.size()))
                return malformed("sh_size", at + offsetof(Elf64_Shdr, sh_size),
                                 "SHT_NOTE section extends past the end of the file");
            SLUICE_TRY(parse_notes(section.sh_offset, section.sh_size, section.sh_addralign == 8 ? 8 : 4));
        }
        if (image_.note_count_ != 0) image_.note_source_ = NoteSource::section_headers;
        return success();
    }

    // "Note Section": a sequence of entries, each a header, the name padded to the alignment, and the
    // descriptor padded to the alignment, all inside [start, start + size).
    Status parse_notes(uint64_t start, uint64_t size, uint64_t alignment) {
        uint64_t position = 0;
        while (position < size) {
            const uint64_t at = start + position;
            const uint64_t remaining = size - position;
            if (remaining < sizeof(Elf64_Nhdr))
                return malformed("n_namesz", at, "note header is cut off by the end of its segment");
            const Elf64_Nhdr header = load<Elf64_Nhdr>(bytes_, at);
            // The name follows the 12-byte header; the descriptor starts at the next alignment boundary
            // after the name, and the next entry at the next one after the descriptor. 32-bit sizes:
            // none of these sums can overflow 64 bits.
            const uint64_t descriptor_offset = align_up(sizeof(Elf64_Nhdr) + header.n_namesz, alignment);
            if (descriptor_offset > remaining)
                return malformed("n_namesz", at + offsetof(Elf64_Nhdr, n_namesz),
                                 "note name (with padding) extends past the end of its segment");
            const uint64_t entry_size = align_up(descriptor_offset + header.n_descsz, alignment);
            if (entry_size > remaining)
                return malformed("n_descsz", at + offsetof(Elf64_Nhdr, n_descsz),
                                 "note descriptor (with padding) extends past the end of its segment");

            const uint8_t* name = bytes_.data() + at + sizeof(Elf64_Nhdr);
            size_t name_length = 0;
            if (header.n_namesz != 0) {
                while (name_length < header.n_namesz && name[name_length] != 0) ++name_length;
                if (name_length == header.n_namesz)
                    return malformed("n_namesz", at + offsetof(Elf64_Nhdr, n_namesz),
                                     "note name is not NUL-terminated within n_namesz");
            }
            if (image_.note_count_ == Image::note_capacity)
                return unsupported("n_type", at + offsetof(Elf64_Nhdr, n_type), "more than 64 ELF notes");

            const uint8_t* descriptor = bytes_.data() + at + descriptor_offset;
            Note& note = image_.notes_[image_.note_count_++];
            note.name = StringView(reinterpret_cast<const char*>(name), name_length);
            note.type = header.n_type;
            note.descriptor = Span<const uint8_t>(descriptor, header.n_descsz);
            note.padded_descriptor = Span<const uint8_t>(descriptor, entry_size - descriptor_offset);
            note.offset = at;
            position += entry_size;
        }
        return success();
    }

    Span<const uint8_t> bytes_;
    Diagnostic& diagnostic_;
    Elf64_Ehdr header_{};
    uint64_t section_count_ = 0;
    Image image_;
};

Result<Image> Image::parse(Span<const uint8_t> bytes, Diagnostic& diagnostic) {
    ImageParser parser(bytes, diagnostic);
    return parser.run();
}

size_t describe(const Diagnostic& diagnostic, char* buffer, size_t capacity) {
    return format(buffer, capacity, "%s at offset %#llx: %s", diagnostic.field,
                  static_cast<unsigned long long>(diagnostic.offset), diagnostic.reason);
}

}  // namespace sluice::elf
