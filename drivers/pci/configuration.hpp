// Access to PCI configuration space, independent of the mechanism (ECAM or
// the legacy 0xcf8/0xcfc ports).
#pragma once

#include <drivers/pci/address.hpp>

#include <sluice/types.hpp>

namespace sluice::pci {

// Registers of the configuration header, one enum per access width so a
// register cannot be read with the wrong one. Offsets from the PCI Local Bus
// Specification 3.0, section 6.1 (common header and type 0), and the
// PCI-to-PCI Bridge Architecture Specification 1.2, section 3.2 (type 1).
enum class ConfigurationRegister8 : uint16_t {
    revision_id = 0x08,
    programming_interface = 0x09,
    subclass = 0x0a,
    class_code = 0x0b,
    cache_line_size = 0x0c,
    latency_timer = 0x0d,
    header_type = 0x0e,
    built_in_self_test = 0x0f,
    primary_bus_number = 0x18,      // type 1
    secondary_bus_number = 0x19,    // type 1
    subordinate_bus_number = 0x1a,  // type 1
    capabilities_pointer = 0x34,
    interrupt_line = 0x3c,
    interrupt_pin = 0x3d,
};

enum class ConfigurationRegister16 : uint16_t {
    vendor_id = 0x00,
    device_id = 0x02,
    command = 0x04,
    status = 0x06,
    subsystem_vendor_id = 0x2c,  // type 0
    subsystem_id = 0x2e,         // type 0
    bridge_control = 0x3e,       // type 1
};

enum class ConfigurationRegister32 : uint16_t {
    identification = 0x00,      // vendor ID in bits 15:0, device ID in bits 31:16
    class_and_revision = 0x08,  // class code 31:24, subclass 23:16, programming interface 15:8, revision 7:0
    base_address_0 = 0x10,
    base_address_1 = 0x14,
    base_address_2 = 0x18,  // type 0
    base_address_3 = 0x1c,  // type 0
    base_address_4 = 0x20,  // type 0
    base_address_5 = 0x24,  // type 0
    expansion_rom_base_address = 0x30,  // type 0 (0x38 in type 1)
};

// A vendor ID no function has: reads of an absent function return all ones
// (PCI Local Bus Specification 3.0, section 6.1).
inline constexpr uint16_t absent_vendor_id = 0xffff;

// Header Type register (PCI Local Bus Specification 3.0, section 6.2.1): bit 7
// set in function 0 means the device implements functions 1-7 as well; bits
// 6:0 give the header layout.
inline constexpr uint8_t header_type_multi_function = 0x80;
inline constexpr uint8_t header_type_layout_mask = 0x7f;
enum class HeaderLayout : uint8_t {
    general = 0,
    pci_to_pci_bridge = 1,
    cardbus_bridge = 2,
};

// Bytes of configuration space per function: conventional PCI, and PCI
// Express extended configuration space (PCI Express Base 6.0, section 7.2.2).
inline constexpr uint16_t conventional_configuration_space_size = 256;
inline constexpr uint16_t extended_configuration_space_size = 4096;

enum class AccessWidth : uint8_t { byte = 1, word = 2, doubleword = 4 };

// One configuration mechanism. The public accessors check every access:
// when the address lies outside the mechanism's reach, the offset is not
// naturally aligned for the width or runs past space_size(), a read returns
// all ones (what an absent function answers) and a write is dropped. The
// mechanisms themselves only see accesses that passed these checks.
//
// Accesses are not serialised here: the legacy mechanism takes two port
// accesses per register, so callers on several CPUs must hold a lock.
class ConfigurationAccess {
public:
    // True when the mechanism reaches this segment and bus.
    [[nodiscard]] virtual bool reaches(const PciAddress& address) const = 0;
    // conventional_configuration_space_size or extended_configuration_space_size.
    [[nodiscard]] virtual uint16_t space_size() const = 0;
    // For messages: "ECAM", "ports 0xcf8/0xcfc".
    [[nodiscard]] virtual const char* name() const = 0;

    [[nodiscard]] bool accepts(const PciAddress& address, uint16_t offset, AccessWidth width) const;

    [[nodiscard]] uint8_t read8(const PciAddress& address, uint16_t offset);
    [[nodiscard]] uint16_t read16(const PciAddress& address, uint16_t offset);
    [[nodiscard]] uint32_t read32(const PciAddress& address, uint16_t offset);
    void write8(const PciAddress& address, uint16_t offset, uint8_t value);
    void write16(const PciAddress& address, uint16_t offset, uint16_t value);
    void write32(const PciAddress& address, uint16_t offset, uint32_t value);

    [[nodiscard]] uint8_t read(const PciAddress& address, ConfigurationRegister8 reg) {
        return read8(address, static_cast<uint16_t>(reg));
    }
    [[nodiscard]] uint16_t read(const PciAddress& address, ConfigurationRegister16 reg) {
        return read16(address, static_cast<uint16_t>(reg));
    }
    [[nodiscard]] uint32_t read(const PciAddress& address, ConfigurationRegister32 reg) {
        return read32(address, static_cast<uint16_t>(reg));
    }
    void write(const PciAddress& address, ConfigurationRegister8 reg, uint8_t value) {
        write8(address, static_cast<uint16_t>(reg), value);
    }
    void write(const PciAddress& address, ConfigurationRegister16 reg, uint16_t value) {
        write16(address, static_cast<uint16_t>(reg), value);
    }
    void write(const PciAddress& address, ConfigurationRegister32 reg, uint32_t value) {
        write32(address, static_cast<uint16_t>(reg), value);
    }

protected:
    ~ConfigurationAccess() = default;

    // The value read occupies the low `width` bytes of the result.
    [[nodiscard]] virtual uint32_t read_register(const PciAddress& address, uint16_t offset, AccessWidth width) = 0;
    virtual void write_register(const PciAddress& address, uint16_t offset, AccessWidth width, uint32_t value) = 0;
};

}  // namespace sluice::pci
