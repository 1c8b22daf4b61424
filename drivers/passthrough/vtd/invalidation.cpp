#include <drivers/passthrough/vtd/invalidation.hpp>

namespace sluice::vtd {

Status check(const IotlbInvalidation& request, Capability capability) {
    switch (request.granularity) {
    case IotlbInvalidationGranularity::global:
    case IotlbInvalidationGranularity::domain: return success();
    case IotlbInvalidationGranularity::page:
        // 11.4.2 "PSI" and "MAMV"; 6.5.2.3 "Address Mask": the address names a
        // naturally aligned block of 2^AM pages.
        if (!capability.page_selective_invalidation()) return Error::unsupported;
        if (request.address_mask > capability.maximum_address_mask()) return Error::unsupported;
        if (!is_aligned(request.address, page_size << request.address_mask)) return Error::invalid_argument;
        return success();
    case IotlbInvalidationGranularity::none: break;
    }
    return Error::invalid_argument;
}

Status check(const InvalidationWait& request) {
    if (request.status_write && !is_aligned(request.status_address, 4)) return Error::invalid_argument;
    return success();
}

}  // namespace sluice::vtd
