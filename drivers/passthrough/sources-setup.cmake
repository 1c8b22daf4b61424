# The hardware domain's IOMMU set-up (vendor-neutral) and the DMA self-test.
set(SLUICE_CORE_SOURCES_IOMMU_SETUP
    drivers/passthrough/dma_selftest.cpp
    drivers/passthrough/iommu_setup.cpp)
