// The legacy configuration mechanism through I/O ports 0xcf8 and 0xcfc
// (PCI Local Bus Specification 3.0, section 3.2.2.3.2, "Configuration
// Mechanism #1"). It reaches segment 0 and the 256-byte conventional space
// only. The address encoding is core code (tested on the host); the port
// accesses themselves are in the image-only port_configuration.cpp.
#pragma once

#include <drivers/pci/configuration.hpp>

#include <sluice/types.hpp>

namespace sluice::pci {

inline constexpr uint16_t configuration_address_port = 0xcf8;
inline constexpr uint16_t configuration_data_port = 0xcfc;

// CONFIG_ADDRESS: bit 31 enables the cycle, bits 23:16 bus, 15:11 device,
// 10:8 function, 7:2 the doubleword register; bits 1:0 are 0. A narrower
// access then uses data port byte (offset & 3).
[[nodiscard]] constexpr uint32_t configuration_address(const PciAddress& address, uint16_t offset) {
    return uint32_t{1} << 31 | uint32_t{address.bus} << 16 | uint32_t{address.device & 0x1fu} << 11 |
           uint32_t{address.function & 0x7u} << 8 | (offset & 0xfcu);
}

class PortConfigurationAccess final : public ConfigurationAccess {
public:
    [[nodiscard]] bool reaches(const PciAddress& address) const override { return address.segment == 0; }
    [[nodiscard]] uint16_t space_size() const override { return conventional_configuration_space_size; }
    [[nodiscard]] const char* name() const override { return "ports 0xcf8/0xcfc"; }

protected:
    [[nodiscard]] uint32_t read_register(const PciAddress& address, uint16_t offset, AccessWidth width) override;
    void write_register(const PciAddress& address, uint16_t offset, AccessWidth width, uint32_t value) override;
};

}  // namespace sluice::pci
