// Xen's public ABI, xen/include/public/xen.h (interface version 0x00040d00
// and later, x86-64 layout), as C++ types in namespace sluice::xen.
//
// The headers in include/public/ render Xen's public headers for a 64-bit
// x86 PV guest, one to one:
// - structures and their members keep the names Xen gives them, and each
//   layout is pinned by static_asserts on its size and member offsets,
//   derived from the header's field list and x86-64 alignment rules;
// - guest handles (XEN_GUEST_HANDLE, pointers into the guest) become
//   uint64_t holding a guest virtual address, commented as such;
// - C unions stay C++ unions with Xen's member names;
// - constants are `inline constexpr` fixed-width values with Xen's spelling,
//   minus the leading underscores C reserves (`__HYPERVISOR_mmu_update` is
//   `HYPERVISOR_mmu_update`); where Xen pairs a bit number `_NAME` with a
//   mask `NAME`, the bit number is `NAME_bit`.
// Nothing here has behaviour beyond the ABI's own helper macros.
#pragma once

#include <sluice/types.hpp>

#include <public/arch_x86_64.hpp>

namespace sluice::xen {

using domid_t = uint16_t;
using xen_domain_handle_t = uint8_t[16];

// --- Hypercall numbers (xen.h, "enum hypercall_num") ------------------------
// x86-64: RAX holds the number; RDI, RSI, RDX, R10, R8 the arguments.

inline constexpr uint32_t HYPERVISOR_set_trap_table = 0;
inline constexpr uint32_t HYPERVISOR_mmu_update = 1;
inline constexpr uint32_t HYPERVISOR_set_gdt = 2;
inline constexpr uint32_t HYPERVISOR_stack_switch = 3;
inline constexpr uint32_t HYPERVISOR_set_callbacks = 4;
inline constexpr uint32_t HYPERVISOR_fpu_taskswitch = 5;
inline constexpr uint32_t HYPERVISOR_sched_op_compat = 6;  // compat since 0x00030101
inline constexpr uint32_t HYPERVISOR_platform_op = 7;
inline constexpr uint32_t HYPERVISOR_set_debugreg = 8;
inline constexpr uint32_t HYPERVISOR_get_debugreg = 9;
inline constexpr uint32_t HYPERVISOR_update_descriptor = 10;
// 11 is unallocated.
inline constexpr uint32_t HYPERVISOR_memory_op = 12;
inline constexpr uint32_t HYPERVISOR_multicall = 13;
inline constexpr uint32_t HYPERVISOR_update_va_mapping = 14;
inline constexpr uint32_t HYPERVISOR_set_timer_op = 15;
inline constexpr uint32_t HYPERVISOR_event_channel_op_compat = 16;  // compat since 0x00030202
inline constexpr uint32_t HYPERVISOR_xen_version = 17;
inline constexpr uint32_t HYPERVISOR_console_io = 18;
inline constexpr uint32_t HYPERVISOR_physdev_op_compat = 19;  // compat since 0x00030202
inline constexpr uint32_t HYPERVISOR_grant_table_op = 20;
inline constexpr uint32_t HYPERVISOR_vm_assist = 21;
inline constexpr uint32_t HYPERVISOR_update_va_mapping_otherdomain = 22;
inline constexpr uint32_t HYPERVISOR_iret = 23;  // x86 only
inline constexpr uint32_t HYPERVISOR_vcpu_op = 24;
inline constexpr uint32_t HYPERVISOR_set_segment_base = 25;  // x86-64 only
inline constexpr uint32_t HYPERVISOR_mmuext_op = 26;
inline constexpr uint32_t HYPERVISOR_xsm_op = 27;
inline constexpr uint32_t HYPERVISOR_nmi_op = 28;
inline constexpr uint32_t HYPERVISOR_sched_op = 29;
inline constexpr uint32_t HYPERVISOR_callback_op = 30;
inline constexpr uint32_t HYPERVISOR_xenoprof_op = 31;
inline constexpr uint32_t HYPERVISOR_event_channel_op = 32;
inline constexpr uint32_t HYPERVISOR_physdev_op = 33;
inline constexpr uint32_t HYPERVISOR_hvm_op = 34;
inline constexpr uint32_t HYPERVISOR_sysctl = 35;
inline constexpr uint32_t HYPERVISOR_domctl = 36;
inline constexpr uint32_t HYPERVISOR_kexec_op = 37;
inline constexpr uint32_t HYPERVISOR_tmem_op = 38;
inline constexpr uint32_t HYPERVISOR_argo_op = 39;  // was xc_reserved_op
inline constexpr uint32_t HYPERVISOR_xenpmu_op = 40;
inline constexpr uint32_t HYPERVISOR_dm_op = 41;
inline constexpr uint32_t HYPERVISOR_hypfs_op = 42;

inline constexpr uint32_t HYPERVISOR_arch_0 = 48;
inline constexpr uint32_t HYPERVISOR_arch_1 = 49;
inline constexpr uint32_t HYPERVISOR_arch_2 = 50;
inline constexpr uint32_t HYPERVISOR_arch_3 = 51;
inline constexpr uint32_t HYPERVISOR_arch_4 = 52;
inline constexpr uint32_t HYPERVISOR_arch_5 = 53;
inline constexpr uint32_t HYPERVISOR_arch_6 = 54;
inline constexpr uint32_t HYPERVISOR_arch_7 = 55;

// x86's machine-check hypercall is arch_0 (arch-x86/xen-mca.h).
inline constexpr uint32_t HYPERVISOR_mca = HYPERVISOR_arch_0;

// --- Virtual interrupts (xen.h, "enum virq") -------------------------------
// V: per vCPU; D: per domain; G: global.

inline constexpr uint32_t VIRQ_TIMER = 0;       // V. timebase update or timeout
inline constexpr uint32_t VIRQ_DEBUG = 1;       // V. dump debug information
inline constexpr uint32_t VIRQ_CONSOLE = 2;     // G. emergency console input
inline constexpr uint32_t VIRQ_DOM_EXC = 3;     // G. exceptional event for a domain
inline constexpr uint32_t VIRQ_TBUF = 4;        // G. trace buffer has records
inline constexpr uint32_t VIRQ_DEBUGGER = 6;    // G. a domain paused for debugging
inline constexpr uint32_t VIRQ_XENOPROF = 7;    // V. oprofile sample available
inline constexpr uint32_t VIRQ_CON_RING = 8;    // G. console ring input
inline constexpr uint32_t VIRQ_PCPU_STATE = 9;  // G. physical CPU state changed
inline constexpr uint32_t VIRQ_MEM_EVENT = 10;  // G. memory event
inline constexpr uint32_t VIRQ_ARGO = 11;       // D. Argo message (was XC_RESERVED)
inline constexpr uint32_t VIRQ_ENOMEM = 12;     // G. low on heap memory
inline constexpr uint32_t VIRQ_XENPMU = 13;     // V. PMC interrupt

inline constexpr uint32_t VIRQ_ARCH_0 = 16;
inline constexpr uint32_t VIRQ_ARCH_1 = 17;
inline constexpr uint32_t VIRQ_ARCH_2 = 18;
inline constexpr uint32_t VIRQ_ARCH_3 = 19;
inline constexpr uint32_t VIRQ_ARCH_4 = 20;
inline constexpr uint32_t VIRQ_ARCH_5 = 21;
inline constexpr uint32_t VIRQ_ARCH_6 = 22;
inline constexpr uint32_t VIRQ_ARCH_7 = 23;
// x86: VIRQ_ARCH_0 is the machine-check VIRQ (arch-x86/xen-mca.h).
inline constexpr uint32_t VIRQ_MCA = VIRQ_ARCH_0;

inline constexpr uint32_t NR_VIRQS = 24;

// --- mmu_update (xen.h) ----------------------------------------------------
// ptr[1:0] selects the command; ptr[63:2] is the machine address of the
// entry. foreigndom[15:0] names the data pages' owner (FD), foreigndom[31:16]
// the page tables' owner plus one (0: DOMID_SELF).

inline constexpr uint64_t MMU_NORMAL_PT_UPDATE = 0;        // checked *ptr = val
inline constexpr uint64_t MMU_MACHPHYS_UPDATE = 1;         // M2P entry of frame ptr := val
inline constexpr uint64_t MMU_PT_UPDATE_PRESERVE_AD = 2;   // *ptr = val | (*ptr & (A|D))
inline constexpr uint64_t MMU_PT_UPDATE_NO_TRANSLATE = 3;  // as NORMAL, val not translated

struct mmu_update {
    uint64_t ptr;  // machine address of the entry, command in bits 1:0
    uint64_t val;  // new contents
};
static_assert(sizeof(mmu_update) == 16);
static_assert(__builtin_offsetof(mmu_update, ptr) == 0);
static_assert(__builtin_offsetof(mmu_update, val) == 8);

// --- mmuext_op (xen.h, "enum mmuext_cmd") -----------------------------------

inline constexpr uint32_t MMUEXT_PIN_L1_TABLE = 0;
inline constexpr uint32_t MMUEXT_PIN_L2_TABLE = 1;
inline constexpr uint32_t MMUEXT_PIN_L3_TABLE = 2;
inline constexpr uint32_t MMUEXT_PIN_L4_TABLE = 3;
inline constexpr uint32_t MMUEXT_UNPIN_TABLE = 4;
inline constexpr uint32_t MMUEXT_NEW_BASEPTR = 5;
inline constexpr uint32_t MMUEXT_TLB_FLUSH_LOCAL = 6;
inline constexpr uint32_t MMUEXT_INVLPG_LOCAL = 7;
inline constexpr uint32_t MMUEXT_TLB_FLUSH_MULTI = 8;
inline constexpr uint32_t MMUEXT_INVLPG_MULTI = 9;
inline constexpr uint32_t MMUEXT_TLB_FLUSH_ALL = 10;
inline constexpr uint32_t MMUEXT_INVLPG_ALL = 11;
inline constexpr uint32_t MMUEXT_FLUSH_CACHE = 12;
inline constexpr uint32_t MMUEXT_SET_LDT = 13;
// 14 is unallocated.
inline constexpr uint32_t MMUEXT_NEW_USER_BASEPTR = 15;  // x86-64 only
inline constexpr uint32_t MMUEXT_CLEAR_PAGE = 16;
inline constexpr uint32_t MMUEXT_COPY_PAGE = 17;
inline constexpr uint32_t MMUEXT_FLUSH_CACHE_GLOBAL = 18;
inline constexpr uint32_t MMUEXT_MARK_SUPER = 19;
inline constexpr uint32_t MMUEXT_UNMARK_SUPER = 20;

struct mmuext_op {
    uint32_t cmd;  // MMUEXT_*
    union {
        // [UN]PIN_TABLE, NEW_BASEPTR, NEW_USER_BASEPTR, CLEAR_PAGE,
        // COPY_PAGE, [UN]MARK_SUPER
        xen_pfn_t mfn;
        // INVLPG_LOCAL, INVLPG_ALL, SET_LDT
        uint64_t linear_addr;
    } arg1;
    union {
        uint32_t nr_ents;   // SET_LDT
        uint64_t vcpumask;  // TLB_FLUSH_MULTI, INVLPG_MULTI: guest handle (virtual address) of a bitmap
        xen_pfn_t src_mfn;  // COPY_PAGE
    } arg2;
};
static_assert(sizeof(mmuext_op) == 24);
static_assert(__builtin_offsetof(mmuext_op, cmd) == 0);
static_assert(__builtin_offsetof(mmuext_op, arg1) == 8);
static_assert(__builtin_offsetof(mmuext_op, arg2) == 16);

// --- update_va_mapping flags (xen.h, "enum uvm_flags") ---------------------
// With UVMF_MULTI the rest of the flags word is a guest pointer to a vCPU
// bitmap; UVMF_LOCAL is UVMF_MULTI with a null bitmap.

inline constexpr uint64_t UVMF_NONE = uint64_t{0} << 0;
inline constexpr uint64_t UVMF_TLB_FLUSH = uint64_t{1} << 0;
inline constexpr uint64_t UVMF_INVLPG = uint64_t{2} << 0;
inline constexpr uint64_t UVMF_FLUSHTYPE_MASK = uint64_t{3} << 0;
inline constexpr uint64_t UVMF_MULTI = uint64_t{0} << 2;
inline constexpr uint64_t UVMF_LOCAL = uint64_t{0} << 2;
inline constexpr uint64_t UVMF_ALL = uint64_t{1} << 2;

// --- console_io and vm_assist (xen.h) --------------------------------------

inline constexpr uint32_t CONSOLEIO_write = 0;
inline constexpr uint32_t CONSOLEIO_read = 1;

inline constexpr uint32_t VMASST_CMD_enable = 0;
inline constexpr uint32_t VMASST_CMD_disable = 1;

inline constexpr uint32_t VMASST_TYPE_4gb_segments = 0;         // x86-32 only
inline constexpr uint32_t VMASST_TYPE_4gb_segments_notify = 1;  // x86-32 only
inline constexpr uint32_t VMASST_TYPE_writable_pagetables = 2;
inline constexpr uint32_t VMASST_TYPE_pae_extended_cr3 = 3;
inline constexpr uint32_t VMASST_TYPE_architectural_iopl = 4;
inline constexpr uint32_t VMASST_TYPE_runstate_update_flag = 5;
inline constexpr uint32_t VMASST_TYPE_m2p_strict = 32;  // x86-64: hide the M2P from user mode

// --- Domain identifiers (xen.h) --------------------------------------------

inline constexpr domid_t DOMID_FIRST_RESERVED = 0x7ff0;
inline constexpr domid_t DOMID_SELF = 0x7ff0;
inline constexpr domid_t DOMID_IO = 0x7ff1;
inline constexpr domid_t DOMID_XEN = 0x7ff2;
inline constexpr domid_t DOMID_COW = 0x7ff3;
inline constexpr domid_t DOMID_INVALID = 0x7ff4;
inline constexpr domid_t DOMID_ANY = 0x7ff5;
inline constexpr domid_t DOMID_IDLE = 0x7fff;
inline constexpr domid_t DOMID_MASK = 0x7fff;

// --- multicall_entry (xen.h) -----------------------------------------------
// Eight register-sized words: the hypercall, its result and six arguments.
struct multicall_entry {
    xen_ulong_t op;
    xen_ulong_t result;
    xen_ulong_t args[6];
};
static_assert(sizeof(multicall_entry) == 64);
static_assert(__builtin_offsetof(multicall_entry, op) == 0);
static_assert(__builtin_offsetof(multicall_entry, result) == 8);
static_assert(__builtin_offsetof(multicall_entry, args) == 16);

// --- Time and vCPU information (xen.h) -------------------------------------

// Updates are bracketed by increments of `version`; an odd version means an
// update is in progress. System time now is
//   system_time + ((((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul) >> 32)
// with a negative tsc_shift shifting right.
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;  // TSC at the last update
    uint64_t system_time;    // nanoseconds since boot at tsc_timestamp
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;  // XEN_PVCLOCK_* (interface version > 0x040600)
    uint8_t pad1[2];
};
static_assert(sizeof(vcpu_time_info) == 32);
static_assert(__builtin_offsetof(vcpu_time_info, version) == 0);
static_assert(__builtin_offsetof(vcpu_time_info, tsc_timestamp) == 8);
static_assert(__builtin_offsetof(vcpu_time_info, system_time) == 16);
static_assert(__builtin_offsetof(vcpu_time_info, tsc_to_system_mul) == 24);
static_assert(__builtin_offsetof(vcpu_time_info, tsc_shift) == 28);
static_assert(__builtin_offsetof(vcpu_time_info, flags) == 29);

