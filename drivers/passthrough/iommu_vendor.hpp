// How an IOMMU vendor driver makes itself known to the hardware-domain
// set-up without the set-up naming it.
//
// Each vendor declares one IommuVendor with SLUICE_IOMMU_VENDOR next to its
// probe. The declaration is a constant placed in the linker section
// "sluice_iommu_vendors" (the technique of the command-line registry,
// include/sluice/cmdline.hpp): the image's link script KEEPs the section and
// asserts it is not empty; on the host the linker defines __start_/__stop_
// symbols for a section named like a C identifier, and the host executables
// link the whole core library, so every vendor's object is in. No static
// constructor runs and nothing is allocated.
//
// iommu_vendors() returns the registered vendors sorted by their order
// number (smaller first); the set-up probes them in that order and takes the
// first that finds units. Order numbers in use: VT-d 10, AMD-Vi 20.
#pragma once

#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/passthrough/reserved_region.hpp>

#include <sluice/result.hpp>
#include <sluice/span.hpp>

namespace sluice::passthrough {

// One IOMMU vendor's entry points. A probe returns Error::not_found when the
// platform has none of its units, so the next vendor is tried.
struct IommuVendor {
    // Where the vendor comes in the probe order (smaller first).
    unsigned order;
    const char* name;
    Status (*probe)(const Platform& platform, UnitRegistry& units, ReservedRegionList& regions);
    // Fills the IOMMU table kind and format of the hardware domain's
    // configuration for the units the probe set up.
    Status (*configure_domain)(const IommuOptions& options, IommuConfiguration& configuration);
    // Called when the platform's IOMMUs are not this vendor's (or there are
    // none), so the vendor can say which of its own options go unused
    // (rmrr= on an AMD machine) instead of dropping them silently.
    void (*report_unused_options)();
};

// More registered vendors than this are reported and the surplus ignored
// (there are two; the bound keeps iommu_vendors() free of allocation).
inline constexpr size_t max_iommu_vendors = 8;

// The registered vendors, sorted by order (registrations with the same order
// keep their link order). Empty when no vendor is linked.
[[nodiscard]] Span<const IommuVendor> iommu_vendors();

}  // namespace sluice::passthrough

#define SLUICE_IOMMU_VENDOR_CONCATENATE_(first, second) first##second
#define SLUICE_IOMMU_VENDOR_CONCATENATE(first, second) SLUICE_IOMMU_VENDOR_CONCATENATE_(first, second)
// At namespace scope, once per vendor: order (probe position, smaller
// first), name (for the log), then the three entry points of IommuVendor.
// Every object in the section is an IommuVendor aligned to 8, so the section
// is an array of them.
#define SLUICE_IOMMU_VENDOR(order, name, probe, configure_domain, report_unused_options)                     \
    static_assert(alignof(::sluice::passthrough::IommuVendor) == 8 &&                                        \
                      sizeof(::sluice::passthrough::IommuVendor) % 8 == 0,                                  \
                  "the section is read as an array of IommuVendor");                                         \
    [[gnu::used, gnu::retain, gnu::section("sluice_iommu_vendors"), gnu::aligned(8)]] constinit const       \
        ::sluice::passthrough::IommuVendor SLUICE_IOMMU_VENDOR_CONCATENATE(sluice_iommu_vendor_, __COUNTER__) { \
        order, name, probe, configure_domain, report_unused_options                                          \
    }
