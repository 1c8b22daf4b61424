#include <drivers/passthrough/iommu_options.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"iommu"};

// User text quoted in a warning is cut to this many characters plus "...".
constexpr size_t quoted_limit = 48;

struct Quoted {
    int length;
    const char* data;
    const char* ellipsis;
};

Quoted quote(StringView text) {
    const bool cut = text.length() > quoted_limit;
    return {static_cast<int>(cut ? quoted_limit : text.length()), text.data(), cut ? "..." : ""};
}

void warn_unknown(StringView option, StringView item, cmdline::Reporter& reporter) {
    const Quoted text = quote(item);
    reporter.warn_formatted(option, "unknown sub-option '%.*s%s', ignored", text.length, text.data, text.ellipsis);
}

void warn_invalid(StringView option, StringView item, const char* why, cmdline::Reporter& reporter) {
    const Quoted text = quote(item);
    reporter.warn_formatted(option, "sub-option '%.*s%s': %s, ignored", text.length, text.data, text.ellipsis, why);
}

// A sub-option that parses and is kept in the options, but that nothing acts
// on yet: saying so keeps the protection state honest (an operator who asks
// for iommu=intremap must not believe interrupts are remapped).
void warn_not_implemented(StringView option, StringView item, cmdline::Reporter& reporter) {
    const Quoted text = quote(item);
    reporter.warn_formatted(option, "sub-option '%.*s%s' is accepted but not implemented yet: it has no effect",
                            text.length, text.data, text.ellipsis);
}

// Matches item against the boolean sub-option name. Returns whether it named
// it; the value is stored through store only when it parsed.
template <typename Store>
bool apply_boolean(StringView option, StringView item, StringView name, cmdline::Reporter& reporter, Store&& store) {
    const cmdline::BooleanMatch match = cmdline::match_boolean(item, name);
    if (!match.matched) return false;
    if (!match.valid) {
        const bool negated_with_value =
            cmdline::split_key_value(item).has_value && (item.starts_with("no-") || item.starts_with("no_"));
        warn_invalid(option, item, negated_with_value ? "'no-' prefix together with a value" : "value is not a boolean",
                     reporter);
        return true;
    }
    store(match.value);
    return true;
}

// The plain boolean sub-options of iommu=. Those not implemented are parsed
// and stored (so the options read as Xen's would) and warned about.
enum class Support {
    implemented,
    not_implemented,
    // Only the enabled form is what the code does; the disabled form asks
    // for something that is not built.
    only_enabled,
};

struct BooleanSubOption {
    const char* name;
    bool IommuOptions::*member;
    Support support;
};

constexpr BooleanSubOption iommu_booleans[] = {
    {"force", &IommuOptions::required, Support::implemented},
    {"required", &IommuOptions::required, Support::implemented},
    {"verbose", &IommuOptions::verbose, Support::implemented},
    {"sharept", &IommuOptions::share_page_tables, Support::not_implemented},
    {"superpages", &IommuOptions::superpages, Support::implemented},
    {"intremap", &IommuOptions::interrupt_remapping, Support::implemented},
    {"intpost", &IommuOptions::interrupt_posting, Support::not_implemented},
    {"crash-disable", &IommuOptions::crash_disable, Support::not_implemented},
    {"snoop", &IommuOptions::snoop_control, Support::implemented},
    {"qinval", &IommuOptions::queued_invalidation, Support::implemented},
    {"igfx", &IommuOptions::integrated_graphics, Support::not_implemented},
    // AMD-Vi units always give each device a table of its own
    // (docs/interrupt-remapping.md); one table shared by all is not built.
    {"amd-iommu-perdev-intremap", &IommuOptions::amd_per_device_interrupt_remapping, Support::only_enabled},
};

