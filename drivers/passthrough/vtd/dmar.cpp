#include <drivers/passthrough/vtd/dmar.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::vtd {
namespace {

constexpr Logger logger{"vtd"};

constexpr size_t header_size = sizeof(DmaRemappingReportingStructure);
constexpr uint32_t no_offset = ~uint32_t{0};

// Host address widths outside this range are firmware errors (8.1 gives 40
// as its example; real platforms report 36 to 52, QEMU 39 or 48).
constexpr unsigned minimum_host_address_width = 32;
constexpr unsigned maximum_host_address_width = 64;

// Copies a packed structure out of the table; the caller has checked the bounds.
template <typename Structure> Structure load(Span<const uint8_t> bytes, size_t offset) {
    static_assert(__is_trivially_copyable(Structure));
    Structure structure;
    __builtin_memcpy(&structure, bytes.data() + offset, sizeof structure);
    return structure;
}

const char* scope_type_name(uint8_t type) {
    switch (type) {
    case 1: return "PCI endpoint";
    case 2: return "PCI sub-hierarchy";
    case 3: return "I/O APIC";
    case 4: return "MSI-capable HPET";
    case 5: return "ACPI namespace device";
    }
    return "undefined";
}

// Which device scope types a structure may list, and whether each must be a
// one-hop (root-complex integrated) path.
struct ScopeRules {
    uint8_t allowed_types;  // bit n: type n allowed
    bool single_hop;
};

constexpr uint8_t type_bit(DeviceScopeType type) { return static_cast<uint8_t>(1u << static_cast<uint8_t>(type)); }

// 8.3 (any type), 8.4 (devices requiring the region), 8.5 (root ports, type
// 2), 8.8 (type 1, one hop), 8.9 (type 1 or 5, one hop).
constexpr ScopeRules drhd_rules{static_cast<uint8_t>(type_bit(DeviceScopeType::pci_endpoint) |
                                                     type_bit(DeviceScopeType::pci_sub_hierarchy) |
                                                     type_bit(DeviceScopeType::ioapic) |
                                                     type_bit(DeviceScopeType::msi_capable_hpet) |
                                                     type_bit(DeviceScopeType::acpi_namespace_device)),
                                false};
constexpr ScopeRules rmrr_rules{static_cast<uint8_t>(type_bit(DeviceScopeType::pci_endpoint) |
                                                     type_bit(DeviceScopeType::pci_sub_hierarchy)),
                                false};
constexpr ScopeRules atsr_rules{type_bit(DeviceScopeType::pci_sub_hierarchy), false};
constexpr ScopeRules satc_rules{type_bit(DeviceScopeType::pci_endpoint), true};
constexpr ScopeRules sidp_rules{static_cast<uint8_t>(type_bit(DeviceScopeType::pci_endpoint) |
                                                     type_bit(DeviceScopeType::acpi_namespace_device)),
                                true};

// Where a path walk stopped: hop index of the missing bridge, or resolved.
struct PathWalk {
    bool resolved = false;
    pci::PciAddress device;
    pci::PciAddress missing_bridge;  // when !resolved and a resolver was asked
    bool asked = false;
};

PathWalk walk_path(const DmarDeviceScope& scope, uint16_t segment, BridgeResolver* resolver) {
    PathWalk walk;
    if (scope.path_length == 0) return walk;
    uint8_t bus = scope.start_bus;
    for (size_t hop = 0; hop + 1 < scope.path_length; ++hop) {
        if (resolver == nullptr) return walk;
        walk.asked = true;
        const Optional<BridgeBuses> buses =
            resolver->bridge_buses(segment, bus, scope.path[hop].device, scope.path[hop].function);
        if (!buses) {
            walk.missing_bridge = pci::PciAddress{segment, bus, scope.path[hop].device, scope.path[hop].function};
            return walk;
        }
        bus = buses->secondary;
    }
    const DeviceScopePath& last = scope.path[scope.path_length - 1];
    walk.resolved = true;
    walk.device = pci::PciAddress{segment, bus, last.device, last.function};
    return walk;
}

}  // namespace

