set(SLUICE_CORE_SOURCES_BOOT
    boot/boot_information.cpp
    boot/multiboot2.cpp
    boot/pvh.cpp)
set(SLUICE_IMAGE_SOURCES_BOOT
    boot/main.cpp)
set(SLUICE_TEST_SOURCES_BOOT
    tests/unit/boot_information_test.cpp)
