// loglvl=<level>[/<rate-limited level>]: how much the hypervisor logs.
//
// Levels are Xen's: none, error, warning, info, debug, all. Xen's optional
// second level says which messages are rate limited; Sluice does not rate
// limit, so that part is checked and otherwise ignored. The threshold is
// applied once the whole command line has been parsed, so warnings about the
// line itself are shown whatever loglvl= says and wherever it stands.
#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>

namespace sluice::cmdline {

Optional<uint8_t> parse_log_level(StringView text) {
    struct Level {
        const char* name;
        uint8_t threshold;
    };
    static constexpr Level levels[] = {
        {"none", 0},
        {"error", static_cast<uint8_t>(LogLevel::error)},
        {"warning", static_cast<uint8_t>(LogLevel::warning)},
        {"info", static_cast<uint8_t>(LogLevel::info)},
        {"debug", static_cast<uint8_t>(LogLevel::debug)},
        {"all", static_cast<uint8_t>(LogLevel::debug)},
    };
    for (const Level& level : levels)
        if (text == StringView(level.name)) return level.threshold;
    return {};
}

namespace {

// The threshold the last valid loglvl= asked for, until the line is parsed.
Optional<uint8_t> requested_threshold;

void parse_loglvl(StringView option, StringView value, Reporter& reporter) {
    if (value.empty()) {
        reporter.warn(option, "missing value, ignored");
        return;
    }
    const size_t slash = value.find('/');
    const StringView level = value.substring(0, slash);
    const Optional<uint8_t> threshold = parse_log_level(level);
    if (!threshold)
        reporter.warn_formatted(option, "unknown level '%.*s' (none, error, warning, info, debug, all), ignored",
                                static_cast<int>(level.length()), level.data());
    if (slash < value.length()) {
        const StringView rate_limited = value.substring(slash + 1);
        if (!parse_log_level(rate_limited))
            reporter.warn_formatted(option, "unknown rate-limited level '%.*s', ignored",
                                    static_cast<int>(rate_limited.length()), rate_limited.data());
    }
    if (threshold) requested_threshold = *threshold;
}

void apply_loglvl() {
    if (!requested_threshold) return;
    set_log_threshold(*requested_threshold);
    requested_threshold = {};
}

}  // namespace
}  // namespace sluice::cmdline

SLUICE_CUSTOM_PARAMETER_WITH_COMMIT("loglvl", sluice::cmdline::parse_loglvl, sluice::cmdline::apply_loglvl);
