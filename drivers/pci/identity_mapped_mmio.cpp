// Image only: dereferences physical addresses through the identity map.
#include <drivers/pci/identity_mapped_mmio.hpp>

namespace sluice::pci {
namespace {

// One volatile access of exactly the width of T: the compiler may neither
// split, merge nor drop it.
template <typename T> T load(PhysicalAddress address) { return *reinterpret_cast<volatile const T*>(address); }
template <typename T> void store(PhysicalAddress address, T value) { *reinterpret_cast<volatile T*>(address) = value; }

}  // namespace

uint8_t IdentityMappedMmioRegion::read8(uint64_t offset) {
    return valid(offset, 1) ? load<uint8_t>(base_ + offset) : 0xff;
}
uint16_t IdentityMappedMmioRegion::read16(uint64_t offset) {
    return valid(offset, 2) ? load<uint16_t>(base_ + offset) : 0xffff;
}
uint32_t IdentityMappedMmioRegion::read32(uint64_t offset) {
    return valid(offset, 4) ? load<uint32_t>(base_ + offset) : 0xffffffff;
}
uint64_t IdentityMappedMmioRegion::read64(uint64_t offset) {
    return valid(offset, 8) ? load<uint64_t>(base_ + offset) : ~uint64_t{0};
}
void IdentityMappedMmioRegion::write8(uint64_t offset, uint8_t value) {
    if (valid(offset, 1)) store<uint8_t>(base_ + offset, value);
}
void IdentityMappedMmioRegion::write16(uint64_t offset, uint16_t value) {
    if (valid(offset, 2)) store<uint16_t>(base_ + offset, value);
}
void IdentityMappedMmioRegion::write32(uint64_t offset, uint32_t value) {
    if (valid(offset, 4)) store<uint32_t>(base_ + offset, value);
}
void IdentityMappedMmioRegion::write64(uint64_t offset, uint64_t value) {
    if (valid(offset, 8)) store<uint64_t>(base_ + offset, value);
}

Result<MmioRegion*> IdentityMappedMmioMapper::map(PhysicalAddress base, uint64_t size) {
    if (size == 0 || base >= identity_map_end_ || size > identity_map_end_ - base) return Error::unsupported;
    if (count_ == capacity) return Error::capacity;
    regions_[count_] = IdentityMappedMmioRegion(base, size);
    return static_cast<MmioRegion*>(&regions_[count_++]);
}

}  // namespace sluice::pci