StructureName structure_name(uint16_t type) {
    StructureName name;
    switch (static_cast<RemappingStructureType>(type)) {
    case RemappingStructureType::dma_remapping_hardware_unit: format(name.text, sizeof name.text, "DRHD"); break;
    case RemappingStructureType::reserved_memory_region: format(name.text, sizeof name.text, "RMRR"); break;
    case RemappingStructureType::root_port_ats_capability: format(name.text, sizeof name.text, "ATSR"); break;
    case RemappingStructureType::remapping_hardware_static_affinity: format(name.text, sizeof name.text, "RHSA"); break;
    case RemappingStructureType::acpi_namespace_device_declaration: format(name.text, sizeof name.text, "ANDD"); break;
    case RemappingStructureType::soc_integrated_address_translation_cache:
        format(name.text, sizeof name.text, "SATC");
        break;
    case RemappingStructureType::soc_integrated_device_property: format(name.text, sizeof name.text, "SIDP"); break;
    default: format(name.text, sizeof name.text, "type %u", type); break;
    }
    return name;
}

const char* describe(DeviceScopeType type) { return scope_type_name(static_cast<uint8_t>(type)); }

Optional<pci::PciAddress> resolve_path(const DmarDeviceScope& scope, uint16_t segment, BridgeResolver* resolver) {
    const PathWalk walk = walk_path(scope, segment, resolver);
    if (!walk.resolved) return {};
    return walk.device;
}

// --- The parser ------------------------------------------------------------------

class DmarParser {
public:
    DmarParser(Span<const uint8_t> bytes, PhysicalAddress address, DmarDescription& description,
               BridgeResolver* resolver)
        : bytes_(bytes), address_(address), description_(description), resolver_(resolver) {}

    Status parse();

private:
    // "DMAR at 0x...[, offset 0x...]: <what>: <message>" as a warning.
    void warn(uint32_t offset, const char* what, const char* pattern, ...) const __attribute__((format(printf, 4, 5)));
    void report(LogLevel level, uint32_t offset, const char* what, const char* pattern,
                __builtin_va_list arguments) const;
    void reject(uint32_t offset, const char* what, const char* pattern, ...) __attribute__((format(printf, 4, 5)));

    Status check_header();
    void parse_structure(uint16_t type, size_t offset, size_t length);
    void parse_unit(size_t offset, size_t length);
    void parse_reserved_memory(size_t offset, size_t length);
    void parse_ats_reporting(size_t offset, size_t length);
    void parse_static_affinity(size_t offset, size_t length);
    void parse_namespace_device(size_t offset, size_t length);
    void parse_translation_cache(size_t offset, size_t length);
    void parse_device_properties(size_t offset, size_t length);

    // Appends the device scope entries in [first, end) of the table to the
    // description's pool; returns the run they occupy.
    ScopeRange parse_scopes(const char* structure, uint16_t segment, size_t first, size_t end, const ScopeRules& rules);
    bool parse_scope(const char* what, uint16_t segment, size_t offset, size_t length, const ScopeRules& rules);

    Span<const uint8_t> bytes_;
    PhysicalAddress address_;
    DmarDescription& description_;
    BridgeResolver* resolver_;
};

void DmarParser::report(LogLevel level, uint32_t offset, const char* what, const char* pattern,
                        __builtin_va_list arguments) const {
    if (!log_enabled(level)) return;
    char message[log_line_capacity];
    size_t length = 0;
    if (offset == no_offset)
        length = format(message, sizeof message, "DMAR at 0x%llx: ", static_cast<unsigned long long>(address_));
    else
        length = format(message, sizeof message, "DMAR at 0x%llx, offset 0x%x: ",
                        static_cast<unsigned long long>(address_), offset);
    if (what != nullptr) length += format(message + length, sizeof message - length, "%s: ", what);
    format_arguments(message + length, sizeof message - length, pattern, arguments);
    log_message(level, logger.subsystem(), "%s", message);
}

