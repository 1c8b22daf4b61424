// What every test kernel's runtime shares, whatever its ABI: libc pieces the
// compiler may call, string helpers, a small printf over console_write(), and
// one-line checks. Each kernel provides console_write(), shutdown() and
// test_prefix ("pv-test", "pvh-test"), which starts every check line.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

namespace guest {

// Provided by each kernel.
extern const char* const test_prefix;
long console_write(const char* text, size_t length);
[[noreturn]] void shutdown(unsigned reason);
// SHUTDOWN_poweroff and SHUTDOWN_crash (xen/include/public/sched.h).
inline constexpr unsigned shutdown_poweroff = 0;
inline constexpr unsigned shutdown_crash = 3;

// --- Formatting and the console ---------------------------------------------------
// A small printf: %s %c %d %i %u %x %p %%, l/ll/z, zero padding and width.
size_t format(char* buffer, size_t capacity, const char* pattern, va_list arguments);
// One console_io write per line (the hypervisor prefixes each line).
[[gnu::format(printf, 1, 2)]] void print(const char* pattern, ...);

// --- Checks ---------------------------------------------------------------------
// Prints "<prefix>: <name> ... ok" or "<prefix>: <name> ... FAILED (<detail>)".
[[gnu::format(printf, 3, 4)]] bool report(const char* name, bool passed, const char* detail_pattern, ...);
#define CHECK(name, condition, ...) ::guest::report((name), (condition), __VA_ARGS__)
// "<prefix>: N passed, M failed", then SHUTDOWN_poweroff if all passed, SHUTDOWN_crash otherwise.
[[noreturn]] void finish();
extern unsigned checks_passed;
extern unsigned checks_failed;

// Utility.
void fill(void* destination, uint8_t value, size_t length);
void copy(void* destination, const void* source, size_t length);
bool equal(const void* left, const void* right, size_t length);
size_t string_length(const char* text);
bool starts_with(const char* text, const char* prefix);
bool contains(const char* text, size_t capacity, const char* needle);

}  // namespace guest
