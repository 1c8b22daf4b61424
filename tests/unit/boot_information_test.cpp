// The multiboot2 and PVH boot information parsers against synthetic blobs
// in simulated physical memory: well-formed input from each loader, and
// malformed input that must give one clear warning and keep what is valid.
#include <gtest/gtest.h>

#include "boot/boot_information.hpp"
#include "boot/multiboot2.hpp"
#include "boot/pvh.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <sluice/log.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using sluice::Error;
using sluice::MemoryType;
using sluice::PhysicalAddress;
using sluice::boot::BootInformation;
using sluice::boot::BootLoaderKind;
using sluice::testing::LogCapture;
using sluice::testing::SimulatedMemory;

template <typename T> void append(std::vector<uint8_t>& bytes, const T& value) {
    const auto* raw = reinterpret_cast<const uint8_t*>(&value);
    bytes.insert(bytes.end(), raw, raw + sizeof value);
}

// Builds a multiboot2 information block tag by tag.
class Multiboot2Builder {
public:
    Multiboot2Builder() { bytes_.resize(sizeof(sluice::multiboot2::InformationHeader)); }

    // Appends a tag with the given payload; size may be overridden to forge bad tags.
    size_t tag(uint32_t type, const std::vector<uint8_t>& payload, int64_t size_override = -1) {
        const size_t offset = bytes_.size();
        const uint32_t size = size_override >= 0 ? static_cast<uint32_t>(size_override)
                                                 : static_cast<uint32_t>(8 + payload.size());
        append(bytes_, type);
        append(bytes_, size);
        bytes_.insert(bytes_.end(), payload.begin(), payload.end());
        while (bytes_.size() % 8 != 0) bytes_.push_back(0);
        return offset;
    }
    size_t string_tag(uint32_t type, const std::string& text) {
        std::vector<uint8_t> payload(text.begin(), text.end());
        payload.push_back(0);
        return tag(type, payload);
    }
    size_t command_line(const std::string& text) { return string_tag(1, text); }
    size_t loader_name(const std::string& text) { return string_tag(2, text); }
    size_t module(uint32_t start, uint32_t end, const std::string& text) {
        std::vector<uint8_t> payload;
        append(payload, start);
        append(payload, end);
        payload.insert(payload.end(), text.begin(), text.end());
        payload.push_back(0);
        return tag(3, payload);
    }
    struct Entry {
        uint64_t base;
        uint64_t length;
        uint32_t type;
    };
    size_t memory_map(const std::vector<Entry>& entries, uint32_t entry_size = 24, size_t extra_bytes = 0) {
        std::vector<uint8_t> payload;
        append(payload, entry_size);
        append(payload, uint32_t{0});
        for (const Entry& entry : entries) {
            // Forged entry sizes below 24 cut the entry short.
            std::vector<uint8_t> raw(std::max<size_t>(entry_size, 24), 0);
            std::memcpy(raw.data(), &entry.base, 8);
            std::memcpy(raw.data() + 8, &entry.length, 8);
            std::memcpy(raw.data() + 16, &entry.type, 4);
            payload.insert(payload.end(), raw.begin(), raw.begin() + entry_size);
        }
        payload.insert(payload.end(), extra_bytes, 0);
        return tag(6, payload);
    }
    size_t rsdp(bool new_rsdp, const char* signature = "RSD PTR ", uint8_t revision = 0) {
        std::vector<uint8_t> payload(new_rsdp ? 36 : 20, 0);
        std::memcpy(payload.data(), signature, 8);
        payload[15] = revision;
        return tag(new_rsdp ? 15 : 14, payload);
    }
    size_t end() { return tag(0, {}); }

    // Fills in total_size (or a forged one).
    std::vector<uint8_t> finish(int64_t total_override = -1) {
        const uint32_t total = total_override >= 0 ? static_cast<uint32_t>(total_override)
                                                   : static_cast<uint32_t>(bytes_.size());
        std::memcpy(bytes_.data(), &total, 4);
        return bytes_;
    }

private:
    std::vector<uint8_t> bytes_;
};

