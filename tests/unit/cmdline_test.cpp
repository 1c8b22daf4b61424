#include <gtest/gtest.h>

#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>

#include "support/log_capture.hpp"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using sluice::StringView;
using sluice::cmdline::Parameter;
using sluice::cmdline::ParameterKind;
using sluice::cmdline::Reporter;

std::string text(StringView view) { return std::string(view.data(), view.length()); }

// Records every warning as "option: reason".
class RecordingReporter final : public Reporter {
public:
    void warn(StringView option, StringView reason) override { warnings.push_back(text(option) + ": " + text(reason)); }
    std::vector<std::string> warnings;
};

// --- A table with one option of every kind ----------------------------------

struct IommuOptions {
    bool enabled = true;
    bool strict = false;
    bool verbose = false;
    bool quarantine = true;
    uint64_t scratch_frame = 0;
    int calls = 0;
};
IommuOptions iommu;

int length_of(StringView view) { return static_cast<int>(view.length()); }

// A list handler in the style the IOMMU options use: a boolean, boolean
// sub-options and a key=value sub-option, one warning per bad item.
void parse_iommu(StringView option, StringView value, Reporter& reporter) {
    ++iommu.calls;
    if (value.empty()) {
        iommu.enabled = true;
        return;
    }
    sluice::cmdline::ListIterator items(value, ',');
    while (const sluice::Optional<StringView> item = items.next()) {
        if (item->empty()) continue;
        if (const sluice::Optional<bool> enabled = sluice::cmdline::parse_boolean(*item)) {
            iommu.enabled = *enabled;
            continue;
        }
        bool* const targets[] = {&iommu.strict, &iommu.verbose, &iommu.quarantine};
        const char* const names[] = {"strict", "verbose", "quarantine"};
        bool handled = false;
        for (size_t index = 0; index < 3 && !handled; ++index) {
            const sluice::cmdline::BooleanMatch match = sluice::cmdline::match_boolean(*item, names[index]);
            if (!match.matched) continue;
            handled = true;
            if (match.valid) *targets[index] = match.value;
            else reporter.warn_formatted(option, "bad value in '%.*s', ignored", length_of(*item), item->data());
        }
        if (handled) continue;
        const sluice::cmdline::KeyValue pair = sluice::cmdline::split_key_value(*item);
        if (pair.key == StringView("scratch") && pair.has_value) {
            const sluice::Result<uint64_t> frame = sluice::cmdline::parse_hex(pair.value);
            if (frame.ok()) iommu.scratch_frame = frame.value();
            else reporter.warn_formatted(option, "bad frame '%.*s', ignored", length_of(pair.value), pair.value.data());
            continue;
        }
        reporter.warn_formatted(option, "unknown sub-option '%.*s', ignored", length_of(*item), item->data());
    }
}

int committed = 0;
void count_commit() { ++committed; }

bool flag = false;
uint64_t count64 = 7;
uint32_t count32 = 7;
uint16_t count16 = 7;
uint8_t count8 = 7;
uint64_t memory = 0;
uint8_t small_size = 0;
char label[8] = "default";

const Parameter table[] = {
    {"flag", ParameterKind::boolean, &flag, sizeof flag, nullptr, nullptr},
    {"count64", ParameterKind::integer, &count64, sizeof count64, nullptr, nullptr},
    {"count32", ParameterKind::integer, &count32, sizeof count32, nullptr, nullptr},
    {"count16", ParameterKind::integer, &count16, sizeof count16, nullptr, nullptr},
    {"count8", ParameterKind::integer, &count8, sizeof count8, nullptr, nullptr},
    {"dom0_mem", ParameterKind::size, &memory, sizeof memory, nullptr, nullptr},
    {"small-size", ParameterKind::size, &small_size, sizeof small_size, nullptr, nullptr},
    {"label", ParameterKind::string, label, sizeof label, nullptr, nullptr},
    {"iommu", ParameterKind::custom, nullptr, 0, parse_iommu, count_commit},
};

class CommandLine : public ::testing::Test {
protected:
    void SetUp() override {
        iommu = IommuOptions{};
        committed = 0;
        flag = false;
        count64 = count32 = count16 = count8 = 7;
        memory = 0;
        small_size = 0;
        std::strcpy(label, "default");
    }

    // Parses line and returns the warnings.
    std::vector<std::string> parse(const char* line) {
        RecordingReporter reporter;
        sluice::cmdline::parse(StringView(line), table, reporter);
        return reporter.warnings;
    }
    std::vector<std::string> parse(const std::string& line) {
        RecordingReporter reporter;
        sluice::cmdline::parse(StringView(line.data(), line.size()), table, reporter);
        return reporter.warnings;
    }
};

using Warnings = std::vector<std::string>;

// --- Syntax -------------------------------------------------------------

TEST_F(CommandLine, EmptyAndBlankLinesDoNothing) {
    EXPECT_EQ(parse(""), Warnings{});
    EXPECT_EQ(parse(" \t \n\r "), Warnings{});
    EXPECT_FALSE(flag);
    EXPECT_EQ(count64, 7u);
    EXPECT_EQ(committed, 2);  // commit handlers run once per parse, even without their option
}

