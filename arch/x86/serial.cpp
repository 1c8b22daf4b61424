#include "arch/x86/serial.hpp"

#include "arch/x86/port_io.hpp"

namespace sluice::x86 {
namespace {

// Register offsets from the UART base (PC16550D data sheet, table 2).
enum class UartRegister : uint16_t {
    transmit_holding = 0,   // write, DLAB = 0
    divisor_low = 0,        // DLAB = 1
    interrupt_enable = 1,   // DLAB = 0
    divisor_high = 1,       // DLAB = 1
    fifo_control = 2,       // write
    line_control = 3,
    modem_control = 4,
    line_status = 5,
    scratch = 7,
};

constexpr uint8_t line_control_8n1 = 0x03;               // 8 data bits, no parity, 1 stop bit
constexpr uint8_t line_control_divisor_latch = 0x80;     // DLAB
constexpr uint8_t fifo_enable_and_clear = 0x07;          // enable, clear receive and transmit FIFOs
constexpr uint8_t modem_control_ready = 0x03;            // DTR and RTS
constexpr uint8_t line_status_transmitter_empty = 0x20;  // THRE: the holding register takes a byte

constexpr uint32_t uart_clock_divisor_base = 115200;  // 1.8432 MHz / 16
constexpr uint32_t baud_rate = 115200;

// Polls before giving up on a byte: a UART that never drains (or a missing
// one reading as 0x00) must not hang the console forever.
constexpr uint32_t transmit_poll_limit = 1u << 20;

IoPort8 port(uint16_t base, UartRegister offset) {
    return IoPort8(static_cast<uint16_t>(base + static_cast<uint16_t>(offset)));
}

}  // namespace

bool SerialPort::initialize() {
    // Nothing decodes an absent port: reads float to 0xff and the scratch
    // register can't keep a value.
    port(base_, UartRegister::scratch).write(0x5a);
    if (port(base_, UartRegister::scratch).read() != 0x5a) {
        present_ = false;
        return false;
    }
    const uint16_t divisor = static_cast<uint16_t>(uart_clock_divisor_base / baud_rate);
    port(base_, UartRegister::interrupt_enable).write(0x00);
    port(base_, UartRegister::line_control).write(line_control_divisor_latch);
    port(base_, UartRegister::divisor_low).write(static_cast<uint8_t>(divisor & 0xff));
    port(base_, UartRegister::divisor_high).write(static_cast<uint8_t>(divisor >> 8));
    port(base_, UartRegister::line_control).write(line_control_8n1);
    port(base_, UartRegister::fifo_control).write(fifo_enable_and_clear);
    port(base_, UartRegister::modem_control).write(modem_control_ready);
    present_ = true;
    return true;
}

void SerialPort::write_byte(uint8_t byte) {
    if (!present_) return;
    const IoPort8 status = port(base_, UartRegister::line_status);
    for (uint32_t attempt = 0; attempt < transmit_poll_limit; ++attempt)
        if (status.read() & line_status_transmitter_empty) break;
    port(base_, UartRegister::transmit_holding).write(byte);
}

void SerialPort::write(StringView text) {
    for (const char character : text) write_byte(static_cast<uint8_t>(character));
}

void SerialConsole::write_line(LogLevel, StringView line) {
    port_.write(line);
    port_.write("\r\n");
}

}  // namespace sluice::x86
