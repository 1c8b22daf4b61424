#include <arch/x86/apic/madt.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::apic {
namespace {

constexpr Logger logger{"apic"};

constexpr size_t header_size = sizeof(MultipleApicDescriptionTable);
constexpr uint32_t no_offset = ~uint32_t{0};

// The 8-bit APIC ID 0xff and the x2APIC ID 0xffffffff are the broadcast
// destinations (Intel SDM Vol. 3A, "Local APIC ID" and "x2APIC ID"): no
// processor has them.
constexpr uint32_t broadcast_apic_id = 0xff;
constexpr uint32_t broadcast_x2apic_id = 0xffffffff;
// 5.2.12.7: ACPI Processor UID 0xff in a Local APIC NMI structure means
// every processor.
constexpr uint8_t all_processors_uid8 = 0xff;
// ISA has 16 IRQs; an override names one of them (5.2.12.5).
constexpr uint8_t isa_irq_count = 16;
// Intel 82093AA I/O APIC datasheet, section 3.0: IOREGSEL at base, IOWIN at
// base + 0x10; both are 32-bit registers, so the base is at least 16-byte
// aligned on every chipset (1 KiB on the 82093AA).
constexpr uint64_t io_apic_alignment = 16;

template <typename Structure> Structure load(Span<const uint8_t> bytes, size_t offset) {
    static_assert(__is_trivially_copyable(Structure));
    Structure structure;
    __builtin_memcpy(&structure, bytes.data() + offset, sizeof structure);
    return structure;
}

// The smallest length a structure of a known type may have; 0 for types
// this parser does not read.
size_t minimum_length(uint8_t type) {
    switch (static_cast<InterruptControllerType>(type)) {
    case InterruptControllerType::processor_local_apic: return sizeof(ProcessorLocalApic);
    case InterruptControllerType::io_apic: return sizeof(IoApicStructure);
    case InterruptControllerType::interrupt_source_override: return sizeof(InterruptSourceOverride);
    case InterruptControllerType::non_maskable_interrupt_source: return sizeof(NonMaskableInterruptSource);
    case InterruptControllerType::local_apic_nmi: return sizeof(LocalApicNmi);
    case InterruptControllerType::local_apic_address_override: return sizeof(LocalApicAddressOverride);
    case InterruptControllerType::processor_local_x2apic: return sizeof(ProcessorLocalX2apic);
    case InterruptControllerType::local_x2apic_nmi: return sizeof(LocalX2apicNmi);
    }
    return 0;
}

// The reason MPS INTI flags are unusable, or nullptr (5.2.12.5, table 5.27:
// value 2 of either field is reserved, bits 15:4 must be zero).
const char* inti_flags_problem(uint16_t flags) {
    if (inti_polarity(flags) == InterruptPolarity::reserved) return "polarity 2 is reserved";
    if (inti_trigger_mode(flags) == InterruptTriggerMode::reserved) return "trigger mode 2 is reserved";
    return nullptr;
}

// 64 KiB holds an x2APIC structure for each of 4000 processors.
constexpr size_t copy_capacity = 64 * 1024;
uint8_t table_copy[copy_capacity];

}  // namespace

StructureName structure_name(uint8_t type) {
    StructureName name;
    const char* text = nullptr;
    switch (static_cast<InterruptControllerType>(type)) {
    case InterruptControllerType::processor_local_apic: text = "Processor Local APIC"; break;
    case InterruptControllerType::io_apic: text = "I/O APIC"; break;
    case InterruptControllerType::interrupt_source_override: text = "Interrupt Source Override"; break;
    case InterruptControllerType::non_maskable_interrupt_source: text = "NMI Source"; break;
    case InterruptControllerType::local_apic_nmi: text = "Local APIC NMI"; break;
    case InterruptControllerType::local_apic_address_override: text = "Local APIC Address Override"; break;
    case InterruptControllerType::processor_local_x2apic: text = "Processor Local x2APIC"; break;
    case InterruptControllerType::local_x2apic_nmi: text = "Local x2APIC NMI"; break;
    }
    if (text != nullptr) format(name.text, sizeof name.text, "%s", text);
    else format(name.text, sizeof name.text, "type 0x%02x", type);
    return name;
}

const MadtProcessor* MadtDescription::find_processor(uint32_t apic_id) const {
    for (const MadtProcessor& processor : processors())
        if (processor.apic_id == apic_id) return &processor;
    return nullptr;
}

uint32_t MadtDescription::isa_irq_to_global_system_interrupt(uint8_t irq) const {
    for (const MadtInterruptSourceOverride& entry : source_overrides())
        if (entry.bus == 0 && entry.source == irq) return entry.global_system_interrupt;
    return irq;
}

