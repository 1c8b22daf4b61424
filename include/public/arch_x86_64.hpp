// Xen's public x86 ABI for 64-bit guests: the contents of
// xen/include/public/arch-x86/xen.h and arch-x86/xen-x86_64.h (interface
// version 0x00040d00 and later), as C++ types with Xen's own names.
//
// Conventions shared by every header in include/public/ (see xen.hpp):
// structures and members keep Xen's spelling; guest handles (pointers into
// the guest) become uint64_t guest virtual addresses; constants lose only the
// leading underscores C reserves, and a bit-number constant spelled
// `_NAME` in Xen (beside a mask `NAME`) becomes `NAME_bit`.
#pragma once

#include <sluice/types.hpp>

namespace sluice::xen {

// --- Basic types (arch-x86/xen.h) -----------------------------------------

// A guest (or machine) frame number; `unsigned long` on x86-64.
using xen_pfn_t = uint64_t;
// The natural register width; `unsigned long` on x86-64.
using xen_ulong_t = uint64_t;
// A callback address (xen-x86_64.h: `typedef unsigned long xen_callback_t`).
using xen_callback_t = uint64_t;
using tsc_timestamp_t = uint64_t;

// --- Flat segment selectors (xen-x86_64.h) ---------------------------------
// They live in the hypervisor-reserved part of every GDT, from
// FIRST_RESERVED_GDT_ENTRY on; a 64-bit PV kernel runs in ring 3 on them.

inline constexpr uint16_t FLAT_RING3_CS32 = 0xe023;  // reserved entry 4
inline constexpr uint16_t FLAT_RING3_CS64 = 0xe033;  // reserved entry 6
inline constexpr uint16_t FLAT_RING3_DS32 = 0xe02b;  // reserved entry 5
inline constexpr uint16_t FLAT_RING3_DS64 = 0x0000;  // the null selector
inline constexpr uint16_t FLAT_RING3_SS32 = 0xe02b;
inline constexpr uint16_t FLAT_RING3_SS64 = 0xe02b;

inline constexpr uint16_t FLAT_KERNEL_DS64 = FLAT_RING3_DS64;
inline constexpr uint16_t FLAT_KERNEL_DS32 = FLAT_RING3_DS32;
inline constexpr uint16_t FLAT_KERNEL_DS = FLAT_KERNEL_DS64;
inline constexpr uint16_t FLAT_KERNEL_CS64 = FLAT_RING3_CS64;
inline constexpr uint16_t FLAT_KERNEL_CS32 = FLAT_RING3_CS32;
inline constexpr uint16_t FLAT_KERNEL_CS = FLAT_KERNEL_CS64;
inline constexpr uint16_t FLAT_KERNEL_SS64 = FLAT_RING3_SS64;
inline constexpr uint16_t FLAT_KERNEL_SS32 = FLAT_RING3_SS32;
inline constexpr uint16_t FLAT_KERNEL_SS = FLAT_KERNEL_SS64;

inline constexpr uint16_t FLAT_USER_DS64 = FLAT_RING3_DS64;
inline constexpr uint16_t FLAT_USER_DS32 = FLAT_RING3_DS32;
inline constexpr uint16_t FLAT_USER_DS = FLAT_USER_DS64;
inline constexpr uint16_t FLAT_USER_CS64 = FLAT_RING3_CS64;
inline constexpr uint16_t FLAT_USER_CS32 = FLAT_RING3_CS32;
inline constexpr uint16_t FLAT_USER_CS = FLAT_USER_CS64;
inline constexpr uint16_t FLAT_USER_SS64 = FLAT_RING3_SS64;
inline constexpr uint16_t FLAT_USER_SS32 = FLAT_RING3_SS32;
inline constexpr uint16_t FLAT_USER_SS = FLAT_USER_SS64;

// --- The hypervisor hole and the machine-to-physical table (xen-x86_64.h) --
// L4 slots 256-271 belong to the hypervisor; the M2P table sits at its start,
// read-only to the guest.

inline constexpr uint64_t HYPERVISOR_VIRT_START = 0xffff800000000000;
inline constexpr uint64_t HYPERVISOR_VIRT_END = 0xffff880000000000;
inline constexpr uint64_t MACH2PHYS_VIRT_START = 0xffff800000000000;
inline constexpr uint64_t MACH2PHYS_VIRT_END = 0xffff804000000000;
// One 8-byte entry per machine frame.
inline constexpr uint64_t MACH2PHYS_NR_ENTRIES = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3;

// --- set_segment_base (xen-x86_64.h) ---------------------------------------

inline constexpr uint32_t SEGBASE_FS = 0;
inline constexpr uint32_t SEGBASE_GS_USER = 1;
inline constexpr uint32_t SEGBASE_GS_KERNEL = 2;
inline constexpr uint32_t SEGBASE_GS_USER_SEL = 3;  // user %gs selector in base[15:0]

// --- Reserved GDT area (arch-x86/xen.h) -----------------------------------
// The last two of the GDT's sixteen pages belong to the hypervisor, so
// set_gdt accepts at most FIRST_RESERVED_GDT_ENTRY guest entries.

inline constexpr uint32_t FIRST_RESERVED_GDT_PAGE = 14;
inline constexpr uint32_t FIRST_RESERVED_GDT_BYTE = FIRST_RESERVED_GDT_PAGE * 4096;
inline constexpr uint32_t FIRST_RESERVED_GDT_ENTRY = FIRST_RESERVED_GDT_BYTE / 8;

// Number of vcpu_info slots in shared_info.
inline constexpr uint32_t XEN_LEGACY_MAX_VCPUS = 32;
// The pre-4.0 interface's name for the same number.
inline constexpr uint32_t MAX_VIRT_CPUS = XEN_LEGACY_MAX_VCPUS;

// --- iret (xen-x86_64.h) ---------------------------------------------------
// The frame HYPERVISOR_iret pops from the guest kernel stack, lowest address
// (the %rsp at the hypercall) first. With VGCF_in_syscall in `flags` only
// rax, rip, rflags and rsp are restored (a SYSRET-style return); otherwise
// rax, r11, rcx, cs:rip, rflags and ss:rsp.

inline constexpr uint32_t VGCF_in_syscall_bit = 8;
inline constexpr uint64_t VGCF_in_syscall = uint64_t{1} << VGCF_in_syscall_bit;
inline constexpr uint64_t VGCF_IN_SYSCALL = VGCF_in_syscall;

struct iret_context {
    uint64_t rax;
    uint64_t r11;
    uint64_t rcx;
    uint64_t flags;
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t ss;
};
static_assert(sizeof(iret_context) == 72);
static_assert(__builtin_offsetof(iret_context, rax) == 0);
static_assert(__builtin_offsetof(iret_context, flags) == 24);
static_assert(__builtin_offsetof(iret_context, rip) == 32);
static_assert(__builtin_offsetof(iret_context, cs) == 40);
static_assert(__builtin_offsetof(iret_context, rflags) == 48);
static_assert(__builtin_offsetof(iret_context, rsp) == 56);
static_assert(__builtin_offsetof(iret_context, ss) == 64);

// --- cpu_user_regs (xen-x86_64.h) ------------------------------------------
// Only the 64-bit register names are kept (the header's non-GNU spelling);
// the 32/16/8-bit aliases are views of the same 8 bytes.
struct cpu_user_regs {
    uint64_t r15;
    uint64_t r14;
    uint64_t r13;
    uint64_t r12;
    uint64_t rbp;
    uint64_t rbx;
    uint64_t r11;
    uint64_t r10;
    uint64_t r9;
    uint64_t r8;
    uint64_t rax;
    uint64_t rcx;
    uint64_t rdx;
    uint64_t rsi;
    uint64_t rdi;
    uint32_t error_code;    // private to the hypervisor
    uint32_t entry_vector;  // private to the hypervisor
    uint64_t rip;
    uint16_t cs;
    uint16_t _pad0[1];
    uint8_t saved_upcall_mask;
    uint8_t _pad1[3];
    uint64_t rflags;  // rflags.IF == !saved_upcall_mask
    uint64_t rsp;
    uint16_t ss;
    uint16_t _pad2[3];
    uint16_t es;
    uint16_t _pad3[3];
    uint16_t ds;
    uint16_t _pad4[3];
    uint16_t fs;
    uint16_t _pad5[3];
    uint16_t gs;
    uint16_t _pad6[3];
};
static_assert(sizeof(cpu_user_regs) == 200);
static_assert(__builtin_offsetof(cpu_user_regs, rbp) == 32);
static_assert(__builtin_offsetof(cpu_user_regs, rax) == 80);
static_assert(__builtin_offsetof(cpu_user_regs, rdi) == 112);
static_assert(__builtin_offsetof(cpu_user_regs, error_code) == 120);
static_assert(__builtin_offsetof(cpu_user_regs, entry_vector) == 124);
static_assert(__builtin_offsetof(cpu_user_regs, rip) == 128);
static_assert(__builtin_offsetof(cpu_user_regs, cs) == 136);
static_assert(__builtin_offsetof(cpu_user_regs, saved_upcall_mask) == 140);
static_assert(__builtin_offsetof(cpu_user_regs, rflags) == 144);
static_assert(__builtin_offsetof(cpu_user_regs, rsp) == 152);
static_assert(__builtin_offsetof(cpu_user_regs, ss) == 160);
static_assert(__builtin_offsetof(cpu_user_regs, es) == 168);
static_assert(__builtin_offsetof(cpu_user_regs, ds) == 176);
static_assert(__builtin_offsetof(cpu_user_regs, fs) == 184);
static_assert(__builtin_offsetof(cpu_user_regs, gs) == 192);

// CR3 values carry a frame number shifted by the page size (xen-x86_64.h).
[[nodiscard]] constexpr uint64_t xen_pfn_to_cr3(xen_pfn_t pfn) { return pfn << 12; }
[[nodiscard]] constexpr xen_pfn_t xen_cr3_to_pfn(uint64_t cr3) { return cr3 >> 12; }

// --- arch_vcpu_info (xen-x86_64.h) -----------------------------------------
struct arch_vcpu_info {
    uint64_t cr2;
    uint64_t pad;  // keeps sizeof(vcpu_info) == 64
};
static_assert(sizeof(arch_vcpu_info) == 16);
static_assert(__builtin_offsetof(arch_vcpu_info, cr2) == 0);

// --- trap_info (arch-x86/xen.h) --------------------------------------------
// An array of these, ended by an entry whose address is 0, goes to
// set_trap_table. flags[1:0] is the privilege level a software interrupt
// needs (0: nobody, 1 and 2: the kernel, 3: everybody); flags bit 2 set means
// event delivery is masked on entry, as an interrupt gate clears IF.
struct trap_info {
    uint8_t vector;
    uint8_t flags;
    uint16_t cs;
    uint64_t address;
};
static_assert(sizeof(trap_info) == 16);
static_assert(__builtin_offsetof(trap_info, vector) == 0);
static_assert(__builtin_offsetof(trap_info, flags) == 1);
static_assert(__builtin_offsetof(trap_info, cs) == 2);
static_assert(__builtin_offsetof(trap_info, address) == 8);

// TI_GET_DPL / TI_GET_IF / TI_SET_DPL / TI_SET_IF (arch-x86/xen.h).
[[nodiscard]] constexpr uint8_t TI_GET_DPL(const trap_info& trap) { return trap.flags & 3; }
// True when the handler is entered with events masked.
[[nodiscard]] constexpr bool TI_GET_IF(const trap_info& trap) { return (trap.flags & 4) != 0; }
constexpr void TI_SET_DPL(trap_info& trap, uint8_t privilege_level) {
    trap.flags = static_cast<uint8_t>(trap.flags | (privilege_level & 3));
}
constexpr void TI_SET_IF(trap_info& trap, bool mask_events) {
    trap.flags = static_cast<uint8_t>(trap.flags | (mask_events ? 4 : 0));
}

// --- vcpu_guest_context (arch-x86/xen.h), for VCPUOP_initialise ------------

inline constexpr uint32_t VGCF_i387_valid_bit = 0;
inline constexpr uint64_t VGCF_i387_valid = uint64_t{1} << VGCF_i387_valid_bit;
inline constexpr uint64_t VGCF_I387_VALID = VGCF_i387_valid;
inline constexpr uint32_t VGCF_in_kernel_bit = 2;
inline constexpr uint64_t VGCF_in_kernel = uint64_t{1} << VGCF_in_kernel_bit;
inline constexpr uint64_t VGCF_IN_KERNEL = VGCF_in_kernel;
inline constexpr uint32_t VGCF_failsafe_disables_events_bit = 3;
inline constexpr uint64_t VGCF_failsafe_disables_events = uint64_t{1} << VGCF_failsafe_disables_events_bit;
inline constexpr uint32_t VGCF_syscall_disables_events_bit = 4;
inline constexpr uint64_t VGCF_syscall_disables_events = uint64_t{1} << VGCF_syscall_disables_events_bit;
inline constexpr uint32_t VGCF_online_bit = 5;
inline constexpr uint64_t VGCF_online = uint64_t{1} << VGCF_online_bit;

struct vcpu_guest_context {
    struct {
        char x[512];
    } fpu_ctxt;  // FXSAVE image
    uint64_t flags;  // VGCF_*
    cpu_user_regs user_regs;
    trap_info trap_ctxt[256];  // the virtual IDT
    uint64_t ldt_base;         // linear address
    uint64_t ldt_ents;
    uint64_t gdt_frames[16];  // machine frames
    uint64_t gdt_ents;
    uint64_t kernel_ss;  // the virtual TSS: only SS1/SP1
    uint64_t kernel_sp;
    uint64_t ctrlreg[8];  // CR0-CR7; the user page table base is in ctrlreg[1]
    uint64_t debugreg[8];
    uint64_t event_callback_eip;
    uint64_t failsafe_callback_eip;
    uint64_t syscall_callback_eip;
    uint64_t vm_assist;  // VMASST_TYPE_* bitmap
    uint64_t fs_base;
    uint64_t gs_base_kernel;
    uint64_t gs_base_user;
};
static_assert(sizeof(vcpu_guest_context) == 5168);
static_assert(__builtin_offsetof(vcpu_guest_context, flags) == 512);
static_assert(__builtin_offsetof(vcpu_guest_context, user_regs) == 520);
static_assert(__builtin_offsetof(vcpu_guest_context, trap_ctxt) == 720);
static_assert(__builtin_offsetof(vcpu_guest_context, ldt_base) == 4816);
static_assert(__builtin_offsetof(vcpu_guest_context, gdt_frames) == 4832);
static_assert(__builtin_offsetof(vcpu_guest_context, gdt_ents) == 4960);
static_assert(__builtin_offsetof(vcpu_guest_context, kernel_ss) == 4968);
static_assert(__builtin_offsetof(vcpu_guest_context, ctrlreg) == 4984);
static_assert(__builtin_offsetof(vcpu_guest_context, debugreg) == 5048);
static_assert(__builtin_offsetof(vcpu_guest_context, event_callback_eip) == 5112);
static_assert(__builtin_offsetof(vcpu_guest_context, syscall_callback_eip) == 5128);
static_assert(__builtin_offsetof(vcpu_guest_context, vm_assist) == 5136);
static_assert(__builtin_offsetof(vcpu_guest_context, fs_base) == 5144);
static_assert(__builtin_offsetof(vcpu_guest_context, gs_base_user) == 5160);

// --- arch_shared_info (arch-x86/xen.h) -------------------------------------
struct arch_shared_info {
    // Number of valid entries in the p2m reached through the fields below.
    uint64_t max_pfn;
    // Frame of the list of frames of the list of p2m frames; 0 not set up,
    // ~0 invalid (use p2m_vaddr).
    xen_pfn_t pfn_to_mfn_frame_list_list;
    uint64_t nmi_reason;
    // The linear p2m list, valid when p2m_cr3 is non-zero.
    uint64_t p2m_cr3;
    uint64_t p2m_vaddr;
    uint64_t p2m_generation;  // odd while the guest updates the mapping
};
static_assert(sizeof(arch_shared_info) == 48);
static_assert(__builtin_offsetof(arch_shared_info, pfn_to_mfn_frame_list_list) == 8);
static_assert(__builtin_offsetof(arch_shared_info, nmi_reason) == 16);
static_assert(__builtin_offsetof(arch_shared_info, p2m_cr3) == 24);
static_assert(__builtin_offsetof(arch_shared_info, p2m_vaddr) == 32);
static_assert(__builtin_offsetof(arch_shared_info, p2m_generation) == 40);

// --- Miscellaneous (arch-x86/xen.h) -----------------------------------------

// The forced-emulation prefix "ud2; .ascii \"xen\"" a PV guest puts before
// CPUID so the hypervisor emulates it.
inline constexpr uint8_t XEN_EMULATE_PREFIX[5] = {0x0f, 0x0b, 0x78, 0x65, 0x6e};
// The "port E9 hack" debug console.
inline constexpr uint16_t XEN_HVM_DEBUGCONS_IOPORT = 0xe9;

// The hypercall page: hypercall N is entered by calling page + N * 32
// (xen-x86_64.h, "Access is via hypercall page").
inline constexpr uint32_t hypercall_page_entry_size = 32;

}  // namespace sluice::xen
