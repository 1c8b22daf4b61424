#include <drivers/pci/edu.hpp>

#include <sluice/log.hpp>

namespace sluice::pci {
namespace {

constexpr Logger logger{"edu"};

// PCI Local Bus Specification 3.0, 6.2.5.1: bit 0 clear is a memory BAR,
// bits 2:1 its type (00b 32-bit, 10b 64-bit), bits 31:4 the address.
constexpr uint32_t bar_io_space = 1u << 0;
constexpr uint32_t bar_type_mask = 3u << 1;
constexpr uint32_t bar_type_64 = 2u << 1;
constexpr uint32_t bar_address_mask = ~uint32_t{0xf};

// edu.rst: the identification register reads 0xRRrr00edh.
constexpr uint32_t identification_mask = 0xff;
constexpr uint32_t identification_value = 0xed;

}  // namespace

Result<EduDevice> EduDevice::open(const Device& device, ConfigurationAccess& configuration, MmioMapper& mmio,
                                  const Clock& clock) {
    const PciAddress& address = device.address;
    const PciAddressText name = describe(address);
    const uint32_t low = configuration.read(address, ConfigurationRegister32::base_address_0);
    if ((low & bar_io_space) != 0) {
        logger.error("%s: BAR0 is an I/O BAR, not edu's register window", name.c_str());
        return Error::unsupported;
    }
    PhysicalAddress base = low & bar_address_mask;
    if ((low & bar_type_mask) == bar_type_64)
        base |= static_cast<PhysicalAddress>(configuration.read(address, ConfigurationRegister32::base_address_1)) << 32;
    if (base == 0) {
        logger.error("%s: BAR0 is not assigned", name.c_str());
        return Error::unsupported;
    }
    const Result<MmioRegion*> registers = mmio.map(base, register_window);
    if (!registers.ok()) {
        logger.error("%s: registers at 0x%llx cannot be mapped: %s", name.c_str(), static_cast<unsigned long long>(base),
                     describe(registers.error()));
        return registers.error();
    }
    // Memory decoding for the registers, bus mastering for its DMA.
    const uint16_t command = configuration.read(address, ConfigurationRegister16::command);
    configuration.write(address, ConfigurationRegister16::command,
                        static_cast<uint16_t>(command | command_memory_space | command_bus_master));

    EduDevice edu(address, base, *registers.value(), clock);
    const uint32_t identification = edu.read(Register32::identification);
    constexpr uint32_t probe = 0x5a3c96e1;
    edu.write(Register32::liveness, probe);
    const uint32_t inverted = edu.read(Register32::liveness);
    if ((identification & identification_mask) != identification_value || inverted != ~probe) {
        logger.error("%s: does not answer as edu does (identification 0x%x, liveness 0x%x for 0x%x)", name.c_str(),
                     identification, inverted, probe);
        return Error::hardware_failure;
    }
    return edu;
}

Status EduDevice::transfer(uint64_t source, uint64_t destination, uint32_t length, uint64_t direction) {
    // Any wait for a previous transfer first: edu ignores register writes
    // while one runs.
    if (!poll_until(*clock_, dma_timeout_nanoseconds, [&] { return (read(Register64::dma_command) & command_start) == 0; }))
        return Error::timed_out;
    write(Register64::dma_source, source);
    write(Register64::dma_destination, destination);
    write(Register64::dma_count, length);
    write(Register64::dma_command, command_start | direction);
    if (!poll_until(*clock_, dma_timeout_nanoseconds, [&] { return (read(Register64::dma_command) & command_start) == 0; })) {
        logger.error("%s: DMA of %u bytes did not finish within %llu ms", describe(address_).c_str(), length,
                     static_cast<unsigned long long>(dma_timeout_nanoseconds / 1'000'000));
        return Error::timed_out;
    }
    return success();
}

Status EduDevice::copy_from_memory(uint64_t dma_address, uint32_t offset, uint32_t length) {
    if (length == 0 || length > max_transfer || offset + length >= buffer_size) return Error::invalid_argument;
    return transfer(dma_address, buffer_address + offset, length, 0);
}

Status EduDevice::copy_to_memory(uint32_t offset, uint64_t dma_address, uint32_t length) {
    if (length == 0 || length > max_transfer || offset + length >= buffer_size) return Error::invalid_argument;
    return transfer(buffer_address + offset, dma_address, length, command_to_memory);
}

}  // namespace sluice::pci
