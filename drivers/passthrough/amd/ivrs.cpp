// IVRS parsing (AMD IOMMU specification 48882, section 5.2). See ivrs.hpp.
//
// Every length comes from the table and is distrusted: each structure is
// copied out only after checking that it lies inside its block, and each
// block only after checking that it lies inside the table. A block whose
// length cannot be trusted ends the walk (the next block's position depends
// on it); an entry inside a block whose size cannot be known ends that
// block's entries. Everything else is rejected on its own.
#include <drivers/passthrough/amd/ivrs.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::amd {
namespace {

constexpr Logger logger{"amd-vi"};

constexpr size_t ivrs_header_size = sizeof(IvrsHeader);
constexpr size_t acpi_hid_fixed_size = sizeof(IvhdAcpiHidEntry);
// The IOMMU MMIO region is at least 16 KiB and naturally aligned (5.2.2.1
// "IOMMU base address"; the IOMMU Base Address Low register has bits 13:1
// reserved, section 3.2).
constexpr uint64_t iommu_register_alignment = 16 * KiB;
// The highest physical address bit AMD64 defines (PAsize is at most 52).
constexpr uint64_t physical_address_limit = uint64_t{1} << 52;

// Copies a packed structure out of bytes; the caller checked the bounds.
template <typename Structure> Structure load(Span<const uint8_t> bytes, size_t offset) {
    struct Raw {
        uint8_t bytes[sizeof(Structure)];
    } raw;
    for (size_t index = 0; index < sizeof(Structure); ++index) raw.bytes[index] = bytes[offset + index];
    return bit_cast<Structure>(raw);
}

bool is_hardware_definition(uint8_t type) {
    return type == static_cast<uint8_t>(IvrsBlockType::hardware_definition_10) ||
           type == static_cast<uint8_t>(IvrsBlockType::hardware_definition_11) ||
           type == static_cast<uint8_t>(IvrsBlockType::hardware_definition_40);
}

bool is_memory_definition(uint8_t type) {
    return type == static_cast<uint8_t>(IvrsBlockType::memory_definition_all) ||
           type == static_cast<uint8_t>(IvrsBlockType::memory_definition_one) ||
           type == static_cast<uint8_t>(IvrsBlockType::memory_definition_range);
}

// The fixed part a block of this type must at least have.
size_t minimum_block_length(uint8_t type) {
    if (type == static_cast<uint8_t>(IvrsBlockType::hardware_definition_10)) return sizeof(IvhdType10Header);
    if (is_hardware_definition(type)) return sizeof(IvhdType11Header);
    if (is_memory_definition(type)) return sizeof(IvmdBlock);
    return 4;  // type, flags, length: enough to step over a block we do not know
}

const char* block_kind(uint8_t type) {
    if (is_hardware_definition(type)) return "IVHD";
    if (is_memory_definition(type)) return "IVMD";
    return "block";
}

// Types 11h and 40h share one header layout; 10h has the first 24 bytes of it.
struct IvhdFields {
    uint8_t type;
    uint8_t flags;
    uint16_t length;
    uint16_t device_id;
    uint16_t capability_offset;
    uint64_t base_address;
    uint16_t segment;
    uint16_t info;
    uint32_t feature_reporting;
    uint64_t extended_features;
    uint64_t extended_features_2;
    size_t header_size;
};

IvhdFields read_ivhd(Span<const uint8_t> table, size_t offset) {
    IvhdFields fields{};
    if (table[offset] == static_cast<uint8_t>(IvrsBlockType::hardware_definition_10)) {
        const auto header = load<IvhdType10Header>(table, offset);
        fields = IvhdFields{header.type, header.flags, header.length, header.iommu_device_id,
                            header.capability_offset, header.iommu_base_address, header.pci_segment_group,
                            header.iommu_info, header.iommu_feature_reporting, 0, 0, sizeof(IvhdType10Header)};
    } else {
        const auto header = load<IvhdType11Header>(table, offset);
        fields = IvhdFields{header.type, header.flags, header.length, header.iommu_device_id,
                            header.capability_offset, header.iommu_base_address, header.pci_segment_group,
                            header.iommu_info, header.iommu_attributes, header.efr_register_image,
                            header.efr2_register_image, sizeof(IvhdType11Header)};
    }
    return fields;
}

// Why an IVHD header cannot be used, or nullptr. Checked identically when
// choosing the type per IOMMU and when parsing, so a broken block of a higher
// type never hides a good one of a lower type.
const char* ivhd_header_problem(const IvhdFields& fields) {
    if (fields.base_address == 0) return "IOMMU base address is 0";
    if (!is_aligned(fields.base_address, iommu_register_alignment)) return "IOMMU base address is not 16 KiB aligned";
    if (fields.base_address >= physical_address_limit) return "IOMMU base address lies above 2^52";
    return nullptr;
}

}  // namespace

