// Finding the AMD-Vi IOMMUs at boot: the vendor probe the hardware-domain
// set-up calls (the shape iommu_unit.hpp describes).
//
// probe() reads every IVRS table the ACPI directory lists, in order (QEMU
// lists a table given with -acpitable after its own):
//   - the IOMMUs are those of the first table that describes any; IVHD
//     blocks in a later table are reported and ignored (one firmware
//     description of the hardware; a second one could only contradict it);
//   - the IVMD blocks of every table, then the ivmd= regions, become
//     reserved regions (ReservedRegionList applies the placement and merge
//     rules shared with VT-d RMRRs).
// Each IOMMU gets its registers mapped, its NpCache bit read from its PCI
// capability, and is brought up (Iommu::initialize: translation still
// passes everything) and registered. A unit that fails is reported and
// registered as failed, so the set-up can name the devices it leaves
// unprotected; the others still work.
//
// Units and the parsed IVRS live in static storage in this driver; nothing
// is allocated but the units' tables (from Platform::allocator).
#pragma once

#include <drivers/passthrough/amd/iommu.hpp>
#include <drivers/passthrough/amd/ivrs.hpp>
#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/passthrough/page_table_amd.hpp>
#include <drivers/passthrough/reserved_region.hpp>

#include <sluice/result.hpp>
#include <sluice/span.hpp>

namespace sluice::amd {

// Error::not_found when there is no IVRS table or it describes no IOMMU
// (not an AMD-Vi platform; ivmd= is then reported as unused); otherwise
// success, even when units failed (each failure was logged). Probing again
// starts over.
[[nodiscard]] Status probe(const passthrough::Platform& platform, passthrough::UnitRegistry& registry,
                           passthrough::ReservedRegionList& regions);

// Fills the IOMMU part of the hardware domain's configuration: AMD-Vi v1
// tables in page_table_format(options.superpages). Error::not_found when no
// probed unit works, Error::unsupported when one walks no host page tables.
[[nodiscard]] Status configure_domain(const passthrough::IommuOptions& options,
                                      passthrough::IommuConfiguration& configuration);

// Forgets the probed units (host tests probe several machines in turn); their
// table pages are not freed and the hardware is not touched.
// Warns that ivmd= was given on a machine whose IOMMUs are not this vendor's.
void report_unused_options();

void reset_probe();

// The units the last probe() registered (failed ones included), in IVRS order.
[[nodiscard]] Span<Iommu* const> probed_units();

// The IVRS the units were taken from (empty before a successful probe).
[[nodiscard]] const IvrsDescription& probed_ivrs();

// The I/O page table format for a domain whose devices may sit behind any
// probed unit: an input width of IVinfo's VAsize (48 bits when it is 0, as
// on QEMU), raised to PAsize so every physical address can be
// identity-mapped, with as many levels as that needs but no more than the
// shallowest unit walks (EFR.HATS); leaves up to 1 GiB when superpages is
// set, else 4 KiB only. Error::not_found when no probed unit works,
// Error::unsupported when a working unit walks no host page tables at all.
[[nodiscard]] Result<passthrough::AmdV1Format> page_table_format(bool superpages);

// How probe() recognises QEMU's emulated IOMMU, whose event log never
// receives events in QEMU 7.2 (a wrong mask test drops every event): an IVRS
// with OEM ID "BOCHS " and an IOMMU PCI function 1022:xxxx whose device ID
// is its own devfn (QEMU's amd-iommu takes its "addr" property as device ID:
// 1022:0008 at 00:01.0, 1022:0018 at 00:03.0). Real AMD IOMMUs have device
// IDs from 1000h up.
[[nodiscard]] bool is_emulated_iommu(const char (&ivrs_oem_id)[6], uint16_t vendor_id, uint16_t device_id,
                                     uint16_t iommu_requester_id);

}  // namespace sluice::amd
