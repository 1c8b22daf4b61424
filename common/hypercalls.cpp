#include "common/hypercalls.hpp"

#include <public/errno.hpp>
#include <public/sched.hpp>
#include <public/version.hpp>
#include <public/xen.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::hypercall {
namespace {

constexpr uint64_t console_write_slice = 4096;

constexpr const char* hypercall_names[] = {
    "set_trap_table", "mmu_update", "set_gdt", "stack_switch", "set_callbacks", "fpu_taskswitch",
    "sched_op_compat", "platform_op", "set_debugreg", "get_debugreg", "update_descriptor", "11",
    "memory_op", "multicall", "update_va_mapping", "set_timer_op", "event_channel_op_compat",
    "xen_version", "console_io", "physdev_op_compat", "grant_table_op", "vm_assist",
    "update_va_mapping_otherdomain", "iret", "vcpu_op", "set_segment_base", "mmuext_op", "xsm_op",
    "nmi_op", "sched_op", "callback_op", "xenoprof_op", "event_channel_op", "physdev_op", "hvm_op",
    "sysctl", "domctl", "kexec_op", "tmem_op", "argo_op", "xenpmu_op", "dm_op", "hypfs_op",
};

template <size_t Size> int64_t copy_string(const GuestBuffers& memory, uint64_t address, const char* text) {
    char buffer[Size] = {};
    for (size_t index = 0; index + 1 < Size && text[index] != '\0'; ++index) buffer[index] = text[index];
    return memory.copy_to(address, buffer, Size).ok() ? 0 : error(xen::XEN_EFAULT);
}

}  // namespace

void console_put(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id, char character) {
    if (character == '\n' || console.length == sizeof console.line) {
        sink.guest_console_line(domain_id, StringView(console.line, console.length));
        console.length = 0;
        if (character == '\n') return;
    }
    if (character == '\r') return;
    const bool printable = (character >= 0x20 && character < 0x7f) || character == '\t';
    console.line[console.length++] = printable ? character : '?';
}

void console_flush(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id) {
    if (console.length != 0) console_put(console, sink, domain_id, '\n');
}

int64_t console_io(GuestConsole& console, ConsoleSink& sink, uint16_t domain_id, const GuestBuffers& memory,
                   const Arguments& arguments, Continuation& continuation) {
    const uint64_t command = arguments.values[0];
    const uint64_t count = arguments.values[1];
    const uint64_t buffer = arguments.values[2];
    if (command == xen::CONSOLEIO_write) {
        // The ABI's count is an unsigned int.
        const uint64_t total = count & 0xffffffff;
        const uint64_t this_entry = min<uint64_t>(total, console_write_slice);
        char chunk[128];
        for (uint64_t done = 0; done < this_entry;) {
            const size_t length = static_cast<size_t>(min<uint64_t>(sizeof chunk, this_entry - done));
            if (!memory.copy_from(chunk, buffer + done, length).ok()) return error(xen::XEN_EFAULT);
            for (size_t index = 0; index < length; ++index) console_put(console, sink, domain_id, chunk[index]);
            done += length;
        }
        if (this_entry < total) {
            continuation.requested = true;
            continuation.arguments = Arguments{{command, total - this_entry, buffer + this_entry, arguments.values[3],
                                                arguments.values[4], arguments.values[5]}};
        }
        return 0;
    }
    if (command == xen::CONSOLEIO_read) {
        char chunk[128];
        const size_t length = sink.guest_console_read(chunk, static_cast<size_t>(min<uint64_t>(count, sizeof chunk)));
        if (length != 0 && !memory.copy_to(buffer, chunk, length).ok()) return error(xen::XEN_EFAULT);
        return static_cast<int64_t>(length);
    }
    return error(xen::XEN_ENOSYS);
}