const char* describe(DeviceEntryType type) {
    switch (type) {
    case DeviceEntryType::pad4: return "padding";
    case DeviceEntryType::all: return "all";
    case DeviceEntryType::select: return "select";
    case DeviceEntryType::start_of_range: return "start of range";
    case DeviceEntryType::end_of_range: return "end of range";
    case DeviceEntryType::pad8: return "padding";
    case DeviceEntryType::alias_select: return "alias select";
    case DeviceEntryType::alias_start_of_range: return "alias start of range";
    case DeviceEntryType::extended_select: return "extended select";
    case DeviceEntryType::extended_start_of_range: return "extended start of range";
    case DeviceEntryType::special_device: return "special device";
    case DeviceEntryType::acpi_hid_device: return "ACPI HID device";
    }
    return "unknown";
}

// --- IvrsDescription ------------------------------------------------------------

void IvrsDescription::reset() {
    revision_ = 0;
    iv_info_ = IvInfo{};
    table_address_ = 0;
    rejected_count_ = 0;
    rounded_count_ = 0;
    unit_count_ = 0;
    device_setting_count_ = 0;
    special_device_count_ = 0;
    acpi_hid_device_count_ = 0;
    ivmd_count_ = 0;
}

Optional<uint16_t> IvrsDescription::highest_device_id(uint16_t segment) const {
    Optional<uint16_t> highest;
    for (const IommuUnit& unit : units()) {
        if (unit.segment != segment) continue;
        if (!highest || unit.highest_device_id > highest.value()) highest = unit.highest_device_id;
    }
    return highest;
}

const DeviceSetting* IvrsDescription::setting_for(uint16_t segment, uint16_t device_id) const {
    for (size_t index = device_setting_count_; index-- > 0;) {
        const DeviceSetting& setting = device_settings_[index];
        if (units_[setting.unit].segment == segment && setting.contains(device_id)) return &setting;
    }
    return nullptr;
}

Optional<uint8_t> IvrsDescription::unit_for(uint16_t segment, uint16_t device_id) const {
    const DeviceSetting* setting = setting_for(segment, device_id);
    if (setting == nullptr) return {};
    return setting->unit;
}

const SpecialDevice* IvrsDescription::find_special(SpecialDeviceVariety variety, uint8_t handle) const {
    for (const SpecialDevice& device : special_devices())
        if (device.variety == variety && device.handle == handle) return &device;
    return nullptr;
}

// --- The parser -------------------------------------------------------------------

class IvrsParser {
public:
    IvrsParser(Span<const uint8_t> table, PhysicalAddress address, IvrsDescription& description)
        : table_(table), address_(address), description_(description) {}

    Status run();

private:
    // One IOMMU as the type choice sees it.
    struct TypeChoice {
        uint16_t segment;
        uint16_t device_id;
        uint8_t type;
    };
    // A start-of-range entry waiting for its end.
    struct PendingRange {
        bool active = false;
        size_t offset = 0;
        DeviceEntryType type = DeviceEntryType::start_of_range;
        uint16_t first_device = 0;
        DeviceTableSetting setting;
        uint32_t extended_setting = 0;
        bool has_alias = false;
        uint16_t alias_device_id = 0;
    };

