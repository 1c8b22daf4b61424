# Hardware-domain IOMMU policy: the iommu= / dom0-iommu= / dom0= / dom0_mem=
# options, and the ranges dom0's IOMMU tables identity-map (range sets are in
# mm/range_set).
set(SLUICE_CORE_SOURCES_POLICY
    drivers/passthrough/iommu_options.cpp
    drivers/passthrough/policy.cpp)
set(SLUICE_TEST_SOURCES_POLICY
    tests/unit/iommu_options_test.cpp
    tests/unit/policy_test.cpp)
set(SLUICE_BENCHMARK_SOURCES_POLICY
    tests/benchmarks/policy_benchmark.cpp)
