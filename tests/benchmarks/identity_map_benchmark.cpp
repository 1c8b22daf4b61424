// Identity maps through the public API: 1,000 RMRR-like regions in one batch
// versus one batch each (time and invalidations), on a unit that caches
// not-present entries (VT-d Caching Mode), where every batch must flush.
#include "support/arena_machine.hpp"

#include <drivers/passthrough/domain.hpp>
#include <drivers/passthrough/identity_map.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace sluice::testing {
namespace {

struct Setup {
    ArenaMemory memory{0x10'0000'0000, 64 * MiB};
    ArenaAllocator allocator{memory};
    std::vector<passthrough::IdentityRegion> regions = std::vector<passthrough::IdentityRegion>(1024);
    CountingUnit unit{{true, true, 18}};
    passthrough::Domain domain;

    explicit Setup(passthrough::DomainKind kind) : domain(create(kind)) {
        if (!domain.invalidation_targets().attach(unit, 1).ok()) std::abort();
    }
    passthrough::Domain create(passthrough::DomainKind kind) {
        passthrough::DomainConfiguration configuration;
        configuration.kind = kind;
        configuration.p2m = kind == passthrough::DomainKind::pv ? passthrough::P2mTableKind::none
                                                                : passthrough::P2mTableKind::ept;
        configuration.identity_regions = Span<passthrough::IdentityRegion>(regions.data(), regions.size());
        auto created = passthrough::Domain::create(configuration, memory, allocator);
        if (!created.ok()) std::abort();
        return std::move(created).value();
    }
};

// 1,000 regions of 1-16 pages, spread over 4 GiB below the 4 GiB line the
// way firmware scatters reserved regions.
uint64_t region_start(uint64_t index) { return 0x1000'0000 + index * 0x30'0000 + (index % 7) * page_size; }
uint64_t region_length(uint64_t index) { return (1 + index % 16) * page_size; }

void rmrr_regions(benchmark::State& state, passthrough::DomainKind kind, bool one_batch) {
    Setup setup(kind);
    constexpr uint64_t count = 1000;
    uint64_t invalidations = 0;
    for (auto _ : state) {
        const uint64_t before = setup.unit.invalidations;
        if (one_batch) {
            paging::Batch batch(setup.domain.invalidation_targets());
            for (uint64_t index = 0; index < count; ++index)
                if (!passthrough::identity_map(setup.domain, region_start(index), region_start(index) + region_length(index),
                                               paging::Access::read_write, batch).ok())
                    state.SkipWithError("identity_map failed");
            if (!batch.commit().ok()) state.SkipWithError("commit failed");
        } else {
            for (uint64_t index = 0; index < count; ++index) {
                paging::Batch batch(setup.domain.invalidation_targets());
                if (!passthrough::identity_map(setup.domain, region_start(index), region_start(index) + region_length(index),
                                               paging::Access::read_write, batch).ok())
                    state.SkipWithError("identity_map failed");
                if (!batch.commit().ok()) state.SkipWithError("commit failed");
            }
        }
        invalidations = setup.unit.invalidations - before;
        state.PauseTiming();
        paging::Batch batch(setup.domain.invalidation_targets());
        for (uint64_t index = 0; index < count; ++index)
            if (!passthrough::identity_unmap(setup.domain, region_start(index), region_start(index) + region_length(index), batch).ok())
                state.SkipWithError("identity_unmap failed");
        if (!batch.commit().ok()) state.SkipWithError("commit failed");
        state.ResumeTiming();
    }
    state.counters["invalidations"] = static_cast<double>(invalidations);
    state.counters["time_per_region"] = benchmark::Counter(static_cast<double>(count) * state.iterations(),
                                                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void rmrr_pv_one_batch(benchmark::State& state) { rmrr_regions(state, passthrough::DomainKind::pv, true); }
void rmrr_pv_batch_each(benchmark::State& state) { rmrr_regions(state, passthrough::DomainKind::pv, false); }
void rmrr_hvm_one_batch(benchmark::State& state) { rmrr_regions(state, passthrough::DomainKind::hvm, true); }
void rmrr_hvm_batch_each(benchmark::State& state) { rmrr_regions(state, passthrough::DomainKind::hvm, false); }

// The hardware domain's relaxed set-up in its simplest form: all of
// [1 MiB, size) in one identity_map call and one commit (the policy's range
// sets add holes; each hole costs a few entries at its edges).
void identity_map_host(benchmark::State& state) {
    Setup setup(passthrough::DomainKind::pv);
    const uint64_t size = static_cast<uint64_t>(state.range(0)) * GiB;
    for (auto _ : state) {
        paging::Batch batch(setup.domain.invalidation_targets());
        if (!passthrough::identity_map(setup.domain, MiB, size, paging::Access::read_write, batch).ok())
            state.SkipWithError("identity_map failed");
        if (!batch.commit().ok()) state.SkipWithError("commit failed");
        state.PauseTiming();
        if (!passthrough::identity_unmap(setup.domain, MiB, size, batch).ok() || !batch.commit().ok())
            state.SkipWithError("identity_unmap failed");
        state.ResumeTiming();
    }
}

BENCHMARK(rmrr_pv_one_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(rmrr_pv_batch_each)->Unit(benchmark::kMicrosecond);
BENCHMARK(rmrr_hvm_one_batch)->Unit(benchmark::kMicrosecond);
BENCHMARK(rmrr_hvm_batch_each)->Unit(benchmark::kMicrosecond);
BENCHMARK(identity_map_host)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sluice::testing
