// HYPERVISOR_hvm_op, xen/include/public/hvm/hvm_op.h, and the parameter
// space of HVMOP_set_param / HVMOP_get_param, hvm/params.h: the basics a PV
// or PVH guest touches.
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint32_t HVMOP_set_param = 0;  // arg: xen_hvm_param
inline constexpr uint32_t HVMOP_get_param = 1;  // arg: xen_hvm_param
inline constexpr uint32_t HVMOP_set_pci_intx_level = 2;
inline constexpr uint32_t HVMOP_set_isa_irq_level = 3;
inline constexpr uint32_t HVMOP_set_pci_link_route = 4;
inline constexpr uint32_t HVMOP_flush_tlbs = 5;        // arg: null
inline constexpr uint32_t HVMOP_pagetable_dying = 9;   // arg: xen_hvm_pagetable_dying
inline constexpr uint32_t HVMOP_get_time = 10;         // arg: xen_hvm_get_time
inline constexpr uint32_t HVMOP_xentrace = 11;
inline constexpr uint32_t HVMOP_get_mem_type = 15;     // arg: xen_hvm_get_mem_type
inline constexpr uint32_t HVMOP_set_evtchn_upcall_vector = 23;  // arg: xen_hvm_evtchn_upcall_vector
inline constexpr uint32_t HVMOP_guest_request_vm_event = 24;
inline constexpr uint32_t HVMOP_altp2m = 25;

struct xen_hvm_param {
    domid_t domid;   // IN
    uint32_t index;  // IN, HVM_PARAM_*
    uint64_t value;  // IN/OUT
};
static_assert(sizeof(xen_hvm_param) == 16);
static_assert(__builtin_offsetof(xen_hvm_param, index) == 4);
static_assert(__builtin_offsetof(xen_hvm_param, value) == 8);

struct xen_hvm_pagetable_dying {
    domid_t domid;
    uint16_t pad[3];
    uint64_t gpa;  // guest physical address of the top-level table
};
static_assert(sizeof(xen_hvm_pagetable_dying) == 16);
static_assert(__builtin_offsetof(xen_hvm_pagetable_dying, gpa) == 8);

struct xen_hvm_get_time {
    uint64_t now;  // OUT: ns since boot
};
static_assert(sizeof(xen_hvm_get_time) == 8);

// hvmmem_type_t.
inline constexpr uint16_t HVMMEM_ram_rw = 0;
inline constexpr uint16_t HVMMEM_ram_ro = 1;
inline constexpr uint16_t HVMMEM_mmio_dm = 2;
inline constexpr uint16_t HVMMEM_unused = 3;
inline constexpr uint16_t HVMMEM_ioreq_server = 4;

struct xen_hvm_get_mem_type {
    domid_t domid;      // IN
    uint16_t mem_type;  // OUT, HVMMEM_*
    uint16_t pad[2];
    uint64_t pfn;  // IN
};
static_assert(sizeof(xen_hvm_get_mem_type) == 16);
static_assert(__builtin_offsetof(xen_hvm_get_mem_type, mem_type) == 2);
static_assert(__builtin_offsetof(xen_hvm_get_mem_type, pfn) == 8);

struct xen_hvm_evtchn_upcall_vector {
    uint32_t vcpu;
    uint8_t vector;
};
static_assert(sizeof(xen_hvm_evtchn_upcall_vector) == 8);
static_assert(__builtin_offsetof(xen_hvm_evtchn_upcall_vector, vector) == 4);

// --- hvm/params.h ----------------------------------------------------------

// How vCPU 0's event-channel notifications are delivered: 0 disables them,
// otherwise val[63:56] is the type below.
inline constexpr uint32_t HVM_PARAM_CALLBACK_IRQ = 0;
inline constexpr uint64_t HVM_PARAM_CALLBACK_IRQ_TYPE_MASK = 0xff00000000000000;
inline constexpr uint64_t HVM_PARAM_CALLBACK_TYPE_GSI = 0;       // val[55:0]: GSI (not 0)
inline constexpr uint64_t HVM_PARAM_CALLBACK_TYPE_PCI_INTX = 1;  // val[55:0]: domain, bus, devfn, INTx
inline constexpr uint64_t HVM_PARAM_CALLBACK_TYPE_VECTOR = 2;    // val[7:0]: vector (x86)

inline constexpr uint32_t HVM_PARAM_STORE_PFN = 1;
inline constexpr uint32_t HVM_PARAM_STORE_EVTCHN = 2;
inline constexpr uint32_t HVM_PARAM_PAE_ENABLED = 4;
inline constexpr uint32_t HVM_PARAM_IOREQ_PFN = 5;
inline constexpr uint32_t HVM_PARAM_BUFIOREQ_PFN = 6;
inline constexpr uint32_t HVM_PARAM_VIRIDIAN = 9;
inline constexpr uint32_t HVM_PARAM_TIMER_MODE = 10;
inline constexpr uint32_t HVM_PARAM_HPET_ENABLED = 11;
inline constexpr uint32_t HVM_PARAM_IDENT_PT = 12;
inline constexpr uint32_t HVM_PARAM_DM_DOMAIN = 13;
inline constexpr uint32_t HVM_PARAM_ACPI_S_STATE = 14;
inline constexpr uint32_t HVM_PARAM_VM86_TSS = 15;
inline constexpr uint32_t HVM_PARAM_VPT_ALIGN = 16;
inline constexpr uint32_t HVM_PARAM_CONSOLE_PFN = 17;
inline constexpr uint32_t HVM_PARAM_CONSOLE_EVTCHN = 18;
inline constexpr uint32_t HVM_PARAM_ACPI_IOPORTS_LOCATION = 19;
inline constexpr uint32_t HVM_PARAM_NESTEDHVM = 24;
inline constexpr uint32_t HVM_PARAM_BUFIOREQ_EVTCHN = 26;
inline constexpr uint32_t HVM_PARAM_PAGING_RING_PFN = 27;
inline constexpr uint32_t HVM_PARAM_MONITOR_RING_PFN = 28;
inline constexpr uint32_t HVM_PARAM_SHARING_RING_PFN = 29;
inline constexpr uint32_t HVM_PARAM_TRIPLE_FAULT_REASON = 31;
inline constexpr uint32_t HVM_PARAM_IOREQ_SERVER_PFN = 32;
inline constexpr uint32_t HVM_PARAM_NR_IOREQ_SERVER_PAGES = 33;
inline constexpr uint32_t HVM_PARAM_VM_GENERATION_ID_ADDR = 34;
inline constexpr uint32_t HVM_PARAM_ALTP2M = 35;
inline constexpr uint32_t HVM_PARAM_X87_FIP_WIDTH = 36;
inline constexpr uint32_t HVM_PARAM_VM86_TSS_SIZED = 37;
inline constexpr uint32_t HVM_PARAM_MCA_CAP = 38;

inline constexpr uint32_t HVM_NR_PARAMS = 39;

// HVM_PARAM_TIMER_MODE values.
inline constexpr uint64_t HVMPTM_delay_for_missed_ticks = 0;
inline constexpr uint64_t HVMPTM_no_delay_for_missed_ticks = 1;
inline constexpr uint64_t HVMPTM_no_missed_ticks_pending = 2;
inline constexpr uint64_t HVMPTM_one_missed_tick_pending = 3;

}  // namespace sluice::xen