void DmarParser::warn(uint32_t offset, const char* what, const char* pattern, ...) const {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(LogLevel::warning, offset, what, pattern, arguments);
    __builtin_va_end(arguments);
}

void DmarParser::reject(uint32_t offset, const char* what, const char* pattern, ...) {
    ++description_.rejected_;
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    report(LogLevel::warning, offset, what, pattern, arguments);
    __builtin_va_end(arguments);
}

Status DmarParser::check_header() {
    if (bytes_.size() < header_size) {
        reject(no_offset, nullptr, "only %zu bytes, shorter than the %zu-byte DMAR header; table ignored",
               bytes_.size(), header_size);
        return Error::malformed;
    }
    const auto header = load<DmaRemappingReportingStructure>(bytes_, 0);
    const char* signature = header.header.signature;
    if (!(signature[0] == 'D' && signature[1] == 'M' && signature[2] == 'A' && signature[3] == 'R')) {
        char printable[5];
        for (size_t index = 0; index < 4; ++index)
            printable[index] = (signature[index] >= 0x20 && signature[index] < 0x7f) ? signature[index] : '?';
        printable[4] = '\0';
        reject(no_offset, nullptr, "signature is '%s', not 'DMAR'; table ignored", printable);
        return Error::malformed;
    }
    const uint32_t length = header.header.length;
    if (length < header_size) {
        reject(no_offset, nullptr, "length %u is shorter than the %zu-byte DMAR header; table ignored", length,
               header_size);
        return Error::malformed;
    }
    if (length > bytes_.size()) {
        warn(no_offset, nullptr, "length %u exceeds the %zu bytes available; only those are parsed", length,
             bytes_.size());
    } else {
        bytes_ = Span<const uint8_t>(bytes_.data(), length);
    }

    uint8_t sum = 0;
    for (const uint8_t byte : bytes_) sum = static_cast<uint8_t>(sum + byte);
    if (sum != 0) warn(no_offset, nullptr, "checksum is off by 0x%02x; parsed anyway", sum);

    unsigned width = header.host_address_width + 1u;
    if (width < minimum_host_address_width || width > maximum_host_address_width) {
        warn(no_offset, nullptr, "host address width %u is outside %u..%u; taken as %u", width,
             minimum_host_address_width, maximum_host_address_width, maximum_host_address_width);
        width = maximum_host_address_width;
    }
    if (description_.table_count_ == 0) {
        description_.host_address_width_ = width;
        description_.flags_ = header.flags;
        description_.first_table_ = address_;
    } else {
        if (width != description_.host_address_width_)
            warn(no_offset, nullptr, "host address width %u differs from %u in the DMAR at 0x%llx; keeping %u",
                 width, description_.host_address_width_,
                 static_cast<unsigned long long>(description_.first_table_), description_.host_address_width_);
        if (header.flags != description_.flags_)
            warn(no_offset, nullptr, "flags 0x%02x differ from 0x%02x in the DMAR at 0x%llx; keeping 0x%02x",
                 header.flags, description_.flags_, static_cast<unsigned long long>(description_.first_table_),
                 description_.flags_);
    }
    ++description_.table_count_;
    return success();
}

