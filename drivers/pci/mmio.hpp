// Memory-mapped register windows. Drivers reach MMIO only through these two
// interfaces, so host tests can put a simulated register file behind them;
// the image implementation (identity_mapped_mmio.hpp) uses volatile accesses
// through the hypervisor's identity map.
#pragma once

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

// A window of registers, addressed by byte offset from its start. Each access
// is one naturally aligned access of the given width (the hardware decodes
// width, so a 32-bit register must never be touched as two 16-bit halves).
// Callers keep offset + width within size() and offsets naturally aligned.
class MmioRegion {
public:
    [[nodiscard]] virtual uint64_t size() const = 0;

    [[nodiscard]] virtual uint8_t read8(uint64_t offset) = 0;
    [[nodiscard]] virtual uint16_t read16(uint64_t offset) = 0;
    [[nodiscard]] virtual uint32_t read32(uint64_t offset) = 0;
    [[nodiscard]] virtual uint64_t read64(uint64_t offset) = 0;
    virtual void write8(uint64_t offset, uint8_t value) = 0;
    virtual void write16(uint64_t offset, uint16_t value) = 0;
    virtual void write32(uint64_t offset, uint32_t value) = 0;
    virtual void write64(uint64_t offset, uint64_t value) = 0;

protected:
    ~MmioRegion() = default;
};

// Makes MmioRegion objects for physical ranges. Regions live as long as the
// mapper; there is no unmapping (ECAM and IOMMU registers stay mapped).
class MmioMapper {
public:
    // A region covering [base, base + size): Error::unsupported when that
    // range cannot be reached, Error::capacity when no region is left.
    [[nodiscard]] virtual Result<MmioRegion*> map(PhysicalAddress base, uint64_t size) = 0;

protected:
    ~MmioMapper() = default;
};

}  // namespace sluice::pci
