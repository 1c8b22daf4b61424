# Intel VT-d: DMAR parsing, the rmrr= option, register and structure types.
set(SLUICE_CORE_SOURCES_VTD
    drivers/passthrough/vtd/dmar.cpp
    drivers/passthrough/vtd/entries.cpp
    drivers/passthrough/vtd/invalidation.cpp
    drivers/passthrough/vtd/probe.cpp
    drivers/passthrough/vtd/registers.cpp
    drivers/passthrough/vtd/reserved_regions.cpp
    drivers/passthrough/vtd/rmrr_option.cpp
    drivers/passthrough/vtd/unit.cpp)
set(SLUICE_TEST_SOURCES_VTD
    tests/unit/dmar_test.cpp
    tests/unit/rmrr_option_test.cpp
    tests/unit/vtd_probe_test.cpp
    tests/unit/vtd_registers_test.cpp
    tests/unit/vtd_scenario_tables_test.cpp
    tests/unit/vtd_unit_test.cpp)
