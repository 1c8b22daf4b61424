#include <gtest/gtest.h>

#include <drivers/passthrough/iommu_options.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>

#include "support/log_capture.hpp"

#include <string>
#include <vector>

namespace {

using sluice::GiB;
using sluice::KiB;
using sluice::MiB;
using sluice::StringView;
using sluice::TiB;
using sluice::testing::LogCapture;
using namespace sluice::passthrough;

std::string text(StringView view) { return std::string(view.data(), view.length()); }

// Records each warning as "<option>: <reason>", the way the log shows it.
class RecordingReporter final : public sluice::cmdline::Reporter {
public:
    void warn(StringView option, StringView reason) override { warnings.push_back(text(option) + ": " + text(reason)); }
    std::vector<std::string> warnings;
};

// The warnings that are not the "accepted but not implemented" kind, which
// UnimplementedSubOptionsSaySoOnceEach checks on its own.
std::vector<std::string> without_not_implemented(const std::vector<std::string>& warnings) {
    std::vector<std::string> kept;
    for (const std::string& warning : warnings)
        if (warning.find("not implemented yet") == std::string::npos) kept.push_back(warning);
    return kept;
}

IommuOptions parsed_iommu(const char* value, std::vector<std::string>* warnings = nullptr) {
    IommuOptions options;
    RecordingReporter reporter;
    parse_iommu_option(value, options, reporter);
    if (warnings != nullptr) *warnings = reporter.warnings;
    else EXPECT_EQ(without_not_implemented(reporter.warnings), std::vector<std::string>{}) << "iommu=" << value;
    return options;
}

TEST(IommuOptions, DefaultsAreXens) {
    const IommuOptions options;
    EXPECT_TRUE(options.enabled);
    EXPECT_FALSE(options.required);
    EXPECT_FALSE(options.verbose);
    EXPECT_FALSE(options.debug);
    EXPECT_EQ(options.quarantine, Quarantine::basic);
    EXPECT_TRUE(options.share_page_tables);
    EXPECT_TRUE(options.superpages);
    EXPECT_TRUE(options.interrupt_remapping);
    EXPECT_FALSE(options.interrupt_posting);
    EXPECT_FALSE(options.crash_disable);
    EXPECT_TRUE(options.snoop_control);
    EXPECT_TRUE(options.queued_invalidation);
    EXPECT_TRUE(options.integrated_graphics);
    EXPECT_TRUE(options.amd_per_device_interrupt_remapping);
    EXPECT_FALSE(options.hardware_domain.passthrough.has_value());
    EXPECT_FALSE(options.hardware_domain.strict.has_value());
    EXPECT_FALSE(options.hardware_domain.map_inclusive.has_value());
    EXPECT_FALSE(options.hardware_domain.map_reserved.has_value());
    EXPECT_FALSE(options.hardware_domain.none);
}

TEST(IommuOptions, BareBooleanItemsSwitchTheWholeIommu) {
    EXPECT_FALSE(parsed_iommu("0").enabled);
    EXPECT_FALSE(parsed_iommu("off").enabled);
    EXPECT_FALSE(parsed_iommu("no").enabled);  // what the parser passes for "no-iommu"
    EXPECT_FALSE(parsed_iommu("disable").enabled);
    EXPECT_TRUE(parsed_iommu("1").enabled);
    const IommuOptions off_verbose = parsed_iommu("off,verbose");
    EXPECT_FALSE(off_verbose.enabled);
    EXPECT_TRUE(off_verbose.verbose);
    EXPECT_TRUE(parsed_iommu("off,verbose,on").enabled);  // left to right
    EXPECT_TRUE(parsed_iommu("").enabled);                // a bare "iommu"
}

TEST(IommuOptions, EveryBooleanSubOptionInEveryForm) {
    struct Case {
        const char* name;
        bool IommuOptions::*member;
    };
    const Case cases[] = {
        {"force", &IommuOptions::required},
        {"required", &IommuOptions::required},
        {"verbose", &IommuOptions::verbose},
        {"debug", &IommuOptions::debug},
        {"sharept", &IommuOptions::share_page_tables},
        {"superpages", &IommuOptions::superpages},
        {"intremap", &IommuOptions::interrupt_remapping},
        {"intpost", &IommuOptions::interrupt_posting},
        {"crash-disable", &IommuOptions::crash_disable},
        {"snoop", &IommuOptions::snoop_control},
        {"qinval", &IommuOptions::queued_invalidation},
        {"igfx", &IommuOptions::integrated_graphics},
        {"amd-iommu-perdev-intremap", &IommuOptions::amd_per_device_interrupt_remapping},
    };
    for (const Case& item : cases) {
        SCOPED_TRACE(item.name);
        const std::string name = item.name;
        EXPECT_TRUE(parsed_iommu(name.c_str()).*item.member);
        EXPECT_FALSE(parsed_iommu(("no-" + name).c_str()).*item.member);
        EXPECT_TRUE(parsed_iommu((name + "=yes").c_str()).*item.member);
        EXPECT_FALSE(parsed_iommu((name + "=0").c_str()).*item.member);
        EXPECT_FALSE(parsed_iommu((name + "=off").c_str()).*item.member);
        EXPECT_TRUE(parsed_iommu((name + "=enable").c_str()).*item.member);
        EXPECT_TRUE(parsed_iommu(("no-" + name + "," + name).c_str()).*item.member);
    }
    // '-' and '_' are the same character in names.
    EXPECT_TRUE(parsed_iommu("crash_disable").crash_disable);
}

TEST(IommuOptions, DebugImpliesVerbose) {
    const IommuOptions debug = parsed_iommu("debug");
    EXPECT_TRUE(debug.debug);
    EXPECT_TRUE(debug.verbose);
    const IommuOptions quiet = parsed_iommu("no-debug");
    EXPECT_FALSE(quiet.debug);
    EXPECT_FALSE(quiet.verbose);
}

TEST(IommuOptions, Quarantine) {
    EXPECT_EQ(parsed_iommu("quarantine=scratch-page").quarantine, Quarantine::scratch_page);
    EXPECT_EQ(parsed_iommu("no-quarantine").quarantine, Quarantine::none);
    EXPECT_EQ(parsed_iommu("quarantine=0").quarantine, Quarantine::none);
    EXPECT_EQ(parsed_iommu("quarantine=0,quarantine").quarantine, Quarantine::basic);
    EXPECT_EQ(parsed_iommu("quarantine=scratch-page,quarantine=true").quarantine, Quarantine::basic);
}

TEST(IommuOptions, LegacyHardwareDomainSpellings) {
    const IommuOptions options = parsed_iommu("dom0-passthrough,dom0-strict=0");
    EXPECT_EQ(options.hardware_domain.passthrough.value_or(false), true);
    ASSERT_TRUE(options.hardware_domain.strict.has_value());
    EXPECT_FALSE(*options.hardware_domain.strict);
    // The same settings as dom0-iommu=: the later one wins.
    IommuOptions both = parsed_iommu("dom0-strict");
    RecordingReporter reporter;
    parse_dom0_iommu_option("strict=0", both, reporter);
    EXPECT_FALSE(both.hardware_domain.strict.value_or(true));
}

TEST(IommuOptions, StrictIsTheShortSpellingOfDom0Strict) {
    EXPECT_TRUE(parsed_iommu("strict").hardware_domain.strict.value_or(false));
    EXPECT_FALSE(parsed_iommu("strict,no-strict").hardware_domain.strict.value_or(true));
    const IommuOptions options = parsed_iommu("strict,no-qinval");
    EXPECT_TRUE(options.hardware_domain.strict.value_or(false));
    EXPECT_FALSE(options.queued_invalidation);
}

TEST(IommuOptions, UnknownSubOptionsWarnOnceEachAndParsingGoesOn) {
    std::vector<std::string> warnings;
    const IommuOptions options = parsed_iommu("nonsense,verbose,,no-qinval,pt", &warnings);
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_EQ(warnings[0], "iommu: unknown sub-option 'nonsense', ignored");
    EXPECT_EQ(warnings[1], "iommu: unknown sub-option 'pt', ignored");
    EXPECT_TRUE(options.verbose);
    EXPECT_FALSE(options.queued_invalidation);
}

TEST(IommuOptions, MalformedBooleansLeaveTheSettingAlone) {
    std::vector<std::string> warnings;
    const IommuOptions options = parsed_iommu("snoop=maybe,no-igfx=1,intpost", &warnings);
    warnings = without_not_implemented(warnings);
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_EQ(warnings[0], "iommu: sub-option 'snoop=maybe': value is not a boolean, ignored");
    EXPECT_EQ(warnings[1], "iommu: sub-option 'no-igfx=1': 'no-' prefix together with a value, ignored");
    EXPECT_TRUE(options.snoop_control);
    EXPECT_TRUE(options.integrated_graphics);
    EXPECT_TRUE(options.interrupt_posting);
}

// Sub-options that parse but that nothing acts on yet say so, once each and
// whatever their value, so nobody believes e.g. interrupts are remapped; the
// implemented ones stay silent.
TEST(IommuOptions, UnimplementedSubOptionsSaySoOnceEach) {
    std::vector<std::string> warnings;
    const IommuOptions options = parsed_iommu(
        "intremap,no-intpost,crash-disable=1,igfx=0,quarantine=scratch-page,no-quarantine,sharept,"
        "amd-iommu-perdev-intremap,no-amd-iommu-perdev-intremap,no-intremap,verbose,no-superpages,snoop,qinval,force",
        &warnings);
    // intremap is implemented in both forms; per-device AMD tables only in
    // the enabled form.
    const char* const unimplemented[] = {"no-intpost", "crash-disable=1", "igfx=0", "quarantine=scratch-page",
                                         "no-quarantine", "sharept", "no-amd-iommu-perdev-intremap"};
    std::vector<std::string> expected;
    for (const char* item : unimplemented)
        expected.push_back(std::string("iommu: sub-option '") + item +
                           "' is accepted but not implemented yet: it has no effect");
    EXPECT_EQ(warnings, expected);
    // Still stored as Xen would store them.
    EXPECT_FALSE(options.integrated_graphics);
    EXPECT_EQ(options.quarantine, Quarantine::none);
    EXPECT_TRUE(options.verbose);

    HardwareDomainMemoryOptions memory;
    RecordingReporter reporter;
    parse_dom0_memory_option("1G,min:512M,max:2G", memory, reporter);
    EXPECT_EQ(reporter.warnings, std::vector<std::string>{"dom0_mem: 'max:2G' caps dom0's initial memory only; as a "
                                                          "ceiling for later growth it is not implemented yet"});
    EXPECT_EQ(memory.maximum.bytes, 2 * GiB);
}

TEST(IommuOptions, LongJunkIsQuotedShort) {
    std::vector<std::string> warnings;
    (void)parsed_iommu(std::string(300, 'x').c_str(), &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], "iommu: unknown sub-option '" + std::string(48, 'x') + "...', ignored");
}

