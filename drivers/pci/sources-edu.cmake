# QEMU's edu device: the DMA engine the DMA self-test drives.
set(SLUICE_CORE_SOURCES_PCI_EDU
    drivers/pci/edu.cpp
    drivers/pci/msi.cpp)
