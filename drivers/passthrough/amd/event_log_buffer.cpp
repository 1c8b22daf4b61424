#include <drivers/passthrough/amd/event_log_buffer.hpp>

namespace sluice::amd {

void EventLogBuffer::bind(RegisterFile registers, PhysicalMemory& memory, const Clock& clock, PhysicalAddress ring) {
    registers_ = registers;
    memory_ = &memory;
    clock_ = &clock;
    ring_ = ring;
    consumed_ = 0;
}

void EventLogBuffer::program() {
    memory_->zero_page(ring_);
    registers_.write(Register64::event_log_base, ring_base_value(ring_, entries_log2));
    reset_pointers();
}

void EventLogBuffer::reset_pointers() {
    registers_.write(Register64::event_log_head, 0);
    registers_.write(Register64::event_log_tail, 0);
}

uint64_t EventLogBuffer::head() const {
    return (registers_.read(Register64::event_log_head) & ring_pointer_mask) % size;
}

uint64_t EventLogBuffer::tail() const {
    return (registers_.read(Register64::event_log_tail) & ring_pointer_mask) % size;
}

Optional<EventLogEntry> EventLogBuffer::take() {
    const uint64_t offset = head();
    if (offset == tail()) return {};
    const PhysicalAddress slot = ring_ + offset;
    EventLogEntry entry;
    const auto load = [&] {
        entry.qwords[0] = memory_->read64(slot);
        entry.qwords[1] = memory_->read64(slot + 8);
        return decode_event(entry).code != 0;
    };
    // Event code 0 is no event (2.5): the entry's bytes are not visible yet.
    // After the short limit the entry is taken as it is, so a broken unit
    // cannot stall the log.
    (void)poll_until(*clock_, entry_time_limit, load);
    memory_->write64(slot, 0);
    memory_->write64(slot + 8, 0);
    registers_.write(Register64::event_log_head, (offset + event_entry_size) % size);
    ++consumed_;
    return entry;
}

}  // namespace sluice::amd
