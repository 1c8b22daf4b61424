#include <common/xen_elf_notes.hpp>

#include <public/elfnote.hpp>
#include <public/features.hpp>

#include <sluice/utility.hpp>

namespace sluice::xen_elf {
namespace {

constexpr StringView xen_owner{"Xen"};

struct FeatureName {
    const char* name;
    unsigned bit;
};

// features.h, without the "XENFEAT_" prefix.
constexpr FeatureName feature_names[] = {
    {"writable_page_tables", XENFEAT_writable_page_tables},
    {"writable_descriptor_tables", XENFEAT_writable_descriptor_tables},
    {"auto_translated_physmap", XENFEAT_auto_translated_physmap},
    {"supervisor_mode_kernel", XENFEAT_supervisor_mode_kernel},
    {"pae_pgdir_above_4gb", XENFEAT_pae_pgdir_above_4gb},
    {"mmu_pt_update_preserve_ad", XENFEAT_mmu_pt_update_preserve_ad},
    {"highmem_assist", XENFEAT_highmem_assist},
    {"gnttab_map_avail_bits", XENFEAT_gnttab_map_avail_bits},
    {"hvm_callback_vector", XENFEAT_hvm_callback_vector},
    {"hvm_safe_pvclock", XENFEAT_hvm_safe_pvclock},
    {"hvm_pirqs", XENFEAT_hvm_pirqs},
    {"dom0", XENFEAT_dom0},
    {"memory_op_vnode_supported", XENFEAT_memory_op_vnode_supported},
    {"ARM_SMCCC_supported", XENFEAT_ARM_SMCCC_supported},
    {"linux_rsdp_unrestricted", XENFEAT_linux_rsdp_unrestricted},
    {"not_direct_mapped", XENFEAT_not_direct_mapped},
    {"direct_mapped", XENFEAT_direct_mapped},
    {"runstate_phys_area", XENFEAT_runstate_phys_area},
    {"vcpu_time_phys_area", XENFEAT_vcpu_time_phys_area},
    {"dm_msix_all_writes", XENFEAT_dm_msix_all_writes},
};

// This file's numbers agree with the ABI headers in include/public/ (both written from Xen's).
static_assert(XENFEAT_writable_page_tables == xen::XENFEAT_writable_page_tables);
static_assert(XENFEAT_supervisor_mode_kernel == xen::XENFEAT_supervisor_mode_kernel);
static_assert(XENFEAT_hvm_callback_vector == xen::XENFEAT_hvm_callback_vector);
static_assert(XENFEAT_dom0 == xen::XENFEAT_dom0);
static_assert(XENFEAT_memory_op_vnode_supported == xen::XENFEAT_memory_op_vnode_supported);
static_assert(XENFEAT_linux_rsdp_unrestricted == xen::XENFEAT_linux_rsdp_unrestricted);
static_assert(XENFEAT_direct_mapped == xen::XENFEAT_direct_mapped);
static_assert(XENFEAT_dm_msix_all_writes == xen::XENFEAT_dm_msix_all_writes);
static_assert(XEN_ELFNOTE_HYPERCALL_PAGE == xen::XEN_ELFNOTE_HYPERCALL_PAGE);
static_assert(XEN_ELFNOTE_FEATURES == xen::XEN_ELFNOTE_FEATURES);
static_assert(XEN_ELFNOTE_L1_MFN_VALID == xen::XEN_ELFNOTE_L1_MFN_VALID);
static_assert(XEN_ELFNOTE_SUPPORTED_FEATURES == xen::XEN_ELFNOTE_SUPPORTED_FEATURES);
static_assert(XEN_ELFNOTE_PHYS32_ENTRY == xen::XEN_ELFNOTE_PHYS32_ENTRY);

constexpr const char* note_names[note_type_count] = {
    "XEN_ELFNOTE_INFO",         "XEN_ELFNOTE_ENTRY",          "XEN_ELFNOTE_HYPERCALL_PAGE",
    "XEN_ELFNOTE_VIRT_BASE",    "XEN_ELFNOTE_PADDR_OFFSET",   "XEN_ELFNOTE_XEN_VERSION",
    "XEN_ELFNOTE_GUEST_OS",     "XEN_ELFNOTE_GUEST_VERSION",  "XEN_ELFNOTE_LOADER",
    "XEN_ELFNOTE_PAE_MODE",     "XEN_ELFNOTE_FEATURES",       "XEN_ELFNOTE_BSD_SYMTAB",
    "XEN_ELFNOTE_HV_START_LOW", "XEN_ELFNOTE_L1_MFN_VALID",   "XEN_ELFNOTE_SUSPEND_CANCEL",
    "XEN_ELFNOTE_INIT_P2M",     "XEN_ELFNOTE_MOD_START_PFN",  "XEN_ELFNOTE_SUPPORTED_FEATURES",
    "XEN_ELFNOTE_PHYS32_ENTRY",
};

uint64_t read_little_endian(const uint8_t* bytes, size_t size) {
    uint64_t value = 0;
    for (size_t index = size; index > 0; --index) value = (value << 8) | bytes[index - 1];
    return value;
}

Error refuse(elf::Diagnostic& diagnostic, Error error, const char* field, uint64_t offset, const char* reason) {
    diagnostic.field = field;
    diagnostic.offset = offset;
    diagnostic.reason = reason;
    return error;
}

Error malformed_note(elf::Diagnostic& diagnostic, const elf::Note& note, const char* reason) {
    return refuse(diagnostic, Error::malformed, note_name(note.type), note.offset, reason);
}

// elf_note_numeric in Xen's loader: 1, 2, 4 or 8 bytes, little endian.
Result<uint64_t> numeric(const elf::Note& note, elf::Diagnostic& diagnostic) {
    const size_t size = note.descriptor.size();
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return malformed_note(diagnostic, note, "numeric descriptor is not 1, 2, 4 or 8 bytes");
    return read_little_endian(note.descriptor.data(), size);
}

// The characters before the first NUL of the descriptor or, failing that, of its alignment padding.
Result<StringView> string(const elf::Note& note, elf::Diagnostic& diagnostic) {
    const Span<const uint8_t> area =
        note.padded_descriptor.size() >= note.descriptor.size() && note.padded_descriptor.data() == note.descriptor.data()
            ? note.padded_descriptor
            : note.descriptor;
    for (size_t index = 0; index < area.size(); ++index)
        if (area[index] == 0) return StringView(reinterpret_cast<const char*>(area.data()), index);
    return malformed_note(diagnostic, note, "string descriptor has no terminating NUL");
}

Status parse_features(StringView text, const elf::Note& note, XenNotes& notes, elf::Diagnostic& diagnostic) {
    size_t start = 0;
    while (start <= text.length()) {
        const size_t end = text.find('|', start);
        StringView token = text.substring(start, end - start);
        start = end + 1;
        if (token.empty()) continue;  // "a||b" or a trailing '|': nothing named
        const bool required = token[0] == '!';
        if (required) token = token.substring(1);
        const Optional<unsigned> bit = feature_bit(token);
        if (!bit) {
            if (required) return malformed_note(diagnostic, note, "a required (\"!\") feature name is unknown");
            if (notes.ignored_feature_count++ == 0) notes.first_ignored_feature = token;
            continue;
        }
        notes.supported_features |= uint32_t{1} << *bit;
        if (required) notes.required_features |= uint32_t{1} << *bit;
    }
    return success();
}

Status read_note(const elf::Note& note, XenNotes& notes, elf::Diagnostic& diagnostic) {
    switch (note.type) {
    case XEN_ELFNOTE_ENTRY: notes.entry = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_HYPERCALL_PAGE: notes.hypercall_page = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_VIRT_BASE: notes.virt_base = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_PADDR_OFFSET: notes.paddr_offset = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_HV_START_LOW: notes.hv_start_low = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_SUSPEND_CANCEL: notes.suspend_cancel = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_INIT_P2M: notes.init_p2m = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_MOD_START_PFN: notes.mod_start_pfn = SLUICE_TRY(numeric(note, diagnostic)); break;
    case XEN_ELFNOTE_PHYS32_ENTRY: {
        const uint64_t value = SLUICE_TRY(numeric(note, diagnostic));
        // A 32-bit protected-mode entry; Xen keeps it in 32 bits.
        if (value > 0xffffffff) return malformed_note(diagnostic, note, "physical entry does not fit 32 bits");
        notes.phys32_entry = value;
        break;
    }
    case XEN_ELFNOTE_XEN_VERSION: notes.xen_version = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_GUEST_OS: notes.guest_os = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_GUEST_VERSION: notes.guest_version = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_LOADER: notes.loader = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_PAE_MODE: notes.pae_mode = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_BSD_SYMTAB: notes.bsd_symtab = SLUICE_TRY(string(note, diagnostic)); break;
    case XEN_ELFNOTE_FEATURES: {
        const StringView text = SLUICE_TRY(string(note, diagnostic));
        SLUICE_TRY(parse_features(text, note, notes, diagnostic));
        notes.has_features = true;
        break;
    }
    case XEN_ELFNOTE_SUPPORTED_FEATURES: {
        // An array of 32-bit submaps; XENFEAT_NR_SUBMAPS is 1, so only the first one means anything.
        const size_t size = note.descriptor.size();
        if (size == 0 || size % 4 != 0)
            return malformed_note(diagnostic, note, "feature bitmap is not a whole number of 32-bit words");
        notes.supported_features |= static_cast<uint32_t>(read_little_endian(note.descriptor.data(), 4));
        notes.has_features = true;
        notes.has_supported_features_note = true;
        break;
    }
    case XEN_ELFNOTE_L1_MFN_VALID: {
        const size_t size = note.descriptor.size();
        if (size == 0 || size % 16 != 0)
            return malformed_note(diagnostic, note, "not a whole number of 8-byte mask/value pairs");
        notes.l1_mfn_valid_mask = read_little_endian(note.descriptor.data(), 8);
        notes.l1_mfn_valid_value = read_little_endian(note.descriptor.data() + 8, 8);
        notes.l1_mfn_valid_pairs = static_cast<uint32_t>(size / 16);
        break;
    }
    default: return success();  // XEN_ELFNOTE_INFO and types Xen's loader does not know: ignored
    }
    notes.note_offsets[note.type] = note.offset;
    return success();
}

constexpr bool canonical(uint64_t address) {
    return address < 0x0000800000000000 || address >= 0xffff800000000000;
}

// [start, start + length) inside some segment's [virtual, virtual + memory_size), placed as Xen places it.
bool inside_a_segment(const elf::Image& image, const PvLayout& layout, uint64_t start, uint64_t length) {
    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t base = layout.segment_virtual_address(segment);
        if (start >= base && start - base < segment.memory_size && length <= segment.memory_size - (start - base))
            return true;
    }
    return false;
}

}  // namespace