TEST_F(CommandLine, BareNameSetsABoolean) {
    EXPECT_EQ(parse("flag"), Warnings{});
    EXPECT_TRUE(flag);
}

TEST_F(CommandLine, EveryBooleanSpelling) {
    for (const char* word : {"1", "yes", "on", "true", "enable"}) {
        flag = false;
        EXPECT_EQ(parse(std::string("flag=") + word), Warnings{}) << word;
        EXPECT_TRUE(flag) << word;
    }
    for (const char* word : {"0", "no", "off", "false", "disable"}) {
        flag = true;
        EXPECT_EQ(parse(std::string("flag=") + word), Warnings{}) << word;
        EXPECT_FALSE(flag) << word;
    }
}

TEST_F(CommandLine, BooleanSpellingsAreExact) {
    for (const char* word : {"Yes", "ON", "2", "y", "enabled", "truee", " 1"}) {
        flag = true;
        const Warnings warnings = parse(std::string("flag=\"") + word + "\"");
        EXPECT_EQ(warnings, Warnings{"flag: '" + std::string(word) + "' is not a boolean, ignored"}) << word;
        EXPECT_TRUE(flag) << word;
    }
    EXPECT_EQ(parse("flag=maybe"), Warnings{"flag: 'maybe' is not a boolean, ignored"});
}

TEST_F(CommandLine, NoPrefixClearsABoolean) {
    flag = true;
    EXPECT_EQ(parse("no-flag"), Warnings{});
    EXPECT_FALSE(flag);
    flag = true;
    EXPECT_EQ(parse("no_flag"), Warnings{});  // '-' and '_' are the same in names
    EXPECT_FALSE(flag);
}

TEST_F(CommandLine, NoPrefixWithAValueIsRefused) {
    flag = true;
    EXPECT_EQ(parse("no-flag=1"), Warnings{"no-flag: 'no-' prefix together with a value, ignored"});
    EXPECT_TRUE(flag);
}

TEST_F(CommandLine, NoPrefixOnANonBooleanIsAWarning) {
    EXPECT_EQ(parse("no-count64"), Warnings{"no-count64: 'no-' prefix on an option that is not a boolean, ignored"});
    EXPECT_EQ(parse("no-label no-dom0_mem"),
              (Warnings{"no-label: 'no-' prefix on an option that is not a boolean, ignored",
                        "no-dom0_mem: 'no-' prefix on an option that is not a boolean, ignored"}));
    EXPECT_EQ(count64, 7u);
    EXPECT_STREQ(label, "default");
}

TEST_F(CommandLine, NoPrefixOnACustomOptionPassesNo) {
    EXPECT_EQ(parse("no-iommu"), Warnings{});
    EXPECT_FALSE(iommu.enabled);
    EXPECT_EQ(parse("no-iommu=strict"), Warnings{"no-iommu: 'no-' prefix together with a value, ignored"});
}

TEST_F(CommandLine, NoAloneIsAnUnknownOption) {
    EXPECT_EQ(parse("no- no"), (Warnings{"no-: unknown option, ignored", "no: unknown option, ignored"}));
}

TEST_F(CommandLine, DashesAndUnderscoresAreEqualInNames) {
    EXPECT_EQ(parse("dom0-mem=1M small_size=2"), Warnings{});
    EXPECT_EQ(memory, 1u << 20);
    EXPECT_EQ(small_size, 2u);
    // ...but nowhere else: letters are still case sensitive.
    EXPECT_EQ(parse("Flag"), Warnings{"Flag: unknown option, ignored"});
}

TEST_F(CommandLine, AnyRunOfBlanksSeparates) {
    EXPECT_EQ(parse("  flag\t\tcount64=5 \n count32=6\r\n"), Warnings{});
    EXPECT_TRUE(flag);
    EXPECT_EQ(count64, 5u);
    EXPECT_EQ(count32, 6u);
}

TEST_F(CommandLine, RepeatedOptionsLastWins) {
    EXPECT_EQ(parse("count64=1 flag count64=2 no-flag count64=3"), Warnings{});
    EXPECT_EQ(count64, 3u);
    EXPECT_FALSE(flag);
    EXPECT_EQ(parse("label=one label=two"), Warnings{});
    EXPECT_STREQ(label, "two");
}

TEST_F(CommandLine, ABadRepeatKeepsTheEarlierValue) {
    EXPECT_EQ(parse("count64=1 count64=x"), Warnings{"count64: 'x' is not a number, ignored"});
    EXPECT_EQ(count64, 1u);
}

// --- Integers and sizes -------------------------------------------------

