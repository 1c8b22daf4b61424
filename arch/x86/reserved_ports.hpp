// The I/O ports a hardware domain may not reach: the hypervisor's own. One
// rule for PV (the TSS I/O bitmap, arch/x86/pv) and HVM (the SVM I/O
// permission map, arch/x86/hvm/svm): dom0 reaches every other port directly.
//
// Core code.
#pragma once

#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::x86 {

struct ReservedPortRange {
    uint16_t first;
    uint16_t last;  // inclusive
    const char* owner;
    // True when the range is denied only so that every access is seen and
    // carried out on dom0's behalf (the PCI configuration ports), not
    // because the hypervisor owns the device.
    bool emulated;
};

// The 8259 PICs, the PIT and its gate (port 0x61), the verdict port, COM1
// (the hypervisor's console), and the PCI configuration ports (emulated).
// Reads of the others give all ones and writes are dropped, as Xen does for
// its own ports.
[[nodiscard]] Span<const ReservedPortRange> hardware_domain_reserved_ports();

// The range holding `port`, nullptr when dom0 may use it directly.
[[nodiscard]] const ReservedPortRange* reserved_port_range(uint16_t port);

}  // namespace sluice::x86
