# What SVM and VMX share (core, host-tested): the decoder of intercepted
# instructions, guest memory through guest paging and the p2m, the HVM
# hypercall ABI, the PVH dom0 builder.
set(SLUICE_CORE_SOURCES_X86_HVM
    arch/x86/hvm/dom0_memory.cpp
    arch/x86/hvm/guest_memory.cpp
    arch/x86/hvm/hypercalls.cpp
    arch/x86/hvm/instruction.cpp
    arch/x86/hvm/pvh_build.cpp)
set(SLUICE_IMAGE_SOURCES_X86_HVM
    arch/x86/hvm/dom0.cpp)
set(SLUICE_TEST_SOURCES_X86_HVM
    tests/unit/hvm_test.cpp
    tests/unit/hvm_dom0_memory_test.cpp)
