// One AMD-Vi IOMMU's MMIO registers, reached through a pci::MmioRegion with
// the width registers.hpp gives each register: a Register64 is always one
// 64-bit access and a Register32 one 32-bit access (AMD IOMMU spec 3.4, "IOMMU
// MMIO Registers"), so no register can be touched with the wrong width.
#pragma once

#include <drivers/passthrough/amd/registers.hpp>
#include <drivers/passthrough/register_file.hpp>

namespace sluice::amd {

using RegisterFile = passthrough::RegisterFile<Register32, Register64>;

}  // namespace sluice::amd
