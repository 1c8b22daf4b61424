// Fixed-width integer types and the few vocabulary aliases every layer uses.
//
// Only the compiler's freestanding headers are included, so this compiles
// both for the host tests and for the image (which links no C library).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace sluice {

using PhysicalAddress = uint64_t;  // a machine (host-physical) address
using VirtualAddress = uint64_t;   // an address in the hypervisor's own space

inline constexpr uint64_t page_shift = 12;
inline constexpr uint64_t page_size = uint64_t{1} << page_shift;
inline constexpr uint64_t page_mask = page_size - 1;

inline constexpr uint64_t KiB = uint64_t{1} << 10;
inline constexpr uint64_t MiB = uint64_t{1} << 20;
inline constexpr uint64_t GiB = uint64_t{1} << 30;
inline constexpr uint64_t TiB = uint64_t{1} << 40;

}  // namespace sluice
