#include <drivers/acpi/table_directory.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::acpi {
namespace {

constexpr Logger logger{"acpi"};

// A real RSDT or XSDT lists a few dozen tables; a longer list is corrupt,
// and stopping there keeps a garbage length from costing millions of reads.
constexpr uint64_t maximum_root_table_entries = 1024;

unsigned long long printable(PhysicalAddress address) { return static_cast<unsigned long long>(address); }

struct Location {
    char text[40];
};

}  // namespace

Status TableDirectory::add(const TableDescription& table) {
    if (contains_address(table.address)) return Error::already_exists;
    if (count_ == capacity) return Error::capacity;
    tables_[count_++] = table;
    return success();
}

Optional<TableDescription> TableDirectory::find_first(Signature signature) const {
    for (const TableDescription& table : tables())
        if (table.signature == signature) return table;
    return {};
}

bool TableDirectory::contains_address(PhysicalAddress address) const {
    for (const TableDescription& table : tables())
        if (table.address == address) return true;
    return false;
}

void print(const TableDescription& table) {
    logger.info("%s 0x%016llx length %u rev %u (%s)", describe(table.signature).c_str(), printable(table.address),
                table.length, table.revision, describe_oem_id(table.oem_id).c_str());
}

Status copy_table(const PhysicalMemory& memory, const TableDescription& table, Span<uint8_t> destination) {
    return open_table(memory, table).copy_to(destination);
}

Result<TableDescription> check_table(const PhysicalMemory& memory, PhysicalAddress address, const char* location,
                                     const Signature* expected) {
    if (address == 0) {
        logger.warning("%s is a null address; skipped", location);
        return Error::malformed;
    }
    SystemDescriptionTableHeader header{};
    if (!memory.read_bytes(address, &header, sizeof header)) {
        logger.warning("table at 0x%016llx (%s): its 36-byte header is not in accessible memory; skipped",
                       printable(address), location);
        return Error::out_of_range;
    }
    const Signature signature = Signature::from_bytes(header.signature);
    const SignatureText name = describe(signature);
    if (!signature.is_valid()) {
        logger.warning("table at 0x%016llx (%s): signature %s is not four letters or digits; skipped",
                       printable(address), location, name.c_str());
        return Error::malformed;
    }
    if (expected != nullptr && !(signature == *expected)) {
        logger.warning("%s at 0x%016llx (%s): expected %s; skipped", name.c_str(), printable(address), location,
                       describe(*expected).c_str());
        return Error::malformed;
    }
    if (header.length < sizeof header) {
        logger.warning("%s at 0x%016llx (%s): length %u is below the 36-byte header; skipped", name.c_str(),
                       printable(address), location, header.length);
        return Error::malformed;
    }
    if (header.length > maximum_table_length) {
        logger.warning("%s at 0x%016llx (%s): length %u exceeds the %u-byte limit; skipped", name.c_str(),
                       printable(address), location, header.length, maximum_table_length);
        return Error::malformed;
    }
    if (header.length - 1 > ~uint64_t{0} - address) {
        logger.warning("%s at 0x%016llx (%s): length %u wraps past the end of the address space; skipped",
                       name.c_str(), printable(address), location, header.length);
        return Error::malformed;
    }
    const Result<uint8_t> sum = TableReader(memory, address, header.length).checksum();
    if (!sum) {
        logger.warning("%s at 0x%016llx (%s): length %u reaches past accessible memory; skipped", name.c_str(),
                       printable(address), location, header.length);
        return Error::out_of_range;
    }
    if (sum.value() != 0) {
        logger.warning("%s at 0x%016llx (%s): checksum mismatch, its %u bytes sum to 0x%02x; skipped",
                       name.c_str(), printable(address), location, header.length, sum.value());
        return Error::malformed;
    }

    TableDescription table;
    table.signature = signature;
    table.address = address;
    table.length = header.length;
    table.revision = header.revision;
    for (size_t index = 0; index < sizeof table.oem_id; ++index) table.oem_id[index] = header.oem_id[index];
    return table;
}