inline constexpr uint8_t XEN_PVCLOCK_TSC_STABLE_BIT = 1 << 0;
inline constexpr uint8_t XEN_PVCLOCK_GUEST_STOPPED = 1 << 1;

struct vcpu_info {
    // Set by the hypervisor when an event is pending for this vCPU; the guest
    // clears it before scanning evtchn_pending_sel.
    uint8_t evtchn_upcall_pending;
    // Non-zero: no upcall is delivered (the PV guest's "interrupt flag").
    uint8_t evtchn_upcall_mask;
    xen_ulong_t evtchn_pending_sel;  // one bit per word of shared_info.evtchn_pending
    arch_vcpu_info arch;
    vcpu_time_info time;
};
static_assert(sizeof(vcpu_info) == 64);
static_assert(__builtin_offsetof(vcpu_info, evtchn_upcall_pending) == 0);
static_assert(__builtin_offsetof(vcpu_info, evtchn_upcall_mask) == 1);
static_assert(__builtin_offsetof(vcpu_info, evtchn_pending_sel) == 8);
static_assert(__builtin_offsetof(vcpu_info, arch) == 16);
static_assert(__builtin_offsetof(vcpu_info, time) == 32);

// 2-level event channel ABI: one bit per port in pending and mask
// (event_channel.h, EVTCHN_2L_NR_CHANNELS).
inline constexpr uint32_t EVTCHN_2L_NR_CHANNELS = sizeof(xen_ulong_t) * sizeof(xen_ulong_t) * 64;

