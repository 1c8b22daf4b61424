#include <drivers/passthrough/amd/device_table_memory.hpp>

namespace sluice::amd {

void DeviceTable::bind(PhysicalMemory& memory, PhysicalAddress base, uint32_t entries) {
    memory_ = &memory;
    base_ = base;
    entries_ = entries;
}

void DeviceTable::clear() {
    for (uint64_t page = 0; page < pages(); ++page) memory_->zero_page(base_ + page * page_size);
}

DeviceTableEntry DeviceTable::read(uint16_t device_id) const {
    DeviceTableEntry entry;
    const PhysicalAddress address = entry_address(device_id);
    for (size_t index = 0; index < 4; ++index) entry.qwords[index] = memory_->read64(address + index * 8);
    return entry;
}

bool DeviceTable::update(uint16_t device_id, const DeviceTableEntry& desired) {
    const DeviceTableWritePlan plan = plan_device_table_update(read(device_id), desired);
    if (plan.writes().empty()) return false;
    apply_device_table_update(*memory_, entry_address(device_id), plan);
    return true;
}

}  // namespace sluice::amd
