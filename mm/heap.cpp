#include "mm/heap.hpp"

#include <sluice/log.hpp>

namespace sluice {
namespace {

constexpr Logger logger{"heap"};

constexpr uint32_t allocated_magic = 0x416c6f63;  // "Aloc"
constexpr uint32_t free_magic = 0x46726565;       // "Free"

}  // namespace

// Every block, free or allocated, starts with this header; the payload of an
// allocated block follows it, so payloads are 16-byte aligned.
struct Heap::Block {
    size_t size;  // the whole block, header included; a multiple of 16
    uint32_t magic;
    uint32_t reserved;
    Block* next;  // free blocks only: the next free block by address

    [[nodiscard]] uintptr_t address() const { return reinterpret_cast<uintptr_t>(this); }
    [[nodiscard]] uintptr_t end() const { return address() + size; }
};

namespace {
constexpr size_t header_size = 16;
constexpr size_t minimum_block_size = 32;  // a header and the free-list link
}  // namespace

Status Heap::add_region(void* base, size_t size) {
    static_assert(__builtin_offsetof(Block, next) == header_size, "the free-list link follows the header");
    const uintptr_t raw = reinterpret_cast<uintptr_t>(base);
    if (raw + size < raw) return Error::invalid_argument;
    const uintptr_t start = align_up(raw, minimum_alignment);
    const uintptr_t end = align_down(raw + size, minimum_alignment);
    if (start >= end || end - start < minimum_block_size) return Error::invalid_argument;
    for (size_t index = 0; index < region_count_; ++index) {
        const Region& region = regions_[index];
        if (start < region.base + region.size && region.base < end) return Error::overlap;
    }
    if (region_count_ == region_capacity) return Error::capacity;
    regions_[region_count_++] = Region{start, end - start};

    Block* block = reinterpret_cast<Block*>(start);
    block->size = end - start;
    block->magic = free_magic;
    block->reserved = 0;
    block->next = nullptr;
    insert_free(block);
    return success();
}

void Heap::insert_free(Block* block) {
    const auto same_region = [this](uintptr_t first, uintptr_t second) {
        for (size_t index = 0; index < region_count_; ++index) {
            const Region& region = regions_[index];
            const bool holds_first = first >= region.base && first < region.base + region.size;
            const bool holds_second = second >= region.base && second < region.base + region.size;
            if (holds_first || holds_second) return holds_first && holds_second;
        }
        return false;
    };

    block->magic = free_magic;
    Block* previous = nullptr;
    Block* next = free_list_;
    while (next != nullptr && next->address() < block->address()) {
        previous = next;
        next = next->next;
    }
    // Merge with the free neighbour below, then with the one above, but
    // never across regions: each region stays an exact tiling of blocks.
    if (previous != nullptr && previous->end() == block->address() && same_region(previous->address(), block->address())) {
        previous->size += block->size;
        block = previous;
    } else {
        block->next = next;
        if (previous != nullptr) previous->next = block;
        else free_list_ = block;
    }
    if (next != nullptr && block->end() == next->address() && same_region(block->address(), next->address())) {
        block->size += next->size;
        block->next = next->next;
    }
}

Result<void*> Heap::allocate_from_free_list(size_t size, size_t alignment) {
    const size_t payload = align_up(size, minimum_alignment);
    Block* previous = nullptr;
    for (Block* block = free_list_; block != nullptr; previous = block, block = block->next) {
        // The payload must be aligned, and a gap in front of it must be big
        // enough to stay a free block of its own.
        uintptr_t payload_start = align_up(block->address() + header_size, alignment);
        while (payload_start - header_size != block->address() &&
               payload_start - header_size - block->address() < minimum_block_size)
            payload_start += alignment;
        const uintptr_t payload_end = payload_start + payload;
        if (payload_end < payload_start || payload_end > block->end()) continue;

        const uintptr_t block_end = block->end();
        const uintptr_t allocated_start = payload_start - header_size;
        // Unlink, then give back the gap in front and a large enough tail.
        if (previous != nullptr) previous->next = block->next;
        else free_list_ = block->next;

        if (allocated_start != block->address()) {
            block->size = allocated_start - block->address();
            insert_free(block);
        }
        uintptr_t allocated_end = payload_end;
        if (block_end - payload_end >= minimum_block_size) {
            Block* tail = reinterpret_cast<Block*>(payload_end);
            tail->size = block_end - payload_end;
            tail->reserved = 0;
            insert_free(tail);
        } else {
            allocated_end = block_end;  // too small to keep: the allocation absorbs it
        }
        Block* allocated = reinterpret_cast<Block*>(allocated_start);
        allocated->size = allocated_end - allocated_start;
        allocated->magic = allocated_magic;
        allocated->reserved = 0;
        allocated_bytes_ += allocated->size;
        ++allocated_blocks_;
        ++allocations_;
        return reinterpret_cast<void*>(payload_start);
    }
    return Error::out_of_memory;
}

bool Heap::grow(size_t size, size_t alignment) {
    if (backing_ == nullptr) return false;
    size_t request = size + alignment + minimum_block_size + header_size;
    if (request < size) return false;
    request = max(align_up(request, minimum_alignment), growth_granule);
    Result<HeapBacking::Chunk> chunk = backing_->obtain(request);
    if (!chunk.ok()) return false;
    const Status added = add_region(chunk.value().base, chunk.value().size);
    if (!added.ok()) {
        logger.warning("memory from the backing at %p (%zu bytes) refused: %s", chunk.value().base,
                       chunk.value().size, describe(added.error()));
        return false;
    }
    return true;
}

Result<void*> Heap::allocate(size_t size, size_t alignment) {
    if (size == 0 || !is_power_of_two(alignment)) return Error::invalid_argument;
    alignment = max(alignment, minimum_alignment);
    // Keeps every address computation below from wrapping.
    if (size > (~size_t{0} >> 2) || alignment > (~size_t{0} >> 2)) {
        ++failed_allocations_;
        return Error::out_of_memory;
    }
    Result<void*> result = allocate_from_free_list(size, alignment);
    if (result.ok()) return result;
    if (grow(size, alignment)) {
        Result<void*> retried = allocate_from_free_list(size, alignment);
        if (retried.ok()) return retried;
    }
    ++failed_allocations_;
    return Error::out_of_memory;
}

bool Heap::owns(const void* pointer) const {
    const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
    for (size_t index = 0; index < region_count_; ++index)
        if (address >= regions_[index].base && address - regions_[index].base < regions_[index].size) return true;
    return false;
}

Heap::Block* Heap::allocated_block(const void* pointer) const {
    const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
    if (!is_aligned(address, minimum_alignment) || address < header_size) return nullptr;
    const uintptr_t header = address - header_size;
    const Region* region = nullptr;
    for (size_t index = 0; index < region_count_; ++index)
        if (header >= regions_[index].base && header - regions_[index].base < regions_[index].size)
            region = &regions_[index];
    if (region == nullptr) return nullptr;
    // Inside a free block: freed already (its header may be stale data).
    for (const Block* block = free_list_; block != nullptr; block = block->next)
        if (header >= block->address() && header < block->end()) return nullptr;
    Block* block = reinterpret_cast<Block*>(header);
    if (block->magic != allocated_magic || block->size < minimum_block_size || !is_aligned(block->size, minimum_alignment) ||
        block->size > region->base + region->size - header)
        return nullptr;
    return block;
}

void Heap::free(void* pointer) {
    if (pointer == nullptr) return;
    Block* block = allocated_block(pointer);
    if (block == nullptr) {
        const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
        bool freed_already = false;
        for (const Block* free_block = free_list_; free_block != nullptr; free_block = free_block->next)
            if (address - header_size >= free_block->address() && address - header_size < free_block->end())
                freed_already = true;
        logger.warning("free of %p refused: %s", pointer,
                       !owns(pointer)    ? "not heap memory"
                       : freed_already   ? "already free (double free)"
                                         : "not the start of an allocated block");
        ++rejected_frees_;
        return;
    }
    allocated_bytes_ -= block->size;
    --allocated_blocks_;
    ++frees_;
    insert_free(block);
}

size_t Heap::usable_size(const void* pointer) const {
    const Block* block = allocated_block(pointer);
    return block == nullptr ? 0 : block->size - header_size;
}

bool Heap::check_consistency() const {
    size_t free_bytes_in_regions = 0;
    size_t allocated_bytes = 0;
    for (size_t index = 0; index < region_count_; ++index) {
        const Region& region = regions_[index];
        uintptr_t cursor = region.base;
        bool previous_free = false;
        while (cursor < region.base + region.size) {
            const Block* block = reinterpret_cast<const Block*>(cursor);
            if (block->size < minimum_block_size || !is_aligned(block->size, minimum_alignment) ||
                block->size > region.base + region.size - cursor)
                return false;
            if (block->magic == free_magic) {
                if (previous_free) return false;  // two touching free blocks: missed coalescing
                free_bytes_in_regions += block->size;
                previous_free = true;
            } else if (block->magic == allocated_magic) {
                allocated_bytes += block->size;
                previous_free = false;
            } else {
                return false;
            }
            cursor += block->size;
        }
    }
    size_t free_bytes_in_list = 0;
    uintptr_t last = 0;
    for (const Block* block = free_list_; block != nullptr; block = block->next) {
        if (block->magic != free_magic || block->address() <= last) return false;
        last = block->address();
        free_bytes_in_list += block->size;
    }
    return free_bytes_in_list == free_bytes_in_regions && allocated_bytes == allocated_bytes_;
}

HeapStatistics Heap::statistics() const {
    HeapStatistics statistics;
    statistics.region_count = region_count_;
    for (size_t index = 0; index < region_count_; ++index) statistics.total_bytes += regions_[index].size;
    statistics.allocated_bytes = allocated_bytes_;
    statistics.allocated_blocks = allocated_blocks_;
    for (const Block* block = free_list_; block != nullptr; block = block->next) {
        ++statistics.free_blocks;
        statistics.largest_free_block = max(statistics.largest_free_block, block->size);
    }
    statistics.allocations = allocations_;
    statistics.frees = frees_;
    statistics.failed_allocations = failed_allocations_;
    statistics.rejected_frees = rejected_frees_;
    return statistics;
}

}  // namespace sluice
