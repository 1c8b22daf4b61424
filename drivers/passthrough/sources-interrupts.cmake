# Interrupt remapping above the vendors: the remapper interface and the batch.
set(SLUICE_CORE_SOURCES_PASSTHROUGH_INTERRUPTS
    drivers/passthrough/interrupt_remapping.cpp)
set(SLUICE_TEST_SOURCES_PASSTHROUGH_INTERRUPTS
    tests/unit/interrupt_remapping_test.cpp)
