// Xen's ELF notes (elfnote.h) and the PV placement rules: a kernel laid out the way Linux's x86-64
// vmlinux is, numeric notes of every width, strings with and without their NUL, FEATURES strings, and
// every refusal with the note it names. Expected values come from elfnote.h, features.h and the
// hand-built images, never from the code under test.
#include <gtest/gtest.h>

#include <common/elf.hpp>
#include <common/xen_elf_notes.hpp>

#include "support/elf_builder.hpp"

#include <list>
#include <string>

namespace {

using namespace sluice::testing::elf_image;
using sluice::Error;
using sluice::elf::Diagnostic;
using sluice::elf::Image;
using sluice::xen_elf::PvLayout;
using sluice::xen_elf::XenNotes;

// elfnote.h type numbers, restated here from the header rather than taken from the code under test.
enum : uint32_t {
    entry_note = 1, hypercall_page_note = 2, virt_base_note = 3, paddr_offset_note = 4, xen_version_note = 5,
    guest_os_note = 6, guest_version_note = 7, loader_note = 8, pae_mode_note = 9, features_note = 10,
    bsd_symtab_note = 11, hv_start_low_note = 12, l1_mfn_valid_note = 13, suspend_cancel_note = 14,
    init_p2m_note = 15, mod_start_pfn_note = 16, supported_features_note = 17, phys32_entry_note = 18,
};
// features.h bit numbers.
constexpr uint32_t bit(unsigned number) { return uint32_t{1} << number; }
constexpr unsigned writable_page_tables = 0, supervisor_mode_kernel = 3, pae_pgdir_above_4gb = 4,
                   hvm_callback_vector = 8, dom0 = 11, linux_rsdp_unrestricted = 15;

std::string view(sluice::StringView text) { return std::string(text.data(), text.length()); }
sluice::Span<const uint8_t> span(const Bytes& bytes) { return {bytes.data(), bytes.size()}; }

constexpr uint64_t kernel_map = 0xffffffff80000000;  // Linux's __START_KERNEL_map
constexpr uint64_t text_physical = 0x1000000;
constexpr uint64_t startup_xen = kernel_map + text_physical + 0x1e0;
constexpr uint64_t hypercall_page = kernel_map + text_physical + 0x2000;
constexpr uint64_t p2m_base = 0x8000000000;  // PUD_SIZE * PTRS_PER_PUD

// The notes Linux 6.x writes for a PV-capable x86-64 kernel (arch/x86/xen/xen-head.S), in order.
Bytes linux_notes() {
    return join({
        xen_note(guest_os_note, text("linux")),
        xen_note(guest_version_note, text("2.6")),
        xen_note(xen_version_note, text("xen-3.0")),
        xen_note(virt_base_note, u64(kernel_map)),
        xen_note(init_p2m_note, u64(p2m_base)),
        xen_note(entry_note, u64(startup_xen)),
        xen_note(features_note, text("!writable_page_tables", false)),  // .ascii: no NUL in the descriptor
        xen_note(pae_mode_note, text("yes")),
        xen_note(l1_mfn_valid_note, join({u64(1), u64(1)})),
        xen_note(mod_start_pfn_note, u32(1)),
        xen_note(paddr_offset_note, u64(0)),
        xen_note(hypercall_page_note, u64(hypercall_page)),
        xen_note(supported_features_note, u32(bit(writable_page_tables) | bit(linux_rsdp_unrestricted) | bit(dom0))),
        xen_note(loader_note, text("generic")),
        xen_note(suspend_cancel_note, u32(1)),
        note("GNU", 3, Bytes(20, 0xaa)),  // a build-id among them
    });
}

// Text at 16 MiB physical / __START_KERNEL_map + 16 MiB, data after it, and a per-CPU segment whose
// p_vaddr is 0 (zero-based per-CPU area) but whose p_paddr follows the data, as in vmlinux.
ElfBuilder linux_like(const Bytes& notes) {
    ElfBuilder builder;
    builder.entry = 0x1000000;  // vmlinux's e_entry is the physical startup_64; the ENTRY note wins
    builder.load(kernel_map + text_physical, text_physical, Bytes(0x4000, 0x90), 0x4000, pf_r | pf_x)
        .load(kernel_map + 0x1400000, 0x1400000, Bytes(0x100, 1), 0x2000, pf_r | pf_w)
        .load(0, 0x1600000, Bytes(0x40, 2), 0x1000, pf_r | pf_w)
        .note_segment(notes);
    return builder;
}

// Images and notes view their bytes: images built as temporaries are kept alive for the whole program.
const Bytes& keep(const Bytes& bytes) {
    static std::list<Bytes> kept;
    kept.push_back(bytes);
    return kept.back();
}

Image parse_image(const Bytes& bytes) {
    Diagnostic diagnostic;
    sluice::Result<Image> image = Image::parse(span(bytes), diagnostic);
    EXPECT_TRUE(image.ok()) << diagnostic.field << ": " << diagnostic.reason;
    if (!image.ok()) std::abort();
    return image.value();
}

XenNotes read(const Bytes& built) {
    const Bytes& bytes = keep(built);
    const Image image = parse_image(bytes);
    Diagnostic diagnostic;
    sluice::Result<XenNotes> notes = sluice::xen_elf::read_xen_notes(image, diagnostic);
    EXPECT_TRUE(notes.ok()) << diagnostic.field << ": " << diagnostic.reason;
    if (!notes.ok()) std::abort();
    return notes.value();
}

Bytes with_notes(const Bytes& notes, size_t* note_offset = nullptr) {
    ElfBuilder builder;
    builder.load(0x1000, 0x1000, Bytes(0x2000, 0), 0x2000).note_segment(notes);
    const Bytes bytes = builder.build();
    if (note_offset != nullptr) *note_offset = builder.contents_offset(1);
    return bytes;
}

void expect_notes_refused(const Bytes& built, const std::string& field, uint64_t offset) {
    const Bytes& bytes = keep(built);
    const Image image = parse_image(bytes);
    Diagnostic diagnostic;
    const sluice::Result<XenNotes> notes = sluice::xen_elf::read_xen_notes(image, diagnostic);
    ASSERT_FALSE(notes.ok());
    EXPECT_EQ(notes.error(), Error::malformed);
    EXPECT_EQ(std::string(diagnostic.field), field);
    EXPECT_EQ(diagnostic.offset, offset);
    EXPECT_STRNE(diagnostic.reason, "");
}

TEST(XenElfNotes, ReadsLinuxNotes) {
    ElfBuilder builder = linux_like(linux_notes());
    const XenNotes notes = read(builder.build());
    EXPECT_EQ(notes.xen_note_count, 15u);
    EXPECT_EQ(view(notes.guest_os), "linux");
    EXPECT_EQ(view(notes.guest_version), "2.6");
    EXPECT_EQ(view(notes.xen_version), "xen-3.0");
    EXPECT_EQ(view(notes.pae_mode), "yes");
    EXPECT_EQ(view(notes.loader), "generic");
    EXPECT_TRUE(notes.loader_generic());
    EXPECT_EQ(notes.virt_base.value_or(1), kernel_map);
    EXPECT_EQ(notes.init_p2m.value_or(1), p2m_base);
    EXPECT_EQ(notes.entry.value_or(1), startup_xen);
    EXPECT_EQ(notes.paddr_offset.value_or(1), 0u);
    EXPECT_EQ(notes.hypercall_page.value_or(1), hypercall_page);
    EXPECT_EQ(notes.mod_start_pfn.value_or(0), 1u);
    EXPECT_EQ(notes.suspend_cancel.value_or(0), 1u);
    EXPECT_EQ(notes.l1_mfn_valid_mask.value_or(0), 1u);
    EXPECT_EQ(notes.l1_mfn_valid_value.value_or(0), 1u);
    EXPECT_EQ(notes.l1_mfn_valid_pairs, 1u);
    EXPECT_FALSE(notes.phys32_entry.has_value());
    EXPECT_FALSE(notes.hv_start_low.has_value());
    EXPECT_TRUE(notes.has_features);
    EXPECT_TRUE(notes.has_supported_features_note);
    EXPECT_EQ(notes.required_features, bit(writable_page_tables));
    EXPECT_EQ(notes.supported_features, bit(writable_page_tables) | bit(linux_rsdp_unrestricted) | bit(dom0));
    EXPECT_EQ(notes.ignored_feature_count, 0u);
    // The ENTRY note is the sixth: five notes before it of 12 + 4 + padded descriptor bytes.
    const uint64_t entry_offset = builder.contents_offset(3) + (16 + 8) + (16 + 4) + (16 + 8) + (16 + 8) + (16 + 8);
    EXPECT_EQ(notes.note_offset(entry_note), entry_offset);
    EXPECT_EQ(notes.note_offset(phys32_entry_note), 0u);
    EXPECT_EQ(notes.note_offset(200), 0u);
}

TEST(XenElfNotes, PlacesLinuxKernel) {
    const Bytes bytes = linux_like(linux_notes()).build();
    const Image image = parse_image(bytes);
    const XenNotes notes = read(bytes);
    Diagnostic diagnostic;
    const sluice::Result<PvLayout> layout = sluice::xen_elf::compute_pv_layout(image, notes, diagnostic);
    ASSERT_TRUE(layout.ok()) << diagnostic.field << ": " << diagnostic.reason;
    EXPECT_EQ(layout.value().virt_base, kernel_map);
    EXPECT_EQ(layout.value().paddr_offset, 0u);
    EXPECT_EQ(layout.value().virt_offset, kernel_map);
    EXPECT_EQ(layout.value().kernel_start, kernel_map + 0x1000000);
    EXPECT_EQ(layout.value().kernel_end, kernel_map + 0x1601000);  // the per-CPU segment, placed by p_paddr
    EXPECT_EQ(layout.value().segment_virtual_address(image.segments()[2]), kernel_map + 0x1600000);
    EXPECT_EQ(layout.value().entry, startup_xen);
    EXPECT_EQ(layout.value().hypercall_page.value_or(0), hypercall_page);
    EXPECT_EQ(layout.value().p2m_base.value_or(0), p2m_base);
    EXPECT_TRUE(layout.value().unmapped_initrd);
    EXPECT_EQ(layout.value().required_features, bit(writable_page_tables));
}

TEST(XenElfNotes, NumericWidths) {
    const XenNotes notes = read(with_notes(join({
        xen_note(entry_note, u8(0x12)),
        xen_note(hypercall_page_note, u16(0x3000)),
        xen_note(virt_base_note, u32(0x80000000)),
        xen_note(hv_start_low_note, u64(0xffff800000000000)),
        xen_note(phys32_entry_note, u32(0x100000)),
        xen_note(init_p2m_note, u64(0x123456789abcdef0)),
    })));
    EXPECT_EQ(notes.entry.value_or(0), 0x12u);
    EXPECT_EQ(notes.hypercall_page.value_or(0), 0x3000u);
    EXPECT_EQ(notes.virt_base.value_or(0), 0x80000000u);
    EXPECT_EQ(notes.hv_start_low.value_or(0), 0xffff800000000000u);
    EXPECT_EQ(notes.phys32_entry.value_or(0), 0x100000u);
    EXPECT_EQ(notes.init_p2m.value_or(0), 0x123456789abcdef0u);
}

TEST(XenElfNotes, RefusesNumericOfWrongSize) {
    for (size_t size : {0u, 3u, 5u, 16u}) {
        size_t at = 0;
        const Bytes bytes = with_notes(join({xen_note(guest_os_note, text("linux")),
                                             xen_note(hypercall_page_note, Bytes(size, 1))}),
                                       &at);
        expect_notes_refused(bytes, "XEN_ELFNOTE_HYPERCALL_PAGE", at + 12 + 4 + 8);
    }
    size_t at = 0;
    expect_notes_refused(with_notes(xen_note(phys32_entry_note, u64(0x100000000)), &at), "XEN_ELFNOTE_PHYS32_ENTRY", at);
    expect_notes_refused(with_notes(xen_note(l1_mfn_valid_note, u64(1)), &at), "XEN_ELFNOTE_L1_MFN_VALID", at);
    expect_notes_refused(with_notes(xen_note(supported_features_note, u16(1)), &at),
                         "XEN_ELFNOTE_SUPPORTED_FEATURES", at);
    expect_notes_refused(with_notes(xen_note(supported_features_note, Bytes{}), &at),
                         "XEN_ELFNOTE_SUPPORTED_FEATURES", at);
}

TEST(XenElfNotes, Strings) {
    // NUL inside the descriptor; .ascii relying on the padding; an empty string.
    const XenNotes notes = read(with_notes(join({
        xen_note(guest_os_note, Bytes{'l', 'i', 'n', 'u', 'x', 0, 'j', 'k'}),
        xen_note(loader_note, text("generic", false)),  // 7 bytes, padded to 8 with a zero
        xen_note(bsd_symtab_note, text("")),
    })));
    EXPECT_EQ(view(notes.guest_os), "linux");
    EXPECT_EQ(view(notes.loader), "generic");
    EXPECT_EQ(view(notes.bsd_symtab), "");
    // 8 bytes without a NUL and no padding after them: nowhere for the string to end.
    size_t at = 0;
    expect_notes_refused(with_notes(xen_note(guest_version_note, text("12345678", false)), &at),
                         "XEN_ELFNOTE_GUEST_VERSION", at);
    expect_notes_refused(with_notes(xen_note(features_note, Bytes{}), &at), "XEN_ELFNOTE_FEATURES", at);
}

TEST(XenElfNotes, FeaturesString) {
    const XenNotes notes = read(with_notes(
        xen_note(features_note, text("writable_page_tables|!dom0||pae_pgdir_above_4gb|hvm_callback_vector|"))));
    EXPECT_TRUE(notes.has_features);
    EXPECT_FALSE(notes.has_supported_features_note);
    EXPECT_EQ(notes.supported_features,
              bit(writable_page_tables) | bit(dom0) | bit(pae_pgdir_above_4gb) | bit(hvm_callback_vector));
    EXPECT_EQ(notes.required_features, bit(dom0));
}

TEST(XenElfNotes, UnknownFeatures) {
    // Unknown and optional: ignored, as Xen ignores it, but reported.
    const XenNotes notes = read(with_notes(xen_note(features_note, text("dom0|shiny_new_thing|other_thing"))));
    EXPECT_EQ(notes.supported_features, bit(dom0));
    EXPECT_EQ(notes.ignored_feature_count, 2u);
    EXPECT_EQ(view(notes.first_ignored_feature), "shiny_new_thing");
    // Unknown and required: refused.
    size_t at = 0;
    expect_notes_refused(with_notes(xen_note(features_note, text("dom0|!shiny_new_thing")), &at),
                         "XEN_ELFNOTE_FEATURES", at);
    expect_notes_refused(with_notes(xen_note(features_note, text("!")), &at), "XEN_ELFNOTE_FEATURES", at);
    // Names are exact: no prefix, no case folding.
    const XenNotes near_misses = read(with_notes(xen_note(features_note, text("Dom0|dom|dom00"))));
    EXPECT_EQ(near_misses.supported_features, 0u);
    EXPECT_EQ(near_misses.ignored_feature_count, 3u);
}

TEST(XenElfNotes, RepeatedNotes) {
    // Xen's loader overwrites: the later numeric or string note wins; feature notes accumulate.
    const XenNotes notes = read(with_notes(join({
        xen_note(virt_base_note, u64(0x1000)),
        xen_note(features_note, text("!pae_pgdir_above_4gb")),
        xen_note(guest_os_note, text("netbsd")),
        xen_note(virt_base_note, u32(0x2000)),
        xen_note(supported_features_note, join({u32(bit(dom0)), u32(0xffffffff)})),  // second submap ignored
        xen_note(features_note, text("writable_page_tables")),
        xen_note(guest_os_note, text("linux")),
    })));
    EXPECT_EQ(notes.virt_base.value_or(0), 0x2000u);
    EXPECT_EQ(view(notes.guest_os), "linux");
    EXPECT_EQ(notes.supported_features, bit(pae_pgdir_above_4gb) | bit(dom0) | bit(writable_page_tables));
    EXPECT_EQ(notes.required_features, bit(pae_pgdir_above_4gb));
}

TEST(XenElfNotes, IgnoresOtherOwnersAndUnknownTypes) {
    const XenNotes notes = read(with_notes(join({
        note("GNU", entry_note, u64(0x1234)),
        note("Xen2", entry_note, u64(0x1234)),
        note("xen", entry_note, u64(0x1234)),
        note("", entry_note, u64(0x1234)),
        xen_note(0, text("NAME=VALUE")),  // XEN_ELFNOTE_INFO: not read by Xen's loader
        xen_note(19, u32(0x200000)),      // newer than what this reads
        xen_note(0x1234, Bytes(3, 0)),
    })));
    EXPECT_FALSE(notes.entry.has_value());
    EXPECT_EQ(notes.xen_note_count, 3u);
}

TEST(XenElfNotes, NotesFromSections) {
    ElfBuilder builder;
    builder.load(0x1000, 0x1000, Bytes(16, 0)).note_section(join({xen_note(guest_os_note, text("linux")),
                                                                   xen_note(entry_note, u32(0x1008))}));
    const XenNotes notes = read(builder.build());
    EXPECT_EQ(view(notes.guest_os), "linux");
    EXPECT_EQ(notes.entry.value_or(0), 0x1008u);
    EXPECT_EQ(notes.note_offset(guest_os_note), builder.section_contents_offset(0));
}

TEST(XenElfNotes, FeatureNames) {
    const std::pair<const char*, unsigned> names[] = {
        {"writable_page_tables", 0}, {"writable_descriptor_tables", 1}, {"auto_translated_physmap", 2},
        {"supervisor_mode_kernel", 3}, {"pae_pgdir_above_4gb", 4}, {"mmu_pt_update_preserve_ad", 5},
        {"highmem_assist", 6}, {"gnttab_map_avail_bits", 7}, {"hvm_callback_vector", 8},
        {"hvm_safe_pvclock", 9}, {"hvm_pirqs", 10}, {"dom0", 11}, {"memory_op_vnode_supported", 13},
        {"ARM_SMCCC_supported", 14}, {"linux_rsdp_unrestricted", 15}, {"not_direct_mapped", 16},
        {"direct_mapped", 17}, {"runstate_phys_area", 18}, {"vcpu_time_phys_area", 19},
        {"dm_msix_all_writes", 20},
    };
    for (const auto& [name, number] : names) {
        EXPECT_EQ(sluice::xen_elf::feature_bit(name).value_or(99), number) << name;
        EXPECT_STREQ(sluice::xen_elf::feature_name(number), name);
    }
    EXPECT_FALSE(sluice::xen_elf::feature_bit("grant_map_identity").has_value());  // withdrawn
    EXPECT_FALSE(sluice::xen_elf::feature_bit(static_cast<const char*>(nullptr)).has_value());
    EXPECT_FALSE(sluice::xen_elf::feature_bit("").has_value());
    EXPECT_EQ(sluice::xen_elf::feature_name(12), nullptr);
    EXPECT_EQ(sluice::xen_elf::feature_name(21), nullptr);
    EXPECT_EQ(sluice::xen_elf::feature_name(31), nullptr);
    EXPECT_STREQ(sluice::xen_elf::note_name(2), "XEN_ELFNOTE_HYPERCALL_PAGE");
    EXPECT_STREQ(sluice::xen_elf::note_name(18), "XEN_ELFNOTE_PHYS32_ENTRY");
}

// --- compute_pv_layout ------------------------------------------------------------------------------

struct Outcome {
    bool ok;
    PvLayout layout;
    Error error;
    std::string field;
    uint64_t offset;
};

Outcome layout_of(const Bytes& built) {
    const Bytes& bytes = keep(built);
    const Image image = parse_image(bytes);
    const XenNotes notes = read(bytes);
    Diagnostic diagnostic;
    const sluice::Result<PvLayout> layout = sluice::xen_elf::compute_pv_layout(image, notes, diagnostic);
    if (layout.ok()) return {true, layout.value(), Error::invalid_argument, "", 0};
    EXPECT_STRNE(diagnostic.reason, "");
    return {false, {}, layout.error(), diagnostic.field, diagnostic.offset};
}

Bytes generic_notes() {
    return join({xen_note(loader_note, text("generic")), xen_note(xen_version_note, text("xen-3.0"))});
}

// A minimal generic kernel: one segment at physical 0x200000, e_entry inside it.
Bytes small_kernel(const Bytes& extra_notes, uint64_t physical = 0x200000, uint64_t entry = 0x200010) {
    ElfBuilder builder;
    builder.entry = entry;
    builder.load(physical, physical, Bytes(0x3000, 0), 0x3000).note_segment(join({generic_notes(), extra_notes}));
    return builder.build();
}

TEST(PvLayout, DefaultsWithoutVirtBase) {
    const Outcome outcome = layout_of(small_kernel({}));
    ASSERT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.virt_base, 0u);
    EXPECT_EQ(outcome.layout.paddr_offset, 0u);
    EXPECT_EQ(outcome.layout.kernel_start, 0x200000u);  // virtual = pseudo-physical from 0
    EXPECT_EQ(outcome.layout.kernel_end, 0x203000u);
    EXPECT_EQ(outcome.layout.entry, 0x200010u);  // e_entry
    EXPECT_FALSE(outcome.layout.hypercall_page.has_value());
    EXPECT_FALSE(outcome.layout.unmapped_initrd);
}

