// Image only: MMIO through the hypervisor's identity map, where the virtual
// address of a physical address is the same number. Regions past the end of
// the identity map are refused rather than faulting on first access.
#pragma once

#include <drivers/pci/mmio.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

class IdentityMappedMmioRegion final : public MmioRegion {
public:
    constexpr IdentityMappedMmioRegion() = default;
    constexpr IdentityMappedMmioRegion(PhysicalAddress base, uint64_t size) : base_(base), size_(size) {}

    [[nodiscard]] PhysicalAddress base() const { return base_; }
    [[nodiscard]] uint64_t size() const override { return size_; }

    // Out-of-window or misaligned accesses read all ones and write nothing.
    [[nodiscard]] uint8_t read8(uint64_t offset) override;
    [[nodiscard]] uint16_t read16(uint64_t offset) override;
    [[nodiscard]] uint32_t read32(uint64_t offset) override;
    [[nodiscard]] uint64_t read64(uint64_t offset) override;
    void write8(uint64_t offset, uint8_t value) override;
    void write16(uint64_t offset, uint16_t value) override;
    void write32(uint64_t offset, uint32_t value) override;
    void write64(uint64_t offset, uint64_t value) override;

private:
    [[nodiscard]] bool valid(uint64_t offset, uint64_t width) const {
        return offset % width == 0 && offset < size_ && width <= size_ - offset;
    }

    PhysicalAddress base_ = 0;
    uint64_t size_ = 0;
};

class IdentityMappedMmioMapper final : public MmioMapper {
public:
    static constexpr size_t capacity = 16;

    // identity_map_end: one past the last identity-mapped physical byte.
    explicit constexpr IdentityMappedMmioMapper(PhysicalAddress identity_map_end)
        : identity_map_end_(identity_map_end) {}

    [[nodiscard]] Result<MmioRegion*> map(PhysicalAddress base, uint64_t size) override;

private:
    PhysicalAddress identity_map_end_;
    IdentityMappedMmioRegion regions_[capacity];
    size_t count_ = 0;
};

}  // namespace sluice::pci
