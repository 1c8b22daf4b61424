// QEMU's "edu" educational PCI device (PCI 1234:11e8; QEMU's
// docs/specs/edu.rst), driven the way a hardware domain's driver would: its
// DMA engine copies between memory (through the IOMMU) and a 4 KiB buffer
// inside the device. The DMA self-test uses it to check what the IOMMU lets
// through.
//
// Facts the driver respects (measured on QEMU 7.2):
// - the buffer is at 0x40000 in the device's own DMA space and not visible
//   through the BAR: data is only checked by copying it out again;
// - a transfer that ends exactly at the buffer's end (0x41000) aborts the
//   whole emulator, so transfers are at most 2048 bytes and end below it;
// - a DMA completes 100 ms (of virtual time, with -icount) after it starts;
// - addresses above the device's dma_mask (28 bits unless QEMU is given
//   dma_mask=...) are silently cut: the harness passes a 64-bit mask;
// - edu ignores DMA errors: a transfer the IOMMU blocks leaves its
//   destination unchanged, with nothing to tell but the IOMMU's fault record.
#pragma once

#include <drivers/pci/configuration.hpp>
#include <drivers/pci/enumeration.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/clock.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

class EduDevice {
public:
    static constexpr uint16_t vendor_id = 0x1234;
    static constexpr uint16_t device_id = 0x11e8;

    // BAR0 registers (edu.rst, "MMIO area spec"): 32-bit below 0x80, the DMA
    // registers 64-bit.
    enum class Register32 : uint32_t {
        identification = 0x00,         // 0x010000ed: major.minor version in bits 31:16, 0xed
        liveness = 0x04,               // reads back the inverse of what was written
        factorial = 0x08,
        status = 0x20,
        interrupt_status = 0x24,
        interrupt_raise = 0x60,
        interrupt_acknowledge = 0x64,
    };
    enum class Register64 : uint32_t {
        dma_source = 0x80,
        dma_destination = 0x88,
        dma_count = 0x90,
        dma_command = 0x98,
    };
    // DMA command register bits.
    static constexpr uint64_t command_start = 1u << 0;        // set to start; reads 1 until done
    static constexpr uint64_t command_to_memory = 1u << 1;    // direction: buffer -> memory (else memory -> buffer)
    static constexpr uint64_t command_raise_interrupt = 1u << 2;

    static constexpr uint64_t buffer_address = 0x40000;
    static constexpr uint64_t buffer_size = 4096;
    static constexpr uint32_t max_transfer = 2048;
    static constexpr uint64_t register_window = 0x1000;
    // The device's own delay is 100 ms; ten times that is a dead device.
    static constexpr uint64_t dma_timeout_nanoseconds = 1'000'000'000;

    // PCI command register bits (PCI Local Bus Specification 3.0, 6.2.2).
    static constexpr uint16_t command_memory_space = 1u << 1;
    static constexpr uint16_t command_bus_master = 1u << 2;

    [[nodiscard]] static constexpr bool matches(const Device& device) {
        return device.vendor_id == vendor_id && device.device_id == device_id;
    }

    // Finds BAR0, maps its registers, enables memory decoding and bus
    // mastering, and checks the device answers (identification, liveness).
    // Error::unsupported when BAR0 is not an assigned memory BAR,
    // Error::hardware_failure when the device does not answer as edu does.
    [[nodiscard]] static Result<EduDevice> open(const Device& device, ConfigurationAccess& configuration,
                                                MmioMapper& mmio, const Clock& clock);

    // Copies length bytes of memory at dma_address into the buffer at offset
    // (the device reads memory), and waits for the copy to finish.
    [[nodiscard]] Status copy_from_memory(uint64_t dma_address, uint32_t offset, uint32_t length);
    // Copies length bytes of the buffer at offset to memory at dma_address
    // (the device writes memory), and waits for it to finish.
    [[nodiscard]] Status copy_to_memory(uint32_t offset, uint64_t dma_address, uint32_t length);

    // Sets bits in the interrupt status register (edu.rst 0x60): with MSI
    // enabled the device sends its message once per raise.
    void raise_interrupt(uint32_t bits) const { write(Register32::interrupt_raise, bits); }
    void acknowledge_interrupt(uint32_t bits) const { write(Register32::interrupt_acknowledge, bits); }

    [[nodiscard]] const PciAddress& address() const { return address_; }
    [[nodiscard]] PhysicalAddress registers_base() const { return base_; }

private:
    EduDevice(const PciAddress& address, PhysicalAddress base, MmioRegion& registers, const Clock& clock)
        : address_(address), base_(base), registers_(&registers), clock_(&clock) {}

    [[nodiscard]] Status transfer(uint64_t source, uint64_t destination, uint32_t length, uint64_t direction);
    [[nodiscard]] uint32_t read(Register32 reg) const { return registers_->read32(static_cast<uint32_t>(reg)); }
    [[nodiscard]] uint64_t read(Register64 reg) const { return registers_->read64(static_cast<uint32_t>(reg)); }
    void write(Register32 reg, uint32_t value) const { registers_->write32(static_cast<uint32_t>(reg), value); }
    void write(Register64 reg, uint64_t value) const { registers_->write64(static_cast<uint32_t>(reg), value); }

    PciAddress address_;
    PhysicalAddress base_;
    MmioRegion* registers_;
    const Clock* clock_;
};

}  // namespace sluice::pci
