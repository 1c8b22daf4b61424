// An IOMMU's MMIO registers, reached through a pci::MmioRegion with the width
// each register's type gives it: a vendor declares one enum class for its
// 32-bit registers and one for its 64-bit registers (with offset_of() for
// each, found by argument-dependent lookup), and every access to a register
// of the first is one 32-bit access, to the second one 64-bit access. Both
// VT-d (10.4, "Register Descriptions") and AMD-Vi (3.4, "IOMMU MMIO
// Registers") define registers of fixed width, so no register can be touched
// with the wrong one.
#pragma once

#include <drivers/pci/mmio.hpp>

#include <sluice/types.hpp>

namespace sluice::passthrough {

template <typename Register32, typename Register64>
class RegisterFile {
public:
    constexpr RegisterFile() = default;
    explicit constexpr RegisterFile(pci::MmioRegion& region) : region_(&region) {}

    // Whether the file has a region behind it; nothing may be read before.
    [[nodiscard]] constexpr bool bound() const { return region_ != nullptr; }

    [[nodiscard]] uint32_t read(Register32 reg) const { return region_->read32(offset_of(reg)); }
    [[nodiscard]] uint64_t read(Register64 reg) const { return region_->read64(offset_of(reg)); }
    void write(Register32 reg, uint32_t value) const { region_->write32(offset_of(reg), value); }
    void write(Register64 reg, uint64_t value) const { region_->write64(offset_of(reg), value); }

    // Whether [offset, offset + length) lies inside the region.
    [[nodiscard]] bool covers(uint64_t offset, uint64_t length) const {
        return region_ != nullptr && offset <= region_->size() && length <= region_->size() - offset;
    }

private:
    pci::MmioRegion* region_ = nullptr;
};

}  // namespace sluice::passthrough
