#include "arch/x86/pv/hypercalls.hpp"

#include <public/callback.hpp>
#include <public/errno.hpp>
#include <public/event_channel.hpp>
#include <public/features.hpp>
#include <public/memory.hpp>
#include <public/physdev.hpp>
#include <public/sched.hpp>
#include <public/vcpu.hpp>
#include <public/version.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {


using hypercall::error;

// Work one hypercall entry may do before it continues itself.
constexpr uint64_t multicall_slice = 64;

// Arguments of a hypercall (x86-64: RDI, RSI, RDX, R10, R8, R9).
using hypercall::Arguments;

Arguments arguments_of(const InterruptFrame& frame) {
    return Arguments{{frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9}};
}

GuestMemory kernel_memory(const PvDomainContext& domain) {
    return GuestMemory(*domain.memory, *domain.frames, domain.vcpu->kernel_page_table);
}

// Guest memory as the shared hypercalls reach it: the kernel's tables.
class KernelBuffers final : public hypercall::GuestBuffers {
public:
    explicit KernelBuffers(const PvDomainContext& domain) : memory_(kernel_memory(domain)) {}
    [[nodiscard]] Status copy_from(void* destination, uint64_t address, size_t length) const override {
        return memory_.copy_from(destination, address, length);
    }
    [[nodiscard]] Status copy_to(uint64_t address, const void* source, size_t length) const override {
        return memory_.copy_to(address, source, length);
    }

private:
    GuestMemory memory_;
};

int64_t console_io(PvDomainContext& domain, const Arguments& arguments) {
    hypercall::Continuation continuation;
    const int64_t result = hypercall::console_io(domain.console, *domain.services, domain.vcpu->domain_id,
                                                 KernelBuffers(domain), arguments, continuation);
    if (continuation.requested) request_continuation(domain, continuation.arguments.values);
    return result;
}

// XENFEAT_* bits of submap 0 this hypervisor honours for a PV dom0
// (features.h): highmem_assist because mmuext_op implements MMUEXT_CLEAR_PAGE
// and MMUEXT_COPY_PAGE; gnttab_map_avail_bits because the ABI defines it for
// every 64-bit PV guest and no grant mapping here ever drops the guest's
// available PTE bits (grant mapping itself is not implemented: -ENOSYS).
uint32_t pv_features() {
    return (1u << xen::XENFEAT_pae_pgdir_above_4gb) | (1u << xen::XENFEAT_mmu_pt_update_preserve_ad) |
           (1u << xen::XENFEAT_highmem_assist) | (1u << xen::XENFEAT_gnttab_map_avail_bits) |
           (1u << xen::XENFEAT_dom0);
}

int64_t xen_version(PvDomainContext& domain, const Arguments& arguments) {
    hypercall::VersionPolicy policy;
    policy.features = pv_features();
    policy.capabilities = "xen-3.0-x86_64 ";
    policy.virt_start = xen::HYPERVISOR_VIRT_START;
    policy.command_line = domain.hypervisor_command_line;
    return hypercall::xen_version(KernelBuffers(domain), policy, arguments.values[0], arguments.values[1]);
}

// --- Callbacks and traps ---------------------------------------------------------

bool guest_address(uint64_t address) {
    return is_canonical(address) && (address < xen::HYPERVISOR_VIRT_START || address >= xen::HYPERVISOR_VIRT_END);
}

int64_t set_trap_table(PvDomainContext& domain, const Arguments& arguments) {
    uint64_t address = arguments.values[0];
    if (address == 0) {
        for (TrapHandler& trap : domain.vcpu->traps) trap = TrapHandler{};
        return 0;
    }
    const GuestMemory memory = kernel_memory(domain);
    // The table ends at an entry with address 0 (xen.h, set_trap_table);
    // at most one entry per vector can matter, so a longer table is bad.
    for (unsigned count = 0; count <= Vcpu::trap_count; ++count, address += sizeof(xen::trap_info)) {
        xen::trap_info entry{};
        if (!memory.read(address, entry).ok()) return error(xen::XEN_EFAULT);
        if (entry.address == 0) return 0;
        if (!guest_address(entry.address)) return error(xen::XEN_EINVAL);
        domain.vcpu->traps[entry.vector] = TrapHandler{entry.address, entry.cs, entry.flags, true};
    }
    return error(xen::XEN_EINVAL);
}

GuestCallback* callback_slot(Vcpu& vcpu, uint16_t type) {
    switch (type) {
    case xen::CALLBACKTYPE_event: return &vcpu.event_callback;
    case xen::CALLBACKTYPE_failsafe: return &vcpu.failsafe_callback;
    case xen::CALLBACKTYPE_syscall: return &vcpu.syscall_callback;
    case xen::CALLBACKTYPE_syscall32: return &vcpu.syscall32_callback;
    case xen::CALLBACKTYPE_sysenter: return &vcpu.sysenter_callback;
    case xen::CALLBACKTYPE_nmi: return &vcpu.nmi_callback;
    default: return nullptr;
    }
}

