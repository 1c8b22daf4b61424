#include <drivers/acpi/table_reader.hpp>

namespace sluice::acpi {

Status TableReader::read_bytes(uint64_t offset, void* destination, uint64_t length) const {
    if (!contains(offset, length)) return Error::out_of_range;
    if (length == 0) return success();
    return memory_->read_bytes(address_ + offset, destination, static_cast<size_t>(length));
}

Status TableReader::copy_to(Span<uint8_t> destination) const {
    if (destination.size() < length_) return Error::capacity;
    return read_bytes(0, destination.data(), length_);
}

Result<uint8_t> TableReader::checksum() const {
    uint8_t chunk[256];
    uint8_t sum = 0;
    for (uint64_t offset = 0; offset < length_; offset += sizeof chunk) {
        const uint64_t count = min<uint64_t>(sizeof chunk, length_ - offset);
        SLUICE_TRY(read_bytes(offset, chunk, count));
        for (uint64_t index = 0; index < count; ++index) sum = static_cast<uint8_t>(sum + chunk[index]);
    }
    return sum;
}

Result<TableReader> TableReader::slice(uint64_t offset, uint64_t length) const {
    if (!contains(offset, length)) return Error::out_of_range;
    return TableReader(*memory_, address_ + offset, length);
}

}  // namespace sluice::acpi
