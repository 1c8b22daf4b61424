#include <gtest/gtest.h>

#include <drivers/passthrough/policy.hpp>

#include <sluice/log.hpp>
#include <sluice/memory_map.hpp>

#include "support/host_maps.hpp"
#include "support/log_capture.hpp"

#include <cstdlib>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace sluice::passthrough {
inline void PrintTo(const AddressRange& range, std::ostream* stream) {
    *stream << std::hex << "[0x" << range.start << ", 0x" << range.end << ")" << std::dec;
}
}  // namespace sluice::passthrough

namespace {

using sluice::Error;
using sluice::GiB;
using sluice::MemoryMap;
using sluice::MemoryType;
using sluice::MiB;
using sluice::page_size;
using sluice::PhysicalAddress;
using sluice::TiB;
using sluice::testing::LogCapture;
using sluice::testing::Region;
using namespace sluice::passthrough;

using Ranges = std::vector<AddressRange>;

Ranges contents(const RangeSet& set) { return Ranges(set.begin(), set.end()); }

// A RangeSet with heap storage, filled from a list; movable, unlike RangeSet.
class Set {
public:
    explicit Set(Ranges ranges = {}, size_t capacity = 512)
        : storage_(std::make_unique<AddressRange[]>(capacity)),
          set_(std::make_unique<RangeSet>(sluice::Span<AddressRange>(storage_.get(), capacity))) {
        for (const AddressRange& range : ranges) EXPECT_TRUE(set_->add(range).ok());
    }
    RangeSet& operator*() { return *set_; }
    const RangeSet& operator*() const { return *set_; }
    RangeSet* operator->() { return set_.get(); }
    const RangeSet* operator->() const { return set_.get(); }
    const RangeSet* get() const { return set_.get(); }

private:
    std::unique_ptr<AddressRange[]> storage_;
    std::unique_ptr<RangeSet> set_;
};

MemoryMap map_of(const std::vector<Region>& regions) {
    MemoryMap map;
    for (const Region& region : regions) EXPECT_TRUE(map.add(region.start, region.end - region.start, region.type).ok());
    map.sanitize();
    return map;
}

// --- Realistic maps -----------------------------------------------------------

// What SeaBIOS reports on a QEMU q35 machine: conventional memory up to the
// EBDA, the BIOS area, RAM below the MMIO hole, the ECAM window
// (0xb0000000, 256 MiB), the ICH9 root complex register block, SeaBIOS's
// reserved page block under 4 GiB, the BIOS flash, and RAM above 4 GiB
// (split at 2 GiB once RAM reaches 2.75 GiB). The 1012-1024 GiB reserved range
// is the one QEMU adds for AMD hosts' HyperTransport window.
MemoryMap q35_map(uint64_t ram) {
    std::vector<Region> regions = {
        {0x0, 0x9fc00, MemoryType::ram},
        {0x9fc00, 0xa0000, MemoryType::reserved},
        {0xf0000, 0x100000, MemoryType::reserved},
    };
    const uint64_t below_4gib = ram >= 0xb0000000 ? 2 * GiB : ram;
    regions.push_back({0x100000, below_4gib - 0x24000, MemoryType::ram});
    regions.push_back({below_4gib - 0x24000, below_4gib, MemoryType::reserved});
    regions.push_back({0xb0000000, 0xc0000000, MemoryType::reserved});
    regions.push_back({0xfed1c000, 0xfed20000, MemoryType::reserved});
    regions.push_back({0xfeffc000, 0xff000000, MemoryType::reserved});
    regions.push_back({0xfffc0000, 0x100000000, MemoryType::reserved});
    if (ram > below_4gib) {
        regions.push_back({0x100000000, 0x100000000 + (ram - below_4gib), MemoryType::ram});
        regions.push_back({0xfd00000000, 0x10000000000, MemoryType::reserved});
    }
    return map_of(regions);
}

// The platform ranges of the q35 machine the boot tests use: the emulated
// VT-d unit's registers, ECAM, the IO-APIC, the local APIC, and the HPET
// (read-only).
struct Platform {
    Set hypervisor;
    Set excluded;
    Set read_only;
};

Platform q35_platform() {
    return Platform{
        Set({{0x1000000, 0x2000000}, {0x7f000000, 0x7f800000}}),
        Set({{0xfed90000, 0xfed91000}, {0xb0000000, 0xc0000000}, {0xfec00000, 0xfec00100}, {0xfee00000, 0xfee01000}}),
        Set({{0xfed00000, 0xfed00400}}),
    };
}

// A two-socket server with 512 GiB: the server's memory below 4 GiB
// (host_maps.hpp: low RAM with firmware holes, ACPI tables, a reserved block
// holding a USB controller's RMRR, the ECAM window, the 32-bit MMIO hole,
// platform devices), then 1 MiB of unusable (bad) memory in socket 0, and a
// firmware-reserved tail between the sockets.
MemoryMap server_map() {
    const std::vector<Region> above_4gib = {
        {0x100000000, 0x2000000000, MemoryType::ram},
        {0x2000000000, 0x2000100000, MemoryType::unusable},
        {0x2000100000, 0x407f000000, MemoryType::ram},
        {0x407f000000, 0x4080000000, MemoryType::reserved},
        {0x4080000000, 0x8080000000, MemoryType::ram},
    };
    std::vector<Region> regions = sluice::testing::low_memory;
    regions.insert(regions.end(), above_4gib.begin(), above_4gib.end());
    return map_of(regions);
}

constexpr AddressRange server_usb_rmrr{0x6d2e3000, 0x6d2f3000};

Platform server_platform() {
    return Platform{
        // The image and heap low, the frame table at the top of socket 1.
        Set({{0x200000, 0x2200000}, {0x8070000000, 0x8080000000}}),
        // Two VT-d units, ECAM, two IO-APICs, the local APIC.
        Set({{0xfed90000, 0xfed92000},
             {0xd37fc000, 0xd37fd000},
             {0x80000000, 0x90000000},
             {0xfec00000, 0xfec00040},
             {0xfec01000, 0xfec01040},
             {0xfee00000, 0xfee01000}}),
        // The HPET and a NIC's MSI-X table in a 64-bit BAR.
        Set({{0xfed00000, 0xfed00400}, {0x380000020000, 0x380000020800}}),
    };
}

// 4 TiB: eight sockets of 512 GiB, each ending in a 16 MiB firmware block,
// with a 1 GiB hole between sockets.
MemoryMap four_tib_map() {
    std::vector<Region> regions = {
        {0x0, 0x9a000, MemoryType::ram},
        {0x9a000, 0xa0000, MemoryType::reserved},
        {0xe0000, 0x100000, MemoryType::reserved},
        {0x100000, 0x6a5ff000, MemoryType::ram},
        {0x6a5ff000, 0x90000000, MemoryType::reserved},
        {0xfd000000, 0xfe800000, MemoryType::reserved},
        {0xff000000, 0x100000000, MemoryType::reserved},
    };
    PhysicalAddress base = 0x100000000;
    for (int socket = 0; socket < 8; ++socket) {
        const PhysicalAddress end = base + 512 * GiB;
        regions.push_back({base, end - 16 * MiB, MemoryType::ram});
        regions.push_back({end - 16 * MiB, end, MemoryType::reserved});
        base = end + GiB;
    }
    return map_of(regions);
}

struct Outputs {
    Outputs(size_t capacity) : read_write({}, capacity), read_only({}, capacity) {}
    Set read_write;
    Set read_only;
};

HardwareDomainMappingInputs inputs_for(const MemoryMap& map, const Platform& platform, HardwareDomainPolicy policy) {
    HardwareDomainMappingInputs inputs;
    inputs.memory_map = &map;
    inputs.policy = policy;
    inputs.hypervisor_memory = platform.hypervisor.get();
    inputs.excluded = platform.excluded.get();
    inputs.read_only = platform.read_only.get();
    return inputs;
}

HardwareDomainPolicy policy_of(HardwareDomainIommuMode mode, HardwareDomainKind kind = HardwareDomainKind::pv,
                               bool map_reserved = true, bool map_inclusive = false) {
    HardwareDomainPolicy policy;
    policy.kind = kind;
    policy.mode = mode;
    policy.map_reserved = map_reserved;
    policy.map_inclusive = map_inclusive;
    return policy;
}

Outputs computed(const HardwareDomainMappingInputs& inputs) {
    Outputs outputs(hardware_domain_range_capacity(inputs));
    const sluice::Status status = compute_hardware_domain_ranges(inputs, *outputs.read_write, *outputs.read_only);
    EXPECT_TRUE(status.ok()) << sluice::describe(status.error());
    return outputs;
}

// --- q35 ------------------------------------------------------------------------

TEST(HardwareDomainRanges, Q35With512MiBRelaxed) {
    const MemoryMap map = q35_map(512 * MiB);
    const Platform platform = q35_platform();
    const Outputs out = computed(inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed)));
    // RAM and reserved memory, minus the hypervisor and ECAM. The page at
    // 0x9f000 is partly RAM and partly reserved: reserved, and mapped.
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x0, 0xa0000},
                                                 {0xf0000, 0x1000000},
                                                 {0x2000000, 0x20000000},
                                                 {0xfed1c000, 0xfed20000},
                                                 {0xfeffc000, 0xff000000},
                                                 {0xfffc0000, 0x100000000}}));
    EXPECT_EQ(contents(*out.read_only), (Ranges{{0xfed00000, 0xfed01000}}));
}

