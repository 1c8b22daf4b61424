// The PCI Express enhanced configuration (ECAM) windows the MCFG tables
// describe (PCI Firmware Specification 3.3, section 4.1.2).
#pragma once

#include <drivers/acpi/table_directory.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::acpi {

// One checked MCFG allocation: buses start_bus..end_bus of a segment.
struct ConfigurationSpaceRange {
    PhysicalAddress base_address = 0;  // bus 0 of the segment, as the MCFG gives it
    uint16_t segment = 0;
    uint8_t start_bus = 0;
    uint8_t end_bus = 0;

    // PCI Express Base Specification 6.0, section 7.2.2: each bus decodes
    // 1 MiB (32 devices x 8 functions x 4 KiB).
    static constexpr unsigned bus_shift = 20;

    // The first byte actually decoded (bus start_bus) and the window's size.
    [[nodiscard]] constexpr PhysicalAddress start() const {
        return base_address + (static_cast<uint64_t>(start_bus) << bus_shift);
    }
    [[nodiscard]] constexpr uint64_t size() const {
        return static_cast<uint64_t>(end_bus - start_bus + 1) << bus_shift;
    }
};

// Reads the allocations of every MCFG table in the directory into ranges and
// returns how many it stored. An allocation with a start bus above its end
// bus, a base that is zero, not 1 MiB aligned or that wraps, is skipped with
// a warning naming the MCFG, its address and the allocation's offset; so are
// allocations beyond ranges' capacity. No MCFG table gives 0.
[[nodiscard]] size_t read_configuration_space_ranges(const PhysicalMemory& memory, const TableDirectory& directory,
                                                     Span<ConfigurationSpaceRange> ranges);

}  // namespace sluice::acpi
