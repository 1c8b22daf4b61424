#include "arch/x86/pv/vcpu.hpp"

#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {

// RFLAGS bits (Intel SDM Vol. 1, "EFLAGS Register").
constexpr uint64_t flag_trap = uint64_t{1} << 8;
constexpr uint64_t flag_interrupt = uint64_t{1} << 9;
constexpr uint64_t flag_io_privilege = uint64_t{3} << 12;
constexpr uint64_t flag_nested_task = uint64_t{1} << 14;
constexpr uint64_t flag_resume = uint64_t{1} << 16;
constexpr uint64_t flag_virtual_8086 = uint64_t{1} << 17;
// What a guest may keep in RFLAGS: the arithmetic flags, TF, DF, OF, AC
// and ID (bit 1 always reads 1).
constexpr uint64_t guest_flags = 0x00000001 | 0x00000004 | 0x00000010 | 0x00000040 | 0x00000080 | flag_trap |
                                 0x00000400 | 0x00000800 | 0x00040000 | 0x00200000;
constexpr uint64_t flag_reserved_one = uint64_t{1} << 1;

constexpr uint64_t vcpu_info_pending = __builtin_offsetof(xen::vcpu_info, evtchn_upcall_pending);
constexpr uint64_t vcpu_info_mask = __builtin_offsetof(xen::vcpu_info, evtchn_upcall_mask);
constexpr uint64_t vcpu_info_cr2 = __builtin_offsetof(xen::vcpu_info, arch) + __builtin_offsetof(xen::arch_vcpu_info, cr2);

uint8_t read_byte(const PhysicalMemory& memory, PhysicalAddress address) {
    uint8_t value = 0;
    if (!memory.read_bytes(address, &value, 1).ok()) return 0;
    return value;
}

void write_byte(PhysicalMemory& memory, PhysicalAddress address, uint8_t value) {
    (void)memory.write_bytes(address, &value, 1);
}

void leave_kernel_mode(Vcpu& vcpu, ModeHooks& hooks) {
    if (!vcpu.kernel_mode) return;
    vcpu.kernel_mode = false;
    hooks.switch_mode(false);
}

}  // namespace

uint8_t upcall_mask(const Vcpu& vcpu, const PhysicalMemory& memory) {
    return read_byte(memory, vcpu.vcpu_info + vcpu_info_mask);
}

void set_upcall_mask(const Vcpu& vcpu, PhysicalMemory& memory, uint8_t mask) {
    write_byte(memory, vcpu.vcpu_info + vcpu_info_mask, mask);
}

bool upcall_pending(const Vcpu& vcpu, const PhysicalMemory& memory) {
    return read_byte(memory, vcpu.vcpu_info + vcpu_info_pending) != 0;
}

void set_cr2(const Vcpu& vcpu, PhysicalMemory& memory, uint64_t address) {
    (void)memory.write_bytes(vcpu.vcpu_info + vcpu_info_cr2, &address, sizeof address);
}

bool architectural_iopl(const Vcpu& vcpu) { return (vcpu.vm_assists >> xen::VMASST_TYPE_architectural_iopl) & 1; }

bool io_ports_allowed(const Vcpu& vcpu) {
    const bool architectural = architectural_iopl(vcpu);
    const unsigned ring = vcpu.kernel_mode ? (architectural ? 0 : 1) : 3;
    return vcpu.io_privilege >= ring;
}

void enter_kernel_mode(Vcpu& vcpu, ModeHooks& hooks) {
    if (vcpu.kernel_mode) return;
    vcpu.kernel_mode = true;
    hooks.switch_mode(true);
}

