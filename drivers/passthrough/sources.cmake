# Common passthrough: domains and the identity-mapping API (the walker and
# the batch are in mm/paging, the IOMMU formats in page_table_*.hpp here).
set(SLUICE_CORE_SOURCES_PASSTHROUGH_PAGING
    drivers/passthrough/iommu_context.cpp
    drivers/passthrough/identity_map.cpp)
set(SLUICE_TEST_SOURCES_PASSTHROUGH_PAGING
    tests/unit/identity_map_test.cpp
    tests/unit/iommu_context_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_PASSTHROUGH_PAGING
    tests/benchmarks/identity_map_benchmark.cpp
    tests/benchmarks/hardware_domain_benchmark.cpp)
