// void sluice_svm_vmrun(GuestRegisters* registers, uint64_t vmcb, uint64_t host_state)
//
// AMD APM Vol. 2, 15.5 (VMRUN) and 15.5.2 (#VMEXIT): VMRUN saves only part
// of the host's state (RIP, RSP, RAX, CR0/3/4, EFER, RFLAGS, GDTR, IDTR, ES,
// CS, SS, DS) and loads the guest's from the VMCB; FS, GS, TR, LDTR and the
// SYSCALL/SYSENTER MSRs are moved with VMSAVE/VMLOAD (15.5.2, "VMSAVE and
// VMLOAD"). GIF is cleared around the switch so no interrupt or NMI is taken
// while the host runs on the guest's TR or GS. After #VMEXIT, RAX holds the
// VMCB address again (restored from the host save area).
//
// The offsets are those of GuestRegisters (arch/x86/hvm/registers.hpp).

    .text
    .globl sluice_svm_vmrun
    .type sluice_svm_vmrun, @function
sluice_svm_vmrun:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi                  // 16(%rsp) below: the register file
    pushq %rsi                  // 8(%rsp): the guest's VMCB
    pushq %rdx                  // 0(%rsp): the host's VMSAVE area
    clgi
    movq %rdx, %rax
    vmsave %rax
    movq %rsi, %rax
    vmload %rax
    movq 0x08(%rdi), %rbx
    movq 0x10(%rdi), %rcx
    movq 0x18(%rdi), %rdx
    movq 0x20(%rdi), %rsi
    movq 0x30(%rdi), %rbp
    movq 0x38(%rdi), %r8
    movq 0x40(%rdi), %r9
    movq 0x48(%rdi), %r10
    movq 0x50(%rdi), %r11
    movq 0x58(%rdi), %r12
    movq 0x60(%rdi), %r13
    movq 0x68(%rdi), %r14
    movq 0x70(%rdi), %r15
    movq 0x28(%rdi), %rdi
    vmrun %rax
    // #VMEXIT: the guest's general registers are still live.
    pushq %rdi
    movq 24(%rsp), %rdi
    movq %rbx, 0x08(%rdi)
    movq %rcx, 0x10(%rdi)
    movq %rdx, 0x18(%rdi)
    movq %rsi, 0x20(%rdi)
    movq %rbp, 0x30(%rdi)
    movq %r8, 0x38(%rdi)
    movq %r9, 0x40(%rdi)
    movq %r10, 0x48(%rdi)
    movq %r11, 0x50(%rdi)
    movq %r12, 0x58(%rdi)
    movq %r13, 0x60(%rdi)
    movq %r14, 0x68(%rdi)
    movq %r15, 0x70(%rdi)
    popq 0x28(%rdi)
    vmsave %rax
    movq 0(%rsp), %rax
    vmload %rax
    stgi
    addq $24, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sluice_svm_vmrun, . - sluice_svm_vmrun

