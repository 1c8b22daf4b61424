// The ELF-64 image parser: good images, every truncation, every header bound, PT_LOAD and note bounds,
// notes from PT_NOTE or from SHT_NOTE sections, 4- and 8-byte note alignment. Expected values are
// worked out from the specification's layouts (tests/support/elf_builder.hpp), never from the parser.
#include <gtest/gtest.h>

#include <common/elf.hpp>

#include "support/elf_builder.hpp"

#include <list>
#include <string>

namespace {

using namespace sluice::testing::elf_image;
using sluice::Error;
using sluice::elf::Diagnostic;
using sluice::elf::Image;
using sluice::elf::NoteSource;

sluice::Span<const uint8_t> span(const Bytes& bytes) { return {bytes.data(), bytes.size()}; }

std::string view(sluice::StringView text) { return std::string(text.data(), text.length()); }

Bytes pattern(size_t size, uint8_t seed) {
    Bytes bytes(size);
    for (size_t index = 0; index < size; ++index) bytes[index] = static_cast<uint8_t>(seed + index * 7);
    return bytes;
}

// Two loads and a note segment with two notes; section table at the end.
ElfBuilder typical() {
    ElfBuilder builder;
    builder.entry = 0xffffffff81000040;
    builder.load(0xffffffff81000000, 0x1000000, pattern(0x200, 1), 0x200, pf_r | pf_x)
        .load(0xffffffff81200000, 0x1200000, pattern(0x80, 2), 0x3000, pf_r | pf_w)
        .note_segment(join({note("Xen", 6, text("linux")), note("GNU", 3, pattern(20, 9))}));
    return builder;
}

struct Refusal {
    Error error;
    std::string field;
    uint64_t offset;
};

Refusal refuse(const Bytes& bytes) {
    Diagnostic diagnostic;
    const sluice::Result<Image> image = Image::parse(span(bytes), diagnostic);
    EXPECT_FALSE(image.ok());
    if (image.ok()) return {Error::invalid_argument, "accepted", 0};
    EXPECT_STRNE(diagnostic.reason, "");
    return {image.error(), diagnostic.field, diagnostic.offset};
}

void expect_refusal(const Bytes& bytes, Error error, const std::string& field, uint64_t offset) {
    const Refusal refusal = refuse(bytes);
    EXPECT_EQ(refusal.error, error);
    EXPECT_EQ(refusal.field, field);
    EXPECT_EQ(refusal.offset, offset);
}

// An Image views its bytes: images built as temporaries are kept alive for the whole test program.
const Bytes& keep(Bytes&& bytes) {
    static std::list<Bytes> kept;
    kept.push_back(std::move(bytes));
    return kept.back();
}

Image accept(const Bytes& bytes) {
    Diagnostic diagnostic;
    sluice::Result<Image> image = Image::parse(span(bytes), diagnostic);
    EXPECT_TRUE(image.ok()) << diagnostic.field << " at " << diagnostic.offset << ": " << diagnostic.reason;
    if (!image.ok()) std::abort();
    return image.value();
}
Image accept(Bytes&& bytes) { return accept(keep(std::move(bytes))); }

TEST(ElfImage, ParsesTypicalImage) {
    ElfBuilder builder = typical();
    const Bytes bytes = builder.build();
    const Image image = accept(bytes);

    EXPECT_EQ(image.entry(), 0xffffffff81000040u);
    EXPECT_EQ(image.type(), 2);
    ASSERT_EQ(image.segments().size(), 2u);
    const auto& text_segment = image.segments()[0];
    EXPECT_EQ(text_segment.file_offset, builder.contents_offset(0));
    EXPECT_EQ(text_segment.file_size, 0x200u);
    EXPECT_EQ(text_segment.virtual_address, 0xffffffff81000000u);
    EXPECT_EQ(text_segment.physical_address, 0x1000000u);
    EXPECT_EQ(text_segment.memory_size, 0x200u);
    EXPECT_EQ(text_segment.flags, pf_r | pf_x);
    EXPECT_EQ(text_segment.header_offset, 64u);
    const auto& data_segment = image.segments()[1];
    EXPECT_EQ(data_segment.file_size, 0x80u);
    EXPECT_EQ(data_segment.memory_size, 0x3000u);
    EXPECT_EQ(data_segment.flags, pf_r | pf_w);
    EXPECT_EQ(data_segment.header_offset, 64u + 56u);
    EXPECT_EQ(Bytes(image.contents(data_segment).begin(), image.contents(data_segment).end()), pattern(0x80, 2));

    EXPECT_EQ(image.lowest_virtual_address(), 0xffffffff81000000u);
    EXPECT_EQ(image.highest_virtual_address(), 0xffffffff81203000u);
    EXPECT_EQ(image.lowest_physical_address(), 0x1000000u);
    EXPECT_EQ(image.highest_physical_address(), 0x1203000u);
    EXPECT_EQ(image.bytes().data(), bytes.data());

    ASSERT_EQ(image.notes().size(), 2u);
    EXPECT_EQ(image.note_source(), NoteSource::program_headers);
    const auto& first = image.notes()[0];
    EXPECT_EQ(view(first.name), "Xen");
    EXPECT_EQ(first.type, 6u);
    EXPECT_EQ(first.offset, builder.contents_offset(2));
    // 12-byte header, "Xen\0", then the descriptor.
    EXPECT_EQ(first.descriptor.data(), bytes.data() + builder.contents_offset(2) + 16);
    EXPECT_EQ(first.descriptor.size(), 6u);
    EXPECT_EQ(first.padded_descriptor.size(), 8u);
    const auto& second = image.notes()[1];
    EXPECT_EQ(view(second.name), "GNU");
    EXPECT_EQ(second.type, 3u);
    EXPECT_EQ(second.offset, builder.contents_offset(2) + 12 + 4 + 8);
    EXPECT_EQ(Bytes(second.descriptor.begin(), second.descriptor.end()), pattern(20, 9));
}

TEST(ElfImage, AcceptsSharedObject) {
    ElfBuilder builder = typical();
    builder.type = 3;  // ET_DYN
    EXPECT_EQ(accept(builder.build()).type(), 3);
}

TEST(ElfImage, EveryTruncationIsRefused) {
    // The section header table is last, so every shorter prefix cuts a structure the header names.
    const Bytes bytes = typical().build();
    for (size_t size = 0; size < bytes.size(); ++size) {
        const Bytes prefix(bytes.begin(), bytes.begin() + static_cast<long>(size));
        Diagnostic diagnostic;
        const sluice::Result<Image> image = Image::parse(span(prefix), diagnostic);
        ASSERT_FALSE(image.ok()) << "prefix of " << size << " bytes accepted";
        EXPECT_EQ(image.error(), Error::malformed) << size;
        EXPECT_STRNE(diagnostic.field, "") << size;
    }
}

TEST(ElfImage, TruncationsNameTheStructureCut) {
    ElfBuilder builder = typical();
    builder.with_section_table = false;
    const Bytes bytes = builder.build();
    auto cut = [&](size_t size) { return Bytes(bytes.begin(), bytes.begin() + static_cast<long>(size)); };
    expect_refusal(cut(3), Error::malformed, "e_ident", 0);
    expect_refusal(cut(63), Error::malformed, "e_ehsize", 0);
    expect_refusal(cut(64 + 3 * 56 - 1), Error::malformed, "e_phoff", field::e_phoff);
    // Inside the first PT_LOAD's contents.
    expect_refusal(cut(builder.contents_offset(0) + 0x1ff), Error::malformed, "p_filesz", 64 + field::p_filesz);
    // Inside the note segment: the PT_NOTE's own range.
    expect_refusal(cut(bytes.size() - 1), Error::malformed, "p_filesz", 64 + 2 * 56 + field::p_filesz);
}

TEST(ElfImage, RefusesBadIdentity) {
    {
        Bytes bytes = typical().build();
        bytes[1] = 'X';
        expect_refusal(bytes, Error::malformed, "e_ident", 0);
    }
    {
        ElfBuilder builder = typical();
        builder.elf_class = 1;  // ELFCLASS32
        expect_refusal(builder.build(), Error::unsupported, "e_ident[EI_CLASS]", 4);
    }
    {
        ElfBuilder builder = typical();
        builder.data_encoding = 2;  // ELFDATA2MSB
        expect_refusal(builder.build(), Error::unsupported, "e_ident[EI_DATA]", 5);
    }
    {
        ElfBuilder builder = typical();
        builder.ident_version = 0;
        expect_refusal(builder.build(), Error::malformed, "e_ident[EI_VERSION]", 6);
    }
    {
        ElfBuilder builder = typical();
        builder.version = 2;
        expect_refusal(builder.build(), Error::malformed, "e_version", field::e_version);
    }
    for (uint16_t type : {uint16_t{0}, uint16_t{1}, uint16_t{4}}) {  // ET_NONE, ET_REL, ET_CORE
        ElfBuilder builder = typical();
        builder.type = type;
        expect_refusal(builder.build(), Error::unsupported, "e_type", field::e_type);
    }
    for (uint16_t machine : {uint16_t{3}, uint16_t{183}}) {  // EM_386, EM_AARCH64
        ElfBuilder builder = typical();
        builder.machine = machine;
        expect_refusal(builder.build(), Error::unsupported, "e_machine", field::e_machine);
    }
    // A short file that is an ELF32 image is told apart from a short ELF64 one.
    Bytes short_elf32 = {0x7f, 'E', 'L', 'F', 1, 1, 1, 0};
    expect_refusal(short_elf32, Error::unsupported, "e_ident[EI_CLASS]", 4);
    expect_refusal(Bytes{}, Error::malformed, "e_ident", 0);
}

TEST(ElfImage, RefusesProgramHeaderTableOutsideFile) {
    const Bytes good = typical().build();
    {
        Bytes bytes = good;
        poke64(bytes, field::e_phoff, bytes.size() - 56 * 3 + 1);
        expect_refusal(bytes, Error::malformed, "e_phoff", field::e_phoff);
    }
    {
        Bytes bytes = good;
        poke64(bytes, field::e_phoff, ~uint64_t{0} - 63);  // offset + size would wrap
        expect_refusal(bytes, Error::malformed, "e_phoff", field::e_phoff);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_phnum, 0xfffe);
        expect_refusal(bytes, Error::malformed, "e_phoff", field::e_phoff);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_phentsize, 0xffff);
        expect_refusal(bytes, Error::malformed, "e_phoff", field::e_phoff);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_phentsize, 55);
        expect_refusal(bytes, Error::malformed, "e_phentsize", field::e_phentsize);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_phnum, 0);
        expect_refusal(bytes, Error::malformed, "e_phnum", field::e_phnum);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_phnum, 0xffff);  // PN_XNUM
        expect_refusal(bytes, Error::unsupported, "e_phnum", field::e_phnum);
    }
}

