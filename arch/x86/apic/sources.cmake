# The interrupt layer: MADT, local APIC and its timer, I/O APICs, vectors.
set(SLUICE_CORE_SOURCES_X86_APIC
    arch/x86/apic/io_apic.cpp
    arch/x86/apic/local_apic.cpp
    arch/x86/apic/madt.cpp
    arch/x86/apic/timer.cpp
    arch/x86/apic/vectors.cpp)
set(SLUICE_IMAGE_SOURCES_X86_APIC
    arch/x86/apic/apic.cpp)
set(SLUICE_TEST_SOURCES_X86_APIC
    tests/unit/apic_test.cpp
    tests/unit/madt_test.cpp)
