// Xen's 64-bit PV guest ABI as the test kernels see it, written from the
// public headers' specification (xen/include/public/: xen.h, arch-x86/xen.h,
// arch-x86/xen-x86_64.h, callback.h, event_channel.h, memory.h, sched.h,
// vcpu.h, version.h, features.h, elfnote.h).
//
// Deliberately independent of the hypervisor's own copy (include/public/):
// the guests are a test model, so a layout mistake on either side shows up as
// a failing check instead of agreeing with itself.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace guest::xen {

// --- Hypercall numbers (xen.h, "__HYPERVISOR_*"; one underscore pair fewer) --
enum Hypercall : unsigned {
    HYPERVISOR_set_trap_table = 0,
    HYPERVISOR_mmu_update = 1,
    HYPERVISOR_set_gdt = 2,
    HYPERVISOR_stack_switch = 3,
    HYPERVISOR_set_callbacks = 4,
    HYPERVISOR_fpu_taskswitch = 5,
    HYPERVISOR_update_descriptor = 10,
    HYPERVISOR_memory_op = 12,
    HYPERVISOR_multicall = 13,
    HYPERVISOR_update_va_mapping = 14,
    HYPERVISOR_set_timer_op = 15,
    HYPERVISOR_xen_version = 17,
    HYPERVISOR_console_io = 18,
    HYPERVISOR_vm_assist = 21,
    HYPERVISOR_iret = 23,
    HYPERVISOR_vcpu_op = 24,
    HYPERVISOR_set_segment_base = 25,
    HYPERVISOR_mmuext_op = 26,
    HYPERVISOR_sched_op = 29,
    HYPERVISOR_callback_op = 30,
    HYPERVISOR_event_channel_op = 32,
    HYPERVISOR_physdev_op = 33,
};

// Slot n of the hypercall page is 32 bytes at page + 32 * n (xen.h).
inline constexpr size_t hypercall_slot_size = 32;

// --- Error numbers the hypercalls return negated (public/errno.h) ----------
inline constexpr long EPERM = 1;
inline constexpr long ENOENT = 2;
inline constexpr long EFAULT = 14;
inline constexpr long EBUSY = 16;
inline constexpr long EINVAL = 22;
inline constexpr long ENOSYS = 38;

inline constexpr uint16_t DOMID_SELF = 0x7ff0;

// --- Address space (arch-x86/xen-x86_64.h) ---------------------------------
inline constexpr uint64_t HYPERVISOR_VIRT_START = 0xffff800000000000ull;
inline constexpr uint64_t HYPERVISOR_VIRT_END = 0xffff880000000000ull;
inline constexpr uint64_t MACH2PHYS_VIRT_START = 0xffff800000000000ull;
inline constexpr unsigned first_hypervisor_l4_slot = 256;
inline constexpr unsigned last_hypervisor_l4_slot = 271;

// Flat selectors (arch-x86/xen-x86_64.h, FLAT_RING3_*).
inline constexpr uint16_t FLAT_RING3_CS32 = 0xe023;
inline constexpr uint16_t FLAT_RING3_CS64 = 0xe033;
inline constexpr uint16_t FLAT_RING3_DS32 = 0xe02b;
inline constexpr uint16_t FLAT_RING3_SS64 = 0xe02b;
inline constexpr uint16_t FLAT_KERNEL_CS64 = FLAT_RING3_CS64;
inline constexpr uint16_t FLAT_KERNEL_SS64 = FLAT_RING3_SS64;
// The first GDT entry the hypervisor keeps (arch-x86/xen.h: FIRST_RESERVED_GDT_PAGE 14).
inline constexpr unsigned FIRST_RESERVED_GDT_ENTRY = 14 * 4096 / 8;

// --- start_info (xen.h, "Start-of-day memory layout") ----------------------
inline constexpr uint32_t SIF_PRIVILEGED = 1u << 0;
inline constexpr uint32_t SIF_INITDOMAIN = 1u << 1;
inline constexpr uint32_t SIF_MULTIBOOT_MOD = 1u << 2;
inline constexpr uint32_t SIF_MOD_START_PFN = 1u << 3;

