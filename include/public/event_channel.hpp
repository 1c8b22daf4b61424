// HYPERVISOR_event_channel_op, xen/include/public/event_channel.h:
//   int event_channel_op(int cmd, void *args)
// with args pointing at the evtchn_* structure the command names. The
// 2-level ABI keeps one pending and one mask bit per port in shared_info.
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

using evtchn_port_t = uint32_t;

inline constexpr uint32_t EVTCHNOP_bind_interdomain = 0;
inline constexpr uint32_t EVTCHNOP_bind_virq = 1;
inline constexpr uint32_t EVTCHNOP_bind_pirq = 2;
inline constexpr uint32_t EVTCHNOP_close = 3;
inline constexpr uint32_t EVTCHNOP_send = 4;
inline constexpr uint32_t EVTCHNOP_status = 5;
inline constexpr uint32_t EVTCHNOP_alloc_unbound = 6;
inline constexpr uint32_t EVTCHNOP_bind_ipi = 7;
inline constexpr uint32_t EVTCHNOP_bind_vcpu = 8;
inline constexpr uint32_t EVTCHNOP_unmask = 9;
inline constexpr uint32_t EVTCHNOP_reset = 10;
inline constexpr uint32_t EVTCHNOP_init_control = 11;  // FIFO ABI
inline constexpr uint32_t EVTCHNOP_expand_array = 12;  // FIFO ABI
inline constexpr uint32_t EVTCHNOP_set_priority = 13;  // FIFO ABI
inline constexpr uint32_t EVTCHNOP_reset_cont = 14;

// Allocate a port in `dom` that `remote_dom` may bind to.
struct evtchn_alloc_unbound {
    domid_t dom;         // IN
    domid_t remote_dom;  // IN
    evtchn_port_t port;  // OUT
};
static_assert(sizeof(evtchn_alloc_unbound) == 8);
static_assert(__builtin_offsetof(evtchn_alloc_unbound, remote_dom) == 2);
static_assert(__builtin_offsetof(evtchn_alloc_unbound, port) == 4);

struct evtchn_bind_interdomain {
    domid_t remote_dom;         // IN
    evtchn_port_t remote_port;  // IN
    evtchn_port_t local_port;   // OUT
};
static_assert(sizeof(evtchn_bind_interdomain) == 12);
static_assert(__builtin_offsetof(evtchn_bind_interdomain, remote_port) == 4);
static_assert(__builtin_offsetof(evtchn_bind_interdomain, local_port) == 8);

// Per-vCPU VIRQs bind once per vCPU; global ones on vCPU 0 first.
struct evtchn_bind_virq {
    uint32_t virq;       // IN, VIRQ_*
    uint32_t vcpu;       // IN
    evtchn_port_t port;  // OUT
};
static_assert(sizeof(evtchn_bind_virq) == 12);
static_assert(__builtin_offsetof(evtchn_bind_virq, vcpu) == 4);
static_assert(__builtin_offsetof(evtchn_bind_virq, port) == 8);

inline constexpr uint32_t BIND_PIRQ__WILL_SHARE = 1;

struct evtchn_bind_pirq {
    uint32_t pirq;       // IN
    uint32_t flags;      // IN, BIND_PIRQ__*
    evtchn_port_t port;  // OUT
};
static_assert(sizeof(evtchn_bind_pirq) == 12);
static_assert(__builtin_offsetof(evtchn_bind_pirq, port) == 8);

struct evtchn_bind_ipi {
    uint32_t vcpu;       // IN
    evtchn_port_t port;  // OUT
};
static_assert(sizeof(evtchn_bind_ipi) == 8);
static_assert(__builtin_offsetof(evtchn_bind_ipi, port) == 4);

struct evtchn_close {
    evtchn_port_t port;  // IN
};
static_assert(sizeof(evtchn_close) == 4);

struct evtchn_send {
    evtchn_port_t port;  // IN
};
static_assert(sizeof(evtchn_send) == 4);