void MadtDescription::clear() {
    processor_count_ = 0;
    io_apic_count_ = 0;
    override_count_ = 0;
    nmi_source_count_ = 0;
    local_nmi_count_ = 0;
    rejected_ = 0;
    local_apic_address_ = 0;
    address_overridden_ = false;
    flags_ = 0;
    table_address_ = 0;
    parsed_ = false;
}

// --- The parser ------------------------------------------------------------------

class MadtParser {
public:
    MadtParser(Span<const uint8_t> bytes, PhysicalAddress address, MadtDescription& description)
        : bytes_(bytes), address_(address), description_(description) {}

    Status parse();

private:
    void report(LogLevel level, uint32_t offset, const char* what, const char* pattern,
                __builtin_va_list arguments) const;
    void warn(uint32_t offset, const char* what, const char* pattern, ...) const __attribute__((format(printf, 4, 5)));
    // warn() and counts the structure as rejected.
    void reject(uint32_t offset, const char* what, const char* pattern, ...) __attribute__((format(printf, 4, 5)));

    Status check_header();
    void parse_structure(uint8_t type, size_t offset);
    void parse_local_apic(size_t offset);
    void parse_x2apic(size_t offset);
    void add_processor(size_t offset, const char* what, uint32_t apic_id, uint32_t uid, uint32_t flags, bool x2apic);
    void parse_io_apic(size_t offset);
    void parse_source_override(size_t offset);
    void parse_nmi_source(size_t offset);
    void parse_local_nmi(size_t offset, uint32_t uid, uint16_t flags, uint8_t lint, const char* what);
    void parse_address_override(size_t offset);

    TableLocation at(size_t offset) const { return TableLocation{address_, static_cast<uint32_t>(offset)}; }

    Span<const uint8_t> bytes_;
    PhysicalAddress address_;
    MadtDescription& description_;
};

void MadtParser::report(LogLevel level, uint32_t offset, const char* what, const char* pattern,
                        __builtin_va_list arguments) const {
    if (!log_enabled(level)) return;
    char message[log_line_capacity];
    size_t length = 0;
    if (offset == no_offset)
        length = format(message, sizeof message, "MADT at 0x%llx: ", static_cast<unsigned long long>(address_));
    else
        length = format(message, sizeof message, "MADT at 0x%llx, offset 0x%x: ",
                        static_cast<unsigned long long>(address_), offset);
    if (what != nullptr) length += format(message + length, sizeof message - length, "%s: ", what);
    format_arguments(message + length, sizeof message - length, pattern, arguments);
    log_message(level, logger.subsystem(), "%s", message);
}

void MadtParser::warn(uint32_t offset, const char* what, const char* pattern, ...) const {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(LogLevel::warning, offset, what, pattern, arguments);
    __builtin_va_end(arguments);
}

void MadtParser::reject(uint32_t offset, const char* what, const char* pattern, ...) {
    ++description_.rejected_;
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(LogLevel::warning, offset, what, pattern, arguments);
    __builtin_va_end(arguments);
}

Status MadtParser::check_header() {
    if (bytes_.size() < header_size) {
        reject(no_offset, nullptr, "only %zu bytes, shorter than the %zu-byte MADT header; table ignored",
               bytes_.size(), header_size);
        return Error::malformed;
    }
    const auto header = load<MultipleApicDescriptionTable>(bytes_, 0);
    if (!(acpi::Signature::from_bytes(header.header.signature) == multiple_apic_description_table_signature)) {
        reject(no_offset, nullptr, "signature is '%s', not 'APIC'; table ignored",
               acpi::describe(acpi::Signature::from_bytes(header.header.signature)).c_str());
        return Error::malformed;
    }
    const uint32_t length = header.header.length;
    if (length < header_size) {
        reject(no_offset, nullptr, "length %u is shorter than the %zu-byte MADT header; table ignored", length,
               header_size);
        return Error::malformed;
    }
    if (length > bytes_.size())
        warn(no_offset, nullptr, "length %u exceeds the %zu bytes available; only those are parsed", length,
             bytes_.size());
    else
        bytes_ = Span<const uint8_t>(bytes_.data(), length);

    uint8_t sum = 0;
    for (const uint8_t byte : bytes_) sum = static_cast<uint8_t>(sum + byte);
    if (sum != 0) warn(no_offset, nullptr, "checksum is off by 0x%02x; parsed anyway", sum);

    description_.flags_ = header.flags;
    description_.local_apic_address_ = header.local_interrupt_controller_address;
    return success();
}