constexpr PhysicalAddress arena_base = 0;
constexpr uint64_t arena_size = 1 << 20;
constexpr PhysicalAddress information_address = 0x10000;

struct Parsed {
    sluice::Status status;
    std::unique_ptr<BootInformation> information;
};

Parsed parse_at(SimulatedMemory& memory, uint32_t magic, PhysicalAddress address) {
    auto information = std::make_unique<BootInformation>();
    const sluice::Status status = sluice::boot::parse_boot_information(magic, address, memory, *information);
    return Parsed{status, std::move(information)};
}

Parsed parse_multiboot2(const std::vector<uint8_t>& blob, PhysicalAddress address = information_address) {
    // The parsed information is a copy: the memory may go away afterwards.
    SimulatedMemory memory(arena_base, arena_size);
    EXPECT_TRUE(memory.write_bytes(address, blob.data(), blob.size()).ok());
    return parse_at(memory, sluice::boot::multiboot2_boot_magic, address);
}

std::vector<Multiboot2Builder::Entry> qemu_memory_map() {
    return {
        {0x0, 0x9fc00, 1},          {0x9fc00, 0x400, 2},         {0xf0000, 0x10000, 2},
        {0x100000, 0x1fee0000, 1},  {0x1ffe0000, 0x20000, 2},    {0xfffc0000, 0x40000, 2},
    };
}

// --- multiboot2: well-formed -------------------------------------------------

TEST(Multiboot2Information, ParsesEveryTagGrubGives) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.command_line("console=com1 loglvl=all");
    builder.loader_name("GRUB 2.06");
    builder.module(0x200000, 0x201234, "initrd.img rootfs");
    builder.tag(4, std::vector<uint8_t>(8, 0));  // basic memory information: skipped
    builder.memory_map(qemu_memory_map());
    const size_t rsdp_tag = builder.rsdp(false);
    builder.tag(8, std::vector<uint8_t>(24, 0xee));  // framebuffer: skipped
    builder.end();
    const std::vector<uint8_t> blob = builder.finish();

    const Parsed parsed = parse_multiboot2(blob);
    ASSERT_TRUE(parsed.status.ok());
    const BootInformation& information = *parsed.information;
    EXPECT_EQ(log.warnings().size(), 0u) << log.all();
    EXPECT_EQ(information.warning_count, 0u);
    EXPECT_EQ(information.loader, BootLoaderKind::multiboot2);
    EXPECT_EQ(std::string(information.command_line), "console=com1 loglvl=all");
    EXPECT_EQ(information.command_line_length, std::strlen("console=com1 loglvl=all"));
    EXPECT_FALSE(information.command_line_truncated);
    EXPECT_EQ(std::string(information.loader_name), "GRUB 2.06");

    ASSERT_EQ(information.module_count, 1u);
    EXPECT_EQ(information.modules[0].start, 0x200000u);
    EXPECT_EQ(information.modules[0].end, 0x201234u);
    EXPECT_EQ(std::string(information.modules[0].string), "initrd.img rootfs");

    ASSERT_TRUE(information.rsdp_address.has_value());
    EXPECT_EQ(*information.rsdp_address, information_address + rsdp_tag + 8);

    const auto regions = information.memory_map.regions();
    ASSERT_EQ(regions.size(), 6u);
    EXPECT_EQ(regions[0].base, 0u);
    EXPECT_EQ(regions[0].length, 0x9fc00u);
    EXPECT_EQ(regions[0].type, MemoryType::ram);
    EXPECT_EQ(regions[3].base, 0x100000u);
    EXPECT_EQ(regions[3].type, MemoryType::ram);
    EXPECT_EQ(information.memory_map.total(MemoryType::ram), 0x9fc00u + 0x1fee0000u);

    ASSERT_EQ(information.occupied_count, 1u);
    EXPECT_EQ(information.occupied[0].base, information_address);
    EXPECT_EQ(information.occupied[0].length, blob.size());
}

