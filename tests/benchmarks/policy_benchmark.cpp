// The hardware-domain IOMMU set-up as range sets: how long computing what to
// identity-map takes on large hosts. Xen's range-set version is reported at
// about 1 ms for a 512 GiB host (its per-page loop took about 22 s); the
// target here is at most 50 us. Mapping the result (page-table writes and the
// one flush) is measured where the walker and the batch meet the policy.
//
// Counters:
//   ranges        read-write ranges produced (what identity_map() is called with)
//   mapped_GiB    bytes they cover
//   leaf_entries  the fewest page-table leaves that map them with 4 KiB,
//                 2 MiB and 1 GiB pages: a bound on the entries a walker
//                 using superpages writes, computed here, not measured
//   flushes       invalidations the set-up needs: one batch commit
#include <benchmark/benchmark.h>

#include "support/host_maps.hpp"

#include <drivers/passthrough/policy.hpp>

#include <sluice/memory_map.hpp>

#include <vector>

namespace {

using sluice::testing::host_map;
using sluice::testing::leaf_entries;
using sluice::GiB;
using sluice::MemoryMap;
using sluice::MemoryType;
using sluice::MiB;
using sluice::PhysicalAddress;
using namespace sluice::passthrough;

struct Storage {
    explicit Storage(size_t capacity) : ranges(capacity), set(sluice::Span<AddressRange>(ranges.data(), capacity)) {}
    std::vector<AddressRange> ranges;
    RangeSet set;
};

void add_all(RangeSet& set, const std::vector<AddressRange>& ranges) {
    for (const AddressRange& range : ranges)
        if (!set.add(range).ok()) std::abort();
}

void run_relaxed(benchmark::State& state, const MemoryMap& map) {
    Storage hypervisor(8), excluded(16), read_only(8);
    add_all(hypervisor.set, {{0x200000, 0x2200000}, {0x8070000000, 0x8080000000}});
    add_all(excluded.set, {{0xfed90000, 0xfed92000},
                           {0xd37fc000, 0xd37fd000},
                           {0x80000000, 0x90000000},
                           {0xfec00000, 0xfec00040},
                           {0xfec01000, 0xfec01040},
                           {0xfee00000, 0xfee01000}});
    add_all(read_only.set, {{0xfed00000, 0xfed00400}, {0x380000020000, 0x380000020800}});

    HardwareDomainMappingInputs inputs;
    inputs.memory_map = &map;
    inputs.policy.kind = HardwareDomainKind::pv;
    inputs.policy.mode = HardwareDomainIommuMode::relaxed;
    inputs.hypervisor_memory = &hypervisor.set;
    inputs.excluded = &excluded.set;
    inputs.read_only = &read_only.set;
    const size_t capacity = hardware_domain_range_capacity(inputs);
    Storage read_write(capacity), read_only_out(capacity);

    for (auto _ : state) {
        const sluice::Status status = compute_hardware_domain_ranges(inputs, read_write.set, read_only_out.set);
        benchmark::DoNotOptimize(status.ok());
        benchmark::DoNotOptimize(read_write.set.count());
        benchmark::ClobberMemory();
    }

    uint64_t leaves = 0;
    for (const AddressRange& range : read_write.set) leaves += leaf_entries(range);
    for (const AddressRange& range : read_only_out.set) leaves += leaf_entries(range);
    state.counters["ranges"] = static_cast<double>(read_write.set.count());
    state.counters["mapped_GiB"] = static_cast<double>(read_write.set.total_length()) / static_cast<double>(GiB);
    state.counters["leaf_entries"] = static_cast<double>(leaves);
    state.counters["flushes"] = 1;
}

void HardwareDomainRelaxed512GiB(benchmark::State& state) {
    static const MemoryMap map = host_map(2, 255 * GiB);
    run_relaxed(state, map);
}
BENCHMARK(HardwareDomainRelaxed512GiB)->Unit(benchmark::kMicrosecond);

void HardwareDomainRelaxed4TiB(benchmark::State& state) {
    static const MemoryMap map = host_map(8, 512 * GiB);
    run_relaxed(state, map);
}
BENCHMARK(HardwareDomainRelaxed4TiB)->Unit(benchmark::kMicrosecond);

// Strict PV with dom0's memory in state.range(0) separate 2 MiB blocks, as a
// buddy allocator hands it out: the cost grows with the ranges, not the pages.
void HardwareDomainStrictFragmented(benchmark::State& state) {
    static const MemoryMap map = host_map(2, 255 * GiB);
    const int64_t blocks = state.range(0);
    Storage dom0(static_cast<size_t>(blocks));
    for (int64_t block = 0; block < blocks; ++block) {
        const PhysicalAddress start = 0x4100000000 + static_cast<uint64_t>(block) * 8 * MiB;
        if (!dom0.set.add({start, start + 2 * MiB}).ok()) std::abort();
    }
    HardwareDomainMappingInputs inputs;
    inputs.memory_map = &map;
    inputs.policy.kind = HardwareDomainKind::pv;
    inputs.policy.mode = HardwareDomainIommuMode::strict;
    inputs.domain_memory = &dom0.set;
    const size_t capacity = hardware_domain_range_capacity(inputs);
    Storage read_write(capacity), read_only(capacity);
    for (auto _ : state) {
        const sluice::Status status = compute_hardware_domain_ranges(inputs, read_write.set, read_only.set);
        benchmark::DoNotOptimize(status.ok());
        benchmark::ClobberMemory();
    }
    state.counters["ranges"] = static_cast<double>(read_write.set.count());
}
BENCHMARK(HardwareDomainStrictFragmented)->Arg(64)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
