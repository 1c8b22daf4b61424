// The hypervisor's own GDT, TSS and IDT.
#pragma once

#include "arch/x86/address_space.hpp"

#include <sluice/types.hpp>

namespace sluice::x86 {

// Segment selectors of the hypervisor (Xen's values, docs/pv.md; entry.S's
// boot GDT uses 0x08 and 0x10 until install_descriptor_tables() runs).
inline constexpr uint16_t code_selector = hypervisor_code_selector;
inline constexpr uint16_t data_selector = hypervisor_data_selector;
inline constexpr uint16_t task_state_selector = hypervisor_task_selector;

// Builds the entry alias, then loads the GDT (in the alias's GDT area) with a
// TSS (whose interrupt stack table gives #DF, NMI and #MC stacks of their own,
// so a stack overflow reports instead of triple-faulting), an IDT sending all
// 256 vectors to the interrupt stubs, and the SYSCALL MSRs: every address the
// processor uses on an entry from ring 3 is an alias address.
void install_descriptor_tables();

// The top of the stack every entry from a guest starts on (TSS.RSP0 and the
// SYSCALL stub's stack), as an alias address.
[[nodiscard]] uint64_t guest_entry_stack_top();

// The TSS's I/O permission bitmap (Intel SDM Vol. 1, "I/O Permission Bit
// Map"): ports a PV guest's kernel may reach directly. Every port starts
// denied; a denied port's IN/OUT raises #GP and is emulated.
void allow_guest_port_range(uint16_t first, uint16_t last);
void deny_guest_port_range(uint16_t first, uint16_t last);
[[nodiscard]] bool guest_port_allowed(uint16_t port);
// Turns the bitmap on (guest kernel mode) or off (guest user mode and the
// hypervisor: every port denied).
void set_guest_port_access(bool enabled);

// Reloads GDTR after the GDT area changed (the limit always covers all 16
// pages).
void reload_global_descriptor_table();

// Points the LDT descriptor (selector 0xe050) at the LDT area with
// `entries` descriptors and loads it; 0 entries loads the null LDT.
void load_local_descriptor_table(unsigned entries);

}  // namespace sluice::x86
