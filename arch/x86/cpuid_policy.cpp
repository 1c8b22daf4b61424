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
// Leaf 1 EDX.
constexpr uint32_t leaf1_edx_vme = 1u << 1;
constexpr uint32_t leaf1_edx_pse = 1u << 3;
constexpr uint32_t leaf1_edx_mce = 1u << 7;
constexpr uint32_t leaf1_edx_pge = 1u << 13;
constexpr uint32_t leaf1_edx_mca = 1u << 14;
constexpr uint32_t leaf1_edx_pse36 = 1u << 17;
// Leaf 7.0 EBX bit 0: FSGSBASE.
constexpr uint32_t leaf7_ebx_fsgsbase = 1u << 0;
// Leaf 8000_0001 ECX bit 2: SVM; EDX bit 26: 1 GiB pages.
constexpr uint32_t extended_ecx_svm = 1u << 2;
constexpr uint32_t extended_edx_page1gb = 1u << 26;

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

void adjust_host_leaf(uint32_t leaf, uint32_t subleaf, CpuidValues& values, GuestKind kind) {
    const bool pv = kind == GuestKind::pv;
    if (leaf == 1) {
        values.ecx |= leaf1_ecx_hypervisor;
        values.ecx &= ~leaf1_ecx_vmx;
        if (!pv) values.ecx &= ~(leaf1_ecx_x2apic | leaf1_ecx_monitor);
        // No superpages and no global pages in a PV guest's tables
        // (docs/pv.md, "Page types"), no virtual-8086 mode in long mode; no
        // machine-check architecture (Xen instead emulates a virtual one).
        if (pv)
            values.edx &= ~(leaf1_edx_vme | leaf1_edx_pse | leaf1_edx_pge | leaf1_edx_pse36 | leaf1_edx_mce |
                            leaf1_edx_mca);
    } else if (leaf == 7 && subleaf == 0) {
        if (pv) values.ebx &= ~leaf7_ebx_fsgsbase;
    } else if (leaf == 0x80000001) {
        values.ecx &= ~extended_ecx_svm;
        if (pv) values.edx &= ~extended_edx_page1gb;
    } else if (leaf == 0x8000000a && !pv) {
        values = CpuidValues{};  // SVM features: none for the guest
    }
}

CpuidValues guest_leaf(uint32_t leaf, uint32_t subleaf, const CpuidValues& host, GuestKind kind, uint16_t domain_id,
                       uint32_t vcpu_id) {
    if (is_hypervisor_leaf(leaf)) return hypervisor_leaf(leaf, subleaf, kind, domain_id, vcpu_id);
    CpuidValues values = host;
    adjust_host_leaf(leaf, subleaf, values, kind);
    return values;
}

}  // namespace sluice::x86