TEST(Dom0IommuOption, EverySubOption) {
    IommuOptions options;
    RecordingReporter reporter;
    parse_dom0_iommu_option("passthrough,strict=1,map-inclusive=on,no-map-reserved,none", options, reporter);
    EXPECT_TRUE(reporter.warnings.empty());
    EXPECT_TRUE(options.hardware_domain.passthrough.value_or(false));
    EXPECT_TRUE(options.hardware_domain.strict.value_or(false));
    EXPECT_TRUE(options.hardware_domain.map_inclusive.value_or(false));
    ASSERT_TRUE(options.hardware_domain.map_reserved.has_value());
    EXPECT_FALSE(*options.hardware_domain.map_reserved);
    EXPECT_TRUE(options.hardware_domain.none);
    // Nothing else of iommu= changes.
    EXPECT_TRUE(options.enabled);
}

TEST(Dom0IommuOption, ProblemsAreNamed) {
    IommuOptions options;
    RecordingReporter reporter;
    parse_dom0_iommu_option("relaxed,strict=perhaps,map_reserved=0", options, reporter);
    ASSERT_EQ(reporter.warnings.size(), 2u);
    EXPECT_EQ(reporter.warnings[0], "dom0-iommu: unknown sub-option 'relaxed', ignored");
    EXPECT_EQ(reporter.warnings[1], "dom0-iommu: sub-option 'strict=perhaps': value is not a boolean, ignored");
    EXPECT_FALSE(options.hardware_domain.strict.has_value());
    EXPECT_FALSE(options.hardware_domain.map_reserved.value_or(true));
    RecordingReporter empty;
    parse_dom0_iommu_option("", options, empty);
    ASSERT_EQ(empty.warnings.size(), 1u);
    EXPECT_EQ(empty.warnings[0], "dom0-iommu: missing value, ignored");
}