    void choose_types();
    uint8_t chosen_type(uint16_t segment, uint16_t device_id) const;
    void parse_ivhd(size_t offset, size_t length);
    void parse_device_entries(uint8_t unit_index, size_t start, size_t end);
    void parse_ivmd(size_t offset);

    void add_setting(uint8_t unit_index, size_t offset, DeviceEntryType type, uint16_t first, uint16_t last,
                     DeviceTableSetting setting, uint32_t extended_setting, bool has_alias, uint16_t alias);
    void note_device(uint8_t unit_index, uint16_t device_id);

    // One warning: "IVRS at <address> offset <offset>: <subject>: <reason>, ignored".
    void reject(size_t offset, const char* subject, const char* pattern, ...) __attribute__((format(printf, 4, 5)));
    void reject_entry(size_t offset, uint8_t type, const char* pattern, ...) __attribute__((format(printf, 4, 5)));
    void reject_block(size_t offset, uint8_t type, const char* pattern, ...) __attribute__((format(printf, 4, 5)));
    // A warning about a block that is kept in a corrected form (counted in
    // rounded_count(), not as a rejection).
    void correct_block(size_t offset, uint8_t type, const char* pattern, ...) __attribute__((format(printf, 4, 5)));
    void report(size_t offset, const char* subject, const char* ending, size_t& counter, const char* pattern,
                __builtin_va_list arguments);
    void report_block(size_t offset, uint8_t type, const char* ending, size_t& counter, const char* pattern,
                      __builtin_va_list arguments);

    Span<const uint8_t> table_;
    PhysicalAddress address_;
    IvrsDescription& description_;

    static constexpr size_t choice_capacity = 64;
    TypeChoice choices_[choice_capacity] = {};
    size_t choice_count_ = 0;
};

void IvrsParser::report(size_t offset, const char* subject, const char* ending, size_t& counter, const char* pattern,
                        __builtin_va_list arguments) {
    char reason[160];
    format_arguments(reason, sizeof reason, pattern, arguments);
    logger.warning("IVRS at 0x%llx offset 0x%zx: %s: %s%s", static_cast<unsigned long long>(address_), offset,
                   subject, reason, ending);
    ++counter;
}

void IvrsParser::reject(size_t offset, const char* subject, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(offset, subject, ", ignored", description_.rejected_count_, pattern, arguments);
    __builtin_va_end(arguments);
}

void IvrsParser::reject_entry(size_t offset, uint8_t type, const char* pattern, ...) {
    char subject[64];
    format(subject, sizeof subject, "device entry type 0x%02x (%s)", type,
           describe(static_cast<DeviceEntryType>(type)));
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(offset, subject, ", ignored", description_.rejected_count_, pattern, arguments);
    __builtin_va_end(arguments);
}

void IvrsParser::report_block(size_t offset, uint8_t type, const char* ending, size_t& counter, const char* pattern,
                              __builtin_va_list arguments) {
    char subject[32];
    format(subject, sizeof subject, "%s type 0x%02x", block_kind(type), type);
    report(offset, subject, ending, counter, pattern, arguments);
}

void IvrsParser::reject_block(size_t offset, uint8_t type, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report_block(offset, type, ", ignored", description_.rejected_count_, pattern, arguments);
    __builtin_va_end(arguments);
}

void IvrsParser::correct_block(size_t offset, uint8_t type, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report_block(offset, type, "", description_.rounded_count_, pattern, arguments);
    __builtin_va_end(arguments);
}

