// The Xen ELF notes (xen/include/public/elfnote.h) the hypervisor's PV
// builder reads: owner "Xen", one note per XEN_ELFNOTE_* type.
// GUEST_NAME and GUEST_VIRT_BASE come from the build (guests.cmake).

#define XEN_ELFNOTE_ENTRY 1
#define XEN_ELFNOTE_HYPERCALL_PAGE 2
#define XEN_ELFNOTE_VIRT_BASE 3
#define XEN_ELFNOTE_PADDR_OFFSET 4
#define XEN_ELFNOTE_XEN_VERSION 5
#define XEN_ELFNOTE_GUEST_OS 6
#define XEN_ELFNOTE_LOADER 8
#define XEN_ELFNOTE_PAE_MODE 9
#define XEN_ELFNOTE_FEATURES 10

// An ELF note (System V gABI, "Note Section"): name and descriptor sizes,
// type, the name padded to 4 bytes, then the descriptor padded to 4 bytes.
.macro xen_note_header type
    .balign 4
    .long 4              // namesz: "Xen\0"
    .long 2f - 1f        // descsz
    .long \type
    .asciz "Xen"
.endm
.macro xen_note_string type, text
    xen_note_header \type
1:  .asciz "\text"
2:  .balign 4
.endm
.macro xen_note_quad type, value
    xen_note_header \type
1:  .quad \value
2:  .balign 4
.endm

    .section .note.Xen, "a", @note
    xen_note_string XEN_ELFNOTE_GUEST_OS, GUEST_NAME_TEXT
    xen_note_string XEN_ELFNOTE_XEN_VERSION, "xen-3.0"
    xen_note_string XEN_ELFNOTE_LOADER, "generic"
    xen_note_quad XEN_ELFNOTE_VIRT_BASE, GUEST_VIRT_BASE
    // Pseudo-physical = virtual - VIRT_BASE, as Linux does it: the link
    // script puts each segment's p_paddr at its address minus VIRT_BASE.
    xen_note_quad XEN_ELFNOTE_PADDR_OFFSET, 0
    xen_note_quad XEN_ELFNOTE_ENTRY, _start
    xen_note_quad XEN_ELFNOTE_HYPERCALL_PAGE, hypercall_page
    // No feature is required ('!'); none is needed beyond the PV basics.
    xen_note_string XEN_ELFNOTE_FEATURES, "pae_pgdir_above_4gb"
    xen_note_string XEN_ELFNOTE_PAE_MODE, "yes"