TEST(Multiboot2Information, MemoryTypesFollowTheSpecification) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.memory_map({{0x100000, 0x1000, 1}, {0x200000, 0x1000, 3}, {0x300000, 0x1000, 4},
                        {0x400000, 0x1000, 5}, {0x500000, 0x1000, 2}, {0x600000, 0x1000, 77}});
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    const sluice::MemoryMap& map = parsed.information->memory_map;
    EXPECT_EQ(map.find(0x100000)->type, MemoryType::ram);
    EXPECT_EQ(map.find(0x200000)->type, MemoryType::acpi_reclaimable);
    EXPECT_EQ(map.find(0x300000)->type, MemoryType::acpi_nvs);
    EXPECT_EQ(map.find(0x400000)->type, MemoryType::unusable);
    EXPECT_EQ(map.find(0x500000)->type, MemoryType::reserved);
    EXPECT_EQ(map.find(0x600000)->type, MemoryType::reserved);  // unknown types are reserved
    EXPECT_EQ(log.warnings().size(), 0u) << log.all();
}

TEST(Multiboot2Information, OverlappingEntriesAreSanitized) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.memory_map({{0x100000, 0x400000, 1}, {0x200000, 0x1000, 2}, {0x500000, 0x100000, 1}});
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    const sluice::MemoryMap& map = parsed.information->memory_map;
    EXPECT_EQ(map.find(0x200000)->type, MemoryType::reserved);
    EXPECT_FALSE(map.covers(0x100000, 0x500000, MemoryType::ram));
    EXPECT_TRUE(map.covers(0x201000, 0x3ff000, MemoryType::ram));  // touching RAM merged
    EXPECT_EQ(map.size(), 3u);
}

TEST(Multiboot2Information, NewRsdpWinsOverOldInEitherOrder) {
    LogCapture log{sluice::LogLevel::debug};
    for (const bool new_first : {false, true}) {
        Multiboot2Builder builder;
        size_t new_tag;
        if (new_first) {
            new_tag = builder.rsdp(true, "RSD PTR ", 2);
            builder.rsdp(false);
        } else {
            builder.rsdp(false);
            new_tag = builder.rsdp(true, "RSD PTR ", 2);
        }
        builder.memory_map(qemu_memory_map());
        builder.end();
        const Parsed parsed = parse_multiboot2(builder.finish());
        ASSERT_TRUE(parsed.status.ok());
        ASSERT_TRUE(parsed.information->rsdp_address.has_value());
        EXPECT_EQ(*parsed.information->rsdp_address, information_address + new_tag + 8) << "new first: " << new_first;
    }
    EXPECT_EQ(log.warnings().size(), 0u) << log.all();
}

TEST(Multiboot2Information, ModuleStringsAndTheModuleLimit) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    for (uint32_t index = 0; index < BootInformation::module_capacity + 2; ++index)
        builder.module(0x1000000 + index * 0x10000, 0x1000000 + index * 0x10000 + 0x100, "m" + std::to_string(index));
    builder.memory_map(qemu_memory_map());
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->module_count, BootInformation::module_capacity);
    EXPECT_EQ(std::string(parsed.information->modules[15].string), "m15");
    EXPECT_EQ(log.warnings().size(), 2u) << log.all();
    EXPECT_TRUE(log.contains("more than 16 modules")) << log.all();
}

// --- multiboot2: malformed -----------------------------------------------------

TEST(Multiboot2Information, ImplausibleTotalSizeIsRefused) {
    for (const int64_t total : {int64_t{0}, int64_t{8}, int64_t{15}, int64_t{2} << 20}) {
        LogCapture log{sluice::LogLevel::debug};
        Multiboot2Builder builder;
        builder.memory_map(qemu_memory_map());
        builder.end();
        const Parsed parsed = parse_multiboot2(builder.finish(total));
        ASSERT_FALSE(parsed.status.ok()) << total;
        EXPECT_EQ(parsed.status.error(), Error::malformed);
        EXPECT_TRUE(log.contains("total_size")) << log.all();
        EXPECT_EQ(parsed.information->memory_map.size(), 0u);
    }
}

