# Hardware access and the image's own run time: image only.
set(SLUICE_IMAGE_SOURCES_ARCH_X86
    arch/x86/entry.S
    arch/x86/address_space.cpp
    arch/x86/interrupt_entry.S
    arch/x86/clock.cpp
    arch/x86/console.cpp
    arch/x86/descriptors.cpp
    arch/x86/interrupts.cpp
    arch/x86/paging.cpp
    arch/x86/port_emulation.cpp
    arch/x86/runtime.cpp
    arch/x86/serial.cpp
    arch/x86/shutdown.cpp)
# What a guest sees through CPUID and which ports the hypervisor keeps (PV and
# HVM share both): core, host-tested.
set(SLUICE_CORE_SOURCES_X86_GUEST_POLICY
    arch/x86/cpuid_policy.cpp
    arch/x86/reserved_ports.cpp)