Status IvrsParser::run() {
    description_.reset();
    description_.table_address_ = address_;

    if (table_.size() < ivrs_header_size) {
        logger.warning("IVRS at 0x%llx: %zu bytes are shorter than the 48-byte IVRS header, table ignored",
                       static_cast<unsigned long long>(address_), table_.size());
        return Error::malformed;
    }
    const auto header = load<IvrsHeader>(table_, 0);
    const acpi::Signature signature = acpi::Signature::from_bytes(header.header.signature);
    if (!(signature == acpi::Signature("IVRS"))) {
        logger.warning("IVRS at 0x%llx: signature 0x%08x is not IVRS, table ignored",
                       static_cast<unsigned long long>(address_), signature.value());
        return Error::malformed;
    }
    if (header.header.length < ivrs_header_size || header.header.length > table_.size()) {
        logger.warning("IVRS at 0x%llx: table length %u is outside 48..%zu, table ignored",
                       static_cast<unsigned long long>(address_), header.header.length, table_.size());
        return Error::malformed;
    }
    // Only the table's own length counts; anything the caller passed beyond it
    // is not part of the table.
    table_ = Span<const uint8_t>(table_.data(), header.header.length);
    description_.revision_ = header.header.revision;
    description_.iv_info_ = IvInfo{header.iv_info};

    choose_types();

    size_t offset = ivrs_header_size;
    while (offset < table_.size()) {
        const size_t remaining = table_.size() - offset;
        const uint8_t type = table_[offset];
        if (remaining < 4) {
            reject(offset, "block", "%zu trailing bytes are too short for a block header", remaining);
            break;
        }
        const uint16_t length = load<uint16_t>(table_, offset + 2);
        const size_t minimum = minimum_block_length(type);
        if (length < minimum) {
            char subject[32];
            format(subject, sizeof subject, "%s type 0x%02x", block_kind(type), type);
            char reason[96];
            format(reason, sizeof reason, "length %u is shorter than its %zu-byte header", length, minimum);
            logger.warning("IVRS at 0x%llx offset 0x%zx: %s: %s, rest of table ignored",
                           static_cast<unsigned long long>(address_), offset, subject, reason);
            ++description_.rejected_count_;
            break;
        }
        if (length > remaining) {
            char subject[32];
            format(subject, sizeof subject, "%s type 0x%02x", block_kind(type), type);
            logger.warning("IVRS at 0x%llx offset 0x%zx: %s: length %u runs past the end of the table "
                           "(%zu bytes left), rest of table ignored",
                           static_cast<unsigned long long>(address_), offset, subject, length, remaining);
            ++description_.rejected_count_;
            break;
        }

        if (is_hardware_definition(type)) {
            parse_ivhd(offset, length);
        } else if (is_memory_definition(type)) {
            parse_ivmd(offset);
        } else {
            // Newer firmware may add block types; their length lets us step over.
            logger.info("IVRS at 0x%llx offset 0x%zx: block type 0x%02x is not known, skipped",
                        static_cast<unsigned long long>(address_), offset, type);
        }
        offset += length;
    }
    return success();
}

// The specification (5.2.2.1) lets firmware describe one IOMMU with several
// IVHD blocks of different types so that older software finds the type it
// knows; software uses the highest type it understands and ignores the
// rest. Blocks of one IOMMU share the segment and the IOMMU device ID.
void IvrsParser::choose_types() {
    size_t offset = ivrs_header_size;
    while (offset + 4 <= table_.size()) {
        const uint8_t type = table_[offset];
        const uint16_t length = load<uint16_t>(table_, offset + 2);
        if (length < minimum_block_length(type) || length > table_.size() - offset) break;
        if (is_hardware_definition(type)) {
            const IvhdFields fields = read_ivhd(table_, offset);
            if (ivhd_header_problem(fields) == nullptr) {
                bool found = false;
                for (size_t index = 0; index < choice_count_; ++index) {
                    TypeChoice& choice = choices_[index];
                    if (choice.segment == fields.segment && choice.device_id == fields.device_id) {
                        choice.type = max(choice.type, type);
                        found = true;
                    }
                }
                if (!found && choice_count_ < choice_capacity)
                    choices_[choice_count_++] = TypeChoice{fields.segment, fields.device_id, type};
            }
        }
        offset += length;
    }
}

