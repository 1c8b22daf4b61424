// HYPERVISOR_callback_op, xen/include/public/callback.h:
//   long callback_op(int cmd, void *extra_args)
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint16_t CALLBACKTYPE_event = 0;     // event upcall
inline constexpr uint16_t CALLBACKTYPE_failsafe = 1;  // guest state could not be restored
inline constexpr uint16_t CALLBACKTYPE_syscall = 2;   // x86-64: SYSCALL from 64-bit user mode
inline constexpr uint16_t CALLBACKTYPE_sysenter_deprecated = 3;
inline constexpr uint16_t CALLBACKTYPE_nmi = 4;
inline constexpr uint16_t CALLBACKTYPE_sysenter = 5;   // SYSENTER from 32-bit user mode
inline constexpr uint16_t CALLBACKTYPE_syscall32 = 7;  // SYSCALL from 32-bit user mode

// Mask events while the callback runs (ignored for event and NMI callbacks,
// which always mask them).
inline constexpr uint32_t CALLBACKF_mask_events_bit = 0;
inline constexpr uint16_t CALLBACKF_mask_events = 1u << CALLBACKF_mask_events_bit;

inline constexpr uint32_t CALLBACKOP_register = 0;
inline constexpr uint32_t CALLBACKOP_unregister = 1;

struct callback_register {
    uint16_t type;           // CALLBACKTYPE_*
    uint16_t flags;          // CALLBACKF_*
    xen_callback_t address;  // guest virtual address of the handler
};
static_assert(sizeof(callback_register) == 16);
static_assert(__builtin_offsetof(callback_register, type) == 0);
static_assert(__builtin_offsetof(callback_register, flags) == 2);
static_assert(__builtin_offsetof(callback_register, address) == 8);

struct callback_unregister {
    uint16_t type;
    uint16_t _unused;
};
static_assert(sizeof(callback_unregister) == 4);

}  // namespace sluice::xen
