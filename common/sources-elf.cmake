# The ELF64 image parser and Xen's ELF notes (the domain builders load dom0's kernel with them).
set(SLUICE_CORE_SOURCES_ELF
    common/elf.cpp
    common/xen_elf_notes.cpp)
set(SLUICE_TEST_SOURCES_ELF
    tests/unit/elf_test.cpp
    tests/unit/xen_elf_notes_test.cpp)
