// printf-style formatting into a caller's buffer, with the compiler checking
// every format string against its arguments.
//
// Supported: flags '-', '0', '#', '+' and ' ', a width (digits or '*'), a precision ('.N' or
// '.*', for %s only), length modifiers hh h l ll z, and the conversions
// d i u x X o c s p %. Use "%.*s" with (int)view.length(), view.data() to
// print a StringView.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

// Writes at most capacity - 1 characters and always NUL-terminates (when
// capacity > 0). Returns the number of characters written, not counting
// the NUL; output that did not fit is dropped.
size_t format(char* buffer, size_t capacity, const char* pattern, ...) __attribute__((format(printf, 3, 4)));
size_t format_arguments(char* buffer, size_t capacity, const char* pattern, __builtin_va_list arguments);

}  // namespace sluice
