// Identity maps through the public API: 1,000 RMRR-like regions in one batch
// versus one batch each (time and invalidations), on a unit that caches
// not-present entries (VT-d Caching Mode), where every batch must flush.
#include "support/arena_machine.hpp"

#include <common/domain.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/iommu_context.hpp>

#include <benchmark/benchmark.h>

#include <vector>

namespace sluice::testing {
namespace {

struct Setup {
    ArenaMemory memory{0x10'0000'0000, 64 * MiB};
    ArenaAllocator allocator{memory};
    std::vector<passthrough::IdentityRegion> regions = std::vector<passthrough::IdentityRegion>(1024);
    CountingUnit unit{{true, true, 18}};
    // A PV domain has IOMMU tables only; an HVM one an EPT p2m beside them.
    Domain owner;
    passthrough::IommuContext& domain;

    explicit Setup(DomainKind kind) : domain(create(kind)) {
        if (!domain.invalidation_targets().attach(unit, 1).ok()) std::abort();
    }
    passthrough::IommuContext& create(DomainKind kind) {
        DomainConfiguration configuration;
        configuration.kind = kind;
        configuration.p2m.kind = kind == DomainKind::pv ? p2m::P2mTableKind::none : p2m::P2mTableKind::ept;
        if (!owner.initialize(configuration, memory, allocator).ok()) std::abort();
        passthrough::IommuConfiguration iommu;
        iommu.identity_regions = Span<passthrough::IdentityRegion>(regions.data(), regions.size());
        if (!owner.create_iommu_context(iommu, memory, allocator).ok()) std::abort();
        return *owner.iommu();
    }
};

// 1,000 regions of 1-16 pages, spread over 4 GiB below the 4 GiB line the
// way firmware scatters reserved regions.
uint64_t region_start(uint64_t index) { return 0x1000'0000 + index * 0x30'0000 + (index % 7) * page_size; }
uint64_t region_length(uint64_t index) { return (1 + index % 16) * page_size; }

void rmrr_regions(benchmark::State& state, DomainKind kind, bool one_batch) {
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

void rmrr_pv_one_batch(benchmark::State& state) { rmrr_regions(state, DomainKind::pv, true); }
void rmrr_pv_batch_each(benchmark::State& state) { rmrr_regions(state, DomainKind::pv, false); }
void rmrr_hvm_one_batch(benchmark::State& state) { rmrr_regions(state, DomainKind::hvm, true); }
void rmrr_hvm_batch_each(benchmark::State& state) { rmrr_regions(state, DomainKind::hvm, false); }

// The hardware domain's relaxed set-up in its simplest form: all of
// [1 MiB, size) in one identity_map call and one commit (the policy's range
// sets add holes; each hole costs a few entries at its edges).
void identity_map_host(benchmark::State& state) {
    Setup setup(DomainKind::pv);
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
