#include "arch/x86/cpuid_policy.hpp"

#include <common/hypercalls.hpp>

namespace sluice::x86 {
namespace {

// "XenVMMXenVMM" in EBX, ECX, EDX.
constexpr uint32_t signature_ebx = 0x566e6558;  // "XenV"
constexpr uint32_t signature_ecx = 0x65584d4d;  // "MMXe"
constexpr uint32_t signature_edx = 0x4d4d566e;  // "nVMM"

// Leaf 1 ECX (AMD APM Vol. 3, E.3.2; Intel SDM Vol. 2A, CPUID).
constexpr uint32_t leaf1_ecx_monitor = 1u << 3;
constexpr uint32_t leaf1_ecx_vmx = 1u << 5;
constexpr uint32_t leaf1_ecx_x2apic = 1u << 21;
constexpr uint32_t leaf1_ecx_hypervisor = 1u << 31;
// Leaf 8000_0001 ECX bit 2: SVM.
constexpr uint32_t extended_ecx_svm = 1u << 2;

}  // namespace

CpuidValues hypervisor_leaf(uint32_t leaf, uint32_t, GuestKind kind, uint16_t domain_id, uint32_t vcpu_id) {
    const uint32_t last = xen_cpuid_base + (kind == GuestKind::hvm ? 4 : 2);
    switch (leaf) {
    case xen_cpuid_base: return CpuidValues{last, signature_ebx, signature_ecx, signature_edx};
    case xen_cpuid_base + 1:
        return CpuidValues{(hypercall::version_major << 16) | hypercall::version_minor, 0, 0, 0};
    case xen_cpuid_base + 2: return CpuidValues{1, xen_hypercall_page_msr, 0, 0};
    case xen_cpuid_base + 4:
        if (kind != GuestKind::hvm) break;
        return CpuidValues{xen_hvm_cpuid_vcpu_id_present | xen_hvm_cpuid_domid_present, vcpu_id, domain_id, 0};
    default: break;
    }
    return CpuidValues{};
}

void adjust_host_leaf(uint32_t leaf, CpuidValues& values, GuestKind kind) {
    if (leaf == 1) {
        values.ecx |= leaf1_ecx_hypervisor;
        values.ecx &= ~leaf1_ecx_vmx;
        if (kind == GuestKind::hvm) values.ecx &= ~(leaf1_ecx_x2apic | leaf1_ecx_monitor);
    } else if (leaf == 0x80000001) {
        values.ecx &= ~extended_ecx_svm;
    } else if (leaf == 0x8000000a && kind == GuestKind::hvm) {
        values = CpuidValues{};  // SVM features: none for the guest
    }
}

}  // namespace sluice::x86
