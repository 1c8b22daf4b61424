// PV page types: the frame table, validation of a 64-bit PV guest's page
// tables and descriptor pages, the mmu_update / mmuext_op /
// update_va_mapping / update_descriptor semantics, and the strict-IOMMU rule.
//
// Usage (the hypercall layer copies the guest's arrays in first):
//
//     FrameRecord records[frames];                       // boot allocates
//     FrameTable table(Span<FrameRecord>(records, frames), first_frame);
//     table.assign(frame, domain_id, /*device_mapped=*/strict);  // per dom0 frame
//     uint64_t pending[PageTypes::suggested_pending_capacity];
//     PageTypes types(table, memory, hypervisor_slots, &machine_to_physical,
//                     Span<uint64_t>(pending, array_length(pending)));
//     DomainContext dom0{.id = 0, .io_memory = &dom0_mmio, .iommu = &follower,
//                        .may_flush_cache = true};
//
//     paging::Batch batch(dom0_iommu.invalidation_targets());  // one per hypercall
//     Outcome outcome = types.mmu_update(dom0, requests, batch);
//     // outcome.status: 0 or -XEN_E*; outcome.completed: success_count
//     Effects effects;
//     outcome = types.mmuext_op(dom0, operations, vcpu.bases, effects, batch);
//     int32_t status = types.update_va_mapping(dom0, vcpu.bases.kernel, va, value, flags,
//                                              effects, batch);
//     (void)batch.commit();  // the caller's one commit per hypercall
//     // effects.cpu_flush: satisfied by the CR3 load on return (docs/pv.md);
//     // effects.cache_flush: WBINVD; effects.ldt_changed: new LDT base/entries.
//
//     // The domain builder: write tables as plain memory, then
//     types.pin_table(dom0, l4_frame, FrameType::l4, batch);   // validates the tree
//     // and one MMUEXT_NEW_BASEPTR (or set BaseTables through mmuext_op).
//     // The vCPU layer: get_page_type(ctx, frame, FrameType::segment_descriptor, batch)
//     // for GDT/LDT frames, put_page_type() when it stops using them.
//     // The guest-memory walker: is_writable(ctx, frame) before writing a frame.
//
// Rules (errors are negative Xen errno values; every refusal is logged with
// the request index, entry address, value and reason):
// - Not-present entries are never checked (the CPU never walks them).
// - Present entries at any level: protection-key bits 59-62 and address
//   bits at or above MAXPHYADDR are refused (-EINVAL), and so is G (bit 8)
//   above L1; G in an L1 entry, NX and the ignored bits 9-11 and 52-58 are
//   allowed (CR4.PGE stays clear, so the processor ignores G); U is forced
//   on, since a 64-bit PV kernel runs in ring 3 (Xen does the same).
// - L1: maps a frame the domain owns (general reference; R/W=1 also a
//   writable type reference, refused with -EINVAL when the frame has a
//   page-table or descriptor type), or I/O memory in DomainContext::io_memory
//   (no reference); anything else -EPERM. Bit 7 is PAT there, allowed.
// - L2/L3: PS refused (-EINVAL, no PV superpages); L4: bit 7 reserved.
//   The target gets type L(n-1) (-EPERM if not the domain's, -EINVAL on a
//   type conflict or a loop back into a table being validated). A read-only
//   entry to its own table (the recursive mapping) holds nothing; a
//   read-only entry to another validated table of the same level is a
//   linear entry (one hop only, as after XSA-240); writable ones -EINVAL.
// - L4 slots 256-271 are the hypervisor's: overwritten on validation,
//   mmu_update to them -EINVAL.
// - Descriptor pages: see check_descriptor() in page_types.cpp (present
//   system descriptors refused, DPL 0-2 code/data presented at DPL 3).
// - Counts never wrap (-EOVERFLOW). Types change only at type count zero;
//   the last reference of a page-table type drops what its entries hold.
// - mmuext_op: pin twice / unpin unpinned -EINVAL; FLUSH_CACHE without
//   may_flush_cache -EACCES; SET_LDT unaligned, > 8192 entries or outside
//   the guest's canonical range -EINVAL; [UN]MARK_SUPER -EOPNOTSUPP; unknown
//   commands -ENOSYS. mmu_update MMU_PT_UPDATE_NO_TRANSLATE -EINVAL (PV).
//
// Strict IOMMU (docs/pv.md "Strict IOMMU", Xen advisory XSA-288). A frame of
// a domain with an IommuFollower is device-mapped exactly while its type is
// none or writable. The design keeps both required properties:
// 1. No content is trusted while a device may write it. Each public call
//    first runs a *prepare pass* (reads only, trusts nothing): over the
//    requests (mmu_update entries that would give a type-free frame an
//    L1-L3 type, pins, new base pointers) and, from each such frame, over
//    the tree below it. Every type-free, device-mapped frame found is
//    unmapped into the caller's batch and remembered in the pending list;
//    then the batch is committed once. Only after that does validation read
//    any content. A frame validation meets that is still device-mapped (its
//    contents changed between the passes, or the pending list was full) is
//    unmapped and the batch committed right then, before the frame is read
//    (Statistics::late_unmaps counts these; zero in the normal case).
// 2. One invalidation per unit per hypercall. Unmaps are all in the prepare
//    commit. A frame whose restricted type count drops to zero is not mapped
//    at once but noted in the pending list; at the end of the call every
//    pending frame that is still type-free (or writable) is mapped again into
//    the caller's batch. Mappings only add entries, so the caller's final
//    commit invalidates nothing on units that do not cache not-present
//    entries. A frame unmapped and re-typed in the same call (remove an L2
//    entry, add it back) therefore costs no IOMMU work at all.
// Recursion: validating or devalidating a table recurses into the tables its
// entries reference, at most 4 levels (L4 -> L3 -> L2 -> L1), plus one linear
// hop per level (a table with linear entries may not itself be linearly
// referenced), so the depth is bounded by 8 whatever the guest builds.
#pragma once

