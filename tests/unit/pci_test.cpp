#include <gtest/gtest.h>

#include <drivers/acpi/table_directory.hpp>
#include <drivers/pci/address.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/ecam.hpp>
#include <drivers/pci/enumeration.hpp>
#include <drivers/pci/mmio.hpp>
#include <drivers/pci/port_configuration.hpp>
#include <drivers/pci/select.hpp>

#include <sluice/log.hpp>

#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace {

using sluice::Error;
using sluice::pci::AccessWidth;
using sluice::pci::ConfigurationRegister16;
using sluice::pci::ConfigurationRegister32;
using sluice::pci::ConfigurationRegister8;
using sluice::pci::Device;
using sluice::pci::DeviceList;
using sluice::pci::PciAddress;
using sluice::testing::LogCapture;

// The configuration spaces of a set of functions on segment 0: 4 KiB each,
// all ones for absent functions, as the hardware answers.
class SimulatedConfigurationSpace {
public:
    using Space = std::array<uint8_t, 4096>;

    Space& add_function(uint8_t bus, uint8_t device, uint8_t function, uint16_t vendor_id, uint16_t device_id,
                        uint32_t class_triple, uint8_t header_type = 0) {
        Space& space = functions_[key(bus, device, function)];
        space.fill(0);
        put(space, 0x00, vendor_id, 2);
        put(space, 0x02, device_id, 2);
        put(space, 0x08, class_triple << 8 | 0x01, 4);  // revision 1
        space[0x0e] = header_type;
        return space;
    }
    void add_bridge(uint8_t bus, uint8_t device, uint8_t function, uint8_t secondary, uint8_t subordinate,
                    uint8_t multi_function_bit = 0) {
        Space& space = add_function(bus, device, function, 0x8086, 0x244e, 0x060401, 0x01 | multi_function_bit);
        space[0x18] = bus;
        space[0x19] = secondary;
        space[0x1a] = subordinate;
    }

    uint32_t read(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset, unsigned width) {
        if (offset == 0 && function == 0 && device == 0) ++bus_probes_[bus];
        auto found = functions_.find(key(bus, device, function));
        if (found == functions_.end()) return width == 4 ? 0xffffffff : (1u << (8 * width)) - 1;
        uint32_t value = 0;
        std::memcpy(&value, found->second.data() + offset, width);
        return value;
    }
    void write(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset, unsigned width, uint32_t value) {
        auto found = functions_.find(key(bus, device, function));
        if (found != functions_.end()) std::memcpy(found->second.data() + offset, &value, width);
    }

    // How often 00.0 of a bus had its vendor ID read: once per bus scan.
    [[nodiscard]] unsigned probes_of_bus(uint8_t bus) const {
        auto found = bus_probes_.find(bus);
        return found == bus_probes_.end() ? 0 : found->second;
    }

private:
    static uint32_t key(uint8_t bus, uint8_t device, uint8_t function) {
        return uint32_t{bus} << 8 | uint32_t{device} << 3 | function;
    }
    static void put(Space& space, size_t offset, uint32_t value, size_t width) {
        std::memcpy(space.data() + offset, &value, width);
    }

    std::map<uint32_t, Space> functions_;
    std::map<uint8_t, unsigned> bus_probes_;
};

// Direct access to the simulated spaces, as a mechanism of the given reach.
class SimulatedAccess final : public sluice::pci::ConfigurationAccess {
public:
    SimulatedAccess(SimulatedConfigurationSpace& space, uint16_t space_size) : space_(space), size_(space_size) {}

    [[nodiscard]] bool reaches(const PciAddress& address) const override { return address.segment == 0; }
    [[nodiscard]] uint16_t space_size() const override { return size_; }
    [[nodiscard]] const char* name() const override { return "simulated ports"; }

    unsigned register_accesses = 0;

protected:
    uint32_t read_register(const PciAddress& address, uint16_t offset, AccessWidth width) override {
        ++register_accesses;
        return space_.read(address.bus, address.device, address.function, offset, static_cast<unsigned>(width));
    }
    void write_register(const PciAddress& address, uint16_t offset, AccessWidth width, uint32_t value) override {
        ++register_accesses;
        space_.write(address.bus, address.device, address.function, offset, static_cast<unsigned>(width), value);
    }

private:
    SimulatedConfigurationSpace& space_;
    uint16_t size_;
};

