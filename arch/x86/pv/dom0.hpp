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

#include "arch/x86/dom0_boot.hpp"

namespace sluice::x86::pv {

using x86::Dom0Boot;

[[noreturn]] void boot_pv_dom0(const Dom0Boot& boot);

}  // namespace sluice::x86::pv
