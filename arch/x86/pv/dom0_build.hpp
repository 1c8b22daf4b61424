// The start-of-day state of a 64-bit PV dom0, as Xen's public ABI describes it
// (xen/include/public/xen.h, "Start-of-day memory layout"; docs/pv.md).
//
// Usage (boot, once):
//     Dom0BuildInputs inputs{kernel, initrd, initrd_length, command_line, &dom0_memory, shared_info_page,
//                            SIF_INITDOMAIN | SIF_PRIVILEGED};
//     Dom0BuildDiagnostic diagnostic;
//     Result<Dom0InitialState> state = build_pv_dom0(inputs, memory, machine_to_physical, diagnostic);
//     if (!state) { logger.error("%s", diagnostic.message); ... }
//     log_dom0_layout(state.value());
//     // then: assign dom0's frames in the FrameTable, pin_dom0_bootstrap_tables(state, types, dom0, batch,
//     // diagnostic), commit the batch, load CR3 = state.l4 and enter rip/rsp/rsi with the flat kernel
//     // selectors (FLAT_KERNEL_CS/SS) and events masked.
//
// Pseudo-physical frames 0..nr_pages-1 are dom0's machine frames in the order of `memory`'s ranges
// (PseudoPhysicalMap), so pseudo-physical is not machine (a PV guest is not translated). The virtual
// region [virt_base, virt_end) maps pseudo-physical frames 0.. one to one:
//     virtual = virt_base + pseudo-physical
// and holds, in this order, each item starting on a page boundary:
//     the kernel      [virt_kstart, virt_kend), loaded as Xen's libelf does (see compute_kernel_placement)
//     the initrd      copied into dom0's memory; or, with XEN_ELFNOTE_MOD_START_PFN, left unmapped at the
//                     first pseudo-physical frame after virt_end (SIF_MOD_START_PFN, mod_start = that pfn)
//     the p2m list    nr_pages 64-bit machine frame numbers (start_info.mfn_list)
//     start_info      (start_info.h layout; rsi at entry)
//     page tables     one L4, then the L3s, the L2s and the L1s that map [virt_base, virt_end), read-only
//     the boot stack  one page; rsp = its top
// and virt_end is the next 4 MiB boundary that leaves at least 512 KiB after the stack. The number of
// table frames depends on virt_end, which depends on it: the smallest count that covers the region
// including the tables themselves is found by iteration (compute_dom0_layout).
//
// The kernel's notes are read and checked by common/xen_elf_notes (compute_pv_layout: Xen's loader
// rules); the builder adds one rule of its own: a feature the kernel requires ("!name") must be one
// the hypervisor offers (pv_dom0_offered_features). XEN_ELFNOTE_PAE_MODE is not consulted (64-bit PV
// is always 4-level paging; Xen reads it for 32-bit kernels only). XEN_ELFNOTE_INIT_P2M is not
// honoured: the p2m list stays in the initial mapping (what Xen does without the note; kernels that
// give it, such as Linux, accept either), so first_p2m_pfn and nr_p2m_frames are 0.
#pragma once

#include <arch/x86/mm/page_types.hpp>
#include <mm/range_set.hpp>
#include <public/features.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::pv {

// Why the build refused, in one line naming the field and offset or the size that did not fit, e.g.
//   "dom0 kernel: XEN_ELFNOTE_ENTRY at offset 0x1f4: entry 0x2000 lies outside the kernel image"
//   "dom0 memory: 1024 pages (4 MiB) cannot hold the 1536 pages the start-of-day layout needs"
struct Dom0BuildDiagnostic {
    static constexpr size_t capacity = 224;
    char message[capacity] = {};
};

// What Sluice's PV implementation offers a 64-bit PV dom0, honestly: the page directory may live
// anywhere (always true in 4-level paging), MMU_PT_UPDATE_PRESERVE_AD is implemented, and this is dom0.
// Not offered: writable page tables (no emulation of guest writes to its page-table frames),
// writable descriptor tables, auto-translation, supervisor-mode kernels, grant tables.
// A kernel whose XEN_ELFNOTE_FEATURES names a feature with "!" (required) outside this set is refused.
inline constexpr uint32_t pv_dom0_offered_features = (uint32_t{1} << xen::XENFEAT_pae_pgdir_above_4gb) |
                                                     (uint32_t{1} << xen::XENFEAT_mmu_pt_update_preserve_ad) |
                                                     (uint32_t{1} << xen::XENFEAT_dom0);

