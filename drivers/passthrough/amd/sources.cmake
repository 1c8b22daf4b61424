# AMD-Vi: IVRS parsing, the ivmd= option, and the hardware structure types
# (registers, device table entries, commands, event log entries).
set(SLUICE_CORE_SOURCES_AMD
    drivers/passthrough/amd/ivrs.cpp
    drivers/passthrough/amd/ivmd.cpp
    drivers/passthrough/amd/ivmd_option.cpp
    drivers/passthrough/amd/registers.cpp
    drivers/passthrough/amd/device_table.cpp
    drivers/passthrough/amd/event_log.cpp
    drivers/passthrough/amd/command_buffer.cpp
    drivers/passthrough/amd/event_log_buffer.cpp
    drivers/passthrough/amd/device_table_memory.cpp
    drivers/passthrough/amd/iommu.cpp
    drivers/passthrough/amd/probe.cpp)
set(SLUICE_TEST_SOURCES_AMD
    tests/unit/ivrs_test.cpp
    tests/unit/ivmd_option_test.cpp
    tests/unit/amd_registers_test.cpp
    tests/unit/amd_driver_test.cpp
    tests/unit/amd_probe_test.cpp
    tests/unit/amd_scenario_tables_test.cpp)