TEST(HardwareDomainRanges, Q35With8GiBRelaxed) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    const Outputs out = computed(inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed)));
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x0, 0xa0000},
                                                 {0xf0000, 0x1000000},
                                                 {0x2000000, 0x7f000000},
                                                 {0x7f800000, 0x80000000},
                                                 {0xfed1c000, 0xfed20000},
                                                 {0xfeffc000, 0xff000000},
                                                 {0xfffc0000, 0x280000000},
                                                 {0xfd00000000, 0x10000000000}}));
    EXPECT_EQ(contents(*out.read_only), (Ranges{{0xfed00000, 0xfed01000}}));
}

TEST(HardwareDomainRanges, AddressLimitDropsWhatTheTablesCannotTranslate) {
    LogCapture log;
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    HardwareDomainMappingInputs inputs = inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed));
    inputs.address_limit = uint64_t{1} << 39;  // QEMU's intel-iommu default aw-bits=39
    const Outputs out = computed(inputs);
    ASSERT_EQ(out.read_write->count(), 7u);
    EXPECT_EQ((*out.read_write)[6], (AddressRange{0xfffc0000, 0x280000000}));
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0], "iommu: warning: hardware domain: memory at or above 0x8000000000 is beyond what its IOMMU "
                            "tables translate, not mapped");
}

