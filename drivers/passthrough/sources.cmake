# Common passthrough: the page-table walker and IOMMU formats, the batch,
# domains and the identity-mapping API.
set(SLUICE_CORE_SOURCES_PASSTHROUGH_PAGING
    drivers/passthrough/batch.cpp
    drivers/passthrough/domain.cpp
    drivers/passthrough/identity_map.cpp)
set(SLUICE_TEST_SOURCES_PASSTHROUGH_PAGING
    tests/unit/page_table_differential_test.cpp
    tests/unit/page_table_atomicity_test.cpp
    tests/unit/batch_test.cpp
    tests/unit/identity_map_test.cpp
    tests/unit/domain_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_PASSTHROUGH_PAGING
    tests/benchmarks/page_table_benchmark.cpp
    tests/benchmarks/identity_map_benchmark.cpp
    tests/benchmarks/hardware_domain_benchmark.cpp)
