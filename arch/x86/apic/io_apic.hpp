// One I/O APIC (Intel 82093AA I/O APIC datasheet, section 3): the indirect
// registers behind IOREGSEL/IOWIN, the redirection table, and masking it
// whole at boot. The window is an MmioRegion, so host tests drive a model.
#pragma once

#include <arch/x86/apic/registers.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/types.hpp>

namespace sluice::x86::apic {

class IoApic {
public:
    constexpr IoApic() = default;
    explicit constexpr IoApic(pci::MmioRegion& window) : window_(&window) {}

    [[nodiscard]] bool present() const { return window_ != nullptr; }

    // Section 3.0: select the register in IOREGSEL, then access IOWIN.
    [[nodiscard]] uint32_t read(uint8_t index);
    void write(uint8_t index, uint32_t value);
    [[nodiscard]] uint32_t read(IoApicRegister32 reg) { return read(index_of(reg)); }

    [[nodiscard]] uint8_t id() { return decode_io_apic_id(read(IoApicRegister32::identification)); }
    [[nodiscard]] IoApicVersion version() { return IoApicVersion{read(IoApicRegister32::version)}; }
    // The pins the version register reports, at most io_apic_max_pins (the
    // rest could not be addressed through the 8-bit IOREGSEL).
    [[nodiscard]] unsigned pins();

    [[nodiscard]] RedirectionEntry read_entry(unsigned pin);
    // Writes the half holding the mask bit so the pin is never live with a
    // half-written entry: a masking write goes low dword first, an unmasking
    // one high dword (the destination) first.
    void write_entry(unsigned pin, RedirectionEntry entry);

    // Writes RedirectionEntry::masked_entry() to every pin; returns how many.
    unsigned mask_all();

private:
    pci::MmioRegion* window_ = nullptr;
};

}  // namespace sluice::x86::apic
