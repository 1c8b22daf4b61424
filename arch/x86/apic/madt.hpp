// The Multiple APIC Description Table (MADT, signature "APIC"), ACPI 6.5
// section 5.2.12. Section numbers in this file are those of ACPI 6.5.
//
// parse_madt() reads one table from its bytes into a MadtDescription: the
// processors' local APICs and x2APICs, the I/O APICs with their GSI bases,
// the interrupt source overrides, the NMI sources and local APIC NMI inputs,
// and the local APIC address (from the header, or the 64-bit override).
// Every structure's length is checked against the table and against the size
// its type has; a length that cannot be trusted ends the parse (the next
// structure cannot be found), a structure with bad contents is dropped on its
// own. Each problem is one warning "apic: warning: MADT at 0x..., offset
// 0x...: <structure>: <reason>; <what happens>".
#pragma once

#include <drivers/acpi/table_directory.hpp>
#include <drivers/acpi/tables.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::apic {

inline constexpr acpi::Signature multiple_apic_description_table_signature("APIC");

// --- Table layouts (little-endian, packed; only ever copied out of the table) --

// 5.2.12, table 5.19: the header, then the interrupt controller structures
// from byte 44 on.
struct [[gnu::packed]] MultipleApicDescriptionTable {
    acpi::SystemDescriptionTableHeader header;  // signature "APIC"
    uint32_t local_interrupt_controller_address;  // 32-bit physical address of every local APIC
    uint32_t flags;                               // MadtFlags
};
static_assert(sizeof(MultipleApicDescriptionTable) == 44);
static_assert(offsetof(MultipleApicDescriptionTable, local_interrupt_controller_address) == 36);
static_assert(offsetof(MultipleApicDescriptionTable, flags) == 40);

// 5.2.12, table 5.20 "Multiple APIC Flags".
inline constexpr uint32_t madt_pcat_compatible = 1u << 0;  // PCAT_COMPAT: dual 8259s are present

// 5.2.12, table 5.21 "Interrupt Controller Structure Types" (those read here).
enum class InterruptControllerType : uint8_t {
    processor_local_apic = 0x0,
    io_apic = 0x1,
    interrupt_source_override = 0x2,
    non_maskable_interrupt_source = 0x3,
    local_apic_nmi = 0x4,
    local_apic_address_override = 0x5,
    processor_local_x2apic = 0x9,
    local_x2apic_nmi = 0xa,
};

// Every interrupt controller structure starts with Type and Length.
struct [[gnu::packed]] InterruptControllerStructureHeader {
    uint8_t type;
    uint8_t length;  // bytes, this header included
};
static_assert(sizeof(InterruptControllerStructureHeader) == 2);

// 5.2.12.2, table 5.22: Processor Local APIC Structure.
struct [[gnu::packed]] ProcessorLocalApic {
    InterruptControllerStructureHeader header;  // length 8
    uint8_t acpi_processor_uid;
    uint8_t apic_id;
    uint32_t flags;  // LocalApicFlags
};
static_assert(sizeof(ProcessorLocalApic) == 8);
static_assert(offsetof(ProcessorLocalApic, apic_id) == 3);
static_assert(offsetof(ProcessorLocalApic, flags) == 4);

// 5.2.12.2, table 5.23 "Local APIC Flags" (shared by the x2APIC structure).
inline constexpr uint32_t local_apic_enabled = 1u << 0;
inline constexpr uint32_t local_apic_online_capable = 1u << 1;  // meaningful only when Enabled is clear

// 5.2.12.3, table 5.24: I/O APIC Structure.
struct [[gnu::packed]] IoApicStructure {
    InterruptControllerStructureHeader header;  // length 12
    uint8_t io_apic_id;
    uint8_t reserved;
    uint32_t io_apic_address;  // 32-bit physical address of IOREGSEL
    uint32_t global_system_interrupt_base;
};
static_assert(sizeof(IoApicStructure) == 12);
static_assert(offsetof(IoApicStructure, io_apic_id) == 2);
static_assert(offsetof(IoApicStructure, io_apic_address) == 4);
static_assert(offsetof(IoApicStructure, global_system_interrupt_base) == 8);

// 5.2.12.5, table 5.26: Interrupt Source Override Structure.
struct [[gnu::packed]] InterruptSourceOverride {
    InterruptControllerStructureHeader header;  // length 10
    uint8_t bus;     // 0: ISA
    uint8_t source;  // the ISA IRQ
    uint32_t global_system_interrupt;
    uint16_t flags;  // MPS INTI flags
};
static_assert(sizeof(InterruptSourceOverride) == 10);
static_assert(offsetof(InterruptSourceOverride, source) == 3);
static_assert(offsetof(InterruptSourceOverride, global_system_interrupt) == 4);
static_assert(offsetof(InterruptSourceOverride, flags) == 8);

