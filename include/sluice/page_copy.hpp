// Copies between a translated address space (a guest's virtual or physical
// memory) and the hypervisor, page by page: `translate(address)` gives the
// machine address of one byte (a Result), and each page's bytes move in one
// bounded copy. copy_to_page_by_page translates every page first, so a
// failure part way writes nothing. The caller has refused ranges that wrap.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/utility.hpp>

namespace sluice {

template <typename Translate>
[[nodiscard]] Status copy_from_page_by_page(const PhysicalMemory& memory, void* destination, uint64_t address,
                                            size_t length, Translate&& translate) {
    auto* bytes = static_cast<uint8_t*>(destination);
    while (length > 0) {
        const PhysicalAddress machine = SLUICE_TRY(translate(address));
        const size_t chunk = static_cast<size_t>(min<uint64_t>(length, page_size - (address & (page_size - 1))));
        SLUICE_TRY(memory.read_bytes(machine, bytes, chunk));
        bytes += chunk;
        address += chunk;
        length -= chunk;
    }
    return success();
}

template <typename Translate>
[[nodiscard]] Status copy_to_page_by_page(PhysicalMemory& memory, uint64_t address, const void* source, size_t length,
                                          Translate&& translate) {
    if (length == 0) return success();
    for (uint64_t page = align_down(address, page_size); page < address + length; page += page_size)
        (void)SLUICE_TRY(translate(page < address ? address : page));
    const auto* bytes = static_cast<const uint8_t*>(source);
    while (length > 0) {
        const PhysicalAddress machine = SLUICE_TRY(translate(address));
        const size_t chunk = static_cast<size_t>(min<uint64_t>(length, page_size - (address & (page_size - 1))));
        SLUICE_TRY(memory.write_bytes(machine, bytes, chunk));
        bytes += chunk;
        address += chunk;
        length -= chunk;
    }
    return success();
}

}  // namespace sluice