Status MadtParser::parse() {
    description_.clear();
    description_.table_address_ = address_;
    SLUICE_TRY(check_header());

    size_t offset = header_size;
    const size_t end = bytes_.size();
    while (offset < end) {
        const size_t left = end - offset;
        const uint32_t here = static_cast<uint32_t>(offset);
        if (left < sizeof(InterruptControllerStructureHeader)) {
            reject(here, nullptr, "%zu trailing byte is too short for a structure header; ignored", left);
            break;
        }
        const auto header = load<InterruptControllerStructureHeader>(bytes_, offset);
        const StructureName name = structure_name(header.type);
        // A length that cannot be right leaves no way to find the next
        // structure: stop rather than guess (a zero length would loop).
        const size_t minimum = max(minimum_length(header.type), sizeof(InterruptControllerStructureHeader));
        if (header.length < minimum) {
            reject(here, name.text, "length %u is smaller than the structure's %zu bytes; rest of the table ignored",
                   header.length, minimum);
            break;
        }
        if (header.length > left) {
            reject(here, name.text, "length %u runs past the end of the table (%zu bytes left); rest of the table ignored",
                   header.length, left);
            break;
        }
        parse_structure(header.type, offset);
        offset += header.length;
    }

    if (description_.local_apic_address_ == 0)
        warn(no_offset, nullptr, "no local APIC address (header field 0 and no override)");
    else if (!is_aligned(description_.local_apic_address_, page_size)) {
        warn(no_offset, nullptr, "local APIC address 0x%llx is not 4 KiB aligned; not used",
             static_cast<unsigned long long>(description_.local_apic_address_));
        description_.local_apic_address_ = 0;
    }
    description_.parsed_ = true;
    return success();
}

void MadtParser::parse_structure(uint8_t type, size_t offset) {
    switch (static_cast<InterruptControllerType>(type)) {
    case InterruptControllerType::processor_local_apic: parse_local_apic(offset); return;
    case InterruptControllerType::io_apic: parse_io_apic(offset); return;
    case InterruptControllerType::interrupt_source_override: parse_source_override(offset); return;
    case InterruptControllerType::non_maskable_interrupt_source: parse_nmi_source(offset); return;
    case InterruptControllerType::local_apic_nmi: {
        const auto entry = load<LocalApicNmi>(bytes_, offset);
        const uint32_t uid =
            entry.acpi_processor_uid == all_processors_uid8 ? MadtLocalNmi::all_processors : entry.acpi_processor_uid;
        parse_local_nmi(offset, uid, entry.flags, entry.local_apic_lint, "Local APIC NMI");
        return;
    }
    case InterruptControllerType::local_apic_address_override: parse_address_override(offset); return;
    case InterruptControllerType::processor_local_x2apic: parse_x2apic(offset); return;
    case InterruptControllerType::local_x2apic_nmi: {
        const auto entry = load<LocalX2apicNmi>(bytes_, offset);
        parse_local_nmi(offset, entry.acpi_processor_uid, entry.flags, entry.local_x2apic_lint, "Local x2APIC NMI");
        return;
    }
    }
    // 5.2.12, table 5.21: SAPIC, GIC, RISC-V and OEM (0x80-0xff) structures
    // describe other interrupt controllers; each carries its length, so it
    // is skipped by it.
    const StructureName name = structure_name(type);
    logger.debug("MADT at 0x%llx, offset 0x%zx: %s is not read on x86; skipped",
                 static_cast<unsigned long long>(address_), offset, name.text);
}

void MadtParser::add_processor(size_t offset, const char* what, uint32_t apic_id, uint32_t uid, uint32_t flags,
                               bool x2apic) {
    const uint32_t here = static_cast<uint32_t>(offset);
    const bool enabled = (flags & local_apic_enabled) != 0;
    const bool online_capable = (flags & local_apic_online_capable) != 0;
    // 5.2.12.2: a processor neither enabled nor online capable is unusable
    // and the OS must not try to bring it up; nothing to record.
    if (!enabled && !online_capable) return;
    if (description_.find_processor(apic_id) != nullptr) {
        reject(here, what, "APIC ID 0x%x is listed twice; entry ignored", apic_id);
        return;
    }
    if (description_.processor_count_ == MadtDescription::max_processors) {
        reject(here, what, "more than %zu processors; entry ignored", MadtDescription::max_processors);
        return;
    }
    MadtProcessor& processor = description_.processors_[description_.processor_count_++];
    processor.apic_id = apic_id;
    processor.acpi_processor_uid = uid;
    processor.enabled = enabled;
    processor.online_capable = !enabled && online_capable;
    processor.from_x2apic_structure = x2apic;
    processor.location = at(offset);
}

