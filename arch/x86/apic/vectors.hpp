// Interrupt vectors and their handlers.
//
// Vectors 0x00-0x1f are the CPU's exceptions and stay fatal. 0x20-0xef are
// handed out by the allocator, to device interrupts and to the local APIC
// timer; 0xf0-0xff are where the masked 8259s are remapped (so a stray
// legacy interrupt can never look like an exception, Intel SDM Vol. 3A
// section 6.2), and 0xff is also the local APIC's spurious vector (section
// 11.9: its low four bits are hard-wired to 1 on older processors).
//
// A handler runs in interrupt context on the interrupted stack with
// interrupts disabled (interrupt gates clear IF), and the EOI is sent after
// it returns. Registration happens with interrupts disabled, on one CPU.
#pragma once

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::apic {

inline constexpr uint8_t first_allocatable_vector = 0x20;
inline constexpr uint8_t last_allocatable_vector = 0xef;
inline constexpr uint8_t legacy_pic_master_vector_base = 0xf0;  // IRQ 0-7
inline constexpr uint8_t legacy_pic_slave_vector_base = 0xf8;   // IRQ 8-15
inline constexpr uint8_t spurious_interrupt_vector = 0xff;
// The highest-priority allocatable vector (section 11.8.3: priority class is
// vector / 16), so a timer interrupt is never held back by a device's.
inline constexpr uint8_t timer_vector = 0xef;

[[nodiscard]] constexpr bool is_allocatable_vector(unsigned vector) {
    return vector >= first_allocatable_vector && vector <= last_allocatable_vector;
}

using InterruptHandler = void (*)(void* context);

// Which of 0x20-0xef are taken. Fixed size, constant-initialised.
class VectorAllocator {
public:
    constexpr VectorAllocator() = default;

    // The lowest free vector; Error::capacity when all 208 are taken.
    [[nodiscard]] Result<uint8_t> allocate();
    // A specific vector: Error::invalid_argument outside 0x20-0xef,
    // Error::already_exists when taken.
    [[nodiscard]] Status reserve(uint8_t vector);
    // Error::not_found when the vector was not taken (or is not allocatable).
    [[nodiscard]] Status release(uint8_t vector);
    [[nodiscard]] bool is_allocated(uint8_t vector) const;
    [[nodiscard]] unsigned free_count() const;

private:
    uint64_t taken_[4] = {};
};

enum class DispatchOutcome : uint8_t {
    handled,     // a registered handler ran: send the EOI
    spurious,    // the spurious vector: no EOI (section 11.9)
    unhandled,   // nothing registered: report, EOI only if in service
};

// The registered handler of every allocatable vector.
class HandlerTable {
public:
    constexpr HandlerTable() = default;

    // Error::invalid_argument for a vector outside 0x20-0xef or a null
    // handler; Error::already_exists when the vector has a handler.
    [[nodiscard]] Status register_handler(uint8_t vector, InterruptHandler handler, void* context);
    // Error::not_found when there was none.
    [[nodiscard]] Status unregister_handler(uint8_t vector);
    [[nodiscard]] bool has_handler(uint8_t vector) const;

    // Runs the vector's handler, if any.
    DispatchOutcome dispatch(uint8_t vector);
    // How many times the vector arrived (handled or not).
    [[nodiscard]] uint64_t count(uint8_t vector) const { return counts_[vector]; }

private:
    struct Entry {
        InterruptHandler handler = nullptr;
        void* context = nullptr;
    };
    Entry entries_[256] = {};
    uint64_t counts_[256] = {};
};

// The hypervisor's one allocator and handler table.
[[nodiscard]] VectorAllocator& vector_allocator();
[[nodiscard]] HandlerTable& interrupt_handlers();

// Shorthands for the two above, for the rest of the hypervisor.
[[nodiscard]] Result<uint8_t> allocate_vector();
[[nodiscard]] Status release_vector(uint8_t vector);
[[nodiscard]] Status register_handler(uint8_t vector, InterruptHandler handler, void* context);
[[nodiscard]] Status unregister_handler(uint8_t vector);

}  // namespace sluice::x86::apic
