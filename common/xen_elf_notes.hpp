// Xen's ELF notes (xen/include/public/elfnote.h, owner name "Xen") and the PV placement rules built
// on them, as Xen's own loader applies them (xen/common/libelf/libelf-dominfo.c, measured behaviour).
//
// read_xen_notes() turns the "Xen" notes of an elf::Image into XenNotes; compute_pv_layout() applies
// the defaults and checks a 64-bit PV kernel needs and says where everything goes in dom0's virtual
// address space. Both refuse bad input with one elf::Diagnostic naming the note (or header field) and
// its file offset.
#pragma once

#include <common/elf.hpp>

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::xen_elf {

// elfnote.h note types.
inline constexpr uint32_t XEN_ELFNOTE_INFO = 0;
inline constexpr uint32_t XEN_ELFNOTE_ENTRY = 1;
inline constexpr uint32_t XEN_ELFNOTE_HYPERCALL_PAGE = 2;
inline constexpr uint32_t XEN_ELFNOTE_VIRT_BASE = 3;
inline constexpr uint32_t XEN_ELFNOTE_PADDR_OFFSET = 4;
inline constexpr uint32_t XEN_ELFNOTE_XEN_VERSION = 5;
inline constexpr uint32_t XEN_ELFNOTE_GUEST_OS = 6;
inline constexpr uint32_t XEN_ELFNOTE_GUEST_VERSION = 7;
inline constexpr uint32_t XEN_ELFNOTE_LOADER = 8;
inline constexpr uint32_t XEN_ELFNOTE_PAE_MODE = 9;
inline constexpr uint32_t XEN_ELFNOTE_FEATURES = 10;
inline constexpr uint32_t XEN_ELFNOTE_BSD_SYMTAB = 11;
inline constexpr uint32_t XEN_ELFNOTE_HV_START_LOW = 12;
inline constexpr uint32_t XEN_ELFNOTE_L1_MFN_VALID = 13;
inline constexpr uint32_t XEN_ELFNOTE_SUSPEND_CANCEL = 14;
inline constexpr uint32_t XEN_ELFNOTE_INIT_P2M = 15;
inline constexpr uint32_t XEN_ELFNOTE_MOD_START_PFN = 16;
inline constexpr uint32_t XEN_ELFNOTE_SUPPORTED_FEATURES = 17;
inline constexpr uint32_t XEN_ELFNOTE_PHYS32_ENTRY = 18;
inline constexpr uint32_t note_type_count = 19;  // the types read here are all below this

// "XEN_ELFNOTE_ENTRY", ...; "XEN_ELFNOTE (unknown type)" for anything else.
[[nodiscard]] const char* note_name(uint32_t type);

// XENFEAT_* bit numbers (xen/include/public/features.h; bit 12, grant_map_identity, is withdrawn and
// has no name here). They match include/public/features.hpp (checked in the .cpp).
inline constexpr unsigned XENFEAT_writable_page_tables = 0;
inline constexpr unsigned XENFEAT_writable_descriptor_tables = 1;
inline constexpr unsigned XENFEAT_auto_translated_physmap = 2;
inline constexpr unsigned XENFEAT_supervisor_mode_kernel = 3;
inline constexpr unsigned XENFEAT_pae_pgdir_above_4gb = 4;
inline constexpr unsigned XENFEAT_mmu_pt_update_preserve_ad = 5;
inline constexpr unsigned XENFEAT_highmem_assist = 6;
inline constexpr unsigned XENFEAT_gnttab_map_avail_bits = 7;
inline constexpr unsigned XENFEAT_hvm_callback_vector = 8;
inline constexpr unsigned XENFEAT_hvm_safe_pvclock = 9;
inline constexpr unsigned XENFEAT_hvm_pirqs = 10;
inline constexpr unsigned XENFEAT_dom0 = 11;
inline constexpr unsigned XENFEAT_memory_op_vnode_supported = 13;
inline constexpr unsigned XENFEAT_ARM_SMCCC_supported = 14;
inline constexpr unsigned XENFEAT_linux_rsdp_unrestricted = 15;
inline constexpr unsigned XENFEAT_not_direct_mapped = 16;
inline constexpr unsigned XENFEAT_direct_mapped = 17;
inline constexpr unsigned XENFEAT_runstate_phys_area = 18;
inline constexpr unsigned XENFEAT_vcpu_time_phys_area = 19;
inline constexpr unsigned XENFEAT_dm_msix_all_writes = 20;

// The feature names a FEATURES note uses (features.h without "XENFEAT_") mapped to bit numbers; empty
// for an unknown name (a null const char* converts to the empty view, which is unknown too).
[[nodiscard]] Optional<unsigned> feature_bit(StringView name);
// The name of a bit; nullptr for a bit features.h does not define.
[[nodiscard]] const char* feature_name(unsigned bit);

// Xen's ELF notes (xen/include/public/elfnote.h; owner name "Xen"). Numeric notes may be 4 or 8 bytes
// (little endian; Xen's loader also takes 1 and 2, and so does this); string notes are NUL-terminated
// within the descriptor or its alignment padding (Linux writes FEATURES with .ascii).
struct XenNotes {
    Optional<uint64_t> entry;             // XEN_ELFNOTE_ENTRY 1 (virtual)
    Optional<uint64_t> hypercall_page;    // XEN_ELFNOTE_HYPERCALL_PAGE 2 (virtual)
    Optional<uint64_t> virt_base;         // XEN_ELFNOTE_VIRT_BASE 3
    Optional<uint64_t> paddr_offset;      // XEN_ELFNOTE_PADDR_OFFSET 4
    Optional<uint64_t> phys32_entry;      // XEN_ELFNOTE_PHYS32_ENTRY 18 (must fit 32 bits)
    Optional<uint64_t> init_p2m;          // XEN_ELFNOTE_INIT_P2M 15
    Optional<uint64_t> mod_start_pfn;     // XEN_ELFNOTE_MOD_START_PFN 16
    Optional<uint64_t> suspend_cancel;    // 14
    Optional<uint64_t> hv_start_low;      // XEN_ELFNOTE_HV_START_LOW 12 (meaningless for 64-bit PV)
    // XEN_ELFNOTE_L1_MFN_VALID 13: maddr_t (8-byte) mask/value pairs; the first pair and the count.
    Optional<uint64_t> l1_mfn_valid_mask, l1_mfn_valid_value;
    uint32_t l1_mfn_valid_pairs = 0;
    StringView xen_version, guest_os, guest_version, loader, pae_mode, bsd_symtab;  // 5, 6, 7, 8, 9, 11
    // XEN_ELFNOTE_FEATURES (10, "feat|!feat|..." string) and XEN_ELFNOTE_SUPPORTED_FEATURES (17, a
    // 32-bit bitmap): the XENFEAT_* bits the guest supports, and those it requires. elfnote.h: "If a
    // feature is required for the kernel to function then the feature name must be preceded by a '!'
    // character"; a required feature is supported too (Xen's loader sets both bits).
    uint32_t supported_features = 0;
    uint32_t required_features = 0;
    bool has_features = false;                 // either note was present
    bool has_supported_features_note = false;  // XEN_ELFNOTE_SUPPORTED_FEATURES was present
    // A FEATURES name that is neither known nor required is ignored, as Xen ignores it: the first one
    // and how many, so the builder can warn.
    StringView first_ignored_feature;
    uint32_t ignored_feature_count = 0;

    uint32_t xen_note_count = 0;  // "Xen" notes read, known types or not
    // File offset of the (last) note of each type, 0 when absent: for the builder's diagnostics.
    uint64_t note_offsets[note_type_count] = {};

    // LOADER starts with "generic" (Xen compares the first 7 characters, so "generic" is the value
    // every kernel writes and a longer one is accepted the same way).
    [[nodiscard]] bool loader_generic() const;
    [[nodiscard]] uint64_t note_offset(uint32_t type) const { return type < note_type_count ? note_offsets[type] : 0; }
};

// Reads every "Xen" note of image. Unknown note types are ignored; a note whose descriptor size does not
// fit its type, a string without NUL, or a required ("!") feature name that is unknown is refused with
// Error::malformed and a diagnostic naming the note (field = e.g. "XEN_ELFNOTE_HYPERCALL_PAGE") and its
// file offset.
//
// A repeated note: Xen's loader overwrites, so the later one wins for every numeric and string note;
// FEATURES and SUPPORTED_FEATURES accumulate (bits are OR-ed), as in Xen.
[[nodiscard]] Result<XenNotes> read_xen_notes(const elf::Image& image, elf::Diagnostic& diagnostic);

// Where a 64-bit PV kernel goes, with the defaults Xen's loader applies (elf_xen_addr_calc_check):
// - VIRT_BASE absent: 0, so virtual addresses are pseudo-physical addresses from 0.
// - PADDR_OFFSET absent: 0 (elfnote.h: "This field defaults to 0 if not present"; only the legacy
//   __xen_guest string, which Sluice does not read, defaulted it to VIRT_BASE). PADDR_OFFSET without
//   VIRT_BASE is refused, as Xen refuses it.
// - A segment's virtual address is p_paddr + virt_base - paddr_offset, not p_vaddr: Xen places by
//   p_paddr, and Linux's x86-64 vmlinux has a per-CPU PT_LOAD with p_vaddr 0 that only this reading
//   places correctly.
// - ENTRY absent: e_entry.
struct PvLayout {
    uint64_t virt_base = 0;
    uint64_t paddr_offset = 0;
    uint64_t virt_offset = 0;     // virt_base - paddr_offset (mod 2^64): virtual = p_paddr + virt_offset
    uint64_t kernel_start = 0;    // lowest p_paddr + virt_offset (Xen's virt_kstart)
    uint64_t kernel_end = 0;      // highest p_paddr + p_memsz + virt_offset, exclusive (virt_kend)
    uint64_t entry = 0;           // ENTRY, else e_entry
    Optional<uint64_t> hypercall_page;  // page aligned, inside one PT_LOAD
    Optional<uint64_t> p2m_base;        // INIT_P2M: page aligned, outside the kernel
    bool unmapped_initrd = false;       // MOD_START_PFN present and non-zero
    uint32_t supported_features = 0;
    uint32_t required_features = 0;

    [[nodiscard]] uint64_t segment_virtual_address(const elf::LoadSegment& segment) const {
        return segment.physical_address + virt_offset;
    }
};

// The 64-bit PV ABI's hypervisor range (xen.h, x86_64: HYPERVISOR_VIRT_START/END, L4 slots 256-271),
// which no part of the kernel may occupy.
inline constexpr uint64_t hypervisor_virt_start = 0xffff800000000000;
inline constexpr uint64_t hypervisor_virt_end = 0xffff880000000000;

// Applies the defaults above and checks, naming the note or program header at fault:
// - there are Xen notes at all; LOADER starts with "generic" or GUEST_OS with "linux"; XEN_VERSION
//   starts with "xen-3.0" (Xen's elf_xen_note_check);
// - a SUPPORTED_FEATURES note, when present, includes XENFEAT_dom0, and supervisor_mode_kernel is not
//   required (the two feature checks Xen's PV dom0 builder makes; others, such as Linux's
//   "!writable_page_tables", are not refused by Xen and are not refused here);
// - every PT_LOAD lies at or above virt_base, does not wrap, is canonical and stays clear of
//   [hypervisor_virt_start, hypervisor_virt_end);
// - the entry lies inside a PT_LOAD; the hypercall page is page aligned and the whole page inside one
//   PT_LOAD; INIT_P2M is page aligned and not inside [kernel_start, kernel_end).
[[nodiscard]] Result<PvLayout> compute_pv_layout(const elf::Image& image, const XenNotes& notes,
                                                 elf::Diagnostic& diagnostic);

}  // namespace sluice::xen_elf
