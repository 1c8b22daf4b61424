// The AMD-Vi command buffer: a ring of 128-bit commands in memory that the
// IOMMU consumes from its head while software appends at its tail (AMD IOMMU
// spec 2.4 "Commands", 3.4.2 "Command Buffer Base Address Register", and the
// Command Buffer Head/Tail Pointer Registers).
//
// Completion is observed only through COMPLETION_WAIT with a store (2.4.1):
// the IOMMU writes the wait's data to memory once every earlier command has
// completed. Each wait carries a new sequence number, so a stale store can
// never be taken for a fresh one. The head pointer is read only to know how
// much room the ring has (QEMU 7.2 lets the head register read the ring size
// instead of 0 after a wrap, so it is always reduced modulo the ring size).
//
// Every wait has a time limit (Xen advisory XSA-373): a ring that stays full,
// a completion that never comes or a command buffer the IOMMU stopped
// (CmdBufRun clear, e.g. after ILLEGAL_COMMAND_ERROR) ends the wait with an
// error instead of hanging the host.
#pragma once

#include <drivers/passthrough/amd/commands.hpp>
#include <drivers/passthrough/amd/register_file.hpp>
#include <drivers/passthrough/amd/registers.hpp>

#include <sluice/clock.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

class CommandBuffer {
public:
    // 256 commands: the smallest ring the hardware takes (ComLen 1000b), one
    // 4 KiB page. The driver waits after a handful of commands, so a larger
    // ring would only hold more stale history.
    static constexpr unsigned entries_log2 = minimum_ring_length_log2;
    static constexpr uint64_t entry_count = uint64_t{1} << entries_log2;
    static constexpr uint64_t size = entry_count * command_entry_size;
    static_assert(size == page_size);

    struct Statistics {
        uint64_t submitted[16] = {};  // commands written to the ring, by opcode
        uint64_t completion_waits_finished = 0;
        uint64_t ring_full = 0;       // submissions that found the ring full and waited
    };

    constexpr CommandBuffer() = default;

    // ring: `size` bytes, 4 KiB aligned. store: the 8-byte aligned word
    // COMPLETION_WAIT writes. time_limit: nanoseconds any one wait may take.
    void bind(RegisterFile registers, PhysicalMemory& memory, const Clock& clock, PhysicalAddress ring,
              PhysicalAddress store, uint64_t time_limit);

    // Clears the ring and the store word, writes the base register and sets
    // head and tail to 0. Only while CmdBufEn is clear (the registers may
    // not change under a running command buffer).
    void program();

    // Appends one command and moves the tail past it. Error::timed_out when
    // the ring stays full for the time limit, Error::hardware_failure when
    // the IOMMU stopped processing commands while it was full.
    [[nodiscard]] Status submit(const Command& command);

    // Appends a COMPLETION_WAIT and waits until the IOMMU stored its
    // sequence number: every command submitted before has then completed.
    // Error::timed_out after the time limit, Error::hardware_failure when
    // the IOMMU stopped processing commands (CmdBufRun clear) first.
    [[nodiscard]] Status wait_for_completion();

    // The head as a byte offset into the ring (reduced modulo its size).
    [[nodiscard]] uint64_t head() const;
    [[nodiscard]] uint64_t tail() const { return tail_; }
    [[nodiscard]] PhysicalAddress ring() const { return ring_; }
    [[nodiscard]] PhysicalAddress store() const { return store_; }
    [[nodiscard]] uint64_t last_sequence() const { return sequence_; }
    [[nodiscard]] const Statistics& statistics() const { return statistics_; }
    [[nodiscard]] uint64_t submitted(CommandOpcode opcode) const {
        return statistics_.submitted[static_cast<uint8_t>(opcode) & 0xf];
    }

private:
    [[nodiscard]] bool running() const;
    [[nodiscard]] bool reached(uint64_t sequence) const;

    RegisterFile registers_;
    PhysicalMemory* memory_ = nullptr;
    const Clock* clock_ = nullptr;
    PhysicalAddress ring_ = 0;
    PhysicalAddress store_ = 0;
    uint64_t time_limit_ = 0;
    uint64_t tail_ = 0;
    uint64_t sequence_ = 0;
    Statistics statistics_{};
};

}  // namespace sluice::amd