int64_t callback_op(PvDomainContext& domain, const Arguments& arguments) {
    const GuestMemory memory = kernel_memory(domain);
    if (arguments.values[0] == xen::CALLBACKOP_register) {
        xen::callback_register request{};
        if (!memory.read(arguments.values[1], request).ok()) return error(xen::XEN_EFAULT);
        GuestCallback* slot = callback_slot(*domain.vcpu, request.type);
        if (slot == nullptr) return error(xen::XEN_EINVAL);
        if (!guest_address(request.address)) return error(xen::XEN_EINVAL);
        *slot = GuestCallback{request.address, (request.flags & xen::CALLBACKF_mask_events) != 0, true};
        return 0;
    }
    if (arguments.values[0] == xen::CALLBACKOP_unregister) {
        xen::callback_unregister request{};
        if (!memory.read(arguments.values[1], request).ok()) return error(xen::XEN_EFAULT);
        GuestCallback* slot = callback_slot(*domain.vcpu, request.type);
        if (slot == nullptr) return error(xen::XEN_EINVAL);
        // Xen refuses to unregister the NMI callback's absence... keep it
        // simple: any registered callback may go.
        *slot = GuestCallback{};
        return 0;
    }
    return error(xen::XEN_ENOSYS);
}

int64_t set_callbacks(PvDomainContext& domain, const Arguments& arguments) {
    // x86-64: event address, failsafe address, syscall address.
    for (unsigned index = 0; index < 3; ++index)
        if (!guest_address(arguments.values[index])) return error(xen::XEN_EINVAL);
    Vcpu& vcpu = *domain.vcpu;
    vcpu.event_callback = GuestCallback{arguments.values[0], true, true};
    vcpu.failsafe_callback = GuestCallback{arguments.values[1], false, true};
    vcpu.syscall_callback = GuestCallback{arguments.values[2], false, true};
    return 0;
}

int64_t stack_switch(PvDomainContext& domain, const Arguments& arguments) {
    if (!guest_address(arguments.values[1])) return error(xen::XEN_EINVAL);
    domain.vcpu->kernel_stack_segment = static_cast<uint16_t>(arguments.values[0]);
    domain.vcpu->kernel_stack_pointer = arguments.values[1];
    return 0;
}

int64_t fpu_taskswitch(PvDomainContext& domain, const Arguments& arguments) {
    domain.vcpu->task_switched = arguments.values[0] != 0;
    domain.services->set_task_switched(domain.vcpu->task_switched);
    return 0;
}

int64_t vm_assist(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t command = arguments.values[0];
    const uint64_t type = arguments.values[1];
    // The assists of 64-bit PV. Writable page tables are always on (stores
    // to L1 tables are emulated whatever the guest asked); the others are
    // recorded, and architectural_iopl changes the I/O-port rule.
    const bool supported = type == xen::VMASST_TYPE_pae_extended_cr3 || type == xen::VMASST_TYPE_runstate_update_flag ||
                           type == xen::VMASST_TYPE_m2p_strict || type == xen::VMASST_TYPE_architectural_iopl ||
                           type == xen::VMASST_TYPE_writable_pagetables;
    if (!supported || type >= 64) return error(xen::XEN_EINVAL);
    if (command == xen::VMASST_CMD_enable) domain.vcpu->vm_assists |= uint64_t{1} << type;
    else if (command == xen::VMASST_CMD_disable) domain.vcpu->vm_assists &= ~(uint64_t{1} << type);
    else return error(xen::XEN_EINVAL);
    if (type == xen::VMASST_TYPE_architectural_iopl) domain.services->update_port_access();
    return 0;
}

int64_t set_segment_base(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t which = arguments.values[0];
    const uint64_t value = arguments.values[1];
    if (which != xen::SEGBASE_GS_USER_SEL && !is_canonical(value)) return error(xen::XEN_EINVAL);
    return domain.services->set_segment_base(static_cast<unsigned>(which), value).ok() ? 0 : error(xen::XEN_EINVAL);
}

// --- Debug registers (xen.h set_debugreg / get_debugreg) ---------------------------