TEST_F(CommandLine, IntegersInDecimalAndHex) {
    EXPECT_EQ(parse("count64=42"), Warnings{});
    EXPECT_EQ(count64, 42u);
    EXPECT_EQ(parse("count64=0x2A"), Warnings{});
    EXPECT_EQ(count64, 42u);
    EXPECT_EQ(parse("count64=0XfF"), Warnings{});
    EXPECT_EQ(count64, 255u);
    EXPECT_EQ(parse("count64=010"), Warnings{});  // no octal: a leading 0 is decimal
    EXPECT_EQ(count64, 10u);
    EXPECT_EQ(parse("count64=18446744073709551615"), Warnings{});
    EXPECT_EQ(count64, 18446744073709551615u);
    EXPECT_EQ(parse("count64=0xffffffffffffffff"), Warnings{});
    EXPECT_EQ(count64, 0xffffffffffffffffu);
}

TEST_F(CommandLine, MalformedIntegersAreRefused) {
    for (const char* value : {"-1", "+1", "1a", "0x", "0xg", "ten", "1 ", "1.0", "0b1"}) {
        count64 = 7;
        const Warnings warnings = parse(std::string("count64=\"") + value + "\"");
        EXPECT_EQ(warnings, Warnings{"count64: '" + std::string(value) + "' is not a number, ignored"}) << value;
        EXPECT_EQ(count64, 7u) << value;
    }
}

TEST_F(CommandLine, IntegerOverflowIsRefused) {
    EXPECT_EQ(parse("count64=18446744073709551616"),
              Warnings{"count64: '18446744073709551616' is out of range, ignored"});
    EXPECT_EQ(parse("count64=0x10000000000000000"),
              Warnings{"count64: '0x10000000000000000' is out of range, ignored"});
    EXPECT_EQ(parse("count64=99999999999999999999999999"),
              Warnings{"count64: '99999999999999999999999999' is out of range, ignored"});
    EXPECT_EQ(count64, 7u);
}

TEST_F(CommandLine, NarrowIntegersAreRangeChecked) {
    EXPECT_EQ(parse("count8=255 count16=65535 count32=4294967295"), Warnings{});
    EXPECT_EQ(count8, 255u);
    EXPECT_EQ(count16, 65535u);
    EXPECT_EQ(count32, 4294967295u);
    EXPECT_EQ(parse("count8=256 count16=0x10000 count32=4294967296"),
              (Warnings{"count8: '256' is out of range (at most 255), ignored",
                        "count16: '0x10000' is out of range (at most 65535), ignored",
                        "count32: '4294967296' is out of range (at most 4294967295), ignored"}));
    EXPECT_EQ(count8, 255u);
    EXPECT_EQ(count16, 65535u);
    EXPECT_EQ(count32, 4294967295u);
}

TEST_F(CommandLine, SizesWithEverySuffix) {
    const std::pair<const char*, uint64_t> cases[] = {
        {"4096", 4096},
        {"0x1000", 4096},
        {"0", 0},
        {"2k", 2 * sluice::KiB},
        {"2K", 2 * sluice::KiB},
        {"3m", 3 * sluice::MiB},
        {"3M", 3 * sluice::MiB},
        {"4g", 4 * sluice::GiB},
        {"4G", 4 * sluice::GiB},
        {"5t", 5 * sluice::TiB},
        {"5T", 5 * sluice::TiB},
        {"0x10M", 16 * sluice::MiB},
        {"16777215T", 16777215 * sluice::TiB},
    };
    for (const auto& [value, expected] : cases) {
        memory = 1;
        EXPECT_EQ(parse(std::string("dom0_mem=") + value), Warnings{}) << value;
        EXPECT_EQ(memory, expected) << value;
    }
}

TEST_F(CommandLine, MalformedSizesAreRefused) {
    for (const char* value : {"M", "1Q", "1KB", "1MM", "1.5G", "-1M", "1 M", "0xM"}) {
        memory = 1;
        const Warnings warnings = parse(std::string("dom0_mem=\"") + value + "\"");
        EXPECT_EQ(warnings, Warnings{"dom0_mem: '" + std::string(value) + "' is not a size, ignored"}) << value;
        EXPECT_EQ(memory, 1u) << value;
    }
}

TEST_F(CommandLine, SizeOverflowIsRefused) {
    EXPECT_EQ(parse("dom0_mem=16777216T"), Warnings{"dom0_mem: '16777216T' is out of range, ignored"});
    EXPECT_EQ(parse("dom0_mem=17179869184G"), Warnings{"dom0_mem: '17179869184G' is out of range, ignored"});
    EXPECT_EQ(parse("dom0_mem=18446744073709551616"),
              Warnings{"dom0_mem: '18446744073709551616' is out of range, ignored"});
    EXPECT_EQ(parse("small-size=1K"), Warnings{"small-size: '1K' is out of range (at most 255), ignored"});
    EXPECT_EQ(memory, 0u);
    EXPECT_EQ(small_size, 0u);
}

// --- Strings and quotes -------------------------------------------------

