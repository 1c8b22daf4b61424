// The kernel heap over caller-provided memory: alignment, exhaustion,
// coalescing, refused frees, growth through a backing, and a randomized run
// against a model with a consistency check after every step.
#include <gtest/gtest.h>

#include "mm/heap.hpp"
#include "support/log_capture.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using sluice::Error;
using sluice::Heap;
using sluice::testing::LogCapture;

// 16-byte aligned memory owned by the test.
struct Arena {
    explicit Arena(size_t size) : storage(new (std::align_val_t{4096}) uint8_t[size]), size(size) {}
    ~Arena() { operator delete[](storage, std::align_val_t{4096}); }
    uint8_t* storage;
    size_t size;
};

bool inside(const Arena& arena, const void* pointer, size_t length) {
    const auto* bytes = static_cast<const uint8_t*>(pointer);
    return bytes >= arena.storage && bytes + length <= arena.storage + arena.size;
}

TEST(Heap, AllocationsAreAlignedDisjointAndInsideTheRegion) {
    Arena arena(64 * 1024);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    std::vector<std::pair<uint8_t*, size_t>> blocks;
    const size_t sizes[] = {1, 15, 16, 17, 100, 4000, 33};
    const size_t alignments[] = {1, 8, 16, 32, 64, 256, 4096};
    for (size_t index = 0; index < 7; ++index) {
        const sluice::Result<void*> block = heap.allocate(sizes[index], alignments[index]);
        ASSERT_TRUE(block.ok()) << index;
        auto* bytes = static_cast<uint8_t*>(block.value());
        EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes) % std::max<size_t>(alignments[index], 16), 0u) << index;
        EXPECT_TRUE(inside(arena, bytes, sizes[index]));
        EXPECT_GE(heap.usable_size(bytes), sizes[index]);
        std::memset(bytes, static_cast<int>(index + 1), sizes[index]);
        blocks.push_back({bytes, sizes[index]});
        ASSERT_TRUE(heap.check_consistency());
    }
    // No block overwrote another.
    for (size_t index = 0; index < blocks.size(); ++index)
        for (size_t offset = 0; offset < blocks[index].second; ++offset)
            ASSERT_EQ(blocks[index].first[offset], index + 1);
    for (auto& [pointer, size] : blocks) heap.free(pointer);
    EXPECT_TRUE(heap.check_consistency());
    const sluice::HeapStatistics statistics = heap.statistics();
    EXPECT_EQ(statistics.allocated_bytes, 0u);
    EXPECT_EQ(statistics.free_blocks, 1u);  // everything coalesced back
    EXPECT_EQ(statistics.largest_free_block, arena.size);
}

TEST(Heap, ExhaustionFailsCleanlyAndMemoryComesBack) {
    Arena arena(16 * 1024);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    std::vector<void*> blocks;
    for (;;) {
        sluice::Result<void*> block = heap.allocate(100);
        if (!block.ok()) {
            EXPECT_EQ(block.error(), Error::out_of_memory);
            break;
        }
        blocks.push_back(block.value());
    }
    EXPECT_GE(blocks.size(), 16 * 1024 / 128 - 1);
    EXPECT_EQ(heap.statistics().failed_allocations, 1u);
    EXPECT_FALSE(heap.allocate(16 * 1024).ok());
    for (void* block : blocks) heap.free(block);
    EXPECT_TRUE(heap.check_consistency());
    const sluice::Result<void*> whole = heap.allocate(16 * 1024 - 16);  // all of it minus one header
    EXPECT_TRUE(whole.ok());
}

TEST(Heap, InvalidRequests) {
    Arena arena(4096);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    EXPECT_EQ(heap.allocate(0).error(), Error::invalid_argument);
    EXPECT_EQ(heap.allocate(16, 24).error(), Error::invalid_argument);
    EXPECT_EQ(heap.allocate(~size_t{0}).error(), Error::out_of_memory);
    EXPECT_EQ(heap.allocate(~size_t{0} - 4096, 4096).error(), Error::out_of_memory);
    EXPECT_EQ(heap.add_region(arena.storage + 64, 512).error(), Error::overlap);
    uint8_t tiny[48];
    EXPECT_EQ(heap.add_region(tiny + 1, 20).error(), Error::invalid_argument);
    EXPECT_TRUE(heap.check_consistency());
}

TEST(Heap, RefusesDoubleFreesAndForeignPointers) {
    Arena arena(8192);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    LogCapture log;
    void* first = heap.allocate(64).value();
    void* second = heap.allocate(64).value();
    void* third = heap.allocate(64).value();
    heap.free(second);
    heap.free(second);  // double free, its block is on the free list
    heap.free(first);
    heap.free(first);   // double free after coalescing with second
    int on_stack = 0;
    heap.free(&on_stack);
    heap.free(static_cast<uint8_t*>(third) + 16);  // inside an allocated block
    heap.free(nullptr);                            // allowed, ignored
    EXPECT_EQ(heap.statistics().rejected_frees, 4u);
    EXPECT_EQ(heap.statistics().frees, 2u);
    EXPECT_TRUE(log.contains("already free (double free)"));
    EXPECT_TRUE(log.contains("not heap memory"));
    EXPECT_TRUE(log.contains("not the start of an allocated block"));
    EXPECT_TRUE(heap.check_consistency());
    // The surviving block is intact and still freeable.
    EXPECT_EQ(heap.usable_size(third), 64u);
    heap.free(third);
    EXPECT_EQ(heap.statistics().allocated_bytes, 0u);
}

