// What the boot sequence hands the dom0 builders (PV: arch/x86/pv/dom0.hpp,
// PVH: arch/x86/hvm/dom0.hpp). Image only.
#pragma once

#include <common/domain.hpp>
#include <drivers/passthrough/iommu_setup.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86 {

struct Dom0Boot {
    // The kernel (boot module 0) and the initrd (module 1, length 0 if none).
    PhysicalAddress kernel = 0;
    uint64_t kernel_length = 0;
    PhysicalAddress initrd = 0;
    uint64_t initrd_length = 0;
    StringView command_line;  // dom0's
    StringView hypervisor_command_line;
    const MemoryMap* memory_map = nullptr;
    // The hardware domain: its memory, p2m (PVH) and IOMMU context, filled
    // by the IOMMU set-up; the builder adds its vCPU and I/O memory.
    Domain* domain = nullptr;
    passthrough::IommuSetup* iommu = nullptr;
    PageAllocator* allocator = nullptr;
    PhysicalAddress rsdp = 0;  // the host's ACPI RSDP (0: none found)
    // When the hardware domain's set-up began (the IOMMU set-up, which maps
    // its memory), for the build-time line; clock().nanoseconds() units.
    uint64_t setup_started = 0;
    uint64_t iommu_setup_nanoseconds = 0;
};

}  // namespace sluice::x86
