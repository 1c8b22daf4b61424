// Feeds arbitrary bytes to the RSDP validation, the table walk, the MCFG
// reader and the TableReader.
//
// The input is a memory image placed at 0xe0000 (the BIOS read-only area, so
// the legacy scan finds an RSDP at its start): an RSDP at offset 0 followed by
// tables whose RSDT/XSDT entries are physical addresses inside the image. The
// same bytes are also validated as a boot loader's RSDP copy. Every log line is
// formatted (into a sink that discards it), so the message paths run too.
#include <drivers/acpi/mcfg.hpp>
#include <drivers/acpi/root_pointer.hpp>
#include <drivers/acpi/table_directory.hpp>
#include <drivers/acpi/table_reader.hpp>

#include <sluice/log.hpp>

#include "tests/support/simulated_machine.hpp"

#include <cstring>
#include <vector>

namespace {

constexpr sluice::PhysicalAddress image_base = 0xe0000;

class DiscardingSink final : public sluice::LogSink {
public:
    void write_line(sluice::LogLevel, sluice::StringView line) override {
        for (char character : line) checksum_ = static_cast<uint8_t>(checksum_ + character);
    }

private:
    uint8_t checksum_ = 0;
};

void exercise_table(const sluice::PhysicalMemory& memory, const sluice::acpi::TableDescription& table) {
    const sluice::acpi::TableReader reader = sluice::acpi::open_table(memory, table);
    // The directory promised a readable table with a zero byte sum.
    if (reader.checksum().value_or(1) != 0) __builtin_trap();

    // Walk the table as a list of (type, length) sub-structures, the way the
    // DMAR and IVRS parsers do, and read each one's fields through a slice.
    uint64_t offset = sizeof(sluice::acpi::SystemDescriptionTableHeader);
    for (unsigned steps = 0; steps < 256 && offset < reader.length(); ++steps) {
        const sluice::Result<uint16_t> length = reader.read16(offset + 2);
        if (!length || length.value() < 4) break;
        const sluice::Result<sluice::acpi::TableReader> slice = reader.slice(offset, length.value());
        if (!slice) break;
        for (uint64_t field = 0; field < slice.value().length() + 8; field += 4) {
            (void)slice.value().read8(field);
            (void)slice.value().read16(field);
            (void)slice.value().read32(field);
            (void)slice.value().read64(field);
        }
        offset += length.value();
    }

    std::vector<uint8_t> copy(table.length);
    if (!sluice::acpi::copy_table(memory, table, sluice::Span<uint8_t>(copy.data(), copy.size()))) __builtin_trap();
    std::vector<uint8_t> original(table.length);
    if (!memory.read_bytes(table.address, original.data(), original.size())) __builtin_trap();
    if (copy != original) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static DiscardingSink sink;
    sluice::set_log_sink(&sink);
    sluice::set_log_threshold(static_cast<uint8_t>(sluice::LogLevel::debug));
    if (size == 0) return 0;

    (void)sluice::acpi::validate_root_pointer(sluice::Span<const uint8_t>(data, size));

    sluice::testing::SimulatedMemory memory(image_base, size);
    if (!memory.write_bytes(image_base, data, size)) return 0;
    (void)sluice::acpi::scan_for_root_pointer(memory);

    sluice::acpi::RsdpSource source = sluice::acpi::RsdpSource::at(image_base);
    source.scan_bios_areas = false;
    const sluice::Result<sluice::acpi::TableDirectory> directory = sluice::acpi::discover(memory, source);
    if (!directory) return 0;

    for (const sluice::acpi::TableDescription& table : directory.value().tables()) exercise_table(memory, table);
    size_t matches = 0;
    for (const sluice::acpi::TableDescription& table :
         directory.value().find_all(directory.value().tables()[0].signature)) {
        if (!(table.signature == directory.value().tables()[0].signature)) __builtin_trap();
        ++matches;
    }
    if (matches == 0) __builtin_trap();

    sluice::acpi::ConfigurationSpaceRange ranges[4];
    const size_t count = sluice::acpi::read_configuration_space_ranges(memory, directory.value(), ranges);
    for (size_t index = 0; index < count; ++index)
        if (ranges[index].start_bus > ranges[index].end_bus || ranges[index].base_address == 0) __builtin_trap();
    return 0;
}