Status create_bounce_frame(Vcpu& vcpu, InterruptFrame& frame, const Bounce& bounce, PhysicalMemory& memory,
                           const GuestFramePolicy& policy, ModeHooks& hooks, GuestCrash& crash) {
    if (!is_canonical(bounce.handler) ||
        (bounce.handler >= xen::HYPERVISOR_VIRT_START && bounce.handler < xen::HYPERVISOR_VIRT_END)) {
        crash = GuestCrash{"handler address not canonical or in the hypervisor's range", bounce.handler};
        return Error::invalid_argument;
    }
    const bool from_kernel = vcpu.kernel_mode;
    const uint8_t saved_mask = upcall_mask(vcpu, memory);
    uint64_t stack = from_kernel ? frame.rsp : vcpu.kernel_stack_pointer;
    if (!from_kernel && vcpu.kernel_page_table == 0) {
        crash = GuestCrash{"bounce from user mode without a kernel page table", 0};
        return Error::invalid_argument;
    }
    // Frames are 16-byte aligned, as the processor aligns its own in 64-bit
    // mode (Intel SDM Vol. 3A, "Stack Switching in IA-32e Mode").
    stack = align_down(stack, 16);

    // CS: the guest's RPL 3 selector for a user-mode frame, RPL 0 for a
    // kernel-mode one, so the guest tells the two apart by CS & 3 as on
    // bare metal; the saved upcall mask in bits 39:32.
    const uint64_t code = (from_kernel ? (frame.cs & ~uint64_t{3}) : frame.cs) & 0xffff;
    uint64_t flags = (frame.rflags & ~flag_interrupt) | (saved_mask ? 0 : flag_interrupt);
    // With the architectural_iopl assist the frame shows the virtual IOPL
    // where the processor keeps IOPL (vm_assist, VMASST_TYPE_architectural_iopl).
    if (architectural_iopl(vcpu)) flags = (flags & ~flag_io_privilege) | (uint64_t{vcpu.io_privilege} << 12);
    uint64_t words[8];
    size_t count = 0;
    words[count++] = frame.rcx;
    words[count++] = frame.r11;
    if (bounce.has_error_code) words[count++] = bounce.error_code;
    words[count++] = frame.rip;
    words[count++] = code | (uint64_t{saved_mask} << 32);
    words[count++] = flags;
    words[count++] = frame.rsp;
    words[count++] = frame.ss & 0xffff;
    const uint64_t bottom = stack - count * 8;
    if (bottom > stack || !is_canonical(bottom)) {
        crash = GuestCrash{"guest kernel stack pointer unusable for an exception frame", stack};
        return Error::invalid_argument;
    }

    GuestMemory kernel_memory(memory, policy, vcpu.kernel_page_table);
    GuestFault fault;
    if (!kernel_memory.copy_to(bottom, words, count * 8, &fault).ok()) {
        crash = GuestCrash{"guest kernel stack not writable for an exception frame", fault.address};
        return Error::invalid_argument;
    }
    enter_kernel_mode(vcpu, hooks);
    if (bounce.mask_events) set_upcall_mask(vcpu, memory, 1);

    frame.rip = bounce.handler;
    frame.cs = xen::FLAT_KERNEL_CS;
    frame.ss = xen::FLAT_KERNEL_SS;
    frame.rsp = bottom;
    // Like a hardware exception: no single-step, no nested task, no resume
    // flag into the handler (Intel SDM Vol. 3A, "Interrupt and
    // Exception Handling").
    frame.rflags &= ~(flag_trap | flag_nested_task | flag_resume | flag_virtual_8086);
    return success();
}

Status do_iret(Vcpu& vcpu, InterruptFrame& frame, PhysicalMemory& memory, const GuestFramePolicy& policy,
               ModeHooks& hooks, GuestCrash& crash) {
    xen::iret_context context{};
    GuestMemory kernel_memory(memory, policy, vcpu.kernel_page_table);
    GuestFault fault;
    if (!kernel_memory.read(frame.rsp, context, &fault).ok()) {
        crash = GuestCrash{"iret: context not readable on the guest kernel stack", fault.address};
        return Error::invalid_argument;
    }
    const bool to_user = (context.cs & 3) == 3;
    if (to_user && vcpu.user_page_table == 0) {
        crash = GuestCrash{"iret to user mode without a user page table (MMUEXT_NEW_USER_BASEPTR)", context.rip};
        return Error::invalid_argument;
    }
    if (!is_canonical(context.rip) || !is_canonical(context.rsp)) {
        crash = GuestCrash{"iret: RIP or RSP not canonical", context.rip};
        return Error::invalid_argument;
    }

    frame.rax = context.rax;
    // A SYSRET-style return (VGCF_in_syscall) leaves RCX and R11 as the
    // processor's SYSRET would find them: the return RIP and RFLAGS.
    if (context.flags & xen::VGCF_in_syscall) {
        frame.rcx = context.rip;
        frame.r11 = context.rflags;
    } else {
        frame.rcx = context.rcx;
        frame.r11 = context.r11;
    }
    // With the architectural_iopl assist, iret restores the virtual IOPL
    // from the RFLAGS image, as IRET restores IOPL at CPL 0.
    if (architectural_iopl(vcpu)) {
        vcpu.io_privilege = static_cast<uint8_t>((context.rflags & flag_io_privilege) >> 12);
        hooks.update_port_access();
    }
    frame.rip = context.rip;
    frame.cs = context.cs | 3;
    frame.rflags = context.rflags;
    frame.rsp = context.rsp;
    frame.ss = context.ss | 3;
    // The virtual interrupt flag is the upcall mask (cpu_user_regs:
    // "rflags.IF == !saved_upcall_mask").
    set_upcall_mask(vcpu, memory, (context.rflags & flag_interrupt) ? 0 : 1);
    if (to_user) leave_kernel_mode(vcpu, hooks);
    return sanitize_return_frame(frame, crash);
}

