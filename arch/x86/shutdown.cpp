#include "arch/x86/shutdown.hpp"

#include "arch/x86/console.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/port_io.hpp"

#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::x86 {
namespace {

// QEMU's isa-debug-exit (-device isa-debug-exit,iobase=0xf4,iosize=0x04)
// exits the emulator with status (value << 1) | 1 on a write; the harness
// maps 0x10 -> 33 to pass and 0x11 -> 35 to fail. Real machines have
// nothing there, and the CPU halts instead.
constexpr IoPort8 debug_exit_port{0xf4};
constexpr uint8_t debug_exit_pass = 0x10;
constexpr uint8_t debug_exit_fail = 0x11;

[[noreturn]] void stop(uint8_t exit_value) {
    disable_interrupts();
    debug_exit_port.write(exit_value);
    halt_forever();
}

}  // namespace

void finish_pass() {
    console_write_line("sluice: verdict: pass");
    stop(debug_exit_pass);
}

void finish_fail(const char* reason_pattern, ...) {
    char reason[log_line_capacity - 32];
    __builtin_va_list arguments;
    __builtin_va_start(arguments, reason_pattern);
    format_arguments(reason, sizeof reason, reason_pattern, arguments);
    __builtin_va_end(arguments);
    console_write_line("sluice: verdict: fail (%s)", reason);
    stop(debug_exit_fail);
}

}  // namespace sluice::x86
