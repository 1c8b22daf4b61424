#include "arch/x86/port_emulation.hpp"

#include "arch/x86/port_io.hpp"

#include <sluice/log.hpp>

namespace sluice::x86 {
namespace {

constexpr Logger logger{"ports"};

// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0,
// 3.2.2.3.2): dom0's accesses to 0xcf8 (the address, 32-bit accesses only)
// and 0xcfc-0xcff (the data) are emulated, so the hypervisor sees every
// configuration write. Writes to an IOMMU's own function (class 08h,
// subclass 06h: the AMD IOMMU's capability block holds its base address
// and enables) are dropped, as the IOMMU set-up keeps its ECAM window from
// dom0; everything else goes to the device. Other sizes at 0xcf8-0xcfb
// (0xcf9 is the chipset's reset control) reach the hardware.
constexpr uint16_t configuration_address_port = 0xcf8;
constexpr uint16_t configuration_data_port = 0xcfc;
constexpr uint32_t configuration_enable = uint32_t{1} << 31;
uint32_t configuration_address = 0;

uint32_t read_configuration_dword(uint32_t address) {
    IoPort32(configuration_address_port).write(address);
    return IoPort32(configuration_data_port).read();
}

}  // namespace

uint32_t read_port(uint16_t port, unsigned size) {
    if (size == 1) return IoPort8(port).read();
    if (size == 2) return IoPort16(port).read();
    return IoPort32(port).read();
}

void write_port(uint16_t port, unsigned size, uint64_t value) {
    if (size == 1) IoPort8(port).write(static_cast<uint8_t>(value));
    else if (size == 2) IoPort16(port).write(static_cast<uint16_t>(value));
    else IoPort32(port).write(static_cast<uint32_t>(value));
}

void set_accumulator(uint64_t& accumulator, unsigned size, uint32_t value) {
    const uint64_t mask = size == 4 ? 0xffffffff : (uint64_t{1} << (size * 8)) - 1;
    accumulator = size == 4 ? value : ((accumulator & ~mask) | (value & mask));
}

bool emulate_pci_configuration(uint16_t port, unsigned size, bool read, uint64_t& accumulator) {
    if (port == configuration_address_port && size == 4) {
        if (read) accumulator = configuration_address;
        else configuration_address = static_cast<uint32_t>(accumulator);
        return true;
    }
    if (port < configuration_data_port || port + size > configuration_data_port + 4) return false;
    const unsigned offset = port - configuration_data_port;
    if (!(configuration_address & configuration_enable)) {
        if (read) set_accumulator(accumulator, size, 0xffffffff);
        return true;
    }
    const uint32_t dword_address = configuration_address & ~uint32_t{3};
    if (read) {
        set_accumulator(accumulator, size, read_configuration_dword(dword_address) >> (offset * 8));
        return true;
    }
    // Class code: offset 0x08, bits 31:24 base class, 23:16 subclass.
    const uint32_t class_register = read_configuration_dword((dword_address & ~uint32_t{0xff}) | 0x08);
    if ((class_register >> 16) == 0x0806) {
        static bool reported = false;
        if (!reported)
            logger.warning("d0: configuration write to the IOMMU's function %02x:%02x.%u (offset 0x%x) dropped; "
                           "further ones not reported",
                           (dword_address >> 16) & 0xff, (dword_address >> 11) & 0x1f, (dword_address >> 8) & 7,
                           (dword_address & 0xfc) + offset);
        reported = true;
        return true;
    }
    IoPort32(configuration_address_port).write(dword_address);
    write_port(static_cast<uint16_t>(configuration_data_port + offset), size, accumulator);
    return true;
}

}  // namespace sluice::x86
