# The command line: parser, registry and the options defined in common/.
set(SLUICE_CORE_SOURCES_CMDLINE
    common/cmdline.cpp
    common/log_parameters.cpp)
set(SLUICE_TEST_SOURCES_CMDLINE
    tests/unit/cmdline_test.cpp)
