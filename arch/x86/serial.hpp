// The 16550-compatible UART behind COM1, as the hypervisor's console.
#pragma once

#include <sluice/log.hpp>
#include <sluice/types.hpp>

namespace sluice::x86 {

// One 16550 UART at an I/O base (COM1 = 0x3f8), polled, no interrupts.
class SerialPort {
public:
    static constexpr uint16_t com1_base = 0x3f8;

    explicit constexpr SerialPort(uint16_t base) : base_(base) {}

    // Programs 115200 baud, 8 data bits, no parity, 1 stop bit, FIFOs on.
    // Returns false when no UART answers at the base (its scratch register
    // does not hold a value), in which case write() does nothing.
    bool initialize();
    [[nodiscard]] bool present() const { return present_; }

    void write(StringView text);
    void write_byte(uint8_t byte);

private:
    uint16_t base_;
    bool present_ = false;
};

// A LogSink writing each line to a SerialPort, terminated by CR LF as serial
// terminals expect.
class SerialConsole final : public LogSink {
public:
    explicit constexpr SerialConsole(SerialPort& port) : port_(port) {}

    void write_line(LogLevel level, StringView line) override;

private:
    SerialPort& port_;
};

}  // namespace sluice::x86
