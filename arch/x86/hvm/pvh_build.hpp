// The PVH dom0 builder (Xen's docs/misc/pvh.pandoc and
// xen/include/public/arch-x86/hvm/start_info.h): what goes where in dom0's
// guest-physical space, written through the p2m.
//
//   1. dom0's guest-physical map mirrors the host's e820: host RAM becomes
//      guest RAM from the lowest address up until `ram_bytes` are placed, the
//      rest of host RAM is UNUSABLE, every other region keeps its type. The
//      caller backs the guest RAM ranges with whatever machine frames the
//      allocator gave (not 1:1) before anything is written.
//   2. The kernel's ELF image needs XEN_ELFNOTE_PHYS32_ENTRY; each PT_LOAD is
//      copied to its p_paddr (the rest of p_memsz zeroed), which must lie in
//      guest RAM below 4 GiB.
//   3. After the kernel, page aligned: hvm_start_info (version 1), the module
//      list, the memory map, the command line; then the initrd (module 0).
//   4. Entry: 32-bit flat protected mode, paging off, EIP = PHYS32_ENTRY,
//      EBX = the start info's guest-physical address.
//
// Every refusal names the field and the offset or address that was wrong,
// e.g. "dom0 kernel: p_paddr at offset 0x78: segment 0x100000-0x1fffff lies
// outside dom0's RAM".
//
// Core code: host tests build into a simulated guest-physical space.
#pragma once

#include <public/hvm_start_info.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::hvm {

// Writes into dom0's guest-physical space (through its p2m).
class GuestPhysicalWriter {
public:
    [[nodiscard]] virtual Status write(uint64_t guest_physical, const void* source, size_t length) = 0;
    [[nodiscard]] virtual Status zero(uint64_t guest_physical, uint64_t length) = 0;

protected:
    ~GuestPhysicalWriter() = default;
};

// dom0's guest-physical memory map (step 1). ram_bytes is rounded down to
// pages; Error::capacity when the map does not fit MemoryMap.
[[nodiscard]] Result<MemoryMap> compute_pvh_memory_map(const MemoryMap& host, uint64_t ram_bytes);

struct PvhBuildInputs {
    Span<const uint8_t> kernel;
    Span<const uint8_t> initrd;   // empty: no module
    StringView command_line;
    const MemoryMap* guest_memory_map = nullptr;  // from compute_pvh_memory_map, already backed
    uint64_t rsdp = 0;            // hvm_start_info.rsdp_paddr (0: none)
    uint32_t flags = 0;           // SIF_*
};

struct PvhInitialState {
    uint32_t entry = 0;           // EIP
    uint32_t start_info = 0;      // EBX
    uint64_t kernel_start = 0, kernel_end = 0;  // guest-physical, end exclusive
    uint64_t initrd_start = 0, initrd_length = 0;
    uint64_t highest_used = 0;    // one past the last byte the builder wrote
};

struct PvhBuildDiagnostic {
    char message[160] = {};
};

[[nodiscard]] Result<PvhInitialState> build_pvh_dom0(const PvhBuildInputs& inputs, GuestPhysicalWriter& writer,
                                                     PvhBuildDiagnostic& diagnostic);

}  // namespace sluice::x86::hvm
