// VT-d's reserved regions in the vendor-neutral list: the RMRRs of the DMAR
// tables and the rmrr= ranges become passthrough::ReservedRegions, and
// ReservedRegionList::add checks, merges or rejects each one.
#pragma once

#include <drivers/passthrough/reserved_region.hpp>
#include <drivers/passthrough/vtd/dmar.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <sluice/result.hpp>

namespace sluice::vtd {

// One RMRR as a region for the devices its scopes name. A PCI endpoint scope
// gives its function; a PCI sub-hierarchy scope gives the bridge and every
// bus below it (secondary..subordinate, from resolver). A scope whose path
// is unresolved is left out with a warning; Error::not_found (after a
// warning) when no device is left.
[[nodiscard]] Result<passthrough::ReservedRegion> to_reserved_region(const DmarDescription& description,
                                                                     const DmarReservedMemory& memory,
                                                                     BridgeResolver* resolver);

// One rmrr= range; number is its 1-based position in the option's list.
[[nodiscard]] passthrough::ReservedRegion to_reserved_region(const RmrrOptionRange& range, unsigned number);

struct CollectedRegions {
    size_t accepted = 0;  // added, merged or already present
    size_t rejected = 0;  // each with a warning
};

// Adds every RMRR of description, then every rmrr= range, to list.
CollectedRegions collect_reserved_regions(const DmarDescription& description, const RmrrOption& option,
                                          passthrough::ReservedRegionList& list,
                                          const passthrough::PlacementPolicy& placement, BridgeResolver* resolver);

}  // namespace sluice::vtd