TEST_F(CommandLine, StringsAreStoredWhenTheyFit) {
    EXPECT_EQ(parse("label=abc"), Warnings{});
    EXPECT_STREQ(label, "abc");
    EXPECT_EQ(parse("label=1234567"), Warnings{});  // 7 characters and the NUL fill char[8]
    EXPECT_STREQ(label, "1234567");
}

TEST_F(CommandLine, OverlongStringsAreRefusedNotTruncated) {
    EXPECT_EQ(parse("label=12345678"), Warnings{"label: value longer than 7 characters, ignored"});
    EXPECT_STREQ(label, "default");
}

TEST_F(CommandLine, QuotedValuesKeepTheirBlanks) {
    EXPECT_EQ(parse("label=\"a b\" flag"), Warnings{});
    EXPECT_STREQ(label, "a b");
    EXPECT_TRUE(flag);
    EXPECT_EQ(parse("label=\"x\ty\""), Warnings{});
    EXPECT_STREQ(label, "x\ty");
    EXPECT_EQ(parse("label=\"\""), Warnings{});
    EXPECT_STREQ(label, "");
    EXPECT_EQ(parse("count64=\"12\""), Warnings{});
    EXPECT_EQ(count64, 12u);
}

TEST_F(CommandLine, AQuoteInsideAValueIsAnOrdinaryCharacter) {
    EXPECT_EQ(parse("label=a\"b"), Warnings{});
    EXPECT_STREQ(label, "a\"b");
}

TEST_F(CommandLine, UnterminatedQuoteIgnoresOnlyThatOption) {
    EXPECT_EQ(parse("label=\"abc flag"), (Warnings{"label: unterminated quote, ignored"}));
    EXPECT_STREQ(label, "default");
    EXPECT_TRUE(flag);  // parsing resumed at the blank after the quote
    EXPECT_EQ(parse("label=\""), Warnings{"label: unterminated quote, ignored"});
    EXPECT_EQ(parse("=\"x y"), (Warnings{"=\"x: missing option name, ignored", "y: unknown option, ignored"}));
}

TEST_F(CommandLine, TextAfterTheClosingQuoteIsRefused) {
    EXPECT_EQ(parse("label=\"a b\"c flag"), Warnings{"label: text after the closing quote, ignored"});
    EXPECT_STREQ(label, "default");
    EXPECT_TRUE(flag);
}

// --- Empty values and missing names -----------------------------------------

TEST_F(CommandLine, EmptyValues) {
    flag = true;
    EXPECT_EQ(parse("flag= count64= dom0_mem="),
              (Warnings{"flag: missing value, ignored", "count64: missing value, ignored",
                        "dom0_mem: missing value, ignored"}));
    EXPECT_TRUE(flag);
    EXPECT_EQ(count64, 7u);
    EXPECT_EQ(parse("label="), Warnings{});  // a string may be set empty
    EXPECT_STREQ(label, "");
    EXPECT_EQ(parse("iommu="), Warnings{});  // a custom handler sees the empty value
    EXPECT_EQ(iommu.calls, 1);
}

TEST_F(CommandLine, ValuesAreRequiredWhereABareNameMeansNothing) {
    EXPECT_EQ(parse("count64 dom0_mem label"),
              (Warnings{"count64: missing value, ignored", "dom0_mem: missing value, ignored",
                        "label: missing value, ignored"}));
}

TEST_F(CommandLine, MissingOptionName) {
    EXPECT_EQ(parse("=5 =\"a b\""),
              (Warnings{"=5: missing option name, ignored", "=\"a b\": missing option name, ignored"}));
}

// --- Unknown and overlong options -------------------------------------------

TEST_F(CommandLine, UnknownOptionsWarnOnceEach) {
    EXPECT_EQ(parse("bogus flag other=1 bogus"),
              (Warnings{"bogus: unknown option, ignored", "other: unknown option, ignored",
                        "bogus: unknown option, ignored"}));
    EXPECT_TRUE(flag);
}

TEST_F(CommandLine, OverlongNameIsRefusedSafely) {
    const std::string name(300, 'n');
    const Warnings warnings = parse(name + "=1 flag");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], std::string(40, 'n') + ": option name longer than 64 characters, ignored");
    EXPECT_TRUE(flag);
    // Exactly 64 is still a name (unknown here).
    EXPECT_EQ(parse(std::string(64, 'a')), Warnings{std::string(64, 'a') + ": unknown option, ignored"});
}

TEST_F(CommandLine, OverlongValueIsRefusedSafely) {
    const std::string value(sluice::cmdline::max_value_length + 1, '1');
    EXPECT_EQ(parse("count64=" + value + " flag"), Warnings{"count64: value longer than 1024 characters, ignored"});
    EXPECT_EQ(parse("iommu=\"" + value + "\""), Warnings{"iommu: value longer than 1024 characters, ignored"});
    EXPECT_EQ(count64, 7u);
    EXPECT_EQ(iommu.calls, 0);
    EXPECT_TRUE(flag);
}

TEST_F(CommandLine, AnOverlongValueInAWarningIsCut) {
    const std::string value(100, 'z');
    const Warnings warnings = parse("count64=" + value);
    EXPECT_EQ(warnings, Warnings{"count64: '" + std::string(40, 'z') + "...' is not a number, ignored"});
}

