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

interrupt_common:
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
    cld
    mov %rsp, %rdi
    // The frame is 22 quadwords on a stack the CPU aligned to 16 bytes before
    // pushing, so RSP is 16-byte aligned here as the ABI requires at a call.
    call sluice_handle_interrupt
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
    add $16, %rsp                    // vector and error code
    iretq