TEST(Heap, FragmentationAndCoalescing) {
    Arena arena(32 * 1024);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    std::vector<void*> blocks;
    // 128 blocks of 256 bytes (240 + the header) fill the 32 KiB exactly.
    for (int index = 0; index < 128; ++index) blocks.push_back(heap.allocate(240).value());
    EXPECT_FALSE(heap.allocate(16).ok());
    // Free every other block: 16 KiB free, but in 256-byte pieces.
    for (size_t index = 0; index < blocks.size(); index += 2) heap.free(blocks[index]);
    EXPECT_TRUE(heap.check_consistency());
    EXPECT_FALSE(heap.allocate(1000).ok());
    EXPECT_EQ(heap.statistics().free_blocks, 64u);
    EXPECT_EQ(heap.statistics().largest_free_block, 256u);
    // Freeing the blocks in between merges the first 33 into one.
    for (size_t index = 1; index < 32; index += 2) heap.free(blocks[index]);
    EXPECT_TRUE(heap.check_consistency());
    EXPECT_EQ(heap.statistics().largest_free_block, 33u * 256);
    const sluice::Result<void*> merged = heap.allocate(7 * 1024);
    ASSERT_TRUE(merged.ok());
    EXPECT_EQ(merged.value(), blocks[0]);
}

TEST(Heap, SeparateRegionsNeverMerge) {
    Arena arena(8192);
    Heap heap;
    // Two touching regions: blocks must stay within their own region.
    ASSERT_TRUE(heap.add_region(arena.storage, 4096).ok());
    ASSERT_TRUE(heap.add_region(arena.storage + 4096, 4096).ok());
    EXPECT_EQ(heap.statistics().free_blocks, 2u);
    EXPECT_FALSE(heap.allocate(5000).ok());
    EXPECT_TRUE(heap.allocate(4000).ok());
    EXPECT_TRUE(heap.check_consistency());
}

class VectorBacking final : public sluice::HeapBacking {
public:
    sluice::Result<Chunk> obtain(size_t minimum_size) override {
        requests.push_back(minimum_size);
        if (refuse) return Error::out_of_memory;
        arenas.push_back(std::make_unique<Arena>(minimum_size));
        return Chunk{arenas.back()->storage, minimum_size};
    }
    bool refuse = false;
    std::vector<size_t> requests;
    std::vector<std::unique_ptr<Arena>> arenas;
};

TEST(Heap, GrowsThroughItsBacking) {
    Heap heap;
    VectorBacking backing;
    EXPECT_FALSE(heap.allocate(64).ok());  // no memory, no backing
    heap.set_backing(&backing);
    void* small = heap.allocate(64).value();
    ASSERT_EQ(backing.requests.size(), 1u);
    EXPECT_EQ(backing.requests[0], Heap::growth_granule);
    void* big = heap.allocate(200 * 1024, 4096).value();
    ASSERT_EQ(backing.requests.size(), 2u);
    EXPECT_GE(backing.requests[1], 200u * 1024);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 4096, 0u);
    EXPECT_TRUE(heap.owns(small) && heap.owns(big));
    backing.refuse = true;
    EXPECT_EQ(heap.allocate(1024 * 1024).error(), Error::out_of_memory);
    EXPECT_TRUE(heap.check_consistency());
    EXPECT_EQ(heap.statistics().region_count, 2u);
}

struct Device {
    Device(int bus, int function) : bus(bus), function(function) {}
    ~Device() { ++destroyed; }
    int bus;
    int function;
    alignas(64) uint8_t registers[64] = {};
    static inline int destroyed = 0;
};

TEST(Heap, CreatesAndDestroysObjects) {
    Arena arena(4096);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    sluice::Result<Device*> device = heap.create<Device>(3, 1);
    ASSERT_TRUE(device.ok());
    EXPECT_EQ(device.value()->bus, 3);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(device.value()) % alignof(Device), 0u);
    heap.destroy(device.value());
    EXPECT_EQ(Device::destroyed, 1);
    EXPECT_EQ(heap.statistics().allocated_bytes, 0u);
}

TEST(Heap, RandomizedAgainstAModel) {
    Arena arena(256 * 1024);
    Heap heap;
    ASSERT_TRUE(heap.add_region(arena.storage, arena.size).ok());
    const char* seed_text = std::getenv("SLUICE_TEST_SEED");
    const uint32_t seed = seed_text ? static_cast<uint32_t>(std::strtoul(seed_text, nullptr, 0)) : 99u;
    std::mt19937 random(seed);
    std::map<uint8_t*, std::pair<size_t, uint8_t>> live;  // pointer -> size, fill byte
    for (int step = 0; step < 5000; ++step) {
        if (live.empty() || random() % 3 != 0) {
            const size_t size = 1 + random() % (random() % 8 == 0 ? 8192 : 256);
            const size_t alignment = size_t{1} << (random() % 10);
            const sluice::Result<void*> block = heap.allocate(size, alignment);
            if (!block.ok()) continue;
            auto* bytes = static_cast<uint8_t*>(block.value());
            ASSERT_EQ(reinterpret_cast<uintptr_t>(bytes) % std::max<size_t>(alignment, 16), 0u) << "seed " << seed;
            ASSERT_TRUE(inside(arena, bytes, size)) << "seed " << seed;
            const uint8_t fill = static_cast<uint8_t>(random());
            std::memset(bytes, fill, size);
            live[bytes] = {size, fill};
        } else {
            auto victim = live.begin();
            std::advance(victim, random() % live.size());
            for (size_t offset = 0; offset < victim->second.first; ++offset)
                ASSERT_EQ(victim->first[offset], victim->second.second) << "seed " << seed << " step " << step;
            heap.free(victim->first);
            live.erase(victim);
        }
        ASSERT_TRUE(heap.check_consistency()) << "seed " << seed << " step " << step;
    }
    EXPECT_EQ(heap.statistics().allocated_blocks, live.size());
    EXPECT_EQ(heap.statistics().rejected_frees, 0u);
}

}  // namespace
