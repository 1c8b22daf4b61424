// HYPERVISOR_xen_version, xen/include/public/version.h:
//   long xen_version(int cmd, void *arg)
// XENVER_version returns (major << 16) | minor with a null arg.
#pragma once

#include <sluice/types.hpp>

#include <public/features.hpp>
#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint32_t XENVER_version = 0;
inline constexpr uint32_t XENVER_extraversion = 1;         // arg: xen_extraversion_t
inline constexpr uint32_t XENVER_compile_info = 2;         // arg: xen_compile_info
inline constexpr uint32_t XENVER_capabilities = 3;         // arg: xen_capabilities_info_t
inline constexpr uint32_t XENVER_changeset = 4;            // arg: xen_changeset_info_t
inline constexpr uint32_t XENVER_platform_parameters = 5;  // arg: xen_platform_parameters
inline constexpr uint32_t XENVER_get_features = 6;         // arg: xen_feature_info
inline constexpr uint32_t XENVER_pagesize = 7;             // arg: null; returns the page size
inline constexpr uint32_t XENVER_guest_handle = 8;         // arg: xen_domain_handle_t
inline constexpr uint32_t XENVER_commandline = 9;          // arg: xen_commandline_t
inline constexpr uint32_t XENVER_build_id = 10;            // arg: xen_varbuf
// Variable-length forms (arg: xen_varbuf).
inline constexpr uint32_t XENVER_extraversion2 = 11;
inline constexpr uint32_t XENVER_capabilities2 = 12;
inline constexpr uint32_t XENVER_changeset2 = 13;
inline constexpr uint32_t XENVER_commandline2 = 14;

using xen_extraversion_t = char[16];
inline constexpr uint32_t XEN_EXTRAVERSION_LEN = sizeof(xen_extraversion_t);

struct xen_compile_info {
    char compiler[64];
    char compile_by[16];
    char compile_domain[32];
    char compile_date[32];
};
static_assert(sizeof(xen_compile_info) == 144);
static_assert(__builtin_offsetof(xen_compile_info, compile_by) == 64);
static_assert(__builtin_offsetof(xen_compile_info, compile_domain) == 80);
static_assert(__builtin_offsetof(xen_compile_info, compile_date) == 112);

// Space-separated, e.g. "xen-3.0-x86_64".
using xen_capabilities_info_t = char[1024];
inline constexpr uint32_t XEN_CAPABILITIES_INFO_LEN = sizeof(xen_capabilities_info_t);

using xen_changeset_info_t = char[64];
inline constexpr uint32_t XEN_CHANGESET_INFO_LEN = sizeof(xen_changeset_info_t);

using xen_commandline_t = char[1024];

struct xen_platform_parameters {
    xen_ulong_t virt_start;  // start of the hypervisor hole
};
static_assert(sizeof(xen_platform_parameters) == 8);

struct xen_feature_info {
    uint32_t submap_idx;  // IN: which 32-bit submap
    uint32_t submap;      // OUT: bit N is XENFEAT number 32 * submap_idx + N
};
static_assert(sizeof(xen_feature_info) == 8);
static_assert(__builtin_offsetof(xen_feature_info, submap) == 4);

// Header of the variable-length buffer; `len` bytes of data follow it (the C
// header's flexible array member `buf`).
struct xen_varbuf {
    uint32_t len;  // IN: size of the buffer after the header
};
static_assert(sizeof(xen_varbuf) == 4);
inline constexpr uint32_t xen_varbuf_buf_offset = 4;

}  // namespace sluice::xen