// --- shared_info (xen.h) ---------------------------------------------------
// The page the hypervisor shares with each domain (its machine address is
// start_info.shared_info). 32 * 64 + 2 * 512 + 16 + 48 = 3136 bytes.
struct shared_info {
    xen::vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    xen_ulong_t evtchn_pending[sizeof(xen_ulong_t) * 8];
    xen_ulong_t evtchn_mask[sizeof(xen_ulong_t) * 8];
    // Wall clock at system time 0, versioned like vcpu_time_info.
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
    uint32_t wc_sec_hi;
    arch_shared_info arch;
};
static_assert(sizeof(shared_info) == 3136);
static_assert(sizeof(shared_info) <= 4096);
static_assert(__builtin_offsetof(shared_info, vcpu_info) == 0);
static_assert(__builtin_offsetof(shared_info, evtchn_pending) == 2048);
static_assert(__builtin_offsetof(shared_info, evtchn_mask) == 2560);
static_assert(__builtin_offsetof(shared_info, wc_version) == 3072);
static_assert(__builtin_offsetof(shared_info, wc_sec) == 3076);
static_assert(__builtin_offsetof(shared_info, wc_nsec) == 3080);
static_assert(__builtin_offsetof(shared_info, wc_sec_hi) == 3084);
static_assert(__builtin_offsetof(shared_info, arch) == 3088);

