// Feeds arbitrary bytes to the IVRS parser and the ivmd= option parser, and
// checks what must hold for any input:
//   - the parser never reads outside the bytes it was given (AddressSanitizer);
//   - every recorded structure lies inside the table and is self-consistent:
//     ranges do not end before they start, IVMDs are page aligned, non-empty,
//     below 2^52 and grant some access, units have usable base addresses,
//     every entry belongs to a recorded unit;
//   - each warning counts as one rejection or one IVMD rounded to whole
//     pages, and lookups on the result work.
//
// The first input byte picks the mode: 0 parses the rest as a whole table;
// 1 puts a valid IVRS header in front of the rest (so the fuzzer spends its
// time on blocks and entries, not on the signature); 2 parses the rest as an
// ivmd= value. Every log line is formatted into a sink that discards it, so
// the message paths run too.
#include <drivers/passthrough/amd/ivmd_option.hpp>
#include <drivers/passthrough/amd/ivrs.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::amd;

void require(bool condition) {
    if (!condition) std::abort();
}

class CountingSink final : public LogSink {
public:
    void write_line(LogLevel level, StringView line) override {
        require(!line.empty());
        if (level == LogLevel::warning) ++warnings;
    }
    size_t warnings = 0;
};

class CountingReporter final : public cmdline::Reporter {
public:
    void warn(StringView, StringView reason) override {
        require(!reason.empty());
        ++warnings;
    }
    size_t warnings = 0;
};

IvrsDescription description;
IvmdOptionRegions option_regions;

void check(const IvrsDescription& parsed, size_t table_length) {
    for (const IommuUnit& unit : parsed.units()) {
        require(unit.base_address != 0 && (unit.base_address & 0x3fff) == 0);
        require(unit.table_offset >= 48 && unit.table_offset < table_length);
        require(unit.highest_device_id >= unit.device_id);
    }
    for (const DeviceSetting& setting : parsed.device_settings()) {
        require(setting.unit < parsed.units().size());
        require(setting.first_device <= setting.last_device);
        require(setting.table_offset < table_length);
        const IommuUnit& unit = parsed.units()[setting.unit];
        require(setting.last_device <= unit.highest_device_id);
        require(parsed.setting_for(unit.segment, setting.first_device) != nullptr);
        require(parsed.highest_device_id(unit.segment).has_value());
    }
    for (const SpecialDevice& special : parsed.special_devices()) {
        require(special.unit < parsed.units().size());
        require(parsed.find_special(special.variety, special.handle) == &special);
    }
    for (const AcpiHidDevice& device : parsed.acpi_hid_devices()) {
        require(device.unit < parsed.units().size());
        require(device.unique_id_length <= AcpiHidDevice::unique_id_capacity);
    }
    for (const IvmdRegion& region : parsed.ivmd_regions()) {
        require(region.length != 0 && (region.start & 0xfff) == 0 && (region.length & 0xfff) == 0);
        require(region.start < (uint64_t{1} << 52) && region.length <= (uint64_t{1} << 52) - region.start);
        require(region.read || region.write);
        require(region.first_device <= region.last_device || region.scope == IvmdScope::all_devices);
        require(region.origin_offset < table_length);
        const auto reserved = to_reserved_region(region);
        require(reserved.ok() && reserved.value().base == region.start && reserved.value().end == region.end());
    }
}

std::vector<uint8_t> with_header(const uint8_t* data, size_t size) {
    std::vector<uint8_t> table(48, 0);
    std::memcpy(table.data(), "IVRS", 4);
    const uint32_t length = static_cast<uint32_t>(48 + size);
    for (size_t index = 0; index < 4; ++index) table[4 + index] = static_cast<uint8_t>(length >> (8 * index));
    table[8] = 2;
    table[36] = 0x01;  // IVinfo: EFRSup
    table[37] = 0x30;  // PAsize 48
    table.insert(table.end(), data, data + size);
    return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    CountingSink sink;
    LogSink* previous = set_log_sink(&sink);
    set_log_threshold(static_cast<uint8_t>(LogLevel::debug));

    const uint8_t mode = data[0] % 3;
    ++data;
    --size;
    if (mode == 2) {
        option_regions.clear();
        CountingReporter reporter;
        parse_ivmd_option(StringView(reinterpret_cast<const char*>(data), size), reporter, option_regions);
        for (const IvmdRegion& region : option_regions.regions()) {
            require(region.length != 0 && (region.start & 0xfff) == 0);
            require(region.first_device <= region.last_device);
            require(to_reserved_region(region).ok());
        }
    } else {
        const std::vector<uint8_t> table = mode == 1 ? with_header(data, size) : std::vector<uint8_t>(data, data + size);
        // A copy of exactly the table's bytes, so ASan catches any read past them.
        std::vector<uint8_t> exact(table);
        const Status status = parse_ivrs(Span<const uint8_t>(exact.data(), exact.size()), 0x7fe00000, description);
        if (status.ok()) {
            check(description, exact.size());
            require(description.rejected_count() + description.rounded_count() == sink.warnings);
        } else {
            require(sink.warnings == 1);
        }
    }
    set_log_sink(previous);
    return 0;
}