// An ECAM window over the simulated spaces. It decodes each offset itself,
// straight from PCI Express Base 6.0 table 7-1 (bus in bits 27:20 relative
// to the window's first bus, device 19:15, function 14:12, register 11:0).
class SimulatedEcamRegion final : public sluice::pci::MmioRegion {
public:
    SimulatedEcamRegion(SimulatedConfigurationSpace& space, uint8_t start_bus, uint64_t size)
        : space_(space), start_bus_(start_bus), size_(size) {}

    [[nodiscard]] uint64_t size() const override { return size_; }
    uint8_t read8(uint64_t offset) override { return static_cast<uint8_t>(read(offset, 1)); }
    uint16_t read16(uint64_t offset) override { return static_cast<uint16_t>(read(offset, 2)); }
    uint32_t read32(uint64_t offset) override { return read(offset, 4); }
    uint64_t read64(uint64_t) override { throw std::logic_error("ECAM is never read 64 bits wide here"); }
    void write8(uint64_t offset, uint8_t value) override { write(offset, 1, value); }
    void write16(uint64_t offset, uint16_t value) override { write(offset, 2, value); }
    void write32(uint64_t offset, uint32_t value) override { write(offset, 4, value); }
    void write64(uint64_t, uint64_t) override { throw std::logic_error("ECAM is never written 64 bits wide here"); }

    std::vector<uint64_t> offsets;  // every offset accessed, in order
    bool decodes = true;            // false: behaves as if nothing decoded the window

private:
    void check(uint64_t offset, unsigned width) {
        if (offset % width != 0 || offset + width > size_) throw std::out_of_range("ECAM access outside the window");
        offsets.push_back(offset);
    }
    uint32_t read(uint64_t offset, unsigned width) {
        check(offset, width);
        if (!decodes) return width == 4 ? 0xffffffff : (1u << (8 * width)) - 1;
        return space_.read(static_cast<uint8_t>(start_bus_ + (offset >> 20)), (offset >> 15) & 0x1f,
                           (offset >> 12) & 0x7, offset & 0xfff, width);
    }
    void write(uint64_t offset, unsigned width, uint32_t value) {
        check(offset, width);
        space_.write(static_cast<uint8_t>(start_bus_ + (offset >> 20)), (offset >> 15) & 0x1f, (offset >> 12) & 0x7,
                     offset & 0xfff, width, value);
    }

    SimulatedConfigurationSpace& space_;
    uint8_t start_bus_;
    uint64_t size_;
};

// A typical small machine: a host bridge, a multi-function device, a
// single-function device with a stray function-1 decode, QEMU's edu device,
// and a bridge to bus 1, which has a device and a bridge to bus 2.
void build_typical_machine(SimulatedConfigurationSpace& space) {
    space.add_function(0, 0, 0, 0x8086, 0x29c0, 0x060000);
    space.add_function(0, 1, 0, 0x8086, 0x2922, 0x010601, 0x80);
    space.add_function(0, 1, 3, 0x8086, 0x2930, 0x0c0500);
    space.add_function(0, 2, 0, 0x1b36, 0x0001, 0x020000);
    space.add_function(0, 2, 1, 0x1b36, 0x0001, 0x020000);  // not multi-function: must stay hidden
    space.add_function(0, 3, 0, 0x1234, 0x11e8, 0x00ff00);
    space.add_bridge(0, 0x1e, 0, 1, 2);
    space.add_function(1, 0, 0, 0x1af4, 0x1000, 0x020000);
    space.add_bridge(1, 5, 0, 2, 2);
    space.add_function(2, 0, 0, 0x1af4, 0x1001, 0x010000);
}

std::vector<std::string> addresses_of(const DeviceList& devices) {
    std::vector<std::string> addresses;
    for (const Device& device : devices.devices()) addresses.emplace_back(describe(device.address).c_str());
    return addresses;
}

const std::vector<std::string> typical_addresses = {"0000:00:00.0", "0000:00:01.0", "0000:00:01.3",
                                                    "0000:00:02.0", "0000:00:03.0", "0000:00:1e.0",
                                                    "0000:01:00.0", "0000:01:05.0", "0000:02:00.0"};