TEST(HardwareDomainRanges, Q35StrictPvMapsOnlyItsOwnMemory) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    HardwareDomainMappingInputs inputs = inputs_for(map, platform, policy_of(HardwareDomainIommuMode::strict));
    const Set dom0({{0x4000000, 0x24000000}, {0x100000000, 0x140000000}});
    inputs.domain_memory = dom0.get();
    const Outputs out = computed(inputs);
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x9f000, 0xa0000},
                                                 {0xf0000, 0x100000},
                                                 {0x4000000, 0x24000000},
                                                 {0x7ffdc000, 0x80000000},
                                                 {0xfed1c000, 0xfed20000},
                                                 {0xfeffc000, 0xff000000},
                                                 {0xfffc0000, 0x140000000},
                                                 {0xfd00000000, 0x10000000000}}));
    // No RAM page outside dom0's own is mapped.
    Set ram_mapped;
    ASSERT_TRUE(ram_mapped->assign(*out.read_write).ok());
    Set ram({{0x0, 0x9f000}, {0x100000, 0x7ffdc000}, {0x100000000, 0x280000000}});
    ASSERT_TRUE(ram_mapped->intersect(*ram).ok());
    EXPECT_EQ(contents(*ram_mapped), contents(*dom0));
}

TEST(HardwareDomainRanges, StrictRefusesDomainMemoryOutsideRam) {
    LogCapture log;
    const MemoryMap map = q35_map(512 * MiB);
    const Platform platform = q35_platform();
    HardwareDomainMappingInputs inputs = inputs_for(map, platform, policy_of(HardwareDomainIommuMode::strict));
    const Set dom0({{0x1000000, 0x4000000}, {0x1ff00000, 0x1fff0000}});  // runs into reserved memory
    inputs.domain_memory = dom0.get();
    Outputs out(hardware_domain_range_capacity(inputs));
    EXPECT_EQ(compute_hardware_domain_ranges(inputs, *out.read_write, *out.read_only).error(), Error::invalid_argument);
    EXPECT_TRUE(out.read_write->empty());
    ASSERT_EQ(log.lines().size(), 1u);
    EXPECT_EQ(log.lines()[0], "iommu: error: hardware domain memory [0x1ff00000, 0x1fff0000) is not all RAM in the memory map");
}