TEST(PvLayout, PaddrOffsetAsOldKernelsWroteIt) {
    // p_paddr = p_vaddr and PADDR_OFFSET = VIRT_BASE: virtual = p_paddr.
    const uint64_t base = 0xffffffff80000000;
    const Outcome outcome =
        layout_of(small_kernel(join({xen_note(virt_base_note, u64(base)), xen_note(paddr_offset_note, u64(base))}),
                               base + 0x100000, base + 0x100000));
    ASSERT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.virt_offset, 0u);
    EXPECT_EQ(outcome.layout.kernel_start, base + 0x100000);
}

TEST(PvLayout, RefusesPaddrOffsetWithoutVirtBase) {
    const Outcome outcome = layout_of(small_kernel(xen_note(paddr_offset_note, u64(0))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error, Error::malformed);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_PADDR_OFFSET");
}

TEST(PvLayout, RefusesSegmentBelowVirtBase) {
    // VIRT_BASE 0x400000 with PADDR_OFFSET 0x300000: the segment lands at 0x200000 + 0x100000 < base.
    const Outcome outcome = layout_of(
        small_kernel(join({xen_note(virt_base_note, u64(0x400000)), xen_note(paddr_offset_note, u64(0x300000))})));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "p_paddr");
    EXPECT_EQ(outcome.offset, ElfBuilder::program_header_offset(0) + field::p_paddr);
}