// --- Addresses ---------------------------------------------------------------

TEST(PciAddress, FormatsBothWays) {
    const PciAddress address{0, 0, 3, 0};
    EXPECT_STREQ(describe(address).c_str(), "0000:00:03.0");
    EXPECT_STREQ(describe_short(address).c_str(), "00:03.0");
    EXPECT_STREQ(describe(PciAddress{0xabcd, 0xfe, 0x1f, 7}).c_str(), "abcd:fe:1f.7");
    EXPECT_STREQ(describe_short(PciAddress{0xabcd, 0xfe, 0x1f, 7}).c_str(), "fe:1f.7");
}

TEST(PciAddress, ParsesLongAndShortForms) {
    auto parsed = PciAddress::parse("0001:02:1f.7");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed.value(), (PciAddress{1, 2, 0x1f, 7}));
    parsed = PciAddress::parse("00:03.0");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed.value(), (PciAddress{0, 0, 3, 0}));
    parsed = PciAddress::parse("A:fF:0.1");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed.value(), (PciAddress{0xa, 0xff, 0, 1}));
    parsed = PciAddress::parse("0:0:1d.0");  // Xen writes the segment with one digit
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed.value(), (PciAddress{0, 0, 0x1d, 0}));
    parsed = PciAddress::parse("ffff:ff:1f.7");
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed.value(), (PciAddress{0xffff, 0xff, 0x1f, 7}));
    for (const char* bad : {"", "1d.0", "00:03", "00.03:0", "00:20.0", "00:03.8", "100:03.0", "00000:00:03.0",
                            "0:0:0:0.0", "::.", "g0:03.0", "00:03.", "00:.0", ":03.0", ":00:1f.0", "00:03.00",
                            "00:1f.0x", " 00:1f.0", "00:1f.0 ", "00:1f.0.1"})
        EXPECT_FALSE(PciAddress::parse(bad).has_value()) << bad;
}

TEST(PciAddress, RequesterIdsRoundTrip) {
    const PciAddress address{0, 0x12, 0x1f, 5};
    EXPECT_EQ(address.requester_id(), 0x12fdu);
    EXPECT_EQ(PciAddress::from_requester_id(0, 0x12fd), address);
    EXPECT_EQ((PciAddress{0, 0, 3, 0}.requester_id()), 0x18u);
    EXPECT_EQ((PciAddress{0, 0, 0x1f, 7}.requester_id()), 0xffu);
}

TEST(PciAddress, SortKeyOrdersBySegmentThenRequesterId) {
    EXPECT_EQ((PciAddress{0, 1, 2, 3}.sort_key()), 0x00000113u);
    EXPECT_EQ((PciAddress{2, 1, 2, 3}.sort_key()), 0x00020113u);
    EXPECT_LT((PciAddress{0, 1, 0x1f, 7}.sort_key()), (PciAddress{0, 2, 0, 0}.sort_key()));
    EXPECT_LT((PciAddress{0, 0xff, 0x1f, 7}.sort_key()), (PciAddress{1, 0, 0, 0}.sort_key()));
}

// --- Mechanisms --------------------------------------------------------------

TEST(PciEcam, OffsetsFollowTheSpecification) {
    EXPECT_EQ(sluice::pci::ecam_offset(0, 0, 0, 0), 0u);
    EXPECT_EQ(sluice::pci::ecam_offset(1, 2, 3, 0x44), (1u << 20) | (2u << 15) | (3u << 12) | 0x44u);
    EXPECT_EQ(sluice::pci::ecam_offset(PciAddress{0, 0xff, 0x1f, 7}, 0xffc), 0x0ffffffcu);
    EXPECT_EQ(sluice::pci::ecam_offset(PciAddress{0, 0, 3, 0}, 0x100), 0x18100u);
}