Status DmarParser::parse() {
    SLUICE_TRY(check_header());

    size_t offset = header_size;
    const size_t end = bytes_.size();
    while (offset < end) {
        const size_t left = end - offset;
        if (left < sizeof(RemappingStructureHeader)) {
            reject(static_cast<uint32_t>(offset), nullptr,
                   "%zu trailing bytes are too short for a remapping structure header; ignored", left);
            break;
        }
        const auto header = load<RemappingStructureHeader>(bytes_, offset);
        const StructureName name = structure_name(header.type);
        size_t minimum = sizeof(RemappingStructureHeader);
        switch (static_cast<RemappingStructureType>(header.type)) {
        case RemappingStructureType::dma_remapping_hardware_unit:
            minimum = sizeof(DmaRemappingHardwareUnitDefinition);
            break;
        case RemappingStructureType::reserved_memory_region: minimum = sizeof(ReservedMemoryRegionReporting); break;
        case RemappingStructureType::root_port_ats_capability: minimum = sizeof(RootPortAtsCapabilityReporting); break;
        case RemappingStructureType::remapping_hardware_static_affinity:
            minimum = sizeof(RemappingHardwareStaticAffinity);
            break;
        case RemappingStructureType::acpi_namespace_device_declaration:
            minimum = sizeof(AcpiNamespaceDeviceDeclaration);
            break;
        case RemappingStructureType::soc_integrated_address_translation_cache:
            minimum = sizeof(SocIntegratedAddressTranslationCache);
            break;
        case RemappingStructureType::soc_integrated_device_property:
            minimum = sizeof(SocIntegratedDeviceProperty);
            break;
        }
        // A length that cannot be right leaves no way to find the next
        // structure: stop here rather than guess (a zero length would loop).
        if (header.length < minimum) {
            reject(static_cast<uint32_t>(offset), name.text,
                   "length %u is smaller than its %zu-byte header; rest of the table ignored", header.length, minimum);
            break;
        }
        if (header.length > left) {
            reject(static_cast<uint32_t>(offset), name.text,
                   "length %u runs past the end of the table (%zu bytes left); rest of the table ignored",
                   header.length, left);
            break;
        }
        parse_structure(header.type, offset, header.length);
        offset += header.length;
    }
    return success();
}

void DmarParser::parse_structure(uint16_t type, size_t offset, size_t length) {
    switch (static_cast<RemappingStructureType>(type)) {
    case RemappingStructureType::dma_remapping_hardware_unit: parse_unit(offset, length); return;
    case RemappingStructureType::reserved_memory_region: parse_reserved_memory(offset, length); return;
    case RemappingStructureType::root_port_ats_capability: parse_ats_reporting(offset, length); return;
    case RemappingStructureType::remapping_hardware_static_affinity: parse_static_affinity(offset, length); return;
    case RemappingStructureType::acpi_namespace_device_declaration: parse_namespace_device(offset, length); return;
    case RemappingStructureType::soc_integrated_address_translation_cache:
        parse_translation_cache(offset, length);
        return;
    case RemappingStructureType::soc_integrated_device_property: parse_device_properties(offset, length); return;
    }
    // 8.2: types above 6 are reserved; software skips what it does not know.
    const StructureName name = structure_name(type);
    logger.info("DMAR at 0x%llx, offset 0x%zx: %s (%zu bytes) is not a VT-d structure type; skipped",
                    static_cast<unsigned long long>(address_), offset, name.text, length);
}

bool DmarParser::parse_scope(const char* what, uint16_t segment, size_t offset, size_t length,
                             const ScopeRules& rules) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto entry = load<DeviceScopeEntry>(bytes_, offset);
    const size_t path_bytes = length - sizeof(DeviceScopeEntry);
    if (path_bytes % sizeof(DeviceScopePath) != 0) {
        reject(at, what, "path of %zu bytes is not a whole number of (device, function) pairs; scope ignored",
               path_bytes);
        return false;
    }
    const size_t hops = path_bytes / sizeof(DeviceScopePath);
    if (hops == 0) {
        reject(at, what, "no path; scope ignored");
        return false;
    }
    if (hops > DmarDeviceScope::max_path_length) {
        reject(at, what, "path of %zu hops is deeper than %zu; scope ignored", hops, DmarDeviceScope::max_path_length);
        return false;
    }
    if (entry.type == 0 || entry.type > static_cast<uint8_t>(DeviceScopeType::acpi_namespace_device)) {
        reject(at, what, "type %u is not defined; scope ignored", entry.type);
        return false;
    }
    if ((rules.allowed_types & (1u << entry.type)) == 0) {
        reject(at, what, "%s scope is not allowed here; scope ignored", scope_type_name(entry.type));
        return false;
    }
    if (rules.single_hop && hops != 1) {
        reject(at, what, "path of %zu hops where an integrated device (one hop) is required; scope ignored", hops);
        return false;
    }

    DmarDeviceScope scope;
    scope.type = static_cast<DeviceScopeType>(entry.type);
    scope.segment = segment;
    scope.flags = entry.flags;
    scope.enumeration_id = entry.enumeration_id;
    scope.start_bus = entry.start_bus_number;
    scope.path_length = static_cast<uint8_t>(hops);
    scope.table = address_;
    scope.offset = at;
    for (size_t hop = 0; hop < hops; ++hop) {
        const auto path =
            load<DeviceScopePath>(bytes_, offset + sizeof(DeviceScopeEntry) + hop * sizeof(DeviceScopePath));
        if (path.device >= pci::PciAddress::device_count || path.function >= pci::PciAddress::function_count) {
            reject(at, what, "hop %zu names device 0x%x function 0x%x, beyond 1f.7; scope ignored", hop + 1,
                   path.device, path.function);
            return false;
        }
        scope.path[hop] = path;
    }

    if (description_.scope_count_ == DmarDescription::max_scopes) {
        reject(at, what, "more than %zu device scopes in all; scope ignored", DmarDescription::max_scopes);
        return false;
    }

    const PathWalk walk = walk_path(scope, segment, resolver_);
    if (walk.resolved) {
        scope.resolved = true;
        scope.device = walk.device;
    } else if (walk.asked) {
        warn(at, what, "no PCI bridge at %s on the path; left unresolved", pci::describe(walk.missing_bridge).c_str());
    }
    description_.scopes_[description_.scope_count_++] = scope;
    return true;
}

ScopeRange DmarParser::parse_scopes(const char* structure, uint16_t segment, size_t first, size_t end,
                                    const ScopeRules& rules) {
    char what[32];
    format(what, sizeof what, "%s device scope", structure);
    ScopeRange range;
    range.first = static_cast<uint16_t>(description_.scope_count_);
    size_t offset = first;
    while (offset < end) {
        const size_t left = end - offset;
        const uint32_t at = static_cast<uint32_t>(offset);
        if (left < sizeof(DeviceScopeEntry)) {
            reject(at, what, "%zu trailing bytes are too short for a device scope; ignored", left);
            break;
        }
        const auto entry = load<DeviceScopeEntry>(bytes_, offset);
        if (entry.length < sizeof(DeviceScopeEntry)) {
            reject(at, what, "length %u is smaller than its %zu-byte header; remaining scopes of this %s ignored",
                   entry.length, sizeof(DeviceScopeEntry), structure);
            break;
        }
        if (entry.length > left) {
            reject(at, what,
                   "length %u runs past the end of the %s (%zu bytes left); remaining scopes of this %s ignored",
                   entry.length, structure, left, structure);
            break;
        }
        if (range.count == DmarDescription::max_scopes_per_structure) {
            reject(at, what, "more than %zu scopes in one %s; scope ignored", DmarDescription::max_scopes_per_structure,
                   structure);
        } else if (parse_scope(what, segment, offset, entry.length, rules)) {
            ++range.count;
        }
        offset += entry.length;
    }
    return range;
}

void DmarParser::parse_unit(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto unit = load<DmaRemappingHardwareUnitDefinition>(bytes_, offset);
    const uint64_t register_size = page_size << (unit.size & drhd_size_mask);
    if (unit.register_base_address == 0) {
        reject(at, "DRHD", "register base address is 0; unit ignored");
        return;
    }
    // 8.3, "Register Base Address": aligned to the register set size.
    if (!is_aligned(unit.register_base_address, register_size)) {
        reject(at, "DRHD", "register base 0x%llx is not aligned to its 0x%llx-byte register set; unit ignored",
               static_cast<unsigned long long>(unit.register_base_address),
               static_cast<unsigned long long>(register_size));
        return;
    }
    for (const DmarUnit& existing : description_.units()) {
        if (existing.register_base != unit.register_base_address) continue;
        reject(at, "DRHD", "register base 0x%llx is already described at offset 0x%x of the DMAR at 0x%llx; unit ignored",
               static_cast<unsigned long long>(unit.register_base_address), existing.offset,
               static_cast<unsigned long long>(existing.table));
        return;
    }
    if (description_.unit_count_ == DmarDescription::max_units) {
        reject(at, "DRHD", "more than %zu remapping units; unit ignored", DmarDescription::max_units);
        return;
    }
    DmarUnit result;
    result.register_base = unit.register_base_address;
    result.register_size = register_size;
    result.segment = unit.segment_number;
    result.include_pci_all = (unit.flags & drhd_include_pci_all) != 0;
    result.table = address_;
    result.offset = at;
    result.scopes = parse_scopes("DRHD", unit.segment_number, offset + sizeof unit, offset + length, drhd_rules);
    description_.units_[description_.unit_count_++] = result;
}

