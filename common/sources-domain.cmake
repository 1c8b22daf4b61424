# The domain object (common/domain.hpp): memory, vCPUs, p2m, IOMMU context.
set(SLUICE_CORE_SOURCES_DOMAIN
    common/domain.cpp)
set(SLUICE_TEST_SOURCES_DOMAIN
    tests/unit/domain_test.cpp)