TEST(PciEcam, ReachesOnlyItsWindowsAndUsesTheirOffsets) {
    SimulatedConfigurationSpace space;
    space.add_function(0x10, 3, 2, 0x1234, 0x5678, 0x030000);
    space.add_function(0x0f, 0, 0, 0x1111, 0x2222, 0x030000);
    SimulatedEcamRegion region(space, 0x10, 16 * sluice::MiB);
    sluice::pci::EcamConfigurationAccess ecam;
    ASSERT_TRUE(ecam.add_window({0, 0x10, 0x1f, 0xc0000000, &region}).ok());

    const PciAddress function{0, 0x10, 3, 2};
    EXPECT_EQ(ecam.read(function, ConfigurationRegister16::vendor_id), 0x1234);
    EXPECT_EQ(ecam.read(function, ConfigurationRegister32::identification), 0x56781234u);
    ASSERT_EQ(region.offsets.size(), 2u);
    EXPECT_EQ(region.offsets[0], (3u << 15) | (2u << 12));  // bus 0x10 is the window's first

    // Outside the window (bus 0x0f, segment 1): all ones, and no access at all.
    EXPECT_EQ(ecam.read(PciAddress{0, 0x0f, 0, 0}, ConfigurationRegister16::vendor_id), 0xffff);
    EXPECT_EQ(ecam.read(PciAddress{1, 0x10, 3, 2}, ConfigurationRegister16::vendor_id), 0xffff);
    EXPECT_EQ(region.offsets.size(), 2u);

    // The extended space is reachable; misaligned accesses and those past 4 KiB are not.
    ecam.write32(function, 0x100, 0xcafef00d);
    EXPECT_EQ(ecam.read32(function, 0x100), 0xcafef00du);
    EXPECT_EQ(ecam.read8(function, 0x103), 0xca);
    EXPECT_EQ(ecam.read16(function, 0x101), 0xffff);
    EXPECT_EQ(ecam.read32(function, 0x102), 0xffffffffu);
    EXPECT_EQ(ecam.read32(function, 0xffc), 0u);
    EXPECT_EQ(ecam.read32(function, 0x1000), 0xffffffffu);
    EXPECT_EQ(ecam.read8(PciAddress{0, 0x10, 32, 0}, 0), 0xff);
    const size_t before = region.offsets.size();
    ecam.write16(function, 0x101, 0xbeef);
    EXPECT_EQ(region.offsets.size(), before);
    EXPECT_EQ(region.offsets.back(), (3u << 15) | (2u << 12) | 0xffcu);
}

TEST(PciEcam, RefusesBadWindows) {
    SimulatedConfigurationSpace space;
    SimulatedEcamRegion small(space, 0, 2 * sluice::MiB);
    SimulatedEcamRegion large(space, 0, 256 * sluice::MiB);
    sluice::pci::EcamConfigurationAccess ecam;
    EXPECT_EQ(ecam.add_window({0, 0, 0, 0, nullptr}).error(), Error::invalid_argument);
    EXPECT_EQ(ecam.add_window({0, 5, 4, 0, &large}).error(), Error::invalid_argument);
    EXPECT_EQ(ecam.add_window({0, 0, 2, 0, &small}).error(), Error::invalid_argument);
    ASSERT_TRUE(ecam.add_window({0, 0, 1, 0, &small}).ok());
    EXPECT_EQ(ecam.add_window({0, 1, 3, 0, &large}).error(), Error::overlap);
    ASSERT_TRUE(ecam.add_window({0, 2, 3, 0, &large}).ok());
    ASSERT_TRUE(ecam.add_window({1, 0, 1, 0, &large}).ok());
    for (uint16_t segment = 2; segment < sluice::pci::EcamConfigurationAccess::capacity - 1; ++segment)
        ASSERT_TRUE(ecam.add_window({segment, 0, 0, 0, &large}).ok());
    EXPECT_EQ(ecam.add_window({100, 0, 0, 0, &large}).error(), Error::capacity);
    EXPECT_EQ(ecam.windows().size(), sluice::pci::EcamConfigurationAccess::capacity);
}

TEST(PciPorts, ConfigurationAddressFollowsMechanismOne) {
    EXPECT_EQ(sluice::pci::configuration_address(PciAddress{0, 1, 2, 3}, 0x44), 0x80011344u);
    EXPECT_EQ(sluice::pci::configuration_address(PciAddress{0, 1, 2, 3}, 0x47), 0x80011344u);
    EXPECT_EQ(sluice::pci::configuration_address(PciAddress{0, 0xff, 0x1f, 7}, 0xfc), 0x80fffffcu);
    EXPECT_EQ(sluice::pci::configuration_address(PciAddress{0, 0, 0, 0}, 0), 0x80000000u);
}

