#include "boot/dom0_command_line.hpp"

namespace sluice::boot {
namespace {

StringView trim(StringView text) {
    size_t start = 0;
    size_t end = text.length();
    while (start < end && text[start] == ' ') ++start;
    while (end > start && text[end - 1] == ' ') --end;
    return text.substring(start, end - start);
}

}  // namespace

SplitCommandLine split_command_line(StringView command_line) {
    if (command_line.starts_with("-- ") || command_line == StringView("--"))
        return SplitCommandLine{StringView(), trim(command_line.substring(2))};
    for (size_t index = 0; index + 4 <= command_line.length(); ++index) {
        if (command_line.substring(index, 4) == StringView(" -- "))
            return SplitCommandLine{command_line.substring(0, index), trim(command_line.substring(index + 3))};
    }
    if (command_line.length() >= 3 && command_line.substring(command_line.length() - 3) == StringView(" --"))
        return SplitCommandLine{command_line.substring(0, command_line.length() - 3), StringView()};
    return SplitCommandLine{command_line, StringView()};
}

StringView module_arguments(StringView module_string) {
    const StringView text = trim(module_string);
    const size_t space = text.find(' ');
    return trim(text.substring(space));
}

size_t assemble_dom0_command_line(StringView module_string, StringView extra, char* buffer, size_t capacity,
                                  bool* truncated) {
    if (truncated != nullptr) *truncated = false;
    if (capacity == 0) return 0;
    size_t length = 0;
    const auto append = [&](StringView text) {
        for (char character : text) {
            if (length + 1 >= capacity) {
                if (truncated != nullptr) *truncated = true;
                return;
            }
            buffer[length++] = character;
        }
    };
    const StringView arguments = module_arguments(module_string);
    const StringView appended = trim(extra);
    append(arguments);
    if (!arguments.empty() && !appended.empty()) append(" ");
    append(appended);
    buffer[length] = '\0';
    return length;
}

}  // namespace sluice::boot
