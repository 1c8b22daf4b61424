// A simulated machine for host tests: physical memory as one contiguous
// arena at a chosen base address, and a page allocator over that arena that
// counts live pages and can be told to fail the N-th allocation.
#pragma once

#include <sluice/physical_memory.hpp>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace sluice::testing {

class SimulatedMemory final : public PhysicalMemory {
public:
    SimulatedMemory(PhysicalAddress base, uint64_t size) : base_(base), bytes_(size, 0) {}

    [[nodiscard]] uint64_t read64(PhysicalAddress address) const override {
        uint64_t value;
        std::memcpy(&value, locate(address, sizeof value), sizeof value);
        return value;
    }
    void write64(PhysicalAddress address, uint64_t value) override {
        std::memcpy(locate(address, sizeof value), &value, sizeof value);
    }
    void zero_page(PhysicalAddress page) override { std::memset(locate(page, page_size), 0, page_size); }
    [[nodiscard]] Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override {
        if (!contains(address, length)) return Error::out_of_range;
        std::memcpy(destination, bytes_.data() + (address - base_), length);
        return success();
    }
    [[nodiscard]] Status write_bytes(PhysicalAddress address, const void* source, size_t length) override {
        if (!contains(address, length)) return Error::out_of_range;
        std::memcpy(bytes_.data() + (address - base_), source, length);
        return success();
    }

    [[nodiscard]] bool contains(PhysicalAddress address, uint64_t length) const {
        return address >= base_ && length <= bytes_.size() && address - base_ <= bytes_.size() - length;
    }
    [[nodiscard]] PhysicalAddress base() const { return base_; }
    [[nodiscard]] uint64_t size() const { return bytes_.size(); }
    // Direct access for tests that lay out tables by hand.
    [[nodiscard]] uint8_t* pointer(PhysicalAddress address, uint64_t length = 1) { return locate(address, length); }

private:
    // An access outside the arena is a bug in the code under test: fail loudly.
    uint8_t* locate(PhysicalAddress address, uint64_t length) const {
        if (!contains(address, length)) throw std::out_of_range("simulated memory: access outside the arena");
        return const_cast<uint8_t*>(bytes_.data()) + (address - base_);
    }

    PhysicalAddress base_;
    std::vector<uint8_t> bytes_;
};

// Pages come from [first, first + count * page_size) of a SimulatedMemory.
class SimulatedPageAllocator final : public PageAllocator {
public:
    SimulatedPageAllocator(SimulatedMemory& memory, PhysicalAddress first, uint64_t count)
        : memory_(memory), first_(first), in_use_(count, false) {
        free_list_.reserve(count);
        for (uint64_t index = count; index > 0; --index) free_list_.push_back(first + (index - 1) * page_size);
    }

    [[nodiscard]] Result<PhysicalAddress> allocate_page() override {
        ++allocation_attempts_;
        if (fail_at_ != 0 && allocation_attempts_ == fail_at_) return Error::out_of_memory;
        if (free_list_.empty()) return Error::out_of_memory;
        const PhysicalAddress page = free_list_.back();
        free_list_.pop_back();
        in_use_[index_of(page)] = true;
        // Fill with garbage: code under test must initialise what it allocates.
        std::memset(memory_.pointer(page, page_size), 0xa5, page_size);
        ++live_pages_;
        return page;
    }
    // The lowest free run that fits; counts as one allocation attempt, so
    // fail_allocation() can make it fail too.
    [[nodiscard]] Result<PhysicalAddress> allocate_contiguous(uint64_t count, uint64_t alignment,
                                                              PhysicalAddress limit) override {
        ++allocation_attempts_;
        if (count == 0 || alignment < page_size || (alignment & (alignment - 1)) != 0) return Error::invalid_argument;
        if (fail_at_ != 0 && allocation_attempts_ == fail_at_) return Error::out_of_memory;
        for (uint64_t first = 0; first + count <= in_use_.size(); ++first) {
            const PhysicalAddress base = first_ + first * page_size;
            if (base % alignment != 0) continue;
            if (base + count * page_size - 1 >= limit) break;
            bool free = true;
            for (uint64_t index = first; index < first + count && free; ++index) free = !in_use_[index];
            if (!free) continue;
            for (uint64_t index = first; index < first + count; ++index) {
                in_use_[index] = true;
                std::memset(memory_.pointer(first_ + index * page_size, page_size), 0xa5, page_size);
            }
            std::erase_if(free_list_, [&](PhysicalAddress page) { return page >= base && page < base + count * page_size; });
            live_pages_ += count;
            return base;
        }
        return Error::out_of_memory;
    }
    void free_page(PhysicalAddress page) override {
        const uint64_t index = index_of(page);
        if (!in_use_[index]) throw std::logic_error("simulated allocator: page freed twice or never allocated");
        in_use_[index] = false;
        free_list_.push_back(page);
        --live_pages_;
    }

    // The attempt number (1-based, counted from now on) that fails; 0 never fails.
    void fail_allocation(uint64_t attempt) {
        allocation_attempts_ = 0;
        fail_at_ = attempt;
    }
    [[nodiscard]] uint64_t live_pages() const { return live_pages_; }
    [[nodiscard]] uint64_t allocation_attempts() const { return allocation_attempts_; }
    [[nodiscard]] bool is_allocated(PhysicalAddress page) const { return in_use_[index_of(page)]; }

private:
    uint64_t index_of(PhysicalAddress page) const {
        if (page < first_ || (page - first_) % page_size != 0 || (page - first_) / page_size >= in_use_.size())
            throw std::logic_error("simulated allocator: not one of its pages");
        return (page - first_) / page_size;
    }

    SimulatedMemory& memory_;
    PhysicalAddress first_;
    std::vector<bool> in_use_;
    std::vector<PhysicalAddress> free_list_;
    uint64_t live_pages_ = 0;
    uint64_t allocation_attempts_ = 0;
    uint64_t fail_at_ = 0;
};

}  // namespace sluice::testing