TEST(ElfImage, RefusesSectionHeaderTableOutsideFile) {
    ElfBuilder builder = typical();
    const Bytes good = builder.build();
    {
        Bytes bytes = good;
        poke64(bytes, field::e_shoff, bytes.size() - 63);  // the one entry would end a byte past the file
        expect_refusal(bytes, Error::malformed, "e_shoff", field::e_shoff);
    }
    {
        Bytes bytes = good;
        poke64(bytes, field::e_shoff, ~uint64_t{0} - 8);
        expect_refusal(bytes, Error::malformed, "e_shoff", field::e_shoff);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_shnum, 2);  // one more than present
        expect_refusal(bytes, Error::malformed, "e_shoff", field::e_shoff);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_shentsize, 40);
        expect_refusal(bytes, Error::malformed, "e_shentsize", field::e_shentsize);
    }
    {
        // e_shnum 0: the count is section 0's sh_size (gABI extended numbering), here too large.
        Bytes bytes = good;
        poke16(bytes, field::e_shnum, 0);
        poke64(bytes, builder.section_header_offset(0) + field::sh_size, 1000);
        expect_refusal(bytes, Error::malformed, "sh_size", builder.section_header_offset(0) + field::sh_size);
    }
    {
        Bytes bytes = good;
        poke16(bytes, field::e_shnum, 0);
        poke64(bytes, builder.section_header_offset(0) + field::sh_size, 1);
        EXPECT_EQ(accept(bytes).notes().size(), 2u);
    }
    {
        // No section header table at all is fine.
        Bytes bytes = good;
        poke64(bytes, field::e_shoff, 0);
        poke16(bytes, field::e_shnum, 7);
        EXPECT_EQ(accept(bytes).segments().size(), 2u);
    }
}

