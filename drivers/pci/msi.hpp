// Message Signalled Interrupts (PCI Local Bus Specification 3.0, 6.8.1):
// finding a function's MSI capability and programming its one message.
#pragma once

#include <drivers/pci/configuration.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

inline constexpr uint8_t capability_id_msi = 0x05;

// The configuration-space offset of capability `id`, walking the list from
// the Capabilities Pointer (6.7), at most 48 entries so a looping list ends.
// Error::not_found when the function has none.
[[nodiscard]] Result<uint16_t> find_capability(ConfigurationAccess& configuration, const PciAddress& function,
                                               uint8_t id);

// Writes address and data into the MSI capability, one message (Multiple
// Message Enable 0), and sets MSI Enable. Error::not_found without an MSI
// capability, Error::out_of_range for an address above 4 GiB on a function
// without 64-bit message addresses.
[[nodiscard]] Status enable_msi(ConfigurationAccess& configuration, const PciAddress& function, uint64_t address,
                                uint32_t data);
// Clears MSI Enable.
[[nodiscard]] Status disable_msi(ConfigurationAccess& configuration, const PciAddress& function);

}  // namespace sluice::pci
