// x86 I/O port access. The access width is the port's type: an
// IoPort<uint8_t> only ever issues inb/outb, so a register can't be read with
// the wrong width by accident (Intel SDM Vol. 1, "I/O Port Addressing").
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86 {

template <typename Width> class IoPort {
    static_assert(sizeof(Width) == 1 || sizeof(Width) == 2 || sizeof(Width) == 4,
                  "I/O ports are 8, 16 or 32 bits wide");

public:
    explicit constexpr IoPort(uint16_t port) : port_(port) {}

    [[nodiscard]] constexpr uint16_t number() const { return port_; }

    [[nodiscard]] Width read() const {
        Width value;
        if constexpr (sizeof(Width) == 1) asm volatile("inb %w1, %b0" : "=a"(value) : "Nd"(port_));
        else if constexpr (sizeof(Width) == 2) asm volatile("inw %w1, %w0" : "=a"(value) : "Nd"(port_));
        else asm volatile("inl %w1, %k0" : "=a"(value) : "Nd"(port_));
        return value;
    }

    void write(Width value) const {
        if constexpr (sizeof(Width) == 1) asm volatile("outb %b0, %w1" : : "a"(value), "Nd"(port_));
        else if constexpr (sizeof(Width) == 2) asm volatile("outw %w0, %w1" : : "a"(value), "Nd"(port_));
        else asm volatile("outl %k0, %w1" : : "a"(value), "Nd"(port_));
    }

private:
    uint16_t port_;
};

using IoPort8 = IoPort<uint8_t>;
using IoPort16 = IoPort<uint16_t>;
using IoPort32 = IoPort<uint32_t>;

}  // namespace sluice::x86
