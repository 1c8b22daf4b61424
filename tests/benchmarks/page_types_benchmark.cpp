// mmu_update cost per validated entry: 512 L1 entries rewritten in one call
// (each drops one data frame's references and takes another's), and 512 L2
// entries that each turn a fresh frame into an L1 table (strict IOMMU: the
// prepare pass, one commit, and the maps back when they are removed).
#include "support/pv_machine.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace sluice::testing {
namespace {

constexpr uint64_t entry_flags = pv_bits::present | pv_bits::writable | pv_bits::user;

void l1_entries(benchmark::State& state, bool strict) {
    PvMachine machine(strict);
    const uint64_t table = PvMachine::frame(0);
    if (machine.pin(table, 1) != 0) state.SkipWithError("pin failed");
    std::vector<xen::mmu_update> first(512), second(512);
    for (unsigned index = 0; index < 512; ++index) {
        first[index] = {PvMachine::entry_address(table, index), PvMachine::entry(PvMachine::frame(16 + index), entry_flags)};
        second[index] = {PvMachine::entry_address(table, index), PvMachine::entry(PvMachine::frame(600 + index), entry_flags)};
    }
    bool flip = false;
    for (auto _ : state) {
        const auto& requests = flip ? second : first;
        flip = !flip;
        const auto outcome = machine.types.mmu_update(
            machine.context, Span<const xen::mmu_update>(requests.data(), requests.size()), machine.batch);
        if (outcome.status != 0) state.SkipWithError("mmu_update failed");
        if (!machine.batch.commit().ok()) state.SkipWithError("commit failed");
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 512);
}

void new_l1_tables(benchmark::State& state, bool strict) {
    PvMachine machine(strict);
    const uint64_t table = PvMachine::frame(0);
    if (machine.pin(table, 2) != 0) state.SkipWithError("pin failed");
    std::vector<xen::mmu_update> link(512), unlink(512);
    for (unsigned index = 0; index < 512; ++index) {
        link[index] = {PvMachine::entry_address(table, index), PvMachine::entry(PvMachine::frame(16 + index), entry_flags)};
        unlink[index] = {PvMachine::entry_address(table, index), 0};
    }
    for (auto _ : state) {
        for (const auto* requests : {&link, &unlink}) {
            const auto outcome = machine.types.mmu_update(
                machine.context, Span<const xen::mmu_update>(requests->data(), requests->size()), machine.batch);
            if (outcome.status != 0) state.SkipWithError("mmu_update failed");
            if (!machine.batch.commit().ok()) state.SkipWithError("commit failed");
        }
    }
    // Each linked table validates 512 (empty) entries.
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 512 * 513);
    state.counters["invalidations_per_link"] =
        benchmark::Counter(static_cast<double>(machine.unit.invalidations) / static_cast<double>(state.iterations()));
}

BENCHMARK_CAPTURE(l1_entries, relaxed, false);
BENCHMARK_CAPTURE(l1_entries, strict, true);
BENCHMARK_CAPTURE(new_l1_tables, relaxed, false);
BENCHMARK_CAPTURE(new_l1_tables, strict, true);

}  // namespace
}  // namespace sluice::testing
