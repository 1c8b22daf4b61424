// The whole PV dom0 build (ELF parse, notes, layout, kernel load, p2m list, page tables, start_info,
// shared_info, machine-to-physical entries) for 512 MiB and 4 GiB of dom0 memory. The work is linear in
// dom0's pages (one p2m entry and one machine-to-physical entry each) plus the mapped region (zeroing,
// one L1 entry per page), so the per-page counter is the figure to watch.
//
// dom0's memory is described from 16 MiB up; only the region the builder writes (the kernel, the p2m
// list, the tables: the first few MiB of pseudo-physical space) is backed by the simulated arena, which
// throws if the builder touches anything else.
//
// Counters:
//   nr_pages        dom0's pseudo-physical frames
//   mapped_MiB      [virt_base, virt_end)
//   table_frames    bootstrap page-table frames
//   time_per_page   seconds per dom0 page
#include <benchmark/benchmark.h>

#include "support/pv_test_kernel.hpp"
#include "support/simulated_machine.hpp"

#include <arch/x86/pv/dom0_build.hpp>

#include <cstdlib>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::x86::pv;
using namespace sluice::testing::pv_kernel;

class CountingMachineToPhysical final : public MachineToPhysicalWriter {
public:
    void set(uint64_t machine_frame, uint64_t pseudo_physical_frame) override {
        sum += machine_frame ^ pseudo_physical_frame;
    }
    uint64_t sum = 0;
};

void build_dom0(benchmark::State& state, uint64_t dom0_bytes) {
    constexpr PhysicalAddress dom0_start = 16 * MiB;
    testing::SimulatedMemory memory(0, 64 * MiB);
    passthrough::FixedRangeSet<4> dom0;
    if (!dom0.add({dom0_start, dom0_start + dom0_bytes}).ok()) std::abort();

    KernelSpec spec;
    spec.virt_base = 0xffffffff80000000;
    spec.paddr_offset = 0;
    spec.physical_start = 0x1000000;
    spec.text_size = 2 * MiB;
    spec.bss_size = 1 * MiB;
    const std::vector<uint8_t> kernel = build_kernel(spec);

    Dom0BuildInputs inputs;
    inputs.kernel = Span<const uint8_t>(kernel.data(), kernel.size());
    inputs.command_line = "console=hvc0";
    inputs.memory = &dom0;
    inputs.shared_info = 2 * MiB;
    inputs.flags = 3;
    CountingMachineToPhysical machine_to_physical;
    Dom0BuildDiagnostic diagnostic;
    Dom0Layout layout;
    for (auto _ : state) {
        Result<Dom0InitialState> built = build_pv_dom0(inputs, memory, machine_to_physical, diagnostic);
        if (!built.ok()) {
            state.SkipWithError(diagnostic.message);
            return;
        }
        layout = built.value().layout;
        benchmark::DoNotOptimize(machine_to_physical.sum);
        benchmark::ClobberMemory();
    }
    state.counters["nr_pages"] = static_cast<double>(layout.nr_pages);
    state.counters["mapped_MiB"] = static_cast<double>(layout.virt_end - layout.virt_base) / static_cast<double>(MiB);
    state.counters["table_frames"] = static_cast<double>(layout.nr_pt_frames);
    state.counters["time_per_page"] = benchmark::Counter(static_cast<double>(layout.nr_pages),
                                                         benchmark::Counter::kIsIterationInvariantRate |
                                                             benchmark::Counter::kInvert);
}

void PvDom0Build512MiB(benchmark::State& state) { build_dom0(state, 512 * MiB); }
BENCHMARK(PvDom0Build512MiB)->Unit(benchmark::kMillisecond);

void PvDom0Build4GiB(benchmark::State& state) { build_dom0(state, 4 * GiB); }
BENCHMARK(PvDom0Build4GiB)->Unit(benchmark::kMillisecond);

}  // namespace
