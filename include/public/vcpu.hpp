// HYPERVISOR_vcpu_op, xen/include/public/vcpu.h:
//   long vcpu_op(int cmd, unsigned int vcpuid, void *extra_args)
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint32_t VCPUOP_initialise = 0;                       // arg: vcpu_guest_context (PV)
inline constexpr uint32_t VCPUOP_up = 1;                               // arg: null
inline constexpr uint32_t VCPUOP_down = 2;                             // arg: null
inline constexpr uint32_t VCPUOP_is_up = 3;                            // arg: null; returns 1 if up
inline constexpr uint32_t VCPUOP_get_runstate_info = 4;                // arg: vcpu_runstate_info
inline constexpr uint32_t VCPUOP_register_runstate_memory_area = 5;    // arg: vcpu_register_runstate_memory_area
inline constexpr uint32_t VCPUOP_set_periodic_timer = 6;               // arg: vcpu_set_periodic_timer
inline constexpr uint32_t VCPUOP_stop_periodic_timer = 7;              // arg: null
inline constexpr uint32_t VCPUOP_set_singleshot_timer = 8;             // arg: vcpu_set_singleshot_timer
inline constexpr uint32_t VCPUOP_stop_singleshot_timer = 9;            // arg: null
inline constexpr uint32_t VCPUOP_register_vcpu_info = 10;              // arg: vcpu_register_vcpu_info
inline constexpr uint32_t VCPUOP_send_nmi = 11;                        // arg: null
inline constexpr uint32_t VCPUOP_get_physid = 12;                      // arg: vcpu_get_physid
inline constexpr uint32_t VCPUOP_register_vcpu_time_memory_area = 13;  // arg: vcpu_register_time_memory_area
// As 5 and 13 with addr.p a guest physical address.
inline constexpr uint32_t VCPUOP_register_runstate_phys_area = 14;
inline constexpr uint32_t VCPUOP_register_vcpu_time_phys_area = 15;

inline constexpr int32_t RUNSTATE_running = 0;
inline constexpr int32_t RUNSTATE_runnable = 1;
inline constexpr int32_t RUNSTATE_blocked = 2;
inline constexpr int32_t RUNSTATE_offline = 3;

// Set in state_entry_time while the hypervisor updates the area, with
// VMASST_TYPE_runstate_update_flag enabled.
inline constexpr uint64_t XEN_RUNSTATE_UPDATE = uint64_t{1} << 63;

struct vcpu_runstate_info {
    int32_t state;              // RUNSTATE_*
    uint64_t state_entry_time;  // system time (ns) the state was entered
    uint64_t time[4];           // ns spent in each RUNSTATE_*
};
static_assert(sizeof(vcpu_runstate_info) == 48);
static_assert(__builtin_offsetof(vcpu_runstate_info, state_entry_time) == 8);
static_assert(__builtin_offsetof(vcpu_runstate_info, time) == 16);

struct vcpu_register_runstate_memory_area {
    union {
        uint64_t h;  // guest handle (virtual address) of a vcpu_runstate_info
        uint64_t v;  // the same, as the header's pointer member
        uint64_t p;  // guest physical address (VCPUOP_register_runstate_phys_area)
    } addr;
};
static_assert(sizeof(vcpu_register_runstate_memory_area) == 8);

struct vcpu_set_periodic_timer {
    uint64_t period_ns;
};
static_assert(sizeof(vcpu_set_periodic_timer) == 8);

// Fail with -ETIME if the timeout has already passed.
inline constexpr uint32_t VCPU_SSHOTTMR_future_bit = 0;
inline constexpr uint32_t VCPU_SSHOTTMR_future = 1u << VCPU_SSHOTTMR_future_bit;

struct vcpu_set_singleshot_timer {
    uint64_t timeout_abs_ns;  // absolute system time
    uint32_t flags;           // VCPU_SSHOTTMR_*
};
static_assert(sizeof(vcpu_set_singleshot_timer) == 16);
static_assert(__builtin_offsetof(vcpu_set_singleshot_timer, flags) == 8);

// Moves this vCPU's vcpu_info out of shared_info; the structure must not
// cross a page boundary.
struct vcpu_register_vcpu_info {
    uint64_t mfn;     // frame of the page to hold vcpu_info
    uint32_t offset;  // offset within that page
    uint32_t rsvd;
};
static_assert(sizeof(vcpu_register_vcpu_info) == 16);
static_assert(__builtin_offsetof(vcpu_register_vcpu_info, offset) == 8);
static_assert(__builtin_offsetof(vcpu_register_vcpu_info, rsvd) == 12);

// On x86 phys_id[31:0] is the APIC ID and phys_id[63:32] the ACPI ID.
struct vcpu_get_physid {
    uint64_t phys_id;
};
static_assert(sizeof(vcpu_get_physid) == 8);

[[nodiscard]] constexpr uint32_t xen_vcpu_physid_to_x86_apicid(uint64_t physid) { return static_cast<uint32_t>(physid); }
[[nodiscard]] constexpr uint32_t xen_vcpu_physid_to_x86_acpiid(uint64_t physid) {
    return static_cast<uint32_t>(physid >> 32);
}

struct vcpu_register_time_memory_area {
    union {
        uint64_t h;  // guest handle (virtual address) of a vcpu_time_info
        uint64_t v;  // the same, as the header's pointer member
        uint64_t p;  // guest physical address (VCPUOP_register_vcpu_time_phys_area)
    } addr;
};
static_assert(sizeof(vcpu_register_time_memory_area) == 8);

}  // namespace sluice::xen