TEST(ElfImage, RefusesBadLoadSegments) {
    const Bytes good = typical().build();
    const size_t second = ElfBuilder::program_header_offset(1);
    {
        Bytes bytes = good;
        poke64(bytes, second + field::p_offset, bytes.size() - 0x7f);
        expect_refusal(bytes, Error::malformed, "p_filesz", second + field::p_filesz);
    }
    {
        Bytes bytes = good;
        poke64(bytes, second + field::p_offset, ~uint64_t{0} - 0x10);  // offset + size wraps
        expect_refusal(bytes, Error::malformed, "p_filesz", second + field::p_filesz);
    }
    {
        Bytes bytes = good;
        poke64(bytes, second + field::p_memsz, 0x7f);  // below p_filesz 0x80
        expect_refusal(bytes, Error::malformed, "p_filesz", second + field::p_filesz);
    }
    {
        Bytes bytes = good;
        poke64(bytes, second + field::p_vaddr, ~uint64_t{0} - 0x2fff);  // ends at 2^64: no exclusive end
        expect_refusal(bytes, Error::malformed, "p_vaddr", second + field::p_vaddr);
    }
    {
        Bytes bytes = good;
        poke64(bytes, second + field::p_vaddr, ~uint64_t{0} - 0x3000);  // ends at 2^64 - 1: fine
        poke64(bytes, second + field::p_paddr, ~uint64_t{0} - 0x2fff);
        expect_refusal(bytes, Error::malformed, "p_paddr", second + field::p_paddr);
    }
}