// Intel SDM Vol. 3B, "Debug Registers": the DR6 bits that read as 1 and as
// 0 whatever is written, the DR7 bit that reads as 1, and the DR7 bits a
// write must leave clear (10 is fixed to 1; 11, 12, 14 and 15 to 0;
// 32-63 are reserved). GD (13) would make every debug register access
// fault into the hypervisor and is refused, as Xen refuses it.
constexpr uint64_t dr6_reserved_one = 0xffff0ff0;
constexpr uint64_t dr6_reserved_zero = uint64_t{1} << 12 | ~uint64_t{0xffffffff};
constexpr uint64_t dr7_reserved_one = uint64_t{1} << 10;
constexpr uint64_t dr7_reserved_zero = uint64_t{0x3} << 11 | uint64_t{0x3} << 14 | ~uint64_t{0xffffffff};
constexpr uint64_t dr7_general_detect = uint64_t{1} << 13;
// L0-L3 and G0-G3: any of them arms a breakpoint.
constexpr uint64_t dr7_enables = 0xff;

// DR4 and DR5 are DR6 and DR7 while CR4.DE is clear (Intel SDM Vol. 3B,
// "Debug Registers"), which it always is for this guest.
uint64_t debug_register_index(uint64_t which) { return which == 4 || which == 5 ? which + 2 : which; }

int64_t set_debugreg(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t which = debug_register_index(arguments.values[0]);
    uint64_t value = arguments.values[1];
    switch (which) {
    case 0:
    case 1:
    case 2:
    case 3:
        // A breakpoint address must be one the guest may use, all eight
        // bytes of the widest watched access included.
        if (!guest_address(value) || !guest_address(value + 7)) return error(xen::XEN_EPERM);
        break;
    case 6: value = (value | dr6_reserved_one) & ~dr6_reserved_zero; break;
    case 7:
        if ((value & dr7_reserved_zero) != 0 || (value & dr7_general_detect) != 0) return error(xen::XEN_EPERM);
        // The hypervisor does not load guest breakpoints into the processor
        // (its own code would trip over them between entries): arming one
        // is refused rather than silently ignored.
        if ((value & dr7_enables) != 0) return error(xen::XEN_EOPNOTSUPP);
        value |= dr7_reserved_one;
        break;
    default: return error(xen::XEN_EINVAL);
    }
    domain.vcpu->debug_registers[which] = value;
    return 0;
}

int64_t get_debugreg(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t which = debug_register_index(arguments.values[0]);
    if (which > 7) return error(xen::XEN_EINVAL);
    return static_cast<int64_t>(domain.vcpu->debug_registers[which]);
}

// --- Scheduling and time ------------------------------------------------------------

int64_t shutdown(PvDomainContext& domain, uint64_t reason) {
    if (reason > xen::SHUTDOWN_MAX) return error(xen::XEN_EINVAL);
    // Whatever the guest printed without a final newline still shows.
    hypercall::console_flush(domain.console, *domain.services, domain.vcpu->domain_id);
    domain.services->shutdown(domain.vcpu->domain_id, static_cast<unsigned>(reason));
    return 0;
}

int64_t block(PvDomainContext& domain) {
    block_vcpu(domain);
    return 0;
}

// --- Runstate (vcpu.h, vcpu_runstate_info) ------------------------------------------

xen::vcpu_runstate_info runstate_of(const Vcpu& vcpu) {
    xen::vcpu_runstate_info information{};
    information.state = vcpu.runstate;
    information.state_entry_time = vcpu.runstate_entry_time;
    for (unsigned index = 0; index < 4; ++index) information.time[index] = vcpu.runstate_time[index];
    return information;
}

// Writes the runstate to the registered area through the guest kernel's
// tables. With VMASST_TYPE_runstate_update_flag the guest sees
// XEN_RUNSTATE_UPDATE in state_entry_time for as long as the copy is
// incomplete (vcpu.h). An area that no longer translates is skipped, as the
// ABI gives the hypervisor no way to report it.
void update_runstate_area(PvDomainContext& domain) {
    const Vcpu& vcpu = *domain.vcpu;
    if (vcpu.runstate_area == 0) return;
    const GuestMemory memory = kernel_memory(domain);
    xen::vcpu_runstate_info information = runstate_of(vcpu);
    const bool update_flag = (vcpu.vm_assists >> xen::VMASST_TYPE_runstate_update_flag) & 1;
    constexpr uint64_t entry_time_offset = __builtin_offsetof(xen::vcpu_runstate_info, state_entry_time);
    if (update_flag) {
        const uint64_t marked = information.state_entry_time | xen::XEN_RUNSTATE_UPDATE;
        if (!memory.write(vcpu.runstate_area + entry_time_offset, marked).ok()) return;
        information.state_entry_time = marked;
    }
    if (!memory.write(vcpu.runstate_area, information).ok()) return;
    if (update_flag)
        (void)memory.write(vcpu.runstate_area + entry_time_offset, vcpu.runstate_entry_time);
}

