// What a guest sees through CPUID: the hypervisor leaves in Xen's layout and
// the host's leaves with the bits a guest must not believe. One policy for
// PV (its forced-emulation CPUID) and HVM (the CPUID intercept).
//
// Xen's leaves (xen/include/public/arch-x86/cpuid.h), from base 0x40000000:
//   base + 0: EAX = the last leaf, EBX:ECX:EDX = "XenVMMXenVMM";
//   base + 1: EAX = version (major << 16 | minor);
//   base + 2: EAX = hypercall pages, EBX = the MSR that places them;
//   base + 3: time leaves (zero: no TSC mode advertised; HVM only);
//   base + 4: HVM features (vCPU id and domain id present), HVM guests only.
//
// Core code.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

struct CpuidValues {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

enum class GuestKind : uint8_t { pv, hvm };

inline constexpr uint32_t xen_cpuid_base = 0x40000000;
inline constexpr uint32_t xen_cpuid_range_end = 0x40010000;  // Xen's leaves may move up in 0x100 steps
// The MSR a guest writes to place its hypercall page (base + 2, EBX).
inline constexpr uint32_t xen_hypercall_page_msr = 0x40000000;

// XEN_HVM_CPUID_* (cpuid.h, leaf base + 4 EAX).
inline constexpr uint32_t xen_hvm_cpuid_vcpu_id_present = 1u << 3;
inline constexpr uint32_t xen_hvm_cpuid_domid_present = 1u << 4;

[[nodiscard]] constexpr bool is_hypervisor_leaf(uint32_t leaf) {
    return leaf >= xen_cpuid_base && leaf < xen_cpuid_range_end;
}

// A hypervisor leaf (is_hypervisor_leaf()); zeros for those past the last.
[[nodiscard]] CpuidValues hypervisor_leaf(uint32_t leaf, uint32_t subleaf, GuestKind kind, uint16_t domain_id,
                                          uint32_t vcpu_id);

// The host's values of `leaf`/`subleaf`, adjusted for a guest: the
// hypervisor-present bit set; VMX and SVM hidden (no nested virtualization).
// HVM guests also do not see x2APIC or MONITOR/MWAIT (neither is virtualized
// here). A 64-bit PV guest does not see the paging features its tables may
// not hold or its CR4 may not turn on (VME, PSE, PGE, PSE-36, 1 GiB pages), as
// Xen 4.17 hides them from PV guests (measured on this QEMU), nor the
// machine-check architecture (MCE, MCA), whose MSRs are not emulated, nor
// FSGSBASE (leaf 7.0), since the hypervisor owns CR4 and never sets
// CR4.FSGSBASE for it (Xen hides it from PV guests too).
void adjust_host_leaf(uint32_t leaf, uint32_t subleaf, CpuidValues& values, GuestKind kind);

// What a guest's CPUID returns: a hypervisor leaf, or the host's values
// (`host`, what the processor returned) adjusted as above.
[[nodiscard]] CpuidValues guest_leaf(uint32_t leaf, uint32_t subleaf, const CpuidValues& host, GuestKind kind,
                                     uint16_t domain_id, uint32_t vcpu_id);

}  // namespace sluice::x86
