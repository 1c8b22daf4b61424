// Arbitrary bytes as DMAR tables (and as rmrr= text), through the parser, the
// bridge walk and the reserved-region list, checking the invariants the rest
// of the hypervisor relies on.
//
// Input: one mode byte, then the payload.
//   bit 0  fix up the header (signature, length, checksum) so the fuzzer
//          spends its time in the remapping structures
//   bit 1  resolve multi-hop paths through a fake bridge topology
//   bit 2  parse the payload a second time as another table (accumulation)
//   bit 3  the payload is an rmrr= value instead of a table
#include <drivers/passthrough/reserved_region.hpp>
#include <drivers/passthrough/vtd/dmar.hpp>
#include <drivers/passthrough/vtd/reserved_regions.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>
#include <sluice/memory_map.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sluice;

void require(bool condition) {
    if (!condition) std::abort();
}

// Formats every line (so the message paths run) and checks it fits.
class CheckingSink final : public LogSink {
public:
    void write_line(LogLevel, StringView line) override { require(line.length() < log_line_capacity); }
};

class CheckingReporter final : public cmdline::Reporter {
public:
    void warn(StringView option, StringView reason) override {
        require(option.length() > 0);
        require(reason.length() < 192);
    }
};

// Every even device is a bridge to a bus derived from its position.
class FakeBridges final : public vtd::BridgeResolver {
public:
    Optional<vtd::BridgeBuses> bridge_buses(uint16_t, uint8_t bus, uint8_t device, uint8_t) override {
        if ((device & 1) != 0) return {};
        const uint8_t secondary = static_cast<uint8_t>(bus + device + 1);
        return vtd::BridgeBuses{secondary, static_cast<uint8_t>(secondary + (device & 3))};
    }
};

void check_description(const vtd::DmarDescription& description) {
    const size_t scope_count = description.all_scopes().size();
    require(scope_count <= vtd::DmarDescription::max_scopes);
    require(description.units().size() <= vtd::DmarDescription::max_units);
    require(description.reserved_memory().size() <= vtd::DmarDescription::max_reserved_memory);
    for (const vtd::DmarUnit& unit : description.units()) {
        require(unit.register_base != 0 && (unit.register_base & (unit.register_size - 1)) == 0);
        require(static_cast<size_t>(unit.scopes.first) + unit.scopes.count <= scope_count);
    }
    for (const vtd::DmarReservedMemory& memory : description.reserved_memory()) {
        require((memory.base & page_mask) == 0 && (memory.limit & page_mask) == page_mask);
        require(memory.limit >= memory.base && memory.scopes.count > 0);
        require(static_cast<size_t>(memory.scopes.first) + memory.scopes.count <= scope_count);
    }
    for (const vtd::DmarDeviceScope& scope : description.all_scopes()) {
        require(scope.path_length >= 1 && scope.path_length <= vtd::DmarDeviceScope::max_path_length);
        if (scope.resolved) require(scope.device.segment == scope.segment);
    }
    for (const vtd::DmarNamespaceDevice& device : description.namespace_devices())
        require(std::strlen(device.name) <= vtd::DmarNamespaceDevice::max_name_length);
}

void check_list(const passthrough::ReservedRegionList& list, const MemoryMap& map) {
    PhysicalAddress previous_end = 0;
    for (const passthrough::ReservedRegion& region : list.regions()) {
        require(region.base < region.end && (region.base & page_mask) == 0 && (region.end & page_mask) == 0);
        require(region.base >= previous_end);  // sorted, never overlapping
        require(!region.devices.empty());
        require(passthrough::check_placement(map, region.base, region.end).allowed);
        previous_end = region.end;
    }
}

MemoryMap make_map() {
    MemoryMap map;
    (void)map.add(0, 0x9f000, MemoryType::ram);
    (void)map.add(0x9f000, 0x61000, MemoryType::reserved);
    (void)map.add(0x100000, 0x7f00000, MemoryType::ram);
    (void)map.add(0xd0000000, 0x10000000, MemoryType::reserved);
    map.sanitize();
    return map;
}

vtd::DmarDescription description;
passthrough::ReservedRegionList regions;
vtd::RmrrOption option;
const MemoryMap memory_map = make_map();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    CheckingSink sink;
    LogSink* previous = set_log_sink(&sink);
    set_log_threshold(static_cast<uint8_t>(LogLevel::debug));

    const uint8_t mode = data[0];
    std::vector<uint8_t> payload(data + 1, data + size);
    description.clear();
    regions.clear();
    option.clear();
    FakeBridges bridges;
    vtd::BridgeResolver* resolver = (mode & 2) != 0 ? &bridges : nullptr;

    if ((mode & 8) != 0) {
        CheckingReporter reporter;
        option.parse("rmrr", StringView(reinterpret_cast<const char*>(payload.data()), payload.size()), reporter);
        for (const vtd::RmrrOptionRange& range : option.ranges()) {
            require(range.first_frame <= range.last_frame && range.last_frame < vtd::RmrrOption::frame_limit);
            require(range.device_count >= 1 && range.device_count <= vtd::RmrrOptionRange::max_devices);
            for (const pci::PciAddress& device : range.device_list()) require(device.segment == range.segment);
        }
    } else {
        if ((mode & 1) != 0 && payload.size() >= 48) {
            std::memcpy(payload.data(), "DMAR", 4);
            const uint32_t length = static_cast<uint32_t>(payload.size());
            std::memcpy(payload.data() + 4, &length, 4);
            payload[9] = 0;
            uint8_t sum = 0;
            for (const uint8_t byte : payload) sum = static_cast<uint8_t>(sum + byte);
            payload[9] = static_cast<uint8_t>(-sum);
        }
        const Span<const uint8_t> table(payload.data(), payload.size());
        (void)vtd::parse_dmar(table, 0x7ffe0000, description, resolver);
        if ((mode & 4) != 0) (void)vtd::parse_dmar(table, 0x7ffe1000, description, resolver);
        check_description(description);
        if (resolver != nullptr) (void)description.resolve_scopes(*resolver);
    }

    const passthrough::PlacementPolicy placement{&memory_map, &passthrough::check_placement};
    const vtd::CollectedRegions collected =
        vtd::collect_reserved_regions(description, option, regions, placement, resolver);
    require(collected.accepted + collected.rejected == description.reserved_memory().size() + option.ranges().size());
    check_list(regions, memory_map);

    set_log_sink(previous);
    return 0;
}