int64_t sched_op(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t command = arguments.values[0];
    switch (command) {
    case xen::SCHEDOP_yield: return 0;
    case xen::SCHEDOP_block: return block(domain);
    case xen::SCHEDOP_shutdown:
    case xen::SCHEDOP_shutdown_code: {
        unsigned reason = 0;
        const int64_t read = hypercall::read_shutdown_reason(KernelBuffers(domain), arguments.values[1], &reason);
        if (read != 0 || command == xen::SCHEDOP_shutdown_code) return read;
        return shutdown(domain, reason);
    }
    default: return error(xen::XEN_ENOSYS);
    }
}

int64_t sched_op_compat(PvDomainContext& domain, const Arguments& arguments) {
    // The pre-3.0.2 form passes the shutdown reason itself.
    if (arguments.values[0] == xen::SCHEDOP_shutdown) return shutdown(domain, arguments.values[1]);
    if (arguments.values[0] == xen::SCHEDOP_yield) return 0;
    if (arguments.values[0] == xen::SCHEDOP_block) return block(domain);
    return error(xen::XEN_ENOSYS);
}

int64_t set_timer_op(PvDomainContext& domain, const Arguments& arguments) {
    domain.vcpu->timer_deadline = arguments.values[0];
    domain.services->set_timer(arguments.values[0]);
    return 0;
}

int64_t vcpu_op(PvDomainContext& domain, const Arguments& arguments, paging::Batch& batch, GuestCrash& crash) {
    const uint64_t command = arguments.values[0];
    const uint64_t vcpu_id = arguments.values[1];
    const uint64_t address = arguments.values[2];
    if (vcpu_id != 0) return error(xen::XEN_ENOENT);
    const GuestMemory memory = kernel_memory(domain);
    switch (command) {
    case xen::VCPUOP_is_up: return 1;
    case xen::VCPUOP_up: return 0;
    case xen::VCPUOP_down:
        // The vCPU stops until another one brings it up (vcpu.h). This
        // domain has no other: it can never run again, which is what a
        // crash report says (Xen leaves such a domain descheduled for good).
        crash.reason = "its only vCPU went down (VCPUOP_down)";
        crash.address = 0;
        return 0;
    case xen::VCPUOP_set_singleshot_timer: {
        xen::vcpu_set_singleshot_timer request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if ((request.flags & xen::VCPU_SSHOTTMR_future) && request.timeout_abs_ns < domain.services->system_time())
            return error(xen::XEN_ETIME);
        domain.vcpu->timer_deadline = request.timeout_abs_ns;
        domain.services->set_timer(request.timeout_abs_ns);
        return 0;
    }
    case xen::VCPUOP_stop_singleshot_timer:
        domain.vcpu->timer_deadline = 0;
        domain.services->set_timer(0);
        return 0;
    case xen::VCPUOP_stop_periodic_timer: return 0;
    case xen::VCPUOP_get_runstate_info: {
        // The times up to now: the current state's share is accounted first.
        change_runstate(domain, domain.vcpu->runstate);
        return memory.write(address, runstate_of(*domain.vcpu)).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::VCPUOP_register_runstate_memory_area: {
        // A guest virtual address, used through the guest kernel's tables
        // at every update; 0 unregisters. The current runstate is written at
        // once (vcpu.h). An address the guest cannot map now is accepted and
        // skipped until it can, as Xen does.
        xen::vcpu_register_runstate_memory_area request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.addr.v != 0 && !guest_address(request.addr.v)) return error(xen::XEN_EINVAL);
        domain.vcpu->runstate_area = request.addr.v;
        change_runstate(domain, domain.vcpu->runstate);
        return 0;
    }
    case xen::VCPUOP_register_vcpu_info: {
        xen::vcpu_register_vcpu_info request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (domain.vcpu->vcpu_info_registered) return error(xen::XEN_EINVAL);
        if (request.offset > page_size - sizeof(xen::vcpu_info)) return error(xen::XEN_EINVAL);
        if (!domain.frames->is_guest_ram(request.mfn)) return error(xen::XEN_EINVAL);
        // The hypervisor writes vcpu_info behind the guest's back (the
        // upcall flags, CR2, time): the frame must stay an ordinary writable
        // page for as long as it holds it, never a page table.
        if (domain.page_tables == nullptr) return error(xen::XEN_ENOSYS);
        const int64_t held = domain.page_tables->hold_writable(domain, request.mfn, batch);
        if (held != 0) return held;
        // The current contents move along, so pending state and the mask
        // survive the move.
        const PhysicalAddress target = request.mfn * page_size + request.offset;
        uint8_t contents[sizeof(xen::vcpu_info)];
        if (!domain.memory->read_bytes(domain.vcpu->vcpu_info, contents, sizeof contents).ok() ||
            !domain.memory->write_bytes(target, contents, sizeof contents).ok())
            return error(xen::XEN_EFAULT);
        domain.vcpu->vcpu_info = target;
        domain.vcpu->vcpu_info_registered = true;
        return 0;
    }
    default: return error(xen::XEN_ENOSYS);
    }
}