struct start_info {
    char magic[32];  // "xen-3.0-x86_64"
    uint64_t nr_pages;
    uint64_t shared_info;  // machine address
    uint32_t flags;
    uint32_t padding0;
    uint64_t store_mfn;
    uint32_t store_evtchn;
    uint32_t padding1;
    union {
        struct {
            uint64_t mfn;
            uint32_t evtchn;
        } domU;
        struct {
            uint32_t info_off;
            uint32_t info_size;
        } dom0;
    } console;
    uint64_t pt_base;       // virtual address of the bootstrap L4
    uint64_t nr_pt_frames;
    uint64_t mfn_list;      // virtual address of the p2m list
    uint64_t mod_start;
    uint64_t mod_len;
    char cmd_line[1024];
    uint64_t first_p2m_pfn;
    uint64_t nr_p2m_frames;
};
static_assert(offsetof(start_info, nr_pages) == 32);
static_assert(offsetof(start_info, shared_info) == 40);
static_assert(offsetof(start_info, flags) == 48);
static_assert(offsetof(start_info, store_mfn) == 56);
static_assert(offsetof(start_info, console) == 72);
static_assert(offsetof(start_info, pt_base) == 88);
static_assert(offsetof(start_info, mfn_list) == 104);
static_assert(offsetof(start_info, mod_start) == 112);
static_assert(offsetof(start_info, cmd_line) == 128);
static_assert(offsetof(start_info, first_p2m_pfn) == 1152);
static_assert(sizeof(start_info) == 1168);

// --- shared_info and vcpu_info (xen.h, arch-x86/xen.h) ---------------------
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;  // nanoseconds since boot, at tsc_timestamp
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};
static_assert(sizeof(vcpu_time_info) == 32);

struct arch_vcpu_info {
    uint64_t cr2;  // the faulting address of the last #PF bounced to the guest
    uint64_t pad;
};

struct vcpu_info {
    volatile uint8_t evtchn_upcall_pending;
    volatile uint8_t evtchn_upcall_mask;
    uint8_t padding[6];
    volatile uint64_t evtchn_pending_sel;
    arch_vcpu_info arch;
    vcpu_time_info time;
};
static_assert(offsetof(vcpu_info, evtchn_upcall_mask) == 1);
static_assert(offsetof(vcpu_info, evtchn_pending_sel) == 8);
static_assert(offsetof(vcpu_info, arch) == 16);
static_assert(offsetof(vcpu_info, time) == 32);
static_assert(sizeof(vcpu_info) == 64);

inline constexpr unsigned XEN_LEGACY_MAX_VCPUS = 32;

struct arch_shared_info {
    uint64_t max_pfn;
    uint64_t pfn_to_mfn_frame_list_list;
    uint64_t nmi_reason;
    uint64_t p2m_cr3;
    uint64_t p2m_vaddr;
    uint64_t p2m_generation;
};

struct shared_info {
    vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    volatile uint64_t evtchn_pending[64];
    volatile uint64_t evtchn_mask[64];
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
    uint32_t wc_sec_hi;
    arch_shared_info arch;
};
static_assert(offsetof(shared_info, evtchn_pending) == 2048);
static_assert(offsetof(shared_info, evtchn_mask) == 2560);
static_assert(offsetof(shared_info, wc_version) == 3072);
static_assert(offsetof(shared_info, arch) == 3088);

// --- set_trap_table (arch-x86/xen.h, struct trap_info) ---------------------
struct trap_info {
    uint8_t vector;
    uint8_t flags;  // bits 0-1: DPL of a software `int n`; bit 2: mask events on entry
    uint16_t cs;
    uint32_t padding;
    uint64_t address;  // 0 ends the table
};
static_assert(sizeof(trap_info) == 16);
inline constexpr uint8_t trap_info_mask_events = 1u << 2;

// --- iret (arch-x86/xen-x86_64.h, struct iret_context) ---------------------
struct iret_context {
    uint64_t rax, r11, rcx, flags, rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(iret_context) == 72);
inline constexpr uint64_t VGCF_in_syscall = 1u << 8;

// --- mmu_update (xen.h) ----------------------------------------------------
struct mmu_update {
    uint64_t ptr;  // machine address of the entry, command in bits 0-1
    uint64_t val;
};
static_assert(sizeof(mmu_update) == 16);
inline constexpr uint64_t MMU_NORMAL_PT_UPDATE = 0;
inline constexpr uint64_t MMU_MACHPHYS_UPDATE = 1;
inline constexpr uint64_t MMU_PT_UPDATE_PRESERVE_AD = 2;

