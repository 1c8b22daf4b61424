// Feeds arbitrary bytes to the command-line parser, against a table with an
// option of every kind and a custom list handler that uses every helper, and
// checks what must hold for any input:
//   - warnings name something and say why, and there are at most as many
//     parser warnings as options on the line (custom items aside);
//   - string buffers stay NUL-terminated inside their storage;
//   - a custom handler never sees a value longer than max_value_length;
//   - the dom0 part lies inside the line;
//   - parse_integer and parse_hex agree with the standard library.
#include <sluice/cmdline.hpp>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

using sluice::StringView;
using sluice::cmdline::Parameter;
using sluice::cmdline::ParameterKind;
using sluice::cmdline::Reporter;

void require(bool condition) {
    if (!condition) std::abort();
}

class CountingReporter final : public Reporter {
public:
    void warn(StringView option, StringView reason) override {
        require(!reason.empty());
        require(option.length() <= sluice::cmdline::max_value_length + 8);
        ++warnings;
    }
    size_t warnings = 0;
};

bool flag;
uint8_t count8;
uint16_t count16;
uint32_t count32;
uint64_t count64;
uint64_t memory;
uint32_t memory32;
char label[8];
char wide_label[64];
bool strict;
bool verbose;
uint64_t frames[4];
size_t handler_warnings;
int commits;

// A list handler shaped like the IOMMU ones: booleans, boolean sub-options,
// key=value sub-options with hex and size values, ';'-separated groups.
void parse_list(StringView option, StringView value, Reporter& reporter) {
    require(value.length() <= sluice::cmdline::max_value_length);
    sluice::cmdline::ListIterator groups(value, ';');
    while (const sluice::Optional<StringView> group = groups.next()) {
        sluice::cmdline::ListIterator items(*group, ',');
        while (const sluice::Optional<StringView> item = items.next()) {
            require(item->data() >= value.data() && item->end() <= value.end());
            if (item->empty()) continue;
            if (sluice::cmdline::parse_boolean(*item)) continue;
            const sluice::cmdline::BooleanMatch strict_match = sluice::cmdline::match_boolean(*item, "strict");
            const sluice::cmdline::BooleanMatch verbose_match = sluice::cmdline::match_boolean(*item, "verbose");
            if (strict_match.matched || verbose_match.matched) {
                const sluice::cmdline::BooleanMatch& match = strict_match.matched ? strict_match : verbose_match;
                require(!match.valid || match.matched);
                if (match.valid) (strict_match.matched ? strict : verbose) = match.value;
                else {
                    reporter.warn_formatted(option, "bad boolean '%.*s'", static_cast<int>(item->length()),
                                            item->data());
                    ++handler_warnings;
                }
                continue;
            }
            const sluice::cmdline::KeyValue pair = sluice::cmdline::split_key_value(*item);
            if (pair.has_value && sluice::cmdline::names_equal(pair.key, "frame")) {
                const sluice::Result<uint64_t> frame = sluice::cmdline::parse_hex(pair.value);
                if (frame.ok()) frames[frame.value() & 3] = frame.value();
                else {
                    reporter.warn(option, "bad frame");
                    ++handler_warnings;
                }
                continue;
            }
            if (pair.has_value && pair.key == StringView("size")) {
                if (!sluice::cmdline::parse_size(pair.value).ok()) {
                    reporter.warn(option, "bad size");
                    ++handler_warnings;
                }
                continue;
            }
            reporter.warn_formatted(option, "unknown sub-option '%.*s', ignored", static_cast<int>(item->length()),
                                    item->data());
            ++handler_warnings;
        }
    }
}

void commit_list() { ++commits; }

const Parameter table[] = {
    {"flag", ParameterKind::boolean, &flag, sizeof flag, nullptr, nullptr},
    {"c8", ParameterKind::integer, &count8, sizeof count8, nullptr, nullptr},
    {"c16", ParameterKind::integer, &count16, sizeof count16, nullptr, nullptr},
    {"c32", ParameterKind::integer, &count32, sizeof count32, nullptr, nullptr},
    {"c64", ParameterKind::integer, &count64, sizeof count64, nullptr, nullptr},
    {"mem", ParameterKind::size, &memory, sizeof memory, nullptr, nullptr},
    {"mem32", ParameterKind::size, &memory32, sizeof memory32, nullptr, nullptr},
    {"label", ParameterKind::string, label, sizeof label, nullptr, nullptr},
    {"wide-label", ParameterKind::string, wide_label, sizeof wide_label, nullptr, nullptr},
    {"iommu", ParameterKind::custom, nullptr, 0, parse_list, commit_list},
    {"no-such-storage", ParameterKind::integer, &count64, 3, nullptr, nullptr},
};

// Options on the line, counted the simple way (blank-separated words): the
// parser's quoting can only merge words, never split them.
size_t count_words(StringView line) {
    size_t words = 0;
    bool in_word = false;
    for (char character : line) {
        const bool blank = character == ' ' || character == '\t' || character == '\n' || character == '\r';
        if (!blank && !in_word) ++words;
        in_word = !blank;
    }
    return words;
}

void check_number_helpers(StringView text) {
    const std::string_view view(text.data(), text.length());
    const sluice::Result<uint64_t> integer = sluice::cmdline::parse_integer(text);
    const bool hex = view.size() >= 2 && view[0] == '0' && (view[1] == 'x' || view[1] == 'X');
    const std::string_view digits = hex ? view.substr(2) : view;
    uint64_t expected = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), expected, hex ? 16 : 10);
    const bool plain = !digits.empty() && (digits[0] != '-' && digits[0] != '+');
    const bool whole = end == digits.data() + digits.size();
    if (plain && whole && error == std::errc()) require(integer.ok() && integer.value() == expected);
    else if (plain && whole && error == std::errc::result_out_of_range)
        require(!integer.ok() && integer.error() == sluice::Error::out_of_range);
    else require(!integer.ok());

    const sluice::Result<uint64_t> size = sluice::cmdline::parse_size(text);
    if (integer.ok()) require(size.ok() && size.value() == integer.value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const StringView line(reinterpret_cast<const char*>(data), size);

    flag = false;
    count8 = count16 = count32 = count64 = memory = memory32 = 0;
    std::memcpy(label, "default", sizeof label);
    std::memset(wide_label, 'w', sizeof wide_label - 1);
    wide_label[sizeof wide_label - 1] = '\0';
    handler_warnings = 0;
    commits = 0;

    CountingReporter reporter;
    sluice::cmdline::parse(line, table, reporter);
    require(commits == 1);
    require(reporter.warnings - handler_warnings <= count_words(line));
    require(std::memchr(label, '\0', sizeof label) != nullptr);
    require(std::memchr(wide_label, '\0', sizeof wide_label) != nullptr);

    const StringView dom0 = sluice::cmdline::dom0_command_line(line);
    if (!dom0.empty()) require(dom0.data() >= line.data() && dom0.end() <= line.end());

    if (size <= 64) check_number_helpers(line);
    return 0;
}
