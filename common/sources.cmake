set(SLUICE_CORE_SOURCES_COMMON
    common/format.cpp
    common/log.cpp
    common/memory_map.cpp)
set(SLUICE_TEST_SOURCES_COMMON
    tests/unit/format_test.cpp)
# The hypercalls every kind of guest shares (console_io, xen_version, sched_op
# shutdown, the -ENOSYS report): used by the PV and HVM dispatchers.
set(SLUICE_CORE_SOURCES_HYPERCALLS
    common/hypercalls.cpp)
