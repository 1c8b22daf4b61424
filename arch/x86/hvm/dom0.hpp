// Image only: from boot modules to a running PVH dom0 (docs/pvh.md).
//
//   1. the hardware domain (created translated, with an NPT p2m, by the IOMMU
//      set-up for dom0=pvh) gets its guest-physical RAM: the host's e820
//      mirrored, backed by the machine frames dom0_mem= allocated, which are
//      not 1:1 with guest-physical;
//   2. the kernel, hvm_start_info, the memory map, the command line and the
//      initrd are written through the p2m (arch/x86/hvm/pvh_build.hpp);
//   3. the vCPU runs on SVM with nested paging (arch/x86/hvm/svm/run.hpp).
// Every refusal names what was wrong and ends the run with the fail verdict.
#pragma once

#include "arch/x86/dom0_boot.hpp"

namespace sluice::x86::hvm {

[[noreturn]] void boot_pvh_dom0(const Dom0Boot& boot);

}  // namespace sluice::x86::hvm
