#include <drivers/pci/configuration.hpp>

namespace sluice::pci {

bool ConfigurationAccess::accepts(const PciAddress& address, uint16_t offset, AccessWidth width) const {
    const auto bytes = static_cast<uint16_t>(width);
    return address.is_valid() && reaches(address) && offset % bytes == 0 && offset < space_size() &&
           bytes <= space_size() - offset;
}

uint8_t ConfigurationAccess::read8(const PciAddress& address, uint16_t offset) {
    if (!accepts(address, offset, AccessWidth::byte)) return 0xff;
    return static_cast<uint8_t>(read_register(address, offset, AccessWidth::byte));
}

uint16_t ConfigurationAccess::read16(const PciAddress& address, uint16_t offset) {
    if (!accepts(address, offset, AccessWidth::word)) return 0xffff;
    return static_cast<uint16_t>(read_register(address, offset, AccessWidth::word));
}

uint32_t ConfigurationAccess::read32(const PciAddress& address, uint16_t offset) {
    if (!accepts(address, offset, AccessWidth::doubleword)) return 0xffffffff;
    return read_register(address, offset, AccessWidth::doubleword);
}

void ConfigurationAccess::write8(const PciAddress& address, uint16_t offset, uint8_t value) {
    if (accepts(address, offset, AccessWidth::byte)) write_register(address, offset, AccessWidth::byte, value);
}

void ConfigurationAccess::write16(const PciAddress& address, uint16_t offset, uint16_t value) {
    if (accepts(address, offset, AccessWidth::word)) write_register(address, offset, AccessWidth::word, value);
}

void ConfigurationAccess::write32(const PciAddress& address, uint16_t offset, uint32_t value) {
    if (accepts(address, offset, AccessWidth::doubleword))
        write_register(address, offset, AccessWidth::doubleword, value);
}

}  // namespace sluice::pci
