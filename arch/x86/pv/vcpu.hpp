// The virtual CPU of a 64-bit PV guest: what the hypervisor keeps for it
// between entries, and the ABI's rules for moving it between guest kernel
// and guest user mode (Xen public ABI, xen.h and arch-x86/xen-x86_64.h;
// docs/pv.md).
//
// Both guest modes run at CPL 3. The hypervisor's `kernel_mode` says which
// one the guest is in; switching it changes the page-table base (kernel or
// user L4), swaps the GS bases and turns the guest's direct I/O-port access
// on (kernel) or off (user). The frame of registers lives on the guest entry
// stack while the hypervisor runs (arch/x86/interrupts.hpp InterruptFrame).
//
// This is core code: the bounce frame, iret and event delivery run against
// PhysicalMemory in the host tests. The few hardware side effects of a mode
// switch go through ModeHooks.
#pragma once

#include "arch/x86/interrupts.hpp"
#include "arch/x86/pv/guest_memory.hpp"
#include "common/vcpu.hpp"

#include <public/arch_x86_64.hpp>
#include <public/vcpu.hpp>
#include <public/xen.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::pv {

// One entry of the guest's virtual IDT (set_trap_table; xen.h trap_info).
struct TrapHandler {
    uint64_t address = 0;
    uint16_t code_selector = 0;
    uint8_t flags = 0;  // trap_info.flags: DPL in bits 1:0, bit 2 masks events on entry
    bool present = false;
};

// A callback the guest registered (callback_op / set_callbacks).
struct GuestCallback {
    uint64_t address = 0;
    bool mask_events = false;  // CALLBACKF_mask_events
    bool present = false;
};

// Hardware side effects of a kernel/user switch, done by the image.
class ModeHooks {
public:
    // The guest enters `kernel` mode (or leaves it): swap the GS bases,
    // enable or disable direct port access.
    virtual void switch_mode(bool kernel) = 0;
    // The virtual IOPL changed (iret with the architectural_iopl assist):
    // apply io_ports_allowed() again.
    virtual void update_port_access() = 0;

protected:
    ~ModeHooks() = default;
};

// A PV vCPU: the common part (its id and domain) and the PV state.
struct Vcpu : ::sluice::Vcpu {
    static constexpr unsigned trap_count = 256;

    uint16_t domain_id = 0;
    bool kernel_mode = true;
    // Machine addresses of the two L4 tables (MMUEXT_NEW_BASEPTR,
    // MMUEXT_NEW_USER_BASEPTR); 0 when the guest has not set one.
    PhysicalAddress kernel_page_table = 0;
    PhysicalAddress user_page_table = 0;
    // stack_switch: the kernel stack a bounce from user mode starts on.
    uint64_t kernel_stack_pointer = 0;
    uint16_t kernel_stack_segment = 0;
    // Machine address of this vCPU's vcpu_info (in shared_info, or where
    // VCPUOP_register_vcpu_info put it).
    PhysicalAddress vcpu_info = 0;
    // VCPUOP_register_vcpu_info moved it out of shared_info (only once, as
    // in Xen).
    bool vcpu_info_registered = false;
    TrapHandler traps[trap_count];
    GuestCallback event_callback;
    GuestCallback failsafe_callback;
    GuestCallback syscall_callback;
    GuestCallback syscall32_callback;
    GuestCallback sysenter_callback;
    GuestCallback nmi_callback;
    // fpu_taskswitch / CLTS / mov to CR0: the virtual CR0.TS.
    bool task_switched = false;
    // vm_assist: the assists the guest turned on (VMASST_TYPE_* bits).
    uint64_t vm_assists = 0;
    // PHYSDEVOP_set_iopl: the guest's virtual I/O privilege level (0-3).
    uint8_t io_privilege = 0;
    // The guest's GDT (set_gdt): frames shown in the GDT area, and the
    // number of entries.
    uint64_t gdt_frames[14] = {};
    unsigned gdt_entries = 0;
    // The guest's LDT (MMUEXT_SET_LDT): its frames, shown in the LDT area,
    // and the number of entries (0: none).
    uint64_t ldt_frames[16] = {};
    unsigned ldt_entries = 0;
    // set_timer_op: the deadline in guest system time (ns), 0 = none.
    uint64_t timer_deadline = 0;
    // The guest blocked (SCHEDOP_block, HLT) until an event is pending.
    bool blocked = false;
    // The vCPU's runstate (vcpu.h, vcpu_runstate_info): the current
    // RUNSTATE_*, the system time it was entered, the time spent in each,
    // and the guest virtual address VCPUOP_register_runstate_memory_area
    // gave for the copy the hypervisor keeps up to date (0: none).
    int32_t runstate = xen::RUNSTATE_running;
    uint64_t runstate_entry_time = 0;
    uint64_t runstate_time[4] = {};
    uint64_t runstate_area = 0;
    // set_debugreg: the virtual debug registers DR0-DR7 (DR4 and DR5 unused),
    // at their architectural reset values (Intel SDM Vol. 3B, "Debug
    // Registers": DR6 0xffff0ff0, DR7 0x400).
    uint64_t debug_registers[8] = {0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400};
};