// --- start_info (xen.h) ----------------------------------------------------
// Handed to a PV guest in %rsi at its entry point.

inline constexpr uint32_t MAX_GUEST_CMDLINE = 1024;

struct start_info {
    // Filled in on initial boot and on resume.
    char magic[32];        // "xen-<version>-<platform>"
    uint64_t nr_pages;     // pages allocated to the domain
    uint64_t shared_info;  // machine address of the shared_info page
    uint32_t flags;        // SIF_*
    xen_pfn_t store_mfn;   // machine frame of the xenstore page
    uint32_t store_evtchn;
    union {
        struct {
            xen_pfn_t mfn;  // machine frame of the console page
            uint32_t evtchn;
        } domU;
        struct {
            uint32_t info_off;   // offset of a dom0_vga_console_info in this page
            uint32_t info_size;  // its size
        } dom0;
    } console;
    // Filled in on initial boot only.
    uint64_t pt_base;       // virtual address of the bootstrap L4
    uint64_t nr_pt_frames;  // number of bootstrap page-table frames
    uint64_t mfn_list;      // virtual address of the p2m (page-frame) list
    uint64_t mod_start;     // virtual address (or PFN with SIF_MOD_START_PFN) of the module
    uint64_t mod_len;       // module size in bytes
    int8_t cmd_line[MAX_GUEST_CMDLINE];
    // Frames of the initial page tables and p2m, when placed separately.
    uint64_t first_p2m_pfn;
    uint64_t nr_p2m_frames;
};
static_assert(sizeof(start_info) == 1168);
static_assert(__builtin_offsetof(start_info, magic) == 0);
static_assert(__builtin_offsetof(start_info, nr_pages) == 32);
static_assert(__builtin_offsetof(start_info, shared_info) == 40);
static_assert(__builtin_offsetof(start_info, flags) == 48);
static_assert(__builtin_offsetof(start_info, store_mfn) == 56);
static_assert(__builtin_offsetof(start_info, store_evtchn) == 64);
static_assert(__builtin_offsetof(start_info, console) == 72);
static_assert(__builtin_offsetof(start_info, console.domU.evtchn) == 80);
static_assert(__builtin_offsetof(start_info, console.dom0.info_size) == 76);
static_assert(__builtin_offsetof(start_info, pt_base) == 88);
static_assert(__builtin_offsetof(start_info, nr_pt_frames) == 96);
static_assert(__builtin_offsetof(start_info, mfn_list) == 104);
static_assert(__builtin_offsetof(start_info, mod_start) == 112);
static_assert(__builtin_offsetof(start_info, mod_len) == 120);
static_assert(__builtin_offsetof(start_info, cmd_line) == 128);
static_assert(__builtin_offsetof(start_info, first_p2m_pfn) == 1152);
static_assert(__builtin_offsetof(start_info, nr_p2m_frames) == 1160);

