// Image only: from boot modules to a running 64-bit PV dom0.
//
//   1. the frame table for dom0's memory, and every frame given to dom0
//      (device-mapped in strict mode, where the IOMMU tables hold them);
//   2. the machine-to-physical table, shown read-only at MACH2PHYS_VIRT_START;
//   3. shared_info and the start-of-day layout (arch/x86/pv/dom0_build.hpp);
//   4. the bootstrap tables validated and the L4 pinned through the
//      page-type engine, in one batch with one commit;
//   5. the guest entered (arch/x86/pv/run.hpp).
// Every refusal names what was wrong and ends the run with the fail verdict:
// the hypervisor never runs a dom0 it could not build safely.
#pragma once

#include <common/domain.hpp>
#include <drivers/passthrough/iommu_setup.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::pv {

struct Dom0Boot {
    // The kernel (boot module 0) and the initrd (module 1, length 0 if none).
    PhysicalAddress kernel = 0;
    uint64_t kernel_length = 0;
    PhysicalAddress initrd = 0;
    uint64_t initrd_length = 0;
    StringView command_line;  // dom0's
    StringView hypervisor_command_line;
    const MemoryMap* memory_map = nullptr;
    // The hardware domain: its memory and IOMMU context, filled by the
    // IOMMU set-up; the builder adds its vCPU and I/O memory.
    Domain* domain = nullptr;
    passthrough::IommuSetup* iommu = nullptr;
    PageAllocator* allocator = nullptr;
    // When the hardware domain's set-up began (the IOMMU set-up, which maps
    // its memory), for the build-time line; clock().nanoseconds() units.
    uint64_t setup_started = 0;
    uint64_t iommu_setup_nanoseconds = 0;
};

[[noreturn]] void boot_pv_dom0(const Dom0Boot& boot);

}  // namespace sluice::x86::pv
