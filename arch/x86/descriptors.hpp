// The hypervisor's own GDT, TSS and IDT.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

// Segment selectors in the GDT (the boot GDT in entry.S uses the same two).
inline constexpr uint16_t code_selector = 0x08;
inline constexpr uint16_t data_selector = 0x10;
inline constexpr uint16_t task_state_selector = 0x18;

// Loads the GDT with a TSS (whose interrupt stack table gives #DF, NMI and
// #MC stacks of their own, so a stack overflow reports instead of
// triple-faulting) and an IDT sending all 256 vectors to the interrupt stubs.
void install_descriptor_tables();

}  // namespace sluice::x86