// start_info.flags.
inline constexpr uint32_t SIF_PRIVILEGED = 1u << 0;       // the domain is privileged
inline constexpr uint32_t SIF_INITDOMAIN = 1u << 1;       // the initial control domain
inline constexpr uint32_t SIF_MULTIBOOT_MOD = 1u << 2;    // mod_start is a multiboot module list
inline constexpr uint32_t SIF_MOD_START_PFN = 1u << 3;    // mod_start is a PFN
inline constexpr uint32_t SIF_VIRT_P2M_4TOOLS = 1u << 4;  // tools understand a virtually mapped p2m
inline constexpr uint32_t SIF_PM_MASK = 0xffu << 8;       // reserved for power-management options

// One module descriptor of a SIF_MULTIBOOT_MOD package; addresses are
// relative to the package, and mod_start == 0 ends the list.
struct xen_multiboot_mod_list {
    uint32_t mod_start;
    uint32_t mod_end;  // inclusive
    uint32_t cmdline;
    uint32_t pad;
};
static_assert(sizeof(xen_multiboot_mod_list) == 16);
static_assert(__builtin_offsetof(xen_multiboot_mod_list, cmdline) == 8);

// --- dom0_vga_console_info (xen.h) -----------------------------------------

inline constexpr uint8_t XEN_VGATYPE_TEXT_MODE_3 = 0x03;
inline constexpr uint8_t XEN_VGATYPE_VESA_LFB = 0x23;
inline constexpr uint8_t XEN_VGATYPE_EFI_LFB = 0x70;

