// dom0's command line: Xen's rules (module string minus its file name, plus
// what follows " -- " on the hypervisor's command line), checked against
// literal expected strings.
#include "boot/dom0_command_line.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::boot {
namespace {

std::string text(StringView view) { return std::string(view.data(), view.length()); }

std::string assemble(const char* module, const char* extra, size_t capacity = 64, bool* truncated = nullptr) {
    char buffer[256];
    const size_t length = assemble_dom0_command_line(module, extra, buffer, capacity, truncated);
    EXPECT_EQ(buffer[length], '\0');
    return std::string(buffer, length);
}

TEST(Dom0CommandLine, SplitsAtTheFirstDoubleDash) {
    const SplitCommandLine split = split_command_line("console=com1 loglvl=all -- tests=all k=512 -- x");
    EXPECT_EQ(text(split.hypervisor), "console=com1 loglvl=all");
    EXPECT_EQ(text(split.dom0_extra), "tests=all k=512 -- x");
}

TEST(Dom0CommandLine, WithoutDoubleDashEverythingIsTheHypervisors) {
    const SplitCommandLine split = split_command_line("console=com1 iommu=--strange");
    EXPECT_EQ(text(split.hypervisor), "console=com1 iommu=--strange");
    EXPECT_TRUE(split.dom0_extra.empty());
}

TEST(Dom0CommandLine, LeadingAndTrailingDoubleDash) {
    EXPECT_EQ(text(split_command_line("-- quiet").dom0_extra), "quiet");
    EXPECT_TRUE(split_command_line("-- quiet").hypervisor.empty());
    const SplitCommandLine trailing = split_command_line("console=com1 --");
    EXPECT_EQ(text(trailing.hypervisor), "console=com1");
    EXPECT_TRUE(trailing.dom0_extra.empty());
}

TEST(Dom0CommandLine, DropsTheModuleFileName) {
    EXPECT_EQ(text(module_arguments("/boot/pv_checks.elf tests=all  k=1")), "tests=all  k=1");
    EXPECT_TRUE(module_arguments("/boot/kernel").empty());
    EXPECT_TRUE(module_arguments("").empty());
    EXPECT_EQ(text(module_arguments("  kernel   quiet ")), "quiet");
}

TEST(Dom0CommandLine, AssemblesModuleArgumentsThenExtra) {
    EXPECT_EQ(assemble("/boot/k tests=all", "k=512"), "tests=all k=512");
    EXPECT_EQ(assemble("/boot/k", "k=512"), "k=512");
    EXPECT_EQ(assemble("/boot/k tests=all", ""), "tests=all");
    EXPECT_EQ(assemble("", ""), "");
}

TEST(Dom0CommandLine, CutsAtCapacityAndSaysSo) {
    bool truncated = false;
    EXPECT_EQ(assemble("k abcdefgh", "ijkl", 6, &truncated), "abcde");
    EXPECT_TRUE(truncated);
    EXPECT_EQ(assemble("k abc", "d", 6, &truncated), "abc d");
    EXPECT_FALSE(truncated);
}

}  // namespace
}  // namespace sluice::boot
