// Queued-invalidation descriptors, VT-d spec 6.5.2, in their 128-bit form
// (IQA_REG.DW = 0, the only width legacy mode needs, 6.5.2.11 Table 26).
// The Type field is bits 3:0 plus bits 11:9 as its high part; every field not
// named here is reserved and written as 0.
#pragma once

#include <drivers/passthrough/vtd/registers.hpp>

#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::vtd {

enum class InvalidationDescriptorType : uint8_t {
    context_cache = 0x1,          // cc_inv_dsc, 6.5.2.1
    iotlb = 0x2,                  // iotlb_inv_dsc, 6.5.2.3
    device_tlb = 0x3,             // dev_tlb_inv_dsc, 6.5.2.5
    interrupt_entry_cache = 0x4,  // iec_inv_dsc, 6.5.2.8
    invalidation_wait = 0x5,      // inv_wait_dsc, 6.5.2.9
};

struct InvalidationDescriptor {
    uint64_t low = 0;   // bits 63:0
    uint64_t high = 0;  // bits 127:64

    [[nodiscard]] constexpr uint8_t type() const {
        return static_cast<uint8_t>(extract_bits(low, 3, 0) | extract_bits(low, 11, 9) << 4);
    }
};
static_assert(sizeof(InvalidationDescriptor) == 16);
inline constexpr size_t invalidation_descriptor_size = sizeof(InvalidationDescriptor);

// 6.5.2.1 Context-cache Invalidate Descriptor: G (5:4), DID (31:16),
// SID (47:32), FM (49:48).
[[nodiscard]] constexpr InvalidationDescriptor context_cache_invalidation(ContextInvalidationGranularity granularity,
                                                                          uint16_t domain_id = 0,
                                                                          uint16_t source_id = 0,
                                                                          FunctionMask mask = FunctionMask::none) {
    InvalidationDescriptor descriptor;
    descriptor.low = static_cast<uint64_t>(InvalidationDescriptorType::context_cache) |
                     static_cast<uint64_t>(static_cast<uint8_t>(granularity) & 3) << 4 |
                     static_cast<uint64_t>(domain_id) << 16 | static_cast<uint64_t>(source_id) << 32 |
                     static_cast<uint64_t>(static_cast<uint8_t>(mask) & 3) << 48;
    return descriptor;
}

// 6.5.2.3 IOTLB Invalidate Descriptor: G (5:4), DW (6), DR (7), DID (31:16);
// AM (69:64), IH (70), ADDR (127:76, the address bits 63:12). Major version 2
// and later drain regardless of DR/DW; setting them is harmless.
struct IotlbInvalidation {
    IotlbInvalidationGranularity granularity = IotlbInvalidationGranularity::global;
    uint16_t domain_id = 0;
    uint64_t address = 0;       // page granularity only: first byte, aligned to 2^address_mask pages
    unsigned address_mask = 0;  // page granularity only: 2^address_mask pages (Table 22)
    bool invalidation_hint = false;  // page granularity only: leaf entries changed, keep paging-structure caches
    bool drain_reads = true;
    bool drain_writes = true;
};
[[nodiscard]] constexpr InvalidationDescriptor iotlb_invalidation(const IotlbInvalidation& request) {
    InvalidationDescriptor descriptor;
    descriptor.low = static_cast<uint64_t>(InvalidationDescriptorType::iotlb) |
                     static_cast<uint64_t>(static_cast<uint8_t>(request.granularity) & 3) << 4 |
                     static_cast<uint64_t>(request.drain_writes) << 6 | static_cast<uint64_t>(request.drain_reads) << 7 |
                     static_cast<uint64_t>(request.domain_id) << 16;
    if (request.granularity == IotlbInvalidationGranularity::page)
        descriptor.high = (request.address & ~page_mask) | static_cast<uint64_t>(request.invalidation_hint) << 6 |
                          (request.address_mask & 0x3f);
    return descriptor;
}

// 6.5.2.8 Interrupt Entry Cache Invalidate Descriptor: G (4: 0 global,
// 1 index-selective), IM (31:27, 2^IM indexes), IIDX (47:32).
[[nodiscard]] constexpr InvalidationDescriptor interrupt_entry_cache_invalidation(bool index_selective = false,
                                                                                  uint16_t index = 0,
                                                                                  unsigned index_mask = 0) {
    InvalidationDescriptor descriptor;
    descriptor.low = static_cast<uint64_t>(InvalidationDescriptorType::interrupt_entry_cache) |
                     static_cast<uint64_t>(index_selective) << 4 | static_cast<uint64_t>(index_mask & 0x1f) << 27 |
                     static_cast<uint64_t>(index) << 32;
    return descriptor;
}

// 6.5.2.9 Invalidation Wait Descriptor: IF (4), SW (5), FN (6), PD (7),
// Status Data (63:32), Status Address (127:66, the address bits above 1: the
// status write is one DWORD, so the address is 4-byte aligned).
struct InvalidationWait {
    PhysicalAddress status_address = 0;
    uint32_t status_data = 0;
    bool status_write = true;   // SW: write status_data to status_address on completion
    bool interrupt = false;     // IF: raise the invalidation completion event
    bool fence = true;          // FN: later descriptors wait for this one
    bool page_request_drain = false;  // PD (needs ECAP.PDS)
};
[[nodiscard]] constexpr InvalidationDescriptor invalidation_wait(const InvalidationWait& request) {
    InvalidationDescriptor descriptor;
    descriptor.low = static_cast<uint64_t>(InvalidationDescriptorType::invalidation_wait) |
                     static_cast<uint64_t>(request.interrupt) << 4 | static_cast<uint64_t>(request.status_write) << 5 |
                     static_cast<uint64_t>(request.fence) << 6 | static_cast<uint64_t>(request.page_request_drain) << 7 |
                     static_cast<uint64_t>(request.status_data) << 32;
    if (request.status_write) descriptor.high = request.status_address & ~uint64_t{3};
    return descriptor;
}

// Checks a request against the unit before it is queued or written to the
// registers: page granularity needs CAP.PSI, an address mask up to CAP.MAMV
// and an address aligned to the 2^AM pages (6.5.2.3, 11.4.6.4); a status
// write needs a 4-byte aligned address. Error::unsupported or
// Error::invalid_argument.
[[nodiscard]] Status check(const IotlbInvalidation& request, Capability capability);
[[nodiscard]] Status check(const InvalidationWait& request);

// The Address Mask for a page-selective invalidation of exactly
// [address, address + length): the range must be 2^AM pages, aligned to its
// own size. Nothing otherwise (then a domain-selective invalidation covers it).
[[nodiscard]] constexpr Optional<unsigned> address_mask_for(uint64_t address, uint64_t length) {
    if (length < page_size || !is_power_of_two(length) || !is_aligned(address, length)) return {};
    return count_trailing_zeros(length) - static_cast<unsigned>(page_shift);
}

}  // namespace sluice::vtd