TEST(Multiboot2Information, UnreadableInformationIsRefused) {
    LogCapture log{sluice::LogLevel::debug};
    SimulatedMemory memory(arena_base, arena_size);
    const Parsed parsed = parse_at(memory, sluice::boot::multiboot2_boot_magic, arena_size + 0x1000);
    ASSERT_FALSE(parsed.status.ok());
    EXPECT_EQ(parsed.status.error(), Error::out_of_range);
    EXPECT_TRUE(log.contains("not readable")) << log.all();
}

TEST(Multiboot2Information, UnknownMagicIsRefused) {
    LogCapture log{sluice::LogLevel::debug};
    SimulatedMemory memory(arena_base, arena_size);
    const Parsed parsed = parse_at(memory, 0x2badb002, information_address);  // multiboot1
    ASSERT_FALSE(parsed.status.ok());
    EXPECT_EQ(parsed.status.error(), Error::unsupported);
    EXPECT_TRUE(log.contains("unknown boot magic 0x2badb002")) << log.all();
}

TEST(Multiboot2Information, TagRunningPastTheEndKeepsEarlierTags) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.command_line("kept");
    builder.memory_map(qemu_memory_map());
    builder.tag(1, std::vector<uint8_t>(16, 'x'), 4096);  // claims 4 KiB
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(std::string(parsed.information->command_line), "kept");
    EXPECT_EQ(parsed.information->memory_map.size(), 6u);
    EXPECT_TRUE(log.contains("size 4096 runs past the end of the information")) << log.all();
    EXPECT_TRUE(log.contains("no end tag")) << log.all();
    EXPECT_EQ(log.warnings().size(), 2u) << log.all();
}

TEST(Multiboot2Information, TagSmallerThanItsHeaderStopsTheWalk) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.memory_map(qemu_memory_map());
    builder.tag(1, {}, 4);
    builder.command_line("never reached");
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->command_line_length, 0u);
    EXPECT_EQ(parsed.information->memory_map.size(), 6u);
    EXPECT_TRUE(log.contains("size 4 smaller than a tag header")) << log.all();
}

TEST(Multiboot2Information, TotalSizeBeyondReadableMemoryIsCut) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.command_line("near the end");
    builder.memory_map(qemu_memory_map());
    builder.end();
    std::vector<uint8_t> blob = builder.finish();
    const uint32_t claimed = static_cast<uint32_t>(blob.size()) + 0x1000;
    std::memcpy(blob.data(), &claimed, 4);
    // The block ends exactly at the end of simulated memory.
    const PhysicalAddress address = arena_size - blob.size();
    const Parsed parsed = parse_multiboot2(blob, address);
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(std::string(parsed.information->command_line), "near the end");
    EXPECT_EQ(parsed.information->memory_map.size(), 6u);
    EXPECT_TRUE(log.contains("bytes are readable")) << log.all();
    ASSERT_EQ(parsed.information->occupied_count, 1u);
    EXPECT_EQ(parsed.information->occupied[0].end(), arena_size);
}

TEST(Multiboot2Information, MissingEndTagIsReported) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.memory_map(qemu_memory_map());
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->memory_map.size(), 6u);
    EXPECT_TRUE(log.contains("no end tag")) << log.all();
}

TEST(Multiboot2Information, MissingMemoryMapIsReported) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.command_line("x");
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->memory_map.size(), 0u);
    EXPECT_TRUE(log.contains("no memory map (tag 6)")) << log.all();
}

TEST(Multiboot2Information, UnterminatedCommandLineStaysWithinItsTag) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.tag(1, {'a', 'b', 'c', 'd', 'e'});  // no NUL; padding zeros follow but lie outside the tag
    builder.memory_map(qemu_memory_map());
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(std::string(parsed.information->command_line), "abcde");
    EXPECT_TRUE(log.contains("not NUL-terminated")) << log.all();
}