// Writes machine-to-physical entries (the table the ABI shows read-only at MACH2PHYS_VIRT_START).
class MachineToPhysicalWriter {
public:
    virtual void set(uint64_t machine_frame, uint64_t pseudo_physical_frame) = 0;
    // count consecutive machine frames from first_machine_frame get
    // consecutive pseudo-physical frames from first_pseudo_physical_frame:
    // what a contiguous range of dom0's memory needs, in one call.
    virtual void set_run(uint64_t first_machine_frame, uint64_t first_pseudo_physical_frame, uint64_t count) {
        for (uint64_t index = 0; index < count; ++index)
            set(first_machine_frame + index, first_pseudo_physical_frame + index);
    }

protected:
    ~MachineToPhysicalWriter() = default;
};

struct Dom0BuildInputs {
    Span<const uint8_t> kernel;                       // the ELF image (boot module 0); not in dom0 memory
    PhysicalAddress initrd = 0;                       // boot module 1 (machine address), if any
    uint64_t initrd_length = 0;                       // 0: no initrd
    StringView command_line;                          // up to 1023 bytes kept; longer is cut with a warning
    const passthrough::RangeSet* memory = nullptr;    // dom0's machine memory: page-aligned ranges, in order
    PhysicalAddress shared_info = 0;                  // a page the caller allocated (machine address)
    uint32_t flags = 0;                               // start_info.flags: SIF_INITDOMAIN | SIF_PRIVILEGED
    uint16_t domain_id = 0;
    uint32_t offered_features = pv_dom0_offered_features;  // XENFEAT_* bits the hypervisor implements
};

// A virtual range [start, end).
struct VirtualRange {
    uint64_t start = 0;
    uint64_t end = 0;
    [[nodiscard]] constexpr uint64_t length() const { return end - start; }
    [[nodiscard]] constexpr bool empty() const { return end <= start; }
};

// Every virtual range of the start-of-day layout, in the order the ABI gives them.
struct Dom0Layout {
    uint64_t virt_base = 0;        // v_start: virtual address of pseudo-physical 0
    uint64_t virt_end = 0;         // v_end: exclusive, 4 MiB aligned, >= 512 KiB after the stack
    uint64_t nr_pages = 0;         // pseudo-physical frames 0..nr_pages-1
    uint64_t mapped_pages = 0;     // (virt_end - virt_base) / page_size
    VirtualRange kernel;           // [virt_kstart, virt_kend)
    VirtualRange initrd;           // empty when there is none or it is left unmapped
    bool initrd_unmapped = false;  // XEN_ELFNOTE_MOD_START_PFN: SIF_MOD_START_PFN, mod_start = first pfn
    uint64_t initrd_first_pfn = 0; // where the initrd's copy lives pseudo-physically
    uint64_t initrd_pages = 0;
    VirtualRange p2m_list;         // start_info.mfn_list
    VirtualRange start_info;
    VirtualRange page_tables;      // start_info.pt_base; L4, L3s, L2s, L1s in that order
    VirtualRange boot_stack;
    uint64_t l3_tables = 0, l2_tables = 0, l1_tables = 0;
    uint64_t nr_pt_frames = 0;     // 1 + l3_tables + l2_tables + l1_tables
    uint64_t entry = 0;
    Optional<uint64_t> hypercall_page;

    [[nodiscard]] constexpr uint64_t pseudo_physical(uint64_t virtual_address) const {
        return virtual_address - virt_base;
    }
};

// What the layout depends on, once the image is understood.
struct Dom0LayoutRequest {
    uint64_t virt_base = 0;
    VirtualRange kernel;
    uint64_t entry = 0;
    Optional<uint64_t> hypercall_page;
    uint64_t initrd_length = 0;
    bool initrd_unmapped = false;
    uint64_t nr_pages = 0;
    // Where each value came from, for messages: the note (or ELF header field) and its file offset.
    const char* entry_field = "e_entry";
    uint64_t entry_offset = 24;           // e_entry's offset in the ELF-64 header
    uint64_t hypercall_page_offset = 0;   // of XEN_ELFNOTE_HYPERCALL_PAGE
    uint64_t virt_base_offset = 0;        // of XEN_ELFNOTE_VIRT_BASE (0: absent)
};

// Computes the layout and checks it: virt_base page aligned, the kernel at or above virt_base and not
// empty, the entry inside the kernel, the hypercall page page aligned and inside the kernel's pages,
// [virt_base, virt_end) canonical, clear of the hypervisor's slots 256-271 and not wrapping, and
// nr_pages holding every mapped page plus an unmapped initrd.
[[nodiscard]] Result<Dom0Layout> compute_dom0_layout(const Dom0LayoutRequest& request, Dom0BuildDiagnostic& diagnostic);

// Pseudo-physical frame numbers over dom0's machine memory: frame n is the n-th page of the ranges.
class PseudoPhysicalMap {
public:
    explicit PseudoPhysicalMap(const passthrough::RangeSet& memory) : memory_(memory) {}

