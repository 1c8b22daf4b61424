#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice {
namespace {

LogSink* current_sink = nullptr;
uint8_t current_threshold = static_cast<uint8_t>(LogLevel::info);

const char* level_tag(LogLevel level) {
    switch (level) {
    case LogLevel::error: return "error: ";
    case LogLevel::warning: return "warning: ";
    case LogLevel::info: return "";
    case LogLevel::debug: return "debug: ";
    }
    return "";
}

}  // namespace

LogSink* set_log_sink(LogSink* sink) {
    LogSink* previous = current_sink;
    current_sink = sink;
    return previous;
}

void set_log_threshold(uint8_t threshold) { current_threshold = threshold; }
uint8_t log_threshold() { return current_threshold; }
bool log_enabled(LogLevel level) { return current_sink != nullptr && static_cast<uint8_t>(level) <= current_threshold; }

void log_message_arguments(LogLevel level, const char* subsystem, const char* pattern, __builtin_va_list arguments) {
    if (!log_enabled(level)) return;
    char line[log_line_capacity];
    size_t length = format(line, sizeof line, "%s: %s", subsystem, level_tag(level));
    length += format_arguments(line + length, sizeof line - length, pattern, arguments);
    // format() stops one short of the buffer; a full buffer means the line was cut.
    if (length >= sizeof line - 1) {
        line[sizeof line - 4] = '.';
        line[sizeof line - 3] = '.';
        line[sizeof line - 2] = '.';
        length = sizeof line - 1;
    }
    current_sink->write_line(level, StringView(line, length));
}

void log_message(LogLevel level, const char* subsystem, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    log_message_arguments(level, subsystem, pattern, arguments);
    __builtin_va_end(arguments);
}

#define SLUICE_DEFINE_LOGGER_LEVEL(name, level)                           \
    void Logger::name(const char* pattern, ...) const {                  \
        __builtin_va_list arguments;                                     \
        __builtin_va_start(arguments, pattern);                          \
        log_message_arguments(level, subsystem_, pattern, arguments);    \
        __builtin_va_end(arguments);                                     \
    }

SLUICE_DEFINE_LOGGER_LEVEL(error, LogLevel::error)
SLUICE_DEFINE_LOGGER_LEVEL(warning, LogLevel::warning)
SLUICE_DEFINE_LOGGER_LEVEL(info, LogLevel::info)
SLUICE_DEFINE_LOGGER_LEVEL(debug, LogLevel::debug)

#undef SLUICE_DEFINE_LOGGER_LEVEL

}  // namespace sluice