TEST(Multiboot2Information, OverlongCommandLineIsTruncated) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.command_line(std::string(3000, 'q'));
    builder.memory_map(qemu_memory_map());
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_TRUE(parsed.information->command_line_truncated);
    EXPECT_EQ(parsed.information->command_line_length, BootInformation::command_line_capacity - 1);
    EXPECT_EQ(std::strlen(parsed.information->command_line), BootInformation::command_line_capacity - 1);
    EXPECT_TRUE(log.contains("truncated")) << log.all();
}

TEST(Multiboot2Information, MemoryMapWithBadEntrySizes) {
    {
        LogCapture log{sluice::LogLevel::debug};
        Multiboot2Builder builder;
        builder.memory_map(qemu_memory_map(), 16);  // smaller than an entry
        builder.end();
        const Parsed parsed = parse_multiboot2(builder.finish());
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->memory_map.size(), 0u);
        EXPECT_TRUE(log.contains("entry_size 16 smaller than 24")) << log.all();
    }
    {
        LogCapture log{sluice::LogLevel::debug};
        Multiboot2Builder builder;
        builder.memory_map(qemu_memory_map(), 32);  // a later, longer entry format
        builder.end();
        const Parsed parsed = parse_multiboot2(builder.finish());
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->memory_map.size(), 6u);
        EXPECT_EQ(log.warnings().size(), 0u) << log.all();
    }
    {
        LogCapture log{sluice::LogLevel::debug};
        Multiboot2Builder builder;
        builder.memory_map(qemu_memory_map(), 24, 12);  // half an entry at the end
        builder.end();
        const Parsed parsed = parse_multiboot2(builder.finish());
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->memory_map.size(), 6u);
        EXPECT_TRUE(log.contains("partial entry is ignored")) << log.all();
    }
}

TEST(Multiboot2Information, WrappingAndEmptyMemoryMapEntries) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.memory_map({{0x100000, 0x100000, 1}, {0xfffffffffffff000, 0x2000, 1}, {0x300000, 0, 1}});
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->memory_map.size(), 1u);
    EXPECT_TRUE(log.contains("entry 1: base 0xfffffffffffff000 length 0x2000 wraps")) << log.all();
    EXPECT_EQ(log.warnings().size(), 1u) << log.all();  // the empty entry is silently skipped
}

TEST(Multiboot2Information, BadModuleAndRsdpTags) {
    LogCapture log{sluice::LogLevel::debug};
    Multiboot2Builder builder;
    builder.module(0x300000, 0x200000, "backwards");
    builder.tag(3, std::vector<uint8_t>(4, 0));  // too small for a module tag
    builder.rsdp(false, "XSDT PTR");
    builder.tag(15, std::vector<uint8_t>(20, 0));  // too small for a 2.0 RSDP
    builder.memory_map(qemu_memory_map());
    builder.end();
    const Parsed parsed = parse_multiboot2(builder.finish());
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->module_count, 0u);
    EXPECT_FALSE(parsed.information->rsdp_address.has_value());
    EXPECT_TRUE(log.contains("end 0x200000 below start 0x300000")) << log.all();
    EXPECT_TRUE(log.contains("module tag at offset 0x")) << log.all();
    EXPECT_TRUE(log.contains("no \"RSD PTR \" signature")) << log.all();
    EXPECT_TRUE(log.contains("too small for an RSDP")) << log.all();
    EXPECT_EQ(log.warnings().size(), 4u) << log.all();
}