TEST(Dom0Option, KindAndFlags) {
    HardwareDomainOptions options;
    EXPECT_EQ(options.kind, HardwareDomainKind::pv);
    RecordingReporter reporter;
    parse_dom0_option("pvh,verbose,no-cpuid-faulting,msr-relaxed=1,shadow=0", options, reporter);
    EXPECT_EQ(reporter.warnings,
              (std::vector<std::string>{
                  "dom0: sub-option 'verbose' is accepted but not implemented yet: it has no effect",
                  "dom0: sub-option 'no-cpuid-faulting' is accepted but not implemented yet: it has no effect",
                  "dom0: sub-option 'msr-relaxed=1' is accepted but not implemented yet: it has no effect"}));
    reporter.warnings.clear();
    EXPECT_EQ(options.kind, HardwareDomainKind::pvh);
    EXPECT_TRUE(options.verbose);
    EXPECT_FALSE(options.cpuid_faulting);
    EXPECT_TRUE(options.msr_relaxed);
    parse_dom0_option("pv,shadow,hvm", options, reporter);
    EXPECT_EQ(options.kind, HardwareDomainKind::pv);
    ASSERT_EQ(reporter.warnings.size(), 2u);
    EXPECT_EQ(reporter.warnings[0], "dom0: sub-option 'shadow': there is no shadow paging, ignored");
    EXPECT_EQ(reporter.warnings[1], "dom0: unknown sub-option 'hvm', ignored");
}

