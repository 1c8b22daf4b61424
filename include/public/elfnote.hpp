// Xen ELF note types, xen/include/public/elfnote.h. The notes live in a
// PT_NOTE segment (or SHT_NOTE section) with the name "Xen"; numeric values
// are 4 or 8 bytes, as the descriptor size says, and strings are
// NUL-terminated ASCII.
#pragma once

#include <sluice/types.hpp>

namespace sluice::xen {

// The note name every Xen note carries, NUL included in its namesz of 4.
inline constexpr char XEN_ELFNOTE_NAME[] = "Xen";

inline constexpr uint32_t XEN_ELFNOTE_INFO = 0;            // NAME=VALUE string
inline constexpr uint32_t XEN_ELFNOTE_ENTRY = 1;           // virtual entry point
inline constexpr uint32_t XEN_ELFNOTE_HYPERCALL_PAGE = 2;  // virtual address of the hypercall page
inline constexpr uint32_t XEN_ELFNOTE_VIRT_BASE = 3;       // where the image is mapped (default 0)
inline constexpr uint32_t XEN_ELFNOTE_PADDR_OFFSET = 4;    // ELF paddr minus pseudo-physical address
inline constexpr uint32_t XEN_ELFNOTE_XEN_VERSION = 5;     // string
inline constexpr uint32_t XEN_ELFNOTE_GUEST_OS = 6;        // string
inline constexpr uint32_t XEN_ELFNOTE_GUEST_VERSION = 7;   // string
inline constexpr uint32_t XEN_ELFNOTE_LOADER = 8;          // string, e.g. "generic"
inline constexpr uint32_t XEN_ELFNOTE_PAE_MODE = 9;        // x86-32 only: "yes", "no", "bimodal"
// '|'-separated XENFEAT_ names without the prefix, '!' marking a required one.
inline constexpr uint32_t XEN_ELFNOTE_FEATURES = 10;
inline constexpr uint32_t XEN_ELFNOTE_BSD_SYMTAB = 11;      // "yes" or "no"
inline constexpr uint32_t XEN_ELFNOTE_HV_START_LOW = 12;    // lowest start of the hypervisor hole
inline constexpr uint32_t XEN_ELFNOTE_L1_MFN_VALID = 13;    // mask/value pairs for non-present L1 entries
inline constexpr uint32_t XEN_ELFNOTE_SUSPEND_CANCEL = 14;  // numeric, default 0
// Virtual address at which the initial p2m should be placed (x86-64).
inline constexpr uint32_t XEN_ELFNOTE_INIT_P2M = 15;
// The guest copes with an initrd not mapped by its initial page tables.
inline constexpr uint32_t XEN_ELFNOTE_MOD_START_PFN = 16;
// Bitmap of supported XENFEAT_* (32-bit submap 0), combined with FEATURES.
inline constexpr uint32_t XEN_ELFNOTE_SUPPORTED_FEATURES = 17;
// 32-bit physical entry point for a PVH (HVM container) launch.
inline constexpr uint32_t XEN_ELFNOTE_PHYS32_ENTRY = 18;
// PVH physical load constraints: three 64-bit values, minimum, maximum and
// alignment; its presence says the kernel is relocatable.
inline constexpr uint32_t XEN_ELFNOTE_PVH_RELOCATION = 19;

inline constexpr uint32_t XEN_ELFNOTE_MAX = XEN_ELFNOTE_PVH_RELOCATION;

// Crash and dump-core notes, written by the hypervisor and tools, never read
// from a guest image.
inline constexpr uint32_t XEN_ELFNOTE_CRASH_INFO = 0x1000001;
inline constexpr uint32_t XEN_ELFNOTE_CRASH_REGS = 0x1000002;
inline constexpr uint32_t XEN_ELFNOTE_DUMPCORE_NONE = 0x2000000;
inline constexpr uint32_t XEN_ELFNOTE_DUMPCORE_HEADER = 0x2000001;
inline constexpr uint32_t XEN_ELFNOTE_DUMPCORE_XEN_VERSION = 0x2000002;
inline constexpr uint32_t XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION = 0x2000003;

}  // namespace sluice::xen