// --- Event channels ------------------------------------------------------------------

int64_t event_channel_op(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t command = arguments.values[0];
    const uint64_t address = arguments.values[1];
    const GuestMemory memory = kernel_memory(domain);
    EventChannels& events = *domain.events;
    switch (command) {
    case xen::EVTCHNOP_bind_virq: {
        xen::evtchn_bind_virq request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.vcpu != 0) return error(xen::XEN_ENOENT);
        if (request.virq >= EventChannels::virq_count) return error(xen::XEN_EINVAL);
        const Result<unsigned> port = events.bind_virq(request.virq);
        if (!port.ok()) return error(port.error() == Error::already_exists ? xen::XEN_EEXIST : xen::XEN_ENOSPC);
        request.port = port.value();
        return memory.write(address, request).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::EVTCHNOP_bind_ipi: {
        xen::evtchn_bind_ipi request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.vcpu != 0) return error(xen::XEN_ENOENT);
        const Result<unsigned> port = events.bind_ipi();
        if (!port.ok()) return error(xen::XEN_ENOSPC);
        request.port = port.value();
        return memory.write(address, request).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::EVTCHNOP_alloc_unbound: {
        xen::evtchn_alloc_unbound request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.dom != xen::DOMID_SELF && request.dom != domain.vcpu->domain_id) return error(xen::XEN_EPERM);
        // Only one domain exists: the remote end can only be dom0 itself.
        if (request.remote_dom != xen::DOMID_SELF && request.remote_dom != domain.vcpu->domain_id)
            return error(xen::XEN_ESRCH);
        const Result<unsigned> port = events.allocate_unbound();
        if (!port.ok()) return error(xen::XEN_ENOSPC);
        request.port = port.value();
        return memory.write(address, request).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::EVTCHNOP_close: {
        xen::evtchn_close request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        return events.close(request.port).ok() ? 0 : error(xen::XEN_EINVAL);
    }
    case xen::EVTCHNOP_send: {
        xen::evtchn_send request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        // As Xen: a notification on an unbound port is dropped silently;
        // only IPI ports (and, with other domains, interdomain ones) send.
        const EventChannels::State state = events.state(request.port);
        if (state == EventChannels::State::unbound) return 0;
        if (state != EventChannels::State::ipi) return error(xen::XEN_EINVAL);
        events.raise(request.port, *domain.memory, domain.shared_info, domain.vcpu->vcpu_info);
        return 0;
    }
    case xen::EVTCHNOP_unmask: {
        xen::evtchn_unmask request{};
        if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.port >= EventChannels::port_capacity) return error(xen::XEN_EINVAL);
        events.unmask(request.port, *domain.memory, domain.shared_info, domain.vcpu->vcpu_info);
        return 0;
    }
    default: return error(xen::XEN_ENOSYS);
    }
}

// --- physdev_op ------------------------------------------------------------------------

int64_t physdev_op(PvDomainContext& domain, uint64_t command, uint64_t address) {
    if (command == xen::PHYSDEVOP_set_iopl) {
        xen::physdev_set_iopl request{};
        if (!kernel_memory(domain).read(address, request).ok()) return error(xen::XEN_EFAULT);
        if (request.iopl > 3) return error(xen::XEN_EINVAL);
        domain.vcpu->io_privilege = static_cast<uint8_t>(request.iopl);
        domain.services->update_port_access();
        return 0;
    }
    return error(xen::XEN_ENOSYS);
}

// --- memory_op -------------------------------------------------------------------------

int64_t copy_memory_map(PvDomainContext& domain, uint64_t address, const MemoryMap& map) {
    const GuestMemory memory = kernel_memory(domain);
    xen::xen_memory_map request{};
    if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
    uint32_t written = 0;
    for (const MemoryRegion& region : map.regions()) {
        if (written == request.nr_entries) break;
        const xen::e820entry entry{region.base, region.length, static_cast<uint32_t>(region.type)};
        if (!memory.write(request.buffer + written * sizeof entry, entry).ok()) return error(xen::XEN_EFAULT);
        ++written;
    }
    request.nr_entries = written;
    return memory.write(address, request).ok() ? 0 : error(xen::XEN_EFAULT);
}

