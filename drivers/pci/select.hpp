// Choosing the configuration mechanism at boot: ECAM when an MCFG table
// gives a usable window for segment 0, the legacy ports otherwise.
#pragma once

#include <drivers/acpi/table_directory.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/ecam.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/physical_memory.hpp>

namespace sluice::pci {

// Adds a window to ecam for every valid MCFG allocation that mapper can map
// (each mapped range starts at the allocation's start bus), then returns ecam
// when it reaches 0000:00:00.0 and agrees with legacy there, else legacy.
// "Agrees" means ECAM does not read an absent function where the ports see
// one, nor a different identification: a window that is not really decoded
// (a wrong MCFG, or a chipset with ECAM disabled) must not hide every device.
// Logs one info line naming the chosen mechanism and each ECAM window, and one
// warning per window it could not use.
ConfigurationAccess& select_configuration_access(const acpi::TableDirectory& directory, const PhysicalMemory& memory,
                                                 MmioMapper& mapper, EcamConfigurationAccess& ecam,
                                                 ConfigurationAccess& legacy);

}  // namespace sluice::pci
