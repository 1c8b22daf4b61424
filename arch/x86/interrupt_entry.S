// One 16-byte entry stub per interrupt vector, so the IDT code finds the
// stub for vector n at sluice_interrupt_stubs + 16 * n.
//
// The CPU pushes an error code for vectors 8, 10-14, 17, 21, 29 and 30
// (Intel SDM Vol. 3A, "Exception and Interrupt Reference"; AMD APM
// Vol. 2, "#VC" in "Exceptions and Interrupts"); the stubs push a zero for the others so every frame
// has the same shape: vector, error code, then the CPU's RIP, CS, RFLAGS,
// RSP, SS. The common path saves every general-purpose register and passes
// the frame (struct InterruptFrame) to sluice_handle_interrupt.

    .section .text
    .balign 16
    .global sluice_interrupt_stubs
sluice_interrupt_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector >= 10 && vector <= 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    jmp interrupt_common
    .set vector, vector + 1
    .endr
    .global sluice_interrupt_stubs_end
sluice_interrupt_stubs_end:

// Offsets in struct InterruptFrame (arch/x86/interrupts.hpp).
#define FRAME_VECTOR 120
#define FRAME_CS 144
#define FRAME_SIZE 176
#define ALIAS_BASE 0xffff828000000000
#define FLAT_RING3_CS64 0xe033
#define FLAT_RING3_SS64 0xe02b
#define SYSCALL_VECTOR 256
#define COMPATIBILITY_SYSCALL_VECTOR 257

// The stubs run at their alias address (the IDT points there, see
// arch/x86/address_space.hpp), so every reference to data is RIP-relative:
// it then names the alias copy, mapped under the guest's CR3 too. C++ is
// reached through absolute (link-time, identity-mapped) addresses once CR3
// holds the hypervisor's tables.
.macro save_registers
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
.endm

.macro restore_registers
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
.endm

interrupt_common:
    save_registers
    cld
    testb $3, FRAME_CS(%rsp)
    jnz from_guest
    // From ring 0. The interrupted code may have been one of the few
    // instructions that run on the guest's CR3 (the entry stubs before their
    // CR3 load, sluice_return_to_guest after it): an NMI or #MC there, or a
    // fault of the final IRETQ. C++ must never run on the guest's tables,
    // whose lower half is the guest's: switch, and switch back on the way
    // out. RBX is saved in the frame and preserved by the C++ call.
    mov %cr3, %rbx
    mov sluice_hypervisor_cr3(%rip), %rax
    cmp %rax, %rbx
    je 2f
    mov %rax, %cr3
2:  mov %rsp, %rdi
    // The frame is 22 quadwords on a stack the CPU aligned to 16 bytes before
    // pushing, so RSP is 16-byte aligned here as the ABI requires at a call.
    movabs $sluice_handle_interrupt, %rax
    call *%rax
    cmp sluice_hypervisor_cr3(%rip), %rbx
    je 3f
    mov %rbx, %cr3
3:  restore_registers
    add $16, %rsp                    // vector and error code
    iretq

// From ring 3: the processor switched to TSS.RSP0, the top of the guest
// entry stack. Take the hypervisor's tables, then let C++ decide; it never
// returns here but leaves through sluice_return_to_guest.
from_guest:
    mov sluice_hypervisor_cr3(%rip), %rax
    mov %rax, %cr3
    mov %rsp, %rdi
    movabs $sluice_handle_guest_interrupt, %rax
    call *%rax
    ud2

// SYSCALL from ring 3 (LSTAR, and CSTAR for compatibility mode): RCX =
// guest RIP, R11 = guest RFLAGS, RSP still the guest's, interrupts masked by
// FMASK. Builds the same frame an exception from ring 3 leaves, with the
// given vector.
.macro system_call_entry name, vector
    .balign 16
    .global \name
\name:
    mov %rsp, syscall_guest_stack(%rip)
    mov sluice_guest_entry_stack_top(%rip), %rsp
    pushq $FLAT_RING3_SS64
    pushq syscall_guest_stack(%rip)
    push %r11
    pushq $FLAT_RING3_CS64
    push %rcx
    pushq $0
    pushq $\vector
    jmp from_guest_system_call
.endm

    system_call_entry sluice_syscall_entry, SYSCALL_VECTOR
    system_call_entry sluice_compatibility_syscall_entry, COMPATIBILITY_SYSCALL_VECTOR

from_guest_system_call:
    save_registers
    cld
    jmp from_guest

// void sluice_return_to_guest(InterruptFrame* frame, uint64_t guest_cr3)
// Called from C++ (identity-mapped code) with frame on the guest entry stack
// (an alias address). Moves to the alias copy of the code, loads the guest's
// tables and returns to ring 3 with the frame's registers.
    .balign 16
    .global sluice_return_to_guest
sluice_return_to_guest:
    mov %rdi, %rsp
    movabs $(ALIAS_BASE + 1f), %rax
    jmp *%rax
1:  mov %rsi, %cr3
    restore_registers
    add $16, %rsp                    // vector and error code
    // A fault of this IRETQ (a selector or address the checks in C++ missed)
    // is recognised by its address and turned into a crash of the domain
    // (sluice_guest_return_faulted), never of the hypervisor.
    .global sluice_guest_return_instruction
sluice_guest_return_instruction:
    iretq

    .section .bss
    .balign 8
syscall_guest_stack:
    .quad 0
