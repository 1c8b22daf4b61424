// The hypervisor console: COM1 at 115200 8N1, chosen with console=.
#pragma once

#include <sluice/log.hpp>

namespace sluice::x86 {

// Programs COM1 and installs it as the log sink. Safe to call once, first
// thing after the descriptor tables.
void console_initialize();

// Applies what console= asked for (call after the command line is parsed):
// console=none detaches the serial port from the log.
void console_apply_command_line();

// Writes a whole line to the console regardless of the log threshold, for
// the verdict and fatal exception reports, which must always be seen when a
// console exists. Does nothing with console=none.
void console_write_line(const char* pattern, ...) __attribute__((format(printf, 1, 2)));

}  // namespace sluice::x86