bool apply_iommu_item(StringView option, StringView item, IommuOptions& options, cmdline::Reporter& reporter) {
    if (const Optional<bool> value = cmdline::parse_boolean(item)) {
        options.enabled = *value;
        return true;
    }
    for (const BooleanSubOption& sub_option : iommu_booleans) {
        if (apply_boolean(option, item, sub_option.name, reporter, [&](bool value) {
                options.*sub_option.member = value;
                if (sub_option.support == Support::not_implemented ||
                    (sub_option.support == Support::only_enabled && !value))
                    warn_not_implemented(option, item, reporter);
            }))
            return true;
    }
    // No device is ever taken away from a domain yet, so there is nothing to
    // quarantine.
    const cmdline::KeyValue pair = cmdline::split_key_value(item);
    if (pair.has_value && cmdline::names_equal(pair.key, "quarantine") && pair.value == StringView("scratch-page")) {
        options.quarantine = Quarantine::scratch_page;
        warn_not_implemented(option, item, reporter);
        return true;
    }
    if (apply_boolean(option, item, "quarantine", reporter, [&](bool value) {
            options.quarantine = value ? Quarantine::basic : Quarantine::none;
            warn_not_implemented(option, item, reporter);
        }))
        return true;
    if (apply_boolean(option, item, "debug", reporter, [&](bool value) {
            options.debug = value;
            if (value) options.verbose = true;
        }))
        return true;
    // The old spellings of dom0-iommu=passthrough and dom0-iommu=strict.
    if (apply_boolean(option, item, "dom0-passthrough", reporter,
                      [&](bool value) { options.hardware_domain.passthrough = value; }))
        return true;
    // "strict" is the short spelling operators reach for first (iommu=strict);
    // it means the same as dom0-strict, i.e. dom0-iommu=strict.
    static constexpr const char* strict_spellings[] = {"dom0-strict", "strict"};
    for (const char* spelling : strict_spellings) {
        if (apply_boolean(option, item, spelling, reporter,
                          [&](bool value) { options.hardware_domain.strict = value; }))
            return true;
    }
    return false;
}

bool apply_dom0_iommu_item(StringView option, StringView item, HardwareDomainIommuOptions& options,
                           cmdline::Reporter& reporter) {
    if (cmdline::names_equal(item, "none")) {
        options.none = true;
        return true;
    }
    return apply_boolean(option, item, "passthrough", reporter, [&](bool value) { options.passthrough = value; }) ||
           apply_boolean(option, item, "strict", reporter, [&](bool value) { options.strict = value; }) ||
           apply_boolean(option, item, "map-inclusive", reporter, [&](bool value) { options.map_inclusive = value; }) ||
           apply_boolean(option, item, "map-reserved", reporter, [&](bool value) { options.map_reserved = value; });
}

bool apply_dom0_item(StringView option, StringView item, HardwareDomainOptions& options, cmdline::Reporter& reporter) {
    if (item == StringView("pv")) {
        options.kind = HardwareDomainKind::pv;
        return true;
    }
    if (item == StringView("pvh")) {
        options.kind = HardwareDomainKind::pvh;
        return true;
    }
    return apply_boolean(option, item, "shadow", reporter,
                         [&](bool value) {
                             if (value) warn_invalid(option, item, "there is no shadow paging", reporter);
                         }) ||
           apply_boolean(option, item, "verbose", reporter,
                         [&](bool value) {
                             options.verbose = value;
                             warn_not_implemented(option, item, reporter);
                         }) ||
           apply_boolean(option, item, "cpuid-faulting", reporter,
                         [&](bool value) {
                             options.cpuid_faulting = value;
                             warn_not_implemented(option, item, reporter);
                         }) ||
           apply_boolean(option, item, "msr-relaxed", reporter, [&](bool value) {
               options.msr_relaxed = value;
               warn_not_implemented(option, item, reporter);
           });
}

// --- dom0_mem= amounts --------------------------------------------------------

// Why an amount was refused, for the warning.
struct AmountResult {
    const char* problem = nullptr;  // nullptr: amount is valid
    MemoryAmount amount;
};

// "<number>[KMGTB]": Xen reads the longest number (hex after 0x, so "0x1b" is
// 0x1b KiB and not 1 byte) and then one optional suffix; no suffix is KiB.
const char* parse_amount_size(StringView text, uint64_t& bytes) {
    const Result<uint64_t> size = cmdline::parse_size(text, {.shift_without_suffix = 10, .bytes_suffix = true});
    if (!size.ok()) return size.error() == Error::out_of_range ? "size out of range" : "not a size";
    bytes = size.value();
    return nullptr;
}

const char* parse_percent(StringView text, uint8_t& percent) {
    if (text.empty()) return "not a percentage";
    uint64_t value = 0;
    for (const char character : text) {
        if (character < '0' || character > '9') return "not a percentage";
        value = value * 10 + static_cast<unsigned>(character - '0');
        if (value >= 100) return "a percentage must be below 100";
    }
    percent = static_cast<uint8_t>(value);
    return nullptr;
}