Result<bool> deliver_pending_events(Vcpu& vcpu, InterruptFrame& frame, PhysicalMemory& memory,
                                    const GuestFramePolicy& policy, ModeHooks& hooks, GuestCrash& crash) {
    if (!vcpu.event_callback.present) return false;
    if (!upcall_pending(vcpu, memory) || upcall_mask(vcpu, memory) != 0) return false;
    Bounce bounce;
    bounce.handler = vcpu.event_callback.address;
    // The event callback always runs with events masked; the guest unmasks
    // them when it has drained the pending set.
    bounce.mask_events = true;
    SLUICE_TRY(create_bounce_frame(vcpu, frame, bounce, memory, policy, hooks, crash));
    return true;
}

bool data_selector_loadable(const Vcpu& vcpu, const PhysicalMemory& memory, uint16_t selector) {
    if ((selector & ~uint16_t{3}) == 0) return true;  // a null selector: loading it never faults
    const unsigned index = selector >> 3;
    const bool local = (selector & 4) != 0;           // TI: the LDT
    if (!local && index >= xen::FIRST_RESERVED_GDT_ENTRY) return (selector | 3) == xen::FLAT_RING3_DS32;
    if (index >= (local ? vcpu.ldt_entries : vcpu.gdt_entries)) return false;
    const uint64_t frame = local ? vcpu.ldt_frames[index / 512] : vcpu.gdt_frames[index / 512];
    uint64_t descriptor = 0;
    if (frame == 0 || !memory.read_bytes(frame * page_size + (index % 512) * 8, &descriptor, sizeof descriptor).ok())
        return false;
    // Segment descriptor (Intel SDM Vol. 3A, "Segment Descriptors"): type in
    // bits 43:40 (43 = code, 41 = readable for code), S in 44, DPL in 46:45,
    // P in 47.
    const bool present = (descriptor >> 47) & 1;
    const bool code_or_data = (descriptor >> 44) & 1;
    const unsigned privilege = (descriptor >> 45) & 3;
    const bool code = (descriptor >> 43) & 1;
    const bool readable = (descriptor >> 41) & 1;
    return present && code_or_data && privilege == 3 && (!code || readable);
}

Status sanitize_return_frame(InterruptFrame& frame, GuestCrash& crash) {
    if (!is_canonical(frame.rip) || !is_canonical(frame.rsp)) {
        crash = GuestCrash{"return address or stack not canonical", frame.rip};
        return Error::invalid_argument;
    }
    // Only the flat selectors the ABI gives the guest: 64-bit or 32-bit code
    // at RPL 3, the flat data selector for SS.
    const uint64_t code = frame.cs & ~uint64_t{3};
    frame.cs = code == (xen::FLAT_RING3_CS32 & ~3) ? xen::FLAT_RING3_CS32 : xen::FLAT_RING3_CS64;
    // Returning to 32-bit code, IRETQ checks EIP against the segment limit
    // (4 GiB for the flat selector; Intel SDM Vol. 2, IRET pseudocode,
    // "RETURN-TO-OUTER-PRIVILEGE-LEVEL"): refuse what it would fault on.
    if (frame.cs == xen::FLAT_RING3_CS32 && (frame.rip > 0xffffffff || frame.rsp > 0xffffffff)) {
        crash = GuestCrash{"return to 32-bit code above 4 GiB", frame.rip};
        return Error::invalid_argument;
    }
    frame.ss = xen::FLAT_RING3_SS64;
    frame.rflags = (frame.rflags & guest_flags) | flag_reserved_one | flag_interrupt;
    return success();
}

}  // namespace sluice::x86::pv
