// Image only: running a PVH dom0 on AMD SVM with nested paging.
//
// run_pvh_dom0_svm() sets up one VMCB (the intercepts below, the I/O and MSR
// permission maps, the nested page table root) and loops on VMRUN, never
// returning. Intercepts (AMD APM Vol. 2, 15.9-15.13):
//   CPUID, MSR (through the MSR permission map), IOIO (through the I/O
//   permission map: every port except the hypervisor's own,
//   arch/x86/reserved_ports.hpp), VMMCALL (hypercalls), HLT, SHUTDOWN,
//   INVD/WBINVD, RDTSC/RDTSCP, INTR, NMI, #MC, and every SVM instruction
//   (#UD for the guest); #NPF comes with nested paging.
// The hardware's next-RIP is not relied on (QEMU TCG has no nRIP save):
// every exit that moves RIP decodes the instruction from guest memory.
#pragma once

#include "arch/x86/hvm/guest_memory.hpp"
#include "arch/x86/hvm/svm/svm.hpp"

#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::svm {

struct SvmGuestStart {
    uint16_t domain_id = 0;
    uint32_t entry = 0;       // EIP, 32-bit flat protected mode, paging off
    uint32_t start_info = 0;  // EBX
    PhysicalAddress nested_page_table = 0;  // N_CR3: the p2m root
    const hvm::GuestPhysicalMap* guest_physical = nullptr;
    const SvmFeatures* features = nullptr;
    PhysicalPageAllocator* allocator = nullptr;
    StringView hypervisor_command_line;
    // Reads and reports the DMA faults the IOMMU units recorded; called after
    // every hypercall and at the end (nullptr: none).
    void (*poll_dma_faults)() = nullptr;
};

[[noreturn]] void run_pvh_dom0_svm(const SvmGuestStart& start);

}  // namespace sluice::x86::svm
