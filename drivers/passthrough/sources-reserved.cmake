# Reserved memory regions (RMRR, IVMD, rmrr=, ivmd=), shared by VT-d and AMD-Vi.
set(SLUICE_CORE_SOURCES_RESERVED
    drivers/passthrough/reserved_region.cpp)
set(SLUICE_TEST_SOURCES_RESERVED
    tests/unit/reserved_region_test.cpp)
