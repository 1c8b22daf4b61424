#include "arch/x86/hvm/svm/svm.hpp"

#include "arch/x86/cpu.hpp"
#include "arch/x86/paging.hpp"

#include <mm/page_allocator.hpp>

#include <sluice/log.hpp>

namespace sluice::x86::svm {
namespace {

constexpr Logger logger{"svm"};

// VM_CR.SVMDIS (15.30.1) and EFER.SVME (15.4).
constexpr uint64_t vm_cr_svm_disable = uint64_t{1} << 4;
constexpr uint64_t efer_svme = uint64_t{1} << 12;

}  // namespace

SvmFeatures detect() {
    SvmFeatures features;
    if (cpuid(0x80000000).eax < 0x8000000a) return features;
    features.present = (cpuid(0x80000001).ecx & (1u << 2)) != 0;
    if (!features.present) return features;
    features.disabled_by_firmware = (read_msr(ModelSpecificRegister::vm_cr) & vm_cr_svm_disable) != 0;
    const CpuidResult leaf = cpuid(0x8000000a);
    features.revision = leaf.eax & 0xff;
    features.asids = leaf.ebx;
    const auto bit = [&](unsigned index) { return (leaf.edx & (1u << index)) != 0; };
    features.nested_paging = bit(0);
    features.lbr_virtualization = bit(1);
    features.svm_lock = bit(2);
    features.nrip_save = bit(3);
    features.vmcb_clean = bit(5);
    features.flush_by_asid = bit(6);
    features.decode_assists = bit(7);
    features.pause_filter = bit(10);
    features.avic = bit(13);
    features.vgif = bit(16);
    return features;
}

void log_features(const SvmFeatures& features) {
    if (!features.present) {
        logger.info("not offered by this processor");
        return;
    }
    const auto yes = [](bool value) { return value ? "yes" : "no"; };
    logger.info("revision %u, %u ASIDs; nested paging %s, nRIP save %s, decode assists %s, VMCB clean bits %s, "
                "flush by ASID %s, VGIF %s%s",
                features.revision, features.asids, yes(features.nested_paging), yes(features.nrip_save),
                yes(features.decode_assists), yes(features.vmcb_clean), yes(features.flush_by_asid), yes(features.vgif),
                features.disabled_by_firmware ? "; disabled by firmware (VM_CR.SVMDIS)" : "");
}

Status enable(const SvmFeatures& features, PhysicalPageAllocator& allocator) {
    if (!features.present || features.disabled_by_firmware) return Error::unsupported;
    // The host save area (15.30.4): a 4 KiB page VMRUN stores host state in.
    const PhysicalAddress host_save = SLUICE_TRY(allocator.allocate_page());
    direct_map().zero_page(host_save);
    write_msr(ModelSpecificRegister::extended_feature_enable,
              read_msr(ModelSpecificRegister::extended_feature_enable) | efer_svme);
    write_msr(ModelSpecificRegister::vm_hsave_pa, host_save);
    return success();
}

}  // namespace sluice::x86::svm