uint8_t IvrsParser::chosen_type(uint16_t segment, uint16_t device_id) const {
    for (size_t index = 0; index < choice_count_; ++index)
        if (choices_[index].segment == segment && choices_[index].device_id == device_id) return choices_[index].type;
    return 0;  // more IOMMUs than choices: every type is parsed, duplicates are refused below
}

void IvrsParser::parse_ivhd(size_t offset, size_t length) {
    const IvhdFields fields = read_ivhd(table_, offset);
    if (const char* problem = ivhd_header_problem(fields)) {
        reject_block(offset, fields.type, "%s", problem);
        return;
    }
    const uint8_t chosen = chosen_type(fields.segment, fields.device_id);
    if (fields.type < chosen) {
        logger.debug("IVRS at 0x%llx offset 0x%zx: IVHD type 0x%02x for IOMMU %04x:%02x:%02x.%x skipped, "
                     "superseded by type 0x%02x",
                     static_cast<unsigned long long>(address_), offset, fields.type, fields.segment,
                     fields.device_id >> 8, (fields.device_id >> 3) & 0x1f, fields.device_id & 7, chosen);
        return;
    }
    for (const IommuUnit& unit : description_.units()) {
        if (unit.segment == fields.segment && unit.device_id == fields.device_id) {
            reject_block(offset, fields.type, "a second IVHD for IOMMU %04x:%02x:%02x.%x (first at offset 0x%x)",
                         fields.segment, fields.device_id >> 8, (fields.device_id >> 3) & 0x1f,
                         fields.device_id & 7, unit.table_offset);
            return;
        }
    }
    if (description_.unit_count_ == IvrsDescription::unit_capacity) {
        reject_block(offset, fields.type, "more than %zu IOMMUs", IvrsDescription::unit_capacity);
        return;
    }

    const uint8_t unit_index = static_cast<uint8_t>(description_.unit_count_++);
    IommuUnit& unit = description_.units_[unit_index];
    unit = IommuUnit{};
    unit.block_type = fields.type;
    unit.flags = fields.flags;
    unit.segment = fields.segment;
    unit.device_id = fields.device_id;
    unit.capability_offset = fields.capability_offset;
    unit.base_address = fields.base_address;
    unit.info = fields.info;
    unit.feature_reporting = fields.feature_reporting;
    unit.has_extended_features = fields.header_size == sizeof(IvhdType11Header) && description_.iv_info_.efr_supported();
    unit.extended_features = unit.has_extended_features ? fields.extended_features : 0;
    unit.extended_features_2 = unit.has_extended_features ? fields.extended_features_2 : 0;
    unit.highest_device_id = fields.device_id;
    unit.table_offset = static_cast<uint32_t>(offset);

    parse_device_entries(unit_index, offset + fields.header_size, offset + length);
}

void IvrsParser::note_device(uint8_t unit_index, uint16_t device_id) {
    IommuUnit& unit = description_.units_[unit_index];
    unit.highest_device_id = max(unit.highest_device_id, device_id);
}

void IvrsParser::add_setting(uint8_t unit_index, size_t offset, DeviceEntryType type, uint16_t first, uint16_t last,
                             DeviceTableSetting setting, uint32_t extended_setting, bool has_alias, uint16_t alias) {
    if (description_.device_setting_count_ == IvrsDescription::device_setting_capacity) {
        reject_entry(offset, static_cast<uint8_t>(type), "more than %zu device entries",
                     IvrsDescription::device_setting_capacity);
        return;
    }
    DeviceSetting& entry = description_.device_settings_[description_.device_setting_count_++];
    entry = DeviceSetting{unit_index, first, last, setting, extended_setting, has_alias, alias, type,
                          static_cast<uint32_t>(offset)};
    note_device(unit_index, last);
    if (has_alias) note_device(unit_index, alias);
}

