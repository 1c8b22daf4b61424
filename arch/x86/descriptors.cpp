#include "arch/x86/descriptors.hpp"

#include "arch/x86/interrupts.hpp"

namespace sluice::x86 {
namespace {

// 64-bit TSS (Intel SDM Vol. 3A, "Task Management in 64-bit Mode",
// "64-Bit TSS Format"). Only the interrupt stack table is used.
struct [[gnu::packed]] TaskStateSegment {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];  // ist[0] is IST1
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map_base_address;
};
static_assert(sizeof(TaskStateSegment) == 104);
static_assert(__builtin_offsetof(TaskStateSegment, ist) == 0x24);
static_assert(__builtin_offsetof(TaskStateSegment, io_map_base_address) == 0x66);

// 64-bit interrupt gate (Intel SDM Vol. 3A, "64-Bit Mode IDT").
struct InterruptGate {
    uint16_t offset_low;
    uint16_t segment_selector;
    uint8_t interrupt_stack_table;  // bits 2:0
    uint8_t type_attributes;        // P, DPL, type
    uint16_t offset_middle;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(InterruptGate) == 16);

struct [[gnu::packed]] DescriptorTablePointer {
    uint16_t limit;
    uint64_t base;
};
static_assert(sizeof(DescriptorTablePointer) == 10);

constexpr uint8_t gate_present_interrupt_dpl0 = 0x8e;  // P = 1, DPL = 0, type 0xe (64-bit interrupt gate)
constexpr uint64_t tss_type_available = 0x9;           // 64-bit TSS (available)

// IST slots (1-based, as the gate encodes them).
constexpr uint8_t double_fault_stack = 1;
constexpr uint8_t nmi_and_machine_check_stack = 2;
constexpr size_t interrupt_stack_size = 16 * KiB;

alignas(16) uint8_t double_fault_stack_area[interrupt_stack_size];
alignas(16) uint8_t nmi_and_machine_check_stack_area[interrupt_stack_size];

TaskStateSegment task_state_segment;

// null, 64-bit code, data, TSS (two slots: system descriptors are 16 bytes in long mode).
uint64_t global_descriptor_table[5] = {
    0,
    0x00af9a000000ffff,
    0x00cf92000000ffff,
    0,
    0,
};

alignas(16) InterruptGate interrupt_descriptor_table[interrupt_vector_count];

uint64_t task_state_descriptor_low(uint64_t base, uint64_t limit) {
    // Intel SDM Vol. 3A, "TSS Descriptor in 64-bit mode": limit 15:0, base 23:0, type,
    // P, limit 19:16, base 31:24; the next quadword holds base 63:32.
    return (limit & 0xffff) | ((base & 0xffffff) << 16) | (tss_type_available << 40) | (uint64_t{1} << 47) |
           (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
}

}  // namespace

void install_descriptor_tables() {
    task_state_segment.ist[double_fault_stack - 1] =
        reinterpret_cast<uint64_t>(double_fault_stack_area + interrupt_stack_size);
    task_state_segment.ist[nmi_and_machine_check_stack - 1] =
        reinterpret_cast<uint64_t>(nmi_and_machine_check_stack_area + interrupt_stack_size);
    // An I/O map base beyond the limit means "no I/O permission bitmap".
    task_state_segment.io_map_base_address = sizeof(TaskStateSegment);

    const uint64_t tss_base = reinterpret_cast<uint64_t>(&task_state_segment);
    global_descriptor_table[3] = task_state_descriptor_low(tss_base, sizeof(TaskStateSegment) - 1);
    global_descriptor_table[4] = tss_base >> 32;

    const DescriptorTablePointer gdt_pointer{sizeof global_descriptor_table - 1,
                                             reinterpret_cast<uint64_t>(global_descriptor_table)};
    asm volatile("lgdt %0" : : "m"(gdt_pointer) : "memory");
    // Reload CS with a far return, then the data segments.
    asm volatile(
        "pushq %[code]\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movl %[data], %%eax\n\t"
        "movl %%eax, %%ds\n\t"
        "movl %%eax, %%es\n\t"
        "movl %%eax, %%ss\n\t"
        :
        : [code] "i"(code_selector), [data] "i"(data_selector)
        : "rax", "memory");
    asm volatile("ltr %w0" : : "r"(task_state_selector) : "memory");

    for (unsigned vector = 0; vector < interrupt_vector_count; ++vector) {
        const uint64_t handler = interrupt_stub_address(vector);
        uint8_t stack = 0;
        if (vector == exception_double_fault) stack = double_fault_stack;
        if (vector == exception_nmi || vector == exception_machine_check) stack = nmi_and_machine_check_stack;
        interrupt_descriptor_table[vector] = InterruptGate{
            static_cast<uint16_t>(handler & 0xffff),
            code_selector,
            stack,
            gate_present_interrupt_dpl0,
            static_cast<uint16_t>((handler >> 16) & 0xffff),
            static_cast<uint32_t>(handler >> 32),
            0,
        };
    }
    const DescriptorTablePointer idt_pointer{sizeof interrupt_descriptor_table - 1,
                                             reinterpret_cast<uint64_t>(interrupt_descriptor_table)};
    asm volatile("lidt %0" : : "m"(idt_pointer) : "memory");
}

}  // namespace sluice::x86
