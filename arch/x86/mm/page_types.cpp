// PV page types; see page_types.hpp for the rules and the strict-IOMMU design.
#include <arch/x86/mm/page_types.hpp>

#include <public/errno.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::mm {
namespace {

constexpr Logger logger{"mm"};

constexpr unsigned entries_per_table = 512;
constexpr uint32_t count_limit = 0xffff'ffff;
// The highest LDT size MMUEXT_SET_LDT accepts: 8192 descriptors, what a
// 16-bit selector's index can reach (Intel SDM Vol. 3A 3.4.2).
constexpr uint32_t ldt_entries_limit = 8192;
// L4 slots 256-271: HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END.
constexpr uint64_t hypervisor_area_start = 0xffff'8000'0000'0000;
constexpr uint64_t hypervisor_area_end = 0xffff'8800'0000'0000;

constexpr int32_t failure(int32_t xen_errno) { return -xen_errno; }

constexpr uint64_t entry_frame(uint64_t entry) { return (entry & entry_bits::address) >> page_shift; }
constexpr PhysicalAddress frame_address(uint64_t frame) { return frame << page_shift; }
constexpr bool is_hypervisor_slot(unsigned level, unsigned index) {
    return level == 4 && index >= HypervisorSlots::first_slot &&
           index < HypervisorSlots::first_slot + HypervisorSlots::count;
}
constexpr bool is_canonical(uint64_t address) {
    return static_cast<uint64_t>(static_cast<int64_t>(address << 16) >> 16) == address;
}
// The range [start, start + length) lies in one canonical half and outside
// the hypervisor's slots: a linear range the guest may name.
constexpr bool is_guest_range(uint64_t start, uint64_t length) {
    if (length == 0) return is_canonical(start);
    const uint64_t last = start + length - 1;
    if (last < start || !is_canonical(start) || !is_canonical(last)) return false;
    if ((start >> 63) != (last >> 63)) return false;
    return last < hypervisor_area_start || start >= hypervisor_area_end;
}

// Segment descriptor fields (Intel SDM Vol. 3A 3.4.5, Figure 3-8).
constexpr uint64_t descriptor_present = uint64_t{1} << 47;
constexpr uint64_t descriptor_code_or_data = uint64_t{1} << 44;  // S
constexpr unsigned descriptor_dpl_shift = 45;
constexpr uint64_t descriptor_dpl = uint64_t{3} << descriptor_dpl_shift;

// The rule for GDT and LDT frames (conservative; page_types.hpp does not
// allow more): a not-present descriptor faults on use, so it may hold
// anything; a present code or data descriptor is allowed with its DPL raised
// to 3, because a 64-bit PV kernel runs in ring 3 and Xen's ABI lets it
// write DPL 0-2 descriptors and have them presented at the guest's kernel
// privilege; a present system descriptor (LDT, TSS, call, interrupt or trap
// gate) is refused: a call gate could lead to ring 0 and an LDT or TSS
// descriptor would let the guest point the CPU at memory it did not
// validate. Xen accepts some call gates; 64-bit PV kernels do not use them.
bool check_descriptor(uint64_t descriptor, uint64_t* presented) {
    *presented = descriptor;
    if ((descriptor & descriptor_present) == 0) return true;
    if ((descriptor & descriptor_code_or_data) == 0) return false;
    *presented = descriptor | descriptor_dpl;
    return true;
}

}  // namespace

const char* describe(FrameType type) {
    switch (type) {
    case FrameType::none: return "none";
    case FrameType::writable: return "writable";
    case FrameType::l1: return "L1";
    case FrameType::l2: return "L2";
    case FrameType::l3: return "L3";
    case FrameType::l4: return "L4";
    case FrameType::segment_descriptor: return "segment descriptor";
    }
    return "unknown";
}

// --- FrameTable -------------------------------------------------------------

FrameTable::FrameTable(Span<FrameRecord> storage, uint64_t first_frame) : records_(storage), first_frame_(first_frame) {
    for (FrameRecord& record : records_) record = FrameRecord{};
}

FrameRecord* FrameTable::find(uint64_t frame) {
    if (frame < first_frame_ || frame - first_frame_ >= records_.size()) return nullptr;
    return &records_[frame - first_frame_];
}

const FrameRecord* FrameTable::find(uint64_t frame) const {
    if (frame < first_frame_ || frame - first_frame_ >= records_.size()) return nullptr;
    return &records_[frame - first_frame_];
}

Status FrameTable::assign(uint64_t frame, uint16_t owner, bool device_mapped) {
    FrameRecord* record = find(frame);
    if (record == nullptr) {
        logger.error("frame %#llx is outside the frame table", static_cast<unsigned long long>(frame));
        return Error::out_of_range;
    }
    if (record->reference_count != 0 || record->type_count != 0) {
        logger.error("frame %#llx still has %u references and %u of type %s: owner not changed",
                     static_cast<unsigned long long>(frame), record->reference_count, record->type_count,
                     describe(record->type));
        return Error::invalid_argument;
    }
    *record = FrameRecord{};
    record->owner = owner;
    if (device_mapped) record->flags |= FrameRecord::device_mapped;
    return success();
}

Status FrameTable::assign_range(uint64_t first, uint64_t count, uint16_t owner, bool device_mapped) {
    if (count == 0) return success();
    if (find(first) == nullptr || find(first + count - 1) == nullptr || first + count < first) {
        logger.error("frames %#llx-%#llx are not all inside the frame table", static_cast<unsigned long long>(first),
                     static_cast<unsigned long long>(first + count - 1));
        return Error::out_of_range;
    }
    for (uint64_t frame = first; frame < first + count; ++frame) SLUICE_TRY(assign(frame, owner, device_mapped));
    return success();
}

