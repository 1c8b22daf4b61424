// The identity-mapping API: one call family for every kind of domain.
//
//   PV (untranslated):  the IOMMU tables map frame N at address N.
//   HVM / PVH:          the p2m gets a direct-MMIO identity entry and the
//                       IOMMU the same mapping, or only the p2m when the
//                       IOMMU walks the p2m itself (VT-d sharing EPT).
//
// Regions are reference counted per domain. Mapping the exact range of an
// existing region (the same RMRR behind two devices) takes a reference;
// mapping a range inside an existing region whose access covers it (an RMRR
// inside a reserved range the hardware domain's policy mapped) takes a
// reference on that region and records the smaller one, so each release
// finds its own entry. Anything else that overlaps an existing region is
// refused with Error::overlap and changes nothing. The tables are unmapped
// when the last reference goes.
//
// Every call is all or nothing: a failure midway (out of memory) undoes what
// the call changed before returning. The pages an undo might need (to split
// a superpage at an edge of the range) are reserved before anything changes.
//
// Changes go into the caller's Batch, made for this domain
// (Batch batch(domain.invalidation_targets())); nothing is invalidated until
// batch.commit(), so mapping K regions costs one invalidation per unit.
#pragma once

#include <mm/paging/batch.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

class IommuContext;

// One entry of a domain's identity-region registry. The storage is the
// caller's (IommuConfiguration::identity_regions), so the registry never
// allocates.
struct IdentityRegion {
    static constexpr uint32_t no_parent = ~uint32_t{0};

    PhysicalAddress start = 0;
    PhysicalAddress last = 0;  // inclusive
    paging::Access access = paging::Access::none;
    bool in_use = false;
    uint32_t references = 0;   // callers holding this exact range, plus regions nested in it
    uint32_t parent = no_parent;  // index of the region this one lies in (it owns no mapping)
};

// Maps [start, end) (page aligned) at the same address with `access` into
// every table the domain's devices (and, when translated, its vCPUs) use.
// Errors: invalid_argument (unaligned, empty, access the tables cannot
// express, or a batch made for another domain), out_of_range (beyond the
// domain's address width), overlap (a different region overlaps),
// already_exists (the range holds mappings not made by identity_map),
// capacity (registry full), out_of_memory. Each is logged once with the
// domain, the range and the reason.
[[nodiscard]] Status identity_map(IommuContext& domain, PhysicalAddress start, PhysicalAddress end, paging::Access access,
                                  paging::Batch& batch);

// Drops one reference to the region [start, end) and unmaps it when it was
// the last. Errors: invalid_argument, not_found (no such region),
// out_of_memory (the pages to split an edge superpage could not be
// reserved; nothing changed).
[[nodiscard]] Status identity_unmap(IommuContext& domain, PhysicalAddress start, PhysicalAddress end, paging::Batch& batch);

}  // namespace sluice::passthrough
