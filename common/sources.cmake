set(SLUICE_CORE_SOURCES_COMMON
    common/format.cpp
    common/log.cpp
    common/memory_map.cpp)
set(SLUICE_TEST_SOURCES_COMMON
    tests/unit/format_test.cpp)
