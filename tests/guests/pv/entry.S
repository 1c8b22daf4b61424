// Entry, hypercall page, trap and callback entry stubs, and the probes the
// checks use, for both PV test kernels.
//
// ABI (xen/include/public/arch-x86/xen-x86_64.h, xen.h):
// - entry: rsi = start_info (virtual), rsp = the boot stack the builder made,
//   cs = FLAT_RING3_CS64, ss = FLAT_RING3_SS64, events masked;
// - hypercall page: slot n at hypercall_page + 32 * n, arguments in rdi, rsi,
//   rdx, r10, r8, result in rax;
// - a bounce frame on the guest kernel stack, lowest address first: rcx, r11,
//   [error code], rip, cs, rflags, rsp, ss; the event and syscall callbacks
//   get the same without an error code, the failsafe callback has ds, es, fs
//   and gs after r11;
// - HYPERVISOR_iret (slot 23) takes an iret_context {rax, r11, rcx, flags,
//   rip, cs, rflags, rsp, ss} on the stack: the guest pushes flags and jumps
//   to the slot, which pushes rcx, r11 and rax itself.

#define HYPERCALL_IRET 23
#define VECTOR_EVENT 256
#define VECTOR_FAILSAFE 257
#define VECTOR_SYSCALL 258

    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    // Remember what the hypervisor handed over before anything changes it.
    movq %rsi, entry_start_info(%rip)
    movq %rsp, entry_stack_pointer(%rip)
    movw %cs, entry_code_selector(%rip)
    movw %ss, entry_stack_selector(%rip)
    // Run on our own, larger stack (16-byte aligned at each call, SysV ABI).
    leaq kernel_stack_top(%rip), %rsp
    movq %rsi, %rdi
    call guest_main
1:  ud2
    jmp 1b
    .size _start, . - _start

// The hypercall page: the hypervisor fills it at build time (the note
// XEN_ELFNOTE_HYPERCALL_PAGE names it). Filled with int3 so a call into an
// unfilled page traps instead of running zeros.
    .section .text.hypercall_page, "ax"
    .balign 4096
    .globl hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc

    .text
// hypercall_raw: tests/guests/common/hypercall_page.S.

// long hypercall_direct(uint64_t number, a1, a2): SYSCALL without the page,
// for numbers outside it (a hypercall from guest kernel mode, xen-x86_64.h).
    .globl hypercall_direct
    .type hypercall_direct, @function
hypercall_direct:
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    pushq %rcx
    pushq %r11
    syscall
    popq %r11
    popq %rcx
    ret
    .size hypercall_direct, . - hypercall_direct

// --- Trap entry --------------------------------------------------------------
.macro trap_entry vector, has_error_code
    .globl trap_entry_\vector
    .type trap_entry_\vector, @function
trap_entry_\vector:
    popq %rcx
    popq %r11
    .if \has_error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp trap_common
.endm

    trap_entry 0, 0
    trap_entry 1, 0
    trap_entry 3, 0
    trap_entry 4, 0
    trap_entry 5, 0
    trap_entry 6, 0
    trap_entry 7, 0
    trap_entry 10, 1
    trap_entry 11, 1
    trap_entry 12, 1
    trap_entry 13, 1
    trap_entry 14, 1
    trap_entry 16, 0
    trap_entry 17, 1
    trap_entry 19, 0

    .globl event_callback_entry
event_callback_entry:
    popq %rcx
    popq %r11
    pushq $0
    pushq $VECTOR_EVENT
    jmp trap_common

    .globl syscall_callback_entry
syscall_callback_entry:
    popq %rcx
    popq %r11
    pushq $0
    pushq $VECTOR_SYSCALL
    jmp trap_common

    .globl failsafe_callback_entry
failsafe_callback_entry:
    popq %rcx
    popq %r11
    addq $32, %rsp          // ds, es, fs, gs
    pushq $0
    pushq $VECTOR_FAILSAFE
    jmp trap_common

// Saves the general registers as a TrapFrame (runtime.hpp), calls
// guest_trap(frame) and returns through HYPERVISOR_iret with whatever the
// handler left in the frame.
trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    movq %rsp, %rbx
    andq $-16, %rsp
    cld
    call guest_trap
    movq %rbx, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp          // vector, error code
    pushq $0                // iret_context.flags
    jmp hypercall_page + HYPERCALL_IRET * 32

// uint64_t iret_to_self(uint64_t value): returns to its own continuation
// through HYPERVISOR_iret with rax = value; IF clear in the frame's rflags
// keeps events masked (the hypervisor sets the upcall mask from it). The
// frame's cs has RPL 0: an iret to a cs with RPL 3 returns to guest *user*
// mode (measured on Xen 4.17: the next SYSCALL went to the syscall callback).
    .globl iret_to_self
    .type iret_to_self, @function
iret_to_self:
    movq %rsp, %r11
    pushq $0xe02b           // ss: FLAT_RING3_SS64
    pushq %r11              // rsp after the return
    pushfq
    andq $~0x200, (%rsp)    // rflags without IF
    pushq $0xe030           // cs: FLAT_RING3_CS64 with RPL 0, the guest kernel
    leaq 1f(%rip), %rcx
    pushq %rcx              // rip
    pushq $0                // flags
    movq %rdi, %rax
    jmp hypercall_page + HYPERCALL_IRET * 32