void DmarParser::parse_reserved_memory(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto region = load<ReservedMemoryRegionReporting>(bytes_, offset);
    const unsigned long long base = region.base_address;
    const unsigned long long limit = region.limit_address;
    // 8.4: base 4 KiB aligned, limit above base, (limit - base + 1) a whole
    // number of 4 KiB pages.
    if (!is_aligned(base, page_size)) {
        reject(at, "RMRR", "base 0x%llx is not 4 KiB aligned; region ignored", base);
        return;
    }
    if (limit < base) {
        reject(at, "RMRR", "limit 0x%llx is below base 0x%llx; region ignored", limit, base);
        return;
    }
    if ((limit & page_mask) != page_mask) {
        reject(at, "RMRR", "limit 0x%llx does not end a 4 KiB page; region ignored", limit);
        return;
    }
    const unsigned width = description_.host_address_width_;
    if (width < 64 && (limit >> width) != 0) {
        reject(at, "RMRR", "limit 0x%llx lies beyond the %u-bit host address width; region ignored", limit, width);
        return;
    }
    if (description_.reserved_count_ == DmarDescription::max_reserved_memory) {
        reject(at, "RMRR", "more than %zu reserved memory regions; region ignored", DmarDescription::max_reserved_memory);
        return;
    }
    const ScopeRange scopes =
        parse_scopes("RMRR", region.segment_number, offset + sizeof region, offset + length, rmrr_rules);
    if (scopes.count == 0) {
        reject(at, "RMRR", "no usable device scope; region ignored");
        return;
    }
    DmarReservedMemory result;
    result.segment = region.segment_number;
    result.base = base;
    result.limit = limit;
    result.scopes = scopes;
    result.table = address_;
    result.offset = at;
    description_.reserved_[description_.reserved_count_++] = result;
}

void DmarParser::parse_ats_reporting(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto report = load<RootPortAtsCapabilityReporting>(bytes_, offset);
    if (description_.ats_count_ == DmarDescription::max_ats_reporting) {
        reject(at, "ATSR", "more than %zu ATSR structures; ignored", DmarDescription::max_ats_reporting);
        return;
    }
    DmarAtsReporting result;
    result.segment = report.segment_number;
    result.all_ports = (report.flags & atsr_all_ports) != 0;
    // 8.5: with ALL_PORTS the device scope is omitted; anything there is ignored.
    if (!result.all_ports)
        result.scopes = parse_scopes("ATSR", report.segment_number, offset + sizeof report, offset + length, atsr_rules);
    description_.ats_[description_.ats_count_++] = result;
}

void DmarParser::parse_static_affinity(size_t offset, size_t) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto affinity = load<RemappingHardwareStaticAffinity>(bytes_, offset);
    if (description_.affinity_count_ == DmarDescription::max_static_affinity) {
        reject(at, "RHSA", "more than %zu RHSA structures; ignored", DmarDescription::max_static_affinity);
        return;
    }
    DmarStaticAffinity result;
    result.register_base = affinity.register_base_address;
    result.proximity_domain = affinity.proximity_domain;
    description_.affinity_[description_.affinity_count_++] = result;
}