namespace {

bool is_root_table(const Signature& signature) {
    return signature == root_system_description_table_signature ||
           signature == extended_system_description_table_signature;
}

// Records one checked table; false when the directory is full (the walk stops).
bool record(TableDirectory& directory, const TableDescription& table, const char* location) {
    const Status added = directory.add(table);
    if (added) {
        print(table);
        return true;
    }
    if (added.error() == Error::already_exists) {
        logger.warning("%s at 0x%016llx (%s): this address is listed already; skipped",
                       describe(table.signature).c_str(), printable(table.address), location);
        return true;
    }
    logger.warning("%s at 0x%016llx (%s): the table directory is full (%zu tables); it and any later table "
                   "are not recorded",
                   describe(table.signature).c_str(), printable(table.address), location, TableDirectory::capacity);
    return false;
}

// Checks the RSDT or XSDT at address and records it and every valid table it
// lists. Fails, recording nothing, when the root table itself is invalid.
Status walk_root_table(const PhysicalMemory& memory, PhysicalAddress address, bool extended,
                       TableDirectory& directory) {
    const Signature& expected =
        extended ? extended_system_description_table_signature : root_system_description_table_signature;
    const TableDescription root =
        SLUICE_TRY(check_table(memory, address, extended ? "RSDP XSDT address" : "RSDP RSDT address", &expected));
    const char* root_name = extended ? "XSDT" : "RSDT";

    // ACPI 6.5 sections 5.2.7 and 5.2.8: the entries fill the table after its
    // header, 4 bytes each in the RSDT and 8 in the XSDT.
    const uint32_t entry_size =
        extended ? extended_system_description_table_entry_size : root_system_description_table_entry_size;
    const uint32_t entry_bytes = root.length - static_cast<uint32_t>(sizeof(SystemDescriptionTableHeader));
    if (entry_bytes % entry_size != 0)
        logger.warning("%s at 0x%016llx: length %u is not 36 + %u * n; the trailing %u bytes are ignored", root_name,
                       printable(address), root.length, entry_size, entry_bytes % entry_size);
    uint64_t entries = entry_bytes / entry_size;
    if (entries > maximum_root_table_entries) {
        logger.warning("%s at 0x%016llx lists %llu entries; only the first %llu are read", root_name,
                       printable(address), static_cast<unsigned long long>(entries),
                       static_cast<unsigned long long>(maximum_root_table_entries));
        entries = maximum_root_table_entries;
    }

    if (!record(directory, root, "RSDP")) return success();
    const TableReader reader = open_table(memory, root);
    for (uint64_t index = 0; index < entries; ++index) {
        const uint64_t offset = sizeof(SystemDescriptionTableHeader) + index * entry_size;
        PhysicalAddress entry = 0;
        if (extended) {
            const Result<uint64_t> value = reader.read64(offset);
            if (!value) break;  // cannot happen: the checksum read every byte
            entry = value.value();
        } else {
            const Result<uint32_t> value = reader.read32(offset);
            if (!value) break;
            entry = value.value();
        }

        Location location;
        format(location.text, sizeof location.text, "%s entry %llu", root_name, static_cast<unsigned long long>(index));
        const Result<TableDescription> table = check_table(memory, entry, location.text);
        if (!table) continue;
        // The walk never descends into listed tables, so a root table listing
        // itself or another root table cannot loop; it is still not a table
        // the rest of the system should see twice.
        if (is_root_table(table.value().signature)) {
            logger.warning("%s at 0x%016llx (%s): a root table listed as an entry; skipped",
                           describe(table.value().signature).c_str(), printable(entry), location.text);
            continue;
        }
        if (!record(directory, table.value(), location.text)) break;
    }
    return success();
}

// ACPI 6.5 section 5.2.9: the FADT names the DSDT, through X_DSDT when that
// field exists and is nonzero, else through the 32-bit DSDT field.
void add_differentiated_system_description_table(const PhysicalMemory& memory, const TableDescription& fadt,
                                                 TableDirectory& directory) {
    const TableReader reader = open_table(memory, fadt);
    const PhysicalAddress extended = reader.read64(fixed_acpi_description_table_x_dsdt_offset).value_or(0);
    const PhysicalAddress legacy = reader.read32(fixed_acpi_description_table_dsdt_offset).value_or(0);
    const PhysicalAddress address = extended != 0 ? extended : legacy;
    if (address == 0) {
        logger.warning("FACP at 0x%016llx names no DSDT", printable(fadt.address));
        return;
    }
    if (directory.contains_address(address)) return;
    const Result<TableDescription> table =
        check_table(memory, address, "FACP DSDT address", &differentiated_system_description_table_signature);
    if (table) (void)record(directory, table.value(), "FACP DSDT address");
}

Result<RootPointer> locate_root_pointer(const PhysicalMemory& memory, const RsdpSource& source) {
    if (!source.copy.empty()) {
        Result<RootPointer> root = validate_root_pointer(source.copy);
        if (root) return root;
    }
    if (source.physical_address != 0) {
        Result<RootPointer> root = read_root_pointer(memory, source.physical_address);
        if (root) return root;
    }
    if (source.scan_bios_areas) return scan_for_root_pointer(memory);
    logger.warning("no valid RSDP from the boot loader, and the BIOS area search is disabled");
    return Error::not_found;
}

}  // namespace

Result<TableDirectory> read_tables(const PhysicalMemory& memory, const RootPointer& root) {
    TableDirectory directory;
    directory.set_root_pointer(root);

    // ACPI 6.5 section 5.2.5.3: a revision 2 RSDP with an XSDT address is to be
    // walked through the XSDT; the RSDT remains for ACPI 1.0 readers, so it
    // is the fallback when the XSDT is unusable.
    bool walked = false;
    if (root.xsdt_address != 0) {
        walked = walk_root_table(memory, root.xsdt_address, true, directory).ok();
        if (!walked && root.rsdt_address != 0)
            logger.warning("XSDT at 0x%016llx is unusable; falling back to the RSDT at 0x%016llx",
                           printable(root.xsdt_address), printable(root.rsdt_address));
    }
    if (!walked) {
        if (root.rsdt_address == 0) {
            logger.error("no usable RSDT or XSDT; no ACPI tables");
            return Error::malformed;
        }
        const Status status = walk_root_table(memory, root.rsdt_address, false, directory);
        if (!status) {
            logger.error("no usable RSDT or XSDT; no ACPI tables");
            return status.error();
        }
    }

    const Optional<TableDescription> fadt = directory.find_first(fixed_acpi_description_table_signature);
    if (fadt) add_differentiated_system_description_table(memory, fadt.value(), directory);
    return directory;
}

Result<TableDirectory> discover(const PhysicalMemory& memory, const RsdpSource& source) {
    const RootPointer root = SLUICE_TRY(locate_root_pointer(memory, source));
    const OemIdText oem = describe_oem_id(root.oem_id);
    if (root.from_copy)
        logger.info("RSDP (boot loader copy) length %u rev %u (%s)", root.length, root.revision, oem.c_str());
    else
        logger.info("RSDP 0x%016llx length %u rev %u (%s)", printable(root.address), root.length, root.revision,
                    oem.c_str());
    return read_tables(memory, root);
}

}  // namespace sluice::acpi