TEST(ElfImage, NeedsALoadableSegment) {
    ElfBuilder notes_only;
    notes_only.note_segment(note("Xen", 6, text("linux")));
    expect_refusal(notes_only.build(), Error::malformed, "e_phnum", field::e_phnum);

    // A PT_LOAD with no access right is not loadable (and not listed).
    ElfBuilder no_rights;
    no_rights.load(0x1000, 0x1000, pattern(16, 3), 16, 0).load(0x2000, 0x2000, pattern(16, 4));
    const Image image = accept(no_rights.build());
    ASSERT_EQ(image.segments().size(), 1u);
    EXPECT_EQ(image.segments()[0].virtual_address, 0x2000u);

    ElfBuilder only_no_rights;
    only_no_rights.load(0x1000, 0x1000, pattern(16, 3), 16, 0);
    expect_refusal(only_no_rights.build(), Error::malformed, "e_phnum", field::e_phnum);
}

TEST(ElfImage, SegmentCapacity) {
    ElfBuilder sixteen;
    for (uint64_t index = 0; index < 16; ++index) sixteen.load(0x100000 * (index + 1), 0x100000 * (index + 1), pattern(8, 1));
    EXPECT_EQ(accept(sixteen.build()).segments().size(), 16u);
    ElfBuilder seventeen = sixteen;
    seventeen.load(0x10000000, 0x10000000, pattern(8, 1));
    expect_refusal(seventeen.build(), Error::unsupported, "p_type", ElfBuilder::program_header_offset(16));
}

TEST(ElfImage, ZeroSizedSegmentsAndBss) {
    ElfBuilder builder;
    builder.load(0x400000, 0x400000, Bytes{}, 0x5000, pf_r | pf_w).load(0x200000, 0x200000, pattern(4, 1), 4);
    const Image image = accept(builder.build());
    EXPECT_EQ(image.segments()[0].file_size, 0u);
    EXPECT_EQ(image.lowest_virtual_address(), 0x200000u);
    EXPECT_EQ(image.highest_virtual_address(), 0x405000u);
}

// --- Notes -------------------------------------------------------------------------------------------