#include <mm/paging/batch.hpp>
#include <mm/range_set.hpp>
#include <public/xen.hpp>

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::mm {

// The type a frame has while its type count is non-zero; a frame whose type
// count is zero has type none (any type may be taken then).
enum class FrameType : uint8_t { none, writable, l1, l2, l3, l4, segment_descriptor };

[[nodiscard]] constexpr bool is_page_table(FrameType type) {
    return type == FrameType::l1 || type == FrameType::l2 || type == FrameType::l3 || type == FrameType::l4;
}
// Types whose frames neither the guest nor a device may write.
[[nodiscard]] constexpr bool is_restricted(FrameType type) {
    return is_page_table(type) || type == FrameType::segment_descriptor;
}
[[nodiscard]] constexpr FrameType table_type(unsigned level) {
    return static_cast<FrameType>(static_cast<uint8_t>(FrameType::l1) + level - 1);
}
[[nodiscard]] constexpr unsigned table_level(FrameType type) {
    return is_page_table(type) ? static_cast<unsigned>(type) - static_cast<unsigned>(FrameType::l1) + 1 : 0;
}
const char* describe(FrameType type);

// Owners besides domain identifiers, with the values Xen gives them.
inline constexpr uint16_t owner_none = xen::DOMID_INVALID;
inline constexpr uint16_t owner_io = xen::DOMID_IO;          // MMIO, mapped by I/O capability
inline constexpr uint16_t owner_hypervisor = xen::DOMID_XEN;

inline constexpr uint64_t no_frame = ~uint64_t{0};

// One machine frame's bookkeeping.
struct FrameRecord {
    // References from entries, pins and base pointers; never wraps.
    uint32_t reference_count = 0;
    // References of `type`; never wraps.
    uint32_t type_count = 0;
    uint16_t owner = owner_none;
    FrameType type = FrameType::none;
    uint8_t flags = 0;
    // > 0: this table is referenced by that many linear entries of other
    // tables; < 0: this table holds that many linear entries. Never both,
    // which keeps linear chains one hop long.
    int16_t linear_count = 0;
    uint16_t reserved = 0;

    static constexpr uint8_t validated = 1;      // the contents were checked for `type`
    static constexpr uint8_t pinned = 2;         // MMUEXT_PIN_* holds a type reference
    static constexpr uint8_t device_mapped = 4;  // mapped writable in the owner's IOMMU tables
    static constexpr uint8_t pending = 8;        // in the pending list of the current call

    [[nodiscard]] constexpr bool has(uint8_t flag) const { return (flags & flag) != 0; }
};
static_assert(sizeof(FrameRecord) == 16);
static_assert(__builtin_offsetof(FrameRecord, owner) == 8);

// The records of frames [first_frame, first_frame + storage.size()).
class FrameTable {
public:
    FrameTable(Span<FrameRecord> storage, uint64_t first_frame);
    FrameTable(const FrameTable&) = delete;
    FrameTable& operator=(const FrameTable&) = delete;

    // nullptr when the frame is not managed.
    [[nodiscard]] FrameRecord* find(uint64_t frame);
    [[nodiscard]] const FrameRecord* find(uint64_t frame) const;
    // Gives a frame without references to owner; device_mapped says whether
    // the owner's IOMMU tables map it writable now. Error::out_of_range for an
    // unmanaged frame, Error::invalid_argument while references exist.
    [[nodiscard]] Status assign(uint64_t frame, uint16_t owner, bool device_mapped);
    // assign() for count frames from first, in one pass (boot gives dom0
    // all its memory this way).
    [[nodiscard]] Status assign_range(uint64_t first, uint64_t count, uint16_t owner, bool device_mapped);
    [[nodiscard]] uint64_t first_frame() const { return first_frame_; }
    [[nodiscard]] uint64_t size() const { return records_.size(); }

private:
    Span<FrameRecord> records_;
    uint64_t first_frame_;
};

// The hypervisor's L4 entries for slots 256-271 (docs/pv.md "Address
// space"), written into every frame validated as an L4.
class HypervisorSlots {
public:
    static constexpr unsigned first_slot = 256;
    static constexpr unsigned count = 16;
    [[nodiscard]] virtual uint64_t entry(unsigned index) const = 0;  // index 0..15 = slot 256..271

protected:
    ~HypervisorSlots() = default;
};

// The machine-to-physical table (MACH2PHYS_VIRT_START), for MMU_MACHPHYS_UPDATE.
class MachineToPhysical {
public:
    [[nodiscard]] virtual Status set(uint64_t machine_frame, uint64_t guest_frame) = 0;

protected:
    ~MachineToPhysical() = default;
};

// Implemented by the caller over passthrough::IommuContext::iommu_map/iommu_unmap
// of the domain's identity-mapped IOMMU tables.
class IommuFollower {
public:
    [[nodiscard]] virtual Status map_writable(uint64_t frame, paging::Batch& batch) = 0;
    [[nodiscard]] virtual Status unmap(uint64_t frame, paging::Batch& batch) = 0;

protected:
    ~IommuFollower() = default;
};

// What the engine needs to know of the calling domain.
struct DomainContext {
    uint16_t id = 0;
    // Byte ranges of I/O memory the domain may map (dom0's MMIO); nullptr: none.
    const RangeSet* io_memory = nullptr;
    // Strict IOMMU mode when set.
    IommuFollower* iommu = nullptr;
    // MMUEXT_FLUSH_CACHE(_GLOBAL) allowed (a domain with passthrough devices).
    bool may_flush_cache = false;
};

// A vCPU's page-table bases; the engine holds one type and one general
// reference for each that is not no_frame.
struct BaseTables {
    uint64_t kernel = no_frame;
    uint64_t user = no_frame;
};

// What mmuext_op / update_va_mapping ask the caller to do.
struct Effects {
    bool cpu_flush = false;    // any TLB flush or INVLPG: done by the CR3 load on return
    bool cache_flush = false;  // MMUEXT_FLUSH_CACHE(_GLOBAL): WBINVD
    bool ldt_changed = false;  // MMUEXT_SET_LDT
    uint64_t ldt_linear_address = 0;
    uint32_t ldt_entries = 0;
};

// A batched call's result: status is 0 or a negative Xen errno, completed the
// number of requests done (the first failing request's index).
struct Outcome {
    int32_t status = 0;
    uint32_t completed = 0;
};

class PageTypes {
public:
    static constexpr size_t suggested_pending_capacity = 2048;

    struct Statistics {
        uint64_t validated_entries = 0;  // entries checked while validating tables
        uint64_t prepared_unmaps = 0;    // frames unmapped by a prepare pass
        uint64_t prepare_commits = 0;    // commits after a prepare pass
        uint64_t late_unmaps = 0;        // frames unmapped (and committed) during validation
        uint64_t maps = 0;               // frames mapped again
        uint64_t map_failures = 0;       // frames left unmapped because map_writable failed
    };

    // machine_to_physical may be nullptr (MMU_MACHPHYS_UPDATE then fails with
    // -ENOSYS); pending is scratch for the strict-IOMMU pending list.
    // physical_address_bits is the CPU's MAXPHYADDR: higher address bits in
    // an entry are reserved (Intel SDM Vol. 3A 4.5).
    PageTypes(FrameTable& frames, PhysicalMemory& memory, const HypervisorSlots& hypervisor_slots,
              MachineToPhysical* machine_to_physical, Span<uint64_t> pending, unsigned physical_address_bits = 52);
    PageTypes(const PageTypes&) = delete;
    PageTypes& operator=(const PageTypes&) = delete;

    // MMU_NORMAL_PT_UPDATE, MMU_PT_UPDATE_PRESERVE_AD, MMU_MACHPHYS_UPDATE.
    [[nodiscard]] Outcome mmu_update(const DomainContext& domain, Span<const xen::mmu_update> requests,
                                     paging::Batch& batch);
    [[nodiscard]] Outcome mmuext_op(const DomainContext& domain, Span<const xen::mmuext_op> operations,
                                    BaseTables& bases, Effects& effects, paging::Batch& batch);
    // Writes the L1 entry for va reached from kernel_l4 (a validated L4 of the
    // domain): 0 or a negative Xen errno.
    [[nodiscard]] int32_t update_va_mapping(const DomainContext& domain, uint64_t kernel_l4, uint64_t va,
                                            uint64_t value, uint64_t flags, Effects& effects, paging::Batch& batch);
    // HYPERVISOR_update_descriptor: one 8-byte descriptor at machine_address.
    [[nodiscard]] int32_t update_descriptor(const DomainContext& domain, uint64_t machine_address,
                                            uint64_t descriptor, paging::Batch& batch);

    // One type reference (with validation on the first) plus one general
    // reference; put_page_type drops both.
    [[nodiscard]] int32_t get_page_type(const DomainContext& domain, uint64_t frame, FrameType type,
                                        paging::Batch& batch);
    void put_page_type(const DomainContext& domain, uint64_t frame, paging::Batch& batch);
    // One general reference to a frame the domain owns.
    [[nodiscard]] int32_t get_reference(const DomainContext& domain, uint64_t frame);
    void put_reference(uint64_t frame);
    // MMUEXT_PIN_L<level>_TABLE for the domain builder.
    [[nodiscard]] int32_t pin_table(const DomainContext& domain, uint64_t frame, FrameType type, paging::Batch& batch);
    // The domain owns frame and it is neither a page table nor a descriptor
    // page: the hypervisor may write it on the guest's behalf.
    [[nodiscard]] bool is_writable(const DomainContext& domain, uint64_t frame) const;
    // The frame is the domain's and a validated table of `type`: what a
    // direct (emulated) write to its entries requires.
    [[nodiscard]] bool is_validated_table(const DomainContext& domain, uint64_t frame, FrameType type) const;

    [[nodiscard]] const Statistics& statistics() const { return statistics_; }

private:
    struct Call;

    int32_t normal_update(Call& call, uint64_t entry_address, uint64_t value, bool preserve_accessed_dirty,
                          unsigned required_level, const char* what, uint32_t index);
    int32_t extended_operation(Call& call, const xen::mmuext_op& operation, BaseTables& bases, Effects& effects,
                               uint32_t index);
    int32_t replace_base(Call& call, uint64_t& base, uint64_t frame, const char* what, uint32_t index);

    int32_t get_type(Call& call, uint64_t frame, FrameType type);
    void put_type(Call& call, uint64_t frame);
    int32_t get_general(const DomainContext& domain, uint64_t frame);
    void put_general(uint64_t frame);
    int32_t validate(Call& call, uint64_t frame, FrameType type);
    void devalidate(Call& call, uint64_t frame, FrameType type);
    int32_t validate_descriptors(Call& call, uint64_t frame);
    int32_t check_entry(Call& call, uint64_t table, unsigned level, uint64_t entry) const;
    int32_t get_entry(Call& call, uint64_t table, unsigned level, uint64_t entry);
    void put_entry(Call& call, uint64_t table, unsigned level, uint64_t entry);

    // Strict IOMMU.
    void prepare_tree(Call& call, uint64_t frame, unsigned level);
    void prepare_entry(Call& call, uint64_t table_entry_address, uint64_t value);
    int32_t commit_prepared(Call& call);
    int32_t ensure_unmapped(Call& call, uint64_t frame, FrameRecord& record);
    void type_released(Call& call, uint64_t frame, FrameRecord& record);
    bool add_pending(uint64_t frame, FrameRecord& record);
    void finish(Call& call);

    FrameTable& frames_;
    PhysicalMemory& memory_;
    const HypervisorSlots& hypervisor_slots_;
    MachineToPhysical* machine_to_physical_;
    Span<uint64_t> pending_;
    size_t pending_count_ = 0;
    uint64_t address_mask_;
    Statistics statistics_{};
};

// x86-64 paging-entry bits (Intel SDM Vol. 3A 4.5, Tables 4-15 to 4-20).
namespace entry_bits {
inline constexpr uint64_t present = uint64_t{1} << 0;
inline constexpr uint64_t writable = uint64_t{1} << 1;
inline constexpr uint64_t user = uint64_t{1} << 2;
inline constexpr uint64_t accessed = uint64_t{1} << 5;
inline constexpr uint64_t dirty = uint64_t{1} << 6;
inline constexpr uint64_t page_size = uint64_t{1} << 7;  // PS in L2/L3; PAT in L1; reserved in L4
inline constexpr uint64_t global = uint64_t{1} << 8;
inline constexpr uint64_t protection_key = uint64_t{0xf} << 59;
inline constexpr uint64_t execute_disable = uint64_t{1} << 63;
inline constexpr uint64_t address = 0x000f'ffff'ffff'f000;
}  // namespace entry_bits

}  // namespace sluice::x86::mm