// --- PageTypes ----------------------------------------------------------------

struct PageTypes::Call {
    const DomainContext& domain;
    paging::Batch& batch;
    bool unmapped_in_prepare = false;

    [[nodiscard]] bool strict() const { return domain.iommu != nullptr; }
};

PageTypes::PageTypes(FrameTable& frames, PhysicalMemory& memory, const HypervisorSlots& hypervisor_slots,
                     MachineToPhysical* machine_to_physical, Span<uint64_t> pending, unsigned physical_address_bits)
    : frames_(frames),
      memory_(memory),
      hypervisor_slots_(hypervisor_slots),
      machine_to_physical_(machine_to_physical),
      pending_(pending),
      address_mask_(entry_bits::address &
                    (physical_address_bits >= 52 ? ~uint64_t{0} : (uint64_t{1} << physical_address_bits) - 1)) {}

// --- References -----------------------------------------------------------------

int32_t PageTypes::get_general(const DomainContext& domain, uint64_t frame) {
    FrameRecord* record = frames_.find(frame);
    if (record == nullptr || record->owner != domain.id) {
        logger.warning("domain %u: frame %#llx is not the domain's", domain.id,
                       static_cast<unsigned long long>(frame));
        return failure(xen::XEN_EPERM);
    }
    if (record->reference_count == count_limit) {
        logger.warning("domain %u: frame %#llx: reference count would overflow", domain.id,
                       static_cast<unsigned long long>(frame));
        return failure(xen::XEN_EOVERFLOW);
    }
    ++record->reference_count;
    return 0;
}

void PageTypes::put_general(uint64_t frame) {
    FrameRecord* record = frames_.find(frame);
    if (record == nullptr || record->reference_count == 0) {
        logger.error("frame %#llx: general reference dropped that was never taken",
                     static_cast<unsigned long long>(frame));
        return;
    }
    --record->reference_count;
}

int32_t PageTypes::get_type(Call& call, uint64_t frame, FrameType type) {
    FrameRecord* record = frames_.find(frame);
    if (record == nullptr || record->owner != call.domain.id) {
        logger.warning("domain %u: frame %#llx is not the domain's, cannot take type %s", call.domain.id,
                       static_cast<unsigned long long>(frame), describe(type));
        return failure(xen::XEN_EPERM);
    }
    if (record->type_count == 0) {
        if (is_restricted(type)) {
            const int32_t status = ensure_unmapped(call, frame, *record);
            if (status != 0) return status;
        }
        record->type = type;
        record->type_count = 1;
        record->flags &= static_cast<uint8_t>(~FrameRecord::validated);
        if (is_restricted(type)) {
            const int32_t status =
                type == FrameType::segment_descriptor ? validate_descriptors(call, frame) : validate(call, frame, type);
            if (status != 0) {
                record->type_count = 0;
                record->type = FrameType::none;
                type_released(call, frame, *record);
                return status;
            }
        }
        record->flags |= FrameRecord::validated;
        return 0;
    }
    if (record->type != type) {
        logger.warning("domain %u: frame %#llx has type %s (%u references), cannot become %s", call.domain.id,
                       static_cast<unsigned long long>(frame), describe(record->type), record->type_count,
                       describe(type));
        return failure(xen::XEN_EINVAL);
    }
    if (!record->has(FrameRecord::validated)) {
        logger.warning("domain %u: frame %#llx is referenced from its own subtree while being validated as %s",
                       call.domain.id, static_cast<unsigned long long>(frame), describe(type));
        return failure(xen::XEN_EINVAL);
    }
    if (record->type_count == count_limit) {
        logger.warning("domain %u: frame %#llx: %s type count would overflow", call.domain.id,
                       static_cast<unsigned long long>(frame), describe(type));
        return failure(xen::XEN_EOVERFLOW);
    }
    ++record->type_count;
    return 0;
}

void PageTypes::put_type(Call& call, uint64_t frame) {
    FrameRecord* record = frames_.find(frame);
    if (record == nullptr || record->type_count == 0) {
        logger.error("frame %#llx: type reference dropped that was never taken", static_cast<unsigned long long>(frame));
        return;
    }
    if (--record->type_count != 0) return;
    const FrameType type = record->type;
    // The last reference of a page-table type: the references its entries
    // hold go too. The type stays set meanwhile, so nothing can retype it.
    if (is_page_table(type) && record->has(FrameRecord::validated)) devalidate(call, frame, type);
    record->type = FrameType::none;
    record->flags &= static_cast<uint8_t>(~FrameRecord::validated);
    if (is_restricted(type)) type_released(call, frame, *record);
}

// --- Entries --------------------------------------------------------------------

int32_t PageTypes::check_entry(Call& call, uint64_t table, unsigned level, uint64_t entry) const {
    const char* reason = nullptr;
    if ((entry & entry_bits::global) != 0 && level >= 2) {
        // In an L1 entry G is the guest's to set, as under Xen: CR4.PGE stays
        // clear, so the processor ignores it (Intel SDM Vol. 3A, "Global
        // Pages") and the CR3 load on every return still flushes the guest's
        // translations (docs/pv.md). Above L1 it means nothing to the
        // processor and is refused, as Xen's disallow masks refuse it.
        reason = "G (bit 8) set above L1";
    } else if ((entry & entry_bits::protection_key) != 0) {
        reason = "bits 59-62 (protection key) set";
    } else if ((entry & entry_bits::address & ~address_mask_) != 0) {
        reason = "reserved address bits above MAXPHYADDR set";
    } else if (level >= 2 && (entry & entry_bits::page_size) != 0) {
        reason = level == 4 ? "bit 7 set (reserved in an L4 entry)" : "PS set (no PV superpages)";
    }
    if (reason == nullptr) return 0;
    logger.warning("domain %u: L%u entry %#llx in frame %#llx refused: %s", call.domain.id, level,
                   static_cast<unsigned long long>(entry), static_cast<unsigned long long>(table), reason);
    return failure(xen::XEN_EINVAL);
}