HardwareDomainMemoryOptions parsed_memory(const char* value, std::vector<std::string>* warnings = nullptr) {
    HardwareDomainMemoryOptions options;
    RecordingReporter reporter;
    parse_dom0_memory_option(value, options, reporter);
    if (warnings != nullptr) *warnings = without_not_implemented(reporter.warnings);
    else EXPECT_EQ(without_not_implemented(reporter.warnings), std::vector<std::string>{}) << "dom0_mem=" << value;
    return options;
}

TEST(Dom0MemoryOption, SizesTakeXensSuffixesAndDefaultToKilobytes) {
    EXPECT_EQ(parsed_memory("512M").size.bytes, 512 * MiB);
    EXPECT_EQ(parsed_memory("4g").size.bytes, 4 * GiB);
    EXPECT_EQ(parsed_memory("1T").size.bytes, TiB);
    EXPECT_EQ(parsed_memory("64k").size.bytes, 64 * KiB);
    EXPECT_EQ(parsed_memory("1048576").size.bytes, GiB);  // no suffix: KiB
    EXPECT_EQ(parsed_memory("4096B").size.bytes, 4096u);
    EXPECT_EQ(parsed_memory("0x100M").size.bytes, 256 * MiB);
    EXPECT_EQ(parsed_memory("0x1b").size.bytes, 0x1b * KiB);  // 'b' is a hex digit there
    const HardwareDomainMemoryOptions plain = parsed_memory("2G");
    EXPECT_TRUE(plain.size.given);
    EXPECT_FALSE(plain.size.negative);
    EXPECT_FALSE(plain.minimum.given);
    EXPECT_FALSE(plain.maximum.given);
}

TEST(Dom0MemoryOption, PercentagesNegativesAndLimits) {
    const HardwareDomainMemoryOptions options = parsed_memory("1G+25%,min:-2G,max:50%");
    EXPECT_EQ(options.size.bytes, GiB);
    EXPECT_EQ(options.size.percent, 25);
    EXPECT_TRUE(options.minimum.given);
    EXPECT_TRUE(options.minimum.negative);
    EXPECT_EQ(options.minimum.bytes, 2 * GiB);
    EXPECT_TRUE(options.maximum.given);
    EXPECT_EQ(options.maximum.bytes, 0u);
    EXPECT_EQ(options.maximum.percent, 50);
    EXPECT_EQ(parsed_memory("-10%").size.percent, 10);
    EXPECT_TRUE(parsed_memory("-10%").size.negative);
}