TEST(HardwareDomainRanges, Q35PvhGetsReservedMemoryOnly) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    HardwareDomainMappingInputs inputs =
        inputs_for(map, platform, policy_of(HardwareDomainIommuMode::strict, HardwareDomainKind::pvh));
    const Set dom0({{0x4000000, 0x24000000}});
    inputs.domain_memory = dom0.get();  // reached through its p2m, never identity-mapped
    const Set read_only({{0xfed1d000, 0xfed1d010}});
    inputs.read_only = read_only.get();
    const Outputs out = computed(inputs);
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x9f000, 0xa0000},
                                                 {0xf0000, 0x100000},
                                                 {0x7ffdc000, 0x80000000},
                                                 {0xfed1c000, 0xfed1d000},
                                                 {0xfed1e000, 0xfed20000},
                                                 {0xfeffc000, 0xff000000},
                                                 {0xfffc0000, 0x100000000},
                                                 {0xfd00000000, 0x10000000000}}));
    EXPECT_TRUE(out.read_only->empty());
}

TEST(HardwareDomainRanges, PassthroughAndDisabledMapNothing) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    for (const HardwareDomainIommuMode mode : {HardwareDomainIommuMode::passthrough, HardwareDomainIommuMode::disabled}) {
        Outputs out(64);
        ASSERT_TRUE(out.read_write->add({0x1000, 0x2000}).ok());  // replaced, not kept
        ASSERT_TRUE(compute_hardware_domain_ranges(inputs_for(map, platform, policy_of(mode)), *out.read_write,
                                                   *out.read_only)
                        .ok());
        EXPECT_TRUE(out.read_write->empty());
        EXPECT_TRUE(out.read_only->empty());
    }
}

TEST(HardwareDomainRanges, WithoutMapReservedOnlyRam) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    const Outputs out =
        computed(inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed, HardwareDomainKind::pv, false)));
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x0, 0x9f000},
                                                 {0x100000, 0x1000000},
                                                 {0x2000000, 0x7f000000},
                                                 {0x7f800000, 0x7ffdc000},
                                                 {0x100000000, 0x280000000}}));
}

TEST(HardwareDomainRanges, Q35MapInclusiveTakesEverythingBelow4GiBButExclusions) {
    const MemoryMap map = q35_map(8 * GiB);
    const Platform platform = q35_platform();
    const Outputs out = computed(
        inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed, HardwareDomainKind::pv, false, true)));
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x0, 0x1000000},
                                                 {0x2000000, 0x7f000000},
                                                 {0x7f800000, 0xb0000000},
                                                 {0xc0000000, 0xfec00000},
                                                 {0xfec01000, 0xfed00000},
                                                 {0xfed01000, 0xfed90000},
                                                 {0xfed91000, 0xfee00000},
                                                 {0xfef00000, 0x280000000},
                                                 {0xfd00000000, 0x10000000000}}));
    EXPECT_EQ(contents(*out.read_only), (Ranges{{0xfed00000, 0xfed01000}}));
}

// --- The 512 GiB server ------------------------------------------------------------

TEST(HardwareDomainRanges, ServerRelaxed) {
    const MemoryMap map = server_map();
    EXPECT_EQ(map.total(MemoryType::ram) / GiB, 511u);  // 512 GiB less firmware's share
    const Platform platform = server_platform();
    const Outputs out = computed(inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed)));
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x0, 0xa0000},
                                                 {0xe0000, 0x200000},
                                                 {0x2200000, 0x6f5ff000},
                                                 {0x6fbff000, 0x80000000},
                                                 {0xfd000000, 0xfe800000},
                                                 {0xfed20000, 0xfed45000},
                                                 {0xff000000, 0x2000000000},
                                                 {0x2000100000, 0x8070000000}}));
    EXPECT_EQ(contents(*out.read_only), (Ranges{{0xfed00000, 0xfed01000}, {0x380000020000, 0x380000021000}}));
    // The RMRR lies in reserved memory, which map-reserved maps for dom0.
    EXPECT_TRUE(out.read_write->contains(server_usb_rmrr));
    // ACPI tables and NVS are not reserved memory: not mapped.
    EXPECT_FALSE(out.read_write->intersects({0x6f5ff000, 0x6fbff000}));
}

