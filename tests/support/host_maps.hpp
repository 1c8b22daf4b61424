// Host memory maps for benchmarks and tests: a server's firmware layout below
// 4 GiB and sockets of RAM above it, large enough (512 GiB, 4 TiB) that any
// per-page work in the hardware-domain set-up would show.
#pragma once

#include <mm/range_set.hpp>

#include <sluice/memory_map.hpp>

#include <cstdlib>
#include <vector>

namespace sluice::testing {

struct Region {
    PhysicalAddress start;
    PhysicalAddress end;
    MemoryType type;
};

inline void add_regions(MemoryMap& map, const std::vector<Region>& regions) {
    for (const Region& region : regions)
        if (!map.add(region.start, region.end - region.start, region.type).ok()) std::abort();
}

// Below 4 GiB as on a two-socket server: firmware holes, ACPI tables, a
// reserved block (where RMRRs live), ECAM, the MMIO hole, platform devices.
inline const std::vector<Region> low_memory = {
    {0x0, 0x9a000, MemoryType::ram},
    {0x9a000, 0xa0000, MemoryType::reserved},
    {0xe0000, 0x100000, MemoryType::reserved},
    {0x100000, 0x6a5ff000, MemoryType::ram},
    {0x6a5ff000, 0x6f5ff000, MemoryType::reserved},
    {0x6f5ff000, 0x6f7ff000, MemoryType::acpi_reclaimable},
    {0x6f7ff000, 0x6fbff000, MemoryType::acpi_nvs},
    {0x6fbff000, 0x6fc00000, MemoryType::ram},
    {0x6fc00000, 0x90000000, MemoryType::reserved},
    {0xfd000000, 0xfe800000, MemoryType::reserved},
    {0xfec00000, 0xfec01000, MemoryType::reserved},
    {0xfed00000, 0xfed01000, MemoryType::reserved},
    {0xfed20000, 0xfed45000, MemoryType::reserved},
    {0xfee00000, 0xfee01000, MemoryType::reserved},
    {0xff000000, 0x100000000, MemoryType::reserved},
};

// sockets x socket_size of RAM above 4 GiB, each socket ending in a 16 MiB
// firmware block, 1 GiB holes between sockets, and 1 MiB of bad memory in
// each socket.
inline MemoryMap host_map(int sockets, uint64_t socket_size) {
    MemoryMap map;
    add_regions(map, low_memory);
    PhysicalAddress base = 0x100000000;
    for (int socket = 0; socket < sockets; ++socket) {
        const PhysicalAddress end = base + socket_size;
        const PhysicalAddress bad = base + socket_size / 2;
        add_regions(map, {{base, bad, MemoryType::ram},
                          {bad, bad + MiB, MemoryType::unusable},
                          {bad + MiB, end - 16 * MiB, MemoryType::ram},
                          {end - 16 * MiB, end, MemoryType::reserved}});
        base = end + GiB;
    }
    map.sanitize();
    return map;
}

// The fewest 4 KiB / 2 MiB / 1 GiB leaves covering range, each naturally aligned.
inline uint64_t leaf_entries(passthrough::AddressRange range) {
    uint64_t entries = 0;
    PhysicalAddress cursor = range.start;
    while (cursor < range.end) {
        uint64_t size = sluice::page_size;
        for (const uint64_t larger : {2 * MiB, GiB})
            if (cursor % larger == 0 && range.end - cursor >= larger) size = larger;
        cursor += size;
        ++entries;
    }
    return entries;
}

}  // namespace sluice::testing
