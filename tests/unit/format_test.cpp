#include <gtest/gtest.h>

#include <sluice/format.hpp>
#include <sluice/memory_map.hpp>

#include <string>

namespace {

template <typename... Arguments> std::string formatted(const char* pattern, Arguments... arguments) {
    char buffer[128];
    const size_t length = sluice::format(buffer, sizeof buffer, pattern, arguments...);
    return std::string(buffer, length);
}

TEST(Format, IntegersInEveryBaseAndWidth) {
    EXPECT_EQ(formatted("%d %i %u", -42, 7, 42u), "-42 7 42");
    EXPECT_EQ(formatted("%x %X %o", 0xbeefu, 0xbeefu, 8u), "beef BEEF 10");
    EXPECT_EQ(formatted("%08llx", 0x1234ull), "00001234");
    EXPECT_EQ(formatted("%-5d|", 3), "3    |");
    EXPECT_EQ(formatted("%5d|", -3), "   -3|");
    EXPECT_EQ(formatted("%05d", -3), "-0003");
    EXPECT_EQ(formatted("%llu", 18446744073709551615ull), "18446744073709551615");
    EXPECT_EQ(formatted("%lld", static_cast<long long>(-9223372036854775807LL - 1)), "-9223372036854775808");
    EXPECT_EQ(formatted("%zu", size_t{12}), "12");
    EXPECT_EQ(formatted("%hhx", 0x1ff), "ff");
}

TEST(Format, AlternateFormAndSignFlags) {
    EXPECT_EQ(formatted("%#llx", 0xfed90000ull), "0xfed90000");
    EXPECT_EQ(formatted("%#X", 0xabu), "0XAB");
    EXPECT_EQ(formatted("%#o", 8u), "010");
    EXPECT_EQ(formatted("%#x", 0u), "0");  // C prints no prefix for zero
    EXPECT_EQ(formatted("%#010x", 0x1234u), "0x00001234");
    EXPECT_EQ(formatted("%+d %+d % d", 5, -5, 7), "+5 -5  7");
    EXPECT_EQ(formatted("%+u", 5u), "5");
}

TEST(Format, StringsCharactersAndPointers) {
    EXPECT_EQ(formatted("%s/%c/%%", "abc", 'z'), "abc/z/%");
    EXPECT_EQ(formatted("%.*s", 2, "abcdef"), "ab");
    EXPECT_EQ(formatted("%-4s|%4s", "a", "b"), "a   |   b");
    EXPECT_EQ(formatted("%s", static_cast<const char*>(nullptr)), "(null)");
    EXPECT_EQ(formatted("%p", reinterpret_cast<void*>(0x1000)), "0x1000");
}

TEST(Format, TruncatesAndAlwaysTerminates) {
    char buffer[6];
    EXPECT_EQ(sluice::format(buffer, sizeof buffer, "%s", "abcdefgh"), 5u);
    EXPECT_STREQ(buffer, "abcde");
    EXPECT_EQ(sluice::format(buffer, 0, "%s", "abc"), 0u);
}

TEST(MemoryMap, SanitizeResolvesOverlapsAndMergesNeighbours) {
    using sluice::MemoryType;
    sluice::MemoryMap map;
    ASSERT_TRUE(map.add(0x100000, 0x700000, MemoryType::ram).ok());
    ASSERT_TRUE(map.add(0x0, 0x9f000, MemoryType::ram).ok());
    ASSERT_TRUE(map.add(0x9f000, 0x1000, MemoryType::reserved).ok());
    ASSERT_TRUE(map.add(0x400000, 0x1000, MemoryType::reserved).ok());  // inside RAM: reserved wins
    ASSERT_TRUE(map.add(0x800000, 0x100000, MemoryType::ram).ok());     // touches the first RAM region
    map.sanitize();
    const auto regions = map.regions();
    ASSERT_EQ(regions.size(), 5u);
    EXPECT_EQ(regions[0].base, 0x0u);
    EXPECT_EQ(regions[0].length, 0x9f000u);
    EXPECT_EQ(regions[1].type, MemoryType::reserved);
    EXPECT_EQ(regions[2].base, 0x100000u);
    EXPECT_EQ(regions[2].end(), 0x400000u);
    EXPECT_EQ(regions[3].type, MemoryType::reserved);
    EXPECT_EQ(regions[4].base, 0x401000u);
    EXPECT_EQ(regions[4].end(), 0x900000u);
    EXPECT_TRUE(map.covers(0x100000, 0x300000, MemoryType::ram));
    EXPECT_FALSE(map.covers(0x100000, 0x301000, MemoryType::ram));
    EXPECT_FALSE(map.covers(0x9f000, 0x2000, MemoryType::reserved));  // runs into a hole
    EXPECT_EQ(map.find(0xa0000), nullptr);
}

TEST(MemoryMap, RefusesEmptyWrappingAndOverflowingRegions) {
    sluice::MemoryMap map;
    EXPECT_EQ(map.add(0x1000, 0, sluice::MemoryType::ram).error(), sluice::Error::invalid_argument);
    EXPECT_EQ(map.add(~0ull - 10, 0x100, sluice::MemoryType::ram).error(), sluice::Error::invalid_argument);
    for (size_t index = 0; index < sluice::MemoryMap::capacity; ++index)
        ASSERT_TRUE(map.add(index * 0x2000, 0x1000, sluice::MemoryType::ram).ok());
    EXPECT_EQ(map.add(0x10000000, 0x1000, sluice::MemoryType::ram).error(), sluice::Error::capacity);
}

}  // namespace