int32_t PageTypes::get_entry(Call& call, uint64_t table, unsigned level, uint64_t entry) {
    if ((entry & entry_bits::present) == 0) return 0;  // never walked by the CPU: anything goes
    const int32_t checked = check_entry(call, table, level, entry);
    if (checked != 0) return checked;
    const uint64_t target = entry_frame(entry);
    FrameRecord* record = frames_.find(target);

    if (level == 1) {
        if (record != nullptr && record->owner == call.domain.id) {
            const int32_t general = get_general(call.domain, target);
            if (general != 0) return general;
            if ((entry & entry_bits::writable) != 0) {
                const int32_t typed = get_type(call, target, FrameType::writable);
                if (typed != 0) {
                    put_general(target);
                    return typed;
                }
            }
            return 0;
        }
        // I/O memory: frames outside the frame table, frames given to DOMID_IO,
        // and frames inside it that nobody owns (the machine's holes and
        // reserved regions between RAM, which the frame table spans as Xen's
        // does and hands to DOMID_IO). Unowned RAM never passes the I/O
        // capability check below, which excludes every RAM region.
        const bool io_frame = record == nullptr || record->owner == owner_io || record->owner == owner_none;
        if (io_frame && call.domain.io_memory != nullptr &&
            call.domain.io_memory->contains(
                AddressRange{frame_address(target), frame_address(target) + page_size}))
            return 0;
        logger.warning("domain %u: L1 entry %#llx in frame %#llx maps frame %#llx, %s", call.domain.id,
                       static_cast<unsigned long long>(entry), static_cast<unsigned long long>(table),
                       static_cast<unsigned long long>(target),
                       io_frame ? "I/O memory outside the domain's I/O capabilities"
                                : "owned by another domain or the hypervisor");
        return failure(xen::XEN_EPERM);
    }

    if (target == table) {
        // A table pointing at itself: the recursive ("linear") mapping. It
        // holds no reference (it would keep the table alive forever).
        if ((entry & entry_bits::writable) != 0) {
            logger.warning("domain %u: L%u entry %#llx in frame %#llx: a linear entry must be read-only",
                           call.domain.id, level, static_cast<unsigned long long>(entry),
                           static_cast<unsigned long long>(table));
            return failure(xen::XEN_EINVAL);
        }
        return 0;
    }
    if (record == nullptr || record->owner != call.domain.id) {
        logger.warning("domain %u: L%u entry %#llx in frame %#llx points at frame %#llx, not the domain's",
                       call.domain.id, level, static_cast<unsigned long long>(entry),
                       static_cast<unsigned long long>(table), static_cast<unsigned long long>(target));
        return failure(xen::XEN_EPERM);
    }
    const FrameType lower = table_type(level - 1);
    if (record->type_count == 0 || record->type == lower) {
        const int32_t general = get_general(call.domain, target);
        if (general != 0) return general;
        const int32_t typed = get_type(call, target, lower);
        if (typed != 0) put_general(target);
        return typed;
    }
    if (record->type == table_type(level)) {
        // A linear entry to another table of the same level: read-only, and
        // one hop only (Xen advisory XSA-240: chains of them made
        // devalidation recurse without bound).
        FrameRecord* holder = frames_.find(table);
        const char* reason = nullptr;
        if ((entry & entry_bits::writable) != 0) reason = "a linear entry must be read-only";
        else if (holder->linear_count > 0) reason = "the table is itself the target of linear entries";
        else if (record->linear_count < 0) reason = "the target table holds linear entries";
        else if (holder->linear_count == INT16_MIN || record->linear_count == INT16_MAX)
            reason = "too many linear entries";
        if (reason != nullptr) {
            logger.warning("domain %u: L%u entry %#llx in frame %#llx to L%u frame %#llx refused: %s", call.domain.id,
                           level, static_cast<unsigned long long>(entry), static_cast<unsigned long long>(table), level,
                           static_cast<unsigned long long>(target), reason);
            return failure(xen::XEN_EINVAL);
        }
        const int32_t general = get_general(call.domain, target);
        if (general != 0) return general;
        const int32_t typed = get_type(call, target, record->type);
        if (typed != 0) {
            put_general(target);
            return typed;
        }
        --holder->linear_count;
        ++record->linear_count;
        return 0;
    }
    logger.warning("domain %u: L%u entry %#llx in frame %#llx points at frame %#llx of type %s, not %s",
                   call.domain.id, level, static_cast<unsigned long long>(entry),
                   static_cast<unsigned long long>(table), static_cast<unsigned long long>(target),
                   describe(record->type), describe(lower));
    return failure(xen::XEN_EINVAL);
}

void PageTypes::put_entry(Call& call, uint64_t table, unsigned level, uint64_t entry) {
    if ((entry & entry_bits::present) == 0) return;
    const uint64_t target = entry_frame(entry);
    FrameRecord* record = frames_.find(target);
    if (level == 1) {
        if (record == nullptr || record->owner != call.domain.id) return;  // I/O memory holds nothing
        if ((entry & entry_bits::writable) != 0) put_type(call, target);
        put_general(target);
        return;
    }
    if (target == table || record == nullptr) return;
    if (record->type == table_type(level)) {
        ++frames_.find(table)->linear_count;
        --record->linear_count;
    }
    put_type(call, target);
    put_general(target);
}

