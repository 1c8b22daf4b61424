# The PV test kernels the boot tests run as dom0 (docs/pv.md, docs/testing.md):
#   tests/guests/pv_checks.elf   the checks, chosen by dom0's command line (tests=...)
#   tests/guests/pv_minimal.elf  the minimal PV64 kernel: a fixed hypercall sequence
# Freestanding x86-64 ELF64 images with Xen ELF notes, built with the image's
# clang and ld.lld, with their own definitions of Xen's ABI (pv/xen_abi.hpp):
# they never include the hypervisor's headers.

set(SLUICE_GUEST_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests/guests/pv)
set(SLUICE_GUEST_COMMON_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests/guests/common)
set(SLUICE_PVH_GUEST_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/tests/guests/pvh)
set(SLUICE_GUEST_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/guests)
set(SLUICE_GUEST_COMMON_FLAGS
    --target=x86_64-unknown-none-elf -ffreestanding -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only
    -fno-stack-protector -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables -nostdinc++
    -fno-threadsafe-statics -fno-builtin -Werror=global-constructors)

# sluice_add_pv_guest(<name> VIRT_BASE <address> LOAD_OFFSET <offset> MODEL <code model> SOURCES <files...>)
function(sluice_add_pv_guest name)
    cmake_parse_arguments(GUEST "" "VIRT_BASE;LOAD_OFFSET;MODEL" "SOURCES" ${ARGN})
    set(GUEST_VIRT_BASE ${GUEST_VIRT_BASE})
    set(GUEST_LOAD_OFFSET ${GUEST_LOAD_OFFSET})
    set(link_script ${CMAKE_BINARY_DIR}/tests/guests/${name}.ld)
    configure_file(${SLUICE_GUEST_DIRECTORY}/guest.ld.in ${link_script} @ONLY)
    add_executable(${name}.elf
        ${SLUICE_GUEST_DIRECTORY}/entry.S ${SLUICE_GUEST_DIRECTORY}/notes.S ${SLUICE_GUEST_DIRECTORY}/runtime.cpp
        ${SLUICE_GUEST_COMMON_DIRECTORY}/console_runtime.cpp ${SLUICE_GUEST_COMMON_DIRECTORY}/hypercall_page.S
        ${GUEST_SOURCES})
    target_include_directories(${name}.elf PRIVATE ${SLUICE_GUEST_DIRECTORY} ${SLUICE_GUEST_COMMON_DIRECTORY})
    target_compile_definitions(${name}.elf PRIVATE GUEST_VIRT_BASE=${GUEST_VIRT_BASE}
                                                   GUEST_NAME_TEXT=Sluice-${name})
    target_compile_options(${name}.elf PRIVATE ${SLUICE_GUEST_COMMON_FLAGS} -mcmodel=${GUEST_MODEL}
        $<$<COMPILE_LANGUAGE:CXX>:-std=c++20 ${SLUICE_WARNINGS}>
        $<$<COMPILE_LANGUAGE:ASM>:-Wall -Werror>)
    target_link_options(${name}.elf PRIVATE
        --target=x86_64-unknown-none-elf -nostdlib -static -fuse-ld=lld -Wl,-T,${link_script}
        -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--no-undefined -Wl,--fatal-warnings)
    set_target_properties(${name}.elf PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY ${SLUICE_GUEST_OUTPUT_DIRECTORY}
        LINK_DEPENDS ${link_script})
endfunction()

# Linux's layout: the kernel at the top 2 GiB (-mcmodel=kernel), VIRT_BASE
# 0xffffffff80000000, so NULL and the lower half stay unmapped.
sluice_add_pv_guest(pv_checks VIRT_BASE 0xffffffff80000000 LOAD_OFFSET 0 MODEL kernel
                    SOURCES ${SLUICE_GUEST_DIRECTORY}/pv_checks.cpp)
# The minimal kernel of Xen's own test framework's pv64 environment: VIRT_BASE 0,
# linked at 1 MiB, so page 0 is in the initial mapping and the kernel unmaps it.
sluice_add_pv_guest(pv_minimal VIRT_BASE 0 LOAD_OFFSET 0x100000 MODEL small
                    SOURCES ${SLUICE_GUEST_DIRECTORY}/pv_minimal.cpp)

# The PVH test kernel (docs/pvh.md): linked at 1 MiB with physical = virtual,
# entered through XEN_ELFNOTE_PHYS32_ENTRY in 32-bit protected mode; it
# switches to long mode itself.
add_executable(pvh_checks.elf
    ${SLUICE_PVH_GUEST_DIRECTORY}/entry.S ${SLUICE_PVH_GUEST_DIRECTORY}/pvh_checks.cpp
    ${SLUICE_GUEST_COMMON_DIRECTORY}/console_runtime.cpp ${SLUICE_GUEST_COMMON_DIRECTORY}/hypercall_page.S)
target_include_directories(pvh_checks.elf PRIVATE ${SLUICE_PVH_GUEST_DIRECTORY} ${SLUICE_GUEST_COMMON_DIRECTORY})
target_compile_options(pvh_checks.elf PRIVATE ${SLUICE_GUEST_COMMON_FLAGS} -mcmodel=small
    $<$<COMPILE_LANGUAGE:CXX>:-std=c++20 ${SLUICE_WARNINGS}>
    $<$<COMPILE_LANGUAGE:ASM>:-Wall -Werror>)
target_link_options(pvh_checks.elf PRIVATE
    --target=x86_64-unknown-none-elf -nostdlib -static -fuse-ld=lld
    -Wl,-T,${SLUICE_PVH_GUEST_DIRECTORY}/pvh.ld
    -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--no-undefined -Wl,--fatal-warnings)
set_target_properties(pvh_checks.elf PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${SLUICE_GUEST_OUTPUT_DIRECTORY}
    LINK_DEPENDS ${SLUICE_PVH_GUEST_DIRECTORY}/pvh.ld)
add_custom_target(sluice_guests DEPENDS pv_checks.elf pv_minimal.elf pvh_checks.elf)
