#include "arch/x86/console.hpp"

#include "arch/x86/serial.hpp"

#include <sluice/cmdline.hpp>
#include <sluice/format.hpp>

namespace sluice::x86 {
namespace {

SerialPort com1{SerialPort::com1_base};
SerialConsole serial_console{com1};

enum class ConsoleSelection : uint8_t { com1, none };
ConsoleSelection selection = ConsoleSelection::com1;
bool console_enabled = false;

// console=<list>: "com1" and "none" are understood; the list is comma
// separated as in Xen ("console=com1,vga"), and a list naming com1 keeps it.
void parse_console(StringView option, StringView value, cmdline::Reporter& reporter) {
    bool saw_com1 = false;
    bool saw_none = false;
    cmdline::ListIterator items(value, ',');
    for (Optional<StringView> item = items.next(); item.has_value(); item = items.next()) {
        if (item->empty()) continue;  // "a,,b": empty items are skipped silently
        if (*item == StringView("com1")) {
            saw_com1 = true;
        } else if (*item == StringView("none")) {
            saw_none = true;
        } else {
            reporter.warn_formatted(option, "unknown console '%.*s', ignored (known: com1, none)",
                                    static_cast<int>(item->length()), item->data());
        }
    }
    if (saw_com1) selection = ConsoleSelection::com1;
    else if (saw_none) selection = ConsoleSelection::none;
}

SLUICE_CUSTOM_PARAMETER("console", parse_console);

}  // namespace

void console_initialize() {
    com1.initialize();
    console_enabled = true;
    set_log_sink(&serial_console);
}

void console_apply_command_line() {
    if (selection == ConsoleSelection::none) {
        console_enabled = false;
        set_log_sink(nullptr);
    }
}

void console_write_line(const char* pattern, ...) {
    if (!console_enabled) return;
    char line[log_line_capacity];
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    const size_t length = format_arguments(line, sizeof line, pattern, arguments);
    __builtin_va_end(arguments);
    serial_console.write_line(LogLevel::error, StringView(line, length));
}

}  // namespace sluice::x86
