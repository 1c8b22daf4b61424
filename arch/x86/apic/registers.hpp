// Local APIC and I/O APIC registers, named as their specifications name them:
// the local APIC from Intel SDM Vol. 3A chapter 11 "Advanced Programmable
// Interrupt Controller (APIC)" (table 11-1 "Local APIC Register Address Map",
// table 11-6 "Local APIC Register Address Map Supported by x2APIC"); the
// I/O APIC from the Intel 82093AA I/O APIC datasheet (order number 290566),
// section 3.
//
// Offsets are enum classes by width: every local APIC register this layer
// uses is 32 bits wide in both modes (the 64-bit x2APIC ICR is not used yet),
// and every I/O APIC register is reached as 32 bits through IOWIN. Register
// values are small value types that decode or build the fields by name;
// nothing here touches hardware.
#pragma once

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::apic {

// --- Local APIC ------------------------------------------------------------------

// Table 11-1: xAPIC MMIO offsets from the APIC base. In x2APIC mode the same
// register is MSR 0x800 + offset / 16 (section 11.12.1.2).
enum class LocalApicRegister32 : uint32_t {
    id = 0x020,                          // Local APIC ID Register
    version = 0x030,                     // Local APIC Version Register
    task_priority = 0x080,               // TPR
    processor_priority = 0x0a0,          // PPR
    end_of_interrupt = 0x0b0,            // EOI Register (write only)
    spurious_interrupt_vector = 0x0f0,   // SVR
    in_service_base = 0x100,             // ISR bits 31:0; ISR n at 0x100 + 0x10 * n
    trigger_mode_base = 0x180,           // TMR bits 31:0
    interrupt_request_base = 0x200,      // IRR bits 31:0; IRR n at 0x200 + 0x10 * n
    error_status = 0x280,                // ESR
    lvt_corrected_machine_check = 0x2f0, // LVT CMCI
    lvt_timer = 0x320,
    lvt_thermal_sensor = 0x330,
    lvt_performance_monitoring = 0x340,
    lvt_lint0 = 0x350,
    lvt_lint1 = 0x360,
    lvt_error = 0x370,
    timer_initial_count = 0x380,
    timer_current_count = 0x390,         // read only
    timer_divide_configuration = 0x3e0,
};

[[nodiscard]] constexpr uint32_t offset_of(LocalApicRegister32 reg) { return static_cast<uint32_t>(reg); }
// Section 11.12.1.2: the x2APIC MSR of an xAPIC register.
inline constexpr uint32_t x2apic_msr_base = 0x800;
[[nodiscard]] constexpr uint32_t x2apic_msr_of(LocalApicRegister32 reg) { return x2apic_msr_base + (offset_of(reg) >> 4); }

// The 32-bit register holding bit `vector` of the 256-bit IRR or ISR.
[[nodiscard]] constexpr LocalApicRegister32 interrupt_request_register(uint8_t vector) {
    return static_cast<LocalApicRegister32>(offset_of(LocalApicRegister32::interrupt_request_base) + 0x10u * (vector / 32u));
}
[[nodiscard]] constexpr LocalApicRegister32 in_service_register(uint8_t vector) {
    return static_cast<LocalApicRegister32>(offset_of(LocalApicRegister32::in_service_base) + 0x10u * (vector / 32u));
}

// Section 11.4.6, figure 11-6 "Local APIC ID Register": bits 31:24 in xAPIC
// mode; section 11.12.5.1: all 32 bits in x2APIC mode.
[[nodiscard]] constexpr uint32_t decode_local_apic_id(uint32_t value, bool x2apic) {
    return x2apic ? value : static_cast<uint32_t>(extract_bits(value, 31, 24));
}

// Section 11.4.8, figure 11-7 "Local APIC Version Register".
struct LocalApicVersion {
    uint32_t value = 0;
    [[nodiscard]] constexpr unsigned version() const { return static_cast<unsigned>(extract_bits(value, 7, 0)); }
    // Max LVT Entry, bits 23:16: the number of LVT entries minus 1.
    [[nodiscard]] constexpr unsigned lvt_entries() const { return static_cast<unsigned>(extract_bits(value, 23, 16)) + 1; }
    [[nodiscard]] constexpr bool eoi_broadcast_suppression() const { return extract_bits(value, 24, 24) != 0; }
};

// Section 11.9, figure 11-23 "Spurious-Interrupt Vector Register (SVR)".
struct SpuriousInterruptVector {
    uint32_t value = 0;
    static constexpr uint32_t apic_software_enable = 1u << 8;
    static constexpr uint32_t focus_processor_checking_disabled = 1u << 9;
    static constexpr uint32_t eoi_broadcast_suppression = 1u << 12;

    [[nodiscard]] constexpr uint8_t vector() const { return static_cast<uint8_t>(value & 0xff); }
    [[nodiscard]] constexpr bool enabled() const { return (value & apic_software_enable) != 0; }
    // The register with the vector replaced and the APIC software-enabled;
    // the other bits (reserved or model specific) are kept.
    [[nodiscard]] constexpr SpuriousInterruptVector enabled_with(uint8_t vector) const {
        return SpuriousInterruptVector{(value & ~uint32_t{0xff}) | vector | apic_software_enable};
    }
};

// Section 11.5.1, figure 11-8 "Local Vector Table (LVT)".
enum class TimerMode : uint8_t { one_shot = 0b00, periodic = 0b01, tsc_deadline = 0b10 };
enum class LvtDeliveryMode : uint8_t { fixed = 0b000, smi = 0b010, nmi = 0b100, init = 0b101, extint = 0b111 };

struct LocalVectorTableEntry {
    uint32_t value = 0;
    static constexpr uint32_t delivery_status = 1u << 12;  // send pending (read only)
    static constexpr uint32_t input_polarity_low = 1u << 13;  // LINT0/1 only
    static constexpr uint32_t remote_irr = 1u << 14;        // LINT0/1 only
    static constexpr uint32_t level_triggered = 1u << 15;   // LINT0/1 only
    static constexpr uint32_t masked = 1u << 16;

    [[nodiscard]] constexpr uint8_t vector() const { return static_cast<uint8_t>(value & 0xff); }
    [[nodiscard]] constexpr LvtDeliveryMode delivery_mode() const {
        return static_cast<LvtDeliveryMode>(extract_bits(value, 10, 8));
    }
    [[nodiscard]] constexpr bool is_masked() const { return (value & masked) != 0; }
    // Bits 18:17 of the timer entry.
    [[nodiscard]] constexpr TimerMode timer_mode() const { return static_cast<TimerMode>(extract_bits(value, 18, 17)); }

    // A timer entry: vector, mode, unmasked (section 11.5.4).
    [[nodiscard]] static constexpr LocalVectorTableEntry timer(uint8_t vector, TimerMode mode) {
        return LocalVectorTableEntry{vector | (static_cast<uint32_t>(mode) << 17)};
    }
    // An entry masked with nothing else set: the reset value (section 11.4.7.1).
    [[nodiscard]] static constexpr LocalVectorTableEntry masked_entry() { return LocalVectorTableEntry{masked}; }
};

// Section 11.5.4, figure 11-10 "Divide Configuration Register": bits 3, 1
// and 0 select the divisor of the timer's input clock.
enum class TimerDivide : uint32_t {
    by_2 = 0b0000,
    by_4 = 0b0001,
    by_8 = 0b0010,
    by_16 = 0b0011,
    by_32 = 0b1000,
    by_64 = 0b1001,
    by_128 = 0b1010,
    by_1 = 0b1011,
};

// Section 11.4.4, figure 11-5 "IA32_APIC_BASE MSR".
inline constexpr uint32_t ia32_apic_base_msr = 0x1b;
struct ApicBase {
    uint64_t value = 0;
    static constexpr uint64_t bootstrap_processor = uint64_t{1} << 8;  // BSP flag
    static constexpr uint64_t x2apic_enable = uint64_t{1} << 10;      // EXTD (section 11.12.1)
    static constexpr uint64_t apic_global_enable = uint64_t{1} << 11;  // EN
    static constexpr uint64_t base_mask = 0x000ffffffffff000;          // bits 51:12 (MAXPHYADDR at most 52)

    [[nodiscard]] constexpr PhysicalAddress base() const { return value & base_mask; }
    [[nodiscard]] constexpr bool enabled() const { return (value & apic_global_enable) != 0; }
    [[nodiscard]] constexpr bool x2apic() const { return (value & x2apic_enable) != 0; }
    [[nodiscard]] constexpr bool bootstrap() const { return (value & bootstrap_processor) != 0; }
};

// Section 11.5.4.1: the TSC-deadline timer's target.
inline constexpr uint32_t ia32_tsc_deadline_msr = 0x6e0;

// CPUID.01H (Intel SDM Vol. 2A, table 3-10 "Feature Information Returned in
// the ECX Register", table 3-11 for EDX).
inline constexpr uint32_t cpuid1_ecx_x2apic = 1u << 21;
inline constexpr uint32_t cpuid1_ecx_tsc_deadline = 1u << 24;
inline constexpr uint32_t cpuid1_edx_apic = 1u << 9;

// --- I/O APIC --------------------------------------------------------------------

// 82093AA datasheet section 3.0 "Register Description": the two directly
// addressed registers, at these offsets from the I/O APIC's base.
enum class IoApicWindowRegister32 : uint32_t {
    register_select = 0x00,  // IOREGSEL: bits 7:0 select the indirect register
    window = 0x10,           // IOWIN: the selected register
};
[[nodiscard]] constexpr uint32_t offset_of(IoApicWindowRegister32 reg) { return static_cast<uint32_t>(reg); }
inline constexpr uint64_t io_apic_window_size = 0x20;

// Section 3.0, table 2 "IOAPIC Registers": the indirect ones, as IOREGSEL
// indexes them.
enum class IoApicRegister32 : uint8_t {
    identification = 0x00,  // IOAPICID
    version = 0x01,         // IOAPICVER
    arbitration = 0x02,     // IOAPICARB
};
[[nodiscard]] constexpr uint8_t index_of(IoApicRegister32 reg) { return static_cast<uint8_t>(reg); }
// Section 3.2.4: redirection table entry n is IOREDTBL n at 0x10 + 2n (bits
// 31:0) and 0x11 + 2n (bits 63:32).
[[nodiscard]] constexpr uint8_t redirection_entry_low_index(unsigned pin) { return static_cast<uint8_t>(0x10 + 2 * pin); }
[[nodiscard]] constexpr uint8_t redirection_entry_high_index(unsigned pin) { return static_cast<uint8_t>(0x11 + 2 * pin); }
// IOREGSEL has 8 bits: at most (0xff - 0x10) / 2 + 1 = 120 entries can be addressed.
inline constexpr unsigned io_apic_max_pins = 120;

// Section 3.2.1 "IOAPICID": the ID in bits 27:24 (the 82093AA has 4 bits;
// later chipsets use 31:24, so all eight are read).
[[nodiscard]] constexpr uint8_t decode_io_apic_id(uint32_t value) {
    return static_cast<uint8_t>(extract_bits(value, 31, 24));
}

// Section 3.2.2 "IOAPICVER".
struct IoApicVersion {
    uint32_t value = 0;
    [[nodiscard]] constexpr unsigned version() const { return static_cast<unsigned>(extract_bits(value, 7, 0)); }
    // Maximum Redirection Entry, bits 23:16: the number of pins minus 1.
    [[nodiscard]] constexpr unsigned pins() const { return static_cast<unsigned>(extract_bits(value, 23, 16)) + 1; }
};

// Section 3.2.4 "IOREDTBL[23:0]": one 64-bit redirection entry.
struct RedirectionEntry {
    uint64_t value = 0;
    static constexpr uint64_t destination_logical = uint64_t{1} << 11;
    static constexpr uint64_t delivery_status = uint64_t{1} << 12;
    static constexpr uint64_t polarity_low = uint64_t{1} << 13;
    static constexpr uint64_t remote_irr = uint64_t{1} << 14;
    static constexpr uint64_t level_triggered = uint64_t{1} << 15;
    static constexpr uint64_t masked = uint64_t{1} << 16;

    [[nodiscard]] constexpr uint32_t low() const { return static_cast<uint32_t>(value); }
    [[nodiscard]] constexpr uint32_t high() const { return static_cast<uint32_t>(value >> 32); }
    [[nodiscard]] constexpr bool is_masked() const { return (value & masked) != 0; }
    [[nodiscard]] constexpr uint8_t vector() const { return static_cast<uint8_t>(value & 0xff); }

    // What boot leaves in every entry: masked, and otherwise the reset value
    // (section 3.2.4: fixed delivery, physical destination 0, edge, high).
    [[nodiscard]] static constexpr RedirectionEntry masked_entry() { return RedirectionEntry{masked}; }
};

}  // namespace sluice::x86::apic