TEST(HardwareDomainRanges, ServerInclusiveStillSkipsUnusableAndExclusions) {
    const MemoryMap map = server_map();
    const Platform platform = server_platform();
    HardwareDomainMappingInputs inputs =
        inputs_for(map, platform, policy_of(HardwareDomainIommuMode::strict, HardwareDomainKind::pv, true, true));
    const Set dom0({{0x100000000, 0x1100000000}});
    inputs.domain_memory = dom0.get();
    const Outputs out = computed(inputs);
    // Strict: of RAM only dom0's own; inclusive: everything else below 4 GiB
    // that is not RAM (ACPI tables and the MMIO hole included); reserved
    // memory above it.
    EXPECT_EQ(contents(*out.read_write), (Ranges{{0x9a000, 0x100000},
                                                 {0x6a5ff000, 0x6fbff000},
                                                 {0x6fc00000, 0x80000000},
                                                 {0x90000000, 0xd37fc000},
                                                 {0xd37fd000, 0xfec00000},
                                                 {0xfec02000, 0xfed00000},
                                                 {0xfed01000, 0xfed90000},
                                                 {0xfed92000, 0xfee00000},
                                                 {0xfef00000, 0x1100000000},
                                                 {0x407f000000, 0x4080000000}}));
    EXPECT_FALSE(out.read_write->intersects({0x0, 0x9a000}));
    EXPECT_FALSE(out.read_write->intersects({0x100000, 0x6a5ff000}));
}

TEST(HardwareDomainRanges, ServerStrictWithFragmentedDomainMemory) {
    const MemoryMap map = server_map();
    const Platform platform = server_platform();
    HardwareDomainMappingInputs inputs = inputs_for(map, platform, policy_of(HardwareDomainIommuMode::strict));
    // dom0's memory as a buddy allocator hands it out: 4096 separate 2 MiB blocks.
    Set dom0({}, 4096);
    for (int block = 0; block < 4096; ++block) {
        const PhysicalAddress start = 0x4080400000 + static_cast<uint64_t>(block) * 8 * MiB;
        ASSERT_TRUE(dom0->add({start, start + 2 * MiB}).ok());
    }
    inputs.domain_memory = dom0.get();
    const Outputs out = computed(inputs);
    EXPECT_EQ(out.read_write->count(), 4096u + 8u);
    Set ram_mapped({}, 8192);
    ASSERT_TRUE(ram_mapped->assign(*out.read_write).ok());
    ASSERT_TRUE(ram_mapped->intersect({0x4080000000, 0x8080000000}).ok());
    EXPECT_TRUE(*ram_mapped == *dom0);
}

TEST(HardwareDomainRanges, FourTebibytesStaysAFewRanges) {
    const MemoryMap map = four_tib_map();
    EXPECT_GE(map.total(MemoryType::ram), 4 * TiB - GiB);
    const Platform platform = server_platform();
    const Outputs out = computed(inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed)));
    // The frame table at 0x8070000000 lies in socket 0.
    Ranges expected = {{0x0, 0xa0000},         {0xe0000, 0x200000},          {0x2200000, 0x80000000},
                       {0xfd000000, 0xfe800000}, {0xff000000, 0x8070000000}, {0x8080000000, 0x8100000000}};
    for (int socket = 1; socket < 8; ++socket) {
        const PhysicalAddress base = 0x100000000 + socket * 513 * GiB;
        expected.push_back({base, base + 512 * GiB});
    }
    EXPECT_EQ(contents(*out.read_write), expected);
    EXPECT_LE(out.read_write->count(), 16u);
}

TEST(HardwareDomainRanges, CapacityIsEnoughAndTooLittleIsReported) {
    const MemoryMap map = server_map();
    const Platform platform = server_platform();
    const HardwareDomainMappingInputs inputs = inputs_for(map, platform, policy_of(HardwareDomainIommuMode::relaxed));
    EXPECT_GE(hardware_domain_range_capacity(inputs), 8u);
    Outputs small(4);
    EXPECT_EQ(compute_hardware_domain_ranges(inputs, *small.read_write, *small.read_only).error(), Error::capacity);
    EXPECT_TRUE(small.read_write->empty());
    HardwareDomainMappingInputs no_map;
    EXPECT_EQ(compute_hardware_domain_ranges(no_map, *small.read_write, *small.read_only).error(),
              Error::invalid_argument);
}