TEST(Multiboot2Information, RandomCorruptionNeverEscapesTheBlock) {
    // Every mutation of a good block must parse without touching memory
    // outside it: the simulated memory is exactly the block, so any stray
    // read fails, and an out-of-range access through read64 would throw.
    Multiboot2Builder builder;
    builder.command_line("console=com1");
    builder.loader_name("GRUB");
    builder.module(0x200000, 0x201000, "module");
    builder.memory_map(qemu_memory_map());
    builder.rsdp(true, "RSD PTR ", 2);
    builder.end();
    const std::vector<uint8_t> good = builder.finish();

    const char* seed_text = std::getenv("SLUICE_TEST_SEED");
    const uint32_t seed = seed_text ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 0)) : 20240601u;
    std::mt19937 random(seed);
    LogCapture log{sluice::LogLevel::debug};
    for (int round = 0; round < 2000; ++round) {
        std::vector<uint8_t> blob = good;
        const int flips = 1 + static_cast<int>(random() % 8);
        for (int flip = 0; flip < flips; ++flip) blob[random() % blob.size()] = static_cast<uint8_t>(random());
        SimulatedMemory memory(information_address, blob.size());
        ASSERT_TRUE(memory.write_bytes(information_address, blob.data(), blob.size()).ok());
        BootInformation information;
        const sluice::Status status =
            sluice::boot::parse_multiboot2(information_address, memory, information);
        (void)status;
        for (const sluice::PhysicalRange& range : information.occupied_ranges()) {
            EXPECT_GE(range.base, information_address) << "seed " << seed << " round " << round;
            EXPECT_LE(range.end(), information_address + blob.size()) << "seed " << seed << " round " << round;
        }
        EXPECT_LT(information.command_line_length, BootInformation::command_line_capacity);
        EXPECT_EQ(information.command_line[information.command_line_length], '\0');
        if (HasFailure()) {
            ADD_FAILURE() << "replay with SLUICE_TEST_SEED=" << seed;
            return;
        }
    }
}

// --- PVH ----------------------------------------------------------------------

// Lays out an hvm_start_info and what it points to in simulated memory.
struct PvhLayout {
    SimulatedMemory memory{arena_base, arena_size};
    PhysicalAddress start_info = 0x6000;
    sluice::pvh::HvmStartInfo info{};

    PvhLayout() {
        info.magic = sluice::pvh::start_magic_value;
        info.version = 1;
    }
    void write_string(PhysicalAddress address, const std::string& text) {
        ASSERT_TRUE(memory.write_bytes(address, text.c_str(), text.size() + 1).ok());
    }
    void command_line(PhysicalAddress address, const std::string& text) {
        write_string(address, text);
        info.cmdline_paddr = address;
    }
    void memory_map(PhysicalAddress address, const std::vector<sluice::pvh::HvmMemmapTableEntry>& entries) {
        ASSERT_TRUE(memory.write_bytes(address, entries.data(), entries.size() * sizeof entries[0]).ok());
        info.memmap_paddr = address;
        info.memmap_entries = static_cast<uint32_t>(entries.size());
    }
    void modules(PhysicalAddress address, const std::vector<sluice::pvh::HvmModlistEntry>& entries) {
        ASSERT_TRUE(memory.write_bytes(address, entries.data(), entries.size() * sizeof entries[0]).ok());
        info.modlist_paddr = address;
        info.nr_modules = static_cast<uint32_t>(entries.size());
    }
    Parsed parse(size_t bytes = sizeof(sluice::pvh::HvmStartInfo)) {
        EXPECT_TRUE(memory.write_bytes(start_info, &info, bytes).ok());
        return parse_at(memory, sluice::boot::pvh_boot_magic, start_info);
    }
};

std::vector<sluice::pvh::HvmMemmapTableEntry> qemu_pvh_memory_map() {
    return {{0x0, 0x9fc00, 1, 0},         {0x9fc00, 0x400, 2, 0},      {0xf0000, 0x10000, 2, 0},
            {0x100000, 0x1fee0000, 1, 0}, {0x1ffe0000, 0x20000, 2, 0}, {0xfffc0000, 0x40000, 2, 0}};
}

