// The PVH test kernel's entry (Xen's docs/misc/pvh.pandoc): entered at the
// XEN_ELFNOTE_PHYS32_ENTRY address in 32-bit flat protected mode with paging
// off and ebx = the guest-physical address of hvm_start_info. It builds page
// tables identity-mapping the first 4 GiB with 2 MiB pages, switches to long
// mode (AMD APM Vol. 2, 14.6.1: CR4.PAE, CR3, EFER.LME, then CR0.PG), loads
// its own GDT and IDT and calls pvh_main(start_info).

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_ELFNOTE_GUEST_OS 6
#define XEN_ELFNOTE_XEN_VERSION 5
#define XEN_ELFNOTE_LOADER 8

    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 2f - 1f, XEN_ELFNOTE_GUEST_OS
    .asciz "Xen"
1:  .asciz "Sluice-pvh_checks"
2:  .balign 4
    .long 4, 2f - 1f, XEN_ELFNOTE_XEN_VERSION
    .asciz "Xen"
1:  .asciz "xen-3.0"
2:  .balign 4
    .long 4, 2f - 1f, XEN_ELFNOTE_LOADER
    .asciz "Xen"
1:  .asciz "generic"
2:  .balign 4
    .long 4, 2f - 1f, XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
1:  .long pvh_start
2:  .balign 4

    .section .text.entry, "ax"
    .code32
    .globl pvh_start
    .type pvh_start, @function
pvh_start:
    movl %ebx, entry_start_info
    movl %cr0, %eax
    movl %eax, entry_cr0
    movl %cr4, %eax
    movl %eax, entry_cr4
    movl %cs, %eax
    movl %eax, entry_code_selector
    // A hypercall from 32-bit code: xen_version(XENVER_version), the number
    // in EAX and the command in EBX (the 32-bit HVM ABI).
    movl $17, %eax
    xorl %ebx, %ebx
    movl $0xdead, %edi            // the 64-bit ABI's first argument register: must not count here
    vmmcall
    movl %eax, entry_version32
    // 2048 PDEs of 2 MiB (four page directories), then the PDPT and PML4.
    movl $page_directories, %edi
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax               // present, writable, page size
    movl %eax, (%edi,%ecx,8)      // bits 63:32 stay 0 (.bss): below 4 GiB
    incl %ecx
    cmpl $2048, %ecx
    jne 1b
    movl $page_directory_pointers, %edi
    movl $page_directories + 0x0003, %eax
    movl %eax, 0(%edi)
    addl $0x1000, %eax
    movl %eax, 8(%edi)
    addl $0x1000, %eax
    movl %eax, 16(%edi)
    addl $0x1000, %eax
    movl %eax, 24(%edi)
    movl $page_directory_pointers + 0x0003, %eax
    movl %eax, page_map_level4
    movl %cr4, %eax
    orl $0x20, %eax               // PAE
    movl %eax, %cr4
    movl $page_map_level4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx        // EFER
    rdmsr
    orl $0x100, %eax              // LME
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax         // PG, PE
    movl %eax, %cr0
    lgdt gdt_descriptor
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    leaq kernel_stack_top(%rip), %rsp
    call install_idt
    movl entry_start_info(%rip), %edi
    call pvh_main
1:  hlt
    jmp 1b
    .size pvh_start, . - pvh_start

// The hypercall page: the hypervisor fills it when the kernel writes the MSR
// CPUID 0x40000002 names. int3 until then.
    .section .text.hypercall_page, "ax"
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    .text
// hypercall_raw (through the page): tests/guests/common/hypercall_page.S.

// long hypercall_vmmcall(uint64_t number, a1, a2, a3): VMMCALL directly, as
// modern Linux does on AMD.
    .globl hypercall_vmmcall
hypercall_vmmcall:
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    vmmcall
    ret

// uint64_t rdtscp_aux(): RDTSCP, returning ECX (IA32_TSC_AUX).
    .globl rdtscp_aux
rdtscp_aux:
    rdtscp
    movl %ecx, %eax
    ret

// --- Exceptions ---------------------------------------------------------------
// Vectors 0-31 go to exception_common with the vector and an error code (0
// where the processor pushes none); guest_exception() may redirect the
// return (a probe's recovery address) or stop the kernel.
.macro exception vector, has_error_code
exception_\vector:
    .if \has_error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp exception_common