AmountResult parse_amount(StringView text) {
    AmountResult result;
    MemoryAmount& amount = result.amount;
    amount.given = true;
    if (!text.empty() && text[0] == '-') {
        amount.negative = true;
        text = text.substring(1);
    }
    if (text.empty()) {
        result.problem = "missing amount";
        return result;
    }
    const size_t plus = text.find('+');
    if (plus != text.length()) {
        // <size>+<frac>%
        const StringView fraction = text.substring(plus + 1);
        if (fraction.empty() || fraction[fraction.length() - 1] != '%') {
            result.problem = "expected <size>+<percent>%";
            return result;
        }
        result.problem = parse_amount_size(text.substring(0, plus), amount.bytes);
        if (result.problem == nullptr)
            result.problem = parse_percent(fraction.substring(0, fraction.length() - 1), amount.percent);
        return result;
    }
    if (text[text.length() - 1] == '%') {
        result.problem = parse_percent(text.substring(0, text.length() - 1), amount.percent);
        return result;
    }
    result.problem = parse_amount_size(text, amount.bytes);
    return result;
}

bool apply_dom0_memory_item(StringView option, StringView item, HardwareDomainMemoryOptions& options,
                            cmdline::Reporter& reporter) {
    MemoryAmount* target = &options.size;
    StringView text = item;
    if (item.starts_with("min:")) {
        target = &options.minimum;
        text = item.substring(4);
    } else if (item.starts_with("max:")) {
        target = &options.maximum;
        text = item.substring(4);
    }
    const AmountResult parsed = parse_amount(text);
    if (parsed.problem != nullptr) {
        const Quoted quoted = quote(item);
        reporter.warn_formatted(option, "'%.*s%s': %s, ignored", quoted.length, quoted.data, quoted.ellipsis,
                                parsed.problem);
        return true;
    }
    *target = parsed.amount;
    // max: lowers dom0's initial memory (compute_hardware_domain_memory), but
    // nothing holds dom0 to it afterwards: XENMEM_maximum_reservation answers
    // the current size.
    if (target == &options.maximum) {
        const Quoted quoted = quote(item);
        reporter.warn_formatted(option,
                                "'%.*s%s' caps dom0's initial memory only; as a ceiling for later growth it is not "
                                "implemented yet",
                                quoted.length, quoted.data, quoted.ellipsis);
    }
    return true;
}

// Walks a comma-separated value, handing each non-empty item to apply and
// warning about the ones it does not know. Empty items are skipped silently,
// as the command-line conventions ask.
template <typename Apply> void for_each_item(StringView option, StringView value, cmdline::Reporter& reporter, Apply&& apply) {
    cmdline::ListIterator items(value, ',');
    while (const Optional<StringView> item = items.next()) {
        if (item->empty()) continue;
        if (!apply(*item)) warn_unknown(option, *item, reporter);
    }
}

}  // namespace

void parse_iommu_option(StringView value, IommuOptions& options, cmdline::Reporter& reporter) {
    if (value.empty()) {
        options.enabled = true;
        return;
    }
    for_each_item("iommu", value, reporter,
                  [&](StringView item) { return apply_iommu_item("iommu", item, options, reporter); });
}

void parse_dom0_iommu_option(StringView value, IommuOptions& options, cmdline::Reporter& reporter) {
    if (value.empty()) {
        reporter.warn("dom0-iommu", "missing value, ignored");
        return;
    }
    for_each_item("dom0-iommu", value, reporter, [&](StringView item) {
        return apply_dom0_iommu_item("dom0-iommu", item, options.hardware_domain, reporter);
    });
}

void parse_dom0_option(StringView value, HardwareDomainOptions& options, cmdline::Reporter& reporter) {
    if (value.empty()) {
        reporter.warn("dom0", "missing value, ignored");
        return;
    }
    for_each_item("dom0", value, reporter,
                  [&](StringView item) { return apply_dom0_item("dom0", item, options, reporter); });
}

void parse_dom0_memory_option(StringView value, HardwareDomainMemoryOptions& options, cmdline::Reporter& reporter) {
    if (value.empty()) {
        reporter.warn("dom0_mem", "missing value, ignored");
        return;
    }
    for_each_item("dom0_mem", value, reporter,
                  [&](StringView item) { return apply_dom0_memory_item("dom0_mem", item, options, reporter); });
}

const char* describe(HardwareDomainKind kind) {
    switch (kind) {
    case HardwareDomainKind::pv: return "PV";
    case HardwareDomainKind::pvh: return "PVH";
    }
    return "unknown";
}

const char* describe(HardwareDomainIommuMode mode) {
    switch (mode) {
    case HardwareDomainIommuMode::disabled: return "disabled";
    case HardwareDomainIommuMode::passthrough: return "passthrough";
    case HardwareDomainIommuMode::relaxed: return "relaxed";
    case HardwareDomainIommuMode::strict: return "strict";
    }
    return "unknown";
}