int64_t memory_op(PvDomainContext& domain, const Arguments& arguments) {
    const uint64_t command = arguments.values[0] & xen::MEMOP_CMD_MASK;
    const uint64_t address = arguments.values[1];
    switch (command) {
    case xen::XENMEM_maximum_ram_page: return static_cast<int64_t>(domain.services->maximum_machine_frame());
    case xen::XENMEM_current_reservation:
    case xen::XENMEM_maximum_reservation: {
        xen::domid_t domain_id = 0;
        if (!kernel_memory(domain).read(address, domain_id).ok()) return error(xen::XEN_EFAULT);
        if (domain_id != xen::DOMID_SELF && domain_id != domain.vcpu->domain_id) return error(xen::XEN_ESRCH);
        return static_cast<int64_t>(domain.services->domain_pages());
    }
    case xen::XENMEM_maximum_gpfn: {
        xen::domid_t domain_id = 0;
        if (!kernel_memory(domain).read(address, domain_id).ok()) return error(xen::XEN_EFAULT);
        if (domain_id != xen::DOMID_SELF && domain_id != domain.vcpu->domain_id) return error(xen::XEN_ESRCH);
        return static_cast<int64_t>(domain.services->domain_pages()) - 1;
    }
    case xen::XENMEM_memory_map: return copy_memory_map(domain, address, domain.services->guest_memory_map());
    case xen::XENMEM_machine_memory_map: return copy_memory_map(domain, address, domain.services->machine_memory_map());
    default: return error(xen::XEN_ENOSYS);
    }
}

// --- multicall -------------------------------------------------------------------------

int64_t run_one(PvDomainContext& domain, uint64_t number, const Arguments& arguments, InterruptFrame& frame,
                ModeHooks& hooks, paging::Batch& batch, GuestCrash& crash, bool* resumed);

int64_t multicall(PvDomainContext& domain, const Arguments& arguments, InterruptFrame& frame, ModeHooks& hooks,
                  paging::Batch& batch, GuestCrash& crash) {
    const uint64_t list = arguments.values[0];
    const uint64_t count = arguments.values[1] & 0xffffffff;  // unsigned int in the ABI
    const GuestMemory memory = kernel_memory(domain);
    for (uint64_t index = 0; index < count; ++index) {
        // Bounded work per entry: the rest of the list through a
        // continuation.
        if (index == multicall_slice) {
            request_continuation(domain, {list + index * sizeof(xen::multicall_entry), count - index, 0, 0, 0, 0});
            return 0;
        }
        const uint64_t address = list + index * sizeof(xen::multicall_entry);
        xen::multicall_entry entry{};
        if (!memory.read(address, entry).ok()) return error(xen::XEN_EFAULT);
        int64_t result;
        // Neither a nested multicall nor a call that does not return to its
        // caller (iret) can run inside one (xen.h, multicall).
        if (entry.op == xen::HYPERVISOR_multicall || entry.op == xen::HYPERVISOR_iret) {
            result = error(xen::XEN_EINVAL);
        } else {
            Arguments inner{};
            for (unsigned argument = 0; argument < 6; ++argument) inner.values[argument] = entry.args[argument];
            bool resumed = false;
            result = run_one(domain, entry.op, inner, frame, hooks, batch, crash, &resumed);
            if (*crash.reason != '\0') return result;
            if (domain.continuation) {
                // The entry did part of its work: it keeps its place with the
                // arguments it continues with, and the multicall continues
                // from it (as Xen does).
                for (unsigned argument = 0; argument < 6; ++argument)
                    entry.args[argument] = domain.continuation_arguments[argument];
                if (!memory.write(address + __builtin_offsetof(xen::multicall_entry, args), entry.args).ok())
                    return error(xen::XEN_EFAULT);
                domain.continuation = false;
                request_continuation(domain, {address, count - index, 0, 0, 0, 0});
                return 0;
            }
        }
        entry.result = static_cast<uint64_t>(result);
        if (!memory.write(address + __builtin_offsetof(xen::multicall_entry, result), entry.result).ok())
            return error(xen::XEN_EFAULT);
    }
    return 0;
}

int64_t unknown(PvDomainContext& domain, uint64_t number, const Arguments& arguments) {
    return hypercall::unknown_hypercall(domain.unknown_reports, "pv", domain.vcpu->domain_id, number, arguments);
}

int64_t unknown_subcommand(PvDomainContext& domain, uint64_t number, uint64_t command) {
    return hypercall::unknown_subcommand(domain.unknown_reports, "pv", domain.vcpu->domain_id, number, command);
}