TEST(Dom0MemoryOption, BadAmountsAreNamedAndSkipped) {
    std::vector<std::string> warnings;
    const HardwareDomainMemoryOptions options =
        parsed_memory("100%,2Q,min:,max:1G+5,,-,1G+x%,512M,max:99999999999999999999", &warnings);
    ASSERT_EQ(warnings.size(), 7u);
    EXPECT_EQ(warnings[0], "dom0_mem: '100%': a percentage must be below 100, ignored");
    EXPECT_EQ(warnings[1], "dom0_mem: '2Q': not a size, ignored");
    EXPECT_EQ(warnings[2], "dom0_mem: 'min:': missing amount, ignored");
    EXPECT_EQ(warnings[3], "dom0_mem: 'max:1G+5': expected <size>+<percent>%, ignored");
    EXPECT_EQ(warnings[4], "dom0_mem: '-': missing amount, ignored");
    EXPECT_EQ(warnings[5], "dom0_mem: '1G+x%': not a percentage, ignored");
    EXPECT_EQ(warnings[6], "dom0_mem: 'max:99999999999999999999': size out of range, ignored");
    EXPECT_EQ(options.size.bytes, 512 * MiB);
    EXPECT_FALSE(options.minimum.given);
    EXPECT_FALSE(options.maximum.given);
}

TEST(Dom0Memory, DefaultKeepsAReserveOfASixteenthUpTo128MiB) {
    const HardwareDomainMemoryOptions none;
    EXPECT_EQ(compute_hardware_domain_memory(none, 64 * GiB).initial, 64 * GiB - 128 * MiB);
    EXPECT_EQ(compute_hardware_domain_memory(none, GiB).initial, GiB - 64 * MiB);
    EXPECT_EQ(compute_hardware_domain_memory(none, 512 * MiB).initial, 480 * MiB);
    EXPECT_EQ(compute_hardware_domain_memory(none, 64 * GiB).maximum, ~uint64_t{0});
    // A size that comes to nothing falls back to the default, as in Xen.
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("-100G"), 8 * GiB).initial, 8 * GiB - 128 * MiB);
}

TEST(Dom0Memory, AmountsMinimumMaximumAndAvailable) {
    const uint64_t host = 256 * GiB;
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("1G+25%"), host).initial, 65 * GiB);  // Xen's own example
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("-16G"), host).initial, 240 * GiB);
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("-10%"), host).initial,
              sluice::align_down(host - host / 10, sluice::page_size));
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("1G,min:4G"), host).initial, 4 * GiB);
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("8G,max:2G"), host).initial, 2 * GiB);
    // max wins over min.
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("min:8G,max:2G"), host).initial, 2 * GiB);
    // Never more than available, always whole pages.
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("1T"), host).initial, host);
    EXPECT_EQ(compute_hardware_domain_memory(parsed_memory("1000001B"), host).initial, 999424u);
    const HardwareDomainMemory balloon = compute_hardware_domain_memory(parsed_memory("512M,max:1G"), host);
    EXPECT_EQ(balloon.initial, 512 * MiB);
    EXPECT_EQ(balloon.maximum, GiB);
}

// --- Resolution --------------------------------------------------------------

HardwareDomainPolicy resolved(const IommuOptions& options, HardwareDomainKind kind) {
    const sluice::Result<HardwareDomainPolicy> policy = resolve_hardware_domain_policy(options, kind);
    EXPECT_TRUE(policy.ok());
    return policy.value_or(HardwareDomainPolicy{});
}

TEST(HardwareDomainPolicy, PvDefaultsToRelaxedWithReservedMemory) {
    LogCapture log;
    const HardwareDomainPolicy policy = resolved(IommuOptions{}, HardwareDomainKind::pv);
    EXPECT_EQ(policy.mode, HardwareDomainIommuMode::relaxed);
    EXPECT_TRUE(policy.map_reserved);
    EXPECT_FALSE(policy.map_inclusive);
    EXPECT_TRUE(log.lines().empty());
}

TEST(HardwareDomainPolicy, PvModes) {
    LogCapture log;
    IommuOptions options;
    options.hardware_domain.passthrough = true;
    EXPECT_EQ(resolved(options, HardwareDomainKind::pv).mode, HardwareDomainIommuMode::passthrough);
    options.hardware_domain.strict = true;
    EXPECT_TRUE(log.lines().empty());
    EXPECT_EQ(resolved(options, HardwareDomainKind::pv).mode, HardwareDomainIommuMode::strict);
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0], "iommu: warning: dom0-iommu: strict overrides passthrough");
    options.hardware_domain.passthrough = false;
    options.hardware_domain.map_inclusive = true;
    options.hardware_domain.map_reserved = false;
    const HardwareDomainPolicy strict = resolved(options, HardwareDomainKind::pv);
    EXPECT_EQ(strict.mode, HardwareDomainIommuMode::strict);
    EXPECT_TRUE(strict.map_inclusive);
    EXPECT_FALSE(strict.map_reserved);
}