TEST(PvhStartInfo, ParsesVersionOneAsQemuWritesIt) {
    LogCapture log{sluice::LogLevel::debug};
    PvhLayout layout;
    layout.command_line(0x7000, "console=com1 iommu=verbose");
    layout.write_string(0x7800, "initrd");
    layout.modules(0x8000, {{0x3000000, 0x12345, 0x7800, 0}, {0x4000000, 0x1000, 0, 0}});
    layout.memory_map(0x9000, qemu_pvh_memory_map());
    layout.info.rsdp_paddr = 0xf59e0;
    const Parsed parsed = layout.parse();
    ASSERT_TRUE(parsed.status.ok());
    const BootInformation& information = *parsed.information;
    EXPECT_EQ(log.warnings().size(), 0u) << log.all();
    EXPECT_EQ(information.loader, BootLoaderKind::pvh);
    EXPECT_EQ(std::string(information.command_line), "console=com1 iommu=verbose");
    ASSERT_TRUE(information.rsdp_address.has_value());
    EXPECT_EQ(*information.rsdp_address, 0xf59e0u);
    ASSERT_EQ(information.module_count, 2u);
    EXPECT_EQ(information.modules[0].start, 0x3000000u);
    EXPECT_EQ(information.modules[0].end, 0x3012345u);
    EXPECT_EQ(std::string(information.modules[0].string), "initrd");
    EXPECT_EQ(std::string(information.modules[1].string), "");
    EXPECT_EQ(information.memory_map.size(), 6u);
    EXPECT_EQ(information.memory_map.total(MemoryType::ram), 0x9fc00u + 0x1fee0000u);

    // start_info, the command line, the module list, the module's string, the memory map.
    ASSERT_EQ(information.occupied_count, 5u);
    EXPECT_EQ(information.occupied[0].base, layout.start_info);
    EXPECT_EQ(information.occupied[0].length, sizeof(sluice::pvh::HvmStartInfo));
    EXPECT_EQ(information.occupied[1].base, 0x7000u);
    EXPECT_EQ(information.occupied[1].length, std::strlen("console=com1 iommu=verbose") + 1);
    EXPECT_EQ(information.occupied[2].base, 0x8000u);
    EXPECT_EQ(information.occupied[2].length, 2 * sizeof(sluice::pvh::HvmModlistEntry));
    EXPECT_EQ(information.occupied[3].base, 0x7800u);
    EXPECT_EQ(information.occupied[4].base, 0x9000u);
    EXPECT_EQ(information.occupied[4].length, 6 * sizeof(sluice::pvh::HvmMemmapTableEntry));
}

TEST(PvhStartInfo, VersionZeroReadsOnlyItsOwnFields) {
    LogCapture log{sluice::LogLevel::debug};
    PvhLayout layout;
    // At the very end of memory: reading the 56-byte version 1 layout would fail.
    layout.start_info = arena_size - sluice::pvh::start_info_version_0_size;
    layout.info.version = 0;
    layout.command_line(0x7000, "dom0=pvh");
    const Parsed parsed = layout.parse(sluice::pvh::start_info_version_0_size);
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(std::string(parsed.information->command_line), "dom0=pvh");
    EXPECT_EQ(parsed.information->memory_map.size(), 0u);
    EXPECT_TRUE(log.contains("(version 0) has no memory map")) << log.all();
    EXPECT_EQ(parsed.information->occupied[0].length, sluice::pvh::start_info_version_0_size);
}

TEST(PvhStartInfo, BadMagicIsRefused) {
    LogCapture log{sluice::LogLevel::debug};
    PvhLayout layout;
    layout.info.magic = 0x12345678;
    const Parsed parsed = layout.parse();
    ASSERT_FALSE(parsed.status.ok());
    EXPECT_EQ(parsed.status.error(), Error::malformed);
    EXPECT_TRUE(log.contains("magic 0x12345678 instead of 0x336ec578")) << log.all();
}