// --- Against a per-page model ---------------------------------------------------------

// A window across 4 GiB, with the interrupt address range inside: random
// maps live here and the model walks every page of it.
constexpr PhysicalAddress window_start = 0xfe000000;
constexpr PhysicalAddress window_end = 0x102000000;
constexpr uint64_t window_pages = (window_end - window_start) / page_size;

uint64_t seed_from_environment() {
    if (const char* text = std::getenv("SLUICE_POLICY_SEED")) return std::strtoull(text, nullptr, 0);
    return std::random_device{}();
}

// What Xen did page by page, restated: the reference the range code must match.
std::vector<char> model_read_write(const MemoryMap& map, const HardwareDomainMappingInputs& inputs,
                                   std::vector<char>* read_only) {
    const HardwareDomainPolicy& policy = inputs.policy;
    std::vector<char> result(window_pages, 0);
    read_only->assign(window_pages, 0);
    if (policy.mode == HardwareDomainIommuMode::disabled || policy.mode == HardwareDomainIommuMode::passthrough)
        return result;
    const bool pv = policy.kind == HardwareDomainKind::pv;
    const bool inclusive = pv && policy.map_inclusive;
    auto touches = [](const RangeSet* set, AddressRange page) { return set != nullptr && set->intersects(page); };
    // The type of each KiB of the window (map boundaries are KiB aligned here); -1 for a hole.
    constexpr uint64_t units_per_page = page_size / 0x400;
    std::vector<int> unit_type(window_pages * units_per_page, -1);
    for (const sluice::MemoryRegion& region : map.regions())
        for (PhysicalAddress unit = region.base; unit < region.end(); unit += 0x400)
            unit_type[(unit - window_start) / 0x400] = static_cast<int>(region.type);
    for (uint64_t index = 0; index < window_pages; ++index) {
        const AddressRange page{window_start + index * page_size, window_start + (index + 1) * page_size};
        bool all_ram = true;
        bool any_reserved = false;
        bool any_unusable = false;
        for (uint64_t unit = index * units_per_page; unit < (index + 1) * units_per_page; ++unit) {
            const int type = unit_type[unit];
            all_ram = all_ram && type == static_cast<int>(MemoryType::ram);
            any_reserved = any_reserved || type == static_cast<int>(MemoryType::reserved);
            any_unusable = any_unusable || type == static_cast<int>(MemoryType::unusable) ||
                           type == static_cast<int>(MemoryType::disabled);
        }
        bool mapped = false;
        if (policy.mode == HardwareDomainIommuMode::relaxed && all_ram) mapped = true;
        if (policy.mode == HardwareDomainIommuMode::strict && pv && inputs.domain_memory != nullptr &&
            inputs.domain_memory->contains(page))
            mapped = true;
        if ((policy.map_reserved || inclusive) && any_reserved) mapped = true;
        if (inclusive && page.start < 4 * GiB && !all_ram) mapped = true;
        const bool unreachable = any_unusable || touches(inputs.hypervisor_memory, page) ||
                                 touches(inputs.excluded, page) || interrupt_address_range.overlaps(page) ||
                                 (inputs.address_limit != 0 && page.end > inputs.address_limit);
        const bool read_only_page = touches(inputs.read_only, page);
        if (pv && read_only_page && !unreachable) (*read_only)[index] = 1;
        result[index] = mapped && !unreachable && !read_only_page;
    }
    return result;
}

std::vector<char> pages_of(const RangeSet& set) {
    std::vector<char> pages(window_pages, 0);
    for (const AddressRange& range : set) {
        const PhysicalAddress start = std::max(range.start, window_start);
        const PhysicalAddress end = std::min(range.end, window_end);
        for (PhysicalAddress page = start; page < end; page += page_size) pages[(page - window_start) / page_size] = 1;
    }
    return pages;
}