1:  ret
    .size iret_to_self, . - iret_to_self

// --- Probes --------------------------------------------------------------------
// Each runs one instruction that may trap. Before it, the probe stores its
// continuation in trap_recovery; guest_trap sends a trap there (recording it)
// so the probe returns either way. r11 is free in the SysV ABI.
.macro arm_recovery
    leaq 9f(%rip), %r11
    movq %r11, trap_recovery(%rip)
.endm
.macro disarm_recovery
9:  movq $0, trap_recovery(%rip)
.endm

.macro probe name
    .globl \name
    .type \name, @function
\name:
.endm

probe probe_write64           // (uint64_t* address, uint64_t value)
    arm_recovery
    movq %rsi, (%rdi)
    disarm_recovery
    ret

probe probe_read64            // uint64_t (const uint64_t* address)
    xorl %eax, %eax
    arm_recovery
    movq (%rdi), %rax
    disarm_recovery
    ret

probe probe_divide_error
    movl $1, %eax
    xorl %edx, %edx
    xorl %ecx, %ecx
    arm_recovery
    divl %ecx
    disarm_recovery
    ret

probe probe_breakpoint
    arm_recovery
    int3
    disarm_recovery
    ret

probe probe_invalid_opcode
    arm_recovery
    ud2
    disarm_recovery
    ret

probe probe_single_step       // #DB after the instruction following POPF
    arm_recovery
    pushfq
    orq $0x100, (%rsp)
    popfq
    nop
    nop
    disarm_recovery
    ret

probe probe_non_canonical_read
    movabsq $0x8000000000000000, %rdi
    arm_recovery
    movq (%rdi), %rax
    disarm_recovery
    ret

// void probe_forced_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
// Xen's forced-emulation prefix: ud2; .ascii "xen"; cpuid.
probe probe_forced_cpuid
    pushq %rbx
    movq %rdx, %r8
    movl %edi, %eax
    movl %esi, %ecx
    xorl %ebx, %ebx
    xorl %edx, %edx
    arm_recovery
    ud2
    .ascii "xen"
    cpuid
    disarm_recovery
    movl %eax, 0(%r8)
    movl %ebx, 4(%r8)
    movl %ecx, 8(%r8)
    movl %edx, 12(%r8)
    popq %rbx
    ret

probe probe_write_cr3
    arm_recovery
    movq %rdi, %cr3
    disarm_recovery
    ret

probe probe_read_cr3
    xorl %eax, %eax
    arm_recovery
    movq %cr3, %rax
    disarm_recovery
    ret

probe probe_read_cr0
    xorl %eax, %eax
    arm_recovery
    movq %cr0, %rax
    disarm_recovery
    ret

probe probe_read_cr4
    xorl %eax, %eax
    arm_recovery
    movq %cr4, %rax
    disarm_recovery
    ret

probe probe_rdmsr             // uint64_t (uint32_t msr)
    movl %edi, %ecx
    xorl %eax, %eax
    xorl %edx, %edx
    arm_recovery
    rdmsr
    disarm_recovery
    shlq $32, %rdx
    orq %rdx, %rax
    ret

probe probe_in8               // uint8_t (uint16_t port)
    movl %edi, %edx
    xorl %eax, %eax
    arm_recovery
    inb %dx, %al
    disarm_recovery
    ret

probe probe_out8              // (uint16_t port, uint8_t value)
    movl %edi, %edx
    movl %esi, %eax
    arm_recovery
    outb %al, %dx
    disarm_recovery
    ret

probe probe_in32              // uint32_t (uint16_t port)
    movl %edi, %edx
    xorl %eax, %eax
    arm_recovery
    inl %dx, %eax
    disarm_recovery
    ret

probe probe_out32             // (uint16_t port, uint32_t value)
    movl %edi, %edx
    movl %esi, %eax
    arm_recovery
    outl %eax, %dx
    disarm_recovery
    ret

probe probe_fs_read64         // uint64_t (): %fs:0
    xorl %eax, %eax
    arm_recovery
    movq %fs:0, %rax
    disarm_recovery
    ret

probe probe_gs_read64         // uint64_t (): %gs:0
    xorl %eax, %eax
    arm_recovery
    movq %gs:0, %rax
    disarm_recovery
    ret

probe probe_fnop              // an x87 instruction: #NM while CR0.TS is set
    arm_recovery
    fnop
    disarm_recovery
    ret

probe probe_load_es           // (uint16_t selector)
    arm_recovery
    movw %di, %es
    disarm_recovery
    ret

probe read_es
    xorl %eax, %eax
    movw %es, %ax
    ret

// --- Data the entry code fills ------------------------------------------------
    .data
    .balign 8
    .globl entry_start_info, entry_stack_pointer, entry_code_selector, entry_stack_selector, trap_recovery
entry_start_info: .quad 0
entry_stack_pointer: .quad 0
trap_recovery: .quad 0
entry_code_selector: .word 0
entry_stack_selector: .word 0

    .bss
    .balign 4096
kernel_stack: .skip 65536
kernel_stack_top:
    .globl kernel_stack_top
