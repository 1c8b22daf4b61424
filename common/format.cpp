#include <sluice/format.hpp>

namespace sluice {
namespace {

class Writer {
public:
    Writer(char* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {}

    void put(char character) {
        if (length_ + 1 < capacity_) buffer_[length_] = character;
        ++length_;
    }
    void repeat(char character, int count) {
        for (int index = 0; index < count; ++index) put(character);
    }
    size_t finish() {
        if (capacity_ == 0) return 0;
        const size_t written = length_ < capacity_ ? length_ : capacity_ - 1;
        buffer_[written] = '\0';
        return written;
    }

private:
    char* buffer_;
    size_t capacity_;
    size_t length_ = 0;
};

struct Specification {
    bool left_align = false;
    bool zero_pad = false;
    bool alternate_form = false;  // '#': 0x for hex, a leading 0 for octal
    char sign = '\0';            // '+' or ' ': shown before non-negative numbers
    int width = 0;
    int precision = -1;
};

void write_padded(Writer& writer, const Specification& specification, const char* text, int length) {
    const int padding = specification.width > length ? specification.width - length : 0;
    if (!specification.left_align) writer.repeat(' ', padding);
    for (int index = 0; index < length; ++index) writer.put(text[index]);
    if (specification.left_align) writer.repeat(' ', padding);
}

void write_number(Writer& writer, const Specification& specification, uint64_t magnitude, bool negative,
                  unsigned base, bool upper_case, const char* prefix) {
    const char* digits = upper_case ? "0123456789ABCDEF" : "0123456789abcdef";
    if (specification.alternate_form && prefix[0] == '\0' && magnitude != 0) {
        if (base == 16) prefix = upper_case ? "0X" : "0x";
        else if (base == 8) prefix = "0";
    }
    char reversed[24];
    int count = 0;
    do {
        reversed[count++] = digits[magnitude % base];
        magnitude /= base;
    } while (magnitude != 0);

    int prefix_length = 0;
    while (prefix[prefix_length] != '\0') ++prefix_length;
    const char sign = negative ? '-' : (base == 10 ? specification.sign : '\0');
    const int sign_length = sign != '\0' ? 1 : 0;
    const int body = count + sign_length + prefix_length;
    const int padding = specification.width > body ? specification.width - body : 0;

    if (!specification.left_align && !specification.zero_pad) writer.repeat(' ', padding);
    if (sign != '\0') writer.put(sign);
    for (int index = 0; index < prefix_length; ++index) writer.put(prefix[index]);
    if (!specification.left_align && specification.zero_pad) writer.repeat('0', padding);
    while (count > 0) writer.put(reversed[--count]);
    if (specification.left_align) writer.repeat(' ', padding);
}

enum class Length { normal, character, short_integer, long_integer, long_long, size };

}  // namespace

size_t format_arguments(char* buffer, size_t capacity, const char* pattern, __builtin_va_list arguments) {
    Writer writer(buffer, capacity);
    for (const char* cursor = pattern; *cursor != '\0'; ++cursor) {
        if (*cursor != '%') {
            writer.put(*cursor);
            continue;
        }
        ++cursor;
        Specification specification;
        for (;; ++cursor) {
            if (*cursor == '-') specification.left_align = true;
            else if (*cursor == '0') specification.zero_pad = true;
            else if (*cursor == '#') specification.alternate_form = true;
            else if (*cursor == '+') specification.sign = '+';
            else if (*cursor == ' ' && specification.sign == '\0') specification.sign = ' ';
            else break;
        }
        if (*cursor == '*') {
            specification.width = __builtin_va_arg(arguments, int);
            if (specification.width < 0) {
                specification.left_align = true;
                specification.width = -specification.width;
            }
            ++cursor;
        } else {
            while (*cursor >= '0' && *cursor <= '9') specification.width = specification.width * 10 + (*cursor++ - '0');
        }
        if (*cursor == '.') {
            ++cursor;
            specification.precision = 0;
            if (*cursor == '*') {
                specification.precision = __builtin_va_arg(arguments, int);
                ++cursor;
            } else {
                while (*cursor >= '0' && *cursor <= '9')
                    specification.precision = specification.precision * 10 + (*cursor++ - '0');
            }
        }
        Length length = Length::normal;
        if (*cursor == 'h') {
            ++cursor;
            length = Length::short_integer;
            if (*cursor == 'h') {
                ++cursor;
                length = Length::character;
            }
        } else if (*cursor == 'l') {
            ++cursor;
            length = Length::long_integer;
            if (*cursor == 'l') {
                ++cursor;
                length = Length::long_long;
            }
        } else if (*cursor == 'z') {
            ++cursor;
            length = Length::size;
        }

        auto take_unsigned = [&]() -> uint64_t {
            switch (length) {
            case Length::long_integer: return __builtin_va_arg(arguments, unsigned long);
            case Length::long_long: return __builtin_va_arg(arguments, unsigned long long);
            case Length::size: return __builtin_va_arg(arguments, size_t);
            case Length::character: return static_cast<unsigned char>(__builtin_va_arg(arguments, unsigned));
            case Length::short_integer: return static_cast<unsigned short>(__builtin_va_arg(arguments, unsigned));
            case Length::normal: break;
            }
            return __builtin_va_arg(arguments, unsigned);
        };
        auto take_signed = [&]() -> int64_t {
            switch (length) {
            case Length::long_integer: return __builtin_va_arg(arguments, long);
            case Length::long_long: return __builtin_va_arg(arguments, long long);
            case Length::size: return static_cast<int64_t>(__builtin_va_arg(arguments, size_t));
            case Length::character: return static_cast<signed char>(__builtin_va_arg(arguments, int));
            case Length::short_integer: return static_cast<short>(__builtin_va_arg(arguments, int));
            case Length::normal: break;
            }
            return __builtin_va_arg(arguments, int);
        };

        switch (*cursor) {
        case 'd':
        case 'i': {
            const int64_t value = take_signed();
            const bool negative = value < 0;
            const uint64_t magnitude = negative ? uint64_t{0} - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
            write_number(writer, specification, magnitude, negative, 10, false, "");
            break;
        }
        case 'u': {
            Specification unsigned_specification = specification;
            unsigned_specification.sign = '\0';  // the sign flags apply to signed conversions only
            write_number(writer, unsigned_specification, take_unsigned(), false, 10, false, "");
            break;
        }
        case 'x': write_number(writer, specification, take_unsigned(), false, 16, false, ""); break;
        case 'X': write_number(writer, specification, take_unsigned(), false, 16, true, ""); break;
        case 'o': write_number(writer, specification, take_unsigned(), false, 8, false, ""); break;
        case 'p': {
            const auto value = reinterpret_cast<uintptr_t>(__builtin_va_arg(arguments, void*));
            write_number(writer, specification, value, false, 16, false, "0x");
            break;
        }
        case 'c': {
            const char character = static_cast<char>(__builtin_va_arg(arguments, int));
            write_padded(writer, specification, &character, 1);
            break;
        }
        case 's': {
            const char* text = __builtin_va_arg(arguments, const char*);
            if (text == nullptr) text = "(null)";
            int text_length = 0;
            while ((specification.precision < 0 || text_length < specification.precision) && text[text_length] != '\0')
                ++text_length;
            write_padded(writer, specification, text, text_length);
            break;
        }
        case '%': writer.put('%'); break;
        case '\0': return writer.finish();  // a lone '%' ends the pattern
        default:
            // An unknown conversion is shown verbatim rather than dropped.
            writer.put('%');
            writer.put(*cursor);
            break;
        }
    }
    return writer.finish();
}

size_t format(char* buffer, size_t capacity, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    const size_t written = format_arguments(buffer, capacity, pattern, arguments);
    __builtin_va_end(arguments);
    return written;
}

}  // namespace sluice
