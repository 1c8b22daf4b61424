// The AMD-Vi event log: a ring of 128-bit event entries (event_log.hpp) that
// the IOMMU writes at its tail and software consumes from its head (AMD IOMMU
// spec 2.5 "Event Logging", 3.4.3 "Event Log Base Address Register", and the
// Event Log Head/Tail Pointer Registers).
//
// The IOMMU writes an entry before it moves the tail past it; software reads
// the entry, then moves the head, which gives the slot back. Each consumed
// entry is cleared in memory as well, so an entry whose event code still
// reads 0 is recognisably one whose bytes have not landed yet (some
// implementations move the tail first): take() gives such an entry a short,
// bounded time to appear.
#pragma once

#include <drivers/passthrough/amd/event_log.hpp>
#include <drivers/passthrough/amd/register_file.hpp>
#include <drivers/passthrough/amd/registers.hpp>

#include <sluice/clock.hpp>
#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

class EventLogBuffer {
public:
    // 256 entries (EventLen 1000b), one 4 KiB page: software drains the log
    // whenever it looks for faults, and an overflow is reported, not fatal.
    static constexpr unsigned entries_log2 = minimum_ring_length_log2;
    static constexpr uint64_t entry_count = uint64_t{1} << entries_log2;
    static constexpr uint64_t size = entry_count * event_entry_size;
    static_assert(size == page_size);

    // How long take() waits for the bytes of an entry the tail already covers.
    static constexpr uint64_t entry_time_limit = 100'000;  // 100 microseconds

    constexpr EventLogBuffer() = default;

    void bind(RegisterFile registers, PhysicalMemory& memory, const Clock& clock, PhysicalAddress ring);

    // Clears the ring, writes the base register and sets head and tail to 0.
    // Only while EventLogEn is clear.
    void program();
    // Sets head and tail back to 0 (restarting after an overflow, 3.4.3);
    // only while EventLogEn is clear.
    void reset_pointers();

    // The oldest entry not consumed yet, removed from the log; nothing when
    // the log is empty.
    [[nodiscard]] Optional<EventLogEntry> take();

    [[nodiscard]] bool empty() const { return head() == tail(); }
    [[nodiscard]] uint64_t head() const;
    [[nodiscard]] uint64_t tail() const;
    [[nodiscard]] PhysicalAddress ring() const { return ring_; }
    [[nodiscard]] uint64_t consumed() const { return consumed_; }

private:
    RegisterFile registers_;
    PhysicalMemory* memory_ = nullptr;
    const Clock* clock_ = nullptr;
    PhysicalAddress ring_ = 0;
    uint64_t consumed_ = 0;
};

}  // namespace sluice::amd