// --- mmuext_op (xen.h) -----------------------------------------------------
enum MmuextCommand : uint32_t {
    MMUEXT_PIN_L1_TABLE = 0,
    MMUEXT_PIN_L2_TABLE = 1,
    MMUEXT_PIN_L3_TABLE = 2,
    MMUEXT_PIN_L4_TABLE = 3,
    MMUEXT_UNPIN_TABLE = 4,
    MMUEXT_NEW_BASEPTR = 5,
    MMUEXT_TLB_FLUSH_LOCAL = 6,
    MMUEXT_INVLPG_LOCAL = 7,
    MMUEXT_TLB_FLUSH_MULTI = 8,
    MMUEXT_INVLPG_MULTI = 9,
    MMUEXT_TLB_FLUSH_ALL = 10,
    MMUEXT_INVLPG_ALL = 11,
    MMUEXT_FLUSH_CACHE = 12,
    MMUEXT_SET_LDT = 13,
    MMUEXT_NEW_USER_BASEPTR = 15,
};
struct mmuext_op {
    uint32_t cmd;
    uint32_t padding;
    uint64_t arg1;  // mfn or linear_addr
    uint64_t arg2;  // nr_ents, vcpumask or src_mfn
};
static_assert(sizeof(mmuext_op) == 24);

// --- update_va_mapping flags (xen.h, UVMF_*) -------------------------------
inline constexpr uint64_t UVMF_NONE = 0;
inline constexpr uint64_t UVMF_TLB_FLUSH = 1;
inline constexpr uint64_t UVMF_INVLPG = 2;
inline constexpr uint64_t UVMF_LOCAL = 0;
inline constexpr uint64_t UVMF_ALL = 4;

// --- multicall (xen.h, struct multicall_entry) -----------------------------
struct multicall_entry {
    uint64_t op;
    uint64_t result;
    uint64_t args[6];
};
static_assert(sizeof(multicall_entry) == 64);

// --- console_io (xen.h) ----------------------------------------------------
inline constexpr unsigned CONSOLEIO_write = 0;
inline constexpr unsigned CONSOLEIO_read = 1;

// --- sched_op (sched.h) ----------------------------------------------------
inline constexpr unsigned SCHEDOP_yield = 0;
inline constexpr unsigned SCHEDOP_block = 1;
inline constexpr unsigned SCHEDOP_shutdown = 2;
inline constexpr unsigned SHUTDOWN_poweroff = 0;
inline constexpr unsigned SHUTDOWN_reboot = 1;
inline constexpr unsigned SHUTDOWN_crash = 3;
struct sched_shutdown {
    uint32_t reason;
};

// --- callbacks (callback.h; set_callbacks on x86-64 takes three addresses) --
inline constexpr uint16_t CALLBACKTYPE_event = 0;
inline constexpr uint16_t CALLBACKTYPE_failsafe = 1;
inline constexpr uint16_t CALLBACKTYPE_syscall = 2;
inline constexpr uint16_t CALLBACKTYPE_nmi = 4;
inline constexpr uint16_t CALLBACKTYPE_syscall32 = 7;
inline constexpr uint16_t CALLBACKF_mask_events = 1u << 0;
inline constexpr unsigned CALLBACKOP_register = 0;
inline constexpr unsigned CALLBACKOP_unregister = 1;
struct callback_register {
    uint16_t type;
    uint16_t flags;
    uint32_t padding;
    uint64_t address;
};
static_assert(sizeof(callback_register) == 16);

// --- set_segment_base (arch-x86/xen-x86_64.h) ------------------------------
inline constexpr unsigned SEGBASE_FS = 0;
inline constexpr unsigned SEGBASE_GS_USER = 1;
inline constexpr unsigned SEGBASE_GS_KERNEL = 2;
inline constexpr unsigned SEGBASE_GS_USER_SEL = 3;

// --- vm_assist (xen.h) -----------------------------------------------------
inline constexpr unsigned VMASST_CMD_enable = 0;
inline constexpr unsigned VMASST_CMD_disable = 1;
inline constexpr unsigned VMASST_TYPE_pae_extended_cr3 = 3;
inline constexpr unsigned VMASST_TYPE_runstate_update_flag = 5;

