// One IOMMU's Device Table in memory: 32-byte Device Table Entries indexed by
// device ID (bus << 8 | device << 3 | function), AMD IOMMU spec 2.2.2
// "Device Table" and 3.4.1 "Device Table Base Address Register".
//
// The table holds an entry for every device ID up to the highest one the
// IVRS names for the unit, rounded up to whole 4 KiB pages (128 entries
// each), which is the granularity of the base register's Size field. Entries
// are changed only through update(), which stores the 64-bit words in the
// order device_table.hpp explains; the caller then invalidates the entry.
#pragma once

#include <drivers/passthrough/amd/device_table.hpp>
#include <drivers/passthrough/amd/registers.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

class DeviceTable {
public:
    static constexpr uint32_t entries_per_page = static_cast<uint32_t>(page_size / device_table_entry_size);

    // Entries (whole pages) needed for device IDs 0..highest_device_id.
    [[nodiscard]] static constexpr uint32_t entries_for(uint16_t highest_device_id) {
        return static_cast<uint32_t>(align_up(uint64_t{highest_device_id} + 1, uint64_t{entries_per_page}));
    }
    [[nodiscard]] static constexpr uint64_t pages_for(uint32_t entries) {
        return align_up(uint64_t{entries} * device_table_entry_size, page_size) / page_size;
    }

    constexpr DeviceTable() = default;

    // base: pages_for(entries) contiguous pages, 4 KiB aligned (3.4.1).
    void bind(PhysicalMemory& memory, PhysicalAddress base, uint32_t entries);
    // Zeroes every entry: V = 0 everywhere.
    void clear();

    [[nodiscard]] PhysicalAddress base() const { return base_; }
    [[nodiscard]] uint32_t entries() const { return entries_; }
    [[nodiscard]] uint64_t pages() const { return pages_for(entries_); }
    [[nodiscard]] bool contains(uint16_t device_id) const { return device_id < entries_; }
    // The Device Table Base Address Register value for this table.
    [[nodiscard]] uint64_t base_register_value() const { return device_table_base_value(base_, entries_); }
    [[nodiscard]] PhysicalAddress entry_address(uint16_t device_id) const {
        return base_ + uint64_t{device_id} * device_table_entry_size;
    }

    [[nodiscard]] DeviceTableEntry read(uint16_t device_id) const;
    // Brings the entry to desired with plan_device_table_update()'s stores;
    // returns whether any word changed. device_id must be contained.
    bool update(uint16_t device_id, const DeviceTableEntry& desired);

private:
    PhysicalMemory* memory_ = nullptr;
    PhysicalAddress base_ = 0;
    uint32_t entries_ = 0;
};

}  // namespace sluice::amd
