# The real-firmware regression suite: every DMAR and IVRS table of the
# firmware corpus (outside the project, see docs/testing.md) through the ACPI
# checks and the VT-d and AMD-Vi parsers.
set(SLUICE_TEST_SOURCES_FIRMWARE_CORPUS
    tests/unit/firmware_corpus_test.cpp)
