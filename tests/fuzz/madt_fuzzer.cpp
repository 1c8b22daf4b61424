// Arbitrary bytes as an MADT, through the parser, checking the invariants
// the interrupt layer relies on: every recorded structure is one the
// specification allows, nothing is recorded twice, capacities hold, and
// every message fits a log line.
//
// Input: one mode byte, then the payload.
//   bit 0  fix up the header (signature, length, checksum) so the fuzzer
//          spends its time in the interrupt controller structures
//   bit 1  parse the payload twice into the same description (the second
//          parse must forget the first)
#include <arch/x86/apic/madt.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::x86::apic;

void require(bool condition) {
    if (!condition) std::abort();
}

class CheckingSink final : public LogSink {
public:
    void write_line(LogLevel, StringView line) override { require(line.length() < log_line_capacity); }
};

bool reserved(InterruptPolarity polarity, InterruptTriggerMode trigger) {
    return polarity == InterruptPolarity::reserved || trigger == InterruptTriggerMode::reserved;
}

void check(const MadtDescription& description, size_t table_length) {
    require(description.processors().size() <= MadtDescription::max_processors);
    require(description.io_apics().size() <= MadtDescription::max_io_apics);
    require(description.source_overrides().size() <= MadtDescription::max_source_overrides);
    require(description.nmi_sources().size() <= MadtDescription::max_nmi_sources);
    require(description.local_nmis().size() <= MadtDescription::max_local_nmis);
    require(is_aligned(description.local_apic_address(), page_size));
    const auto inside = [&](const TableLocation& location) {
        require(location.offset >= sizeof(MultipleApicDescriptionTable) && location.offset < table_length);
    };
    const auto processors = description.processors();
    for (size_t index = 0; index < processors.size(); ++index) {
        const MadtProcessor& processor = processors[index];
        inside(processor.location);
        require(processor.enabled || processor.online_capable);
        require(!(processor.enabled && processor.online_capable));
        require(processor.apic_id != 0xffffffff);
        if (!processor.from_x2apic_structure) require(processor.apic_id < 0xff);
        for (size_t other = 0; other < index; ++other) require(processors[other].apic_id != processor.apic_id);
    }
    const auto io_apics = description.io_apics();
    for (size_t index = 0; index < io_apics.size(); ++index) {
        inside(io_apics[index].location);
        require(io_apics[index].address != 0 && is_aligned(io_apics[index].address, 16));
        for (size_t other = 0; other < index; ++other) {
            require(io_apics[other].id != io_apics[index].id);
            require(io_apics[other].address != io_apics[index].address);
            require(io_apics[other].global_system_interrupt_base != io_apics[index].global_system_interrupt_base);
        }
    }
    const auto overrides = description.source_overrides();
    for (size_t index = 0; index < overrides.size(); ++index) {
        inside(overrides[index].location);
        require(overrides[index].bus == 0 && overrides[index].source < 16);
        require(!reserved(overrides[index].polarity, overrides[index].trigger_mode));
        require(description.isa_irq_to_global_system_interrupt(overrides[index].source) ==
                overrides[index].global_system_interrupt);
        for (size_t other = 0; other < index; ++other) require(overrides[other].source != overrides[index].source);
    }
    for (const MadtNmiSource& source : description.nmi_sources()) {
        inside(source.location);
        require(!reserved(source.polarity, source.trigger_mode));
    }
    for (const MadtLocalNmi& nmi : description.local_nmis()) {
        inside(nmi.location);
        require(nmi.lint <= 1 && !reserved(nmi.polarity, nmi.trigger_mode));
    }
}

MadtDescription description;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    CheckingSink sink;
    LogSink* previous = set_log_sink(&sink);
    set_log_threshold(static_cast<uint8_t>(LogLevel::debug));

    const uint8_t mode = data[0];
    std::vector<uint8_t> payload(data + 1, data + size);
    if ((mode & 1) != 0 && payload.size() >= sizeof(MultipleApicDescriptionTable)) {
        std::memcpy(payload.data(), "APIC", 4);
        const uint32_t length = static_cast<uint32_t>(payload.size());
        std::memcpy(payload.data() + 4, &length, 4);
        payload[9] = 0;
        uint8_t sum = 0;
        for (const uint8_t byte : payload) sum = static_cast<uint8_t>(sum + byte);
        payload[9] = static_cast<uint8_t>(-sum);
    }
    const Span<const uint8_t> table(payload.data(), payload.size());
    const Status parsed = parse_madt(table, 0x7ffe0000, description);
    if (parsed.ok()) {
        require(description.parsed());
        check(description, payload.size());
    } else {
        require(!description.parsed() && description.processors().empty() && description.io_apics().empty());
    }
    if ((mode & 2) != 0) {
        const size_t processors = description.processors().size();
        const size_t io_apics = description.io_apics().size();
        const Status again = parse_madt(table, 0x7ffe0000, description);
        require(again.ok() == parsed.ok());
        require(description.processors().size() == processors && description.io_apics().size() == io_apics);
        if (again.ok()) check(description, payload.size());
    }

    set_log_sink(previous);
    return 0;
}
