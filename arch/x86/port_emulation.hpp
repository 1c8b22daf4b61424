// The hardware domain's port accesses the hypervisor carries out itself,
// for PV (emulated IN/OUT, arch/x86/pv/run.cpp) and HVM (the IOIO
// intercept, arch/x86/hvm/svm/run.cpp) alike. Image only.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

// Port accesses of 1, 2 or 4 bytes.
[[nodiscard]] uint32_t read_port(uint16_t port, unsigned size);
void write_port(uint16_t port, unsigned size, uint64_t value);

// IN's result into RAX: a 32-bit one zero-extends, 8 and 16 bits merge.
void set_accumulator(uint64_t& accumulator, unsigned size, uint32_t value);

// PCI configuration mechanism #1 (PCI Local Bus Specification 3.0,
// 3.2.2.3.2): dom0's accesses to 0xcf8 (the address, 32-bit accesses only)
// and 0xcfc-0xcff (the data) are emulated, so the hypervisor sees every
// configuration write; writes to an IOMMU's own function are dropped with a
// warning. Returns false for an access that is not one of these (other
// sizes at 0xcf8-0xcfb reach the hardware: 0xcf9 is the chipset's reset
// control).
[[nodiscard]] bool emulate_pci_configuration(uint16_t port, unsigned size, bool read, uint64_t& accumulator);

}  // namespace sluice::x86
