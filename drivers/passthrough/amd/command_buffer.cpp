#include <drivers/passthrough/amd/command_buffer.hpp>

namespace sluice::amd {

void CommandBuffer::bind(RegisterFile registers, PhysicalMemory& memory, const Clock& clock, PhysicalAddress ring,
                         PhysicalAddress store, uint64_t time_limit) {
    registers_ = registers;
    memory_ = &memory;
    clock_ = &clock;
    ring_ = ring;
    store_ = store;
    time_limit_ = time_limit;
    tail_ = 0;
    sequence_ = 0;
    statistics_ = Statistics{};
}

void CommandBuffer::program() {
    memory_->zero_page(ring_);
    memory_->write64(store_, 0);
    sequence_ = 0;
    tail_ = 0;
    registers_.write(Register64::command_buffer_base, ring_base_value(ring_, entries_log2));
    // Writing the base does not reset the pointers on every implementation
    // (3.4.2 leaves them to software).
    registers_.write(Register64::command_buffer_head, 0);
    registers_.write(Register64::command_buffer_tail, 0);
}

uint64_t CommandBuffer::head() const {
    return (registers_.read(Register64::command_buffer_head) & ring_pointer_mask) % size;
}

bool CommandBuffer::running() const {
    return (registers_.read(Register64::status) & status::command_buffer_running) != 0;
}

bool CommandBuffer::reached(uint64_t sequence) const {
    // Sequence numbers only grow, and the IOMMU completes waits in order, so
    // any later number stored also proves this one done.
    return static_cast<int64_t>(memory_->read64(store_) - sequence) >= 0;
}

Status CommandBuffer::submit(const Command& command) {
    const uint64_t next = (tail_ + command_entry_size) % size;
    // One slot always stays empty: head == tail means "empty" (3.4.2).
    if (next == head()) {
        ++statistics_.ring_full;
        bool stopped = false;
        (void)poll_until(*clock_, time_limit_, [&] {
            if (next != head()) return true;
            if (!running()) {
                stopped = true;
                return true;
            }
            return false;
        });
        if (next == head()) return stopped ? Error::hardware_failure : Error::timed_out;
    }
    // The command must be in memory before the tail register makes it
    // visible: both are plain stores, which x86 keeps in program order, and
    // the accessor calls keep the compiler from reordering them.
    memory_->write64(ring_ + tail_, command.qwords[0]);
    memory_->write64(ring_ + tail_ + 8, command.qwords[1]);
    tail_ = next;
    registers_.write(Register64::command_buffer_tail, tail_);
    ++statistics_.submitted[static_cast<uint8_t>(opcode(command)) & 0xf];
    return success();
}

Status CommandBuffer::wait_for_completion() {
    const uint64_t sequence = ++sequence_;
    SLUICE_TRY(submit(make_completion_wait(store_, sequence)));
    bool stopped = false;
    (void)poll_until(*clock_, time_limit_, [&] {
        if (reached(sequence)) return true;
        if (!running()) {
            stopped = true;
            return true;
        }
        return false;
    });
    if (reached(sequence)) {
        ++statistics_.completion_waits_finished;
        return success();
    }
    return stopped ? Error::hardware_failure : Error::timed_out;
}

}  // namespace sluice::amd
