// HYPERVISOR_sched_op, xen/include/public/sched.h:
//   long sched_op(int cmd, void *arg)
// SCHEDOP_shutdown with SHUTDOWN_suspend also takes the start_info MFN in
// the third argument register (RDX).
#pragma once

#include <sluice/types.hpp>

#include <public/event_channel.hpp>
#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint32_t SCHEDOP_yield = 0;            // arg: null
inline constexpr uint32_t SCHEDOP_block = 1;            // arg: null; unmasks events atomically
inline constexpr uint32_t SCHEDOP_shutdown = 2;         // arg: sched_shutdown
inline constexpr uint32_t SCHEDOP_poll = 3;             // arg: sched_poll
inline constexpr uint32_t SCHEDOP_remote_shutdown = 4;  // arg: sched_remote_shutdown
inline constexpr uint32_t SCHEDOP_shutdown_code = 5;    // arg: sched_shutdown
inline constexpr uint32_t SCHEDOP_watchdog = 6;         // arg: sched_watchdog
inline constexpr uint32_t SCHEDOP_pin_override = 7;     // arg: sched_pin_override

// Shutdown reasons.
inline constexpr uint32_t SHUTDOWN_poweroff = 0;  // exited normally
inline constexpr uint32_t SHUTDOWN_reboot = 1;
inline constexpr uint32_t SHUTDOWN_suspend = 2;
inline constexpr uint32_t SHUTDOWN_crash = 3;
inline constexpr uint32_t SHUTDOWN_watchdog = 4;
inline constexpr uint32_t SHUTDOWN_soft_reset = 5;
inline constexpr uint32_t SHUTDOWN_MAX = 5;

struct sched_shutdown {
    uint32_t reason;  // SHUTDOWN_*
};
static_assert(sizeof(sched_shutdown) == 4);

struct sched_poll {
    uint64_t ports;  // guest handle (virtual address) of an evtchn_port_t array
    uint32_t nr_ports;
    uint64_t timeout;  // absolute system time in ns; 0 for none
};
static_assert(sizeof(sched_poll) == 24);
static_assert(__builtin_offsetof(sched_poll, ports) == 0);
static_assert(__builtin_offsetof(sched_poll, nr_ports) == 8);
static_assert(__builtin_offsetof(sched_poll, timeout) == 16);

struct sched_remote_shutdown {
    domid_t domain_id;
    uint32_t reason;  // SHUTDOWN_*
};
static_assert(sizeof(sched_remote_shutdown) == 8);
static_assert(__builtin_offsetof(sched_remote_shutdown, reason) == 4);

struct sched_watchdog {
    uint32_t id;
    uint32_t timeout;  // seconds
};
static_assert(sizeof(sched_watchdog) == 8);
static_assert(__builtin_offsetof(sched_watchdog, timeout) == 4);

struct sched_pin_override {
    int32_t pcpu;  // negative: undo the override
};
static_assert(sizeof(sched_pin_override) == 4);

}  // namespace sluice::xen