struct dom0_vga_console_info {
    uint8_t video_type;  // XEN_VGATYPE_*
    union {
        struct {
            uint16_t font_height;
            uint16_t cursor_x;
            uint16_t cursor_y;
            uint16_t rows;
            uint16_t columns;
        } text_mode_3;
        struct {
            uint16_t width;
            uint16_t height;
            uint16_t bytes_per_line;
            uint16_t bits_per_pixel;
            uint32_t lfb_base;
            uint32_t lfb_size;  // in 64 KiB units
            uint8_t red_pos;
            uint8_t red_size;
            uint8_t green_pos;
            uint8_t green_size;
            uint8_t blue_pos;
            uint8_t blue_size;
            uint8_t rsvd_pos;
            uint8_t rsvd_size;
            uint32_t gbl_caps;
            uint16_t mode_attrs;
            uint16_t pad;
            uint32_t ext_lfb_base;  // high 32 bits of lfb_base (0x00040d00)
        } vesa_lfb;
    } u;
};
static_assert(sizeof(dom0_vga_console_info) == 40);
static_assert(__builtin_offsetof(dom0_vga_console_info, u) == 4);
static_assert(__builtin_offsetof(dom0_vga_console_info, u.vesa_lfb.lfb_base) == 12);
static_assert(__builtin_offsetof(dom0_vga_console_info, u.vesa_lfb.red_pos) == 20);
static_assert(__builtin_offsetof(dom0_vga_console_info, u.vesa_lfb.gbl_caps) == 28);
static_assert(__builtin_offsetof(dom0_vga_console_info, u.vesa_lfb.ext_lfb_base) == 36);

}  // namespace sluice::xen
