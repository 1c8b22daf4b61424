// Walker throughput: contiguous 4 KiB mapping and unmapping (ns per page),
// random 4 KiB map/unmap, and huge ranges (entries written, time).
#include "support/arena_machine.hpp"

#include <drivers/passthrough/page_table_amd.hpp>
#include <drivers/passthrough/page_table_vtd.hpp>
#include <mm/p2m/ept.hpp>
#include <mm/paging/page_table.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace sluice::testing {
namespace {

constexpr PhysicalAddress arena_base = 0x10'0000'0000;
constexpr uint64_t arena_size = 64 * MiB;

struct Vtd {
    using Format = passthrough::VtdSecondLevelFormat;
    static Format format() { return Format(4, true, true, false, 48, 46); }
    static passthrough::IommuAttributes attributes() { return {paging::Access::read_write}; }
};
struct Amd {
    using Format = passthrough::AmdV1Format;
    static Format format() { return Format(4, 3, 48); }
    static passthrough::IommuAttributes attributes() { return {paging::Access::read_write}; }
};
struct Ept {
    using Format = p2m::EptFormat;
    static Format format() { return Format(4, true, true, 46); }
    static p2m::P2mAttributes attributes() { return {paging::Access::read_write, p2m::P2mType::ram}; }
};

template <typename Case> struct Bench {
    using Walker = paging::PageTableWalker<typename Case::Format, ArenaMemory>;
    ArenaMemory memory{arena_base, arena_size};
    ArenaAllocator allocator{memory};
    paging::InvalidationTargets targets;
    paging::Batch batch{targets};
    typename Case::Format format = Case::format();
    Walker walker{format, memory, Walker::create_root(memory, allocator).value(), allocator};
};

// The output is one page off the input so no superpage is possible: every
// page is a 4 KiB leaf.
template <typename Case> void map_contiguous_4k(benchmark::State& state) {
    Bench<Case> bench;
    const uint64_t pages = static_cast<uint64_t>(state.range(0));
    const uint64_t start = GiB;
    for (auto _ : state) {
        if (!bench.walker.map(start, pages * page_size, start + page_size, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
        state.PauseTiming();
        if (!bench.walker.unmap(start, pages * page_size, bench.allocator, bench.batch).ok() || !bench.batch.commit().ok())
            state.SkipWithError("unmap failed");
        state.ResumeTiming();
    }
    state.counters["time_per_page"] = benchmark::Counter(static_cast<double>(pages) * state.iterations(),
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename Case> void unmap_contiguous_4k(benchmark::State& state) {
    Bench<Case> bench;
    const uint64_t pages = static_cast<uint64_t>(state.range(0));
    const uint64_t start = GiB;
    for (auto _ : state) {
        state.PauseTiming();
        if (!bench.walker.map(start, pages * page_size, start + page_size, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
        state.ResumeTiming();
        if (!bench.walker.unmap(start, pages * page_size, bench.allocator, bench.batch).ok() || !bench.batch.commit().ok())
            state.SkipWithError("unmap failed");
    }
    state.counters["time_per_page"] = benchmark::Counter(static_cast<double>(pages) * state.iterations(),
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Remapping pages that are already mapped the same way: the cost of the walk
// and compare alone (no stores).
template <typename Case> void remap_unchanged_4k(benchmark::State& state) {
    Bench<Case> bench;
    const uint64_t pages = static_cast<uint64_t>(state.range(0));
    const uint64_t start = GiB;
    if (!bench.walker.map(start, pages * page_size, start + page_size, Case::attributes(), bench.allocator, bench.batch).ok())
        state.SkipWithError("map failed");
    for (auto _ : state) {
        if (!bench.walker.map(start, pages * page_size, start + page_size, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
    }
    state.counters["time_per_page"] = benchmark::Counter(static_cast<double>(pages) * state.iterations(),
                                                       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One random 4 KiB page per operation in an otherwise empty 1 GiB window,
// alternating map and unmap of the same page, committing every 64
// operations: each map builds a table and each unmap frees it again.
template <typename Case> void random_4k(benchmark::State& state) {
    Bench<Case> bench;
    std::mt19937_64 random(1);
    std::vector<uint64_t> addresses(4096);
    for (uint64_t& address : addresses) address = (random() % (GiB / page_size)) * page_size;
    size_t cursor = 0;
    uint64_t operations = 0;
    for (auto _ : state) {
        const uint64_t address = addresses[cursor++ % addresses.size()];
        if (!bench.walker.map(address, page_size, address + 0x40'0000'0000, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
        if (!bench.walker.unmap(address, page_size, bench.allocator, bench.batch).ok()) state.SkipWithError("unmap failed");
        operations += 2;
        if ((operations & 127) == 0 && !bench.batch.commit().ok()) state.SkipWithError("commit failed");
    }
    state.counters["time_per_operation"] = benchmark::Counter(static_cast<double>(operations),
                                                            benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Steady state: the 1 GiB window is fully mapped with 4 KiB leaves; each
// iteration unmaps a random page and maps it back.
template <typename Case> void random_4k_dense(benchmark::State& state) {
    Bench<Case> bench;
    if (!bench.walker.map(0, GiB, page_size, Case::attributes(), bench.allocator, bench.batch).ok())
        state.SkipWithError("map failed");
    std::mt19937_64 random(1);
    std::vector<uint64_t> addresses(4096);
    for (uint64_t& address : addresses) address = (random() % (GiB / page_size)) * page_size;
    size_t cursor = 0;
    uint64_t operations = 0;
    for (auto _ : state) {
        const uint64_t address = addresses[cursor++ % addresses.size()];
        if (!bench.walker.unmap(address, page_size, bench.allocator, bench.batch).ok()) state.SkipWithError("unmap failed");
        if (!bench.walker.map(address, page_size, address + page_size, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
        operations += 2;
        if ((operations & 127) == 0 && !bench.batch.commit().ok()) state.SkipWithError("commit failed");
    }
    state.counters["time_per_operation"] = benchmark::Counter(static_cast<double>(operations),
                                                              benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Identity-mapping [1 MiB, size) the way a hardware domain's RAM is mapped:
// 4 KiB and 2 MiB leaves at the unaligned start, 1 GiB leaves for the rest.
template <typename Case> void map_huge_range(benchmark::State& state) {
    Bench<Case> bench;
    const uint64_t size = static_cast<uint64_t>(state.range(0)) * GiB;
    for (auto _ : state) {
        if (!bench.walker.map(MiB, size - MiB, MiB, Case::attributes(), bench.allocator, bench.batch).ok())
            state.SkipWithError("map failed");
        state.PauseTiming();
        if (!bench.walker.unmap(MiB, size - MiB, bench.allocator, bench.batch).ok() || !bench.batch.commit().ok())
            state.SkipWithError("unmap failed");
        state.ResumeTiming();
    }
    CountingArena counting(bench.memory);
    paging::PageTableWalker<typename Case::Format, PhysicalMemory> walker(bench.format, counting, bench.walker.root(),
                                                                           bench.allocator);
    if (!walker.map(MiB, size - MiB, MiB, Case::attributes(), bench.allocator, bench.batch).ok())
        state.SkipWithError("map failed");
    // Minimal: 256 4 KiB + 511 2 MiB leaves below 1 GiB, one 1 GiB leaf per
    // further GiB, and one store linking each new table.
    state.counters["entries_written"] = static_cast<double>(counting.stores);
    state.counters["minimal_leaves"] = static_cast<double>(256 + 511 + (size / GiB - 1));
}

BENCHMARK(map_contiguous_4k<Vtd>)->Arg(512)->Arg(262144)->Unit(benchmark::kMicrosecond);
BENCHMARK(map_contiguous_4k<Amd>)->Arg(262144)->Unit(benchmark::kMicrosecond);
BENCHMARK(map_contiguous_4k<Ept>)->Arg(262144)->Unit(benchmark::kMicrosecond);
BENCHMARK(unmap_contiguous_4k<Vtd>)->Arg(262144)->Iterations(300)->Unit(benchmark::kMicrosecond);
BENCHMARK(unmap_contiguous_4k<Amd>)->Arg(262144)->Iterations(300)->Unit(benchmark::kMicrosecond);
BENCHMARK(remap_unchanged_4k<Vtd>)->Arg(262144)->Unit(benchmark::kMicrosecond);
BENCHMARK(random_4k<Vtd>);
BENCHMARK(random_4k<Amd>);
BENCHMARK(random_4k_dense<Vtd>);
BENCHMARK(random_4k_dense<Amd>);
BENCHMARK(map_huge_range<Vtd>)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(map_huge_range<Amd>)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sluice::testing
