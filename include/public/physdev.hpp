// HYPERVISOR_physdev_op, xen/include/public/physdev.h:
//   int physdev_op(int cmd, void *args)
// The commands dom0 uses to manage interrupts, I/O privilege and PCI devices.
#pragma once

#include <sluice/types.hpp>

#include <public/xen.hpp>

namespace sluice::xen {

inline constexpr uint32_t PHYSDEVOP_IRQ_UNMASK_NOTIFY = 4;  // obsolete since 0x00030202
inline constexpr uint32_t PHYSDEVOP_irq_status_query = 5;   // arg: physdev_irq_status_query
inline constexpr uint32_t PHYSDEVOP_set_iopl = 6;           // arg: physdev_set_iopl
inline constexpr uint32_t PHYSDEVOP_set_iobitmap = 7;       // arg: physdev_set_iobitmap
inline constexpr uint32_t PHYSDEVOP_apic_read = 8;          // arg: physdev_apic
inline constexpr uint32_t PHYSDEVOP_apic_write = 9;         // arg: physdev_apic
inline constexpr uint32_t PHYSDEVOP_alloc_irq_vector = 10;  // arg: physdev_irq
inline constexpr uint32_t PHYSDEVOP_free_irq_vector = 11;   // arg: physdev_irq
inline constexpr uint32_t PHYSDEVOP_eoi = 12;               // arg: physdev_eoi
inline constexpr uint32_t PHYSDEVOP_map_pirq = 13;          // arg: physdev_map_pirq
inline constexpr uint32_t PHYSDEVOP_unmap_pirq = 14;        // arg: physdev_unmap_pirq
inline constexpr uint32_t PHYSDEVOP_manage_pci_add = 15;    // arg: physdev_manage_pci
inline constexpr uint32_t PHYSDEVOP_manage_pci_remove = 16;
inline constexpr uint32_t PHYSDEVOP_pirq_eoi_gmfn_v1 = 17;      // arg: physdev_pirq_eoi_gmfn
inline constexpr uint32_t PHYSDEVOP_restore_msi = 19;           // arg: physdev_restore_msi
inline constexpr uint32_t PHYSDEVOP_manage_pci_add_ext = 20;    // arg: physdev_manage_pci_ext
inline constexpr uint32_t PHYSDEVOP_setup_gsi = 21;             // arg: physdev_setup_gsi
// 22 is left free.
inline constexpr uint32_t PHYSDEVOP_get_free_pirq = 23;         // arg: physdev_get_free_pirq
inline constexpr uint32_t PHYSDEVOP_pci_mmcfg_reserved = 24;    // arg: physdev_pci_mmcfg_reserved
inline constexpr uint32_t PHYSDEVOP_pci_device_add = 25;        // arg: physdev_pci_device_add
inline constexpr uint32_t PHYSDEVOP_pci_device_remove = 26;     // arg: physdev_pci_device
inline constexpr uint32_t PHYSDEVOP_restore_msi_ext = 27;       // arg: physdev_pci_device
inline constexpr uint32_t PHYSDEVOP_pirq_eoi_gmfn_v2 = 28;      // arg: physdev_pirq_eoi_gmfn
inline constexpr uint32_t PHYSDEVOP_dbgp_op = 29;               // arg: physdev_dbgp_op
inline constexpr uint32_t PHYSDEVOP_prepare_msix = 30;          // arg: physdev_pci_device
inline constexpr uint32_t PHYSDEVOP_release_msix = 31;          // arg: physdev_pci_device
inline constexpr uint32_t PHYSDEVOP_pci_device_reset = 32;      // arg: pci_device_reset
inline constexpr uint32_t PHYSDEVOP_pirq_eoi_gmfn = PHYSDEVOP_pirq_eoi_gmfn_v2;  // interface >= 0x00040200

struct physdev_eoi {
    uint32_t irq;  // IN
};
static_assert(sizeof(physdev_eoi) == 4);

struct physdev_pirq_eoi_gmfn {
    xen_pfn_t gmfn;  // IN
};
static_assert(sizeof(physdev_pirq_eoi_gmfn) == 8);

inline constexpr uint32_t XENIRQSTAT_needs_eoi_bit = 0;
inline constexpr uint32_t XENIRQSTAT_needs_eoi = 1u << XENIRQSTAT_needs_eoi_bit;
inline constexpr uint32_t XENIRQSTAT_shared_bit = 1;
inline constexpr uint32_t XENIRQSTAT_shared = 1u << XENIRQSTAT_shared_bit;

struct physdev_irq_status_query {
    uint32_t irq;    // IN
    uint32_t flags;  // OUT, XENIRQSTAT_*
};
static_assert(sizeof(physdev_irq_status_query) == 8);

struct physdev_set_iopl {
    uint32_t iopl;  // IN
};
static_assert(sizeof(physdev_set_iopl) == 4);

// With nr_ports non-zero, two bytes are read from the bitmap (like the TSS
// I/O bitmap), possibly one beyond nr_ports.
struct physdev_set_iobitmap {
    uint64_t bitmap;  // IN: guest handle (virtual address) of the bitmap
    uint32_t nr_ports;
};
static_assert(sizeof(physdev_set_iobitmap) == 16);
static_assert(__builtin_offsetof(physdev_set_iobitmap, nr_ports) == 8);

struct physdev_apic {
    uint64_t apic_physbase;  // IN
    uint32_t reg;            // IN
    uint32_t value;          // IN or OUT
};
static_assert(sizeof(physdev_apic) == 16);
static_assert(__builtin_offsetof(physdev_apic, reg) == 8);
static_assert(__builtin_offsetof(physdev_apic, value) == 12);

struct physdev_irq {
    uint32_t irq;     // IN
    uint32_t vector;  // IN or OUT
};
static_assert(sizeof(physdev_irq) == 8);

inline constexpr int32_t MAP_PIRQ_TYPE_MSI = 0x0;
inline constexpr int32_t MAP_PIRQ_TYPE_GSI = 0x1;
inline constexpr int32_t MAP_PIRQ_TYPE_UNKNOWN = 0x2;
inline constexpr int32_t MAP_PIRQ_TYPE_MSI_SEG = 0x3;
inline constexpr int32_t MAP_PIRQ_TYPE_MULTI_MSI = 0x4;

struct physdev_map_pirq {
    domid_t domid;
    int32_t type;        // IN, MAP_PIRQ_TYPE_*
    int32_t index;       // IN (ignored for MULTI_MSI)
    int32_t pirq;        // IN or OUT
    int32_t bus;         // IN; high 16 bits hold the segment for MSI_SEG and MULTI_MSI
    int32_t devfn;       // IN
    int32_t entry_nr;    // IN (also OUT for MULTI_MSI)
    uint64_t table_base; // IN
};
static_assert(sizeof(physdev_map_pirq) == 40);
static_assert(__builtin_offsetof(physdev_map_pirq, type) == 4);
static_assert(__builtin_offsetof(physdev_map_pirq, index) == 8);
static_assert(__builtin_offsetof(physdev_map_pirq, pirq) == 12);
static_assert(__builtin_offsetof(physdev_map_pirq, bus) == 16);
static_assert(__builtin_offsetof(physdev_map_pirq, devfn) == 20);
static_assert(__builtin_offsetof(physdev_map_pirq, entry_nr) == 24);
static_assert(__builtin_offsetof(physdev_map_pirq, table_base) == 32);

struct physdev_unmap_pirq {
    domid_t domid;
    int32_t pirq;  // IN
};
static_assert(sizeof(physdev_unmap_pirq) == 8);
static_assert(__builtin_offsetof(physdev_unmap_pirq, pirq) == 4);

struct physdev_manage_pci {
    uint8_t bus;  // IN
    uint8_t devfn;
};
static_assert(sizeof(physdev_manage_pci) == 2);

struct physdev_restore_msi {
    uint8_t bus;  // IN
    uint8_t devfn;
};
static_assert(sizeof(physdev_restore_msi) == 2);

struct physdev_manage_pci_ext {
    uint8_t bus;  // IN
    uint8_t devfn;
    uint32_t is_extfn;
    uint32_t is_virtfn;
    struct {
        uint8_t bus;
        uint8_t devfn;
    } physfn;
};
static_assert(sizeof(physdev_manage_pci_ext) == 16);
static_assert(__builtin_offsetof(physdev_manage_pci_ext, is_extfn) == 4);
static_assert(__builtin_offsetof(physdev_manage_pci_ext, is_virtfn) == 8);
static_assert(__builtin_offsetof(physdev_manage_pci_ext, physfn) == 12);

struct physdev_setup_gsi {
    int32_t gsi;         // IN
    uint8_t triggering;  // IN
    uint8_t polarity;    // IN
};
static_assert(sizeof(physdev_setup_gsi) == 8);
static_assert(__builtin_offsetof(physdev_setup_gsi, triggering) == 4);
static_assert(__builtin_offsetof(physdev_setup_gsi, polarity) == 5);

struct physdev_get_free_pirq {
    int32_t type;   // IN, MAP_PIRQ_TYPE_GSI or MAP_PIRQ_TYPE_MSI
    uint32_t pirq;  // OUT
};
static_assert(sizeof(physdev_get_free_pirq) == 8);

inline constexpr uint32_t XEN_PCI_MMCFG_RESERVED = 0x1;

struct physdev_pci_mmcfg_reserved {
    uint64_t address;
    uint16_t segment;
    uint8_t start_bus;
    uint8_t end_bus;
    uint32_t flags;  // XEN_PCI_MMCFG_*
};
static_assert(sizeof(physdev_pci_mmcfg_reserved) == 16);
static_assert(__builtin_offsetof(physdev_pci_mmcfg_reserved, segment) == 8);
static_assert(__builtin_offsetof(physdev_pci_mmcfg_reserved, start_bus) == 10);
static_assert(__builtin_offsetof(physdev_pci_mmcfg_reserved, end_bus) == 11);
static_assert(__builtin_offsetof(physdev_pci_mmcfg_reserved, flags) == 12);

inline constexpr uint32_t XEN_PCI_DEV_EXTFN = 0x1;
inline constexpr uint32_t XEN_PCI_DEV_VIRTFN = 0x2;
inline constexpr uint32_t XEN_PCI_DEV_PXM = 0x4;

// Followed in guest memory by the optional uint32_t parameters `optarr`
// (the C header's flexible array member; optarr[0] is the PXM when
// XEN_PCI_DEV_PXM is set), at physdev_pci_device_add_optarr_offset.
struct physdev_pci_device_add {
    uint16_t seg;  // IN
    uint8_t bus;
    uint8_t devfn;
    uint32_t flags;  // XEN_PCI_DEV_*
    struct {
        uint8_t bus;
        uint8_t devfn;
    } physfn;
};
static_assert(__builtin_offsetof(physdev_pci_device_add, bus) == 2);
static_assert(__builtin_offsetof(physdev_pci_device_add, devfn) == 3);
static_assert(__builtin_offsetof(physdev_pci_device_add, flags) == 4);
static_assert(__builtin_offsetof(physdev_pci_device_add, physfn) == 8);
// The flexible uint32_t array starts at the next 4-byte boundary.
inline constexpr uint32_t physdev_pci_device_add_optarr_offset = 12;

struct physdev_pci_device {
    uint16_t seg;  // IN
    uint8_t bus;
    uint8_t devfn;
};
static_assert(sizeof(physdev_pci_device) == 4);
static_assert(__builtin_offsetof(physdev_pci_device, bus) == 2);
static_assert(__builtin_offsetof(physdev_pci_device, devfn) == 3);

inline constexpr uint32_t PCI_DEVICE_RESET_COLD = 0x0;
inline constexpr uint32_t PCI_DEVICE_RESET_WARM = 0x1;
inline constexpr uint32_t PCI_DEVICE_RESET_HOT = 0x2;
inline constexpr uint32_t PCI_DEVICE_RESET_FLR = 0x3;
inline constexpr uint32_t PCI_DEVICE_RESET_MASK = 0x3;

struct pci_device_reset {
    physdev_pci_device dev;
    uint32_t flags;  // PCI_DEVICE_RESET_*
};
static_assert(sizeof(pci_device_reset) == 8);
static_assert(__builtin_offsetof(pci_device_reset, flags) == 4);

inline constexpr uint8_t PHYSDEVOP_DBGP_RESET_PREPARE = 1;
inline constexpr uint8_t PHYSDEVOP_DBGP_RESET_DONE = 2;
inline constexpr uint8_t PHYSDEVOP_DBGP_BUS_UNKNOWN = 0;
inline constexpr uint8_t PHYSDEVOP_DBGP_BUS_PCI = 1;

struct physdev_dbgp_op {
    uint8_t op;   // IN, PHYSDEVOP_DBGP_RESET_*
    uint8_t bus;  // IN, PHYSDEVOP_DBGP_BUS_*
    union {
        physdev_pci_device pci;
    } u;
};
static_assert(sizeof(physdev_dbgp_op) == 6);
static_assert(__builtin_offsetof(physdev_dbgp_op, u) == 2);

}  // namespace sluice::xen