void IvrsParser::parse_device_entries(uint8_t unit_index, size_t start, size_t end) {
    PendingRange pending;
    size_t offset = start;
    while (offset < end) {
        const size_t remaining = end - offset;
        const uint8_t type = table_[offset];
        size_t size = 0;
        if (type == static_cast<uint8_t>(DeviceEntryType::acpi_hid_device)) {
            if (remaining < acpi_hid_fixed_size) {
                reject_entry(offset, type, "truncated: %zu bytes left of its %zu-byte fixed part", remaining,
                             acpi_hid_fixed_size);
                break;
            }
            size = acpi_hid_fixed_size + table_[offset + 21];
            if (size > remaining) {
                reject_entry(offset, type, "truncated: UID of %u bytes runs past the end of the IVHD",
                             table_[offset + 21]);
                break;
            }
        } else if (type < 0x80) {
            size = size_t{4} << (type >> 6);
            if (size > remaining) {
                reject_entry(offset, type, "truncated: %zu bytes left of a %zu-byte entry", remaining, size);
                break;
            }
        } else {
            // Only F0h is defined above 7Fh; without a known size nothing after
            // this entry can be located.
            reject_entry(offset, type, "unknown entry type of unknown size, rest of IVHD");
            break;
        }

        if (pending.active && type != static_cast<uint8_t>(DeviceEntryType::end_of_range)) {
            reject_entry(pending.offset, static_cast<uint8_t>(pending.type), "start of range without end of range");
            pending.active = false;
        }

        const auto entry = load<IvhdDeviceEntry4>(table_, offset);
        const DeviceTableSetting setting{entry.dte_setting};
        switch (static_cast<DeviceEntryType>(type)) {
        case DeviceEntryType::pad4:
        case DeviceEntryType::pad8: break;
        case DeviceEntryType::all:
            add_setting(unit_index, offset, DeviceEntryType::all, 0, 0xffff, setting, 0, false, 0);
            break;
        case DeviceEntryType::select:
            add_setting(unit_index, offset, DeviceEntryType::select, entry.device_id, entry.device_id, setting, 0,
                        false, 0);
            break;
        case DeviceEntryType::start_of_range:
            pending = PendingRange{true, offset, DeviceEntryType::start_of_range, entry.device_id, setting, 0, false, 0};
            break;
        case DeviceEntryType::alias_select: {
            const auto alias = load<IvhdAliasEntry>(table_, offset);
            add_setting(unit_index, offset, DeviceEntryType::alias_select, alias.device_id, alias.device_id, setting,
                        0, true, alias.source_device_id);
            break;
        }
        case DeviceEntryType::alias_start_of_range: {
            const auto alias = load<IvhdAliasEntry>(table_, offset);
            pending = PendingRange{true, offset, DeviceEntryType::alias_start_of_range, alias.device_id, setting, 0,
                                   true, alias.source_device_id};
            break;
        }
        case DeviceEntryType::extended_select: {
            const auto extended = load<IvhdExtendedEntry>(table_, offset);
            add_setting(unit_index, offset, DeviceEntryType::extended_select, extended.device_id, extended.device_id,
                        setting, extended.extended_dte_setting, false, 0);
            break;
        }
        case DeviceEntryType::extended_start_of_range: {
            const auto extended = load<IvhdExtendedEntry>(table_, offset);
            pending = PendingRange{true,    offset, DeviceEntryType::extended_start_of_range, extended.device_id,
                                   setting, extended.extended_dte_setting, false, 0};
            break;
        }
        case DeviceEntryType::end_of_range:
            if (!pending.active) {
                reject_entry(offset, type, "end of range without start of range");
            } else if (entry.device_id < pending.first_device) {
                reject_entry(pending.offset, static_cast<uint8_t>(pending.type),
                             "range 0x%04x-0x%04x ends before it starts", pending.first_device, entry.device_id);
            } else {
                add_setting(unit_index, pending.offset, pending.type, pending.first_device, entry.device_id,
                            pending.setting, pending.extended_setting, pending.has_alias, pending.alias_device_id);
            }
            pending.active = false;
            break;
        case DeviceEntryType::special_device: {
            const auto special = load<IvhdSpecialDeviceEntry>(table_, offset);
            if (special.variety != static_cast<uint8_t>(SpecialDeviceVariety::ioapic) &&
                special.variety != static_cast<uint8_t>(SpecialDeviceVariety::hpet)) {
                reject_entry(offset, type, "variety 0x%02x is neither IOAPIC (1) nor HPET (2)", special.variety);
                break;
            }
            const auto variety = static_cast<SpecialDeviceVariety>(special.variety);
            if (const SpecialDevice* existing = description_.find_special(variety, special.handle)) {
                reject_entry(offset, type, "%s %u already has device ID 0x%04x (offset 0x%x)",
                             variety == SpecialDeviceVariety::ioapic ? "IOAPIC" : "HPET", special.handle,
                             existing->device_id, existing->table_offset);
                break;
            }
            if (description_.special_device_count_ == IvrsDescription::special_device_capacity) {
                reject_entry(offset, type, "more than %zu special devices", IvrsDescription::special_device_capacity);
                break;
            }
            description_.special_devices_[description_.special_device_count_++] =
                SpecialDevice{unit_index, variety, special.handle, special.device_id, setting,
                              static_cast<uint32_t>(offset)};
            // Its interrupts reach the IOMMU with this ID, so the device table
            // needs the entry and the setting like any other device.
            add_setting(unit_index, offset, DeviceEntryType::special_device, special.device_id, special.device_id,
                        setting, 0, false, 0);
            break;
        }
        case DeviceEntryType::acpi_hid_device: {
            const auto hid = load<IvhdAcpiHidEntry>(table_, offset);
            if (hid.unique_id_length > AcpiHidDevice::unique_id_capacity) {
                reject_entry(offset, type, "UID of %u bytes is longer than %zu", hid.unique_id_length,
                             AcpiHidDevice::unique_id_capacity);
                break;
            }
            if (description_.acpi_hid_device_count_ == IvrsDescription::acpi_hid_device_capacity) {
                reject_entry(offset, type, "more than %zu ACPI HID devices",
                             IvrsDescription::acpi_hid_device_capacity);
                break;
            }
            AcpiHidDevice& device = description_.acpi_hid_devices_[description_.acpi_hid_device_count_++];
            device = AcpiHidDevice{};
            device.unit = unit_index;
            device.device_id = hid.device_id;
            device.setting = setting;
            for (size_t index = 0; index < 8; ++index) {
                device.hardware_id[index] = hid.hardware_id[index];
                device.compatible_id[index] = hid.compatible_id[index];
            }
            device.unique_id_format = hid.unique_id_format;
            device.unique_id_length = hid.unique_id_length;
            for (size_t index = 0; index < hid.unique_id_length; ++index)
                device.unique_id[index] = static_cast<char>(table_[offset + acpi_hid_fixed_size + index]);
            device.table_offset = static_cast<uint32_t>(offset);
            add_setting(unit_index, offset, DeviceEntryType::acpi_hid_device, hid.device_id, hid.device_id, setting,
                        0, false, 0);
            break;
        }
        default: reject_entry(offset, type, "unknown entry type"); break;
        }
        offset += size;
    }
    if (pending.active)
        reject_entry(pending.offset, static_cast<uint8_t>(pending.type), "start of range without end of range");
}