inline constexpr uint32_t EVTCHNSTAT_closed = 0;
inline constexpr uint32_t EVTCHNSTAT_unbound = 1;
inline constexpr uint32_t EVTCHNSTAT_interdomain = 2;
inline constexpr uint32_t EVTCHNSTAT_pirq = 3;
inline constexpr uint32_t EVTCHNSTAT_virq = 4;
inline constexpr uint32_t EVTCHNSTAT_ipi = 5;

struct evtchn_status {
    domid_t dom;         // IN
    evtchn_port_t port;  // IN
    uint32_t status;     // OUT, EVTCHNSTAT_*
    uint32_t vcpu;       // OUT
    union {
        struct {
            domid_t dom;
        } unbound;
        struct {
            domid_t dom;
            evtchn_port_t port;
        } interdomain;
        uint32_t pirq;
        uint32_t virq;
    } u;
};
static_assert(sizeof(evtchn_status) == 24);
static_assert(__builtin_offsetof(evtchn_status, port) == 4);
static_assert(__builtin_offsetof(evtchn_status, status) == 8);
static_assert(__builtin_offsetof(evtchn_status, vcpu) == 12);
static_assert(__builtin_offsetof(evtchn_status, u) == 16);
static_assert(__builtin_offsetof(evtchn_status, u.interdomain.port) == 20);

struct evtchn_bind_vcpu {
    evtchn_port_t port;  // IN
    uint32_t vcpu;       // IN
};
static_assert(sizeof(evtchn_bind_vcpu) == 8);

// Unmask the port and deliver an upcall if it is pending.
struct evtchn_unmask {
    evtchn_port_t port;  // IN
};
static_assert(sizeof(evtchn_unmask) == 4);

struct evtchn_reset {
    domid_t dom;  // IN
};
static_assert(sizeof(evtchn_reset) == 2);

// --- FIFO-based ABI ---------------------------------------------------------

struct evtchn_init_control {
    uint64_t control_gfn;  // IN
    uint32_t offset;       // IN
    uint32_t vcpu;         // IN
    uint8_t link_bits;     // OUT
    uint8_t _pad[7];
};
static_assert(sizeof(evtchn_init_control) == 24);
static_assert(__builtin_offsetof(evtchn_init_control, offset) == 8);
static_assert(__builtin_offsetof(evtchn_init_control, vcpu) == 12);
static_assert(__builtin_offsetof(evtchn_init_control, link_bits) == 16);

struct evtchn_expand_array {
    uint64_t array_gfn;  // IN
};
static_assert(sizeof(evtchn_expand_array) == 8);

struct evtchn_set_priority {
    evtchn_port_t port;  // IN
    uint32_t priority;   // IN
};
static_assert(sizeof(evtchn_set_priority) == 8);

inline constexpr uint32_t EVTCHN_FIFO_PRIORITY_MAX = 0;
inline constexpr uint32_t EVTCHN_FIFO_PRIORITY_DEFAULT = 7;
inline constexpr uint32_t EVTCHN_FIFO_PRIORITY_MIN = 15;
inline constexpr uint32_t EVTCHN_FIFO_MAX_QUEUES = EVTCHN_FIFO_PRIORITY_MIN + 1;
inline constexpr uint32_t EVTCHN_FIFO_PENDING = 31;
inline constexpr uint32_t EVTCHN_FIFO_MASKED = 30;
inline constexpr uint32_t EVTCHN_FIFO_LINKED = 29;
inline constexpr uint32_t EVTCHN_FIFO_BUSY = 28;
inline constexpr uint32_t EVTCHN_FIFO_LINK_BITS = 17;
inline constexpr uint32_t EVTCHN_FIFO_LINK_MASK = (1u << EVTCHN_FIFO_LINK_BITS) - 1;
inline constexpr uint32_t EVTCHN_FIFO_NR_CHANNELS = 1u << EVTCHN_FIFO_LINK_BITS;

}  // namespace sluice::xen