int64_t xen_version(const GuestBuffers& memory, const VersionPolicy& policy, uint64_t command, uint64_t address) {
    switch (command) {
    case xen::XENVER_version: return (version_major << 16) | version_minor;
    case xen::XENVER_extraversion: return copy_string<xen::XEN_EXTRAVERSION_LEN>(memory, address, "-sluice");
    case xen::XENVER_capabilities:
        return copy_string<xen::XEN_CAPABILITIES_INFO_LEN>(memory, address, policy.capabilities);
    case xen::XENVER_changeset: return copy_string<xen::XEN_CHANGESET_INFO_LEN>(memory, address, "sluice");
    case xen::XENVER_compile_info: {
        xen::xen_compile_info information{};
        const char* compiler = "clang";
        for (size_t index = 0; compiler[index] != '\0'; ++index) information.compiler[index] = compiler[index];
        return memory.write(address, information).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::XENVER_platform_parameters: {
        const xen::xen_platform_parameters parameters{policy.virt_start};
        return memory.write(address, parameters).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::XENVER_get_features: {
        xen::xen_feature_info information{};
        if (!memory.read(address, information).ok()) return error(xen::XEN_EFAULT);
        information.submap = information.submap_idx == 0 ? policy.features : 0;
        if (information.submap_idx >= xen::XENFEAT_NR_SUBMAPS) return error(xen::XEN_EINVAL);
        return memory.write(address, information).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::XENVER_pagesize: return page_size;
    case xen::XENVER_guest_handle: {
        const uint8_t handle[16] = {};
        return memory.copy_to(address, handle, sizeof handle).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    case xen::XENVER_commandline: {
        char line[1024] = {};
        const StringView text = policy.command_line;
        for (size_t index = 0; index < text.length() && index + 1 < sizeof line; ++index) line[index] = text[index];
        return memory.copy_to(address, line, sizeof line).ok() ? 0 : error(xen::XEN_EFAULT);
    }
    default: return error(xen::XEN_ENOSYS);
    }
}

int64_t read_shutdown_reason(const GuestBuffers& memory, uint64_t address, unsigned* reason) {
    xen::sched_shutdown request{};
    if (!memory.read(address, request).ok()) return error(xen::XEN_EFAULT);
    if (request.reason > xen::SHUTDOWN_MAX) return error(xen::XEN_EINVAL);
    *reason = request.reason;
    return 0;
}

const char* shutdown_reason_name(unsigned reason) {
    switch (reason) {
    case xen::SHUTDOWN_poweroff: return "poweroff";
    case xen::SHUTDOWN_reboot: return "reboot";
    case xen::SHUTDOWN_suspend: return "suspend";
    case xen::SHUTDOWN_crash: return "crash";
    case xen::SHUTDOWN_watchdog: return "watchdog";
    case xen::SHUTDOWN_soft_reset: return "soft_reset";
    default: return "unknown";
    }
}

const char* hypercall_name(uint64_t number) {
    return number < array_length(hypercall_names) ? hypercall_names[number] : "unknown";
}

bool UnknownReports::first(uint64_t key) {
    if (key >= 64 * array_length(words)) return true;
    uint64_t& word = words[key / 64];
    const uint64_t bit = uint64_t{1} << (key % 64);
    const bool seen = (word & bit) != 0;
    word |= bit;
    return !seen;
}

int64_t unknown_hypercall(UnknownReports& reports, const char* subsystem, uint16_t domain_id, uint64_t number,
                          const Arguments& arguments) {
    if (reports.first(number))
        Logger{subsystem}.warning(
            "d%u: hypercall %llu (%s) is not implemented: -ENOSYS (first call: arguments 0x%llx, 0x%llx)", domain_id,
            static_cast<unsigned long long>(number), hypercall_name(number),
            static_cast<unsigned long long>(arguments.values[0]), static_cast<unsigned long long>(arguments.values[1]));
    return error(xen::XEN_ENOSYS);
}

int64_t unknown_subcommand(UnknownReports& reports, const char* subsystem, uint16_t domain_id, uint64_t number,
                           uint64_t command) {
    if (reports.first(number + 128))
        Logger{subsystem}.warning("d%u: %s sub-command %llu is not implemented: -ENOSYS (further ones not reported)",
                                  domain_id, hypercall_name(number), static_cast<unsigned long long>(command));
    return error(xen::XEN_ENOSYS);
}

}  // namespace sluice::hypercall