// What went wrong when the guest cannot go on; the caller crashes the
// domain with it.
struct GuestCrash {
    const char* reason = "";
    uint64_t address = 0;
};

// Whether the guest may use I/O ports in its current mode (Xen's rule: the
// guest kernel counts as ring 1, or ring 0 with the architectural_iopl
// assist; user mode as ring 3; ports are allowed when the virtual IOPL is
// at least that).
[[nodiscard]] bool io_ports_allowed(const Vcpu& vcpu);
// The guest turned on the architectural_iopl assist: its virtual IOPL then
// travels in RFLAGS through bounce frames and iret.
[[nodiscard]] bool architectural_iopl(const Vcpu& vcpu);

// The page-table base the guest's current mode runs on.
[[nodiscard]] inline PhysicalAddress current_page_table(const Vcpu& vcpu) {
    return vcpu.kernel_mode ? vcpu.kernel_page_table : vcpu.user_page_table;
}

// vcpu_info fields the hypervisor reads and writes (xen.h vcpu_info).
[[nodiscard]] uint8_t upcall_mask(const Vcpu& vcpu, const PhysicalMemory& memory);
void set_upcall_mask(const Vcpu& vcpu, PhysicalMemory& memory, uint8_t mask);
[[nodiscard]] bool upcall_pending(const Vcpu& vcpu, const PhysicalMemory& memory);
void set_cr2(const Vcpu& vcpu, PhysicalMemory& memory, uint64_t address);

// Enters guest kernel mode (no-op when already there).
void enter_kernel_mode(Vcpu& vcpu, ModeHooks& hooks);

struct Bounce {
    uint64_t handler = 0;
    bool has_error_code = false;
    uint64_t error_code = 0;
    bool mask_events = false;
};

// Delivers an exception, event or callback the way the ABI does: switches to
// kernel mode (onto the stack_switch stack when coming from user mode),
// pushes rcx, r11, [error code], rip, cs (saved upcall mask in bits 39:32;
// RPL 0 when the guest was in kernel mode), rflags (IF = events were
// unmasked), rsp, ss on the kernel stack, lowest address first, and resumes
// at the handler with events masked when asked. A kernel stack that cannot
// take the frame fails with the crash filled in.
[[nodiscard]] Status create_bounce_frame(Vcpu& vcpu, InterruptFrame& frame, const Bounce& bounce,
                                         PhysicalMemory& memory, const GuestFramePolicy& policy, ModeHooks& hooks,
                                         GuestCrash& crash);

// HYPERVISOR_iret: pops struct iret_context from the guest kernel stack
// (frame.rsp) and resumes there (in user mode when its CS has RPL 3).
// Error::invalid_argument with the crash filled in for a context the guest
// cannot be resumed with.
[[nodiscard]] Status do_iret(Vcpu& vcpu, InterruptFrame& frame, PhysicalMemory& memory,
                             const GuestFramePolicy& policy, ModeHooks& hooks, GuestCrash& crash);

// Delivers a pending event upcall if events are unmasked and the guest has
// an event callback. Returns true when it bounced.
[[nodiscard]] Result<bool> deliver_pending_events(Vcpu& vcpu, InterruptFrame& frame, PhysicalMemory& memory,
                                                  const GuestFramePolicy& policy, ModeHooks& hooks,
                                                  GuestCrash& crash);

// Whether loading `selector` into a data segment register at CPL 0 is
// sure not to fault (Intel SDM Vol. 3A, "Privilege Level Checking When
// Accessing Data Segments"): null, or a present DPL 3 data or readable code
// descriptor of the guest's GDT (within its set_gdt entries) or LDT (within
// its MMUEXT_SET_LDT entries), or the flat data selector FLAT_RING3_DS32.
[[nodiscard]] bool data_selector_loadable(const Vcpu& vcpu, const PhysicalMemory& memory, uint16_t selector);

// Makes the frame safe to IRETQ to: guest selectors, canonical RIP and RSP,
// IF on, IOPL 0, no NT/VM/VIF/VIP. Error::invalid_argument (crash filled in)
// for a non-canonical RIP or RSP.
[[nodiscard]] Status sanitize_return_frame(InterruptFrame& frame, GuestCrash& crash);

}  // namespace sluice::x86::pv
