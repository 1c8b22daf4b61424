// The local APIC, Intel SDM Vol. 3A chapter 11: software enable with a
// spurious vector, task priority 0, EOI, the IRR and ISR bits. The registers
// are reached through LocalApicRegisters, so the same code drives the xAPIC
// (MMIO at the MADT's address, section 11.4.1) and the x2APIC (MSRs, section
// 11.12), and host tests drive a register model.
#pragma once

#include <arch/x86/apic/registers.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/types.hpp>

namespace sluice::x86::apic {

// One local APIC's 32-bit registers (section 11.4.1 for xAPIC MMIO, section
// 11.12.1.2 for x2APIC MSRs).
class LocalApicRegisters {
public:
    [[nodiscard]] virtual uint32_t read(LocalApicRegister32 reg) = 0;
    virtual void write(LocalApicRegister32 reg, uint32_t value) = 0;
    // True in x2APIC mode: the ID register is 32 bits wide (section 11.12.5.1).
    [[nodiscard]] virtual bool x2apic() const = 0;

protected:
    ~LocalApicRegisters() = default;
};

// The xAPIC's registers in a 4 KiB MMIO window (section 11.4.1: each is
// 32 bits at a 16-byte aligned offset and must be accessed as 32 bits).
class XapicMmioRegisters final : public LocalApicRegisters {
public:
    constexpr XapicMmioRegisters() = default;
    explicit constexpr XapicMmioRegisters(pci::MmioRegion& window) : window_(&window) {}

    [[nodiscard]] uint32_t read(LocalApicRegister32 reg) override { return window_->read32(offset_of(reg)); }
    void write(LocalApicRegister32 reg, uint32_t value) override { window_->write32(offset_of(reg), value); }
    [[nodiscard]] bool x2apic() const override { return false; }

private:
    pci::MmioRegion* window_ = nullptr;
};
inline constexpr uint64_t xapic_window_size = 0x1000;

class LocalApic {
public:
    constexpr LocalApic() = default;
    explicit constexpr LocalApic(LocalApicRegisters& registers) : registers_(&registers) {}

    [[nodiscard]] bool present() const { return registers_ != nullptr; }
    [[nodiscard]] LocalApicRegisters& registers() const { return *registers_; }

    // Brings the APIC to the state the hypervisor runs in: every LVT entry
    // the version register reports masked (the timer until it is armed,
    // LINT0 because the 8259s are masked and nothing arrives as ExtINT;
    // LINT1 keeps the firmware's NMI set-up), the error status cleared,
    // task priority 0 (section 11.8.3.1: every vector above 0x0f accepted)
    // and the APIC software-enabled with spurious_vector (section 11.9).
    void enable(uint8_t spurious_vector);

    [[nodiscard]] uint32_t id() const {
        return decode_local_apic_id(registers_->read(LocalApicRegister32::id), registers_->x2apic());
    }
    [[nodiscard]] LocalApicVersion version() const {
        return LocalApicVersion{registers_->read(LocalApicRegister32::version)};
    }

    // Section 11.8.5: a write of 0 to the EOI register ends the
    // highest-priority in-service interrupt.
    void end_of_interrupt() { registers_->write(LocalApicRegister32::end_of_interrupt, 0); }

    // Bit vector of the IRR (waiting to be delivered) and of the ISR
    // (delivered, no EOI yet): section 11.8.4.
    [[nodiscard]] bool interrupt_requested(uint8_t vector) const {
        return ((registers_->read(interrupt_request_register(vector)) >> (vector % 32)) & 1) != 0;
    }
    [[nodiscard]] bool in_service(uint8_t vector) const {
        return ((registers_->read(in_service_register(vector)) >> (vector % 32)) & 1) != 0;
    }

private:
    LocalApicRegisters* registers_ = nullptr;
};

}  // namespace sluice::x86::apic