void MadtParser::parse_local_apic(size_t offset) {
    const auto entry = load<ProcessorLocalApic>(bytes_, offset);
    if (entry.apic_id == broadcast_apic_id && (entry.flags & (local_apic_enabled | local_apic_online_capable)) != 0) {
        reject(static_cast<uint32_t>(offset), "Processor Local APIC",
               "APIC ID 0xff is the broadcast ID (processors from 255 up need x2APIC structures); entry ignored");
        return;
    }
    add_processor(offset, "Processor Local APIC", entry.apic_id, entry.acpi_processor_uid, entry.flags, false);
}

void MadtParser::parse_x2apic(size_t offset) {
    const auto entry = load<ProcessorLocalX2apic>(bytes_, offset);
    if (entry.x2apic_id == broadcast_x2apic_id && (entry.flags & (local_apic_enabled | local_apic_online_capable)) != 0) {
        reject(static_cast<uint32_t>(offset), "Processor Local x2APIC",
               "x2APIC ID 0xffffffff is the broadcast ID; entry ignored");
        return;
    }
    add_processor(offset, "Processor Local x2APIC", entry.x2apic_id, entry.acpi_processor_uid, entry.flags, true);
}

void MadtParser::parse_io_apic(size_t offset) {
    const uint32_t here = static_cast<uint32_t>(offset);
    const char* what = "I/O APIC";
    const auto entry = load<IoApicStructure>(bytes_, offset);
    if (entry.io_apic_address == 0 || !is_aligned(entry.io_apic_address, io_apic_alignment)) {
        reject(here, what, "ID %u: address 0x%x is %s; entry ignored", entry.io_apic_id, entry.io_apic_address,
               entry.io_apic_address == 0 ? "zero" : "not 16-byte aligned");
        return;
    }
    for (const MadtIoApic& other : description_.io_apics()) {
        const char* clash = nullptr;
        if (other.id == entry.io_apic_id) clash = "its ID";
        else if (other.address == entry.io_apic_address) clash = "its address";
        else if (other.global_system_interrupt_base == entry.global_system_interrupt_base) clash = "its GSI base";
        if (clash != nullptr) {
            reject(here, what, "ID %u at 0x%x, GSI base %u: %s is also the I/O APIC's at offset 0x%x; entry ignored",
                   entry.io_apic_id, entry.io_apic_address, entry.global_system_interrupt_base, clash,
                   other.location.offset);
            return;
        }
    }
    if (description_.io_apic_count_ == MadtDescription::max_io_apics) {
        reject(here, what, "more than %zu I/O APICs; entry ignored", MadtDescription::max_io_apics);
        return;
    }
    MadtIoApic& io_apic = description_.io_apics_[description_.io_apic_count_++];
    io_apic.id = entry.io_apic_id;
    io_apic.address = entry.io_apic_address;
    io_apic.global_system_interrupt_base = entry.global_system_interrupt_base;
    io_apic.location = at(offset);
}

void MadtParser::parse_source_override(size_t offset) {
    const uint32_t here = static_cast<uint32_t>(offset);
    const char* what = "Interrupt Source Override";
    const auto entry = load<InterruptSourceOverride>(bytes_, offset);
    if (entry.bus != 0) {
        reject(here, what, "bus %u is not ISA (0); entry ignored", entry.bus);
        return;
    }
    if (entry.source >= isa_irq_count) {
        reject(here, what, "source IRQ %u is not an ISA IRQ (0-15); entry ignored", entry.source);
        return;
    }
    if (const char* problem = inti_flags_problem(entry.flags)) {
        reject(here, what, "IRQ %u: flags 0x%04x: %s; entry ignored", entry.source, entry.flags, problem);
        return;
    }
    for (const MadtInterruptSourceOverride& other : description_.source_overrides()) {
        if (other.source == entry.source) {
            reject(here, what, "IRQ %u is already overridden at offset 0x%x; entry ignored", entry.source,
                   other.location.offset);
            return;
        }
    }
    if (description_.override_count_ == MadtDescription::max_source_overrides) {
        reject(here, what, "more than %zu overrides; entry ignored", MadtDescription::max_source_overrides);
        return;
    }
    MadtInterruptSourceOverride& override_entry = description_.overrides_[description_.override_count_++];
    override_entry.bus = entry.bus;
    override_entry.source = entry.source;
    override_entry.global_system_interrupt = entry.global_system_interrupt;
    override_entry.polarity = inti_polarity(entry.flags);
    override_entry.trigger_mode = inti_trigger_mode(entry.flags);
    override_entry.location = at(offset);
}