// 5.2.12.5, table 5.27 "MPS INTI Flags": polarity bits 1:0, trigger mode
// bits 3:2; the value 2 of either field is reserved.
enum class InterruptPolarity : uint8_t { conforming = 0, active_high = 1, reserved = 2, active_low = 3 };
enum class InterruptTriggerMode : uint8_t { conforming = 0, edge = 1, reserved = 2, level = 3 };
[[nodiscard]] constexpr InterruptPolarity inti_polarity(uint16_t flags) {
    return static_cast<InterruptPolarity>(flags & 0x3);
}
[[nodiscard]] constexpr InterruptTriggerMode inti_trigger_mode(uint16_t flags) {
    return static_cast<InterruptTriggerMode>((flags >> 2) & 0x3);
}

// 5.2.12.6, table 5.28: Non-Maskable Interrupt (NMI) Source Structure.
struct [[gnu::packed]] NonMaskableInterruptSource {
    InterruptControllerStructureHeader header;  // length 8
    uint16_t flags;                             // MPS INTI flags
    uint32_t global_system_interrupt;
};
static_assert(sizeof(NonMaskableInterruptSource) == 8);
static_assert(offsetof(NonMaskableInterruptSource, global_system_interrupt) == 4);

// 5.2.12.7, table 5.29: Local APIC NMI Structure.
struct [[gnu::packed]] LocalApicNmi {
    InterruptControllerStructureHeader header;  // length 6
    uint8_t acpi_processor_uid;                 // 0xff: all processors
    uint16_t flags;                             // MPS INTI flags
    uint8_t local_apic_lint;                    // LINT0 or LINT1
};
static_assert(sizeof(LocalApicNmi) == 6);
static_assert(offsetof(LocalApicNmi, flags) == 3);
static_assert(offsetof(LocalApicNmi, local_apic_lint) == 5);

// 5.2.12.8, table 5.30: Local APIC Address Override Structure.
struct [[gnu::packed]] LocalApicAddressOverride {
    InterruptControllerStructureHeader header;  // length 12
    uint16_t reserved;
    uint64_t local_apic_address;
};
static_assert(sizeof(LocalApicAddressOverride) == 12);
static_assert(offsetof(LocalApicAddressOverride, local_apic_address) == 4);

// 5.2.12.12, table 5.37: Processor Local x2APIC Structure.
struct [[gnu::packed]] ProcessorLocalX2apic {
    InterruptControllerStructureHeader header;  // length 16
    uint16_t reserved;
    uint32_t x2apic_id;
    uint32_t flags;  // LocalApicFlags
    uint32_t acpi_processor_uid;
};
static_assert(sizeof(ProcessorLocalX2apic) == 16);
static_assert(offsetof(ProcessorLocalX2apic, x2apic_id) == 4);
static_assert(offsetof(ProcessorLocalX2apic, flags) == 8);
static_assert(offsetof(ProcessorLocalX2apic, acpi_processor_uid) == 12);

// 5.2.12.13, table 5.38: Local x2APIC NMI Structure.
struct [[gnu::packed]] LocalX2apicNmi {
    InterruptControllerStructureHeader header;  // length 12
    uint16_t flags;                             // MPS INTI flags
    uint32_t acpi_processor_uid;                // 0xffffffff: all processors
    uint8_t local_x2apic_lint;
    uint8_t reserved[3];
};
static_assert(sizeof(LocalX2apicNmi) == 12);
static_assert(offsetof(LocalX2apicNmi, acpi_processor_uid) == 4);
static_assert(offsetof(LocalX2apicNmi, local_x2apic_lint) == 8);

// "Processor Local APIC", "I/O APIC", ..., or "type N" for any other type.
struct StructureName {
    char text[40];
};
[[nodiscard]] StructureName structure_name(uint8_t type);

// --- What the table describes --------------------------------------------------

// Where a structure is, for later messages.
struct TableLocation {
    PhysicalAddress table = 0;
    uint32_t offset = 0;
};

struct MadtProcessor {
    uint32_t apic_id = 0;             // 8-bit APIC ID from type 0, 32-bit x2APIC ID from type 9
    uint32_t acpi_processor_uid = 0;
    bool enabled = false;
    bool online_capable = false;      // may be enabled later (only when !enabled)
    bool from_x2apic_structure = false;
    TableLocation location;
};

struct MadtIoApic {
    uint8_t id = 0;
    PhysicalAddress address = 0;
    uint32_t global_system_interrupt_base = 0;
    TableLocation location;
};

struct MadtInterruptSourceOverride {
    uint8_t bus = 0;
    uint8_t source = 0;  // ISA IRQ 0-15
    uint32_t global_system_interrupt = 0;
    InterruptPolarity polarity = InterruptPolarity::conforming;
    InterruptTriggerMode trigger_mode = InterruptTriggerMode::conforming;
    TableLocation location;
};