int32_t PageTypes::validate(Call& call, uint64_t frame, FrameType type) {
    const unsigned level = table_level(type);
    const PhysicalAddress base = frame_address(frame);
    for (unsigned index = 0; index < entries_per_table; ++index) {
        if (is_hypervisor_slot(level, index)) continue;
        const uint64_t entry = memory_.read64(base + index * 8);
        ++statistics_.validated_entries;
        const int32_t status = get_entry(call, frame, level, entry);
        if (status == 0) continue;
        logger.warning("domain %u: frame %#llx is not a valid %s table: entry %u (%#llx) refused", call.domain.id,
                       static_cast<unsigned long long>(frame), describe(type), index,
                       static_cast<unsigned long long>(entry));
        for (unsigned taken = 0; taken < index; ++taken)
            if (!is_hypervisor_slot(level, taken)) put_entry(call, frame, level, memory_.read64(base + taken * 8));
        return status;
    }
    // A 64-bit PV kernel runs in ring 3, so every present entry is made
    // user-accessible; the user/kernel split is the separate user L4.
    for (unsigned index = 0; index < entries_per_table; ++index) {
        if (is_hypervisor_slot(level, index)) continue;
        const uint64_t entry = memory_.read64(base + index * 8);
        if ((entry & entry_bits::present) != 0 && (entry & entry_bits::user) == 0)
            memory_.write64(base + index * 8, entry | entry_bits::user);
    }
    if (level == 4)
        for (unsigned index = 0; index < HypervisorSlots::count; ++index)
            memory_.write64(base + (HypervisorSlots::first_slot + index) * 8, hypervisor_slots_.entry(index));
    return 0;
}

void PageTypes::devalidate(Call& call, uint64_t frame, FrameType type) {
    const unsigned level = table_level(type);
    const PhysicalAddress base = frame_address(frame);
    for (unsigned index = 0; index < entries_per_table; ++index)
        if (!is_hypervisor_slot(level, index)) put_entry(call, frame, level, memory_.read64(base + index * 8));
}

int32_t PageTypes::validate_descriptors(Call& call, uint64_t frame) {
    const PhysicalAddress base = frame_address(frame);
    for (unsigned index = 0; index < entries_per_table; ++index) {
        uint64_t presented = 0;
        const uint64_t descriptor = memory_.read64(base + index * 8);
        if (check_descriptor(descriptor, &presented)) continue;
        logger.warning("domain %u: frame %#llx is not a valid descriptor page: descriptor %u (%#llx) is a present "
                       "system descriptor",
                       call.domain.id, static_cast<unsigned long long>(frame), index,
                       static_cast<unsigned long long>(descriptor));
        return failure(xen::XEN_EINVAL);
    }
    for (unsigned index = 0; index < entries_per_table; ++index) {
        uint64_t presented = 0;
        const uint64_t descriptor = memory_.read64(base + index * 8);
        (void)check_descriptor(descriptor, &presented);
        if (presented != descriptor) memory_.write64(base + index * 8, presented);
    }
    return 0;
}

// --- Strict IOMMU -------------------------------------------------------------

bool PageTypes::add_pending(uint64_t frame, FrameRecord& record) {
    if (record.has(FrameRecord::pending)) return true;
    if (pending_count_ == pending_.size()) return false;
    pending_[pending_count_++] = frame;
    record.flags |= FrameRecord::pending;
    return true;
}

void PageTypes::prepare_tree(Call& call, uint64_t frame, unsigned level) {
    FrameRecord* record = frames_.find(frame);
    // Only type-free frames gain a type; a frame no longer device-mapped
    // was visited already (or its mapping failed earlier).
    if (record == nullptr || record->owner != call.domain.id || record->type_count != 0 ||
        !record->has(FrameRecord::device_mapped))
        return;
    if (!add_pending(frame, *record)) return;  // the late path will handle it
    if (!call.domain.iommu->unmap(frame, call.batch).ok()) {
        logger.error("domain %u: IOMMU unmap of frame %#llx failed", call.domain.id,
                     static_cast<unsigned long long>(frame));
        return;
    }
    record->flags &= static_cast<uint8_t>(~FrameRecord::device_mapped);
    ++statistics_.prepared_unmaps;
    call.unmapped_in_prepare = true;
    if (level < 2) return;
    // These contents are not trusted: they only say which frames to unmap.
    const PhysicalAddress base = frame_address(frame);
    for (unsigned index = 0; index < entries_per_table; ++index) {
        if (is_hypervisor_slot(level, index)) continue;
        const uint64_t entry = memory_.read64(base + index * 8);
        if ((entry & entry_bits::present) == 0 || (entry & entry_bits::page_size) != 0) continue;
        if (entry_frame(entry) != frame) prepare_tree(call, entry_frame(entry), level - 1);
    }
}

void PageTypes::prepare_entry(Call& call, uint64_t entry_address, uint64_t value) {
    if ((value & entry_bits::present) == 0) return;
    const FrameRecord* table = frames_.find(entry_address >> page_shift);
    if (table == nullptr || table->owner != call.domain.id || !is_page_table(table->type) ||
        !table->has(FrameRecord::validated))
        return;
    const unsigned level = table_level(table->type);
    if (level < 2) return;
    prepare_tree(call, entry_frame(value), level - 1);
}

int32_t PageTypes::commit_prepared(Call& call) {
    if (!call.unmapped_in_prepare) return 0;
    call.unmapped_in_prepare = false;
    ++statistics_.prepare_commits;
    if (call.batch.commit().ok()) return 0;
    logger.error("domain %u: IOMMU invalidation after unmapping new page tables failed", call.domain.id);
    return failure(xen::XEN_EIO);
}

