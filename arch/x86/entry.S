// The image's first instructions, for both boot protocols.
//
// Multiboot2 (GRUB, "multiboot2" command; Multiboot2 specification 3.3
// "I386 machine state"): 32-bit protected mode, paging off, EAX = 0x36d76289,
// EBX = physical address of the boot information. Entered at the ELF entry.
//
// PVH (QEMU -kernel, Xen; Xen public ABI, docs/misc/pvh.pandoc): 32-bit
// protected mode, paging off, EBX = physical address of struct
// hvm_start_info. Entered at the address in the XEN_ELFNOTE_PHYS32_ENTRY note.
//
// Both paths zero .bss, build page tables identity-mapping the first 4 GiB
// with 2 MiB pages, switch to long mode and call
//     sluice_main(uint32_t boot_magic, uint32_t boot_information_address)
// with boot_magic 0x36d76289 (multiboot2) or 0x336ec578 (PVH, the
// hvm_start_info magic), so C++ knows which structure EBX pointed at.

#define MULTIBOOT2_HEADER_MAGIC 0xe85250d6
#define MULTIBOOT2_ARCHITECTURE_I386 0
#define MULTIBOOT2_BOOTLOADER_MAGIC 0x36d76289
#define HVM_START_MAGIC_VALUE 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define PAGE_PRESENT 0x001
#define PAGE_WRITABLE 0x002
#define PAGE_LARGE 0x080
#define CR0_PAGING 0x80000000
#define CR0_WRITE_PROTECT 0x00010000
#define CR4_PAE 0x00000020
#define EFER_MSR 0xc0000080
#define EFER_LONG_MODE_ENABLE 0x00000100

#define CODE64_SELECTOR 0x08
#define DATA_SELECTOR 0x10

#define BOOT_STACK_SIZE 0x10000

// --- Multiboot2 header (Multiboot2 specification 3.1.1, 3.1.2) -------------
// 8-byte aligned, within the first 32 KiB of the file (the linker script
// places this section first). It asks for nothing: the ELF program headers
// say where to load, and the ELF entry is the multiboot2 entry point.
    .section .multiboot2, "a"
    .balign 8
multiboot2_header:
    .long MULTIBOOT2_HEADER_MAGIC
    .long MULTIBOOT2_ARCHITECTURE_I386
    .long multiboot2_header_end - multiboot2_header
    // magic + architecture + header_length + checksum must be 0 mod 2^32.
    .long 0x100000000 - (MULTIBOOT2_HEADER_MAGIC + MULTIBOOT2_ARCHITECTURE_I386 + (multiboot2_header_end - multiboot2_header))
    // End tag: type 0, flags 0, size 8.
    .short 0
    .short 0
    .long 8
multiboot2_header_end:

// --- PVH entry note (Xen public ABI, elfnote.h) ------------------------------
// Notes use 4-byte alignment; QEMU locates the descriptor with the PT_NOTE
// segment's alignment, so this section must stay 4-byte aligned.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                          // namesz: "Xen\0"
    .long 4                          // descsz: a 32-bit physical address
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_entry

// --- 32-bit entry ------------------------------------------------------------
    .section .boot.text, "ax"
    .code32

    .global multiboot2_entry
    .type multiboot2_entry, @function
multiboot2_entry:
    cli
    cld
    mov %eax, %ebp                   // boot magic
    mov %ebx, %esi                   // boot information address
    jmp common_entry

    .global pvh_entry
    .type pvh_entry, @function
pvh_entry:
    cli
    cld
    mov $HVM_START_MAGIC_VALUE, %ebp
    mov %ebx, %esi

common_entry:
    // Zero .bss (page tables and stacks live there). The boot information
    // lies outside the image's memory footprint, so it survives.
    mov $sluice_bss_start, %edi
    mov $sluice_bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    mov $sluice_boot_stack_top, %esp

    // PML4[0] -> PDPT; PDPT[0..3] -> four page directories; each page
    // directory entry maps 2 MiB (Intel SDM Vol. 3A, "4-Level Paging and 5-Level Paging").
    mov $sluice_boot_pdpt, %eax
    or $(PAGE_PRESENT | PAGE_WRITABLE), %eax
    mov %eax, sluice_boot_pml4

    mov $sluice_boot_page_directories, %eax
    or $(PAGE_PRESENT | PAGE_WRITABLE), %eax
    mov $sluice_boot_pdpt, %edi
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $0x1000, %eax
    add $8, %edi
    loop 1b

    mov $sluice_boot_page_directories, %edi
    mov $(PAGE_PRESENT | PAGE_WRITABLE | PAGE_LARGE), %eax
    xor %edx, %edx                   // bits 63:32 of each entry: physical address bits 35:32
    mov $2048, %ecx
2:  mov %eax, (%edi)
    mov %edx, 4(%edi)
    add $0x200000, %eax
    adc $0, %edx
    add $8, %edi
    loop 2b

    // Long mode: CR4.PAE, CR3, EFER.LME, then CR0.PG (Intel SDM Vol. 3A, "Initializing IA-32e Mode").
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $sluice_boot_pml4, %eax
    mov %eax, %cr3
    mov $EFER_MSR, %ecx
    rdmsr
    or $EFER_LONG_MODE_ENABLE, %eax
    wrmsr
    mov %cr0, %eax
    or $(CR0_PAGING | CR0_WRITE_PROTECT), %eax
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $CODE64_SELECTOR, $long_mode_entry

// --- 64-bit entry --------------------------------------------------------------
    .code64
long_mode_entry:
    mov $DATA_SELECTOR, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $sluice_boot_stack_top, %rsp
    // The upper halves of the registers are undefined after the mode switch;
    // 32-bit moves zero them.
    mov %ebp, %edi                   // boot_magic
    mov %esi, %esi                   // boot_information_address
    xor %ebp, %ebp                   // ends frame-pointer chains
    call sluice_main
3:  cli
    hlt
    jmp 3b

// --- Boot GDT (Intel SDM Vol. 3A, "Segment Descriptors") -------------------
// Just enough to enter long mode; C++ replaces it with a GDT that also holds
// the TSS.
    .section .rodata
    .balign 8
boot_gdt:
    .quad 0                          // null
    .quad 0x00af9a000000ffff         // 0x08: 64-bit code, DPL 0
    .quad 0x00cf92000000ffff         // 0x10: data, DPL 0
boot_gdt_end:
    .balign 2
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

// --- Boot page tables and stack -------------------------------------------------
    .section .bss
    .balign 4096
    .global sluice_boot_pml4
sluice_boot_pml4:
    .skip 4096
    .global sluice_boot_pdpt
sluice_boot_pdpt:
    .skip 4096
    .global sluice_boot_page_directories
sluice_boot_page_directories:
    .skip 4 * 4096
    // Left unmapped once C++ runs (protect_boot_stack()): an overflowing
    // stack faults here instead of overwriting the page tables above.
    .balign 4096
    .global sluice_boot_stack_guard
sluice_boot_stack_guard:
    .skip 4096
sluice_boot_stack_bottom:
    .skip BOOT_STACK_SIZE
    .global sluice_boot_stack_top
sluice_boot_stack_top:
