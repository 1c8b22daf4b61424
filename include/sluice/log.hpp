// Leveled logging with a prefix per subsystem.
//
// Each source file declares its logger once:
//     constexpr sluice::Logger logger{"acpi"};
//     logger.warning("DMAR at %#llx: bad checksum", address);
// and lines come out as "acpi: warning: DMAR at ...". Where lines go is a
// LogSink: the serial console in the image, a capture buffer in host tests.
// The threshold is set by the loglvl= option (none|error|warning|info|debug|all).
#pragma once

#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice {

enum class LogLevel : uint8_t { error = 1, warning = 2, info = 3, debug = 4 };

// Where finished lines go. A line is handed over whole, without its newline.
class LogSink {
public:
    virtual void write_line(LogLevel level, StringView line) = 0;

protected:
    ~LogSink() = default;
};

// Installs the sink; nullptr discards output. Returns the previous sink.
LogSink* set_log_sink(LogSink* sink);

// Lines at or below the threshold are written; 0 writes nothing ("none").
void set_log_threshold(uint8_t threshold);
uint8_t log_threshold();
[[nodiscard]] bool log_enabled(LogLevel level);

// The longest line written; longer lines end in "..." instead.
inline constexpr size_t log_line_capacity = 256;

void log_message(LogLevel level, const char* subsystem, const char* pattern, ...) __attribute__((format(printf, 3, 4)));
void log_message_arguments(LogLevel level, const char* subsystem, const char* pattern, __builtin_va_list arguments);

class Logger {
public:
    explicit constexpr Logger(const char* subsystem) : subsystem_(subsystem) {}

    void error(const char* pattern, ...) const __attribute__((format(printf, 2, 3)));
    void warning(const char* pattern, ...) const __attribute__((format(printf, 2, 3)));
    void info(const char* pattern, ...) const __attribute__((format(printf, 2, 3)));
    void debug(const char* pattern, ...) const __attribute__((format(printf, 2, 3)));

    [[nodiscard]] constexpr const char* subsystem() const { return subsystem_; }

private:
    const char* subsystem_;
};

}  // namespace sluice
