// What every test kernel's runtime shares, whatever its ABI (PV or PVH):
// the few libc functions the compiler may call, string helpers, a small
// printf over the kernel's console_write(), and the one-line checks.
#include "console_runtime.hpp"

// The compiler may emit calls to these for structure copies and zeroing;
// nothing else provides them in a freestanding image.
extern "C" void* memset(void* destination, int value, size_t length) {
    auto* bytes = static_cast<volatile uint8_t*>(destination);
    for (size_t index = 0; index < length; ++index) bytes[index] = static_cast<uint8_t>(value);
    return destination;
}
extern "C" void* memcpy(void* destination, const void* source, size_t length) {
    auto* to = static_cast<volatile uint8_t*>(destination);
    const auto* from = static_cast<const uint8_t*>(source);
    for (size_t index = 0; index < length; ++index) to[index] = from[index];
    return destination;
}
extern "C" void* memmove(void* destination, const void* source, size_t length) {
    auto* to = static_cast<volatile uint8_t*>(destination);
    const auto* from = static_cast<const uint8_t*>(source);
    if (to < from) {
        for (size_t index = 0; index < length; ++index) to[index] = from[index];
    } else {
        for (size_t index = length; index > 0; --index) to[index - 1] = from[index - 1];
    }
    return destination;
}
extern "C" int memcmp(const void* left, const void* right, size_t length) {
    const auto* a = static_cast<const uint8_t*>(left);
    const auto* b = static_cast<const uint8_t*>(right);
    for (size_t index = 0; index < length; ++index) {
        if (a[index] != b[index]) return a[index] < b[index] ? -1 : 1;
    }
    return 0;
}

namespace guest {

unsigned checks_passed = 0;
unsigned checks_failed = 0;

void fill(void* destination, uint8_t value, size_t length) { memset(destination, value, length); }
void copy(void* destination, const void* source, size_t length) { memcpy(destination, source, length); }
bool equal(const void* left, const void* right, size_t length) { return memcmp(left, right, length) == 0; }
size_t string_length(const char* text) {
    size_t length = 0;
    while (text[length] != '\0') ++length;
    return length;
}
bool starts_with(const char* text, const char* prefix) {
    for (; *prefix != '\0'; ++prefix, ++text) {
        if (*text != *prefix) return false;
    }
    return true;
}
bool contains(const char* text, size_t capacity, const char* needle) {
    size_t needle_length = string_length(needle);
    for (size_t start = 0; start + needle_length <= capacity && text[start] != '\0'; ++start) {
        if (equal(text + start, needle, needle_length)) return true;
    }
    return false;
}

// --- Formatting -------------------------------------------------------------------
namespace {

struct Output {
    char* buffer;
    size_t capacity;
    size_t length = 0;
    void put(char character) {
        if (length + 1 < capacity) buffer[length] = character;
        ++length;
    }
};

void put_number(Output& output, uint64_t value, unsigned base, bool negative, unsigned width, bool zero_pad) {
    char digits[24];
    unsigned count = 0;
    do {
        unsigned digit = static_cast<unsigned>(value % base);
        digits[count++] = static_cast<char>(digit < 10 ? '0' + digit : 'a' + digit - 10);
        value /= base;
    } while (value != 0);
    unsigned total = count + (negative ? 1 : 0);
    if (negative && zero_pad) output.put('-');
    for (; total < width; ++total) output.put(zero_pad ? '0' : ' ');
    if (negative && !zero_pad) output.put('-');
    while (count > 0) output.put(digits[--count]);
}

}  // namespace

size_t format(char* buffer, size_t capacity, const char* pattern, va_list arguments) {
    Output output{buffer, capacity};
    for (const char* cursor = pattern; *cursor != '\0'; ++cursor) {
        if (*cursor != '%') {
            output.put(*cursor);
            continue;
        }
        ++cursor;
        bool zero_pad = false;
        unsigned width = 0;
        if (*cursor == '0') {
            zero_pad = true;
            ++cursor;
        }
        while (*cursor >= '0' && *cursor <= '9') width = width * 10 + static_cast<unsigned>(*cursor++ - '0');
        size_t precision = ~static_cast<size_t>(0);  // "%.Ns": at most N characters
        if (*cursor == '.') {
            ++cursor;
            precision = 0;
            while (*cursor >= '0' && *cursor <= '9') precision = precision * 10 + static_cast<size_t>(*cursor++ - '0');
        }
        unsigned longs = 0;
        while (*cursor == 'l' || *cursor == 'z') {
            longs += (*cursor == 'z') ? 2 : 1;
            ++cursor;
        }
        switch (*cursor) {
        case 'd':
        case 'i': {
            int64_t value = longs > 0 ? va_arg(arguments, int64_t) : va_arg(arguments, int);
            put_number(output, value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value), 10,
                       value < 0, width, zero_pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t value = longs > 0 ? va_arg(arguments, uint64_t) : va_arg(arguments, unsigned);
            put_number(output, value, *cursor == 'x' ? 16 : 10, false, width, zero_pad);
            break;
        }
        case 'p':
            output.put('0');
            output.put('x');
            put_number(output, reinterpret_cast<uintptr_t>(va_arg(arguments, void*)), 16, false, 0, false);
            break;
        case 's': {
            const char* text = va_arg(arguments, const char*);
            if (text == nullptr) text = "(null)";
            size_t length = 0;
            while (length < precision && text[length] != '\0') ++length;
            for (size_t pad = length; pad < width; ++pad) output.put(' ');
            for (size_t index = 0; index < length; ++index) output.put(text[index]);
            break;
        }
        case 'c': output.put(static_cast<char>(va_arg(arguments, int))); break;
        case '%': output.put('%'); break;
        case '\0': --cursor; break;
        default:
            output.put('%');
            output.put(*cursor);
            break;
        }
    }
    if (capacity > 0) buffer[output.length < capacity ? output.length : capacity - 1] = '\0';
    return output.length < capacity ? output.length : capacity - 1;
}

void print(const char* pattern, ...) {
    char line[512];
    va_list arguments;
    va_start(arguments, pattern);
    size_t length = format(line, sizeof line - 1, pattern, arguments);
    va_end(arguments);
    if (length == 0 || line[length - 1] != '\n') line[length++] = '\n';
    console_write(line, length);
}

bool report(const char* name, bool passed, const char* detail_pattern, ...) {
    if (passed) {
        ++checks_passed;
        print("%s: %s ... ok", test_prefix, name);
        return true;
    }
    ++checks_failed;
    char detail[384];
    va_list arguments;
    va_start(arguments, detail_pattern);
    format(detail, sizeof detail, detail_pattern, arguments);
    va_end(arguments);
    print("%s: %s ... FAILED (%s)", test_prefix, name, detail);
    return false;
}

void finish() {
    print("%s: %u passed, %u failed", test_prefix, checks_passed, checks_failed);
    shutdown(checks_failed == 0 && checks_passed > 0 ? shutdown_poweroff : shutdown_crash);
}

}  // namespace guest