// --- event channels (event_channel.h, xen.h VIRQ_*) ------------------------
inline constexpr unsigned EVTCHNOP_bind_virq = 1;
inline constexpr unsigned EVTCHNOP_close = 3;
inline constexpr unsigned EVTCHNOP_send = 4;
inline constexpr unsigned EVTCHNOP_alloc_unbound = 6;
inline constexpr unsigned EVTCHNOP_bind_ipi = 7;
inline constexpr unsigned EVTCHNOP_unmask = 9;
inline constexpr uint32_t VIRQ_TIMER = 0;
struct evtchn_bind_virq {
    uint32_t virq;
    uint32_t vcpu;
    uint32_t port;  // out
};
static_assert(sizeof(evtchn_bind_virq) == 12);
struct evtchn_bind_ipi {
    uint32_t vcpu;
    uint32_t port;  // out
};
struct evtchn_alloc_unbound {
    uint16_t dom;
    uint16_t remote_dom;
    uint32_t port;  // out
};
static_assert(sizeof(evtchn_alloc_unbound) == 8);
struct evtchn_port_argument {  // evtchn_close, evtchn_send, evtchn_unmask
    uint32_t port;
};

// --- physdev_op (physdev.h) ------------------------------------------------
// The virtual IOPL: port I/O from the guest kernel is allowed once it is >= 1
// (a PV kernel runs at CPL 3; Linux dom0 sets 1 at start of day).
inline constexpr unsigned PHYSDEVOP_set_iopl = 6;
struct physdev_set_iopl {
    uint32_t iopl;
};

// --- vcpu_op (vcpu.h) ------------------------------------------------------
inline constexpr unsigned VCPUOP_is_up = 3;

// --- xen_version (version.h) -----------------------------------------------
inline constexpr unsigned XENVER_version = 0;
inline constexpr unsigned XENVER_extraversion = 1;
inline constexpr unsigned XENVER_capabilities = 3;
inline constexpr unsigned XENVER_platform_parameters = 5;
inline constexpr unsigned XENVER_get_features = 6;
struct xen_feature_info {
    uint32_t submap_idx;
    uint32_t submap;
};
struct xen_platform_parameters {
    uint64_t virt_start;
};
// features.h
inline constexpr unsigned XENFEAT_auto_translated_physmap = 2;
inline constexpr unsigned XENFEAT_mmu_pt_update_preserve_ad = 5;
inline constexpr unsigned XENFEAT_dom0 = 11;

// --- memory_op (memory.h) --------------------------------------------------
inline constexpr unsigned XENMEM_maximum_ram_page = 2;
inline constexpr unsigned XENMEM_current_reservation = 3;
inline constexpr unsigned XENMEM_maximum_reservation = 4;
inline constexpr unsigned XENMEM_memory_map = 9;
inline constexpr unsigned XENMEM_machine_memory_map = 10;
struct xen_memory_map {
    uint32_t nr_entries;  // in: capacity of buffer; out: entries written
    uint32_t padding;
    uint64_t buffer;      // guest virtual address of e820 entries
};
static_assert(sizeof(xen_memory_map) == 16);
struct [[gnu::packed]] e820_entry {
    uint64_t address;
    uint64_t size;
    uint32_t type;  // 1 = RAM
};
static_assert(sizeof(e820_entry) == 20);

// --- Page-table entry bits (Intel SDM vol. 3, 4.5, Table 4-19) -------------
inline constexpr uint64_t page_present = 1ull << 0;
inline constexpr uint64_t page_writable = 1ull << 1;
inline constexpr uint64_t page_user = 1ull << 2;
inline constexpr uint64_t page_write_through = 1ull << 3;
inline constexpr uint64_t page_cache_disable = 1ull << 4;
inline constexpr uint64_t page_accessed = 1ull << 5;
inline constexpr uint64_t page_dirty = 1ull << 6;
inline constexpr uint64_t page_large = 1ull << 7;
inline constexpr uint64_t page_frame_mask = 0x000ffffffffff000ull;
inline constexpr uint64_t page_size = 4096;

}  // namespace guest::xen
