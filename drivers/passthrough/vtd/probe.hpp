// Finding the VT-d units at boot: every DMAR table is parsed into one
// description (firmware may provide several, QEMU's -acpitable adds one after
// its own), a Unit is set up for each DRHD, and the RMRRs and rmrr= ranges go
// into the vendor-neutral reserved-region list.
#pragma once

#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/passthrough/reserved_region.hpp>
#include <drivers/passthrough/vtd/dmar.hpp>
#include <drivers/passthrough/vtd/unit.hpp>

#include <sluice/result.hpp>
#include <sluice/span.hpp>

namespace sluice::vtd {

// Parses every DMAR table in platform.tables, initialises one Unit per DRHD
// (units live in this driver's static storage) and registers each of them,
// failed ones included, so the set-up can name the devices a failed unit
// leaves unprotected. Adds every RMRR, then every rmrr= range, to regions.
// Error::not_found when there is no DMAR table or it describes no unit (not a
// VT-d platform; rmrr= is then reported as unused); otherwise success, even
// when units failed: each failure was logged by the unit.
[[nodiscard]] Status probe(const passthrough::Platform& platform, passthrough::UnitRegistry& units,
                           passthrough::ReservedRegionList& regions);

// Fills the IOMMU part of configuration with the second-level table format
// every working probed unit can walk: the depth all their SAGAW offer, leaf
// sizes all their SSLPS offer (none with iommu=no-superpages), input width
// no wider than the smallest MGAW, output width the DMAR's HAW, and snooped
// leaves when iommu=snoop and every unit has ECAP.SC. Error::not_found when
// no unit works, Error::unsupported when the units share no table depth.
[[nodiscard]] Status configure_domain(const passthrough::IommuOptions& options,
                                      passthrough::IommuConfiguration& configuration);

// The units the last probe set up, and the DMAR description it read.
[[nodiscard]] Span<Unit> probed_units();
[[nodiscard]] const DmarDescription& dmar_description();

// Forgets the probed units (host tests probe several machines in turn). The
// units' table pages are not freed.
// Warns that rmrr= was given on a machine whose IOMMUs are not this vendor's.
void report_unused_options();

void reset_probe();

}  // namespace sluice::vtd
