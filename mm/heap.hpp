// A small fallible heap for the hypervisor's own objects (domains, IOMMU
// state, device records). First fit over an address-ordered free list with
// coalescing; every block carries a header so frees are checked: a double
// free or a pointer the heap never returned is refused, logged and counted.
//
// The heap owns no memory of its own. Regions are handed to it with
// add_region(), and when a HeapBacking is attached it asks for more on
// demand (in the image: pages from the page allocator, reached through the
// direct map).
#pragma once

#include <sluice/new.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice {

// Supplies memory when the heap runs out.
class HeapBacking {
public:
    struct Chunk {
        void* base = nullptr;
        size_t size = 0;
    };
    // At least minimum_size bytes, 16-byte aligned; may fail.
    [[nodiscard]] virtual Result<Chunk> obtain(size_t minimum_size) = 0;

protected:
    ~HeapBacking() = default;
};

struct HeapStatistics {
    size_t region_count = 0;
    size_t total_bytes = 0;         // all memory given to the heap
    size_t allocated_bytes = 0;     // in allocated blocks, headers included
    size_t allocated_blocks = 0;
    size_t free_blocks = 0;         // fragments on the free list
    size_t largest_free_block = 0;  // bytes, header included
    uint64_t allocations = 0;
    uint64_t frees = 0;
    uint64_t failed_allocations = 0;
    uint64_t rejected_frees = 0;
};

class Heap {
public:
    static constexpr size_t minimum_alignment = 16;
    static constexpr size_t region_capacity = 64;
    // Growth asks the backing for at least this much at a time.
    static constexpr size_t growth_granule = 64 * KiB;

    constexpr Heap() = default;
    Heap(const Heap&) = delete;
    Heap& operator=(const Heap&) = delete;

    // Optional: where more memory comes from when a request does not fit.
    void set_backing(HeapBacking* backing) { backing_ = backing; }

    // Gives [base, base + size) to the heap. The range is trimmed to 16-byte
    // alignment; Error::invalid_argument when too small to hold a block,
    // Error::capacity when region_capacity regions exist, Error::overlap when
    // it overlaps a region the heap already has.
    [[nodiscard]] Status add_region(void* base, size_t size);

    // size bytes aligned to alignment (a power of two; at least 16 is used).
    // Error::invalid_argument for size 0 or a bad alignment,
    // Error::out_of_memory when nothing fits and the backing can't help.
    [[nodiscard]] Result<void*> allocate(size_t size, size_t alignment = minimum_alignment);

    // Returns a block from allocate(); nullptr is ignored. Anything else is
    // refused with a warning: the heap's state is never corrupted by a bad free.
    void free(void* pointer);

    // Constructs a T in heap memory.
    template <typename T, typename... Arguments> [[nodiscard]] Result<T*> create(Arguments&&... arguments) {
        void* memory = SLUICE_TRY(allocate(sizeof(T), alignof(T)));
        return new (memory) T(sluice::forward<Arguments>(arguments)...);
    }
    template <typename T> void destroy(T* object) {
        if (object == nullptr) return;
        object->~T();
        free(object);
    }

    // True when pointer lies inside memory given to the heap.
    [[nodiscard]] bool owns(const void* pointer) const;
    // Bytes usable at an allocated pointer (at least what was asked), 0 if
    // pointer is not an allocated block.
    [[nodiscard]] size_t usable_size(const void* pointer) const;

    // Walks every region and checks that the blocks tile it exactly and the
    // free list is ordered and coalesced. For tests and debugging.
    [[nodiscard]] bool check_consistency() const;

    [[nodiscard]] HeapStatistics statistics() const;

private:
    struct Block;
    struct Region {
        uintptr_t base = 0;
        size_t size = 0;
    };

    [[nodiscard]] Result<void*> allocate_from_free_list(size_t size, size_t alignment);
    [[nodiscard]] bool grow(size_t size, size_t alignment);
    void insert_free(Block* block);
    [[nodiscard]] Block* allocated_block(const void* pointer) const;

    Block* free_list_ = nullptr;
    HeapBacking* backing_ = nullptr;
    Region regions_[region_capacity] = {};
    size_t region_count_ = 0;
    size_t allocated_bytes_ = 0;
    size_t allocated_blocks_ = 0;
    uint64_t allocations_ = 0;
    uint64_t frees_ = 0;
    uint64_t failed_allocations_ = 0;
    uint64_t rejected_frees_ = 0;
};

}  // namespace sluice