void IvrsParser::parse_ivmd(size_t offset) {
    const auto block = load<IvmdBlock>(table_, offset);
    const bool unity = (block.flags & ivmd_flags::unity) != 0;
    const bool exclusion = (block.flags & ivmd_flags::exclusion_range) != 0;
    const bool read = (block.flags & ivmd_flags::read) != 0;
    const bool write = (block.flags & ivmd_flags::write) != 0;
    const uint64_t start = block.start_address;
    const uint64_t length = block.memory_block_length;

    if (!unity && !exclusion) {
        reject_block(offset, block.type, "flags 0x%02x set neither Unity nor ExclusionRange", block.flags);
        return;
    }
    if (length == 0) {
        reject_block(offset, block.type, "zero length at 0x%llx", static_cast<unsigned long long>(start));
        return;
    }
    if (start >= physical_address_limit || length > physical_address_limit - start) {
        reject_block(offset, block.type, "0x%llx+0x%llx reaches above 2^52", static_cast<unsigned long long>(start),
                     static_cast<unsigned long long>(length));
        return;
    }
    if (!exclusion && !read && !write) {
        reject_block(offset, block.type, "unity mapping at 0x%llx grants neither read (IR) nor write (IW)",
                     static_cast<unsigned long long>(start));
        return;
    }

    // 5.2.2.3 gives the start address and the length in bytes and asks for
    // both to be 4 KiB aligned. Real firmware does not always comply (one
    // laptop's table has five 22h blocks of length 1 for pages its devices
    // use). The block still says the devices reach that memory, and an IOMMU
    // maps whole pages, so the region becomes every page the block touches:
    // rounded outward, never dropped (dropping it would make the device fault
    // on memory the firmware says it needs). Nothing above 2^52 can result.
    const PhysicalAddress first_byte = align_down(start, page_size);
    const PhysicalAddress end = align_up(start + length, page_size);
    if (first_byte != start || end != start + length) {
        correct_block(offset, block.type, "0x%llx+0x%llx is not whole 4 KiB pages; rounded outward to 0x%llx-0x%llx",
                      static_cast<unsigned long long>(start), static_cast<unsigned long long>(length),
                      static_cast<unsigned long long>(first_byte), static_cast<unsigned long long>(end - 1));
    }

    IvmdRegion region;
    region.start = first_byte;
    region.length = end - first_byte;
    region.segment = block.pci_segment_group;
    switch (static_cast<IvrsBlockType>(block.type)) {
    case IvrsBlockType::memory_definition_one:
        region.scope = IvmdScope::one_device;
        region.first_device = region.last_device = block.device_id;
        break;
    case IvrsBlockType::memory_definition_range:
        if (block.auxiliary_data < block.device_id) {
            reject_block(offset, block.type, "device range 0x%04x-0x%04x ends before it starts", block.device_id,
                         block.auxiliary_data);
            return;
        }
        region.scope = IvmdScope::device_range;
        region.first_device = block.device_id;
        region.last_device = block.auxiliary_data;
        break;
    default: region.scope = IvmdScope::all_devices; break;
    }
    // An exclusion range is memory the IOMMU does not translate for the
    // devices it applies to: they reach it with full access. Mapping it as a
    // read/write identity region gives them exactly that, per device, without
    // the per-IOMMU Exclusion Base/Limit registers (one range each, and no
    // permission checks at all). docs/amd-vi.md, "Exclusion ranges".
    region.read = exclusion || read;
    region.write = exclusion || write;
    region.exclusion_range = exclusion;
    region.origin = IvmdOrigin::ivrs_table;
    region.origin_table = address_;
    region.origin_offset = static_cast<uint32_t>(offset);

    if (description_.ivmd_count_ == IvrsDescription::ivmd_capacity) {
        reject_block(offset, block.type, "more than %zu IVMDs", IvrsDescription::ivmd_capacity);
        return;
    }
    description_.ivmd_regions_[description_.ivmd_count_++] = region;
}

Status parse_ivrs(Span<const uint8_t> table, PhysicalAddress table_address, IvrsDescription& description) {
    IvrsParser parser(table, table_address, description);
    return parser.run();
}

}  // namespace sluice::amd
