# The hardware domain's IOMMU set-up (vendor-neutral; the vendors register
# themselves, iommu_vendor.hpp) and the DMA self-test.
set(SLUICE_CORE_SOURCES_IOMMU_SETUP
    drivers/passthrough/dma_selftest.cpp
    drivers/passthrough/iommu_setup.cpp
    drivers/passthrough/iommu_vendor.cpp)
set(SLUICE_TEST_SOURCES_IOMMU_SETUP
    tests/unit/dma_selftest_test.cpp
    tests/unit/iommu_setup_test.cpp)
