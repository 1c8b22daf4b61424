// The machine's physical memory map in e820 terms, as the boot loader (the
// multiboot2 mmap tag or the PVH memory map) described it.
#pragma once

#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice {

// Values are the ACPI address range types (ACPI 6.5 section 15.3, "E820").
enum class MemoryType : uint32_t {
    ram = 1,
    reserved = 2,
    acpi_reclaimable = 3,
    acpi_nvs = 4,
    unusable = 5,
    disabled = 6,
    persistent = 7,
};

const char* describe(MemoryType type);

struct MemoryRegion {
    PhysicalAddress base = 0;
    uint64_t length = 0;
    MemoryType type = MemoryType::reserved;

    // One past the last byte; regions never wrap (add() refuses those).
    [[nodiscard]] constexpr PhysicalAddress end() const { return base + length; }
    [[nodiscard]] constexpr bool contains(PhysicalAddress address) const { return address >= base && address < end(); }
};

// A fixed-capacity map: no allocation, usable before the page allocator exists.
class MemoryMap {
public:
    static constexpr size_t capacity = 256;

    // Appends a region. Zero-length and wrapping regions are refused with
    // Error::invalid_argument, a full map with Error::capacity.
    [[nodiscard]] Status add(PhysicalAddress base, uint64_t length, MemoryType type);

    // Sorts by base, resolves overlaps (the more restrictive type wins:
    // unusable > reserved > ACPI NVS > ACPI reclaimable > RAM) and merges
    // touching regions of the same type. Firmware maps overlap in practice.
    void sanitize();

    // The type at an address; gaps (holes) have no region.
    [[nodiscard]] const MemoryRegion* find(PhysicalAddress address) const;

    // True when every byte of [base, base + length) is of the given type.
    [[nodiscard]] bool covers(PhysicalAddress base, uint64_t length, MemoryType type) const;

    [[nodiscard]] Span<const MemoryRegion> regions() const { return Span<const MemoryRegion>(regions_, count_); }
    [[nodiscard]] size_t size() const { return count_; }
    [[nodiscard]] uint64_t total(MemoryType type) const;
    // One past the highest byte of any region (0 for an empty map).
    [[nodiscard]] PhysicalAddress highest_address() const;

private:
    MemoryRegion regions_[capacity];
    size_t count_ = 0;
};

}  // namespace sluice
