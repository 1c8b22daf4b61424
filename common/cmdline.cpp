// The command-line parser: splits the line into options, finds each one's
// Parameter and stores the value, reporting one warning per problem.
#include <sluice/cmdline.hpp>
#include <sluice/format.hpp>
#include <sluice/log.hpp>

// Defined by the linker when at least one object has a "sluice_parameters"
// section; weak so a program without any declared option still links, with an
// empty registry.
extern "C" {
extern const sluice::cmdline::Parameter __start_sluice_parameters[] __attribute__((weak, visibility("hidden")));
extern const sluice::cmdline::Parameter __stop_sluice_parameters[] __attribute__((weak, visibility("hidden")));
}

namespace sluice::cmdline {
namespace {

constexpr Logger logger{"cmdline"};

// Spaces and tabs separate options, as in Xen; line ends too, so a command
// line edited in a boot loader's text file cannot glue two options together.
constexpr bool is_blank(char character) {
    return character == ' ' || character == '\t' || character == '\n' || character == '\r';
}

// The value of a hex digit, or -1.
constexpr int hex_digit_value(char character) {
    if (character >= '0' && character <= '9') return character - '0';
    if (character >= 'a' && character <= 'f') return character - 'a' + 10;
    if (character >= 'A' && character <= 'F') return character - 'A' + 10;
    return -1;
}

constexpr bool has_hex_prefix(StringView text) {
    return text.length() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

// Reads the longest run of digits in base at the start of text. consumed is
// 0 when there is none; overflow is set when the run does not fit 64 bits.
struct Digits {
    uint64_t value = 0;
    size_t consumed = 0;
    bool overflow = false;
};

Digits read_digits(StringView text, unsigned base) {
    Digits digits;
    for (; digits.consumed < text.length(); ++digits.consumed) {
        const int digit = hex_digit_value(text[digits.consumed]);
        if (digit < 0 || static_cast<unsigned>(digit) >= base) break;
        if (digits.value > (~uint64_t{0} - static_cast<unsigned>(digit)) / base) digits.overflow = true;
        digits.value = digits.value * base + static_cast<unsigned>(digit);
    }
    return digits;
}

// A number as parse_integer reads it, followed by whatever is left.
struct Number {
    Digits digits;
    StringView rest;
};

Number read_number(StringView text) {
    Number number;
    const bool hex = has_hex_prefix(text);
    const StringView body = hex ? text.substring(2) : text;
    number.digits = read_digits(body, hex ? 16 : 10);
    number.rest = body.substring(number.digits.consumed);
    return number;
}

Result<uint64_t> finish_number(const Number& number) {
    if (number.digits.consumed == 0 || !number.rest.empty()) return Error::malformed;
    if (number.digits.overflow) return Error::out_of_range;
    return number.digits.value;
}

// --- Splitting the line into options ----------------------------------------

enum class TokenProblem : uint8_t {
    none,
    unterminated_quote,   // name="abc with no closing quote
    text_after_quote,     // name="abc"def
};

struct Token {
    StringView text;   // the whole option as written
    StringView name;
    StringView value;  // without the quotes
    bool has_value = false;
    TokenProblem problem = TokenProblem::none;
};

class Tokenizer {
public:
    explicit Tokenizer(StringView line) : line_(line) {}

    // The next option; empty at the end of the line.
    Optional<Token> next() {
        while (position_ < line_.length() && is_blank(line_[position_])) ++position_;
        if (position_ == line_.length()) return {};

        Token token;
        const size_t start = position_;
        size_t cursor = start;
        while (cursor < line_.length() && !is_blank(line_[cursor]) && line_[cursor] != '=') ++cursor;
        token.name = line_.substring(start, cursor - start);

        if (cursor < line_.length() && line_[cursor] == '=') {
            token.has_value = true;
            const size_t value_start = cursor + 1;
            if (value_start < line_.length() && line_[value_start] == '"') {
                const size_t closing = line_.find('"', value_start + 1);
                if (closing == line_.length()) {
                    // No closing quote: resume at the first blank after the
                    // opening one, so one stray quote costs only its own option.
                    token.problem = TokenProblem::unterminated_quote;
                    cursor = end_of_word(value_start + 1);
                } else {
                    token.value = line_.substring(value_start + 1, closing - value_start - 1);
                    cursor = closing + 1;
                    if (cursor < line_.length() && !is_blank(line_[cursor])) {
                        token.problem = TokenProblem::text_after_quote;
                        cursor = end_of_word(cursor);
                    }
                }
            } else {
                cursor = end_of_word(value_start);
                token.value = line_.substring(value_start, cursor - value_start);
            }
        }
        token.text = line_.substring(start, cursor - start);
        position_ = cursor;
        return token;
    }

    // What follows the current position, without leading blanks.
    [[nodiscard]] StringView rest() const {
        size_t start = position_;
        while (start < line_.length() && is_blank(line_[start])) ++start;
        return line_.substring(start);
    }

private:
    [[nodiscard]] size_t end_of_word(size_t from) const {
        while (from < line_.length() && !is_blank(line_[from])) ++from;
        return from;
    }

    StringView line_;
    size_t position_ = 0;
};

bool is_separator(const Token& token) { return !token.has_value && token.name == StringView("--"); }

bool has_negation_prefix(StringView name) {
    return name.length() > 3 && name[0] == 'n' && name[1] == 'o' && (name[2] == '-' || name[2] == '_');
}

const Parameter* find(Span<const Parameter> table, StringView name) {
    for (const Parameter& parameter : table)
        if (parameter.name != nullptr && names_equal(name, StringView(parameter.name))) return &parameter;
    return nullptr;
}

// --- Storing values -------------------------------------------------------

bool store_unsigned(const Parameter& parameter, uint64_t value) {
    switch (parameter.storage_size) {
    case 1:
        if (value > UINT8_MAX) return false;
        *static_cast<uint8_t*>(parameter.storage) = static_cast<uint8_t>(value);
        return true;
    case 2:
        if (value > UINT16_MAX) return false;
        *static_cast<uint16_t*>(parameter.storage) = static_cast<uint16_t>(value);
        return true;
    case 4:
        if (value > UINT32_MAX) return false;
        *static_cast<uint32_t*>(parameter.storage) = static_cast<uint32_t>(value);
        return true;
    case 8: *static_cast<uint64_t*>(parameter.storage) = value; return true;
    }
    return false;
}

uint64_t largest_unsigned(size_t storage_size) {
    return storage_size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (storage_size * 8)) - 1;
}

bool storage_is_usable(const Parameter& parameter) {
    switch (parameter.kind) {
    case ParameterKind::boolean: return parameter.storage != nullptr && parameter.storage_size == sizeof(bool);
    case ParameterKind::integer:
    case ParameterKind::size:
        return parameter.storage != nullptr && (parameter.storage_size == 1 || parameter.storage_size == 2 ||
                                                parameter.storage_size == 4 || parameter.storage_size == 8);
    case ParameterKind::string: return parameter.storage != nullptr && parameter.storage_size >= 1;
    case ParameterKind::custom: return parameter.handler != nullptr;
    }
    return false;
}

void apply_number(const Parameter& parameter, StringView option, StringView value, Reporter& reporter) {
    const bool size = parameter.kind == ParameterKind::size;
    const Result<uint64_t> number = size ? parse_size(value) : parse_integer(value);
    const Excerpt text = excerpt(value);
    if (!number.ok()) {
        if (number.error() == Error::out_of_range)
            reporter.warn_formatted(option, "'%.*s%s' is out of range, ignored", text.length, text.data, text.ellipsis);
        else
            reporter.warn_formatted(option, "'%.*s%s' is not %s, ignored", text.length, text.data, text.ellipsis,
                                    size ? "a size" : "a number");
        return;
    }
    if (!store_unsigned(parameter, number.value()))
        reporter.warn_formatted(option, "'%.*s%s' is out of range (at most %llu), ignored", text.length, text.data,
                                text.ellipsis,
                                static_cast<unsigned long long>(largest_unsigned(parameter.storage_size)));
}

void apply_string(const Parameter& parameter, StringView option, StringView value, Reporter& reporter) {
    if (value.length() >= parameter.storage_size) {
        reporter.warn_formatted(option, "value longer than %zu characters, ignored", parameter.storage_size - 1);
        return;
    }
    char* buffer = static_cast<char*>(parameter.storage);
    for (size_t index = 0; index < value.length(); ++index) buffer[index] = value[index];
    buffer[value.length()] = '\0';
}

// Applies one recognised option. negated: it was written with a "no-" prefix.
void apply(const Parameter& parameter, const Token& token, StringView option, bool negated, Reporter& reporter) {
    if (!storage_is_usable(parameter)) {
        // A hand-built table with the wrong storage: a programming error, but
        // the line is still parsed safely.
        reporter.warn(option, "option has unusable storage, ignored");
        return;
    }
    if (negated && token.has_value) {
        reporter.warn(token.name, "'no-' prefix together with a value, ignored");
        return;
    }
    if (negated && parameter.kind != ParameterKind::boolean && parameter.kind != ParameterKind::custom) {
        reporter.warn(token.name, "'no-' prefix on an option that is not a boolean, ignored");
        return;
    }

    switch (parameter.kind) {
    case ParameterKind::boolean: {
        bool value = !negated;
        if (token.has_value) {
            const Optional<bool> parsed = parse_boolean(token.value);
            if (!parsed) {
                if (token.value.empty()) {
                    reporter.warn(option, "missing value, ignored");
                } else {
                    const Excerpt text = excerpt(token.value);
                    reporter.warn_formatted(option, "'%.*s%s' is not a boolean, ignored", text.length, text.data,
                                            text.ellipsis);
                }
                return;
            }
            value = *parsed;
        }
        *static_cast<bool*>(parameter.storage) = value;
        return;
    }
    case ParameterKind::integer:
    case ParameterKind::size:
        if (token.value.empty()) {
            reporter.warn(option, "missing value, ignored");
            return;
        }
        apply_number(parameter, option, token.value, reporter);
        return;
    case ParameterKind::string:
        if (!token.has_value) {
            reporter.warn(option, "missing value, ignored");
            return;
        }
        apply_string(parameter, option, token.value, reporter);
        return;
    case ParameterKind::custom: parameter.handler(option, negated ? StringView("no") : token.value, reporter); return;
    }
}

void handle(const Token& token, Span<const Parameter> table, Reporter& reporter) {
    if (token.name.empty()) {
        const Excerpt text = excerpt(token.text);
        reporter.warn(StringView(text.data, static_cast<size_t>(text.length)), "missing option name, ignored");
        return;
    }
    if (token.name.length() > max_name_length) {
        reporter.warn_formatted(token.name.substring(0, excerpt_limit),
                                "option name longer than %zu characters, ignored", max_name_length);
        return;
    }
    switch (token.problem) {
    case TokenProblem::none: break;
    case TokenProblem::unterminated_quote: reporter.warn(token.name, "unterminated quote, ignored"); return;
    case TokenProblem::text_after_quote: reporter.warn(token.name, "text after the closing quote, ignored"); return;
    }
    if (token.value.length() > max_value_length) {
        reporter.warn_formatted(token.name, "value longer than %zu characters, ignored", max_value_length);
        return;
    }

    if (const Parameter* parameter = find(table, token.name)) {
        apply(*parameter, token, token.name, false, reporter);
        return;
    }
    if (has_negation_prefix(token.name)) {
        const StringView base = token.name.substring(3);
        if (const Parameter* parameter = find(table, base)) {
            apply(*parameter, token, base, true, reporter);
            return;
        }
    }
    reporter.warn(token.name, "unknown option, ignored");
}

}  // namespace

// --- Reporting ------------------------------------------------------------

void Reporter::warn_formatted(StringView option, const char* pattern, ...) {
    char reason[192];
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    const size_t length = format_arguments(reason, sizeof reason, pattern, arguments);
    __builtin_va_end(arguments);
    warn(option, StringView(reason, length));
}

namespace {

// Copies text for the console, replacing anything but printable ASCII.
size_t printable_copy(char* buffer, size_t capacity, StringView text) {
    const size_t length = text.length() < capacity ? text.length() : capacity;
    for (size_t index = 0; index < length; ++index) {
        const char character = text[index];
        buffer[index] = (character >= 0x20 && character < 0x7f) ? character : '?';
    }
    return length;
}

}  // namespace

void LogReporter::warn(StringView option, StringView reason) {
    ++warnings_;
    char printable_option[max_name_length];
    char printable_reason[log_line_capacity];
    const size_t option_length = printable_copy(printable_option, sizeof printable_option, option);
    const size_t reason_length = printable_copy(printable_reason, sizeof printable_reason, reason);
    logger.warning("%.*s: %.*s", static_cast<int>(option_length), printable_option, static_cast<int>(reason_length),
                   printable_reason);
}

// --- Parsing --------------------------------------------------------------

void parse(StringView line, Span<const Parameter> table, Reporter& reporter) {
    Tokenizer tokenizer(line);
    while (const Optional<Token> token = tokenizer.next()) {
        if (is_separator(*token)) break;
        handle(*token, table, reporter);
    }
    for (const Parameter& parameter : table)
        if (parameter.kind == ParameterKind::custom && parameter.commit != nullptr) parameter.commit();
}

Span<const Parameter> registered_parameters() {
    const Parameter* start = __start_sluice_parameters;
    const Parameter* stop = __stop_sluice_parameters;
    if (start == nullptr || stop == nullptr || stop <= start) return {};
    return Span<const Parameter>(start, static_cast<size_t>(stop - start));
}

void parse_registered(StringView line, Reporter& reporter) { parse(line, registered_parameters(), reporter); }

StringView dom0_command_line(StringView line) {
    Tokenizer tokenizer(line);
    while (const Optional<Token> token = tokenizer.next()) {
        if (!is_separator(*token)) continue;
        StringView rest = tokenizer.rest();
        size_t length = rest.length();
        while (length > 0 && is_blank(rest[length - 1])) --length;
        return rest.substring(0, length);
    }
    return {};
}

// --- Helpers --------------------------------------------------------------

bool names_equal(StringView first, StringView second) {
    if (first.length() != second.length()) return false;
    for (size_t index = 0; index < first.length(); ++index) {
        char one = first[index];
        char other = second[index];
        if (one == '-') one = '_';
        if (other == '-') other = '_';
        if (one != other) return false;
    }
    return true;
}

Optional<bool> parse_boolean(StringView text) {
    static constexpr const char* truths[] = {"1", "yes", "on", "true", "enable"};
    static constexpr const char* falsehoods[] = {"0", "no", "off", "false", "disable"};
    for (const char* word : truths)
        if (text == StringView(word)) return true;
    for (const char* word : falsehoods)
        if (text == StringView(word)) return false;
    return {};
}

Result<uint64_t> parse_integer(StringView text) { return finish_number(read_number(text)); }

Result<uint64_t> parse_hex(StringView text) {
    Number number;
    const StringView body = has_hex_prefix(text) ? text.substring(2) : text;
    number.digits = read_digits(body, 16);
    number.rest = body.substring(number.digits.consumed);
    return finish_number(number);
}

Result<uint64_t> parse_size(StringView text, SizeSyntax syntax) {
    Number number = read_number(text);
    unsigned shift = syntax.shift_without_suffix;
    if (number.digits.consumed != 0 && number.rest.length() == 1) {
        switch (number.rest[0]) {
        case 'b':
        case 'B':
            if (!syntax.bytes_suffix) return Error::malformed;
            shift = 0;
            break;
        case 'k':
        case 'K': shift = 10; break;
        case 'm':
        case 'M': shift = 20; break;
        case 'g':
        case 'G': shift = 30; break;
        case 't':
        case 'T': shift = 40; break;
        default: return Error::malformed;
        }
        number.rest = number.rest.substring(1);
    }
    const Result<uint64_t> value = finish_number(number);
    if (!value.ok()) return value;
    if (value.value() > (~uint64_t{0} >> shift)) return Error::out_of_range;
    return value.value() << shift;
}

Excerpt excerpt(StringView text) {
    const bool cut = text.length() > excerpt_limit;
    return {static_cast<int>(cut ? excerpt_limit : text.length()), text.data(), cut ? "..." : ""};
}

Optional<StringView> ListIterator::next() {
    if (done_) return {};
    const size_t end = rest_.find(separator_);
    const StringView item = rest_.substring(0, end);
    if (end == rest_.length()) {
        done_ = true;
        rest_ = StringView();
    } else {
        rest_ = rest_.substring(end + 1);
    }
    return item;
}

BooleanMatch match_boolean(StringView item, StringView name) {
    BooleanMatch match;
    const KeyValue pair = split_key_value(item);
    if (names_equal(pair.key, name)) {
        match.matched = true;
        if (!pair.has_value) {
            match.valid = true;
            match.value = true;
        } else if (const Optional<bool> value = parse_boolean(pair.value)) {
            match.valid = true;
            match.value = *value;
        }
        return match;
    }
    if (has_negation_prefix(pair.key) && names_equal(pair.key.substring(3), name)) {
        match.matched = true;
        // "no-name=<value>" is a double negative Xen leaves undefined: refuse it.
        match.valid = !pair.has_value;
        match.value = false;
    }
    return match;
}

KeyValue split_key_value(StringView item) {
    const size_t equals = item.find('=');
    if (equals == item.length()) return {item, StringView(), false};
    return {item.substring(0, equals), item.substring(equals + 1), true};
}

}  // namespace sluice::cmdline
