set(SLUICE_CORE_SOURCES_PCI
    drivers/pci/address.cpp
    drivers/pci/configuration.cpp
    drivers/pci/ecam.cpp
    drivers/pci/enumeration.cpp
    drivers/pci/select.cpp)
# Hardware access: x86 port I/O and volatile MMIO through the identity map.
set(SLUICE_IMAGE_SOURCES_PCI
    drivers/pci/identity_mapped_mmio.cpp
    drivers/pci/port_configuration.cpp)
set(SLUICE_TEST_SOURCES_PCI
    tests/unit/pci_test.cpp)
