#include <drivers/pci/msi.hpp>

namespace sluice::pci {

namespace {
// 6.8.1.3 Message Control: MSI Enable (0), Multiple Message Enable (6:4),
// 64 bit address capable (7).
constexpr uint16_t msi_enable = 1u << 0;
constexpr uint16_t multiple_message_enable_mask = 7u << 4;
constexpr uint16_t address_64_bit = 1u << 7;
constexpr uint16_t status_capabilities_list = 1u << 4;  // Status register (6.2.3)
constexpr uint16_t status_offset = 0x06;
}  // namespace

Result<uint16_t> find_capability(ConfigurationAccess& configuration, const PciAddress& function, uint8_t id) {
    if ((configuration.read16(function, status_offset) & status_capabilities_list) == 0) return Error::not_found;
    uint16_t offset = configuration.read8(function, 0x34) & 0xfc;
    for (unsigned steps = 0; offset >= 0x40 && steps < 48; ++steps) {
        if (configuration.read8(function, offset) == id) return offset;
        offset = configuration.read8(function, static_cast<uint16_t>(offset + 1)) & 0xfc;
    }
    return Error::not_found;
}

Status enable_msi(ConfigurationAccess& configuration, const PciAddress& function, uint64_t address, uint32_t data) {
    const uint16_t capability = SLUICE_TRY(find_capability(configuration, function, capability_id_msi));
    const uint16_t control = configuration.read16(function, static_cast<uint16_t>(capability + 2));
    const bool wide = (control & address_64_bit) != 0;
    if (!wide && (address >> 32) != 0) return Error::out_of_range;
    // Disabled while the message changes, so no half-written one is sent.
    configuration.write16(function, static_cast<uint16_t>(capability + 2),
                          static_cast<uint16_t>(control & ~(msi_enable | multiple_message_enable_mask)));
    configuration.write32(function, static_cast<uint16_t>(capability + 4), static_cast<uint32_t>(address));
    if (wide) configuration.write32(function, static_cast<uint16_t>(capability + 8), static_cast<uint32_t>(address >> 32));
    // Message Data is 16 bits (upper half reserved without extended data).
    configuration.write16(function, static_cast<uint16_t>(capability + (wide ? 12 : 8)), static_cast<uint16_t>(data));
    configuration.write16(function, static_cast<uint16_t>(capability + 2),
                          static_cast<uint16_t>((control & ~multiple_message_enable_mask) | msi_enable));
    return success();
}

Status disable_msi(ConfigurationAccess& configuration, const PciAddress& function) {
    const uint16_t capability = SLUICE_TRY(find_capability(configuration, function, capability_id_msi));
    const uint16_t control = configuration.read16(function, static_cast<uint16_t>(capability + 2));
    configuration.write16(function, static_cast<uint16_t>(capability + 2), static_cast<uint16_t>(control & ~msi_enable));
    return success();
}

}  // namespace sluice::pci