TEST(PvLayout, RefusesHypervisorRangeNonCanonicalAndWrap) {
    // Placed in L4 slot 256.
    Outcome outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0xffff800000000000)), 0, 0x10));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "p_paddr");
    // Non-canonical.
    outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0x0000800000000000)), 0, 0x10));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "p_paddr");
    // Straddling the canonical hole from below.
    outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0x00007fffffffe000)), 0, 0x10));
    EXPECT_FALSE(outcome.ok);
    // Wrapping past 2^64 once placed.
    outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0xffffffffffffe000)), 0, 0x10));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "p_memsz");
    // Just below the hypervisor range and just above it are fine.
    outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0xffff880000000000)), 0, 0xffff880000000010));
    EXPECT_TRUE(outcome.ok) << outcome.field;
    outcome = layout_of(small_kernel(xen_note(virt_base_note, u64(0x00007fffffffd000)), 0, 0x00007fffffffd010));
    EXPECT_TRUE(outcome.ok) << outcome.field;
}

TEST(PvLayout, EntryMustBeInsideASegment) {
    Outcome outcome = layout_of(small_kernel({}, 0x200000, 0x203000));  // one past the end
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "e_entry");
    EXPECT_EQ(outcome.offset, field::e_entry);
    outcome = layout_of(small_kernel(xen_note(entry_note, u64(0x1fffff)), 0x200000, 0x200010));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_ENTRY");
    outcome = layout_of(small_kernel(xen_note(entry_note, u64(0x202fff)), 0x200000, 0));  // last byte; e_entry unused
    EXPECT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.entry, 0x202fffu);
}

