# The 64-bit PV dom0 builder: Xen's start-of-day layout, page tables, start_info.
set(SLUICE_CORE_SOURCES_X86_PV_BUILD
    arch/x86/pv/dom0_build.cpp)
set(SLUICE_TEST_SOURCES_X86_PV_BUILD
    tests/unit/pv_dom0_build_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_X86_PV_BUILD
    tests/benchmarks/pv_dom0_build_benchmark.cpp)
