#include <drivers/acpi/tables.hpp>

#include <sluice/format.hpp>

namespace sluice::acpi {

SignatureText describe(const Signature& signature) {
    SignatureText result{};
    if (signature.is_valid()) {
        for (size_t index = 0; index < 4; ++index) result.text[index] = signature.characters[index];
        result.text[4] = '\0';
    } else {
        format(result.text, sizeof result.text, "0x%08x", signature.value());
    }
    return result;
}

OemIdText describe_oem_id(const char (&oem_id)[6]) {
    OemIdText result{};
    for (size_t index = 0; index < 6; ++index) {
        const char character = oem_id[index];
        if (character == '\0') result.text[index] = ' ';
        else if (character < 0x20 || character > 0x7e) result.text[index] = '?';
        else result.text[index] = character;
    }
    result.text[6] = '\0';
    return result;
}

}  // namespace sluice::acpi
