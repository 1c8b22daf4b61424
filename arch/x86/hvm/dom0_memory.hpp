// A PVH dom0's memory behind its p2m (docs/pvh.md, "The domain builder"):
// the one place the HVM code reaches the domain's tables: its p2m
// (mm/p2m/p2m.hpp) and its IOMMU context (drivers/passthrough/
// iommu_context.hpp), both owned by the domain (common/domain.hpp).
//
// - RAM: each guest RAM range of the guest-physical map is backed by the
//   machine ranges dom0_mem= allocated (in order, but a run may start a
//   little later so that guest and machine agree modulo 2 MiB and 2 MiB
//   leaves can be used; the frames passed over back what remains), in the
//   p2m and (unless the
//   IOMMU walks the p2m) the same translation in the IOMMU tables, in the
//   caller's one batch: the IOMMU follows the p2m.
// - Device memory: the holes below 4 GiB of the host's map, minus what the
//   hypervisor keeps, identity-mapped as direct MMIO in the p2m only.
//
// Core code: host tests check both tables against reference walkers.
#pragma once

#include "arch/x86/hvm/guest_memory.hpp"

#include <common/domain.hpp>
#include <mm/paging/batch.hpp>
#include <mm/range_set.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/result.hpp>

namespace sluice::x86::hvm {

class DomainPhysicalMap final : public GuestPhysicalMap {
public:
    // Precondition: `domain` is translated and has its IOMMU context.
    explicit DomainPhysicalMap(Domain& domain) : domain_(&domain) {}

    [[nodiscard]] Optional<PhysicalAddress> ram(uint64_t address, bool write) const override;

    // Maps device memory at its own address for the vCPU only (the IOMMU
    // tables get no peer-to-peer mappings).
    [[nodiscard]] Status map_io(uint64_t address, uint64_t length, paging::Batch& batch);
    // Maps [guest, guest + length) to `machine` in the p2m and the IOMMU.
    [[nodiscard]] Status map_ram(uint64_t guest, uint64_t length, PhysicalAddress machine, paging::Batch& batch);

    [[nodiscard]] Domain& domain() const { return *domain_; }

private:
    Domain* domain_;
};

// Backs the RAM of `guest_map` with `machine` (at least as large). Returns
// how many pages ended up 1:1 (guest-physical = machine). Error::capacity
// when there are fewer machine frames than guest RAM; a mapping error is
// passed on (logged with the range).
[[nodiscard]] Result<uint64_t> back_guest_ram(DomainPhysicalMap& map, const MemoryMap& guest_map,
                                              const passthrough::RangeSet& machine, paging::Batch& batch);

// Identity-maps the device-memory holes below 4 GiB of `host` minus
// `excluded` for the vCPU. Returns the bytes mapped; ranges that cannot be
// mapped are logged and skipped.
[[nodiscard]] uint64_t map_device_holes(DomainPhysicalMap& map, const MemoryMap& host,
                                        const passthrough::RangeSet& excluded, paging::Batch& batch);

}  // namespace sluice::x86::hvm
