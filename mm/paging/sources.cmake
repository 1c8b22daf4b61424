# The format-neutral paging layer: the vocabulary every page-table format
# shares (paging.hpp), the one walker (page_table.hpp), the batch, and the
# page reserve. Header-only but for the batch; no header here includes a driver.
set(SLUICE_CORE_SOURCES_PAGING
    mm/paging/batch.cpp)
set(SLUICE_TEST_SOURCES_PAGING
    tests/unit/batch_test.cpp
    tests/unit/page_table_differential_test.cpp
    tests/unit/page_table_atomicity_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_PAGING
    tests/benchmarks/page_table_benchmark.cpp)