uint64_t evaluate(const MemoryAmount& amount, uint64_t available_bytes) {
    if (!amount.given) return 0;
    // percent% of available without overflowing for any 64-bit amount.
    const uint64_t share = available_bytes / 100 * amount.percent + available_bytes % 100 * amount.percent / 100;
    const uint64_t total = amount.bytes > ~uint64_t{0} - share ? ~uint64_t{0} : amount.bytes + share;
    if (!amount.negative) return total;
    return total >= available_bytes ? 0 : available_bytes - total;
}

HardwareDomainMemory compute_hardware_domain_memory(const HardwareDomainMemoryOptions& options,
                                                    uint64_t available_bytes) {
    constexpr uint64_t largest_reserve = 128 * MiB;
    uint64_t initial = evaluate(options.size, available_bytes);
    if (initial == 0) initial = available_bytes - min(available_bytes / 16, largest_reserve);
    if (options.minimum.given) initial = max(initial, evaluate(options.minimum, available_bytes));
    uint64_t maximum = ~uint64_t{0};
    if (options.maximum.given) {
        maximum = evaluate(options.maximum, available_bytes);
        initial = min(initial, maximum);
    }
    initial = align_down(min(initial, available_bytes), page_size);

    HardwareDomainMemory memory;
    memory.initial = initial;
    if (options.maximum.given) memory.maximum = max(align_down(maximum, page_size), initial);
    return memory;
}

Result<HardwareDomainPolicy> resolve_hardware_domain_policy(const IommuOptions& options, HardwareDomainKind kind) {
    const HardwareDomainIommuOptions& requested = options.hardware_domain;
    HardwareDomainPolicy policy;
    policy.kind = kind;
    policy.map_reserved = requested.map_reserved.value_or(true);
    policy.map_inclusive = requested.map_inclusive.value_or(false);

    if (!options.enabled) {
        policy.mode = HardwareDomainIommuMode::disabled;
        if (kind == HardwareDomainKind::pvh) {
            if (!requested.none) {
                logger.error("a PVH hardware domain needs the IOMMU, which iommu= disabled "
                             "(dom0-iommu=none skips this check)");
                return Error::unsupported;
            }
            logger.warning("dom0-iommu=none: PVH hardware domain without IOMMU; its devices cannot reach its memory");
        }
        return policy;
    }

    if (kind == HardwareDomainKind::pvh) {
        if (requested.passthrough.value_or(false))
            logger.warning("dom0-iommu: passthrough ignored: a PVH hardware domain is always translated");
        if (!requested.strict.value_or(true))
            logger.warning("dom0-iommu: strict=0 ignored: a PVH hardware domain is always strict");
        if (policy.map_inclusive) {
            logger.warning("dom0-iommu: map-inclusive ignored: only a PV hardware domain has it");
            policy.map_inclusive = false;
        }
        policy.mode = HardwareDomainIommuMode::strict;
        return policy;
    }

    const bool strict = requested.strict.value_or(false);
    const bool passthrough = requested.passthrough.value_or(false);
    if (strict && passthrough) logger.warning("dom0-iommu: strict overrides passthrough");
    policy.mode = strict        ? HardwareDomainIommuMode::strict
                  : passthrough ? HardwareDomainIommuMode::passthrough
                                : HardwareDomainIommuMode::relaxed;
    return policy;
}

// --- Registration -----------------------------------------------------------

namespace {

IommuOptions global_iommu_options;
HardwareDomainOptions global_hardware_domain_options;

void handle_iommu(StringView, StringView value, cmdline::Reporter& reporter) {
    parse_iommu_option(value, global_iommu_options, reporter);
}

void handle_dom0_iommu(StringView, StringView value, cmdline::Reporter& reporter) {
    parse_dom0_iommu_option(value, global_iommu_options, reporter);
}

void handle_dom0(StringView, StringView value, cmdline::Reporter& reporter) {
    parse_dom0_option(value, global_hardware_domain_options, reporter);
}

void handle_dom0_memory(StringView, StringView value, cmdline::Reporter& reporter) {
    parse_dom0_memory_option(value, global_hardware_domain_options.memory, reporter);
}

}  // namespace

IommuOptions& iommu_options() { return global_iommu_options; }
HardwareDomainOptions& hardware_domain_options() { return global_hardware_domain_options; }

SLUICE_CUSTOM_PARAMETER("iommu", handle_iommu);
SLUICE_CUSTOM_PARAMETER("dom0-iommu", handle_dom0_iommu);
SLUICE_CUSTOM_PARAMETER("dom0", handle_dom0);
SLUICE_CUSTOM_PARAMETER("dom0_mem", handle_dom0_memory);

}  // namespace sluice::passthrough
