// Finding the PCI functions present: bus 0 first, then every bus a
// PCI-to-PCI bridge leads to, as firmware numbered them.
#pragma once

#include <drivers/pci/address.hpp>
#include <drivers/pci/configuration.hpp>

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

// One present function, as its configuration header describes it.
struct Device {
    PciAddress address;
    uint16_t vendor_id = 0;
    uint16_t device_id = 0;
    uint8_t class_code = 0;
    uint8_t subclass = 0;
    uint8_t programming_interface = 0;
    uint8_t revision_id = 0;
    uint8_t header_type = 0;      // the layout, bits 6:0 of the register (HeaderLayout)
    bool multi_function = false;  // function 0 of this device sets header type bit 7
    uint8_t secondary_bus = 0;    // PCI-to-PCI bridges only
    uint8_t subordinate_bus = 0;  // PCI-to-PCI bridges only

    [[nodiscard]] constexpr bool is_bridge() const {
        return header_type == static_cast<uint8_t>(HeaderLayout::pci_to_pci_bridge);
    }
    // Class code, subclass and programming interface as one 24-bit number
    // (0x00ff00 for QEMU's edu device), the way lspci -n prints it.
    [[nodiscard]] constexpr uint32_t class_triple() const {
        return uint32_t{class_code} << 16 | uint32_t{subclass} << 8 | programming_interface;
    }
};

// A fixed-capacity list of functions: no allocation.
class DeviceList {
public:
    static constexpr size_t capacity = 256;

    // Error::capacity when full, Error::already_exists for an address listed already.
    [[nodiscard]] Status add(const Device& device);
    void clear() { count_ = 0; }

    [[nodiscard]] Span<const Device> devices() const { return Span<const Device>(devices_, count_); }
    [[nodiscard]] size_t size() const { return count_; }
    [[nodiscard]] Optional<Device> find(const PciAddress& address) const;
    // How many distinct (segment, bus) pairs the listed functions sit on.
    [[nodiscard]] size_t bus_count() const;

private:
    Device devices_[capacity];
    size_t count_ = 0;
};

struct EnumerationSummary {
    size_t functions_found = 0;    // present functions seen, including those not recorded
    size_t functions_dropped = 0;  // seen but not recorded: the list was full
    size_t buses_scanned = 0;
};

// Scans the given segment from bus 0, following each PCI-to-PCI bridge to its
// secondary bus (PCI-to-PCI Bridge Architecture Specification 1.2, section
// 3.2.5.3), and appends every present function to devices. Functions 1-7 of a
// device are probed only when function 0 sets the multi-function bit. Each bus
// is scanned at most once: a bridge naming a bus already scanned (a loop, or
// two bridges claiming one bus) is not followed, with a warning, and neither
// is a bridge without a secondary bus number. A full list gives one warning.
EnumerationSummary enumerate(ConfigurationAccess& access, DeviceList& devices, uint16_t segment = 0);

// A short English name for a class ("host bridge", "SATA controller",
// "unclassified" for class 00 such as QEMU's edu device).
[[nodiscard]] const char* class_name(uint8_t class_code, uint8_t subclass, uint8_t programming_interface);

// Logs one info line per function and a summary:
//   pci: 0000:00:03.0 1234:11e8 class 00ff00 unclassified
//   pci: 0000:00:1e.0 8086:244e class 060401 PCI bridge, secondary bus 01
//   pci: 7 devices on 2 buses
void print(const DeviceList& devices);

}  // namespace sluice::pci