TEST(PvLayout, HypercallPage) {
    Outcome outcome = layout_of(small_kernel(xen_note(hypercall_page_note, u64(0x202000))));
    ASSERT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.hypercall_page.value_or(0), 0x202000u);
    outcome = layout_of(small_kernel(xen_note(hypercall_page_note, u64(0x201800))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_HYPERCALL_PAGE");
    outcome = layout_of(small_kernel(xen_note(hypercall_page_note, u64(0x203000))));  // page past the end
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_HYPERCALL_PAGE");
    outcome = layout_of(small_kernel(xen_note(hypercall_page_note, u64(0x1ff000))));
    EXPECT_FALSE(outcome.ok);
}

TEST(PvLayout, InitP2m) {
    Outcome outcome = layout_of(small_kernel(xen_note(init_p2m_note, u64(0x202000))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_INIT_P2M");
    outcome = layout_of(small_kernel(xen_note(init_p2m_note, u64(0x8000000001))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_INIT_P2M");
    outcome = layout_of(small_kernel(xen_note(init_p2m_note, u64(0x203000))));  // just after the kernel
    EXPECT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.p2m_base.value_or(0), 0x203000u);
}

TEST(PvLayout, KernelIdentityChecks) {
    ElfBuilder no_notes;
    no_notes.entry = 0x1000;
    no_notes.load(0x1000, 0x1000, Bytes(16, 0));
    Outcome outcome = layout_of(no_notes.build());
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.error, Error::unsupported);

    ElfBuilder netbsd;
    netbsd.entry = 0x1000;
    netbsd.load(0x1000, 0x1000, Bytes(16, 0))
        .note_segment(join({xen_note(guest_os_note, text("NetBSD")), xen_note(xen_version_note, text("xen-3.0"))}));
    outcome = layout_of(netbsd.build());
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_GUEST_OS");

    ElfBuilder linux_guest;
    linux_guest.entry = 0x1000;
    linux_guest.load(0x1000, 0x1000, Bytes(16, 0))
        .note_segment(join({xen_note(guest_os_note, text("linux")), xen_note(xen_version_note, text("xen-3.0"))}));
    outcome = layout_of(linux_guest.build());
    EXPECT_TRUE(outcome.ok) << outcome.field;

    ElfBuilder old_xen;
    old_xen.entry = 0x1000;
    old_xen.load(0x1000, 0x1000, Bytes(16, 0))
        .note_segment(join({xen_note(loader_note, text("generic")), xen_note(xen_version_note, text("xen-2.0"))}));
    outcome = layout_of(old_xen.build());
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_XEN_VERSION");
}

TEST(PvLayout, FeatureChecksXenMakesForDom0) {
    // SUPPORTED_FEATURES without dom0.
    Outcome outcome = layout_of(small_kernel(xen_note(supported_features_note, u32(bit(writable_page_tables)))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_SUPPORTED_FEATURES");
    // A FEATURES string alone need not name dom0 (Xen checks only the bitmap note).
    outcome = layout_of(small_kernel(xen_note(features_note, text("!writable_page_tables"))));
    EXPECT_TRUE(outcome.ok) << outcome.field;
    // supervisor_mode_kernel required.
    outcome = layout_of(small_kernel(xen_note(features_note, text("dom0|!supervisor_mode_kernel"))));
    EXPECT_FALSE(outcome.ok);
    EXPECT_EQ(outcome.field, "XEN_ELFNOTE_FEATURES");
    // ...but merely supported is fine.
    outcome = layout_of(small_kernel(xen_note(features_note, text("supervisor_mode_kernel"))));
    EXPECT_TRUE(outcome.ok) << outcome.field;
    EXPECT_EQ(outcome.layout.supported_features, bit(supervisor_mode_kernel));
}

}  // namespace
