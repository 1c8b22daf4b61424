set(SLUICE_CORE_SOURCES_ACPI
    drivers/acpi/mcfg.cpp
    drivers/acpi/root_pointer.cpp
    drivers/acpi/table_directory.cpp
    drivers/acpi/table_reader.cpp
    drivers/acpi/tables.cpp)
set(SLUICE_TEST_SOURCES_ACPI
    tests/unit/acpi_test.cpp)
