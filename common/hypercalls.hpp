// The hypercalls that mean the same for every kind of guest (Xen public ABI:
// console_io, xen_version, sched_op's shutdown and yield, the -ENOSYS report),
// shared by the PV dispatcher (arch/x86/pv/hypercalls.*) and the HVM one
// (arch/x86/hvm/hypercalls.*). Each reaches guest memory only through
// GuestBuffers, which the caller implements over its own translation (a PV
// guest's validated tables, an HVM guest's paging and p2m), so a bad pointer
// is -EFAULT and never a hypervisor fault.
//
// Core code: host tests drive it through fakes.
#pragma once

#include <sluice/result.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::hypercall {

// A negative Xen errno as a hypercall result.
[[nodiscard]] constexpr int64_t error(int32_t code) { return -int64_t{code}; }

// Guest memory named by a hypercall argument (a guest virtual address).
class GuestBuffers {
public:
    [[nodiscard]] virtual Status copy_from(void* destination, uint64_t address, size_t length) const = 0;
    // Writes nothing unless the whole range is writable.
    [[nodiscard]] virtual Status copy_to(uint64_t address, const void* source, size_t length) const = 0;

    template <typename T> [[nodiscard]] Status read(uint64_t address, T& value) const {
        return copy_from(&value, address, sizeof(T));
    }
    template <typename T> [[nodiscard]] Status write(uint64_t address, const T& value) const {
        return copy_to(address, &value, sizeof(T));
    }

protected:
    ~GuestBuffers() = default;
};

// Where a guest's console goes, and where its input comes from.
class ConsoleSink {
public:
    // One whole line of the guest's console output, without the newline.
    virtual void guest_console_line(uint16_t domain_id, StringView line) = 0;
    // Up to `capacity` bytes of console input; returns how many.
    virtual size_t guest_console_read(char* buffer, size_t capacity) = 0;

protected:
    ~ConsoleSink() = default;
};

// A domain's console output not yet ended by a newline.
struct GuestConsole {
    char line[256] = {};
    size_t length = 0;
};

// One character of output: a newline (or a full line) hands the line to the
// sink; control characters other than tab are shown as '?', so a guest can
// never rewrite the hypervisor's console.
void console_put(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id, char character);
// Hands over whatever is buffered (shutdown: the last words still show).
void console_flush(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id);

// Hypercall arguments, in ABI order (64-bit: rdi, rsi, rdx, r10, r8, r9).
struct Arguments {
    uint64_t values[6];
};

// A call with more work than one entry may do asks to run again with these
// arguments (Xen's hypercall continuation).
struct Continuation {
    bool requested = false;
    Arguments arguments{};
};

// console_io (CONSOLEIO_write, CONSOLEIO_read). At most 4096 bytes per
// entry; the rest through `continuation`.
[[nodiscard]] int64_t console_io(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id,
                                 const GuestBuffers& memory, const Arguments& arguments, Continuation& continuation);

// What xen_version reports that depends on the kind of guest.
struct VersionPolicy {
    uint32_t features = 0;           // XENVER_get_features submap 0 (XENFEAT_* bits)
    const char* capabilities = "";   // XENVER_capabilities ("xen-3.0-x86_64 ", ...)
    uint64_t virt_start = 0;         // XENVER_platform_parameters
    StringView command_line;         // XENVER_commandline: the hypervisor's
};

// Xen 4.17's version, which guests built against that ABI expect.
inline constexpr uint32_t version_major = 4;
inline constexpr uint32_t version_minor = 17;

[[nodiscard]] int64_t xen_version(const GuestBuffers& memory, const VersionPolicy& policy, uint64_t command,
                                  uint64_t address);

// The SCHEDOP_shutdown / SCHEDOP_shutdown_code argument: the reason, checked.
// -EFAULT, -EINVAL (a reason past SHUTDOWN_MAX) or 0 with *reason set.
[[nodiscard]] int64_t read_shutdown_reason(const GuestBuffers& memory, uint64_t address, unsigned* reason);

// "poweroff", "reboot", ..., "unknown".
[[nodiscard]] const char* shutdown_reason_name(unsigned reason);

// The name of a hypercall number ("mmu_update"); "unknown" past the table.
[[nodiscard]] const char* hypercall_name(uint64_t number);

// Which unknown hypercalls (bit n) and unknown sub-commands (bit 128 + n)
// were already reported: each is said once.
struct UnknownReports {
    uint64_t words[4] = {};
    // True the first time `key` is seen (keys past 255 are always reported).
    [[nodiscard]] bool first(uint64_t key);
};

// -ENOSYS for a hypercall this hypervisor lacks, with one warning per number
// naming it and its first arguments; `subsystem` prefixes the message.
[[nodiscard]] int64_t unknown_hypercall(UnknownReports& reports, const char* subsystem, uint16_t domain_id,
                                        uint64_t number, const Arguments& arguments);
// -ENOSYS for a sub-command, said once per hypercall.
[[nodiscard]] int64_t unknown_subcommand(UnknownReports& reports, const char* subsystem, uint16_t domain_id,
                                         uint64_t number, uint64_t command);

}  // namespace sluice::hypercall