TEST(PvhStartInfo, ModulesWithoutAListOrTooMany) {
    {
        LogCapture log{sluice::LogLevel::debug};
        PvhLayout layout;
        layout.memory_map(0x9000, qemu_pvh_memory_map());
        layout.info.nr_modules = 3;
        const Parsed parsed = layout.parse();
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->module_count, 0u);
        EXPECT_TRUE(log.contains("nr_modules 3 but modlist_paddr is 0")) << log.all();
    }
    {
        LogCapture log{sluice::LogLevel::debug};
        PvhLayout layout;
        layout.memory_map(0x9000, qemu_pvh_memory_map());
        std::vector<sluice::pvh::HvmModlistEntry> entries(20, sluice::pvh::HvmModlistEntry{0x3000000, 0x1000, 0, 0});
        entries[1] = {0xfffffffffffff000, 0x2000, 0, 0};  // wraps
        layout.modules(0x20000, entries);
        const Parsed parsed = layout.parse();
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->module_count, BootInformation::module_capacity - 1);
        EXPECT_TRUE(log.contains("20 modules, only the first 16 are used")) << log.all();
        EXPECT_TRUE(log.contains("PVH module 1: paddr 0xfffffffffffff000 size 0x2000 wraps")) << log.all();
    }
}

TEST(PvhStartInfo, UnterminatedCommandLineAtTheEndOfMemory) {
    LogCapture log{sluice::LogLevel::debug};
    PvhLayout layout;
    layout.memory_map(0x9000, qemu_pvh_memory_map());
    const std::string text = "console=com1";
    ASSERT_TRUE(layout.memory.write_bytes(arena_size - text.size(), text.data(), text.size()).ok());
    layout.info.cmdline_paddr = arena_size - text.size();
    const Parsed parsed = layout.parse();
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(std::string(parsed.information->command_line), "console=com1");
    EXPECT_TRUE(log.contains("unreadable after 12 bytes")) << log.all();
}

TEST(PvhStartInfo, MemoryMapOutsideMemoryAndUnknownTypes) {
    {
        LogCapture log{sluice::LogLevel::debug};
        PvhLayout layout;
        layout.info.memmap_paddr = arena_size - 24;  // the second entry lies beyond memory
        layout.info.memmap_entries = 2;
        const sluice::pvh::HvmMemmapTableEntry entry{0x100000, 0x100000, 1, 0};
        ASSERT_TRUE(layout.memory.write_bytes(arena_size - 24, &entry, sizeof entry).ok());
        const Parsed parsed = layout.parse();
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->memory_map.size(), 1u);
        EXPECT_TRUE(log.contains("PVH memory map entry 1 at 0x100000 unreadable")) << log.all();
    }
    {
        LogCapture log{sluice::LogLevel::debug};
        PvhLayout layout;
        layout.memory_map(0x9000, {{0x100000, 0x100000, 1, 0}, {0x200000, 0x1000, 7, 0}, {0x300000, 0x1000, 99, 0}});
        const Parsed parsed = layout.parse();
        ASSERT_TRUE(parsed.status.ok());
        EXPECT_EQ(parsed.information->memory_map.find(0x200000)->type, MemoryType::persistent);
        EXPECT_EQ(parsed.information->memory_map.find(0x300000)->type, MemoryType::reserved);
        EXPECT_EQ(log.warnings().size(), 0u) << log.all();
    }
}

TEST(PvhStartInfo, MoreMemoryMapEntriesThanTheMapHolds) {
    LogCapture log{sluice::LogLevel::debug};
    PvhLayout layout;
    std::vector<sluice::pvh::HvmMemmapTableEntry> entries;
    for (uint64_t index = 0; index < sluice::MemoryMap::capacity + 10; ++index)
        entries.push_back({0x100000 + index * 0x2000, 0x1000, 1, 0});
    layout.memory_map(0x20000, entries);
    const Parsed parsed = layout.parse();
    ASSERT_TRUE(parsed.status.ok());
    EXPECT_EQ(parsed.information->memory_map.size(), sluice::MemoryMap::capacity);
    EXPECT_EQ(parsed.information->dropped_memory_regions, 1u);
    EXPECT_TRUE(log.contains("the memory map is full (256 regions)")) << log.all();
    EXPECT_EQ(log.warnings().size(), 1u) << log.all();
}

}  // namespace
