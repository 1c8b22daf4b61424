// Feeds arbitrary bytes to the boot-information parsers, the first input the
// hypervisor trusts nothing about.
//
// Byte 0 chooses the protocol (even: multiboot2, odd: PVH); the rest is a
// memory image at image_base with the structure at its start. Pointers inside
// the structures (PVH cmdline, module list, memory map; multiboot2 module
// ranges) land inside or outside the image as the fuzzer likes: the parsers
// read only through PhysicalMemory::read_bytes, which refuses anything outside
// the image, and the simulated memory aborts on any other stray access.
#include <boot/boot_information.hpp>

#include <sluice/log.hpp>

#include "tests/support/simulated_machine.hpp"

#include <cstring>
#include <memory>

namespace {

constexpr sluice::PhysicalAddress image_base = 0x10000;
constexpr uint64_t image_size = 64 * sluice::KiB;

class DiscardingSink final : public sluice::LogSink {
public:
    void write_line(sluice::LogLevel, sluice::StringView line) override { characters_ += line.length(); }

private:
    size_t characters_ = 0;
};

// What every successful parse must leave, however bad its input.
void check_invariants(const sluice::boot::BootInformation& information) {
    using sluice::boot::BootInformation;
    if (information.command_line_length >= BootInformation::command_line_capacity) __builtin_trap();
    if (information.command_line[information.command_line_length] != '\0') __builtin_trap();
    if (information.module_count > BootInformation::module_capacity) __builtin_trap();
    if (information.occupied_count > BootInformation::occupied_capacity) __builtin_trap();
    for (const sluice::boot::BootModule& module : information.module_list()) {
        if (module.end < module.start) __builtin_trap();
        if (std::memchr(module.string, '\0', sizeof module.string) == nullptr) __builtin_trap();
    }
    if (std::memchr(information.loader_name, '\0', sizeof information.loader_name) == nullptr) __builtin_trap();
    // The memory map is sanitized: sorted, non-empty, never overlapping.
    const auto regions = information.memory_map.regions();
    for (size_t index = 0; index < regions.size(); ++index) {
        if (regions[index].length == 0 || regions[index].end() < regions[index].base) __builtin_trap();
        if (index > 0 && regions[index].base < regions[index - 1].end()) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    static DiscardingSink sink;
    sluice::set_log_sink(&sink);
    sluice::set_log_threshold(static_cast<uint8_t>(sluice::LogLevel::debug));

    sluice::testing::SimulatedMemory memory(image_base, image_size);
    const size_t image_bytes = size - 1 < image_size ? size - 1 : image_size;
    if (!memory.write_bytes(image_base, data + 1, image_bytes).ok()) __builtin_trap();

    const uint32_t magic = (data[0] & 1) != 0 ? sluice::boot::pvh_boot_magic : sluice::boot::multiboot2_boot_magic;
    auto information = std::make_unique<sluice::boot::BootInformation>();
    const sluice::Status status = sluice::boot::parse_boot_information(magic, image_base, memory, *information);
    if (status.ok()) check_invariants(*information);
    return 0;
}
