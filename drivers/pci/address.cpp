#include <drivers/pci/address.hpp>

#include <sluice/format.hpp>

namespace sluice::pci {
namespace {

// The value of a view made only of minimum..maximum hex digits.
Optional<uint32_t> parse_hex(StringView text, size_t minimum_digits, size_t maximum_digits) {
    if (text.length() < minimum_digits || text.length() > maximum_digits) return {};
    uint32_t value = 0;
    for (char character : text) {
        uint32_t digit = 0;
        if (character >= '0' && character <= '9') digit = static_cast<uint32_t>(character - '0');
        else if (character >= 'a' && character <= 'f') digit = static_cast<uint32_t>(character - 'a' + 10);
        else if (character >= 'A' && character <= 'F') digit = static_cast<uint32_t>(character - 'A' + 10);
        else return {};
        value = value << 4 | digit;
    }
    return value;
}

}  // namespace

Optional<PciAddress> PciAddress::parse(StringView text) {
    // Split off the optional segment: two colons mean "SSSS:BB:DD.F".
    uint32_t segment = 0;
    const size_t first_colon = text.find(':');
    if (first_colon == text.length()) return {};
    StringView rest = text;
    if (text.find(':', first_colon + 1) != text.length()) {
        const Optional<uint32_t> parsed = parse_hex(text.substring(0, first_colon), 1, 4);
        if (!parsed) return {};
        segment = parsed.value();
        rest = text.substring(first_colon + 1);
    }
    const size_t colon = rest.find(':');
    const size_t dot = rest.find('.');
    if (colon == rest.length() || dot == rest.length() || dot < colon) return {};
    const Optional<uint32_t> bus = parse_hex(rest.substring(0, colon), 1, 2);
    const Optional<uint32_t> device = parse_hex(rest.substring(colon + 1, dot - colon - 1), 1, 2);
    const Optional<uint32_t> function = parse_hex(rest.substring(dot + 1), 1, 1);
    if (!bus || !device || !function) return {};
    if (device.value() >= device_count || function.value() >= function_count) return {};
    return PciAddress{static_cast<uint16_t>(segment), static_cast<uint8_t>(bus.value()),
                      static_cast<uint8_t>(device.value()), static_cast<uint8_t>(function.value())};
}

PciAddressText describe(const PciAddress& address) {
    PciAddressText result;
    format(result.text, sizeof result.text, "%04x:%02x:%02x.%x", address.segment, address.bus, address.device,
           address.function);
    return result;
}

PciAddressText describe_short(const PciAddress& address) {
    PciAddressText result;
    format(result.text, sizeof result.text, "%02x:%02x.%x", address.bus, address.device, address.function);
    return result;
}

}  // namespace sluice::pci
