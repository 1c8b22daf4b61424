// A PVH dom0's memory behind its p2m and its IOMMU tables (arch/x86/hvm/
// dom0_memory.hpp), checked through the reference walkers (which know nothing
// of the walker that wrote the tables) against the rule: every guest RAM page
// is backed by its own page of dom0's machine ranges (a bijection: all of them
// used, none twice), the IOMMU translates it the same way, device holes are
// identity-mapped for the vCPU only, unusable and excluded ranges nowhere.
#include "arch/x86/hvm/dom0_memory.hpp"
#include "arch/x86/hvm/pvh_build.hpp"

#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

namespace sluice::x86::hvm {
namespace {

using testing::ReferenceFault;

struct Run {
    DomainKind kind;
    passthrough::IommuTableKind iommu;
};

class PvhDom0Memory : public ::testing::TestWithParam<Run> {};

MemoryMap qemu_like_host(uint64_t ram_top) {
    MemoryMap map;
    EXPECT_TRUE(map.add(0, 0x9fc00, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0x9fc00, 0x400, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0xf0000, 0x10000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0x100000, ram_top - 0x100000, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0xb0000000, 0x10000000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0xfffc0000, 0x40000, MemoryType::reserved).ok());
    map.sanitize();
    return map;
}

bool in_ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint64_t address) {
    for (const auto& [start, end] : ranges)
        if (address >= start && address < end) return true;
    return false;
}

TEST_P(PvhDom0Memory, TheIommuFollowsTheP2mAfterEveryBuild) {
    testing::LogCapture log(LogLevel::error);
    std::mt19937_64 random(20261203);
    for (unsigned round = 0; round < 12; ++round) {
        testing::DomainFixture fixture(GetParam().kind, GetParam().iommu, false);
        const uint64_t host_top = 0x8000000;                             // 128 MiB of host RAM
        const uint64_t dom0_bytes = (1 + random() % 48) * 0x100000 + (random() % 16) * page_size;
        const MemoryMap host = qemu_like_host(host_top);
        const MemoryMap guest = compute_pvh_memory_map(host, dom0_bytes).value();

        // dom0's machine ranges: 1-4 runs somewhere above 8 GiB, some 2 MiB aligned.
        std::vector<std::pair<uint64_t, uint64_t>> machine_ranges, guest_ram;
        passthrough::FixedRangeSet<8> machine;
        uint64_t remaining = guest.total(MemoryType::ram);
        uint64_t cursor = 0x2'0000'0000 + (random() % 64) * page_size;
        while (remaining != 0) {
            const uint64_t length = machine.count() == 3 ? remaining : std::min(remaining, (1 + random() % 32) * 0x80000);
            if (random() % 2) cursor = (cursor + 0x1fffff) & ~uint64_t{0x1fffff};
            ASSERT_TRUE(machine.add({cursor, cursor + length}).ok());
            machine_ranges.emplace_back(cursor, cursor + length);
            cursor += length + (1 + random() % 8) * page_size;
            remaining -= length;
        }
        for (const MemoryRegion& region : guest.regions())
            if (region.type == MemoryType::ram) guest_ram.emplace_back(region.base, region.end());

        passthrough::FixedRangeSet<4> excluded;
        ASSERT_TRUE(excluded.add({0xfec00000, 0xfec01000}).ok());  // an IO-APIC
        ASSERT_TRUE(excluded.add({0xfee00000, 0xfee01000}).ok());  // the local APIC

        DomainPhysicalMap map(fixture.owner());
        paging::Batch batch(fixture.domain().invalidation_targets());
        const Result<uint64_t> identical = back_guest_ram(map, guest, machine, batch);
        ASSERT_TRUE(identical.ok());
        EXPECT_EQ(identical.value(), 0u);
        const uint64_t device = map_device_holes(map, host, excluded, batch);
        ASSERT_TRUE(batch.commit().ok());
        EXPECT_GT(device, 0u);

        // Every guest RAM page: the same machine page in both tables, inside
        // dom0's machine ranges, and no machine page twice.
        std::set<uint64_t> machine_pages;
        uint64_t guest_pages = 0, large_leaves = 0;
        for (const auto& [start, end] : guest_ram) {
            for (uint64_t address = start; address < end; address += page_size, ++guest_pages) {
                const testing::ReferenceTranslation vcpu = fixture.guest(address);
                const testing::ReferenceTranslation dma = fixture.dma(address);
                SCOPED_TRACE(::testing::Message() << "round " << round << " RAM 0x" << std::hex << address);
                ASSERT_EQ(vcpu.fault, ReferenceFault::none);
                ASSERT_EQ(dma.fault, ReferenceFault::none);
                ASSERT_EQ(vcpu.output, dma.output);
                ASSERT_TRUE(vcpu.write && dma.write);
                ASSERT_TRUE(in_ranges(machine_ranges, vcpu.output));
                ASSERT_TRUE(machine_pages.insert(vcpu.output).second) << "machine page used twice";
                ASSERT_EQ(map.ram(address + 0x123, true).value(), vcpu.output + 0x123);
                if (vcpu.page_size == 2 * MiB && address == vcpu.page_base) ++large_leaves;
            }
        }
        EXPECT_EQ(machine_pages.size(), guest_pages);  // every machine page of dom0 is used
        // RAM from 1 MiB on is large enough for 2 MiB leaves once guest and
        // machine agree modulo 2 MiB.
        if (dom0_bytes >= 8 * MiB) EXPECT_GT(large_leaves, 0u) << "round " << round;

        // Everything else below 4 GiB: range edges and random addresses.
        std::vector<uint64_t> addresses;
        for (const MemoryRegion& region : host.regions()) {
            addresses.push_back(region.base);
            addresses.push_back(region.end() - 1);
        }
        for (uint64_t edge : {0xfec00000ull, 0xfec00fffull, 0xfee00000ull, 0xfebfffffull, 0xfed00000ull, 0xa0000ull})
            addresses.push_back(edge);
        for (unsigned sample = 0; sample < 400; ++sample) addresses.push_back(random() % (host_top + 0x1000000));
        for (unsigned sample = 0; sample < 100; ++sample) addresses.push_back(random() % (uint64_t{1} << 32));
        for (uint64_t address : addresses) {
            if (in_ranges(guest_ram, address)) continue;
            const testing::ReferenceTranslation vcpu = fixture.guest(address);
            const testing::ReferenceTranslation dma = fixture.dma(address);
            SCOPED_TRACE(::testing::Message() << "round " << round << " address 0x" << std::hex << address);
            if (host.find(address) == nullptr && !excluded.contains(address)) {
                // A hole: device memory for the vCPU, nothing for devices.
                ASSERT_EQ(vcpu.fault, ReferenceFault::none);
                EXPECT_EQ(vcpu.output, address);
                EXPECT_EQ(dma.fault, ReferenceFault::not_present);
                EXPECT_FALSE(map.ram(address, false).has_value());
            } else {
                // Unusable host RAM, e820 regions (mapped by the policy, not here), excluded ranges.
                EXPECT_EQ(vcpu.fault, ReferenceFault::not_present);
                EXPECT_EQ(dma.fault, ReferenceFault::not_present);
            }
        }
    }
}

TEST_P(PvhDom0Memory, TooFewMachineFramesIsRefused) {
    testing::LogCapture log;
    testing::DomainFixture fixture(GetParam().kind, GetParam().iommu, false);
    const MemoryMap guest = compute_pvh_memory_map(qemu_like_host(0x8000000), 0x1000000).value();
    passthrough::FixedRangeSet<2> machine;
    ASSERT_TRUE(machine.add({0x2'0000'0000, 0x2'0080'0000}).ok());  // 8 MiB for 16 MiB
    DomainPhysicalMap map(fixture.owner());
    paging::Batch batch(fixture.domain().invalidation_targets());
    const Result<uint64_t> backed = back_guest_ram(map, guest, machine, batch);
    EXPECT_EQ(backed.error(), Error::capacity);
    EXPECT_TRUE(batch.commit().ok());
    EXPECT_TRUE(log.contains("fewer machine frames than guest RAM"));
}

INSTANTIATE_TEST_SUITE_P(Formats, PvhDom0Memory,
                         ::testing::Values(Run{DomainKind::pvh, passthrough::IommuTableKind::amd_v1},
                                           Run{DomainKind::pvh,
                                               passthrough::IommuTableKind::vtd_second_level}),
                         [](const ::testing::TestParamInfo<Run>& info) {
                             return info.param.iommu == passthrough::IommuTableKind::amd_v1 ? std::string("NptAmdV1")
                                                                                           : std::string("EptVtd");
                         });

}  // namespace
}  // namespace sluice::x86::hvm