TEST(PciConfiguration, ConventionalSpaceStopsAt256Bytes) {
    SimulatedConfigurationSpace space;
    space.add_function(0, 0, 0, 0x8086, 0x29c0, 0x060000);
    SimulatedAccess ports(space, sluice::pci::conventional_configuration_space_size);
    const PciAddress host{0, 0, 0, 0};
    EXPECT_EQ(ports.read32(host, 0xfc), 0u);
    EXPECT_EQ(ports.read32(host, 0x100), 0xffffffffu);
    EXPECT_EQ(ports.read8(PciAddress{1, 0, 0, 0}, 0), 0xff);
    const unsigned before = ports.register_accesses;
    ports.write32(host, 0x100, 1);
    ports.write8(PciAddress{1, 0, 0, 0}, 0, 1);
    EXPECT_EQ(ports.register_accesses, before);
    ports.write(host, ConfigurationRegister16::command, 0x0006);
    EXPECT_EQ(ports.read(host, ConfigurationRegister16::command), 0x0006);
    EXPECT_EQ(ports.read(host, ConfigurationRegister8::class_code), 0x06);
}

// --- Enumeration ---------------------------------------------------------------

TEST(PciEnumeration, FindsEveryFunctionBehindBridges) {
    LogCapture log;
    SimulatedConfigurationSpace space;
    build_typical_machine(space);
    SimulatedAccess access(space, sluice::pci::extended_configuration_space_size);
    DeviceList devices;
    const auto summary = sluice::pci::enumerate(access, devices);
    EXPECT_EQ(addresses_of(devices), typical_addresses);
    EXPECT_EQ(summary.functions_found, 9u);
    EXPECT_EQ(summary.functions_dropped, 0u);
    EXPECT_EQ(summary.buses_scanned, 3u);
    EXPECT_EQ(devices.bus_count(), 3u);
    EXPECT_TRUE(log.warnings().empty()) << log.all();

    const Device sata = devices.find(PciAddress{0, 0, 1, 0}).value();
    EXPECT_TRUE(sata.multi_function);
    EXPECT_EQ(sata.vendor_id, 0x8086);
    EXPECT_EQ(sata.device_id, 0x2922);
    EXPECT_EQ(sata.class_code, 0x01);
    EXPECT_EQ(sata.subclass, 0x06);
    EXPECT_EQ(sata.programming_interface, 0x01);
    EXPECT_EQ(sata.revision_id, 0x01);
    EXPECT_EQ(sata.header_type, 0);
    const Device bridge = devices.find(PciAddress{0, 0, 0x1e, 0}).value();
    EXPECT_TRUE(bridge.is_bridge());
    EXPECT_EQ(bridge.secondary_bus, 1);
    EXPECT_EQ(bridge.subordinate_bus, 2);
    const Device edu = devices.find(PciAddress{0, 0, 3, 0}).value();
    EXPECT_FALSE(edu.is_bridge());
    EXPECT_EQ(edu.class_triple(), 0x00ff00u);
    EXPECT_FALSE(devices.find(PciAddress{0, 0, 2, 1}).has_value());
}

TEST(PciEnumeration, ThroughEcamGivesTheSameDevices) {
    SimulatedConfigurationSpace space;
    build_typical_machine(space);
    SimulatedEcamRegion region(space, 0, 256 * sluice::MiB);
    sluice::pci::EcamConfigurationAccess ecam;
    ASSERT_TRUE(ecam.add_window({0, 0, 0xff, 0xb0000000, &region}).ok());
    DeviceList devices;
    (void)sluice::pci::enumerate(ecam, devices);
    EXPECT_EQ(addresses_of(devices), typical_addresses);
    EXPECT_EQ(devices.find(PciAddress{0, 2, 0, 0}).value().device_id, 0x1001);
}

