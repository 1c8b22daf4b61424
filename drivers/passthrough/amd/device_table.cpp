// Device Table Entries and their write order (see device_table.hpp).
#include <drivers/passthrough/amd/device_table.hpp>

#include <sluice/utility.hpp>

namespace sluice::amd {

Result<DeviceTableEntry> make_translated_entry(const DeviceTableTranslation& translation) {
    if (translation.levels == 0 || translation.levels > maximum_paging_levels) return Error::invalid_argument;
    if ((translation.root & ~device_table_entry::root_pointer_mask) != 0) return Error::invalid_argument;
    DeviceTableEntry entry;
    entry.qwords[0] = device_table_entry::valid | device_table_entry::translation_valid |
                      (uint64_t{translation.levels} << device_table_entry::mode_shift) | translation.root |
                      (translation.read ? device_table_entry::read_permission : 0) | (translation.write ? device_table_entry::write_permission : 0);
    entry.qwords[1] = translation.domain_id;
    return entry;
}

DeviceTableWritePlan plan_device_table_update(const DeviceTableEntry& current, const DeviceTableEntry& desired) {
    DeviceTableWritePlan plan;
    const auto write_other_words = [&]() {
        for (uint8_t qword = 1; qword < 4; ++qword)
            if (current.qwords[qword] != desired.qwords[qword]) plan.add(qword, desired.qwords[qword]);
    };
    const bool word0_changes = current.qwords[0] != desired.qwords[0];

    if (!is_valid(current)) {
        // Not in use yet: everything else first, V (in word 0) last.
        write_other_words();
        if (word0_changes) plan.add(0, desired.qwords[0]);
        return plan;
    }
    if (!is_valid(desired)) {
        // Going out of use: clear V first, so no later store can be seen
        // together with a valid bit.
        if (word0_changes) plan.add(0, desired.qwords[0]);
        write_other_words();
        return plan;
    }
    if (word0_changes && current.qwords[1] != desired.qwords[1]) {
        // Both the translation and the domain tag change on a live entry:
        // pass through a blocked state so no moment pairs one with the other.
        const uint64_t blocked = device_table_entry::valid | device_table_entry::translation_valid;
        if (current.qwords[0] != blocked) plan.add(0, blocked);
        write_other_words();
        if (desired.qwords[0] != blocked) plan.add(0, desired.qwords[0]);
        return plan;
    }
    // Only one of word 0 and the domain tag changes (or neither): each store
    // leaves a consistent entry, word 0 last as when enabling.
    write_other_words();
    if (word0_changes) plan.add(0, desired.qwords[0]);
    return plan;
}

void apply_device_table_update(PhysicalMemory& memory, PhysicalAddress entry_address, const DeviceTableWritePlan& plan) {
    for (const DeviceTableWrite& write : plan.writes()) {
        memory.write64(entry_address + uint64_t{write.qword} * 8, write.value);
        // x86 does not reorder stores with other stores; this keeps the
        // compiler from doing so.
        asm volatile("" ::: "memory");
    }
}

}  // namespace sluice::amd
