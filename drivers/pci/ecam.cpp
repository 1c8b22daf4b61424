#include <drivers/pci/ecam.hpp>

namespace sluice::pci {

Status EcamConfigurationAccess::add_window(const EcamWindow& window) {
    if (window.region == nullptr || window.start_bus > window.end_bus || window.region->size() < window.size())
        return Error::invalid_argument;
    for (const EcamWindow& existing : windows())
        if (existing.segment == window.segment && window.start_bus <= existing.end_bus &&
            existing.start_bus <= window.end_bus)
            return Error::overlap;
    if (count_ == capacity) return Error::capacity;
    windows_[count_++] = window;
    return success();
}

const EcamWindow* EcamConfigurationAccess::find(const PciAddress& address) const {
    for (const EcamWindow& window : windows())
        if (window.covers(address)) return &window;
    return nullptr;
}

uint32_t EcamConfigurationAccess::read_register(const PciAddress& address, uint16_t offset, AccessWidth width) {
    const EcamWindow* window = find(address);
    if (window == nullptr) return 0xffffffff;  // unreachable: accepts() checked reaches()
    const uint64_t location = region_offset(*window, address, offset);
    switch (width) {
    case AccessWidth::byte: return window->region->read8(location);
    case AccessWidth::word: return window->region->read16(location);
    case AccessWidth::doubleword: return window->region->read32(location);
    }
    return 0xffffffff;
}

void EcamConfigurationAccess::write_register(const PciAddress& address, uint16_t offset, AccessWidth width,
                                             uint32_t value) {
    const EcamWindow* window = find(address);
    if (window == nullptr) return;
    const uint64_t location = region_offset(*window, address, offset);
    switch (width) {
    case AccessWidth::byte: window->region->write8(location, static_cast<uint8_t>(value)); return;
    case AccessWidth::word: window->region->write16(location, static_cast<uint16_t>(value)); return;
    case AccessWidth::doubleword: window->region->write32(location, value); return;
    }
}

}  // namespace sluice::pci
