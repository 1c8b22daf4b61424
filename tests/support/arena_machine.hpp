// A fast machine for benchmarks: physical memory is one host arena reached
// through a direct pointer (a final class, so the walker's calls inline), and
// a free-list page allocator over it. Figures then measure the walker, not
// the simulation.
#pragma once

#include <mm/paging/batch.hpp>

#include <sluice/physical_memory.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace sluice::testing {

class ArenaMemory final : public PhysicalMemory {
public:
    ArenaMemory(PhysicalAddress base, uint64_t size)
        : base_(base), bytes_(static_cast<uint8_t*>(std::aligned_alloc(page_size, size))), size_(size) {
        std::memset(bytes_, 0, size);
    }
    ~ArenaMemory() { std::free(bytes_); }
    ArenaMemory(const ArenaMemory&) = delete;
    ArenaMemory& operator=(const ArenaMemory&) = delete;

    uint64_t read64(PhysicalAddress address) const override {
        return *reinterpret_cast<const volatile uint64_t*>(bytes_ + (address - base_));
    }
    void write64(PhysicalAddress address, uint64_t value) override {
        *reinterpret_cast<volatile uint64_t*>(bytes_ + (address - base_)) = value;
    }
    void zero_page(PhysicalAddress page) override { std::memset(bytes_ + (page - base_), 0, page_size); }
    Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override {
        std::memcpy(destination, bytes_ + (address - base_), length);
        return success();
    }
    Status write_bytes(PhysicalAddress address, const void* source, size_t length) override {
        std::memcpy(bytes_ + (address - base_), source, length);
        return success();
    }
    PhysicalAddress base() const { return base_; }
    uint64_t size() const { return size_; }

private:
    PhysicalAddress base_;
    uint8_t* bytes_;
    uint64_t size_;
};

class ArenaAllocator final : public PageAllocator {
public:
    explicit ArenaAllocator(const ArenaMemory& memory) {
        for (uint64_t offset = memory.size(); offset != 0; offset -= page_size)
            free_.push_back(memory.base() + offset - page_size);
    }
    Result<PhysicalAddress> allocate_page() override {
        if (free_.empty()) return Error::out_of_memory;
        const PhysicalAddress page = free_.back();
        free_.pop_back();
        return page;
    }
    void free_page(PhysicalAddress page) override { free_.push_back(page); }
    size_t available() const { return free_.size(); }

private:
    std::vector<PhysicalAddress> free_;
};

// Counts 64-bit stores (page-table entries written) on top of an arena, to
// show a huge range writes only its minimal decomposition.
class CountingArena final : public PhysicalMemory {
public:
    explicit CountingArena(ArenaMemory& inner) : inner_(inner) {}
    uint64_t read64(PhysicalAddress address) const override { return inner_.read64(address); }
    void write64(PhysicalAddress address, uint64_t value) override {
        ++stores;
        inner_.write64(address, value);
    }
    void zero_page(PhysicalAddress page) override { inner_.zero_page(page); }
    Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override {
        return inner_.read_bytes(address, destination, length);
    }
    Status write_bytes(PhysicalAddress address, const void* source, size_t length) override {
        return inner_.write_bytes(address, source, length);
    }
    uint64_t stores = 0;

private:
    ArenaMemory& inner_;
};

// An IOMMU unit that only counts what it is asked to do.
class CountingUnit final : public paging::InvalidationUnit {
public:
    explicit CountingUnit(paging::InvalidationCapabilities capabilities) : capabilities_(capabilities) {}
    paging::InvalidationCapabilities invalidation_capabilities() const override { return capabilities_; }
    Status invalidate_pages(uint16_t, uint64_t, unsigned, bool) override {
        ++invalidations;
        return success();
    }
    Status invalidate_domain(uint16_t) override {
        ++invalidations;
        return success();
    }
    Status wait() override { return success(); }
    uint64_t invalidations = 0;

private:
    paging::InvalidationCapabilities capabilities_;
};

}  // namespace sluice::testing
