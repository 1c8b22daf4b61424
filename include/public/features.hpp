// XENFEAT_* bit numbers, xen/include/public/features.h, reported through
// XENVER_get_features (32-bit submap 0) and named by the FEATURES and
// SUPPORTED_FEATURES ELF notes.
#pragma once

#include <sluice/types.hpp>

namespace sluice::xen {

inline constexpr uint32_t XENFEAT_writable_page_tables = 0;
inline constexpr uint32_t XENFEAT_writable_descriptor_tables = 1;
inline constexpr uint32_t XENFEAT_auto_translated_physmap = 2;
inline constexpr uint32_t XENFEAT_supervisor_mode_kernel = 3;
inline constexpr uint32_t XENFEAT_pae_pgdir_above_4gb = 4;
inline constexpr uint32_t XENFEAT_mmu_pt_update_preserve_ad = 5;
inline constexpr uint32_t XENFEAT_highmem_assist = 6;
inline constexpr uint32_t XENFEAT_gnttab_map_avail_bits = 7;
inline constexpr uint32_t XENFEAT_hvm_callback_vector = 8;
inline constexpr uint32_t XENFEAT_hvm_safe_pvclock = 9;
inline constexpr uint32_t XENFEAT_hvm_pirqs = 10;
inline constexpr uint32_t XENFEAT_dom0 = 11;
inline constexpr uint32_t XENFEAT_grant_map_identity = 12;
inline constexpr uint32_t XENFEAT_memory_op_vnode_supported = 13;
inline constexpr uint32_t XENFEAT_ARM_SMCCC_supported = 14;
inline constexpr uint32_t XENFEAT_linux_rsdp_unrestricted = 15;
inline constexpr uint32_t XENFEAT_not_direct_mapped = 16;
inline constexpr uint32_t XENFEAT_direct_mapped = 17;
inline constexpr uint32_t XENFEAT_runstate_phys_area = 18;
inline constexpr uint32_t XENFEAT_vcpu_time_phys_area = 19;
inline constexpr uint32_t XENFEAT_dm_msix_all_writes = 20;

// Number of 32-bit feature submaps.
inline constexpr uint32_t XENFEAT_NR_SUBMAPS = 1;

}  // namespace sluice::xen
