// Image only: running a 64-bit PV dom0 on the boot processor.
//
// run_pv_dom0() enters the guest at its start-of-day state and never
// returns. From then on the hypervisor runs only when the guest enters it:
// a SYSCALL (a hypercall from guest kernel mode, the guest's own system call
// from user mode), an exception the guest caused, or an interrupt. Each entry
// starts afresh on the guest entry stack, handles what happened, commits the
// one Batch the hypercall used, and returns to the guest (docs/pv.md).
#pragma once

#include "arch/x86/pv/hypercalls.hpp"
#include "arch/x86/reserved_ports.hpp"

#include <common/domain.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <mm/paging/batch.hpp>
#include <mm/range_set.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::pv {

struct PvDom0Start {
    uint16_t domain_id = 0;
    // The domain object; run_pv_dom0 binds its vCPU to it.
    Domain* domain = nullptr;
    // Start-of-day registers (Xen public ABI, xen.h "Start-of-day").
    uint64_t rip = 0;
    uint64_t rsp = 0;
    uint64_t rsi = 0;
    PhysicalAddress l4 = 0;           // machine address of the bootstrap L4
    PhysicalAddress shared_info = 0;  // machine address
    const passthrough::RangeSet* memory = nullptr;  // dom0's RAM (machine ranges)
    uint64_t pages = 0;
    PageTableOperations* page_tables = nullptr;
    // The units a hypercall's batch invalidates (dom0's IOMMU units).
    const paging::InvalidationTargets* targets = nullptr;
    // Every IOMMU unit, whose fault records are read while dom0 runs (each
    // driver decodes and reports what it takes).
    passthrough::UnitRegistry* units = nullptr;
    const MemoryMap* machine_memory_map = nullptr;
    const MemoryMap* guest_memory_map = nullptr;
    uint64_t maximum_machine_frame = 0;
    StringView hypervisor_command_line;
    // Ports dom0 may not reach (the hypervisor's own), as [first, last].
    using PortRange = ReservedPortRange;
    const PortRange* reserved_ports = nullptr;
    size_t reserved_port_count = 0;
};

[[noreturn]] void run_pv_dom0(const PvDom0Start& start);

// Statistics for the end-of-run summary.
struct PvRunStatistics {
    uint64_t hypercalls = 0;
    uint64_t exceptions_bounced = 0;
    uint64_t instructions_emulated = 0;
    uint64_t events_delivered = 0;
    uint64_t batch_commits = 0;
};
[[nodiscard]] const PvRunStatistics& pv_statistics();

}  // namespace sluice::x86::pv