int32_t PageTypes::ensure_unmapped(Call& call, uint64_t frame, FrameRecord& record) {
    if (!call.strict() || !record.has(FrameRecord::device_mapped)) return 0;
    // Met only during validation: unmap and invalidate before reading it.
    if (!add_pending(frame, record)) {
        // No room to remember it: it will be mapped again at once if its
        // type goes, which type_released() does when the list is full.
    }
    if (!call.domain.iommu->unmap(frame, call.batch).ok()) {
        logger.error("domain %u: IOMMU unmap of frame %#llx failed", call.domain.id,
                     static_cast<unsigned long long>(frame));
        return failure(xen::XEN_EIO);
    }
    record.flags &= static_cast<uint8_t>(~FrameRecord::device_mapped);
    ++statistics_.late_unmaps;
    if (!call.batch.commit().ok()) {
        logger.error("domain %u: IOMMU invalidation for frame %#llx failed", call.domain.id,
                     static_cast<unsigned long long>(frame));
        return failure(xen::XEN_EIO);
    }
    return 0;
}

void PageTypes::type_released(Call& call, uint64_t frame, FrameRecord& record) {
    if (!call.strict() || record.has(FrameRecord::device_mapped)) return;
    if (add_pending(frame, record)) return;
    if (call.domain.iommu->map_writable(frame, call.batch).ok()) {
        record.flags |= FrameRecord::device_mapped;
        ++statistics_.maps;
    } else {
        ++statistics_.map_failures;
        logger.error("domain %u: IOMMU map of frame %#llx failed; devices lose access to it", call.domain.id,
                     static_cast<unsigned long long>(frame));
    }
}

void PageTypes::finish(Call& call) {
    for (size_t index = 0; index < pending_count_; ++index) {
        const uint64_t frame = pending_[index];
        FrameRecord* record = frames_.find(frame);
        if (record == nullptr) continue;
        record->flags &= static_cast<uint8_t>(~FrameRecord::pending);
        if (!call.strict() || record->owner != call.domain.id || record->has(FrameRecord::device_mapped)) continue;
        if (record->type_count != 0 && is_restricted(record->type)) continue;
        if (call.domain.iommu->map_writable(frame, call.batch).ok()) {
            record->flags |= FrameRecord::device_mapped;
            ++statistics_.maps;
        } else {
            ++statistics_.map_failures;
            logger.error("domain %u: IOMMU map of frame %#llx failed; devices lose access to it", call.domain.id,
                         static_cast<unsigned long long>(frame));
        }
    }
    pending_count_ = 0;
}

// --- mmu_update -----------------------------------------------------------------

int32_t PageTypes::normal_update(Call& call, uint64_t entry_address, uint64_t value, bool preserve_accessed_dirty,
                                 unsigned required_level, const char* what, uint32_t index) {
    if ((entry_address & 7) != 0) {
        logger.warning("domain %u: %s[%u]: entry address %#llx is not 8-byte aligned", call.domain.id, what, index,
                       static_cast<unsigned long long>(entry_address));
        return failure(xen::XEN_EINVAL);
    }
    const uint64_t table = entry_address >> page_shift;
    const FrameRecord* record = frames_.find(table);
    if (record == nullptr || record->owner != call.domain.id) {
        logger.warning("domain %u: %s[%u]: entry at %#llx: frame %#llx is not the domain's", call.domain.id, what,
                       index, static_cast<unsigned long long>(entry_address), static_cast<unsigned long long>(table));
        return failure(xen::XEN_EPERM);
    }
    if (!is_page_table(record->type) || !record->has(FrameRecord::validated) ||
        (required_level != 0 && table_level(record->type) != required_level)) {
        logger.warning("domain %u: %s[%u]: entry at %#llx: frame %#llx has type %s, not a %s page table",
                       call.domain.id, what, index, static_cast<unsigned long long>(entry_address),
                       static_cast<unsigned long long>(table), describe(record->type),
                       required_level != 0 ? describe(table_type(required_level)) : "validated");
        return failure(xen::XEN_EINVAL);
    }
    const unsigned level = table_level(record->type);
    const unsigned slot = static_cast<unsigned>((entry_address & page_mask) / 8);
    if (is_hypervisor_slot(level, slot)) {
        logger.warning("domain %u: %s[%u]: L4 slot %u of frame %#llx belongs to the hypervisor", call.domain.id, what,
                       index, slot, static_cast<unsigned long long>(table));
        return failure(xen::XEN_EINVAL);
    }
    const uint64_t old_entry = memory_.read64(entry_address);
    uint64_t new_entry = value;
    if ((new_entry & entry_bits::present) != 0) new_entry |= entry_bits::user;
    if (preserve_accessed_dirty) new_entry |= old_entry & (entry_bits::accessed | entry_bits::dirty);
    // New references first, then the old ones go: an entry rewritten to the
    // same frame never drops that frame's count to zero in between.
    const int32_t status = get_entry(call, table, level, new_entry);
    if (status != 0) {
        logger.warning("domain %u: %s[%u]: L%u entry at %#llx: value %#llx refused", call.domain.id, what, index,
                       level, static_cast<unsigned long long>(entry_address), static_cast<unsigned long long>(value));
        return status;
    }
    memory_.write64(entry_address, new_entry);
    put_entry(call, table, level, old_entry);
    return 0;
}

