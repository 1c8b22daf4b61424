#include <drivers/passthrough/iommu_vendor.hpp>

#include <sluice/log.hpp>

// Defined by the linker when at least one object has a "sluice_iommu_vendors"
// section (arch/x86/linker.ld names them for the image); weak so a host
// program without any vendor still links, with no vendor.
extern "C" {
extern const sluice::passthrough::IommuVendor __start_sluice_iommu_vendors[]
    __attribute__((weak, visibility("hidden")));
extern const sluice::passthrough::IommuVendor __stop_sluice_iommu_vendors[]
    __attribute__((weak, visibility("hidden")));
}

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"iommu"};

// The section holds the registrations in link order, which says nothing about
// the probe order; they are sorted into this array (a copy each: the section
// is read-only). Constant-initialised, so no static constructor.
IommuVendor sorted_vendors[max_iommu_vendors] = {};

}  // namespace

Span<const IommuVendor> iommu_vendors() {
    const IommuVendor* start = __start_sluice_iommu_vendors;
    const IommuVendor* stop = __stop_sluice_iommu_vendors;
    if (start == nullptr || stop == nullptr || stop <= start) return {};
    size_t registered = static_cast<size_t>(stop - start);
    if (registered > max_iommu_vendors) {
        logger.error("%zu IOMMU vendors registered, at most %zu are used; ignoring the rest", registered,
                     max_iommu_vendors);
        registered = max_iommu_vendors;
    }
    // Insertion sort, stable: equal orders keep their link order.
    for (size_t index = 0; index < registered; ++index) {
        const IommuVendor vendor = start[index];
        size_t position = index;
        for (; position > 0 && sorted_vendors[position - 1].order > vendor.order; --position)
            sorted_vendors[position] = sorted_vendors[position - 1];
        sorted_vendors[position] = vendor;
    }
    return Span<const IommuVendor>(sorted_vendors, registered);
}

}  // namespace sluice::passthrough