// --- The dom0 separator ---------------------------------------------------

TEST_F(CommandLine, DoubleDashEndsTheHypervisorOptions) {
    const char* line = "flag -- count64=5 console=hvc0  ";
    EXPECT_EQ(parse(line), Warnings{});
    EXPECT_TRUE(flag);
    EXPECT_EQ(count64, 7u);
    EXPECT_EQ(text(sluice::cmdline::dom0_command_line(line)), "count64=5 console=hvc0");
}

TEST_F(CommandLine, Dom0CommandLine) {
    using sluice::cmdline::dom0_command_line;
    EXPECT_EQ(text(dom0_command_line("flag")), "");
    EXPECT_EQ(text(dom0_command_line("flag --")), "");
    EXPECT_EQ(text(dom0_command_line("--\tro quiet")), "ro quiet");
    EXPECT_EQ(text(dom0_command_line("a -- b -- c")), "b -- c");  // only the first separates
    // Not a separator: inside quotes, glued to text, or with a value.
    EXPECT_EQ(text(dom0_command_line("label=\"x -- y\" z")), "");
    EXPECT_EQ(text(dom0_command_line("--x ---  --=1")), "");
}

TEST_F(CommandLine, DoubleDashVariantsAreUnknownOptions) {
    EXPECT_EQ(parse("--flag"), Warnings{"--flag: unknown option, ignored"});
    EXPECT_FALSE(flag);
}

// --- Lists in custom options ----------------------------------------------

TEST_F(CommandLine, CustomListHandler) {
    EXPECT_EQ(parse("iommu=strict,verbose,no-quarantine,scratch=d5d45"), Warnings{});
    EXPECT_TRUE(iommu.strict);
    EXPECT_TRUE(iommu.verbose);
    EXPECT_FALSE(iommu.quarantine);
    EXPECT_EQ(iommu.scratch_frame, 0xd5d45u);
    EXPECT_EQ(committed, 1);
}

TEST_F(CommandLine, CustomListOneWarningPerBadItem) {
    EXPECT_EQ(parse("iommu=strict,nonsense,verbose=maybe,scratch=xyz,off"),
              (Warnings{"iommu: unknown sub-option 'nonsense', ignored", "iommu: bad value in 'verbose=maybe', ignored",
                        "iommu: bad frame 'xyz', ignored"}));
    EXPECT_TRUE(iommu.strict);
    EXPECT_FALSE(iommu.verbose);
    EXPECT_FALSE(iommu.enabled);
}

TEST_F(CommandLine, TrailingAndDoubledCommasAreHarmless) {
    EXPECT_EQ(parse("iommu=strict,"), Warnings{});
    EXPECT_TRUE(iommu.strict);
    EXPECT_EQ(parse("iommu=,,verbose,,"), Warnings{});
    EXPECT_TRUE(iommu.verbose);
}

TEST_F(CommandLine, QuotedListValue) {
    EXPECT_EQ(parse("iommu=\"strict,verbose\""), Warnings{});
    EXPECT_TRUE(iommu.strict);
    EXPECT_TRUE(iommu.verbose);
}

TEST_F(CommandLine, HandlerGetsTheNameAsWritten) {
    std::vector<std::string> seen;
    static std::vector<std::string>* sink = nullptr;
    sink = &seen;
    const Parameter echo[] = {{"dom0-iommu", ParameterKind::custom, nullptr, 0,
                               [](StringView option, StringView value, Reporter&) {
                                   sink->push_back(text(option) + "|" + text(value));
                               },
                               nullptr}};
    RecordingReporter reporter;
    sluice::cmdline::parse("dom0_iommu=a dom0-iommu no-dom0_iommu dom0-iommu=\"x y\"", echo, reporter);
    EXPECT_EQ(seen, (std::vector<std::string>{"dom0_iommu|a", "dom0-iommu|", "dom0_iommu|no", "dom0-iommu|x y"}));
    EXPECT_TRUE(reporter.warnings.empty());
}

TEST_F(CommandLine, UnusableStorageInAHandBuiltTableIsReportedNotUsed) {
    uint64_t wide = 0;
    const Parameter broken[] = {
        {"odd", ParameterKind::integer, &wide, 3, nullptr, nullptr},
        {"null", ParameterKind::boolean, nullptr, sizeof(bool), nullptr, nullptr},
        {"nohandler", ParameterKind::custom, nullptr, 0, nullptr, nullptr},
        {nullptr, ParameterKind::boolean, nullptr, 0, nullptr, nullptr},
    };
    RecordingReporter reporter;
    sluice::cmdline::parse("odd=1 null nohandler=1", broken, reporter);
    EXPECT_EQ(reporter.warnings,
              (Warnings{"odd: option has unusable storage, ignored", "null: option has unusable storage, ignored",
                        "nohandler: option has unusable storage, ignored"}));
    EXPECT_EQ(wide, 0u);
}