    [[nodiscard]] uint64_t frame_count() const { return memory_.total_length() >> page_shift; }
    // The machine frame of pseudo-physical frame pfn; empty beyond frame_count().
    [[nodiscard]] Optional<uint64_t> machine_frame(uint64_t pfn) const;

    // Visits pseudo-physical frames [first, first + count) in order with their machine frames:
    // visitor(pfn, mfn). Linear in the ranges plus count.
    template <typename Visitor> void for_each(uint64_t first, uint64_t count, Visitor&& visitor) const {
        uint64_t pfn = 0;
        const uint64_t last = first + count;
        for (const passthrough::AddressRange& range : memory_) {
            const uint64_t frames = range.length() >> page_shift;
            const uint64_t range_end = pfn + frames;
            if (range_end > first && pfn < last) {
                const uint64_t begin = first > pfn ? first : pfn;
                const uint64_t end = last < range_end ? last : range_end;
                const uint64_t machine_base = (range.start >> page_shift) - pfn;
                for (uint64_t frame = begin; frame < end; ++frame) visitor(frame, machine_base + frame);
            }
            pfn = range_end;
            if (pfn >= last) break;
        }
    }

private:
    const passthrough::RangeSet& memory_;
};

// Page-table levels as the Intel SDM names the x86-64 4-level structures (Vol. 3A, 4.5).
enum class PageTableLevel : uint8_t { l1 = 1, l2 = 2, l3 = 3, l4 = 4 };

struct BootstrapTableFrame {
    uint64_t machine_frame = 0;
    PageTableLevel level = PageTableLevel::l1;
};

struct Dom0InitialState {
    uint64_t rip = 0;                   // XEN_ELFNOTE_ENTRY, else e_entry
    uint64_t rsp = 0;                   // top of the boot stack
    uint64_t rsi = 0;                   // virtual address of start_info
    PhysicalAddress l4 = 0;             // machine address of the bootstrap L4 (CR3)
    Optional<uint64_t> hypercall_page;  // virtual, when the kernel asked for one
    uint32_t flags = 0;                 // start_info.flags as written
    uint32_t required_features = 0;     // the kernel's "!feature" set (all offered, or the build refused)
    uint32_t supported_features = 0;    // the kernel's XENFEAT_* support set
    uint64_t first_table_pfn = 0;       // pseudo-physical frame of the L4; the tables follow in order
    Dom0Layout layout;

    // The bootstrap page-table frames, index 0 .. layout.nr_pt_frames - 1: L4, L3s, L2s, L1s.
    [[nodiscard]] BootstrapTableFrame page_table_frame(const PseudoPhysicalMap& map, uint64_t index) const;
};

// Builds dom0's start-of-day state: parses the kernel and its Xen notes, checks them, loads the kernel
// (bss zeroed), copies the initrd, writes the p2m list, start_info, the bootstrap page tables, the
// hypercall page and shared_info through `memory`, and every machine-to-physical entry through
// `machine_to_physical`. On refusal nothing is guaranteed about dom0's memory (it is dom0's, and dom0
// does not run), shared_info and the machine-to-physical table are untouched, and `diagnostic` says why.
[[nodiscard]] Result<Dom0InitialState> build_pv_dom0(const Dom0BuildInputs& inputs, PhysicalMemory& memory,
                                                     MachineToPhysicalWriter& machine_to_physical,
                                                     Dom0BuildDiagnostic& diagnostic);

// Types and validates the bootstrap tables through the page-type engine by pinning the L4
// (MMUEXT_PIN_L4_TABLE semantics: the L3s, L2s and L1s get their types on the way down, and every
// page the L1s map writable takes a writable type reference, as the ABI's start-of-day state has it).
// Every frame of dom0's memory must already be assigned to dom0 in the engine's FrameTable. Changes go
// into `batch`; the caller commits it. Refused with the engine's Xen errno in the message.
[[nodiscard]] Status pin_dom0_bootstrap_tables(const Dom0InitialState& state, mm::PageTypes& types,
                                               const mm::DomainContext& dom0, paging::Batch& batch,
                                               Dom0BuildDiagnostic& diagnostic);

// The 32 bytes of hypercall page slot `number` (Xen's 64-bit PV hypercall page: SYSCALL with the
// number in eax, rcx and r11 preserved; slot 23, iret, never returns), the rest int3.
inline constexpr size_t hypercall_slot_size = 32;
void hypercall_slot(uint32_t number, uint8_t (&slot)[hypercall_slot_size]);

// Prints the layout one line per range, as Xen's builder does, with the prefix "dom0:".
void log_dom0_layout(const Dom0InitialState& state);

}  // namespace sluice::x86::pv
