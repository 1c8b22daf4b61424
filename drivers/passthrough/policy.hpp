// What the hardware domain's IOMMU tables identity-map, computed as range
// sets from the memory map and the resolved policy (iommu_options.hpp).
//
// The result is two sets of page-aligned ranges, read-write and read-only,
// which the caller maps with identity_map() into one Batch and commits once:
// one invalidation per unit, however many ranges. Nothing here walks pages:
// the work is a few merge passes over at most a few hundred ranges, whatever
// the size of the machine.
//
// Semantics (Xen's documented dom0-iommu= behaviour and its hardware-domain
// set-up), for a PV dom0 unless said otherwise:
// - passthrough, disabled: nothing to map.
// - relaxed: every page of e820 RAM. A page that is only partly RAM is not
//   RAM (RAM is rounded inward, every other type outward).
// - strict: PV: only dom0's own pages (domain_memory), which must be RAM.
//   PVH: no RAM at all: a PVH dom0's memory is reached through its p2m at
//   guest-physical addresses, not identity-mapped, so domain_memory is unused.
// - map-reserved (default on, PV and PVH): also every e820 "reserved" range,
//   at any address. Only type 2: ACPI tables and NVS are not included, as in
//   Xen, whose map-reserved covers the E820 reserved type alone; devices that
//   need ACPI memory get it from an RMRR/IVMD.
// - map-inclusive (PV only): also everything below 4 GiB that is not RAM,
//   holes and ACPI ranges included, and e820 reserved memory at any address
//   (Xen adds reserved ranges when either flag is set).
// Then, whatever the mode, removed from the result:
// - unusable and disabled memory (e820 types 5 and 6);
// - the hypervisor's own memory;
// - the excluded ranges: IOMMU register pages, MCFG/ECAM windows, IO-APICs,
//   local APICs and anything else dom0 may not reach;
// - the interrupt address range 0xfee00000-0xfeefffff, which the units treat
//   as interrupt messages and never translate (VT-d spec 3.14, "Handling
//   Requests to Interrupt Address Range"; AMD IOMMU spec, "Special Address
//   Controls"), so a mapping there could only mislead;
// - everything at or above address_limit, when one is given (what the
//   domain's tables can translate).
// Read-only ranges (HPET, MSI-X tables...) are taken out of the read-write
// set. For PV they are mapped read-only instead, like dom0's CPU mappings of
// them (minus the same removals); for PVH they are not mapped at all, since
// its p2m traps those accesses.
// Caller-provided ranges that are not page aligned are rounded outward (a
// page holding any excluded byte is excluded); dom0's own memory is rounded
// inward.
#pragma once

#include <drivers/passthrough/iommu_options.hpp>
#include <mm/range_set.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

inline constexpr AddressRange interrupt_address_range{0xfee00000, 0xfef00000};

struct HardwareDomainMappingInputs {
    const MemoryMap* memory_map = nullptr;  // sanitized (sorted, no overlaps)
    HardwareDomainPolicy policy;            // from resolve_hardware_domain_policy()
    // Each set may be null, meaning empty.
    const RangeSet* domain_memory = nullptr;      // dom0's own memory (strict PV)
    const RangeSet* hypervisor_memory = nullptr;  // never reachable by dom0's devices
    const RangeSet* excluded = nullptr;           // IOMMU registers, MCFG, IO-APIC, LAPIC, ...
    const RangeSet* read_only = nullptr;          // HPET, MSI-X tables, ...
    // One past the highest address the domain's IOMMU tables translate
    // (from the units' address width); 0 for no limit.
    PhysicalAddress address_limit = 0;
};

// Storage (in ranges) that is always enough for either output set of
// compute_hardware_domain_ranges() with these inputs.
[[nodiscard]] size_t hardware_domain_range_capacity(const HardwareDomainMappingInputs& inputs);

// Fills read_write and read_only (replacing what they held) with the
// page-aligned ranges to identity-map. Errors: Error::invalid_argument
// without a memory map, or when dom0's own memory (strict PV) is not all RAM
// (logged, naming the range); Error::capacity when an output set is too small
// (hardware_domain_range_capacity() never is). Both sets are empty after an
// error.
[[nodiscard]] Status compute_hardware_domain_ranges(const HardwareDomainMappingInputs& inputs, RangeSet& read_write,
                                                    RangeSet& read_only);

}  // namespace sluice::passthrough