// --- Helpers --------------------------------------------------------------

TEST(CommandLineHelpers, ParseInteger) {
    using sluice::cmdline::parse_integer;
    EXPECT_EQ(parse_integer("0").value(), 0u);
    EXPECT_EQ(parse_integer("123").value(), 123u);
    EXPECT_EQ(parse_integer("0x7fffFFFF").value(), 0x7fffffffu);
    EXPECT_EQ(parse_integer("").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_integer("12z").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_integer("ff").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_integer("18446744073709551616").error(), sluice::Error::out_of_range);
    EXPECT_EQ(parse_integer("184467440737095516150").error(), sluice::Error::out_of_range);
    // Overflow with junk after it is malformed: junk is the clearer complaint.
    EXPECT_EQ(parse_integer("18446744073709551616x").error(), sluice::Error::malformed);
}

TEST(CommandLineHelpers, ParseHex) {
    using sluice::cmdline::parse_hex;
    EXPECT_EQ(parse_hex("d5d45").value(), 0xd5d45u);
    EXPECT_EQ(parse_hex("0xD5D45").value(), 0xd5d45u);
    EXPECT_EQ(parse_hex("10").value(), 0x10u);
    EXPECT_EQ(parse_hex("ffffffffffffffff").value(), ~uint64_t{0});
    EXPECT_EQ(parse_hex("10000000000000000").error(), sluice::Error::out_of_range);
    EXPECT_EQ(parse_hex("").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_hex("0x").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_hex("d5d45-").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_hex("g").error(), sluice::Error::malformed);
}

TEST(CommandLineHelpers, ParseSize) {
    using sluice::cmdline::parse_size;
    EXPECT_EQ(parse_size("512").value(), 512u);
    EXPECT_EQ(parse_size("512k").value(), 512 * sluice::KiB);
    EXPECT_EQ(parse_size("1T").value(), sluice::TiB);
    EXPECT_EQ(parse_size("16777215T").value(), 16777215 * sluice::TiB);
    EXPECT_EQ(parse_size("16777216T").error(), sluice::Error::out_of_range);
    EXPECT_EQ(parse_size("").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_size("k").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_size("1%").error(), sluice::Error::malformed);
    EXPECT_EQ(parse_size("16B").error(), sluice::Error::malformed);  // bytes are written without a suffix
}

TEST(CommandLineHelpers, ParseSizeInXensDom0MemorySyntax) {
    using sluice::cmdline::parse_size;
    constexpr sluice::cmdline::SizeSyntax kibibytes{.shift_without_suffix = 10, .bytes_suffix = true};
    EXPECT_EQ(parse_size("16", kibibytes).value(), 16 * sluice::KiB);
    EXPECT_EQ(parse_size("16b", kibibytes).value(), 16u);
    EXPECT_EQ(parse_size("0x1b", kibibytes).value(), 0x1b * sluice::KiB);  // the longest number, then the suffix
    EXPECT_EQ(parse_size("2M", kibibytes).value(), 2 * sluice::MiB);
    EXPECT_EQ(parse_size("16777216T", kibibytes).error(), sluice::Error::out_of_range);
    EXPECT_EQ(parse_size("18014398509481984", kibibytes).error(), sluice::Error::out_of_range);  // 2^54 KiB
    EXPECT_EQ(parse_size("2MB", kibibytes).error(), sluice::Error::malformed);
    EXPECT_EQ(parse_size("B", kibibytes).error(), sluice::Error::malformed);
}

TEST(CommandLineHelpers, ExcerptsCutLongText) {
    const sluice::cmdline::Excerpt short_text = sluice::cmdline::excerpt("0:1d.0");
    EXPECT_EQ(std::string(short_text.data, static_cast<size_t>(short_text.length)), "0:1d.0");
    EXPECT_STREQ(short_text.ellipsis, "");
    const std::string long_text(sluice::cmdline::excerpt_limit + 1, 'x');
    const sluice::cmdline::Excerpt cut = sluice::cmdline::excerpt(StringView(long_text.data(), long_text.size()));
    EXPECT_EQ(static_cast<size_t>(cut.length), sluice::cmdline::excerpt_limit);
    EXPECT_STREQ(cut.ellipsis, "...");
}

TEST(CommandLineHelpers, ParseBoolean) {
    using sluice::cmdline::parse_boolean;
    EXPECT_TRUE(parse_boolean("enable").value());
    EXPECT_FALSE(parse_boolean("disable").value());
    EXPECT_FALSE(parse_boolean("").has_value());
    EXPECT_FALSE(parse_boolean("enable ").has_value());
}

