#include <drivers/acpi/root_pointer.hpp>
#include <drivers/acpi/tables.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::acpi {
namespace {

constexpr Logger logger{"acpi"};

// The RSDP is validated the same way whether its bytes come from a boot
// loader's copy or from memory; this is the one seam between the two.
class ByteSource {
public:
    [[nodiscard]] virtual Status read(uint64_t offset, void* destination, size_t length) const = 0;

protected:
    ~ByteSource() = default;
};

class BufferSource final : public ByteSource {
public:
    explicit BufferSource(Span<const uint8_t> bytes) : bytes_(bytes) {}

    [[nodiscard]] Status read(uint64_t offset, void* destination, size_t length) const override {
        if (offset > bytes_.size() || length > bytes_.size() - offset) return Error::out_of_range;
        auto* target = static_cast<uint8_t*>(destination);
        for (size_t index = 0; index < length; ++index) target[index] = bytes_[offset + index];
        return success();
    }

private:
    Span<const uint8_t> bytes_;
};

class MemorySource final : public ByteSource {
public:
    MemorySource(const PhysicalMemory& memory, PhysicalAddress address) : memory_(memory), address_(address) {}

    [[nodiscard]] Status read(uint64_t offset, void* destination, size_t length) const override {
        if (offset > ~uint64_t{0} - address_ || length > ~uint64_t{0} - (address_ + offset)) return Error::out_of_range;
        return memory_.read_bytes(address_ + offset, destination, length);
    }

private:
    const PhysicalMemory& memory_;
    PhysicalAddress address_;
};

// The byte sum of [0, length); a valid structure sums to zero (ACPI 6.5
// section 5.2.5.3 for both RSDP checksums).
Result<uint8_t> sum_bytes(const ByteSource& source, uint64_t length) {
    uint8_t chunk[64];
    uint8_t sum = 0;
    for (uint64_t offset = 0; offset < length; offset += sizeof chunk) {
        const size_t count = static_cast<size_t>(min<uint64_t>(sizeof chunk, length - offset));
        SLUICE_TRY(source.read(offset, chunk, count));
        for (size_t index = 0; index < count; ++index) sum = static_cast<uint8_t>(sum + chunk[index]);
    }
    return sum;
}

bool has_root_pointer_signature(const char (&signature)[8]) {
    for (size_t index = 0; index < 8; ++index)
        if (signature[index] != root_system_description_pointer_signature[index]) return false;
    return true;
}

// location: "at 0x..." or "(boot loader copy)", for the messages.
Result<RootPointer> validate(const ByteSource& source, const char* location) {
    RootSystemDescriptionPointerVersion1 first_part{};
    if (!source.read(0, &first_part, sizeof first_part)) {
        logger.warning("RSDP %s: its 20 bytes are not in accessible memory", location);
        return Error::out_of_range;
    }
    if (!has_root_pointer_signature(first_part.signature)) {
        logger.warning("RSDP %s: signature is not \"RSD PTR \"", location);
        return Error::malformed;
    }
    const uint8_t sum = sum_bytes(source, sizeof first_part).value_or(1);
    if (sum != 0) {
        logger.warning("RSDP %s: checksum of the first 20 bytes is 0x%02x, not 0; RSDP ignored", location, sum);
        return Error::malformed;
    }

    RootPointer root;
    root.revision = first_part.revision;
    root.length = sizeof first_part;
    root.rsdt_address = first_part.rsdt_address;
    for (size_t index = 0; index < sizeof root.oem_id; ++index) root.oem_id[index] = first_part.oem_id[index];

    // Revision 0 is ACPI 1.0 and 2 is ACPI 2.0 and later; 1 was never defined,
    // so only the part every revision shares is trusted.
    if (root.revision == 1)
        logger.warning("RSDP %s: revision 1 is not defined by ACPI; treated as revision 0 (RSDT only)", location);
    if (root.revision >= root_system_description_pointer_extended_revision) {
        RootSystemDescriptionPointer full{};
        if (!source.read(0, &full, sizeof full)) {
            logger.warning("RSDP %s: revision %u but its 36 bytes are not all readable; using the RSDT only",
                           location, root.revision);
        } else if (full.length < sizeof full || full.length > maximum_root_pointer_length) {
            logger.warning("RSDP %s: revision %u length %u is outside 36-%u; using the RSDT only", location,
                           root.revision, full.length, maximum_root_pointer_length);
        } else {
            const Result<uint8_t> extended_sum = sum_bytes(source, full.length);
            if (!extended_sum) {
                logger.warning("RSDP %s: length %u reaches past readable bytes; using the RSDT only", location,
                               full.length);
            } else if (extended_sum.value() != 0) {
                logger.warning("RSDP %s: extended checksum over %u bytes is 0x%02x, not 0; using the RSDT only",
                               location, full.length, extended_sum.value());
            } else {
                root.length = full.length;
                root.xsdt_address = full.xsdt_address;
            }
        }
    }
    if (root.rsdt_address == 0 && root.xsdt_address == 0) {
        logger.warning("RSDP %s names neither an RSDT nor a usable XSDT", location);
        return Error::malformed;
    }
    return root;
}

struct Location {
    char text[32];
};

Location location_of(PhysicalAddress address) {
    Location location;
    format(location.text, sizeof location.text, "at 0x%016llx", static_cast<unsigned long long>(address));
    return location;
}

}  // namespace

Result<RootPointer> validate_root_pointer(Span<const uint8_t> bytes) {
    Result<RootPointer> root = validate(BufferSource(bytes), "(boot loader copy)");
    if (root) root.value().from_copy = true;
    return root;
}

Result<RootPointer> read_root_pointer(const PhysicalMemory& memory, PhysicalAddress address) {
    Result<RootPointer> root = validate(MemorySource(memory, address), location_of(address).text);
    if (root) root.value().address = address;
    return root;
}

namespace {

// Looks for a valid RSDP in [start, end) on 16-byte boundaries. A candidate
// whose signature matches but which fails validation gets its warning and
// the search goes on: stray "RSD PTR " bytes in option ROM data happen.
Result<RootPointer> scan_range(const PhysicalMemory& memory, PhysicalAddress start, PhysicalAddress end) {
    for (PhysicalAddress candidate = align_up(start, root_pointer_alignment); candidate < end;
         candidate += root_pointer_alignment) {
        char signature[8];
        if (!memory.read_bytes(candidate, signature, sizeof signature)) continue;
        if (!has_root_pointer_signature(signature)) continue;
        Result<RootPointer> root = read_root_pointer(memory, candidate);
        if (root) return root;
    }
    return Error::not_found;
}

}  // namespace

Result<RootPointer> scan_for_root_pointer(const PhysicalMemory& memory) {
    uint16_t segment = 0;
    if (memory.read_bytes(extended_bios_data_area_pointer, &segment, sizeof segment) && segment != 0) {
        const PhysicalAddress area = PhysicalAddress{segment} << 4;
        Result<RootPointer> root = scan_range(memory, area, area + extended_bios_data_area_search_length);
        if (root) return root;
    }
    Result<RootPointer> root = scan_range(memory, bios_read_only_area_start, bios_read_only_area_end);
    if (!root) logger.warning("no valid RSDP in the EBDA or in 0xe0000-0xfffff");
    return root;
}

}  // namespace sluice::acpi