TEST(HardwareDomainRanges, MatchesAPerPageModelOnRandomMaps) {
    const uint64_t seed = seed_from_environment();
    SCOPED_TRACE("replay with SLUICE_POLICY_SEED=" + std::to_string(seed));
    std::mt19937_64 random(seed);
    // Boundaries on 1 KiB, so pages are often shared between types.
    auto address = [&]() { return window_start + (random() % ((window_end - window_start) / 0x400)) * 0x400; };
    auto random_set = [&](Set& set, int most, uint64_t longest) {
        const int count = static_cast<int>(random() % (most + 1));
        for (int index = 0; index < count; ++index) {
            const PhysicalAddress start = address();
            ASSERT_TRUE(set->add({start, std::min(window_end, start + 1 + random() % longest)}).ok());
        }
    };
    const MemoryType types[] = {MemoryType::ram, MemoryType::ram, MemoryType::ram, MemoryType::reserved,
                                MemoryType::reserved, MemoryType::acpi_reclaimable, MemoryType::acpi_nvs,
                                MemoryType::unusable, MemoryType::disabled, MemoryType::persistent};
    LogCapture log;
    for (int round = 0; round < 150; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        MemoryMap map;
        const int regions = 1 + static_cast<int>(random() % 24);
        for (int index = 0; index < regions; ++index) {
            const PhysicalAddress start = address();
            const uint64_t length = 0x400 * (1 + random() % 0x4000);
            ASSERT_TRUE(map.add(start, std::min(length, window_end - start), types[random() % 10]).ok());
        }
        map.sanitize();

        Set hypervisor, excluded, read_only, dom0({}, 4096);
        random_set(hypervisor, 3, 4 * MiB);
        random_set(excluded, 4, 64 * 1024);
        random_set(read_only, 3, 16 * 1024);
        // dom0's memory: whole RAM pages only.
        for (const sluice::MemoryRegion& region : map.regions()) {
            const AddressRange pages = round_inward({region.base, region.end()});
            if (region.type != MemoryType::ram || pages.empty() || random() % 2) continue;
            const uint64_t count = pages.length() / page_size;
            const PhysicalAddress start = pages.start + (random() % count) * page_size;
            ASSERT_TRUE(dom0->add({start, std::min(pages.end, start + (1 + random() % count) * page_size)}).ok());
        }

        HardwareDomainMappingInputs inputs;
        inputs.memory_map = &map;
        inputs.policy = policy_of(static_cast<HardwareDomainIommuMode>(random() % 4),
                                  random() % 2 ? HardwareDomainKind::pv : HardwareDomainKind::pvh, random() % 2,
                                  random() % 2);
        inputs.hypervisor_memory = hypervisor.get();
        inputs.excluded = excluded.get();
        inputs.read_only = read_only.get();
        inputs.domain_memory = dom0.get();
        if (random() % 3 == 0) inputs.address_limit = address();

        Outputs out(hardware_domain_range_capacity(inputs));
        ASSERT_TRUE(compute_hardware_domain_ranges(inputs, *out.read_write, *out.read_only).ok());
        std::vector<char> expected_read_only;
        const std::vector<char> expected = model_read_write(map, inputs, &expected_read_only);
        const std::vector<char> actual = pages_of(*out.read_write);
        for (uint64_t index = 0; index < window_pages; ++index) {
            ASSERT_EQ(actual[index], expected[index]) << "read-write page " << std::hex << window_start + index * page_size;
        }
        EXPECT_EQ(pages_of(*out.read_only), expected_read_only);

        // Outside the window only map-inclusive adds anything: the hole below it.
        const bool inclusive = inputs.policy.kind == HardwareDomainKind::pv && inputs.policy.map_inclusive &&
                               (inputs.policy.mode == HardwareDomainIommuMode::relaxed ||
                                inputs.policy.mode == HardwareDomainIommuMode::strict);
        Set outside;
        ASSERT_TRUE(outside->assign(*out.read_write).ok());
        ASSERT_TRUE(outside->remove({window_start, window_end}).ok());
        if (inclusive && (inputs.address_limit == 0 || inputs.address_limit > window_start)) {
            EXPECT_EQ(contents(*outside), (Ranges{{0, window_start}}));
        } else if (!inclusive) {
            EXPECT_TRUE(outside->empty());
        }
        for (const AddressRange& range : *out.read_write) {
            EXPECT_EQ(range.start % page_size, 0u);
            EXPECT_EQ(range.end % page_size, 0u);
        }
    }
}

}  // namespace
