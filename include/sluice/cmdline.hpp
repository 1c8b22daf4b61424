// The hypervisor command line, in Xen's syntax (docs/command-line.md).
//
// Options are separated by runs of blanks: "name", "name=value" or "no-name",
// and a value may be double-quoted to hold blanks: name="a b". A lone "--"
// ends the hypervisor's options; the rest belongs to dom0. In option names
// '-' and '_' are the same character.
//
// Subsystems declare their options next to their code with the macros at the
// end of this file; each declaration is a Parameter placed in the linker
// section "sluice_parameters", so adding an option never touches the parser.
// Unknown options and malformed values produce one warning each, naming the
// option and the reason, and leave the default in place.
//
// The parser never allocates, never recurses and never copies the line: every
// StringView it hands out points into the caller's line. Its work is linear
// in the length of the line times the number of parameters.
#pragma once

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::cmdline {

// Longer option names are refused with a warning (no option is that long).
inline constexpr size_t max_name_length = 64;
// Longer values are refused with a warning, so a handler never sees more.
// Xen's whole command line is 1024 bytes; an rmrr= list fits easily.
inline constexpr size_t max_value_length = 1024;

// Receives one warning per problem. The parser's own warnings and those of
// custom handlers (for a bad sub-option) all come through here.
class Reporter {
public:
    // option: the option name as written ("iommu"); reason: why it was ignored,
    // naming the offending text ("unknown sub-option 'nonsense', ignored").
    virtual void warn(StringView option, StringView reason) = 0;

    // warn() with a printf-style reason (see format.hpp; "%.*s" prints a
    // StringView). Reasons longer than 191 characters are cut.
    void warn_formatted(StringView option, const char* pattern, ...) __attribute__((format(printf, 3, 4)));

protected:
    ~Reporter() = default;
};

// Logs each warning as "cmdline: warning: <option>: <reason>" through
// the "cmdline" logger and counts them. Bytes that are not printable ASCII
// are shown as '?', so a damaged command line cannot garble the console.
class LogReporter final : public Reporter {
public:
    void warn(StringView option, StringView reason) override;
    [[nodiscard]] size_t warnings() const { return warnings_; }

private:
    size_t warnings_ = 0;
};

// A custom option parses its own value. The value is empty for a bare "name"
// and for "name=", and is "no" for "no-name" (as in Xen); quotes around the
// value are already removed and it is at most max_value_length long.
// option is the name as written, without a "no-" prefix. The handler reports
// every problem through reporter and keeps what it could parse.
using CustomHandler = void (*)(StringView option, StringView value, Reporter& reporter);
// Called once after the whole line was parsed, for every Parameter of the
// table that has one, whether or not its option appeared. It applies what the
// handler recorded, so the effect does not depend on where on the line the
// option stands (loglvl= uses this: the line's own warnings are not hidden
// by a loglvl= written before them).
using CommitHandler = void (*)();

enum class ParameterKind : uint8_t {
    boolean,   // bool: "name", "no-name", "name=<boolean>"
    integer,   // uint8_t..uint64_t (storage_size 1, 2, 4, 8): decimal or 0x-prefixed hex
    size,      // uint8_t..uint64_t bytes: a number with an optional K, M, G or T suffix
    string,    // char[storage_size], NUL-terminated, refused when too long
    custom,    // handler parses the value
};

struct Parameter {
    const char* name;
    ParameterKind kind;
    void* storage;          // bool*, uint8_t/16/32/64_t* or char*; unused for custom
    size_t storage_size;    // bytes at storage
    CustomHandler handler;  // custom only
    CommitHandler commit;   // optional, custom only
};

// Parses line against table, applying each recognised option in order (a
// later occurrence overrides an earlier one), up to a lone "--". Then calls
// every commit handler of the table.
void parse(StringView line, Span<const Parameter> table, Reporter& reporter);

// Parses line against every Parameter declared with the macros below.
void parse_registered(StringView line, Reporter& reporter);
// Every declared Parameter, in link order (empty when none is linked in).
Span<const Parameter> registered_parameters();

// The text after the lone "--" that ends the hypervisor's options, without the
// blanks around it; empty when there is none. A "--" inside a quoted value
// does not count.
[[nodiscard]] StringView dom0_command_line(StringView line);

// --- Helpers for custom handlers -------------------------------------------

// Whether two option or sub-option names are the same, '-' and '_' being equal.
[[nodiscard]] bool names_equal(StringView first, StringView second);

// 1/0, yes/no, on/off, true/false, enable/disable. Anything else: empty.
[[nodiscard]] Optional<bool> parse_boolean(StringView text);
// Decimal, or hex with a 0x prefix. Refuses empty text and junk
// (Error::malformed) and values above 2^64 - 1 (Error::out_of_range).
[[nodiscard]] Result<uint64_t> parse_integer(StringView text);
// Hex digits without a prefix (as in rmrr= and ivmd= frame numbers); a 0x
// prefix is accepted too. Errors as parse_integer.
[[nodiscard]] Result<uint64_t> parse_hex(StringView text);
// How parse_size reads a size: the unit of a number without a suffix, and
// whether a B suffix (bytes) is allowed. The defaults are those of size
// options; dom0_mem= follows Xen, where no suffix means KiB and B is bytes.
struct SizeSyntax {
    unsigned shift_without_suffix = 0;  // the number counts units of 2^shift bytes
    bool bytes_suffix = false;
};
// A number (as parse_integer) with an optional K/M/G/T suffix (either case),
// or B when syntax allows it; without a suffix the number counts the units
// syntax names (bytes by default). Errors as parse_integer.
[[nodiscard]] Result<uint64_t> parse_size(StringView text, SizeSyntax syntax = {});

// User text quoted in a warning ("'%.*s%s'" with length, data and
// ellipsis): at most excerpt_limit characters, then "..." when cut, so a long
// value cannot flood the console.
inline constexpr size_t excerpt_limit = 40;
struct Excerpt {
    int length;
    const char* data;
    const char* ellipsis;
};
[[nodiscard]] Excerpt excerpt(StringView text);

// Splits text at separator, skipping nothing: "a,,b" yields "a", "", "b",
// "a," yields "a", "" and "" yields nothing. Handlers ignore empty items
// without a warning (docs/command-line.md, "Lists").
class ListIterator {
public:
    ListIterator(StringView text, char separator) : rest_(text), separator_(separator), done_(text.empty()) {}
    // The next item, or empty Optional when the list is exhausted.
    [[nodiscard]] Optional<StringView> next();

private:
    StringView rest_;
    char separator_;
    bool done_;
};

// How a list item relates to a boolean sub-option called name.
struct BooleanMatch {
    bool matched = false;  // the item names this sub-option ("name", "no-name", "name=...")
    bool valid = false;    // its value parsed ("name=maybe" and "no-name=1" are matched but not valid)
    bool value = false;
};
// Matches "name" (true), "no-name" (false) and "name=<boolean>", with names
// compared by names_equal.
[[nodiscard]] BooleanMatch match_boolean(StringView item, StringView name);

// Splits "key=value" at the first '='; value is empty when there is none.
struct KeyValue {
    StringView key;
    StringView value;
    bool has_value = false;
};
[[nodiscard]] KeyValue split_key_value(StringView item);

// --- Values of options defined in common/log_parameters.cpp ----------------

// A loglvl= level name as a log threshold: none 0, error 1, warning 2,
// info 3, debug and all 4. Anything else: empty.
[[nodiscard]] Optional<uint8_t> parse_log_level(StringView text);

// --- Compile-time checks for the declaration macros ------------------------

namespace detail {

template <typename T> inline constexpr bool is_boolean = false;
template <> inline constexpr bool is_boolean<bool> = true;

// Exactly the fixed-width unsigned types, so the parser stores through the
// variable's own type.
template <typename T> inline constexpr bool is_unsigned_integer = false;
template <> inline constexpr bool is_unsigned_integer<uint8_t> = true;
template <> inline constexpr bool is_unsigned_integer<uint16_t> = true;
template <> inline constexpr bool is_unsigned_integer<uint32_t> = true;
template <> inline constexpr bool is_unsigned_integer<uint64_t> = true;

template <typename T> inline constexpr bool is_character_array = false;
template <size_t N> inline constexpr bool is_character_array<char[N]> = (N >= 2);

// Letters, digits, '-', '_' and '.', at most max_name_length long, and not
// starting with "no-"/"no_" (that prefix negates).
constexpr bool valid_parameter_name(const char* name) {
    size_t length = 0;
    for (; name[length] != '\0'; ++length) {
        const char character = name[length];
        const bool allowed = (character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z') ||
                             (character >= '0' && character <= '9') || character == '-' || character == '_' ||
                             character == '.';
        if (!allowed) return false;
    }
    if (length == 0 || length > max_name_length) return false;
    return !(length >= 3 && name[0] == 'n' && name[1] == 'o' && (name[2] == '-' || name[2] == '_'));
}

}  // namespace detail

}  // namespace sluice::cmdline

// Declarations go at namespace scope, one Parameter each, in a section named
// like a C identifier so the linker defines __start_/__stop_ symbols for it.
// "retain" keeps the section through --gc-sections; a custom linker script
// must leave "sluice_parameters" an orphan section or KEEP it.
#define SLUICE_PARAMETER_CONCATENATE_(first, second) first##second
#define SLUICE_PARAMETER_CONCATENATE(first, second) SLUICE_PARAMETER_CONCATENATE_(first, second)
#define SLUICE_PARAMETER_DECLARE_(name, kind, storage, size, handler, commit)                                 \
    static_assert(::sluice::cmdline::detail::valid_parameter_name(name),                                     \
                  "an option name is letters, digits, '-', '_', '.', at most 64 long, not starting no-");    \
    [[gnu::used, gnu::retain, gnu::section("sluice_parameters"), gnu::aligned(8)]] constinit const          \
        ::sluice::cmdline::Parameter SLUICE_PARAMETER_CONCATENATE(sluice_parameter_, __COUNTER__) {          \
        name, kind, storage, size, handler, commit                                                          \
    }

// variable: a bool with static storage
#define SLUICE_BOOLEAN_PARAMETER(name, variable)                                                             \
    static_assert(::sluice::cmdline::detail::is_boolean<decltype(variable)>, "needs a bool variable");       \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::boolean, &(variable), sizeof(variable), \
                              nullptr, nullptr)