TEST(PciEnumeration, ABridgeLoopIsScannedOnce) {
    LogCapture log;
    SimulatedConfigurationSpace space;
    space.add_function(0, 0, 0, 0x8086, 0x29c0, 0x060000);
    space.add_bridge(0, 1, 0, 1, 2);
    space.add_bridge(1, 0, 0, 1, 1);  // names its own bus
    space.add_bridge(1, 1, 0, 2, 2);
    space.add_bridge(2, 0, 0, 1, 1);  // back up to bus 1
    space.add_bridge(2, 1, 0, 0, 0);  // never configured
    space.add_function(2, 2, 0, 0x1af4, 0x1000, 0x020000);
    SimulatedAccess access(space, sluice::pci::extended_configuration_space_size);
    DeviceList devices;
    const auto summary = sluice::pci::enumerate(access, devices);
    EXPECT_EQ(summary.buses_scanned, 3u);
    EXPECT_EQ(devices.size(), 7u);
    EXPECT_EQ(space.probes_of_bus(0), 1u);
    EXPECT_EQ(space.probes_of_bus(1), 1u);
    EXPECT_EQ(space.probes_of_bus(2), 1u);
    EXPECT_EQ(log.count_warnings("bridge 0000:01:00.0 names secondary bus 01, which is scanned already"), 1u)
        << log.all();
    EXPECT_EQ(log.count_warnings("bridge 0000:02:00.0 names secondary bus 01, which is scanned already"), 1u)
        << log.all();
    EXPECT_EQ(log.count_warnings("bridge 0000:02:01.0 has no secondary bus number"), 1u) << log.all();
}

TEST(PciEnumeration, AFullListWarnsOnce) {
    LogCapture log;
    SimulatedConfigurationSpace space;
    for (uint8_t device = 0; device < 32; ++device)
        for (uint8_t function = 0; function < 8; ++function) {
            if (device == 31 && function == 7) space.add_bridge(0, device, function, 1, 1);
            else space.add_function(0, device, function, 0x1af4, 0x1000, 0x020000, function == 0 ? 0x80 : 0);
        }
    space.add_function(1, 0, 0, 0x1af4, 0x1000, 0x020000);
    space.add_function(1, 1, 0, 0x1af4, 0x1000, 0x020000);
    SimulatedAccess access(space, sluice::pci::extended_configuration_space_size);
    DeviceList devices;
    const auto summary = sluice::pci::enumerate(access, devices);
    EXPECT_EQ(devices.size(), DeviceList::capacity);
    EXPECT_EQ(summary.functions_found, 258u);
    EXPECT_EQ(summary.functions_dropped, 2u);
    EXPECT_EQ(summary.buses_scanned, 2u);
    EXPECT_EQ(log.count_warnings("device list full (256 functions); 0000:01:00.0 and later"), 1u) << log.all();
    EXPECT_EQ(log.warnings().size(), 1u) << log.all();
}

TEST(PciEnumeration, BusesOutOfReachAreReported) {
    LogCapture log;
    SimulatedConfigurationSpace space;
    space.add_bridge(0, 0, 0, 0x20, 0x20);
    space.add_function(0x20, 0, 0, 0x1af4, 0x1000, 0x020000);
    SimulatedEcamRegion region(space, 0, 16 * sluice::MiB);
    sluice::pci::EcamConfigurationAccess ecam;
    ASSERT_TRUE(ecam.add_window({0, 0, 0x0f, 0xb0000000, &region}).ok());
    DeviceList devices;
    const auto summary = sluice::pci::enumerate(ecam, devices);
    EXPECT_EQ(devices.size(), 1u);
    EXPECT_EQ(summary.buses_scanned, 1u);
    EXPECT_EQ(log.count_warnings("0000:20 is beyond the reach of ECAM"), 1u) << log.all();
}

TEST(PciEnumeration, PrintsOneLinePerFunctionAndASummary) {
    SimulatedConfigurationSpace space;
    build_typical_machine(space);
    SimulatedAccess access(space, sluice::pci::extended_configuration_space_size);
    DeviceList devices;
    (void)sluice::pci::enumerate(access, devices);
    LogCapture log;
    sluice::pci::print(devices);
    EXPECT_EQ(log.lines().size(), 10u) << log.all();
    EXPECT_TRUE(log.has_line("pci: 0000:00:00.0 8086:29c0 class 060000 host bridge")) << log.all();
    EXPECT_TRUE(log.has_line("pci: 0000:00:01.0 8086:2922 class 010601 SATA controller")) << log.all();
    EXPECT_TRUE(log.has_line("pci: 0000:00:03.0 1234:11e8 class 00ff00 unclassified")) << log.all();
    EXPECT_TRUE(log.has_line("pci: 0000:00:1e.0 8086:244e class 060401 PCI bridge, secondary bus 01")) << log.all();
    EXPECT_TRUE(log.has_line("pci: 9 devices on 3 buses")) << log.all();
}

