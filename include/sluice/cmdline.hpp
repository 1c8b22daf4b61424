// The hypervisor command line, in Xen's syntax.
//
// Options are separated by spaces: "name", "name=value" or "no-name".
// Subsystems declare their options next to their code with the macros at the
// end of this file; each declaration is a Parameter placed in the linker
// section "sluice_parameters", so adding an option never touches the parser.
// Unknown options and malformed values produce one warning each, naming the
// option and the reason, and leave the default in place.
#pragma once

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::cmdline {

// Receives one warning per problem. The parser's own warnings and those of
// custom handlers (for a bad sub-option) all come through here.
class Reporter {
public:
    // option: the option name as written ("iommu"); reason: why it was ignored,
    // naming the offending text ("unknown sub-option 'nonsense'").
    virtual void warn(StringView option, StringView reason) = 0;

protected:
    ~Reporter() = default;
};

// A custom option parses its own value (which is empty for a bare "name").
// It reports every problem through reporter and keeps what it could parse.
using CustomHandler = void (*)(StringView option, StringView value, Reporter& reporter);

enum class ParameterKind : uint8_t {
    boolean,   // bool: "name", "no-name", "name=<boolean>"
    integer,   // uint64_t: decimal or 0x-prefixed hex
    size,      // uint64_t bytes: a number with an optional K, M, G or T suffix
    string,    // char[storage_size], NUL-terminated, refused when too long
    custom,    // handler parses the value
};

struct Parameter {
    const char* name;
    ParameterKind kind;
    void* storage;          // bool*, uint64_t* or char*; unused for custom
    size_t storage_size;    // bytes at storage (string only)
    CustomHandler handler;  // custom only
};

// Parses line against table, applying each recognised option in order (a
// later occurrence overrides an earlier one).
void parse(StringView line, Span<const Parameter> table, Reporter& reporter);

// Parses line against every Parameter declared with the macros below.
void parse_registered(StringView line, Reporter& reporter);
// Every declared Parameter, in link order.
Span<const Parameter> registered_parameters();

// --- Helpers for custom handlers -------------------------------------------

// 1/0, yes/no, on/off, true/false, enable/disable. Anything else: empty.
[[nodiscard]] Optional<bool> parse_boolean(StringView text);
// Decimal, or hex with a 0x prefix. Refuses empty text, junk and overflow.
[[nodiscard]] Result<uint64_t> parse_integer(StringView text);
// Hex digits without a prefix (as in rmrr= and ivmd= frame numbers); a 0x
// prefix is accepted too.
[[nodiscard]] Result<uint64_t> parse_hex(StringView text);
// A number with an optional K/M/G/T suffix (either case), in bytes.
[[nodiscard]] Result<uint64_t> parse_size(StringView text);

// Splits text at separator, skipping nothing: "a,,b" yields "a", "", "b".
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
    bool valid = false;    // its value parsed ("name=maybe" is matched but not valid)
    bool value = false;
};
// Matches "name" (true), "no-name" (false) and "name=<boolean>".
[[nodiscard]] BooleanMatch match_boolean(StringView item, StringView name);

// Splits "key=value" at the first '='; value is empty when there is none.
struct KeyValue {
    StringView key;
    StringView value;
    bool has_value = false;
};
[[nodiscard]] KeyValue split_key_value(StringView item);

}  // namespace sluice::cmdline

#define SLUICE_PARAMETER_CONCATENATE_(first, second) first##second
#define SLUICE_PARAMETER_CONCATENATE(first, second) SLUICE_PARAMETER_CONCATENATE_(first, second)
#define SLUICE_PARAMETER_DECLARE_(name, kind, storage, size, handler)                                    \
    [[gnu::used, gnu::section("sluice_parameters"), gnu::aligned(8)]] constinit const                   \
        ::sluice::cmdline::Parameter SLUICE_PARAMETER_CONCATENATE(sluice_parameter_, __LINE__) {          \
        name, kind, storage, size, handler                                                                \
    }

// variable: a bool with static storage
#define SLUICE_BOOLEAN_PARAMETER(name, variable) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::boolean, &(variable), sizeof(variable), nullptr)
// variable: a uint64_t with static storage
#define SLUICE_INTEGER_PARAMETER(name, variable) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::integer, &(variable), sizeof(variable), nullptr)
#define SLUICE_SIZE_PARAMETER(name, variable) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::size, &(variable), sizeof(variable), nullptr)
// buffer: a char array with static storage
#define SLUICE_STRING_PARAMETER(name, buffer) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::string, buffer, sizeof(buffer), nullptr)
// handler: a CustomHandler
#define SLUICE_CUSTOM_PARAMETER(name, handler) \
    SLUICE_PARAMETER_DECLARE_(name, ::sluice::cmdline::ParameterKind::custom, nullptr, 0, handler)
