// The address of one PCI function: segment (PCI segment group), bus, device
// and function, written "0000:00:03.0" (or "00:03.0" within segment 0).
#pragma once

#include <sluice/optional.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::pci {

struct PciAddress {
    uint16_t segment = 0;
    uint8_t bus = 0;
    uint8_t device = 0;    // 0-31
    uint8_t function = 0;  // 0-7

    static constexpr uint8_t device_count = 32;
    static constexpr uint8_t function_count = 8;

    [[nodiscard]] constexpr bool is_valid() const { return device < device_count && function < function_count; }

    // The 16-bit bus/device/function number a function puts on its requests:
    // PCI Express Base Specification 6.0 section 2.2.6.2 "Requester ID", which
    // Intel VT-d calls the source-id and AMD IOMMU the DeviceID.
    [[nodiscard]] constexpr uint16_t requester_id() const {
        return static_cast<uint16_t>(bus << 8 | (device & 0x1f) << 3 | (function & 0x7));
    }
    [[nodiscard]] static constexpr PciAddress from_requester_id(uint16_t segment, uint16_t requester_id) {
        return PciAddress{segment, static_cast<uint8_t>(requester_id >> 8),
                          static_cast<uint8_t>((requester_id >> 3) & 0x1f), static_cast<uint8_t>(requester_id & 0x7)};
    }

    // A total order, segment first, then bus, device and function (the order
    // lspci lists functions in): segment << 16 | requester ID.
    [[nodiscard]] constexpr uint32_t sort_key() const { return static_cast<uint32_t>(segment) << 16 | requester_id(); }

    friend constexpr bool operator==(const PciAddress& first, const PciAddress& second) {
        return first.segment == second.segment && first.bus == second.bus && first.device == second.device &&
               first.function == second.function;
    }

    // Parses "SSSS:BB:DD.F" or "BB:DD.F" (segment 0), hex digits as lspci and
    // Xen write them; nothing when the text is malformed or out of range.
    [[nodiscard]] static Optional<PciAddress> parse(StringView text);
};

// A formatted address, for "%s".
struct PciAddressText {
    char text[16];
    [[nodiscard]] const char* c_str() const { return text; }
};

// "0000:00:03.0"
[[nodiscard]] PciAddressText describe(const PciAddress& address);
// "00:03.0", the segment left out.
[[nodiscard]] PciAddressText describe_short(const PciAddress& address);

}  // namespace sluice::pci