const char* note_name(uint32_t type) {
    return type < note_type_count ? note_names[type] : "XEN_ELFNOTE (unknown type)";
}

Optional<unsigned> feature_bit(StringView name) {
    for (const FeatureName& feature : feature_names)
        if (name == StringView(feature.name)) return feature.bit;
    return {};
}

const char* feature_name(unsigned bit) {
    for (const FeatureName& feature : feature_names)
        if (feature.bit == bit) return feature.name;
    return nullptr;
}

bool XenNotes::loader_generic() const { return loader.starts_with("generic"); }

Result<XenNotes> read_xen_notes(const elf::Image& image, elf::Diagnostic& diagnostic) {
    XenNotes notes;
    for (const elf::Note& note : image.notes()) {
        if (!(note.name == xen_owner)) continue;
        ++notes.xen_note_count;
        SLUICE_TRY(read_note(note, notes, diagnostic));
    }
    return notes;
}

Result<PvLayout> compute_pv_layout(const elf::Image& image, const XenNotes& notes, elf::Diagnostic& diagnostic) {
    constexpr uint64_t header_entry_offset = offsetof(elf::Elf64_Ehdr, e_entry);
    if (notes.xen_note_count == 0)
        return refuse(diagnostic, Error::unsupported, "PT_NOTE", 0,
                      "not a Xen PV kernel: no \"Xen\" ELF notes");
    // elf_xen_note_check: the first 7 characters of LOADER, the first 5 of GUEST_OS, 7 of XEN_VERSION.
    if (!notes.loader_generic() && !notes.guest_os.starts_with("linux"))
        return refuse(diagnostic, Error::unsupported,
                      notes.loader.empty() ? note_name(XEN_ELFNOTE_GUEST_OS) : note_name(XEN_ELFNOTE_LOADER),
                      notes.loader.empty() ? notes.note_offset(XEN_ELFNOTE_GUEST_OS)
                                           : notes.note_offset(XEN_ELFNOTE_LOADER),
                      notes.loader.empty() && notes.guest_os.empty()
                          ? "no LOADER or GUEST_OS note (Xen needs LOADER \"generic\" or GUEST_OS \"linux\")"
                          : "neither LOADER \"generic\" nor GUEST_OS \"linux\"");
    if (!notes.xen_version.starts_with("xen-3.0"))
        return refuse(diagnostic, Error::unsupported, note_name(XEN_ELFNOTE_XEN_VERSION),
                      notes.note_offset(XEN_ELFNOTE_XEN_VERSION),
                      notes.note_offset(XEN_ELFNOTE_XEN_VERSION) == 0 ? "no XEN_VERSION note (Xen needs \"xen-3.0\")"
                                                                      : "XEN_VERSION is not \"xen-3.0\"");
    if (notes.has_supported_features_note && (notes.supported_features & (uint32_t{1} << XENFEAT_dom0)) == 0)
        return refuse(diagnostic, Error::unsupported, note_name(XEN_ELFNOTE_SUPPORTED_FEATURES),
                      notes.note_offset(XEN_ELFNOTE_SUPPORTED_FEATURES), "kernel does not support dom0 operation");
    if ((notes.required_features & (uint32_t{1} << XENFEAT_supervisor_mode_kernel)) != 0)
        return refuse(diagnostic, Error::unsupported, note_name(XEN_ELFNOTE_FEATURES),
                      notes.note_offset(XEN_ELFNOTE_FEATURES), "kernel requires supervisor_mode_kernel");
    if (notes.paddr_offset && !notes.virt_base)
        return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_PADDR_OFFSET),
                      notes.note_offset(XEN_ELFNOTE_PADDR_OFFSET), "PADDR_OFFSET given without VIRT_BASE");

    PvLayout layout;
    layout.virt_base = notes.virt_base.value_or(0);
    layout.paddr_offset = notes.paddr_offset.value_or(0);
    layout.virt_offset = layout.virt_base - layout.paddr_offset;  // modular, as Xen computes it
    layout.supported_features = notes.supported_features;
    layout.required_features = notes.required_features;
    layout.unmapped_initrd = notes.mod_start_pfn.value_or(0) != 0;

    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t start = layout.segment_virtual_address(segment);
        const uint64_t field = segment.header_offset + offsetof(elf::Elf64_Phdr, p_paddr);
        if (start < layout.virt_base)
            return refuse(diagnostic, Error::malformed, "p_paddr", field,
                          "PT_LOAD is placed below VIRT_BASE (p_paddr + VIRT_BASE - PADDR_OFFSET)");
        if (segment.memory_size > ~uint64_t{0} - start)
            return refuse(diagnostic, Error::malformed, "p_memsz",
                          segment.header_offset + offsetof(elf::Elf64_Phdr, p_memsz),
                          "PT_LOAD wraps past the top of the address space once placed");
        const uint64_t last = segment.memory_size == 0 ? start : start + segment.memory_size - 1;
        if (!canonical(start) || !canonical(last) || (start < 0x0000800000000000) != (last < 0x0000800000000000))
            return refuse(diagnostic, Error::malformed, "p_paddr", field, "PT_LOAD is placed at non-canonical addresses");
        if (start < hypervisor_virt_end && last >= hypervisor_virt_start)
            return refuse(diagnostic, Error::malformed, "p_paddr", field,
                          "PT_LOAD is placed in the hypervisor's range (L4 slots 256-271)");
        // Xen's virt_kstart/virt_kend are pstart/pend + virt_offset; taking the extremes of the placed
        // segments gives the same values and stays right even if the modular offset reorders them.
        const uint64_t end = start + segment.memory_size;
        const bool first = &segment == image.segments().begin();
        layout.kernel_start = first ? start : min(layout.kernel_start, start);
        layout.kernel_end = first ? end : max(layout.kernel_end, end);
    }

    if (notes.entry) {
        layout.entry = *notes.entry;
        if (!inside_a_segment(image, layout, layout.entry, 1))
            return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_ENTRY), notes.note_offset(XEN_ELFNOTE_ENTRY),
                          "entry point lies outside every PT_LOAD");
    } else {
        layout.entry = image.entry();
        if (!inside_a_segment(image, layout, layout.entry, 1))
            return refuse(diagnostic, Error::malformed, "e_entry", header_entry_offset,
                          "entry point lies outside every PT_LOAD");
    }

    if (notes.hypercall_page) {
        const uint64_t page = *notes.hypercall_page;
        const uint64_t offset = notes.note_offset(XEN_ELFNOTE_HYPERCALL_PAGE);
        if (!is_aligned(page, page_size))
            return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_HYPERCALL_PAGE), offset,
                          "hypercall page is not page aligned");
        if (!inside_a_segment(image, layout, page, page_size))
            return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_HYPERCALL_PAGE), offset,
                          "hypercall page is not wholly inside one PT_LOAD");
        layout.hypercall_page = page;
    }

    if (notes.init_p2m) {
        const uint64_t base = *notes.init_p2m;
        const uint64_t offset = notes.note_offset(XEN_ELFNOTE_INIT_P2M);
        if (!is_aligned(base, page_size))
            return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_INIT_P2M), offset,
                          "p2m base is not page aligned");
        if (base >= layout.kernel_start && base < layout.kernel_end)
            return refuse(diagnostic, Error::malformed, note_name(XEN_ELFNOTE_INIT_P2M), offset,
                          "p2m base lies inside the kernel image");
        layout.p2m_base = base;
    }
    return layout;
}

}  // namespace sluice::xen_elf
