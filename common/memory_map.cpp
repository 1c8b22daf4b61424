#include <sluice/memory_map.hpp>

namespace sluice {
namespace {

// Higher wins when regions overlap: never hand out memory that any
// description calls unusable or reserved.
int restrictiveness(MemoryType type) {
    switch (type) {
    case MemoryType::ram: return 0;
    case MemoryType::acpi_reclaimable: return 1;
    case MemoryType::persistent: return 2;
    case MemoryType::acpi_nvs: return 3;
    case MemoryType::reserved: return 4;
    case MemoryType::disabled: return 5;
    case MemoryType::unusable: return 6;
    }
    return 4;  // an unknown type is treated as reserved
}

void insertion_sort(PhysicalAddress* values, size_t count) {
    for (size_t index = 1; index < count; ++index) {
        const PhysicalAddress value = values[index];
        size_t position = index;
        while (position > 0 && values[position - 1] > value) {
            values[position] = values[position - 1];
            --position;
        }
        values[position] = value;
    }
}

}  // namespace

const char* describe(MemoryType type) {
    switch (type) {
    case MemoryType::ram: return "RAM";
    case MemoryType::reserved: return "reserved";
    case MemoryType::acpi_reclaimable: return "ACPI data";
    case MemoryType::acpi_nvs: return "ACPI NVS";
    case MemoryType::unusable: return "unusable";
    case MemoryType::disabled: return "disabled";
    case MemoryType::persistent: return "persistent";
    }
    return "unknown";
}

Status MemoryMap::add(PhysicalAddress base, uint64_t length, MemoryType type) {
    if (length == 0 || base + length < base) return Error::invalid_argument;
    if (count_ == capacity) return Error::capacity;
    regions_[count_++] = MemoryRegion{base, length, type};
    return success();
}

void MemoryMap::sanitize() {
    // Cut the address space at every region boundary; each elementary
    // interval takes the most restrictive type of the regions covering it.
    static_assert(capacity <= 256, "the quadratic pass below assumes a small map");
    PhysicalAddress boundaries[2 * capacity];
    size_t boundary_count = 0;
    for (size_t index = 0; index < count_; ++index) {
        boundaries[boundary_count++] = regions_[index].base;
        boundaries[boundary_count++] = regions_[index].end();
    }
    insertion_sort(boundaries, boundary_count);

    MemoryRegion result[capacity];
    size_t result_count = 0;
    for (size_t index = 0; index + 1 < boundary_count; ++index) {
        const PhysicalAddress start = boundaries[index];
        const PhysicalAddress end = boundaries[index + 1];
        if (start == end) continue;
        int best = -1;
        MemoryType type = MemoryType::reserved;
        for (size_t region = 0; region < count_; ++region) {
            if (regions_[region].base <= start && end <= regions_[region].end() &&
                restrictiveness(regions_[region].type) > best) {
                best = restrictiveness(regions_[region].type);
                type = regions_[region].type;
            }
        }
        if (best < 0) continue;  // a hole between regions
        if (result_count > 0 && result[result_count - 1].end() == start && result[result_count - 1].type == type) {
            result[result_count - 1].length += end - start;
        } else if (result_count < capacity) {
            result[result_count++] = MemoryRegion{start, end - start, type};
        } else {
            // Cannot happen: N regions give at most 2N - 1 intervals, but a
            // full map only drops a tail it could not describe anyway.
            break;
        }
    }
    for (size_t index = 0; index < result_count; ++index) regions_[index] = result[index];
    count_ = result_count;
}

const MemoryRegion* MemoryMap::find(PhysicalAddress address) const {
    for (size_t index = 0; index < count_; ++index)
        if (regions_[index].contains(address)) return &regions_[index];
    return nullptr;
}

bool MemoryMap::covers(PhysicalAddress base, uint64_t length, MemoryType type) const {
    // Walks forward region by region; relies on a sanitized (sorted, merged) map.
    PhysicalAddress cursor = base;
    const PhysicalAddress end = base + length;
    while (cursor < end) {
        const MemoryRegion* region = find(cursor);
        if (region == nullptr || region->type != type) return false;
        cursor = region->end();
    }
    return true;
}

uint64_t MemoryMap::total(MemoryType type) const {
    uint64_t sum = 0;
    for (size_t index = 0; index < count_; ++index)
        if (regions_[index].type == type) sum += regions_[index].length;
    return sum;
}

PhysicalAddress MemoryMap::highest_address() const {
    PhysicalAddress highest = 0;
    for (size_t index = 0; index < count_; ++index)
        if (regions_[index].end() > highest) highest = regions_[index].end();
    return highest;
}

}  // namespace sluice
