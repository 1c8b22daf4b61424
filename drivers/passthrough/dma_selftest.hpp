// The built-in DMA self-test (boot option dma-selftest, off by default).
//
// It drives every QEMU edu device (PCI 1234:11e8) as the hardware domain's
// driver would and checks that the IOMMU lets exactly the right DMA through,
// whatever the vendor. One line per check:
//     dma-selftest: <what> ... ok
//     dma-selftest: <what> ... FAIL (<why>)
// then "dma-selftest: N passed, M failed". The checks, per edu device:
//   - each reserved region (RMRR, IVMD, rmrr=, ivmd=) of the device: DMA at
//     its first and last bytes reads what the processor reads, and writing
//     the same bytes back changes nothing and records no fault;
//   - a page the hardware domain owns: a round trip works in every mode;
//   - RAM neither the hardware domain nor the hypervisor uses: reachable in
//     relaxed mode, faults in strict mode;
//   - the hypervisor's own memory: faults in every mode but pass-through
//     (and without an IOMMU);
//   - every expected fault is found in the unit's fault record with the
//     device as source, the DMA address and the direction;
//   - a region mapped and then unmapped (one batch each) faults again: the
//     units cache translations, so this proves the unmap was flushed;
//   - with interrupt remapping on and an InterruptSink given: the device's
//     MSI, programmed with a remapped entry, arrives on its vector; a
//     forged compatibility-format write to 0xfee00000, a remappable one
//     naming an entry never allocated, one naming another requester's
//     entry, and the device's MSI after its entry was freed (one batch) are
//     all blocked, deliver nothing, and are recorded with their reason.
// Data is checked with patterns as well as fault records, since edu ignores
// DMA errors: a blocked transfer just leaves its destination unchanged.
#pragma once

#include <drivers/passthrough/iommu_setup.hpp>
#include <drivers/passthrough/iommu_unit.hpp>

#include <sluice/types.hpp>

namespace sluice::passthrough {

// Whether dma-selftest was given on the command line.
[[nodiscard]] bool dma_selftest_requested();

// What the interrupt checks need of the processor: the image gives the
// local APIC and its vector table.
class InterruptSink {
public:
    // A free vector whose arrivals are counted; Error::capacity.
    [[nodiscard]] virtual Result<uint8_t> take_vector() = 0;
    virtual void release_vector(uint8_t vector) = 0;
    [[nodiscard]] virtual uint64_t arrivals(uint8_t vector) const = 0;
    // This processor's APIC ID: the destination of the test's interrupts.
    [[nodiscard]] virtual uint32_t destination() const = 0;
    // Lets interrupts that are pending be taken (the self-test runs with
    // interrupts disabled).
    virtual void take_pending_interrupts() = 0;

protected:
    ~InterruptSink() = default;
};

struct SelftestResult {
    unsigned passed = 0;
    unsigned failed = 0;
    unsigned skipped = 0;  // checks the platform cannot show (said why)
};

// Runs the checks on every edu device of platform.devices. hypervisor_page is
// a page of the hypervisor's own memory the test may overwrite (it is only
// written if the IOMMU fails to block the device). The hardware domain and
// its mappings are left as they were.
[[nodiscard]] SelftestResult run_dma_selftest(const Platform& platform, IommuSetup& setup,
                                              PhysicalAddress hypervisor_page, InterruptSink* interrupts = nullptr);

}  // namespace sluice::passthrough
