#include <drivers/pci/enumeration.hpp>

#include <sluice/log.hpp>

namespace sluice::pci {
namespace {

constexpr Logger logger{"pci"};

constexpr size_t bus_count_per_segment = 256;

// A vendor ID of all ones is what an absent function returns; zero is no
// vendor's either, and some bridges return it for functions behind them that
// do not exist.
constexpr bool is_present(uint16_t vendor_id) { return vendor_id != absent_vendor_id && vendor_id != 0; }

Device describe_function(ConfigurationAccess& access, const PciAddress& address, uint16_t vendor_id,
                         bool multi_function) {
    Device device;
    device.address = address;
    device.vendor_id = vendor_id;
    device.device_id = access.read(address, ConfigurationRegister16::device_id);
    const uint32_t class_and_revision = access.read(address, ConfigurationRegister32::class_and_revision);
    device.class_code = static_cast<uint8_t>(class_and_revision >> 24);
    device.subclass = static_cast<uint8_t>(class_and_revision >> 16);
    device.programming_interface = static_cast<uint8_t>(class_and_revision >> 8);
    device.revision_id = static_cast<uint8_t>(class_and_revision);
    device.header_type = access.read(address, ConfigurationRegister8::header_type) & header_type_layout_mask;
    device.multi_function = multi_function;
    if (device.is_bridge()) {
        device.secondary_bus = access.read(address, ConfigurationRegister8::secondary_bus_number);
        device.subordinate_bus = access.read(address, ConfigurationRegister8::subordinate_bus_number);
    }
    return device;
}

// Breadth-first: the buses still to scan, each queued once.
class BusQueue {
public:
    // False when the bus was queued (or scanned) before.
    bool push(uint8_t bus) {
        if (seen_[bus]) return false;
        seen_[bus] = true;
        pending_[tail_++] = bus;
        return true;
    }
    [[nodiscard]] bool empty() const { return head_ == tail_; }
    uint8_t pop() { return pending_[head_++]; }

private:
    bool seen_[bus_count_per_segment] = {};
    uint8_t pending_[bus_count_per_segment] = {};
    size_t head_ = 0;
    size_t tail_ = 0;  // never exceeds 256: each bus is pushed at most once
};

}  // namespace

Status DeviceList::add(const Device& device) {
    if (find(device.address)) return Error::already_exists;
    if (count_ == capacity) return Error::capacity;
    devices_[count_++] = device;
    return success();
}

Optional<Device> DeviceList::find(const PciAddress& address) const {
    for (const Device& device : devices())
        if (device.address == address) return device;
    return {};
}

size_t DeviceList::bus_count() const {
    size_t buses = 0;
    for (size_t index = 0; index < count_; ++index) {
        bool first = true;
        for (size_t earlier = 0; earlier < index && first; ++earlier)
            first = !(devices_[earlier].address.segment == devices_[index].address.segment &&
                      devices_[earlier].address.bus == devices_[index].address.bus);
        if (first) ++buses;
    }
    return buses;
}

EnumerationSummary enumerate(ConfigurationAccess& access, DeviceList& devices, uint16_t segment) {
    EnumerationSummary summary;
    BusQueue queue;
    (void)queue.push(0);
    while (!queue.empty()) {
        const uint8_t bus = queue.pop();
        if (!access.reaches(PciAddress{segment, bus, 0, 0})) {
            logger.warning("%04x:%02x is beyond the reach of %s; not scanned", segment, bus, access.name());
            continue;
        }
        ++summary.buses_scanned;
        for (uint8_t slot = 0; slot < PciAddress::device_count; ++slot) {
            const PciAddress first{segment, bus, slot, 0};
            const uint16_t first_vendor = access.read(first, ConfigurationRegister16::vendor_id);
            // A device implements function 0 whenever it implements any
            // (PCI Local Bus Specification 3.0, section 6.2.1).
            if (!is_present(first_vendor)) continue;
            const bool multi_function =
                (access.read(first, ConfigurationRegister8::header_type) & header_type_multi_function) != 0;
            const uint8_t functions = multi_function ? PciAddress::function_count : 1;

            for (uint8_t function = 0; function < functions; ++function) {
                const PciAddress address{segment, bus, slot, function};
                const uint16_t vendor =
                    function == 0 ? first_vendor : access.read(address, ConfigurationRegister16::vendor_id);
                if (!is_present(vendor)) continue;
                const Device device = describe_function(access, address, vendor, multi_function);
                ++summary.functions_found;
                const Status added = devices.add(device);
                if (!added) {
                    if (added.error() == Error::capacity && summary.functions_dropped++ == 0)
                        logger.warning("device list full (%zu functions); %s and later functions are not recorded",
                                       DeviceList::capacity, describe(address).c_str());
                    if (added.error() == Error::already_exists)
                        logger.warning("%s is listed already; enumerated twice", describe(address).c_str());
                }

                if (!device.is_bridge()) continue;
                if (device.secondary_bus == 0) {
                    logger.warning("bridge %s has no secondary bus number (not configured by firmware); "
                                   "not followed",
                                   describe(address).c_str());
                } else if (!queue.push(device.secondary_bus)) {
                    logger.warning("bridge %s names secondary bus %02x, which is scanned already (a bus number "
                                   "loop or overlap); not followed",
                                   describe(address).c_str(), device.secondary_bus);
                }
            }
        }
    }
    return summary;
}

const char* class_name(uint8_t class_code, uint8_t subclass, uint8_t programming_interface) {
    // Base class and subclass values: PCI Code and ID Assignment Specification, section 1.
    switch (class_code) {
    case 0x00: return "unclassified";
    case 0x01:
        switch (subclass) {
        case 0x00: return "SCSI controller";
        case 0x01: return "IDE controller";
        case 0x05: return "ATA controller";
        case 0x06: return "SATA controller";
        case 0x07: return "SAS controller";
        case 0x08: return programming_interface == 0x02 ? "NVMe controller" : "non-volatile memory controller";
        default: return "mass storage controller";
        }
    case 0x02: return subclass == 0x00 ? "Ethernet controller" : "network controller";
    case 0x03:
        switch (subclass) {
        case 0x00: return programming_interface == 0x00 ? "VGA controller" : "display controller";
        case 0x01: return "XGA controller";
        default: return "display controller";
        }
    case 0x04: return subclass == 0x03 ? "audio device" : "multimedia controller";
    case 0x05: return "memory controller";
    case 0x06:
        switch (subclass) {
        case 0x00: return "host bridge";
        case 0x01: return "ISA bridge";
        case 0x04: return "PCI bridge";
        case 0x07: return "CardBus bridge";
        default: return "bridge";
        }
    case 0x07: return subclass == 0x00 ? "serial controller" : "communication controller";
    case 0x08:
        switch (subclass) {
        case 0x00: return "interrupt controller";
        case 0x05: return "SD host controller";
        case 0x06: return "IOMMU";
        default: return "system peripheral";
        }
    case 0x09: return "input device";
    case 0x0c:
        switch (subclass) {
        case 0x03: return "USB controller";
        case 0x05: return "SMBus controller";
        default: return "serial bus controller";
        }
    case 0x0d: return "wireless controller";
    case 0xff: return "unassigned class";
    default: return "unknown class";
    }
}

void print(const DeviceList& devices) {
    for (const Device& device : devices.devices()) {
        const char* name = class_name(device.class_code, device.subclass, device.programming_interface);
        if (device.is_bridge())
            logger.info("%s %04x:%04x class %06x %s, secondary bus %02x", describe(device.address).c_str(),
                        device.vendor_id, device.device_id, device.class_triple(), name, device.secondary_bus);
        else
            logger.info("%s %04x:%04x class %06x %s", describe(device.address).c_str(), device.vendor_id,
                        device.device_id, device.class_triple(), name);
    }
    const size_t bus_count = devices.bus_count();
    logger.info("%zu device%s on %zu bus%s", devices.size(), devices.size() == 1 ? "" : "s", bus_count,
                bus_count == 1 ? "" : "es");
}

}  // namespace sluice::pci