void MadtParser::parse_nmi_source(size_t offset) {
    const uint32_t here = static_cast<uint32_t>(offset);
    const char* what = "NMI Source";
    const auto entry = load<NonMaskableInterruptSource>(bytes_, offset);
    if (const char* problem = inti_flags_problem(entry.flags)) {
        reject(here, what, "GSI %u: flags 0x%04x: %s; entry ignored", entry.global_system_interrupt, entry.flags,
               problem);
        return;
    }
    if (description_.nmi_source_count_ == MadtDescription::max_nmi_sources) {
        reject(here, what, "more than %zu NMI sources; entry ignored", MadtDescription::max_nmi_sources);
        return;
    }
    MadtNmiSource& source = description_.nmi_sources_[description_.nmi_source_count_++];
    source.global_system_interrupt = entry.global_system_interrupt;
    source.polarity = inti_polarity(entry.flags);
    source.trigger_mode = inti_trigger_mode(entry.flags);
    source.location = at(offset);
}

void MadtParser::parse_local_nmi(size_t offset, uint32_t uid, uint16_t flags, uint8_t lint, const char* what) {
    const uint32_t here = static_cast<uint32_t>(offset);
    // 5.2.12.7: a local APIC has two local interrupt inputs, LINT0 and LINT1.
    if (lint > 1) {
        reject(here, what, "LINT%u does not exist (0 or 1); entry ignored", lint);
        return;
    }
    if (const char* problem = inti_flags_problem(flags)) {
        reject(here, what, "LINT%u: flags 0x%04x: %s; entry ignored", lint, flags, problem);
        return;
    }
    if (description_.local_nmi_count_ == MadtDescription::max_local_nmis) {
        reject(here, what, "more than %zu local NMI entries; entry ignored", MadtDescription::max_local_nmis);
        return;
    }
    MadtLocalNmi& nmi = description_.local_nmis_[description_.local_nmi_count_++];
    nmi.acpi_processor_uid = uid;
    nmi.lint = lint;
    nmi.polarity = inti_polarity(flags);
    nmi.trigger_mode = inti_trigger_mode(flags);
    nmi.location = at(offset);
}

void MadtParser::parse_address_override(size_t offset) {
    const uint32_t here = static_cast<uint32_t>(offset);
    const char* what = "Local APIC Address Override";
    const auto entry = load<LocalApicAddressOverride>(bytes_, offset);
    // 5.2.12.8: at most one override.
    if (description_.address_overridden_) {
        reject(here, what, "a second override (0x%llx); entry ignored",
               static_cast<unsigned long long>(entry.local_apic_address));
        return;
    }
    if (entry.local_apic_address == 0 || !is_aligned(entry.local_apic_address, page_size)) {
        reject(here, what, "address 0x%llx is %s; the header's 0x%llx is kept",
               static_cast<unsigned long long>(entry.local_apic_address),
               entry.local_apic_address == 0 ? "zero" : "not 4 KiB aligned",
               static_cast<unsigned long long>(description_.local_apic_address_));
        return;
    }
    description_.local_apic_address_ = entry.local_apic_address;
    description_.address_overridden_ = true;
}

Status parse_madt(Span<const uint8_t> bytes, PhysicalAddress address, MadtDescription& description) {
    MadtParser parser(bytes, address, description);
    return parser.parse();
}

Status read_madt(const PhysicalMemory& memory, const acpi::TableDirectory& directory, MadtDescription& description) {
    description.clear();
    bool found = false;
    for (const acpi::TableDescription& table : directory.find_all(multiple_apic_description_table_signature)) {
        if (found) {
            logger.warning("MADT at 0x%llx: a second MADT; ignored (the one at 0x%llx is used)",
                           static_cast<unsigned long long>(table.address),
                           static_cast<unsigned long long>(description.table_address()));
            continue;
        }
        size_t length = table.length;
        if (length > copy_capacity) {
            logger.warning("MADT at 0x%llx: %zu bytes, only the first %zu are parsed",
                           static_cast<unsigned long long>(table.address), length, copy_capacity);
            length = copy_capacity;
        }
        if (!memory.read_bytes(table.address, table_copy, length).ok()) {
            logger.warning("MADT at 0x%llx: not readable; table ignored", static_cast<unsigned long long>(table.address));
            continue;
        }
        // A table refused as a whole was reported by the parser.
        if (!parse_madt(Span<const uint8_t>(table_copy, length), table.address, description).ok()) continue;
        found = true;
    }
    return found ? success() : Status(Error::not_found);
}

}  // namespace sluice::x86::apic
