#include <drivers/passthrough/vtd/rmrr_option.hpp>

namespace sluice::vtd {
namespace {

RmrrOption global_rmrr_option;

}  // namespace

void RmrrOption::parse(StringView option, StringView value, cmdline::Reporter& reporter) {
    if (value.empty()) {
        reporter.warn(option, "missing value, ignored");
        return;
    }
    cmdline::ListIterator items(value, ';');
    while (const Optional<StringView> item = items.next()) {
        if (item->empty()) continue;  // "a;;b" and a trailing ';' are harmless
        if (count_ == max_ranges) {
            if (!overflow_reported_) {
                const cmdline::Excerpt text = cmdline::excerpt(*item);
                reporter.warn_formatted(option, "more than %zu ranges; '%.*s%s' and the rest ignored", max_ranges,
                                        text.length, text.data, text.ellipsis);
                overflow_reported_ = true;
            }
            return;
        }
        parse_range(option, *item, reporter);
    }
}

void RmrrOption::parse_range(StringView option, StringView item, cmdline::Reporter& reporter) {
    const cmdline::Excerpt range_text = cmdline::excerpt(item);
    const cmdline::KeyValue parts = cmdline::split_key_value(item);
    if (!parts.has_value) {
        reporter.warn_formatted(option, "range '%.*s%s' has no '=' and device list; ignored", range_text.length,
                                range_text.data, range_text.ellipsis);
        return;
    }

    // start[-end], page frame numbers in hex.
    const size_t dash = parts.key.find('-');
    const StringView start_text = parts.key.substring(0, dash);
    const bool has_end = dash < parts.key.length();
    const StringView end_text = has_end ? parts.key.substring(dash + 1) : start_text;
    // which is "start" or "end", for the warning.
    const auto parse_frame = [&](const char* which, StringView text) -> Optional<uint64_t> {
        const Result<uint64_t> frame = cmdline::parse_hex(text);
        if (frame.ok()) return frame.value();
        const cmdline::Excerpt quoted = cmdline::excerpt(text);
        reporter.warn_formatted(option, "range '%.*s%s': %s '%.*s%s' is not a hex page frame number; ignored",
                                range_text.length, range_text.data, range_text.ellipsis, which, quoted.length,
                                quoted.data, quoted.ellipsis);
        return {};
    };
    const Optional<uint64_t> start = parse_frame("start", start_text);
    if (!start) return;
    const Optional<uint64_t> end = parse_frame("end", end_text);
    if (!end) return;
    if (end.value() < start.value()) {
        reporter.warn_formatted(option, "range '%.*s%s': end frame 0x%llx is below start frame 0x%llx; ignored",
                                range_text.length, range_text.data, range_text.ellipsis,
                                static_cast<unsigned long long>(end.value()),
                                static_cast<unsigned long long>(start.value()));
        return;
    }
    if (end.value() >= frame_limit) {
        reporter.warn_formatted(option, "range '%.*s%s': frame 0x%llx lies beyond the 52-bit physical address space; "
                                "ignored",
                                range_text.length, range_text.data, range_text.ellipsis,
                                static_cast<unsigned long long>(end.value()));
        return;
    }

    RmrrOptionRange& range = ranges_[count_];
    range.first_frame = start.value();
    range.last_frame = end.value();
    range.device_count = 0;
    bool too_many_reported = false;
    cmdline::ListIterator devices(parts.value, ',');
    while (const Optional<StringView> device_text = devices.next()) {
        if (device_text->empty()) continue;
        const cmdline::Excerpt text = cmdline::excerpt(*device_text);
        const Optional<pci::PciAddress> device = pci::PciAddress::parse(*device_text);
        if (!device) {
            reporter.warn_formatted(option, "range '%.*s%s': device '%.*s%s' is not [seg:]bus:dev.fn; device ignored",
                                    range_text.length, range_text.data, range_text.ellipsis, text.length, text.data,
                                    text.ellipsis);
            continue;
        }
        if (range.device_count > 0 && device.value().segment != range.segment) {
            reporter.warn_formatted(option,
                                    "range '%.*s%s': device '%.*s%s' is on segment %x, the range on segment %x; "
                                    "device ignored",
                                    range_text.length, range_text.data, range_text.ellipsis, text.length, text.data,
                                    text.ellipsis, device.value().segment, range.segment);
            continue;
        }
        bool repeated = false;
        for (const pci::PciAddress& known : range.device_list()) repeated = repeated || known == device.value();
        if (repeated) continue;
        if (range.device_count == RmrrOptionRange::max_devices) {
            if (!too_many_reported)
                reporter.warn_formatted(option, "range '%.*s%s': more than %zu devices; '%.*s%s' and the rest ignored",
                                        range_text.length, range_text.data, range_text.ellipsis,
                                        RmrrOptionRange::max_devices, text.length, text.data, text.ellipsis);
            too_many_reported = true;
            continue;
        }
        if (range.device_count == 0) range.segment = device.value().segment;
        range.devices[range.device_count++] = device.value();
    }
    if (range.device_count == 0) {
        reporter.warn_formatted(option, "range '%.*s%s' names no valid device; ignored", range_text.length,
                                range_text.data, range_text.ellipsis);
        return;
    }
    ++count_;
}

const RmrrOption& rmrr_option() { return global_rmrr_option; }

void clear_rmrr_option() { global_rmrr_option.clear(); }

void parse_rmrr_option(StringView option, StringView value, cmdline::Reporter& reporter) {
    global_rmrr_option.parse(option, value, reporter);
}

SLUICE_CUSTOM_PARAMETER("rmrr", parse_rmrr_option);

}  // namespace sluice::vtd
