// AMD SVM on the boot processor (AMD APM Vol. 2, chapter 15): detection,
// enabling, and the VMRUN stub. Image only.
#pragma once

#include "arch/x86/hvm/registers.hpp"

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice {
class PhysicalPageAllocator;
}

namespace sluice::x86::svm {

// CPUID Fn8000_0001 ECX[SVM] and Fn8000_000A (15.4, "Enabling SVM"; APM
// Vol. 3, E.4.9).
struct SvmFeatures {
    bool present = false;            // CPUID Fn8000_0001 ECX bit 2
    bool disabled_by_firmware = false;  // VM_CR.SVMDIS
    uint32_t revision = 0;           // Fn8000_000A EAX[7:0]
    uint32_t asids = 0;              // Fn8000_000A EBX
    bool nested_paging = false;      // EDX bit 0, NP
    bool lbr_virtualization = false; // EDX bit 1
    bool svm_lock = false;           // EDX bit 2
    bool nrip_save = false;          // EDX bit 3, NRIPS
    bool vmcb_clean = false;         // EDX bit 5
    bool flush_by_asid = false;      // EDX bit 6
    bool decode_assists = false;     // EDX bit 7
    bool pause_filter = false;       // EDX bit 10
    bool avic = false;               // EDX bit 13
    bool vgif = false;               // EDX bit 16
};

[[nodiscard]] SvmFeatures detect();
// One line: "svm: revision 1, 16 ASIDs, features NP VGIF; no nRIP save, ...".
void log_features(const SvmFeatures& features);

// Sets EFER.SVME and VM_HSAVE_PA (a page from `allocator`). Error::unsupported
// when SVM is absent or disabled by firmware.
[[nodiscard]] Status enable(const SvmFeatures& features, PhysicalPageAllocator& allocator);

}  // namespace sluice::x86::svm

// vmrun.S: saves the host's callee-saved registers and its VMSAVE state
// (into host_state), loads the guest's with VMLOAD, runs it with VMRUN
// (GIF clear around it), and on #VMEXIT stores the guest's general
// registers into `registers` and its VMSAVE state into the VMCB, then
// restores the host's. RAX, RSP and RIP are the VMCB's.
extern "C" void sluice_svm_vmrun(sluice::x86::hvm::GuestRegisters* registers, sluice::PhysicalAddress vmcb,
                                 sluice::PhysicalAddress host_state);