int64_t run_one(PvDomainContext& domain, uint64_t number, const Arguments& arguments, InterruptFrame& frame,
                ModeHooks& hooks, paging::Batch& batch, GuestCrash& crash, bool* resumed) {
    PageTableOperations* tables = domain.page_tables;
    const uint64_t* value = arguments.values;
    switch (number) {
    case xen::HYPERVISOR_set_trap_table: return set_trap_table(domain, arguments);
    case xen::HYPERVISOR_mmu_update:
        return tables ? tables->mmu_update(domain, value[0], value[1], value[2], static_cast<uint16_t>(value[3]), batch)
                      : unknown(domain, number, arguments);
    case xen::HYPERVISOR_set_gdt:
        return tables ? tables->set_gdt(domain, value[0], value[1], batch) : unknown(domain, number, arguments);
    case xen::HYPERVISOR_stack_switch: return stack_switch(domain, arguments);
    case xen::HYPERVISOR_set_callbacks: return set_callbacks(domain, arguments);
    case xen::HYPERVISOR_fpu_taskswitch: return fpu_taskswitch(domain, arguments);
    case xen::HYPERVISOR_sched_op_compat: return sched_op_compat(domain, arguments);
    case xen::HYPERVISOR_set_debugreg: return set_debugreg(domain, arguments);
    case xen::HYPERVISOR_get_debugreg: return get_debugreg(domain, arguments);
    case xen::HYPERVISOR_update_descriptor:
        return tables ? tables->update_descriptor(domain, value[0], value[1], batch) : unknown(domain, number, arguments);
    case xen::HYPERVISOR_memory_op: return memory_op(domain, arguments);
    case xen::HYPERVISOR_multicall: return multicall(domain, arguments, frame, hooks, batch, crash);
    case xen::HYPERVISOR_update_va_mapping:
        return tables ? tables->update_va_mapping(domain, value[0], value[1], value[2], batch)
                      : unknown(domain, number, arguments);
    case xen::HYPERVISOR_set_timer_op: return set_timer_op(domain, arguments);
    case xen::HYPERVISOR_xen_version: return xen_version(domain, arguments);
    case xen::HYPERVISOR_console_io: return console_io(domain, arguments);
    case xen::HYPERVISOR_vm_assist: return vm_assist(domain, arguments);
    case xen::HYPERVISOR_iret: {
        if (!do_iret(*domain.vcpu, frame, *domain.memory, *domain.frames, hooks, crash).ok()) return 0;
        *resumed = true;
        return static_cast<int64_t>(frame.rax);
    }
    case xen::HYPERVISOR_vcpu_op: return vcpu_op(domain, arguments, batch, crash);
    case xen::HYPERVISOR_set_segment_base: return set_segment_base(domain, arguments);
    case xen::HYPERVISOR_mmuext_op:
        return tables ? tables->mmuext_op(domain, value[0], value[1], value[2], static_cast<uint16_t>(value[3]), batch)
                      : unknown(domain, number, arguments);
    case xen::HYPERVISOR_sched_op: return sched_op(domain, arguments);
    case xen::HYPERVISOR_callback_op: return callback_op(domain, arguments);
    case xen::HYPERVISOR_event_channel_op: return event_channel_op(domain, arguments);
    case xen::HYPERVISOR_physdev_op: {
        const int64_t result = physdev_op(domain, value[0], value[1]);
        return result == error(xen::XEN_ENOSYS) ? unknown_subcommand(domain, number, value[0]) : result;
    }
    case xen::HYPERVISOR_physdev_op_compat: {
        // The pre-3.0.2 form: one structure whose first word is the command.
        uint32_t command = 0;
        if (!kernel_memory(domain).read(value[0], command).ok()) return error(xen::XEN_EFAULT);
        const int64_t result = physdev_op(domain, command, value[0] + 8);
        return result == error(xen::XEN_ENOSYS) ? unknown_subcommand(domain, number, command) : result;
    }
    default: return unknown(domain, number, arguments);
    }
}

}  // namespace

// Blocking unmasks events (sched.h: "the vCPU's event-delivery mask is
// cleared"), then waits for one.
void block_vcpu(PvDomainContext& domain) {
    set_upcall_mask(*domain.vcpu, *domain.memory, 0);
    change_runstate(domain, xen::RUNSTATE_blocked);
    domain.services->block();
    change_runstate(domain, xen::RUNSTATE_running);
}

void change_runstate(PvDomainContext& domain, int32_t state) {
    Vcpu& vcpu = *domain.vcpu;
    const uint64_t now = domain.services->system_time();
    if (vcpu.runstate >= 0 && vcpu.runstate < 4 && now > vcpu.runstate_entry_time)
        vcpu.runstate_time[vcpu.runstate] += now - vcpu.runstate_entry_time;
    vcpu.runstate = state;
    vcpu.runstate_entry_time = now;
    update_runstate_area(domain);
}

void request_continuation(PvDomainContext& domain, const uint64_t (&arguments)[6]) {
    domain.continuation = true;
    for (unsigned index = 0; index < 6; ++index) domain.continuation_arguments[index] = arguments[index];
}

