// The ivmd= option (see ivmd_option.hpp and docs/amd-vi.md).
#include <drivers/passthrough/amd/ivmd_option.hpp>

#include <drivers/pci/address.hpp>

#include <sluice/utility.hpp>

namespace sluice::amd {
namespace {

constexpr StringView option_name = "ivmd";
// Frame numbers name 4 KiB pages of the 52-bit physical address space.
constexpr uint64_t frame_limit = uint64_t{1} << (52 - page_shift);
// Offending text is quoted up to this many characters.
constexpr int excerpt_length = 48;

int excerpt(StringView text) { return static_cast<int>(min(text.length(), static_cast<size_t>(excerpt_length))); }

// Splits at the first occurrence of separator.
struct Split {
    StringView first;
    StringView second;
    bool found = false;
};
Split split_at(StringView text, char separator) {
    const size_t position = text.find(separator);
    if (position == text.length()) return Split{text, StringView(), false};
    return Split{text.substring(0, position), text.substring(position + 1), true};
}

IvmdOptionRegions option_regions;

}  // namespace

void parse_ivmd_option(StringView value, cmdline::Reporter& reporter, IvmdOptionRegions& into) {
    if (value.empty()) {
        reporter.warn(option_name, "missing value, ignored");
        return;
    }
    cmdline::ListIterator parts(value, ';');
    while (const Optional<StringView> next_part = parts.next()) {
        const StringView part = next_part.value();
        if (part.empty()) continue;  // "a;;b": empty list items are ignored (docs/command-line.md)
        const uint32_t range_number = ++into.ranges_seen_;

        const Split range_and_devices = split_at(part, '=');
        const Split frames = split_at(range_and_devices.first, '-');
        const Result<uint64_t> start = cmdline::parse_hex(frames.first);
        if (!start) {
            reporter.warn_formatted(option_name, "'%.*s': start frame '%.*s' is not a hex number, ignored",
                                    excerpt(part), part.data(), excerpt(frames.first), frames.first.data());
            continue;
        }
        uint64_t end = start.value();
        if (frames.found) {
            const Result<uint64_t> parsed_end = cmdline::parse_hex(frames.second);
            if (!parsed_end) {
                reporter.warn_formatted(option_name, "'%.*s': end frame '%.*s' is not a hex number, ignored",
                                        excerpt(part), part.data(), excerpt(frames.second), frames.second.data());
                continue;
            }
            end = parsed_end.value();
        }
        if (end < start.value()) {
            reporter.warn_formatted(option_name, "'%.*s': end frame %llx is below start frame %llx, ignored",
                                    excerpt(part), part.data(), static_cast<unsigned long long>(end),
                                    static_cast<unsigned long long>(start.value()));
            continue;
        }
        if (end >= frame_limit) {
            reporter.warn_formatted(option_name, "'%.*s': frame %llx lies above the 52-bit physical address space, "
                                    "ignored",
                                    excerpt(part), part.data(), static_cast<unsigned long long>(end));
            continue;
        }

        IvmdRegion region;
        region.start = start.value() << page_shift;
        region.length = (end - start.value() + 1) << page_shift;
        region.read = true;
        region.write = true;
        region.origin = IvmdOrigin::ivmd_option;
        region.origin_table = 0;
        region.origin_offset = range_number;

        const auto append = [&](const IvmdRegion& added) {
            if (into.full()) {
                reporter.warn_formatted(option_name, "'%.*s': more than %zu regions, ignored", excerpt(part),
                                        part.data(), IvmdOptionRegions::capacity);
                return false;
            }
            into.regions_[into.count_++] = added;
            return true;
        };

        if (!range_and_devices.found) {
            region.scope = IvmdScope::all_devices;
            region.segment = 0;
            append(region);
            continue;
        }
        if (range_and_devices.second.empty()) {
            // "start=" names no device; reading it as "all devices" would map
            // the region for far more than was asked.
            reporter.warn_formatted(option_name, "'%.*s': empty device list, ignored", excerpt(part), part.data());
            continue;
        }
        cmdline::ListIterator devices(range_and_devices.second, ',');
        while (const Optional<StringView> next_device = devices.next()) {
            const StringView item = next_device.value();
            if (item.empty()) continue;
            const Split ends = split_at(item, '-');
            const Optional<pci::PciAddress> first = pci::PciAddress::parse(ends.first);
            const Optional<pci::PciAddress> last = ends.found ? pci::PciAddress::parse(ends.second) : first;
            if (!first || !last) {
                reporter.warn_formatted(option_name, "'%.*s': device '%.*s' is not [seg:]bus:dev.fn, ignored",
                                        excerpt(part), part.data(), excerpt(item), item.data());
                continue;
            }
            if (first.value().segment != last.value().segment) {
                reporter.warn_formatted(option_name, "'%.*s': device range '%.*s' spans PCI segments, ignored",
                                        excerpt(part), part.data(), excerpt(item), item.data());
                continue;
            }
            if (last.value().requester_id() < first.value().requester_id()) {
                reporter.warn_formatted(option_name, "'%.*s': device range '%.*s' ends before it starts, ignored",
                                        excerpt(part), part.data(), excerpt(item), item.data());
                continue;
            }
            IvmdRegion device_region = region;
            device_region.segment = first.value().segment;
            device_region.first_device = first.value().requester_id();
            device_region.last_device = last.value().requester_id();
            device_region.scope = ends.found ? IvmdScope::device_range : IvmdScope::one_device;
            if (!append(device_region)) break;
        }
    }
}

const IvmdOptionRegions& ivmd_option_regions() { return option_regions; }

void clear_ivmd_option_regions() { option_regions.clear(); }

void handle_ivmd_option(StringView, StringView value, cmdline::Reporter& reporter) {
    parse_ivmd_option(value, reporter, option_regions);
}

}  // namespace sluice::amd

SLUICE_CUSTOM_PARAMETER("ivmd", ::sluice::amd::handle_ivmd_option);
