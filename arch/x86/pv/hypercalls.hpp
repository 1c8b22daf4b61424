// The 64-bit PV hypercall interface (Xen public ABI: the number in RAX, the
// arguments in RDI, RSI, RDX, R10, R8, R9, the result in RAX), dispatched
// from a SYSCALL the guest kernel makes through its hypercall page.
//
// Every guest pointer is reached through GuestMemory (a software walk of the
// guest's tables), so a bad pointer gives -EFAULT, never a hypervisor fault.
// Every change to page tables and IOMMU mappings one hypercall makes (a
// multicall included) goes into one paging::Batch that the caller commits
// once before returning to the guest (docs/pv.md).
//
// Core code: the machine is reached through PvServices, so the host tests
// drive the real dispatcher.
#pragma once

#include "arch/x86/interrupts.hpp"
#include "arch/x86/pv/guest_memory.hpp"
#include "arch/x86/pv/vcpu.hpp"

#include <common/hypercalls.hpp>
#include <mm/paging/batch.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice {
class Domain;
}  // namespace sluice

namespace sluice::x86::pv {

class PageTableOperations;

// What the hypercalls need from the machine and the rest of the hypervisor
// (the console through hypercall::ConsoleSink).
class PvServices : public hypercall::ConsoleSink {
public:
    // Nanoseconds of guest system time (since boot).
    [[nodiscard]] virtual uint64_t system_time() const = 0;
    // Arms (deadline != 0) or cancels the vCPU's one-shot timer.
    virtual void set_timer(uint64_t deadline) = 0;
    // The guest asked to stop (SCHEDOP_shutdown): the run loop ends the
    // domain after the hypercall returns.
    virtual void shutdown(uint16_t domain_id, unsigned reason) = 0;
    // Waits (interrupts enabled) until an event is pending for the vCPU or
    // a timer fires; returns at once when one already is.
    virtual void block() = 0;
    // The GDT area shows these frames (0 = none) as its first pages.
    virtual void load_guest_gdt(const uint64_t* frames, unsigned count) = 0;
    // The LDT area shows these frames (0 = none) and the LDT has `entries`
    // descriptors (0: the null LDT).
    virtual void load_guest_ldt(const uint64_t* frames, unsigned count, unsigned entries) = 0;
    // set_segment_base (SEGBASE_*); Error::invalid_argument for a bad one.
    [[nodiscard]] virtual Status set_segment_base(unsigned which, uint64_t value) = 0;
    // fpu_taskswitch: the processor's CR0.TS while the guest runs.
    virtual void set_task_switched(bool set) = 0;
    // The guest's direct I/O-port access changed (PHYSDEVOP_set_iopl,
    // vm_assist architectural_iopl): apply io_ports_allowed() now.
    virtual void update_port_access() = 0;
    // The host memory map (XENMEM_machine_memory_map) and dom0's
    // pseudo-physical one (XENMEM_memory_map).
    [[nodiscard]] virtual const MemoryMap& machine_memory_map() const = 0;
    [[nodiscard]] virtual const MemoryMap& guest_memory_map() const = 0;
    // Pages the domain has (current and maximum reservation) and the
    // highest machine frame in the machine (maximum_ram_page).
    [[nodiscard]] virtual uint64_t domain_pages() const = 0;
    [[nodiscard]] virtual uint64_t maximum_machine_frame() const = 0;

protected:
    ~PvServices() = default;
};

// A 2-level event channel table for one vCPU (event_channel.h): enough for
// VIRQ_TIMER, VIRQ_CONSOLE and the hypervisor's own notifications.
class EventChannels {
public:
    static constexpr unsigned port_capacity = 64;
    static constexpr unsigned virq_count = 24;

    enum class State : uint8_t { free, virq, unbound, interdomain, ipi };

    // Binds `virq` to a new port; Error::already_exists if it is bound,
    // Error::capacity when no port is left.
    [[nodiscard]] Result<unsigned> bind_virq(unsigned virq);
    [[nodiscard]] Result<unsigned> bind_ipi();
    [[nodiscard]] Result<unsigned> allocate_unbound();
    [[nodiscard]] Status close(unsigned port);
    [[nodiscard]] State state(unsigned port) const { return port < port_capacity ? ports_[port].state : State::free; }
    [[nodiscard]] int port_of_virq(unsigned virq) const { return virq < virq_count ? virq_ports_[virq] : -1; }

    // Marks the port pending in shared_info and, unless it is masked, the
    // vCPU's selector word and upcall-pending flag (event_channel.h, "2-level
    // event channel ABI").
    void raise(unsigned port, PhysicalMemory& memory, PhysicalAddress shared_info, PhysicalAddress vcpu_info) const;
    // EVTCHNOP_unmask: clears the mask bit and re-raises a pending port.
    void unmask(unsigned port, PhysicalMemory& memory, PhysicalAddress shared_info, PhysicalAddress vcpu_info) const;

private:
    struct Port {
        State state = State::free;
        uint8_t virq = 0;
    };
    [[nodiscard]] Result<unsigned> allocate(State state, uint8_t virq);

