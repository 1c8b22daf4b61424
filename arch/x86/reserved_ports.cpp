#include "arch/x86/reserved_ports.hpp"

#include <sluice/utility.hpp>

namespace sluice::x86 {
namespace {

constexpr ReservedPortRange reserved_ports[] = {
    {0x20, 0x21, "8259 PIC (master)", false},
    {0x40, 0x43, "8254 PIT", false},
    {0x61, 0x61, "PIT gate / speaker", false},
    {0xa0, 0xa1, "8259 PIC (slave)", false},
    {0xf4, 0xf7, "verdict port", false},
    {0x3f8, 0x3ff, "COM1 (hypervisor console)", false},
    // Not the hypervisor's, but every access is emulated, so it sees each
    // configuration write.
    {0xcf8, 0xcff, "PCI configuration (emulated)", true},
};

}  // namespace

Span<const ReservedPortRange> hardware_domain_reserved_ports() {
    return Span<const ReservedPortRange>(reserved_ports, array_length(reserved_ports));
}

const ReservedPortRange* reserved_port_range(uint16_t port) {
    for (const ReservedPortRange& range : reserved_ports)
        if (port >= range.first && port <= range.last) return &range;
    return nullptr;
}

}  // namespace sluice::x86
