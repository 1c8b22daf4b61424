# The hypervisor image: sluice.elf, freestanding x86-64, built from every core
# source plus the image-only sources (arch/x86, boot/main.cpp), linked at
# 1 MiB by arch/x86/linker.ld; and sluice.iso, a GRUB rescue ISO booting it
# through multiboot2.

set(SLUICE_IMAGE_TARGET_FLAGS --target=x86_64-unknown-none-elf)
set(SLUICE_IMAGE_CXX_FLAGS
    -ffreestanding -fno-exceptions -fno-rtti -mno-red-zone -mgeneral-regs-only -fno-pic -fno-pie
    -fno-stack-protector -nostdinc++ -fno-threadsafe-statics -mcmodel=small -fno-asynchronous-unwind-tables
    -Werror=global-constructors)

add_executable(sluice.elf ${SLUICE_CORE_ALL} ${SLUICE_IMAGE_ALL})
target_include_directories(sluice.elf PRIVATE include ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(sluice.elf PRIVATE SLUICE_IMAGE=1 SLUICE_VERSION="${PROJECT_VERSION}")
target_compile_options(sluice.elf PRIVATE
    ${SLUICE_IMAGE_TARGET_FLAGS}
    $<$<COMPILE_LANGUAGE:CXX>:${SLUICE_IMAGE_CXX_FLAGS} ${SLUICE_WARNINGS}>
    $<$<COMPILE_LANGUAGE:ASM>:-Wall -Werror>)
target_link_options(sluice.elf PRIVATE
    ${SLUICE_IMAGE_TARGET_FLAGS} -nostdlib -static -fuse-ld=lld
    -Wl,-T,${CMAKE_CURRENT_SOURCE_DIR}/arch/x86/linker.ld
    -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--no-undefined -Wl,--fatal-warnings)
# -nostdlib: the image links nothing from the host, no libraries, no start files.
set_target_properties(sluice.elf PROPERTIES LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/arch/x86/linker.ld)

# sluice.iso: GRUB (grub-mkrescue) with a menu entry that boots sluice.elf
# through multiboot2 with SLUICE_ISO_COMMAND_LINE. Boot tests make their own
# ISOs with tools/make-iso for other command lines.
set(SLUICE_ISO_COMMAND_LINE "console=com1" CACHE STRING "Hypervisor command line of the GRUB entry in sluice.iso")
find_program(SLUICE_GRUB_MKRESCUE grub-mkrescue)
if(SLUICE_GRUB_MKRESCUE)
    add_custom_command(
        OUTPUT ${CMAKE_BINARY_DIR}/sluice.iso
        COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/make-iso $<TARGET_FILE:sluice.elf> ${CMAKE_BINARY_DIR}/sluice.iso
                "${SLUICE_ISO_COMMAND_LINE}"
        DEPENDS sluice.elf ${CMAKE_CURRENT_SOURCE_DIR}/tools/make-iso
        COMMENT "Making sluice.iso (GRUB multiboot2, command line \"${SLUICE_ISO_COMMAND_LINE}\")"
        VERBATIM)
    add_custom_target(sluice_iso ALL DEPENDS ${CMAKE_BINARY_DIR}/sluice.iso)
else()
    message(WARNING "grub-mkrescue not found: sluice.iso will not be built (tools/sluice installs grub-pc-bin)")
endif()
