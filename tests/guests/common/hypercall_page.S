// long hypercall_raw(uint64_t number, a1, a2, a3, a4, a5), for every test
// kernel: moves the SysV arguments into the hypercall registers (rdi, rsi,
// rdx, r10, r8: the same for PV and HVM on x86-64) and tail-jumps to slot
// `number` of hypercall_page (32 bytes each); the slot's `ret` returns
// straight to our caller.
    .text
    .globl hypercall_raw
    .type hypercall_raw, @function
hypercall_raw:
    shlq $5, %rdi
    leaq hypercall_page(%rip), %rax
    addq %rdi, %rax
    movq %rsi, %rdi
    movq %rdx, %rsi
    movq %rcx, %rdx
    movq %r8, %r10
    movq %r9, %r8
    jmp *%rax
    .size hypercall_raw, . - hypercall_raw