TEST(CommandLineHelpers, ListIteratorSkipsNothing) {
    auto items = [](const char* list) {
        std::vector<std::string> result;
        sluice::cmdline::ListIterator iterator(list, ',');
        while (const auto item = iterator.next()) result.push_back(text(*item));
        return result;
    };
    EXPECT_EQ(items(""), std::vector<std::string>{});
    EXPECT_EQ(items("a"), std::vector<std::string>{"a"});
    EXPECT_EQ(items("a,,b"), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_EQ(items("a,"), (std::vector<std::string>{"a", ""}));
    EXPECT_EQ(items(","), (std::vector<std::string>{"", ""}));
}

TEST(CommandLineHelpers, MatchBoolean) {
    using sluice::cmdline::match_boolean;
    const auto check = [](const char* item, bool matched, bool valid, bool value) {
        const sluice::cmdline::BooleanMatch match = match_boolean(item, "map-reserved");
        EXPECT_EQ(match.matched, matched) << item;
        EXPECT_EQ(match.valid, valid) << item;
        EXPECT_EQ(match.value, value) << item;
    };
    check("map-reserved", true, true, true);
    check("map_reserved", true, true, true);
    check("no-map-reserved", true, true, false);
    check("map-reserved=off", true, true, false);
    check("map-reserved=on", true, true, true);
    check("map-reserved=maybe", true, false, false);
    check("map-reserved=", true, false, false);
    check("no-map-reserved=1", true, false, false);
    check("map-reserve", false, false, false);
    check("map-reserved2", false, false, false);
    check("", false, false, false);
}

TEST(CommandLineHelpers, SplitKeyValue) {
    using sluice::cmdline::split_key_value;
    const sluice::cmdline::KeyValue pair = split_key_value("rmrr=d5d45=0:0:1d.0");
    EXPECT_EQ(text(pair.key), "rmrr");
    EXPECT_EQ(text(pair.value), "d5d45=0:0:1d.0");
    EXPECT_TRUE(pair.has_value);
    const sluice::cmdline::KeyValue bare = split_key_value("strict");
    EXPECT_EQ(text(bare.key), "strict");
    EXPECT_FALSE(bare.has_value);
    EXPECT_TRUE(split_key_value("k=").has_value);
}

TEST(CommandLineHelpers, NamesEqual) {
    using sluice::cmdline::names_equal;
    EXPECT_TRUE(names_equal("dom0-iommu", "dom0_iommu"));
    EXPECT_TRUE(names_equal("a_b-c", "a-b_c"));
    EXPECT_FALSE(names_equal("dom0-iommu", "dom0.iommu"));
    EXPECT_FALSE(names_equal("abc", "ABC"));
    EXPECT_FALSE(names_equal("abc", "abcd"));
}

// --- The registry ---------------------------------------------------------

bool registered_flag = false;
uint32_t registered_count = 0;
uint64_t registered_size = 0;
char registered_text[16] = "";
SLUICE_BOOLEAN_PARAMETER("test-registered-flag", registered_flag);
SLUICE_INTEGER_PARAMETER("test_registered_count", registered_count);
SLUICE_SIZE_PARAMETER("test-registered-size", registered_size);
SLUICE_STRING_PARAMETER("test-registered-text", registered_text);

TEST(CommandLineRegistry, DeclaredParametersAreFound) {
    const sluice::Span<const Parameter> parameters = sluice::cmdline::registered_parameters();
    int found = 0;
    for (const Parameter& parameter : parameters) {
        const StringView name(parameter.name);
        if (name == StringView("test-registered-flag")) {
            EXPECT_EQ(parameter.kind, ParameterKind::boolean);
            EXPECT_EQ(parameter.storage, &registered_flag);
            ++found;
        }
        if (name == StringView("test_registered_count")) {
            EXPECT_EQ(parameter.kind, ParameterKind::integer);
            EXPECT_EQ(parameter.storage_size, sizeof(uint32_t));
            ++found;
        }
        if (name == StringView("loglvl")) {
            EXPECT_EQ(parameter.kind, ParameterKind::custom);
            EXPECT_NE(parameter.commit, nullptr);
            ++found;
        }
    }
    EXPECT_EQ(found, 3);
}

TEST(CommandLineRegistry, RegisteredNamesAreUnique) {
    const sluice::Span<const Parameter> parameters = sluice::cmdline::registered_parameters();
    for (size_t first = 0; first < parameters.size(); ++first)
        for (size_t second = first + 1; second < parameters.size(); ++second)
            EXPECT_FALSE(sluice::cmdline::names_equal(parameters[first].name, parameters[second].name))
                << parameters[first].name << " is declared twice";
}

TEST(CommandLineRegistry, ParseRegistered) {
    registered_flag = false;
    registered_count = 0;
    RecordingReporter reporter;
    sluice::cmdline::parse_registered(
        "test-registered-flag test-registered-count=0x20 test-registered-size=2M test-registered-text=\"a b\" "
        "test-unregistered",
        reporter);
    EXPECT_TRUE(registered_flag);
    EXPECT_EQ(registered_count, 0x20u);
    EXPECT_EQ(registered_size, 2 * sluice::MiB);
    EXPECT_STREQ(registered_text, "a b");
    EXPECT_EQ(reporter.warnings, Warnings{"test-unregistered: unknown option, ignored"});
}

// --- loglvl= and LogReporter ----------------------------------------------

// Every test captures the log; the threshold it changes is put back after.
class LogLevelOption : public ::testing::Test {
protected:
    Warnings parse(const char* line) {
        RecordingReporter reporter;
        sluice::cmdline::parse_registered(line, reporter);
        return reporter.warnings;
    }

    sluice::testing::LogCapture log_;
};

TEST_F(LogLevelOption, EveryLevel) {
    const std::pair<const char*, uint8_t> cases[] = {
        {"none", 0}, {"error", 1}, {"warning", 2}, {"info", 3}, {"debug", 4}, {"all", 4},
    };
    for (const auto& [level, threshold] : cases) {
        sluice::set_log_threshold(9);
        EXPECT_EQ(parse((std::string("loglvl=") + level).c_str()), Warnings{}) << level;
        EXPECT_EQ(sluice::log_threshold(), threshold) << level;
        EXPECT_EQ(sluice::cmdline::parse_log_level(level).value(), threshold);
    }
}

TEST_F(LogLevelOption, RateLimitedLevelIsCheckedAndIgnored) {
    EXPECT_EQ(parse("loglvl=debug/warning"), Warnings{});
    EXPECT_EQ(sluice::log_threshold(), 4u);
    EXPECT_EQ(parse("loglvl=error/loud"), Warnings{"loglvl: unknown rate-limited level 'loud', ignored"});
    EXPECT_EQ(sluice::log_threshold(), 1u);  // the first part still applies
    EXPECT_EQ(parse("loglvl=info/"), Warnings{"loglvl: unknown rate-limited level '', ignored"});
    EXPECT_EQ(sluice::log_threshold(), 3u);
}

TEST_F(LogLevelOption, BadLevelsKeepTheThreshold) {
    EXPECT_EQ(parse("loglvl=verbose"),
              Warnings{"loglvl: unknown level 'verbose' (none, error, warning, info, debug, all), ignored"});
    EXPECT_EQ(parse("loglvl=DEBUG loglvl="),
              (Warnings{"loglvl: unknown level 'DEBUG' (none, error, warning, info, debug, all), ignored",
                        "loglvl: missing value, ignored"}));
    EXPECT_EQ(parse("loglvl"), Warnings{"loglvl: missing value, ignored"});
    EXPECT_EQ(parse("no-loglvl"),
              Warnings{"loglvl: unknown level 'no' (none, error, warning, info, debug, all), ignored"});
    EXPECT_EQ(sluice::log_threshold(), 3u);
    EXPECT_FALSE(sluice::cmdline::parse_log_level("").has_value());
}

TEST_F(LogLevelOption, LastValidLevelWins) {
    EXPECT_EQ(parse("loglvl=debug loglvl=error loglvl=bogus").size(), 1u);
    EXPECT_EQ(sluice::log_threshold(), 1u);
}

TEST_F(LogLevelOption, AppliesAfterTheLineSoItsWarningsAreShown) {
    sluice::cmdline::LogReporter reporter;
    sluice::cmdline::parse_registered("loglvl=none bogus", reporter);
    EXPECT_EQ(reporter.warnings(), 1u);
    EXPECT_EQ(log_.lines(), std::vector<std::string>{"cmdline: warning: bogus: unknown option, ignored"});
    EXPECT_EQ(sluice::log_threshold(), 0u);
    // From now on nothing is written.
    sluice::cmdline::parse_registered("bogus", reporter);
    EXPECT_EQ(reporter.warnings(), 2u);
    EXPECT_EQ(log_.lines().size(), 1u);
}

TEST_F(LogLevelOption, LogReporterFormatsAndCounts) {
    sluice::cmdline::LogReporter reporter;
    sluice::cmdline::parse_registered("bogus=1 iommu-not-here loglvl=info", reporter);
    EXPECT_EQ(reporter.warnings(), 2u);
    EXPECT_EQ(log_.lines(), (std::vector<std::string>{"cmdline: warning: bogus: unknown option, ignored",
                                                       "cmdline: warning: iommu-not-here: unknown option, ignored"}));
}

TEST_F(LogLevelOption, LogReporterHidesUnprintableBytes) {
    sluice::cmdline::LogReporter reporter;
    const char line[] = "bo\x1b[2Jgus \x7f\xff";
    sluice::cmdline::parse_registered(StringView(line, sizeof line - 1), reporter);
    EXPECT_EQ(log_.lines(), (std::vector<std::string>{"cmdline: warning: bo?[2Jgus: unknown option, ignored",
                                                       "cmdline: warning: ??: unknown option, ignored"}));
}

TEST_F(LogLevelOption, LogReporterWarnFormatted) {
    sluice::cmdline::LogReporter reporter;
    reporter.warn_formatted("iommu", "unknown sub-option '%.*s', ignored", 8, "nonsense");
    EXPECT_EQ(log_.lines(),
              std::vector<std::string>{"cmdline: warning: iommu: unknown sub-option 'nonsense', ignored"});
}

}  // namespace