struct MadtNmiSource {
    uint32_t global_system_interrupt = 0;
    InterruptPolarity polarity = InterruptPolarity::conforming;
    InterruptTriggerMode trigger_mode = InterruptTriggerMode::conforming;
    TableLocation location;
};

// From a type 4 or type 10 structure.
struct MadtLocalNmi {
    static constexpr uint32_t all_processors = 0xffffffff;  // uid 0xff in type 4 is widened to this
    uint32_t acpi_processor_uid = all_processors;
    uint8_t lint = 0;  // 0 or 1
    InterruptPolarity polarity = InterruptPolarity::conforming;
    InterruptTriggerMode trigger_mode = InterruptTriggerMode::conforming;
    TableLocation location;
};

// Everything one MADT describes. Fixed capacity, no allocation: an entry
// beyond a cap is dropped with a warning.
class MadtDescription {
public:
    static constexpr size_t max_processors = 256;
    static constexpr size_t max_io_apics = 16;
    static constexpr size_t max_source_overrides = 32;
    static constexpr size_t max_nmi_sources = 16;
    static constexpr size_t max_local_nmis = 32;

    // The local APIC address every processor uses: the header's 32-bit one
    // unless a Local APIC Address Override replaced it (5.2.12.8). 0 when the
    // table gave none that could be used.
    [[nodiscard]] PhysicalAddress local_apic_address() const { return local_apic_address_; }
    [[nodiscard]] bool address_overridden() const { return address_overridden_; }
    [[nodiscard]] bool pcat_compatible() const { return (flags_ & madt_pcat_compatible) != 0; }
    [[nodiscard]] uint32_t flags() const { return flags_; }

    [[nodiscard]] Span<const MadtProcessor> processors() const { return {processors_, processor_count_}; }
    [[nodiscard]] Span<const MadtIoApic> io_apics() const { return {io_apics_, io_apic_count_}; }
    [[nodiscard]] Span<const MadtInterruptSourceOverride> source_overrides() const {
        return {overrides_, override_count_};
    }
    [[nodiscard]] Span<const MadtNmiSource> nmi_sources() const { return {nmi_sources_, nmi_source_count_}; }
    [[nodiscard]] Span<const MadtLocalNmi> local_nmis() const { return {local_nmis_, local_nmi_count_}; }

    // The processor entry with this APIC ID, or nullptr.
    [[nodiscard]] const MadtProcessor* find_processor(uint32_t apic_id) const;
    // The GSI an ISA IRQ arrives on: its override's, else the IRQ number
    // itself (5.2.12.5: ISA IRQs without an override are identity-mapped).
    [[nodiscard]] uint32_t isa_irq_to_global_system_interrupt(uint8_t irq) const;

    // Structures dropped with a warning.
    [[nodiscard]] size_t rejected() const { return rejected_; }
    [[nodiscard]] PhysicalAddress table_address() const { return table_address_; }
    [[nodiscard]] bool parsed() const { return parsed_; }

    // Forgets the table (counts only: nothing large is copied or zeroed).
    void clear();

private:
    friend class MadtParser;

    MadtProcessor processors_[max_processors];
    MadtIoApic io_apics_[max_io_apics];
    MadtInterruptSourceOverride overrides_[max_source_overrides];
    MadtNmiSource nmi_sources_[max_nmi_sources];
    MadtLocalNmi local_nmis_[max_local_nmis];
    size_t processor_count_ = 0;
    size_t io_apic_count_ = 0;
    size_t override_count_ = 0;
    size_t nmi_source_count_ = 0;
    size_t local_nmi_count_ = 0;
    size_t rejected_ = 0;
    PhysicalAddress local_apic_address_ = 0;
    bool address_overridden_ = false;
    uint32_t flags_ = 0;
    PhysicalAddress table_address_ = 0;
    bool parsed_ = false;
};

// Parses one MADT: bytes holds the table (at least its header's Length
// bytes), address is where it lies (for messages). Fails with
// Error::malformed only when the table as a whole is unusable (too short,
// wrong signature, a length below the header); structures with problems are
// dropped one by one and the parse succeeds. description is cleared first.
[[nodiscard]] Status parse_madt(Span<const uint8_t> bytes, PhysicalAddress address, MadtDescription& description);

// Finds the MADT in the directory, copies it out of memory and parses it.
// Error::not_found when there is none; a second MADT is reported and ignored
// (5.2.12 allows one). Tables longer than 64 KiB are parsed up to 64 KiB,
// with a warning.
[[nodiscard]] Status read_madt(const PhysicalMemory& memory, const acpi::TableDirectory& directory,
                               MadtDescription& description);

}  // namespace sluice::x86::apic