    Port ports_[port_capacity] = {};
    int virq_ports_[virq_count] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                   -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
};

// Everything one domain's hypercalls act on.
struct PvDomainContext {
    // The domain every hypercall names (common/domain.hpp); its PV state
    // is the rest of this structure.
    ::sluice::Domain* domain = nullptr;
    Vcpu* vcpu = nullptr;
    PhysicalMemory* memory = nullptr;
    const GuestFramePolicy* frames = nullptr;
    PvServices* services = nullptr;
    PageTableOperations* page_tables = nullptr;  // mmu_update and friends; nullptr: -ENOSYS
    EventChannels* events = nullptr;
    PhysicalAddress shared_info = 0;
    // The command line the hypervisor booted with (XENVER_commandline).
    StringView hypervisor_command_line;
    // Console output not yet ended by a newline.
    hypercall::GuestConsole console;
    // Hypercall numbers and sub-commands already reported as unknown.
    hypercall::UnknownReports unknown_reports;
    uint64_t hypercalls = 0;
    // A hypercall with more work than one entry may do (a long console
    // write, a large mmu_update or multicall) does a bounded part, then asks
    // to be run again with these arguments: the guest's SYSCALL is executed
    // once more (Xen's hypercall continuation), so every entry is bounded
    // and interrupts are taken in between.
    bool continuation = false;
    uint64_t continuation_arguments[6] = {};
};

// Blocks the vCPU until an event is pending (SCHEDOP_block, and HLT from
// the guest kernel): events are unmasked first (sched.h), and the runstate
// is RUNSTATE_blocked while it waits.
void block_vcpu(PvDomainContext& domain);

// Moves the vCPU to runstate `state` (RUNSTATE_*) at the current system
// time, accounting the time spent in the old one, and updates the guest's
// registered runstate area (vcpu.h).
void change_runstate(PvDomainContext& domain, int32_t state);

// Asks for the current hypercall to run again with `arguments`.
void request_continuation(PvDomainContext& domain, const uint64_t (&arguments)[6]);

// mmu_update and mmuext_op mark a continued call in the count argument, as
// Xen does (xen.h, MMU_UPDATE_PREEMPTED); *pdone then holds what was done.
inline constexpr uint64_t preempted_count_flag = uint64_t{1} << 31;

// The page-table hypercalls, implemented over the page-type engine
// (arch/x86/mm/) by arch/x86/pv/page_table_operations.*; every change goes
// into `batch`.
class PageTableOperations {
public:
    [[nodiscard]] virtual int64_t mmu_update(PvDomainContext& domain, uint64_t requests, uint64_t count,
                                             uint64_t done_pointer, uint16_t foreign_domain,
                                             paging::Batch& batch) = 0;
    [[nodiscard]] virtual int64_t mmuext_op(PvDomainContext& domain, uint64_t operations, uint64_t count,
                                            uint64_t done_pointer, uint16_t foreign_domain,
                                            paging::Batch& batch) = 0;
    [[nodiscard]] virtual int64_t update_va_mapping(PvDomainContext& domain, uint64_t address, uint64_t value,
                                                    uint64_t flags, paging::Batch& batch) = 0;
    [[nodiscard]] virtual int64_t set_gdt(PvDomainContext& domain, uint64_t frame_list, uint64_t entries,
                                          paging::Batch& batch) = 0;
    [[nodiscard]] virtual int64_t update_descriptor(PvDomainContext& domain, uint64_t machine_address,
                                                    uint64_t descriptor, paging::Batch& batch) = 0;
    // A writable type reference (and a general one) on a frame of the
    // domain's that the hypervisor itself will write (a registered
    // vcpu_info): while held, the frame can never become a page table or a
    // descriptor page. 0 or a negative Xen errno.
    [[nodiscard]] virtual int64_t hold_writable(PvDomainContext& domain, uint64_t frame, paging::Batch& batch) = 0;
    // The guest kernel stored `value` straight into the 8-byte entry at
    // machine address `entry` of one of its L1 tables (writable page
    // tables, arch/x86/pv/page_table_write.hpp): applied as the equivalent
    // mmu_update when that frame is a validated L1 of the domain. 0 or a
    // negative Xen errno (the caller then delivers the guest's page fault).
    [[nodiscard]] virtual int64_t write_l1_entry(PvDomainContext& domain, PhysicalAddress entry, uint64_t value,
                                                 paging::Batch& batch) = 0;
    // The guest wrote CR3 (mov to CR3 from its kernel): like
    // MMUEXT_NEW_BASEPTR with the frame in `value`.
    [[nodiscard]] virtual int64_t new_base_pointer(PvDomainContext& domain, uint64_t frame,
                                                   paging::Batch& batch) = 0;

protected:
    ~PageTableOperations() = default;
};

// Runs the hypercall in frame.rax with the frame's arguments and puts the
// result in frame.rax (unless the call resumed elsewhere: iret, or a
// shutdown). Changes go into `batch`; the caller commits it. Returns
// Error::invalid_argument with `crash` filled in when the guest cannot go on.
[[nodiscard]] Status dispatch_hypercall(PvDomainContext& domain, InterruptFrame& frame, ModeHooks& hooks,
                                        paging::Batch& batch, GuestCrash& crash);

using hypercall::hypercall_name;

}  // namespace sluice::x86::pv
