#include "arch/x86/descriptors.hpp"

#include "arch/x86/address_space.hpp"
#include "arch/x86/cpu.hpp"
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
constexpr uint8_t gate_present_interrupt_dpl3 = 0xee;  // the same, reachable by INT3/INTO from ring 3
constexpr uint64_t tss_type_available = 0x9;           // 64-bit TSS (available)

// IST slots (1-based, as the gate encodes them).
constexpr uint8_t double_fault_stack = 1;
constexpr uint8_t nmi_and_machine_check_stack = 2;
constexpr size_t interrupt_stack_size = 16 * KiB;
constexpr size_t guest_entry_stack_size = 32 * KiB;

alignas(16) uint8_t double_fault_stack_area[interrupt_stack_size];
alignas(16) uint8_t nmi_and_machine_check_stack_area[interrupt_stack_size];
alignas(16) uint8_t guest_entry_stack_area[guest_entry_stack_size];

constexpr size_t port_count = 65536;

// The TSS with its I/O permission bitmap and the all-ones byte the processor
// may read past the bitmap's end (Intel SDM Vol. 1, "I/O Permission Bit Map").
struct [[gnu::packed]] TaskStateWithBitmap {
    TaskStateSegment segment;
    uint8_t io_bitmap[port_count / 8];
    uint8_t bitmap_end;
};
static_assert(__builtin_offsetof(TaskStateWithBitmap, io_bitmap) == sizeof(TaskStateSegment));

alignas(page_size) TaskStateWithBitmap task_state;

constexpr uint16_t io_bitmap_enabled = sizeof(TaskStateSegment);
// Beyond the limit: no bitmap, every port denied at CPL 3.
constexpr uint16_t io_bitmap_disabled = sizeof(TaskStateWithBitmap);

alignas(16) InterruptGate interrupt_descriptor_table[interrupt_vector_count];

// Descriptors of the hypervisor's GDT pages, by selector (Intel SDM Vol. 3A,
// "Segment Descriptors"; the values are the flat 4 GiB forms: G, D/B or L,
// P, DPL, S, type).
constexpr uint64_t code64_dpl0 = 0x00af9a000000ffff;
constexpr uint64_t data_dpl0 = 0x00cf92000000ffff;
constexpr uint64_t code32_dpl3 = 0x00cffa000000ffff;
constexpr uint64_t data_dpl3 = 0x00cff2000000ffff;
constexpr uint64_t code64_dpl3 = 0x00affa000000ffff;

uint64_t task_state_descriptor_low(uint64_t base, uint64_t limit) {
    // Intel SDM Vol. 3A, "TSS Descriptor in 64-bit mode": limit 15:0, base 23:0, type,
    // P, limit 19:16, base 31:24; the next quadword holds base 63:32.
    return (limit & 0xffff) | ((base & 0xffffff) << 16) | (tss_type_available << 40) | (uint64_t{1} << 47) |
           (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
}

uint64_t& gdt_slot(uint16_t selector) {
    return hypervisor_gdt_pages()[(selector - first_reserved_gdt_page * page_size) / 8];
}

// RFLAGS bits SYSCALL clears: interrupts stay off until the stub is on the
// hypervisor's stack and tables; no single-stepping, string direction up,
// no alignment checks, no nested task, I/O privilege 0.
constexpr uint64_t system_call_masked_flags = rflags_interrupt | rflags_trap | rflags_direction |
                                              rflags_alignment_check | rflags_nested_task | rflags_io_privilege;

}  // namespace

extern "C" {
// interrupt_entry.S reads these RIP-relative, from the alias.
uint64_t sluice_hypervisor_cr3 = 0;
uint64_t sluice_guest_entry_stack_top = 0;
void sluice_syscall_entry();
void sluice_compatibility_syscall_entry();
}

uint64_t guest_entry_stack_top() { return sluice_guest_entry_stack_top; }

void reload_global_descriptor_table() {
    const DescriptorTablePointer gdt_pointer{gdt_area_pages * page_size - 1, gdt_area};
    asm volatile("lgdt %0" : : "m"(gdt_pointer) : "memory");
}

namespace {

// Protections for the hypervisor against its guests' mappings (Intel SDM
// Vol. 3A, "Supervisor-Mode Execute Prevention", "Supervisor-Mode Access
// Prevention"; "IA32_EFER MSR" for NXE): every guest entry is a user entry,
// so SMEP stops ring 0 from ever executing guest code and SMAP from
// touching guest data, should a path run on a guest's tables; NXE lets
// guests use bit 63 of their entries, which is reserved without it.
constexpr uint64_t cr4_smep = uint64_t{1} << 20;
constexpr uint64_t cr4_smap = uint64_t{1} << 21;
constexpr uint64_t efer_no_execute_enable = uint64_t{1} << 11;

void enable_protections() {
    const CpuidResult extended_features = cpuid(7, 0);
    uint64_t cr4 = read_cr4();
    if (extended_features.ebx & (1u << 7)) cr4 |= cr4_smep;
    if (extended_features.ebx & (1u << 20)) cr4 |= cr4_smap;
    asm volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
    if (cpuid(0x80000000).eax >= 0x80000001 && (cpuid(0x80000001).edx & (1u << 20)))
        write_msr(ModelSpecificRegister::extended_feature_enable,
                  read_msr(ModelSpecificRegister::extended_feature_enable) | efer_no_execute_enable);
}

}  // namespace