// variable: a uint8_t, uint16_t, uint32_t or uint64_t with static storage
#define SLUICE_INTEGER_PARAMETER(name, variable)                                                             \
    static_assert(::sluice::cmdline::detail::is_unsigned_integer<decltype(variable)>,                        \
                  "needs a uint8_t, uint16_t, uint32_t or uint64_t variable");                               \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::integer, &(variable), sizeof(variable), \
                              nullptr, nullptr)
// variable: as for SLUICE_INTEGER_PARAMETER; holds bytes
#define SLUICE_SIZE_PARAMETER(name, variable)                                                                \
    static_assert(::sluice::cmdline::detail::is_unsigned_integer<decltype(variable)>,                        \
                  "needs a uint8_t, uint16_t, uint32_t or uint64_t variable");                               \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::size, &(variable), sizeof(variable),    \
                              nullptr, nullptr)
// buffer: a char array (at least 2 long) with static storage
#define SLUICE_STRING_PARAMETER(name, buffer)                                                                \
    static_assert(::sluice::cmdline::detail::is_character_array<decltype(buffer)>,                           \
                  "needs a char array of at least 2");                                                       \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::string, buffer, sizeof(buffer), nullptr, \
                              nullptr)
// handler: a CustomHandler
#define SLUICE_CUSTOM_PARAMETER(name, handler) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::custom, nullptr, 0, handler, nullptr)
// handler: a CustomHandler; commit: a CommitHandler, run after the whole line
#define SLUICE_CUSTOM_PARAMETER_WITH_COMMIT(name, handler, commit) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::custom, nullptr, 0, handler, commit)