Status dispatch_hypercall(PvDomainContext& domain, InterruptFrame& frame, ModeHooks& hooks, paging::Batch& batch,
                          GuestCrash& crash) {
    ++domain.hypercalls;
    const uint64_t number = frame.rax;
    bool resumed = false;
    crash = GuestCrash{};
    domain.continuation = false;
    const int64_t result = run_one(domain, number, arguments_of(frame), frame, hooks, batch, crash, &resumed);
    if (*crash.reason != '\0') return Error::invalid_argument;
    if (domain.continuation && !resumed) {
        // Back to the SYSCALL (two bytes, 0f 05) with the number and the
        // arguments to go on with.
        domain.continuation = false;
        frame.rip -= 2;
        frame.rax = number;
        const uint64_t* next = domain.continuation_arguments;
        frame.rdi = next[0];
        frame.rsi = next[1];
        frame.rdx = next[2];
        frame.r10 = next[3];
        frame.r8 = next[4];
        frame.r9 = next[5];
        return success();
    }
    if (!resumed) frame.rax = static_cast<uint64_t>(result);
    return success();
}

// --- EventChannels ------------------------------------------------------------------------

Result<unsigned> EventChannels::allocate(State state, uint8_t virq) {
    // Port 0 is never used (event_channel.h: port 0 is reserved).
    for (unsigned port = 1; port < port_capacity; ++port) {
        if (ports_[port].state != State::free) continue;
        ports_[port] = Port{state, virq};
        return port;
    }
    return Error::capacity;
}

Result<unsigned> EventChannels::bind_virq(unsigned virq) {
    if (virq >= virq_count) return Error::invalid_argument;
    if (virq_ports_[virq] >= 0) return Error::already_exists;
    const unsigned port = SLUICE_TRY(allocate(State::virq, static_cast<uint8_t>(virq)));
    virq_ports_[virq] = static_cast<int>(port);
    return port;
}

Result<unsigned> EventChannels::bind_ipi() { return allocate(State::ipi, 0); }

Result<unsigned> EventChannels::allocate_unbound() { return allocate(State::unbound, 0); }

Status EventChannels::close(unsigned port) {
    if (port == 0 || port >= port_capacity || ports_[port].state == State::free) return Error::not_found;
    if (ports_[port].state == State::virq) virq_ports_[ports_[port].virq] = -1;
    ports_[port] = Port{};
    return success();
}

namespace {

constexpr uint64_t pending_offset = __builtin_offsetof(xen::shared_info, evtchn_pending);
constexpr uint64_t mask_offset = __builtin_offsetof(xen::shared_info, evtchn_mask);
constexpr uint64_t selector_offset = __builtin_offsetof(xen::vcpu_info, evtchn_pending_sel);

// Bit operations on the shared pages. A plain read-modify-write is enough:
// dom0 has one vCPU, and it does not run while the hypervisor does.
bool test_and_set_bit(PhysicalMemory& memory, PhysicalAddress word, unsigned bit) {
    const uint64_t value = memory.read64(word);
    memory.write64(word, value | (uint64_t{1} << bit));
    return (value >> bit) & 1;
}

bool test_bit(const PhysicalMemory& memory, PhysicalAddress word, unsigned bit) {
    return (memory.read64(word) >> bit) & 1;
}

void clear_bit(PhysicalMemory& memory, PhysicalAddress word, unsigned bit) {
    memory.write64(word, memory.read64(word) & ~(uint64_t{1} << bit));
}

void set_upcall_pending(PhysicalMemory& memory, PhysicalAddress vcpu_info) {
    const uint8_t pending = 1;
    (void)memory.write_bytes(vcpu_info + __builtin_offsetof(xen::vcpu_info, evtchn_upcall_pending), &pending, 1);
}

}  // namespace

void EventChannels::raise(unsigned port, PhysicalMemory& memory, PhysicalAddress shared_info,
                          PhysicalAddress vcpu_info) const {
    const unsigned word = port / 64;
    const unsigned bit = port % 64;
    if (test_and_set_bit(memory, shared_info + pending_offset + word * 8, bit)) return;
    if (test_bit(memory, shared_info + mask_offset + word * 8, bit)) return;
    if (test_and_set_bit(memory, vcpu_info + selector_offset, word)) return;
    set_upcall_pending(memory, vcpu_info);
}

void EventChannels::unmask(unsigned port, PhysicalMemory& memory, PhysicalAddress shared_info,
                           PhysicalAddress vcpu_info) const {
    const unsigned word = port / 64;
    const unsigned bit = port % 64;
    clear_bit(memory, shared_info + mask_offset + word * 8, bit);
    if (!test_bit(memory, shared_info + pending_offset + word * 8, bit)) return;
    if (test_and_set_bit(memory, vcpu_info + selector_offset, word)) return;
    set_upcall_pending(memory, vcpu_info);
}

}  // namespace sluice::x86::pv