TEST(HardwareDomainPolicy, PvhIsAlwaysStrictAndSaysSoWhenAskedOtherwise) {
    LogCapture log;
    EXPECT_EQ(resolved(IommuOptions{}, HardwareDomainKind::pvh).mode, HardwareDomainIommuMode::strict);
    EXPECT_TRUE(log.lines().empty());

    IommuOptions options;
    options.hardware_domain.passthrough = true;
    options.hardware_domain.strict = false;
    options.hardware_domain.map_inclusive = true;
    const HardwareDomainPolicy policy = resolved(options, HardwareDomainKind::pvh);
    EXPECT_EQ(policy.mode, HardwareDomainIommuMode::strict);
    EXPECT_FALSE(policy.map_inclusive);
    EXPECT_TRUE(policy.map_reserved);
    ASSERT_EQ(log.lines().size(), 3u);
    EXPECT_EQ(log.lines()[0], "iommu: warning: dom0-iommu: passthrough ignored: a PVH hardware domain is always translated");
    EXPECT_EQ(log.lines()[1], "iommu: warning: dom0-iommu: strict=0 ignored: a PVH hardware domain is always strict");
    EXPECT_EQ(log.lines()[2], "iommu: warning: dom0-iommu: map-inclusive ignored: only a PV hardware domain has it");
}

TEST(HardwareDomainPolicy, DisabledIommu) {
    LogCapture log;
    IommuOptions options;
    options.enabled = false;
    EXPECT_EQ(resolved(options, HardwareDomainKind::pv).mode, HardwareDomainIommuMode::disabled);
    EXPECT_TRUE(log.lines().empty());
    const sluice::Result<HardwareDomainPolicy> refused = resolve_hardware_domain_policy(options, HardwareDomainKind::pvh);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error(), sluice::Error::unsupported);
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0].rfind("iommu: error: a PVH hardware domain needs the IOMMU", 0), 0u) << log.lines()[0];
    options.hardware_domain.none = true;
    EXPECT_EQ(resolved(options, HardwareDomainKind::pvh).mode, HardwareDomainIommuMode::disabled);
    EXPECT_EQ(log.lines().size(), 2u);
}

// --- Through the command-line parser -----------------------------------------

TEST(IommuOptions, RegisteredWithTheCommandLine) {
    const IommuOptions saved_iommu = iommu_options();
    const HardwareDomainOptions saved_dom0 = hardware_domain_options();
    LogCapture log;
    sluice::cmdline::LogReporter reporter;
    sluice::cmdline::parse_registered(
        "iommu=verbose,no-superpages,nonsense dom0-iommu=strict,map-inclusive dom0=pvh dom0_mem=4G,max:8G", reporter);
    EXPECT_TRUE(iommu_options().verbose);
    EXPECT_FALSE(iommu_options().superpages);
    EXPECT_TRUE(iommu_options().hardware_domain.strict.value_or(false));
    EXPECT_TRUE(iommu_options().hardware_domain.map_inclusive.value_or(false));
    EXPECT_EQ(hardware_domain_options().kind, HardwareDomainKind::pvh);
    EXPECT_EQ(hardware_domain_options().memory.size.bytes, 4 * GiB);
    EXPECT_EQ(hardware_domain_options().memory.maximum.bytes, 8 * GiB);
    EXPECT_EQ(reporter.warnings(), 2u);
    EXPECT_EQ(log.lines(),
              (std::vector<std::string>{"cmdline: warning: iommu: unknown sub-option 'nonsense', ignored",
                                        "cmdline: warning: dom0_mem: 'max:8G' caps dom0's initial memory only; as a "
                                        "ceiling for later growth it is not implemented yet"}));

    sluice::cmdline::parse_registered("no-iommu", reporter);
    EXPECT_FALSE(iommu_options().enabled);
    sluice::cmdline::parse_registered("iommu", reporter);
    EXPECT_TRUE(iommu_options().enabled);

    iommu_options() = saved_iommu;
    hardware_domain_options() = saved_dom0;
}

}  // namespace
