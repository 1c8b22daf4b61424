// The PCI Express Enhanced Configuration Access Mechanism (ECAM): every
// function's 4 KiB of configuration space is memory-mapped at a fixed offset
// inside a window the MCFG table describes.
#pragma once

#include <drivers/pci/configuration.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

// PCI Express Base Specification 6.0, section 7.2.2, table 7-1: the offset of
// a register from the address of bus 0 of the segment.
[[nodiscard]] constexpr uint64_t ecam_offset(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset) {
    return uint64_t{bus} << 20 | uint64_t{device & 0x1fu} << 15 | uint64_t{function & 0x7u} << 12 |
           uint64_t{offset & 0xfffu};
}
[[nodiscard]] constexpr uint64_t ecam_offset(const PciAddress& address, uint16_t offset) {
    return ecam_offset(address.bus, address.device, address.function, offset);
}

// Buses start_bus..end_bus of one segment; region's offset 0 is the
// configuration space of 00.0 on start_bus (the MCFG base plus start_bus << 20).
struct EcamWindow {
    uint16_t segment = 0;
    uint8_t start_bus = 0;
    uint8_t end_bus = 0;
    PhysicalAddress base_address = 0;  // of bus 0, as the MCFG gives it; for messages
    MmioRegion* region = nullptr;

    [[nodiscard]] constexpr bool covers(const PciAddress& address) const {
        return address.segment == segment && address.bus >= start_bus && address.bus <= end_bus;
    }
    // Bytes the window decodes: 1 MiB per bus.
    [[nodiscard]] constexpr uint64_t size() const { return static_cast<uint64_t>(end_bus - start_bus + 1) << 20; }
};

class EcamConfigurationAccess final : public ConfigurationAccess {
public:
    static constexpr size_t capacity = 8;

    // Error::invalid_argument for a missing region, a start bus above the end
    // bus or a region smaller than the window; Error::overlap when the buses
    // overlap another window of the segment; Error::capacity when full.
    [[nodiscard]] Status add_window(const EcamWindow& window);
    [[nodiscard]] Span<const EcamWindow> windows() const { return Span<const EcamWindow>(windows_, count_); }

    [[nodiscard]] bool reaches(const PciAddress& address) const override { return find(address) != nullptr; }
    [[nodiscard]] uint16_t space_size() const override { return extended_configuration_space_size; }
    [[nodiscard]] const char* name() const override { return "ECAM"; }

protected:
    [[nodiscard]] uint32_t read_register(const PciAddress& address, uint16_t offset, AccessWidth width) override;
    void write_register(const PciAddress& address, uint16_t offset, AccessWidth width, uint32_t value) override;

private:
    [[nodiscard]] const EcamWindow* find(const PciAddress& address) const;
    [[nodiscard]] static uint64_t region_offset(const EcamWindow& window, const PciAddress& address, uint16_t offset) {
        return ecam_offset(address, offset) - (uint64_t{window.start_bus} << 20);
    }

    EcamWindow windows_[capacity];
    size_t count_ = 0;
};

}  // namespace sluice::pci
