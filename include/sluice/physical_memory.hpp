// The seams between the core and the machine. The walker, the ACPI parsers
// and the IOMMU drivers reach physical memory and page allocation only
// through these, so the host tests run the same code against a simulated
// machine.
#pragma once

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice {

// Reads and writes machine memory. Entry accesses are single, naturally
// aligned 64-bit loads and stores: hardware walking a table concurrently must
// see either the old or the new entry, never a mix.
class PhysicalMemory {
public:
    [[nodiscard]] virtual uint64_t read64(PhysicalAddress address) const = 0;
    virtual void write64(PhysicalAddress address, uint64_t value) = 0;
    virtual void zero_page(PhysicalAddress page) = 0;
    // Copies length bytes at address into destination; fails with
    // Error::out_of_range if any byte lies outside accessible memory.
    [[nodiscard]] virtual Status read_bytes(PhysicalAddress address, void* destination, size_t length) const = 0;
    [[nodiscard]] virtual Status write_bytes(PhysicalAddress address, const void* source, size_t length) = 0;

protected:
    ~PhysicalMemory() = default;
};

// Hands out zeroed-or-not 4 KiB machine frames; allocation may fail.
class PageAllocator {
public:
    [[nodiscard]] virtual Result<PhysicalAddress> allocate_page() = 0;
    virtual void free_page(PhysicalAddress page) = 0;
    // count physically contiguous pages whose first address is a multiple of
    // alignment (a power of two, at least page_size) and whose last byte lies
    // below limit, for hardware tables that must be one block (the AMD-Vi
    // device table). Each page goes back with free_page(). Allocators that
    // cannot provide contiguous memory fail with Error::unsupported.
    [[nodiscard]] virtual Result<PhysicalAddress> allocate_contiguous(uint64_t /*count*/, uint64_t /*alignment*/,
                                                                      PhysicalAddress /*limit*/) {
        return Error::unsupported;
    }

protected:
    ~PageAllocator() = default;
};

}  // namespace sluice