Bytes image_with_notes(const Bytes& notes, uint64_t alignment = 4, size_t* note_offset = nullptr) {
    ElfBuilder builder;
    builder.load(0x1000, 0x1000, pattern(16, 1)).note_segment(notes, alignment);
    const Bytes bytes = builder.build();
    if (note_offset != nullptr) *note_offset = builder.contents_offset(1);
    return bytes;
}

TEST(ElfNotes, NameAndDescriptorPadding) {
    // "Linux" has n_namesz 6: with 4-byte alignment the descriptor starts at 12 + 8 = 20.
    size_t at = 0;
    const Bytes bytes = image_with_notes(join({note("Linux", 1, u32(7)), note("", 2, u8(1)), note("Xen", 3, Bytes{})}),
                                         4, &at);
    const Image image = accept(bytes);
    ASSERT_EQ(image.notes().size(), 3u);
    EXPECT_EQ(view(image.notes()[0].name), "Linux");
    EXPECT_EQ(image.notes()[0].descriptor.data(), bytes.data() + at + 20);
    EXPECT_EQ(image.notes()[0].descriptor[0], 7);
    // An empty name (n_namesz 0) and an empty descriptor are both allowed.
    EXPECT_EQ(view(image.notes()[1].name), "");
    EXPECT_EQ(image.notes()[1].offset, at + 24);
    EXPECT_EQ(image.notes()[1].descriptor.data(), bytes.data() + at + 24 + 12);
    EXPECT_EQ(image.notes()[1].padded_descriptor.size(), 4u);
    EXPECT_EQ(image.notes()[2].offset, at + 24 + 16);
    EXPECT_EQ(image.notes()[2].descriptor.size(), 0u);
}

TEST(ElfNotes, EightByteAlignment) {
    // p_align 8 (as for .note.gnu.property): "Linux" (6 bytes) ends at 18, the descriptor starts at 24;
    // a 4-byte descriptor is padded to 8, so the next note starts at 32.
    size_t at = 0;
    const Bytes bytes = image_with_notes(join({note("Linux", 1, u32(0xabcd), 8), note("GNU", 5, u64(3), 8)}), 8, &at);
    const Image image = accept(bytes);
    ASSERT_EQ(image.notes().size(), 2u);
    EXPECT_EQ(image.notes()[0].descriptor.data(), bytes.data() + at + 24);
    EXPECT_EQ(image.notes()[0].padded_descriptor.size(), 8u);
    EXPECT_EQ(image.notes()[1].offset, at + 32);
    // "GNU\0" ends at 16, already 8-aligned.
    EXPECT_EQ(image.notes()[1].descriptor.data(), bytes.data() + at + 32 + 16);
}

TEST(ElfNotes, RefusesNotesOutsideTheirSegment) {
    size_t at = 0;
    // A header cut off: 8 bytes left.
    expect_refusal(image_with_notes(join({note("Xen", 1, u32(1)), Bytes(8, 0)}), 4, &at), Error::malformed,
                   "n_namesz", at + 20);
    // n_namesz past the end.
    expect_refusal(image_with_notes(raw_note(9, 0, 1, text("Xen")), 4, &at), Error::malformed, "n_namesz",
                   at + field::n_namesz);
    // n_namesz huge: no overflow.
    expect_refusal(image_with_notes(raw_note(0xffffffff, 0, 1, text("Xen")), 4, &at), Error::malformed, "n_namesz",
                   at + field::n_namesz);
    // n_descsz past the end.
    expect_refusal(image_with_notes(raw_note(4, 8, 1, join({text("Xen"), u32(1)})), 4, &at), Error::malformed,
                   "n_descsz", at + field::n_descsz);
    expect_refusal(image_with_notes(raw_note(4, 0xfffffffc, 1, join({text("Xen"), u32(1)})), 4, &at),
                   Error::malformed, "n_descsz", at + field::n_descsz);
    // The descriptor fits but its padding does not: 5 bytes, segment ends before the 3 padding bytes.
    expect_refusal(image_with_notes(raw_note(4, 5, 1, join({text("Xen"), Bytes(5, 1)})), 4, &at), Error::malformed,
                   "n_descsz", at + field::n_descsz);
    // Under 8-byte alignment a 4-byte descriptor needs 4 more bytes of padding.
    expect_refusal(image_with_notes(raw_note(4, 4, 1, join({text("Xen"), u32(1)})), 8, &at), Error::malformed,
                   "n_descsz", at + field::n_descsz);
    // A name without its NUL.
    expect_refusal(image_with_notes(raw_note(3, 0, 1, text("Xen")), 4, &at), Error::malformed, "n_namesz",
                   at + field::n_namesz);
}

