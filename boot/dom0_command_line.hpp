// dom0's command line, assembled the way Xen does it:
//   - a boot module's string is "<file name> <arguments>" (GRUB's module2
//     line; the multiboot2 specification leaves the string to the loader):
//     the first word is dropped;
//   - text after " -- " on the hypervisor's own command line is appended to
//     dom0's (Xen's convention for loaders that cannot give a module a
//     string, such as QEMU's PVH -initrd), and is not the hypervisor's.
#pragma once

#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::boot {

struct SplitCommandLine {
    StringView hypervisor;  // what the hypervisor's option registry parses
    StringView dom0_extra;  // appended to dom0's command line (may be empty)
};

// Splits at the first " -- " (or a leading "-- "); without one, everything
// is the hypervisor's.
[[nodiscard]] SplitCommandLine split_command_line(StringView command_line);

// The module string without its first word and the spaces after it.
[[nodiscard]] StringView module_arguments(StringView module_string);

// Writes "<module arguments> <extra>" (a single space between, none when
// either is empty) into buffer, NUL-terminated; returns its length. Cut to
// capacity - 1 bytes; *truncated says whether it was.
size_t assemble_dom0_command_line(StringView module_string, StringView extra, char* buffer, size_t capacity,
                                  bool* truncated);

}  // namespace sluice::boot