Outcome PageTypes::mmu_update(const DomainContext& domain, Span<const xen::mmu_update> requests, paging::Batch& batch) {
    Call call{domain, batch};
    if (call.strict()) {
        for (const xen::mmu_update& request : requests) {
            const uint64_t command = request.ptr & 3;
            if (command == xen::MMU_NORMAL_PT_UPDATE || command == xen::MMU_PT_UPDATE_PRESERVE_AD)
                prepare_entry(call, request.ptr & ~uint64_t{3}, request.val);
        }
        const int32_t status = commit_prepared(call);
        if (status != 0) {
            finish(call);
            return Outcome{status, 0};
        }
    }
    for (uint32_t index = 0; index < requests.size(); ++index) {
        const xen::mmu_update& request = requests[index];
        const uint64_t command = request.ptr & 3;
        const uint64_t address = request.ptr & ~uint64_t{3};
        int32_t status = 0;
        if (command == xen::MMU_NORMAL_PT_UPDATE || command == xen::MMU_PT_UPDATE_PRESERVE_AD) {
            status = normal_update(call, address, request.val, command == xen::MMU_PT_UPDATE_PRESERVE_AD, 0,
                                   "mmu_update", index);
        } else if (command == xen::MMU_MACHPHYS_UPDATE) {
            const uint64_t frame = address >> page_shift;
            const FrameRecord* record = frames_.find(frame);
            if (record == nullptr || record->owner != domain.id) {
                logger.warning("domain %u: mmu_update[%u]: MMU_MACHPHYS_UPDATE of frame %#llx, not the domain's",
                               domain.id, index, static_cast<unsigned long long>(frame));
                status = failure(xen::XEN_EPERM);
            } else if (machine_to_physical_ == nullptr) {
                logger.warning("domain %u: mmu_update[%u]: no machine-to-physical table", domain.id, index);
                status = failure(xen::XEN_ENOSYS);
            } else if (!machine_to_physical_->set(frame, request.val).ok()) {
                logger.warning("domain %u: mmu_update[%u]: machine-to-physical entry of frame %#llx not written",
                               domain.id, index, static_cast<unsigned long long>(frame));
                status = failure(xen::XEN_EINVAL);
            }
        } else {
            // MMU_PT_UPDATE_NO_TRANSLATE only means something for a translated domain.
            logger.warning("domain %u: mmu_update[%u]: MMU_PT_UPDATE_NO_TRANSLATE is not for PV domains", domain.id,
                           index);
            status = failure(xen::XEN_EINVAL);
        }
        if (status != 0) {
            finish(call);
            return Outcome{status, index};
        }
    }
    finish(call);
    return Outcome{0, static_cast<uint32_t>(requests.size())};
}

// --- mmuext_op --------------------------------------------------------------------

int32_t PageTypes::replace_base(Call& call, uint64_t& base, uint64_t frame, const char* what, uint32_t index) {
    if (frame != no_frame) {
        const int32_t general = get_general(call.domain, frame);
        if (general != 0) {
            logger.warning("domain %u: mmuext_op[%u]: %s frame %#llx refused", call.domain.id, index, what,
                           static_cast<unsigned long long>(frame));
            return general;
        }
        const int32_t typed = get_type(call, frame, FrameType::l4);
        if (typed != 0) {
            put_general(frame);
            logger.warning("domain %u: mmuext_op[%u]: %s frame %#llx is not a valid L4", call.domain.id, index, what,
                           static_cast<unsigned long long>(frame));
            return typed;
        }
    }
    const uint64_t old = base;
    base = frame;
    if (old != no_frame) {
        put_type(call, old);
        put_general(old);
    }
    return 0;
}

