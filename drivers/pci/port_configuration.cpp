// Image only: x86 port I/O.
#include <drivers/pci/port_configuration.hpp>

#include <arch/x86/port_io.hpp>

namespace sluice::pci {
namespace {

constexpr x86::IoPort32 address_port{configuration_address_port};

// Byte and word accesses use the data port lane that the low offset bits
// select (0xcfc + (offset & 3)), as mechanism #1 requires.
constexpr uint16_t data_port(uint16_t offset) { return static_cast<uint16_t>(configuration_data_port + (offset & 3)); }

}  // namespace

uint32_t PortConfigurationAccess::read_register(const PciAddress& address, uint16_t offset, AccessWidth width) {
    address_port.write(configuration_address(address, offset));
    switch (width) {
    case AccessWidth::byte: return x86::IoPort8(data_port(offset)).read();
    case AccessWidth::word: return x86::IoPort16(data_port(offset)).read();
    case AccessWidth::doubleword: return x86::IoPort32(data_port(offset)).read();
    }
    return 0xffffffff;
}

void PortConfigurationAccess::write_register(const PciAddress& address, uint16_t offset, AccessWidth width,
                                             uint32_t value) {
    address_port.write(configuration_address(address, offset));
    switch (width) {
    case AccessWidth::byte: x86::IoPort8(data_port(offset)).write(static_cast<uint8_t>(value)); return;
    case AccessWidth::word: x86::IoPort16(data_port(offset)).write(static_cast<uint16_t>(value)); return;
    case AccessWidth::doubleword: x86::IoPort32(data_port(offset)).write(value); return;
    }
}

}  // namespace sluice::pci
