# The PV guest runtime: guest memory, the vCPU's traps and bounce frames,
# the hypercalls (core, host-tested); ring-3 entry and exit (image only).
set(SLUICE_CORE_SOURCES_X86_PV
    arch/x86/pv/emulate.cpp
    arch/x86/pv/guest_memory.cpp
    arch/x86/pv/hypercalls.cpp
    arch/x86/pv/page_table_operations.cpp
    arch/x86/pv/page_table_write.cpp
    arch/x86/pv/traps.cpp)
set(SLUICE_IMAGE_SOURCES_X86_PV
    arch/x86/pv/dom0.cpp
    arch/x86/pv/run.cpp)
set(SLUICE_TEST_SOURCES_X86_PV
    tests/unit/pv_runtime_test.cpp)
