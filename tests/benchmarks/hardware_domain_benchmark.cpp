// The whole hardware-domain IOMMU set-up on large hosts, as boot does it:
// the relaxed policy computed as range sets from the e820 map, every range
// identity-mapped into one batch, one commit. Xen's range-set version is
// reported at about 1 ms for 512 GiB (about 22 s with its older per-page
// loop); the target here is at most 50 us.
//
// Counters:
//   ranges           ranges identity_map() is called with (read-write + read-only)
//   entries_written  64-bit page-table stores of one set-up (leaves and table links)
//   minimal_leaves   the fewest 4 KiB / 2 MiB / 1 GiB leaves that map the ranges
//   invalidations    invalidations issued, on a unit that caches not-present
//                    entries (VT-d Caching Mode), where the batch must flush
#include "support/arena_machine.hpp"
#include "support/host_maps.hpp"

#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/policy.hpp>

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

namespace sluice::testing {
namespace {

using passthrough::AddressRange;
using passthrough::RangeSet;

struct RangeStorage {
    explicit RangeStorage(size_t capacity) : ranges(capacity), set(Span<AddressRange>(ranges.data(), capacity)) {}
    std::vector<AddressRange> ranges;
    RangeSet set;
};

void add_all(RangeSet& set, const std::vector<AddressRange>& ranges) {
    for (const AddressRange& range : ranges)
        if (!set.add(range).ok()) std::abort();
}

class HardwareDomainSetup {
public:
    HardwareDomainSetup(const MemoryMap& map, PhysicalMemory& memory)
        : hypervisor_(8), excluded_(16), read_only_(8), memory_(memory) {
        // The hypervisor's own memory, the IOMMU register pages, ECAM, the
        // IO-APICs and the local APIC, and read-only HPET registers.
        add_all(hypervisor_.set, {{0x200000, 0x2200000}, {0x8070000000, 0x8080000000}});
        add_all(excluded_.set, {{0xfed90000, 0xfed92000},
                                {0x80000000, 0x90000000},
                                {0xfec00000, 0xfec01000},
                                {0xfee00000, 0xfee01000}});
        add_all(read_only_.set, {{0xfed00000, 0xfed01000}});
        inputs_.memory_map = &map;
        inputs_.policy.kind = passthrough::HardwareDomainKind::pv;
        inputs_.policy.mode = passthrough::HardwareDomainIommuMode::relaxed;
        inputs_.hypervisor_memory = &hypervisor_.set;
        inputs_.excluded = &excluded_.set;
        inputs_.read_only = &read_only_.set;
        const size_t capacity = passthrough::hardware_domain_range_capacity(inputs_);
        read_write_out_ = std::make_unique<RangeStorage>(capacity);
        read_only_out_ = std::make_unique<RangeStorage>(capacity);
    }

    // One full set-up into a fresh domain; returns the domain for inspection.
    passthrough::IommuContext run(ArenaAllocator& allocator) {
        passthrough::IommuConfiguration configuration;
        configuration.identity_regions = Span<passthrough::IdentityRegion>(regions_.data(), regions_.size());
        auto created = passthrough::IommuContext::create(configuration, nullptr, memory_, allocator);
        if (!created.ok()) std::abort();
        passthrough::IommuContext domain = std::move(created).value();
        if (!domain.invalidation_targets().attach(unit, 1).ok()) std::abort();

        if (!passthrough::compute_hardware_domain_ranges(inputs_, read_write_out_->set, read_only_out_->set).ok())
            std::abort();
        paging::Batch batch(domain.invalidation_targets());
        for (const AddressRange& range : read_write_out_->set)
            if (!passthrough::identity_map(domain, range.start, range.end, paging::Access::read_write, batch).ok())
                std::abort();
        for (const AddressRange& range : read_only_out_->set)
            if (!passthrough::identity_map(domain, range.start, range.end, paging::Access::read, batch).ok())
                std::abort();
        if (!batch.commit().ok()) std::abort();
        return domain;
    }

    void tear_down(passthrough::IommuContext& domain) {
        paging::Batch batch(domain.invalidation_targets());
        domain.destroy(batch);
        if (!batch.commit().ok()) std::abort();
    }

    [[nodiscard]] size_t range_count() const { return read_write_out_->set.count() + read_only_out_->set.count(); }
    [[nodiscard]] uint64_t minimal_leaves() const {
        uint64_t leaves = 0;
        for (const AddressRange& range : read_write_out_->set) leaves += leaf_entries(range);
        for (const AddressRange& range : read_only_out_->set) leaves += leaf_entries(range);
        return leaves;
    }

    CountingUnit unit{{true, true, 18}};

private:
    RangeStorage hypervisor_, excluded_, read_only_;
    std::unique_ptr<RangeStorage> read_write_out_, read_only_out_;
    passthrough::HardwareDomainMappingInputs inputs_;
    std::vector<passthrough::IdentityRegion> regions_ = std::vector<passthrough::IdentityRegion>(256);
    PhysicalMemory& memory_;
};

void hardware_domain_setup(benchmark::State& state, const MemoryMap& map) {
    ArenaMemory arena{0x100'0000'0000, 16 * MiB};
    ArenaAllocator allocator{arena};
    HardwareDomainSetup setup(map, arena);
    uint64_t invalidations = 0;
    for (auto _ : state) {
        const uint64_t before = setup.unit.invalidations;
        passthrough::IommuContext domain = setup.run(allocator);
        invalidations = setup.unit.invalidations - before;
        state.PauseTiming();
        setup.tear_down(domain);
        state.ResumeTiming();
    }

    // A separate, untimed pass through a store-counting memory.
    CountingArena counting(arena);
    HardwareDomainSetup counted(map, counting);
    passthrough::IommuContext domain = counted.run(allocator);
    state.counters["ranges"] = static_cast<double>(counted.range_count());
    state.counters["entries_written"] = static_cast<double>(counting.stores);
    state.counters["minimal_leaves"] = static_cast<double>(counted.minimal_leaves());
    state.counters["invalidations"] = static_cast<double>(invalidations);
    counted.tear_down(domain);
}

void hardware_domain_setup_512GiB(benchmark::State& state) {
    static const MemoryMap map = host_map(2, 255 * GiB);
    hardware_domain_setup(state, map);
}
void hardware_domain_setup_4TiB(benchmark::State& state) {
    static const MemoryMap map = host_map(8, 512 * GiB);
    hardware_domain_setup(state, map);
}

BENCHMARK(hardware_domain_setup_512GiB)->Unit(benchmark::kMicrosecond);
BENCHMARK(hardware_domain_setup_4TiB)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sluice::testing