int32_t PageTypes::extended_operation(Call& call, const xen::mmuext_op& operation, BaseTables& bases,
                                      Effects& effects, uint32_t index) {
    const uint16_t id = call.domain.id;
    switch (operation.cmd) {
    case xen::MMUEXT_PIN_L1_TABLE:
    case xen::MMUEXT_PIN_L2_TABLE:
    case xen::MMUEXT_PIN_L3_TABLE:
    case xen::MMUEXT_PIN_L4_TABLE: {
        const FrameType type = table_type(operation.cmd - xen::MMUEXT_PIN_L1_TABLE + 1);
        const uint64_t frame = operation.arg1.mfn;
        FrameRecord* record = frames_.find(frame);
        if (record == nullptr || record->owner != id) {
            logger.warning("domain %u: mmuext_op[%u]: pin of frame %#llx, not the domain's", id, index,
                           static_cast<unsigned long long>(frame));
            return failure(xen::XEN_EPERM);
        }
        if (record->has(FrameRecord::pinned)) {
            logger.warning("domain %u: mmuext_op[%u]: frame %#llx is pinned already", id, index,
                           static_cast<unsigned long long>(frame));
            return failure(xen::XEN_EINVAL);
        }
        const int32_t general = get_general(call.domain, frame);
        if (general != 0) return general;
        const int32_t typed = get_type(call, frame, type);
        if (typed != 0) {
            put_general(frame);
            logger.warning("domain %u: mmuext_op[%u]: frame %#llx cannot be pinned as %s", id, index,
                           static_cast<unsigned long long>(frame), describe(type));
            return typed;
        }
        frames_.find(frame)->flags |= FrameRecord::pinned;
        return 0;
    }
    case xen::MMUEXT_UNPIN_TABLE: {
        const uint64_t frame = operation.arg1.mfn;
        FrameRecord* record = frames_.find(frame);
        if (record == nullptr || record->owner != id) {
            logger.warning("domain %u: mmuext_op[%u]: unpin of frame %#llx, not the domain's", id, index,
                           static_cast<unsigned long long>(frame));
            return failure(xen::XEN_EPERM);
        }
        if (!record->has(FrameRecord::pinned)) {
            logger.warning("domain %u: mmuext_op[%u]: frame %#llx is not pinned", id, index,
                           static_cast<unsigned long long>(frame));
            return failure(xen::XEN_EINVAL);
        }
        record->flags &= static_cast<uint8_t>(~FrameRecord::pinned);
        put_type(call, frame);
        put_general(frame);
        return 0;
    }
    case xen::MMUEXT_NEW_BASEPTR:
        return replace_base(call, bases.kernel, operation.arg1.mfn, "NEW_BASEPTR", index);
    case xen::MMUEXT_NEW_USER_BASEPTR:
        // Frame 0 clears the user base (xen.h, MMUEXT_NEW_USER_BASEPTR).
        return replace_base(call, bases.user, operation.arg1.mfn == 0 ? no_frame : operation.arg1.mfn,
                            "NEW_USER_BASEPTR", index);
    case xen::MMUEXT_TLB_FLUSH_LOCAL:
    case xen::MMUEXT_INVLPG_LOCAL:
    case xen::MMUEXT_TLB_FLUSH_MULTI:
    case xen::MMUEXT_INVLPG_MULTI:
    case xen::MMUEXT_TLB_FLUSH_ALL:
    case xen::MMUEXT_INVLPG_ALL:
        // The CR3 load on the return to the guest flushes everything
        // (docs/pv.md); a vCPU mask needs nothing more.
        effects.cpu_flush = true;
        return 0;
    case xen::MMUEXT_FLUSH_CACHE:
    case xen::MMUEXT_FLUSH_CACHE_GLOBAL:
        if (!call.domain.may_flush_cache) {
            logger.warning("domain %u: mmuext_op[%u]: cache flush not permitted", id, index);
            return failure(xen::XEN_EACCES);
        }
        effects.cache_flush = true;
        return 0;
    case xen::MMUEXT_SET_LDT: {
        const uint64_t address = operation.arg1.linear_addr;
        const uint32_t entries = operation.arg2.nr_ents;
        if (entries > ldt_entries_limit || (entries != 0 && ((address & page_mask) != 0 ||
                                                            !is_guest_range(address, uint64_t{entries} * 8)))) {
            logger.warning("domain %u: mmuext_op[%u]: SET_LDT at %#llx with %u entries refused (page-aligned guest "
                           "range of at most %u entries required)",
                           id, index, static_cast<unsigned long long>(address), entries, ldt_entries_limit);
            return failure(xen::XEN_EINVAL);
        }
        effects.ldt_changed = true;
        effects.ldt_linear_address = entries != 0 ? address : 0;
        effects.ldt_entries = entries;
        return 0;
    }
    case xen::MMUEXT_CLEAR_PAGE: {
        const uint64_t frame = operation.arg1.mfn;
        const int32_t typed = get_type(call, frame, FrameType::writable);
        if (typed != 0) {
            logger.warning("domain %u: mmuext_op[%u]: CLEAR_PAGE of frame %#llx refused", id, index,
                           static_cast<unsigned long long>(frame));
            return typed;
        }
        memory_.zero_page(frame_address(frame));
        put_type(call, frame);
        return 0;
    }
    case xen::MMUEXT_COPY_PAGE: {
        const uint64_t destination = operation.arg1.mfn;
        const uint64_t source = operation.arg2.src_mfn;
        const int32_t general = get_general(call.domain, source);
        if (general != 0) {
            logger.warning("domain %u: mmuext_op[%u]: COPY_PAGE from frame %#llx refused", id, index,
                           static_cast<unsigned long long>(source));
            return general;
        }
        const int32_t typed = get_type(call, destination, FrameType::writable);
        if (typed != 0) {
            put_general(source);
            logger.warning("domain %u: mmuext_op[%u]: COPY_PAGE to frame %#llx refused", id, index,
                           static_cast<unsigned long long>(destination));
            return typed;
        }
        if (source != destination)
            for (unsigned word = 0; word < page_size / 8; ++word)
                memory_.write64(frame_address(destination) + word * 8, memory_.read64(frame_address(source) + word * 8));
        put_type(call, destination);
        put_general(source);
        return 0;
    }
    case xen::MMUEXT_MARK_SUPER:
    case xen::MMUEXT_UNMARK_SUPER:
        logger.warning("domain %u: mmuext_op[%u]: PV superpages are not supported", id, index);
        return failure(xen::XEN_EOPNOTSUPP);
    default:
        logger.warning("domain %u: mmuext_op[%u]: unknown command %u", id, index, operation.cmd);
        return failure(xen::XEN_ENOSYS);
    }
}

Outcome PageTypes::mmuext_op(const DomainContext& domain, Span<const xen::mmuext_op> operations, BaseTables& bases,
                             Effects& effects, paging::Batch& batch) {
    Call call{domain, batch};
    if (call.strict()) {
        for (const xen::mmuext_op& operation : operations) {
            if (operation.cmd <= xen::MMUEXT_PIN_L4_TABLE)
                prepare_tree(call, operation.arg1.mfn, operation.cmd - xen::MMUEXT_PIN_L1_TABLE + 1);
            else if (operation.cmd == xen::MMUEXT_NEW_BASEPTR || operation.cmd == xen::MMUEXT_NEW_USER_BASEPTR)
                prepare_tree(call, operation.arg1.mfn, 4);
        }
        const int32_t status = commit_prepared(call);
        if (status != 0) {
            finish(call);
            return Outcome{status, 0};
        }
    }
    for (uint32_t index = 0; index < operations.size(); ++index) {
        const int32_t status = extended_operation(call, operations[index], bases, effects, index);
        if (status != 0) {
            finish(call);
            return Outcome{status, index};
        }
    }
    finish(call);
    return Outcome{0, static_cast<uint32_t>(operations.size())};
}

// --- update_va_mapping, update_descriptor -------------------------------------------

