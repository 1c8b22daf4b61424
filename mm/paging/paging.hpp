// Vocabulary shared by every page-table format (VT-d second level, AMD-Vi v1,
// EPT, NPT), the walker, the batch and the identity-mapping API.
//
// Levels are numbered the way the AMD IOMMU specification numbers them and
// the way all four formats agree on: level 1 tables hold entries that map
// 4 KiB, level 2 entries span 2 MiB, level 3 entries 1 GiB, and so on, each
// level resolving 9 more address bits.
#pragma once

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::paging {

// The rights a mapping grants to DMA (IOMMU tables) or to the guest (p2m).
enum class Access : uint8_t {
    none = 0,
    read = 1,
    write = 2,
    read_write = 3,
};

[[nodiscard]] constexpr bool allows_read(Access access) { return (static_cast<uint8_t>(access) & 1) != 0; }
[[nodiscard]] constexpr bool allows_write(Access access) { return (static_cast<uint8_t>(access) & 2) != 0; }
// True when every right in `part` is also in `whole`.
[[nodiscard]] constexpr bool includes(Access whole, Access part) {
    return (static_cast<uint8_t>(part) & ~static_cast<uint8_t>(whole)) == 0;
}
[[nodiscard]] constexpr const char* describe(Access access) {
    switch (access) {
    case Access::none: return "none";
    case Access::read: return "read-only";
    case Access::write: return "write-only";
    case Access::read_write: return "read-write";
    }
    return "invalid";
}

inline constexpr unsigned bits_per_level = 9;
inline constexpr unsigned entries_per_table = 1u << bits_per_level;
inline constexpr unsigned entry_size = 8;
// AMD-Vi allows six levels; no other format needs more.
inline constexpr unsigned max_levels = 6;

// log2 of the bytes one entry at `level` spans.
[[nodiscard]] constexpr unsigned level_shift(unsigned level) { return page_shift + bits_per_level * (level - 1); }
// Bytes one entry at `level` spans; level 6 entries span 2^57 bytes.
[[nodiscard]] constexpr uint64_t level_span(unsigned level) { return uint64_t{1} << level_shift(level); }
// Index of the entry translating `address` in a table at `level`.
[[nodiscard]] constexpr unsigned table_index(uint64_t address, unsigned level) {
    const unsigned shift = level_shift(level);
    return shift >= 64 ? 0 : static_cast<unsigned>((address >> shift) & (entries_per_table - 1));
}
// Highest address an n-level table translates (inclusive, so 6 levels fit).
[[nodiscard]] constexpr uint64_t last_address_for_levels(unsigned levels) {
    const unsigned width = page_shift + bits_per_level * levels;
    return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}
// Highest address of an n-bit address space (inclusive).
[[nodiscard]] constexpr uint64_t last_address_for_width(unsigned width) {
    return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}

// log2(size / 4 KiB) of a leaf at `level`: 0 for 4 KiB, 9 for 2 MiB, 18 for 1 GiB.
[[nodiscard]] constexpr unsigned leaf_order(unsigned level) { return bits_per_level * (level - 1); }

}  // namespace sluice::paging