void install_descriptor_tables() {
    enable_protections();
    build_entry_alias();
    sluice_hypervisor_cr3 = hypervisor_cr3();
    sluice_guest_entry_stack_top = alias_address(guest_entry_stack_area + guest_entry_stack_size);

    TaskStateSegment& segment = task_state.segment;
    segment.rsp[0] = sluice_guest_entry_stack_top;
    segment.ist[double_fault_stack - 1] = alias_address(double_fault_stack_area + interrupt_stack_size);
    segment.ist[nmi_and_machine_check_stack - 1] =
        alias_address(nmi_and_machine_check_stack_area + interrupt_stack_size);
    segment.io_map_base_address = io_bitmap_disabled;
    for (uint8_t& byte : task_state.io_bitmap) byte = 0xff;
    task_state.bitmap_end = 0xff;

    gdt_slot(hypervisor_code_selector) = code64_dpl0;
    gdt_slot(hypervisor_data_selector) = data_dpl0;
    gdt_slot(guest_code32_selector & ~3) = code32_dpl3;
    gdt_slot(guest_data_selector & ~3) = data_dpl3;
    gdt_slot(guest_code64_selector & ~3) = code64_dpl3;
    const uint64_t tss_base = alias_address(&task_state);
    gdt_slot(hypervisor_task_selector) = task_state_descriptor_low(tss_base, sizeof(TaskStateWithBitmap) - 1);
    gdt_slot(hypervisor_task_selector + 8) = tss_base >> 32;

    reload_global_descriptor_table();
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
        const uint64_t handler = alias_base + interrupt_stub_address(vector);
        uint8_t stack = 0;
        if (vector == exception_double_fault) stack = double_fault_stack;
        if (vector == exception_nmi || vector == exception_machine_check) stack = nmi_and_machine_check_stack;
        // INT3 and INTO are the instructions a guest uses on purpose from
        // ring 3; every other INT n from ring 3 raises #GP, which the PV
        // layer turns into the vector the guest's trap table allows.
        const bool guest_invocable = vector == exception_breakpoint || vector == 4;
        interrupt_descriptor_table[vector] = InterruptGate{
            static_cast<uint16_t>(handler & 0xffff),
            code_selector,
            stack,
            guest_invocable ? gate_present_interrupt_dpl3 : gate_present_interrupt_dpl0,
            static_cast<uint16_t>((handler >> 16) & 0xffff),
            static_cast<uint32_t>(handler >> 32),
            0,
        };
    }
    const DescriptorTablePointer idt_pointer{sizeof interrupt_descriptor_table - 1,
                                             alias_address(interrupt_descriptor_table)};
    asm volatile("lidt %0" : : "m"(idt_pointer) : "memory");

    // SYSCALL/SYSRET (Intel SDM Vol. 3A, "Fast System Calls in 64-Bit
    // Mode"; AMD APM Vol. 2, "SYSCALL and SYSRET"): SYSCALL loads CS =
    // STAR[47:32] and SS = that + 8 (0xe008, 0xe010); SYSRET to 64-bit mode
    // CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8, with RPL 3 (0xe033,
    // 0xe02b), exactly the selectors Xen's ABI gives a PV guest.
    write_msr(ModelSpecificRegister::system_call_target,
              (uint64_t{guest_code32_selector} << 48) | (uint64_t{hypervisor_code_selector} << 32));
    write_msr(ModelSpecificRegister::long_mode_system_call_target,
              alias_base + reinterpret_cast<uint64_t>(&sluice_syscall_entry));
    write_msr(ModelSpecificRegister::compatibility_system_call_target,
              alias_base + reinterpret_cast<uint64_t>(&sluice_compatibility_syscall_entry));
    write_msr(ModelSpecificRegister::system_call_flag_mask, system_call_masked_flags);
    write_msr(ModelSpecificRegister::extended_feature_enable,
              read_msr(ModelSpecificRegister::extended_feature_enable) | efer_system_call_enable);
}

void load_local_descriptor_table(unsigned entries) {
    if (entries == 0) {
        asm volatile("lldt %w0" : : "r"(0) : "memory");
        return;
    }
    // Intel SDM Vol. 3A, "Segment Descriptor Tables": an LDT descriptor is
    // a 16-byte system descriptor of type 2, base and limit as for the TSS.
    const uint64_t limit = uint64_t{entries} * 8 - 1;
    const uint64_t base = ldt_area;
    gdt_slot(hypervisor_ldt_selector) = (limit & 0xffff) | ((base & 0xffffff) << 16) | (uint64_t{0x2} << 40) |
                                        (uint64_t{1} << 47) | (((limit >> 16) & 0xf) << 48) |
                                        (((base >> 24) & 0xff) << 56);
    gdt_slot(hypervisor_ldt_selector + 8) = base >> 32;
    asm volatile("lldt %w0" : : "r"(hypervisor_ldt_selector) : "memory");
}

void allow_guest_port_range(uint16_t first, uint16_t last) {
    for (uint32_t port = first; port <= last; ++port)
        task_state.io_bitmap[port / 8] &= static_cast<uint8_t>(~(1u << (port % 8)));
}

void deny_guest_port_range(uint16_t first, uint16_t last) {
    for (uint32_t port = first; port <= last; ++port)
        task_state.io_bitmap[port / 8] |= static_cast<uint8_t>(1u << (port % 8));
}

bool guest_port_allowed(uint16_t port) { return (task_state.io_bitmap[port / 8] & (1u << (port % 8))) == 0; }

void set_guest_port_access(bool enabled) {
    task_state.segment.io_map_base_address = enabled ? io_bitmap_enabled : io_bitmap_disabled;
}

}  // namespace sluice::x86