int32_t PageTypes::update_va_mapping(const DomainContext& domain, uint64_t kernel_l4, uint64_t va, uint64_t value,
                                     uint64_t flags, Effects& effects, paging::Batch& batch) {
    Call call{domain, batch};
    const uint64_t flush = flags & xen::UVMF_FLUSHTYPE_MASK;
    if (flush == xen::UVMF_FLUSHTYPE_MASK) {
        logger.warning("domain %u: update_va_mapping(%#llx): flush type 3 is not defined", domain.id,
                       static_cast<unsigned long long>(va));
        return failure(xen::XEN_EINVAL);
    }
    if (!is_guest_range(va, 1)) {
        logger.warning("domain %u: update_va_mapping(%#llx): not a guest address", domain.id,
                       static_cast<unsigned long long>(va));
        return failure(xen::XEN_EINVAL);
    }
    // A software walk over validated tables only (Intel SDM Vol. 3A 4.5).
    uint64_t table = kernel_l4;
    for (unsigned level = 4; level >= 1; --level) {
        const FrameRecord* record = frames_.find(table);
        if (record == nullptr || record->owner != domain.id || !is_page_table(record->type) ||
            !record->has(FrameRecord::validated) || (level == 4 && record->type != FrameType::l4)) {
            logger.warning("domain %u: update_va_mapping(%#llx): level-%u table frame %#llx is not a validated "
                           "page table of the domain",
                           domain.id, static_cast<unsigned long long>(va), level,
                           static_cast<unsigned long long>(table));
            return failure(xen::XEN_EINVAL);
        }
        const uint64_t index = (va >> (page_shift + 9 * (level - 1))) & (entries_per_table - 1);
        if (level == 1) {
            const int32_t status =
                normal_update(call, frame_address(table) + index * 8, value, false, 1, "update_va_mapping", 0);
            if (status == 0 && flush != xen::UVMF_NONE) effects.cpu_flush = true;
            finish(call);
            return status;
        }
        const uint64_t entry = memory_.read64(frame_address(table) + index * 8);
        if ((entry & entry_bits::present) == 0) {
            logger.warning("domain %u: update_va_mapping(%#llx): no L%u entry (slot %llu of frame %#llx)", domain.id,
                           static_cast<unsigned long long>(va), level, static_cast<unsigned long long>(index),
                           static_cast<unsigned long long>(table));
            return failure(xen::XEN_EINVAL);
        }
        table = entry_frame(entry);
    }
    return failure(xen::XEN_EINVAL);
}

int32_t PageTypes::update_descriptor(const DomainContext& domain, uint64_t machine_address, uint64_t descriptor,
                                     paging::Batch& batch) {
    Call call{domain, batch};
    const uint64_t frame = machine_address >> page_shift;
    const FrameRecord* record = frames_.find(frame);
    if ((machine_address & 7) != 0 || record == nullptr || record->owner != domain.id) {
        logger.warning("domain %u: update_descriptor(%#llx): %s", domain.id,
                       static_cast<unsigned long long>(machine_address),
                       (machine_address & 7) != 0 ? "not 8-byte aligned" : "frame not the domain's");
        return failure((machine_address & 7) != 0 ? xen::XEN_EINVAL : xen::XEN_EPERM);
    }
    uint64_t presented = 0;
    if (!check_descriptor(descriptor, &presented)) {
        logger.warning("domain %u: update_descriptor(%#llx): %#llx is a present system descriptor", domain.id,
                       static_cast<unsigned long long>(machine_address), static_cast<unsigned long long>(descriptor));
        return failure(xen::XEN_EINVAL);
    }
    if (record->type == FrameType::segment_descriptor && record->type_count != 0) {
        memory_.write64(machine_address, presented);
        return 0;
    }
    const int32_t typed = get_type(call, frame, FrameType::writable);
    if (typed == 0) {
        memory_.write64(machine_address, presented);
        put_type(call, frame);
    }
    finish(call);
    return typed;
}

// --- The calls for the builder and the vCPU layer -----------------------------------

int32_t PageTypes::get_page_type(const DomainContext& domain, uint64_t frame, FrameType type, paging::Batch& batch) {
    Call call{domain, batch};
    if (call.strict() && is_restricted(type)) {
        prepare_tree(call, frame, is_page_table(type) ? table_level(type) : 1);
        const int32_t status = commit_prepared(call);
        if (status != 0) {
            finish(call);
            return status;
        }
    }
    int32_t status = get_general(call.domain, frame);
    if (status == 0) {
        status = get_type(call, frame, type);
        if (status != 0) put_general(frame);
    }
    finish(call);
    return status;
}

void PageTypes::put_page_type(const DomainContext& domain, uint64_t frame, paging::Batch& batch) {
    Call call{domain, batch};
    put_type(call, frame);
    put_general(frame);
    finish(call);
}

int32_t PageTypes::get_reference(const DomainContext& domain, uint64_t frame) {
    return get_general(domain, frame);
}

void PageTypes::put_reference(uint64_t frame) { put_general(frame); }

int32_t PageTypes::pin_table(const DomainContext& domain, uint64_t frame, FrameType type, paging::Batch& batch) {
    if (!is_page_table(type)) return failure(xen::XEN_EINVAL);
    xen::mmuext_op operation{};
    operation.cmd = xen::MMUEXT_PIN_L1_TABLE + table_level(type) - 1;
    operation.arg1.mfn = frame;
    BaseTables unused_bases;
    Effects unused_effects;
    return mmuext_op(domain, Span<const xen::mmuext_op>(&operation, 1), unused_bases, unused_effects, batch).status;
}

bool PageTypes::is_writable(const DomainContext& domain, uint64_t frame) const {
    const FrameRecord* record = frames_.find(frame);
    return record != nullptr && record->owner == domain.id &&
           (record->type_count == 0 || record->type == FrameType::writable);
}

bool PageTypes::is_validated_table(const DomainContext& domain, uint64_t frame, FrameType type) const {
    const FrameRecord* record = frames_.find(frame);
    return record != nullptr && record->owner == domain.id && record->type == type && record->type_count != 0 &&
           record->has(FrameRecord::validated);
}

}  // namespace sluice::x86::mm