TEST(PciEnumeration, ClassNames) {
    EXPECT_STREQ(sluice::pci::class_name(0x06, 0x01, 0x00), "ISA bridge");
    EXPECT_STREQ(sluice::pci::class_name(0x03, 0x00, 0x00), "VGA controller");
    EXPECT_STREQ(sluice::pci::class_name(0x02, 0x00, 0x00), "Ethernet controller");
    EXPECT_STREQ(sluice::pci::class_name(0x08, 0x06, 0x00), "IOMMU");
    EXPECT_STREQ(sluice::pci::class_name(0x01, 0x08, 0x02), "NVMe controller");
    EXPECT_STREQ(sluice::pci::class_name(0x0c, 0x05, 0x00), "SMBus controller");
    EXPECT_STREQ(sluice::pci::class_name(0x42, 0x00, 0x00), "unknown class");
}

TEST(PciDeviceList, RefusesDuplicatesAndOverflow) {
    DeviceList devices;
    Device device;
    for (size_t index = 0; index < DeviceList::capacity; ++index) {
        device.address = PciAddress{0, static_cast<uint8_t>(index / 32), static_cast<uint8_t>(index % 32), 0};
        ASSERT_TRUE(devices.add(device).ok());
    }
    EXPECT_EQ(devices.add(device).error(), Error::already_exists);
    device.address = PciAddress{1, 0, 0, 0};
    EXPECT_EQ(devices.add(device).error(), Error::capacity);
    EXPECT_EQ(devices.bus_count(), 8u);
    devices.clear();
    EXPECT_EQ(devices.size(), 0u);
}

// --- Choosing the mechanism ------------------------------------------------------

class SimulatedMapper final : public sluice::pci::MmioMapper {
public:
    explicit SimulatedMapper(SimulatedConfigurationSpace& space) : space_(space) {}

    sluice::Result<sluice::pci::MmioRegion*> map(sluice::PhysicalAddress base, uint64_t size) override {
        requests.emplace_back(base, size);
        if (refuse) return Error::unsupported;
        // The window's first bus follows from where it starts in the MCFG's
        // 256-bus layout (base_address is 1 MiB aligned in every test).
        const auto start_bus = static_cast<uint8_t>((base - mcfg_base) >> 20);
        regions.push_back(std::make_unique<SimulatedEcamRegion>(space_, start_bus, size));
        regions.back()->decodes = decodes;
        return static_cast<sluice::pci::MmioRegion*>(regions.back().get());
    }

    sluice::PhysicalAddress mcfg_base = 0xb0000000;
    bool refuse = false;
    bool decodes = true;
    std::vector<std::pair<sluice::PhysicalAddress, uint64_t>> requests;
    std::vector<std::unique_ptr<SimulatedEcamRegion>> regions;

private:
    SimulatedConfigurationSpace& space_;
};

struct SelectionCase {
    SimulatedConfigurationSpace space;
    sluice::testing::SimulatedMemory memory{0x10000, 0x1000};
    sluice::acpi::TableDirectory directory;
    SimulatedMapper mapper{space};
    sluice::pci::EcamConfigurationAccess ecam;
    SimulatedAccess ports{space, sluice::pci::conventional_configuration_space_size};

    SelectionCase() { space.add_function(0, 0, 0, 0x8086, 0x29c0, 0x060000); }

