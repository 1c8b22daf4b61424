#include <drivers/acpi/mcfg.hpp>

#include <sluice/log.hpp>

namespace sluice::acpi {
namespace {

constexpr Logger logger{"acpi"};

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

}  // namespace

size_t read_configuration_space_ranges(const PhysicalMemory& memory, const TableDirectory& directory,
                                       Span<ConfigurationSpaceRange> ranges) {
    size_t stored = 0;
    for (const TableDescription& table : directory.find_all(memory_mapped_configuration_table_signature)) {
        const TableReader reader = open_table(memory, table);
        constexpr uint64_t first = sizeof(MemoryMappedConfigurationTable);
        constexpr uint64_t entry_size = sizeof(ConfigurationSpaceBaseAddressAllocation);
        if (table.length < first) {
            logger.warning("MCFG at 0x%016llx: length %u is below the 44-byte fixed part; table ignored",
                           printable(table.address), table.length);
            continue;
        }
        if ((table.length - first) % entry_size != 0)
            logger.warning("MCFG at 0x%016llx: length %u is not 44 + 16 * n; the trailing %llu bytes are ignored",
                           printable(table.address), table.length, printable((table.length - first) % entry_size));

        for (uint64_t offset = first; reader.contains(offset, entry_size); offset += entry_size) {
            const Result<ConfigurationSpaceBaseAddressAllocation> read =
                reader.read<ConfigurationSpaceBaseAddressAllocation>(offset);
            if (!read) break;
            const ConfigurationSpaceBaseAddressAllocation& allocation = read.value();
            const uint64_t base = allocation.base_address;
            const char* problem = nullptr;
            if (allocation.start_bus_number > allocation.end_bus_number) problem = "start bus is above end bus";
            else if (base == 0) problem = "base address is zero";
            else if (!is_aligned(base, uint64_t{1} << ConfigurationSpaceRange::bus_shift))
                problem = "base address is not 1 MiB aligned";
            else if (base > ~uint64_t{0} - (uint64_t{allocation.end_bus_number + 1u} << ConfigurationSpaceRange::bus_shift))
                problem = "window wraps past the end of the address space";
            if (problem != nullptr) {
                logger.warning("MCFG at 0x%016llx offset %llu: segment %u buses %02x-%02x base 0x%016llx: %s; "
                               "allocation ignored",
                               printable(table.address), printable(offset), allocation.pci_segment_group_number,
                               allocation.start_bus_number, allocation.end_bus_number, printable(base), problem);
                continue;
            }
            if (stored == ranges.size()) {
                logger.warning("MCFG at 0x%016llx offset %llu: more than %zu allocations; the rest are ignored",
                               printable(table.address), printable(offset), ranges.size());
                return stored;
            }
            ConfigurationSpaceRange& range = ranges[stored++];
            range.base_address = base;
            range.segment = allocation.pci_segment_group_number;
            range.start_bus = allocation.start_bus_number;
            range.end_bus = allocation.end_bus_number;
        }
    }
    return stored;
}

}  // namespace sluice::acpi