TEST(ElfNotes, RefusesNoteSegmentOutsideFile) {
    ElfBuilder builder;
    builder.load(0x1000, 0x1000, pattern(16, 1)).note_segment(note("Xen", 1, u32(1)));
    Bytes bytes = builder.build();
    const size_t header = ElfBuilder::program_header_offset(1);
    poke64(bytes, header + field::p_filesz, bytes.size());
    expect_refusal(bytes, Error::malformed, "p_filesz", header + field::p_filesz);
}

TEST(ElfNotes, SkipsNoteSegmentAtOffsetZero) {
    ElfBuilder builder;
    builder.load(0x1000, 0x1000, pattern(16, 1)).note_segment(note("Xen", 1, u32(1)));
    Bytes bytes = builder.build();
    poke64(bytes, ElfBuilder::program_header_offset(1) + field::p_offset, 0);
    const Image image = accept(bytes);
    EXPECT_EQ(image.notes().size(), 0u);
    EXPECT_EQ(image.note_source(), NoteSource::none);
}

TEST(ElfNotes, ReadsSectionsOnlyWithoutNoteSegments) {
    ElfBuilder sections_only;
    sections_only.load(0x1000, 0x1000, pattern(16, 1))
        .section(sht_progbits, pattern(32, 5))
        .note_section(note("Xen", 6, text("linux")))
        .note_section(note("GNU", 3, u32(5)));
    const Image from_sections = accept(sections_only.build());
    ASSERT_EQ(from_sections.notes().size(), 2u);
    EXPECT_EQ(from_sections.note_source(), NoteSource::section_headers);
    EXPECT_EQ(from_sections.notes()[0].offset, sections_only.section_contents_offset(1));
    EXPECT_EQ(view(from_sections.notes()[1].name), "GNU");

    ElfBuilder both = sections_only;
    both.note_segment(note("Xen", 8, text("generic")));
    const Image from_segment = accept(both.build());
    ASSERT_EQ(from_segment.notes().size(), 1u);
    EXPECT_EQ(from_segment.note_source(), NoteSource::program_headers);
    EXPECT_EQ(from_segment.notes()[0].type, 8u);

    // A section note out of bounds is found (and refused) when the sections are read.
    Bytes bytes = sections_only.build();
    const size_t entry = sections_only.section_header_offset(2);
    poke64(bytes, entry + field::sh_size, bytes.size());
    expect_refusal(bytes, Error::malformed, "sh_size", entry + field::sh_size);
    // ...and a malformed note inside a section names the note.
    ElfBuilder bad_note;
    bad_note.load(0x1000, 0x1000, pattern(16, 1)).note_section(raw_note(4, 40, 1, text("Xen")));
    const Bytes bad = bad_note.build();
    expect_refusal(bad, Error::malformed, "n_descsz", bad_note.section_contents_offset(0) + field::n_descsz);
}

TEST(ElfNotes, NoteCapacity) {
    Bytes notes;
    for (int index = 0; index < 64; ++index) notes = join({notes, note("Xen", 99, u32(1))});
    EXPECT_EQ(accept(image_with_notes(notes)).notes().size(), 64u);
    size_t at = 0;
    expect_refusal(image_with_notes(join({notes, note("Xen", 99, u32(1))}), 4, &at), Error::unsupported, "n_type",
                   at + 64 * 20 + field::n_type);
}

TEST(ElfDiagnostic, Describes) {
    const Diagnostic diagnostic{"p_filesz", 0x98, "PT_LOAD file range extends past the end of the file"};
    char buffer[128];
    sluice::elf::describe(diagnostic, buffer, sizeof buffer);
    EXPECT_STREQ(buffer, "p_filesz at offset 0x98: PT_LOAD file range extends past the end of the file");
}

}  // namespace