    // An MCFG at 0x10000 with the given (base, segment, start, end) allocations.
    void add_mcfg(const std::vector<std::tuple<uint64_t, uint16_t, uint8_t, uint8_t>>& allocations) {
        std::vector<uint8_t> bytes(44 + 16 * allocations.size(), 0);
        std::memcpy(bytes.data(), "MCFG", 4);
        const auto length = static_cast<uint32_t>(bytes.size());
        std::memcpy(bytes.data() + 4, &length, 4);
        for (size_t index = 0; index < allocations.size(); ++index) {
            const auto& [base, segment, start, end] = allocations[index];
            std::memcpy(bytes.data() + 44 + 16 * index, &base, 8);
            std::memcpy(bytes.data() + 44 + 16 * index + 8, &segment, 2);
            bytes[44 + 16 * index + 10] = start;
            bytes[44 + 16 * index + 11] = end;
        }
        ASSERT_TRUE(memory.write_bytes(0x10000, bytes.data(), bytes.size()).ok());
        sluice::acpi::TableDescription table;
        table.signature = sluice::acpi::Signature("MCFG");
        table.address = 0x10000;
        table.length = length;
        ASSERT_TRUE(directory.add(table).ok());
    }
    sluice::pci::ConfigurationAccess& select() {
        return sluice::pci::select_configuration_access(directory, memory, mapper, ecam, ports);
    }
};

TEST(PciSelection, PrefersEcamFromTheMcfg) {
    LogCapture log;
    SelectionCase test;
    test.add_mcfg({{0xb0000000, 0, 0, 0xff}, {0xe0000000, 1, 0, 0x3f}});
    sluice::pci::ConfigurationAccess& chosen = test.select();
    EXPECT_EQ(&chosen, &test.ecam);
    ASSERT_EQ(test.mapper.requests.size(), 2u);
    EXPECT_EQ(test.mapper.requests[0], std::make_pair(sluice::PhysicalAddress{0xb0000000}, 256 * sluice::MiB));
    EXPECT_EQ(test.ecam.windows().size(), 2u);
    EXPECT_TRUE(log.has_line("pci: configuration access through ECAM: segment 0000 buses 00-ff at 0x00000000b0000000"))
        << log.all();
    EXPECT_EQ(chosen.read(PciAddress{0, 0, 0, 0}, ConfigurationRegister16::device_id), 0x29c0);
}

TEST(PciSelection, MapsOnlyTheBusesAWindowDecodes) {
    LogCapture log;
    SelectionCase test;
    test.add_mcfg({{0xb0000000, 0, 0, 0x3f}, {0xb0000000, 0, 0x80, 0x8f}});
    EXPECT_EQ(&test.select(), &test.ecam);
    ASSERT_EQ(test.mapper.requests.size(), 2u);
    EXPECT_EQ(test.mapper.requests[1], std::make_pair(sluice::PhysicalAddress{0xb8000000}, 16 * sluice::MiB));
    EXPECT_TRUE(test.ecam.reaches(PciAddress{0, 0x85, 0, 0}));
    EXPECT_FALSE(test.ecam.reaches(PciAddress{0, 0x40, 0, 0}));
}

TEST(PciSelection, UsesThePortsWithoutAnMcfg) {
    LogCapture log;
    SelectionCase test;
    EXPECT_EQ(&test.select(), &test.ports);
    EXPECT_TRUE(log.has_line("pci: configuration access through simulated ports (no ECAM window for bus 0000:00)"))
        << log.all();
}

TEST(PciSelection, UsesThePortsWhenSegmentZeroHasNoWindow) {
    LogCapture log;
    SelectionCase test;
    test.add_mcfg({{0xb0000000, 1, 0, 0xff}, {0xc0000000, 0, 1, 0xff}});
    EXPECT_EQ(&test.select(), &test.ports);
}

TEST(PciSelection, UsesThePortsWhenTheWindowCannotBeMapped) {
    LogCapture log;
    SelectionCase test;
    test.add_mcfg({{0xb0000000, 0, 0, 0xff}});
    test.mapper.refuse = true;
    EXPECT_EQ(&test.select(), &test.ports);
    EXPECT_EQ(log.count_warnings("ECAM window of segment 0000 buses 00-ff at 0x00000000b0000000 cannot be mapped"),
              1u)
        << log.all();
}

TEST(PciSelection, UsesThePortsWhenEcamDoesNotDecode) {
    LogCapture log;
    SelectionCase test;
    test.add_mcfg({{0xb0000000, 0, 0, 0xff}});
    test.mapper.decodes = false;
    EXPECT_EQ(&test.select(), &test.ports);
    EXPECT_EQ(log.count_warnings("ECAM reads identification ffffffff at 0000:00:00.0 but simulated ports read "
                                 "29c08086; using simulated ports"),
              1u)
        << log.all();
}

}  // namespace