.endm
    exception 0, 0
    exception 1, 0
    exception 2, 0
    exception 3, 0
    exception 4, 0
    exception 5, 0
    exception 6, 0
    exception 7, 0
    exception 8, 1
    exception 9, 0
    exception 10, 1
    exception 11, 1
    exception 12, 1
    exception 13, 1
    exception 14, 1
    exception 15, 0
    exception 16, 0
    exception 17, 1
    exception 18, 0
    exception 19, 0

exception_common:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    movq %rsp, %rdi
    cld
    call guest_exception
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp
    iretq

// void install_idt(): 64-bit interrupt gates for vectors 0-19 (APM Vol. 2,
// 4.8.4), selector 0x08.
install_idt:
    leaq idt(%rip), %rdi
    leaq exception_handlers(%rip), %rsi
    xorl %ecx, %ecx
1:  movq (%rsi,%rcx,8), %rax
    movw %ax, 0(%rdi)
    movw $0x08, 2(%rdi)
    movw $0x8e00, 4(%rdi)         // present, DPL 0, 64-bit interrupt gate
    shrq $16, %rax
    movw %ax, 6(%rdi)
    shrq $16, %rax
    movl %eax, 8(%rdi)
    movl $0, 12(%rdi)
    addq $16, %rdi
    incl %ecx
    cmpl $20, %ecx
    jne 1b
    lidt idt_descriptor(%rip)
    ret

// uint64_t probe_rdmsr(uint32_t msr, bool* faulted)
    .globl probe_rdmsr
probe_rdmsr:
    movq %rsi, probe_fault_flag(%rip)
    leaq 1f(%rip), %rax
    movq %rax, probe_recovery(%rip)
    movl %edi, %ecx
    xorl %eax, %eax
    xorl %edx, %edx
    rdmsr
1:  movq $0, probe_recovery(%rip)
    shlq $32, %rdx
    orq %rdx, %rax
    ret

// uint64_t port_in(uint16_t port, unsigned size 1, 2 or 4): all of RAX after the IN;
// void port_out(uint16_t port, uint32_t value): 32-bit
    .globl port_in_raw
port_in_raw:
    movl %edi, %edx
    // Garbage above bit 31: a 32-bit IN must clear it (it zero-extends into
    // RAX), an 8- or 16-bit one must keep it. The caller masks.
    movabsq $0xdead000000001234, %rax
    cmpl $1, %esi
    je 1f
    cmpl $2, %esi
    je 2f
    inl %dx, %eax
    ret
1:  inb %dx, %al
    ret
2:  inw %dx, %ax
    ret
    .globl port_out
port_out:
    movl %edi, %edx
    movl %esi, %eax
    outl %eax, %dx
    ret

// uint8_t probe_read8(uint64_t address): a read that may stop the domain
// (the unmapped guest-physical check).
    .globl probe_read8
probe_read8:
    movb (%rdi), %al
    ret

    .section .rodata
    .balign 8
exception_handlers:
    .quad exception_0, exception_1, exception_2, exception_3, exception_4, exception_5, exception_6, exception_7
    .quad exception_8, exception_9, exception_10, exception_11, exception_12, exception_13, exception_14
    .quad exception_15, exception_16, exception_17, exception_18, exception_19

    .data
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff      // 0x08: 64-bit code, DPL 0
    .quad 0x00cf92000000ffff      // 0x10: data, DPL 0
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt
    .balign 8
idt_descriptor:
    .word 20 * 16 - 1
    .quad idt
    .globl entry_start_info, entry_cr0, entry_cr4, entry_code_selector, entry_version32, probe_recovery, probe_fault_flag
entry_start_info: .long 0
entry_version32: .long 0
entry_cr0: .long 0
entry_cr4: .long 0
entry_code_selector: .long 0
    .balign 8
probe_recovery: .quad 0
probe_fault_flag: .quad 0

    .bss
    .balign 4096
page_map_level4: .skip 4096
page_directory_pointers: .skip 4096
page_directories: .skip 4 * 4096
idt: .skip 20 * 16
    .balign 16
kernel_stack: .skip 32768
kernel_stack_top:
