# PV page types: the frame table, page-table and descriptor validation,
# mmu_update / mmuext_op / update_va_mapping, and the strict-IOMMU rule.
set(SLUICE_CORE_SOURCES_X86_MM
    arch/x86/mm/page_types.cpp)
set(SLUICE_TEST_SOURCES_X86_MM
    tests/unit/pv_page_types_test.cpp
    tests/unit/pv_page_types_random_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_X86_MM
    tests/benchmarks/page_types_benchmark.cpp)