void DmarParser::parse_namespace_device(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto declaration = load<AcpiNamespaceDeviceDeclaration>(bytes_, offset);
    const uint8_t* name = bytes_.data() + offset + sizeof declaration;
    const size_t name_bytes = length - sizeof declaration;
    size_t name_length = 0;
    while (name_length < name_bytes && name[name_length] != 0) ++name_length;
    if (name_length == name_bytes) {
        reject(at, "ANDD", "ACPI object name is not NUL-terminated; ignored");
        return;
    }
    if (name_length > DmarNamespaceDevice::max_name_length) {
        reject(at, "ANDD", "ACPI object name longer than %zu characters; ignored", DmarNamespaceDevice::max_name_length);
        return;
    }
    if (description_.namespace_count_ == DmarDescription::max_namespace_devices) {
        reject(at, "ANDD", "more than %zu ANDD structures; ignored", DmarDescription::max_namespace_devices);
        return;
    }
    DmarNamespaceDevice& result = description_.namespace_[description_.namespace_count_++];
    result.acpi_device_number = declaration.acpi_device_number;
    for (size_t index = 0; index < name_length; ++index) result.name[index] = static_cast<char>(name[index]);
    result.name[name_length] = '\0';
}

void DmarParser::parse_translation_cache(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto report = load<SocIntegratedAddressTranslationCache>(bytes_, offset);
    if (description_.cache_count_ == DmarDescription::max_translation_cache_reporting) {
        reject(at, "SATC", "more than %zu SATC structures; ignored", DmarDescription::max_translation_cache_reporting);
        return;
    }
    DmarTranslationCacheReporting result;
    result.segment = report.segment_number;
    result.atc_required = (report.flags & satc_atc_required) != 0;
    result.scopes = parse_scopes("SATC", report.segment_number, offset + sizeof report, offset + length, satc_rules);
    description_.cache_[description_.cache_count_++] = result;
}

void DmarParser::parse_device_properties(size_t offset, size_t length) {
    const uint32_t at = static_cast<uint32_t>(offset);
    const auto report = load<SocIntegratedDeviceProperty>(bytes_, offset);
    if (description_.properties_count_ == DmarDescription::max_device_properties) {
        reject(at, "SIDP", "more than %zu SIDP structures; ignored", DmarDescription::max_device_properties);
        return;
    }
    DmarDeviceProperties result;
    result.segment = report.segment_number;
    result.scopes = parse_scopes("SIDP", report.segment_number, offset + sizeof report, offset + length, sidp_rules);
    description_.properties_[description_.properties_count_++] = result;
}

// --- Public entry points ------------------------------------------------------------

Status parse_dmar(Span<const uint8_t> bytes, PhysicalAddress address, DmarDescription& description,
                  BridgeResolver* resolver) {
    DmarParser parser(bytes, address, description, resolver);
    return parser.parse();
}

void DmarDescription::clear() {
    unit_count_ = 0;
    reserved_count_ = 0;
    ats_count_ = 0;
    affinity_count_ = 0;
    namespace_count_ = 0;
    cache_count_ = 0;
    properties_count_ = 0;
    scope_count_ = 0;
    table_count_ = 0;
    rejected_ = 0;
    host_address_width_ = 0;
    flags_ = 0;
    first_table_ = 0;
}

size_t DmarDescription::resolve_scopes(BridgeResolver& resolver) {
    size_t unresolved = 0;
    for (size_t index = 0; index < scope_count_; ++index) {
        DmarDeviceScope& scope = scopes_[index];
        if (scope.resolved) continue;
        const PathWalk walk = walk_path(scope, scope.segment, &resolver);
        if (walk.resolved) {
            scope.resolved = true;
            scope.device = walk.device;
            continue;
        }
        ++unresolved;
        logger.warning("DMAR at 0x%llx, offset 0x%x: %s device scope: no PCI bridge at %s on the path; left unresolved",
                       static_cast<unsigned long long>(scope.table), scope.offset, describe(scope.type),
                       pci::describe(walk.missing_bridge).c_str());
    }
    return unresolved;
}

}  // namespace sluice::vtd
