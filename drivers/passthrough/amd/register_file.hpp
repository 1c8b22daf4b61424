// One AMD-Vi IOMMU's MMIO registers, reached through a pci::MmioRegion with
// the width registers.hpp gives each register: a Register64 is always one
// 64-bit access and a Register32 one 32-bit access (AMD IOMMU spec 3.4, "IOMMU
// MMIO Registers"), so no register can be touched with the wrong width.
#pragma once

#include <drivers/passthrough/amd/registers.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/types.hpp>

namespace sluice::amd {

class RegisterFile {
public:
    constexpr RegisterFile() = default;
    explicit constexpr RegisterFile(pci::MmioRegion& region) : region_(&region) {}

    [[nodiscard]] constexpr bool bound() const { return region_ != nullptr; }

    [[nodiscard]] uint64_t read(Register64 offset) const { return region_->read64(offset_of(offset)); }
    void write(Register64 offset, uint64_t value) const { region_->write64(offset_of(offset), value); }
    [[nodiscard]] uint32_t read(Register32 offset) const { return region_->read32(offset_of(offset)); }
    void write(Register32 offset, uint32_t value) const { region_->write32(offset_of(offset), value); }

private:
    pci::MmioRegion* region_ = nullptr;
};

}  // namespace sluice::amd
