// A model of one Intel VT-d remapping unit's registers and DMA path, for host
// tests of the driver's sequencing. Written from the VT-d specification
// (revision 5.10: chapter 6 caching and invalidation, 7.2 fault recording,
// 9 root/context/second-level entries, 11 registers) and from what QEMU 7.2's
// intel-iommu was seen doing; it shares no code with the driver.
//
// What it models:
// - GCMD as QEMU implements it: an enable bit (TE, QIE, IRE, CFI) acts when
//   it differs from GSTS, a one-shot bit (SRTP, SIRTP, WBF) acts whenever it
//   is written as 1. So a bare SRTP write turns translation off, as on QEMU.
// - register-based invalidation (CCMD, IVA/IOTLB_REG) completing at once and
//   reporting the granularity used; queued invalidation (IQA/IQH/IQT) that
//   consumes descriptors when the tail is written, writes wait status, and
//   stops with FSTS.IQE at a descriptor it does not know;
// - a context cache and an IOTLB that keep what a DMA looked up until an
//   invalidation drops it (and, with Caching Mode, faulting lookups too), so
//   a missing invalidation shows up as a stale DMA result;
// - primary fault recording (NFR records, FRI, PPF, PFO, F cleared by
//   writing 1);
// - a unit that stops answering: commands never complete, the queue is
//   never fetched.
#pragma once

#include "support/advancing_clock.hpp"
#include "support/reference_walkers.hpp"

#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/clock.hpp>
#include <sluice/physical_memory.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::testing {

class VtdRegisterModel final : public pci::MmioRegion {
public:
    // QEMU 7.2 -device intel-iommu (aw-bits=39), measured.
    static constexpr uint64_t qemu_capability = 0xd2008c22260206;
    static constexpr uint64_t qemu_extended_capability = 0xf00f4a;

    // Register offsets (VT-d spec 11.4), written out independently of the driver.
    static constexpr uint64_t version = 0x00, capability = 0x08, extended_capability = 0x10, global_command = 0x18,
                              global_status = 0x1c, root_table_address = 0x20, context_command = 0x28,
                              fault_status = 0x34, fault_event_control = 0x38, queue_head = 0x80, queue_tail = 0x88,
                              queue_address = 0x90, completion_status = 0x9c, queue_error_record = 0xb0,
                              interrupt_table_address = 0xb8;

    static constexpr uint32_t te = 1u << 31, srtp = 1u << 30, wbf = 1u << 27, qie = 1u << 26, ire = 1u << 25,
                              sirtp = 1u << 24, cfi = 1u << 23;
    static constexpr uint32_t pfo = 1u << 0, ppf = 1u << 1, iqe = 1u << 4, ice = 1u << 5, ite = 1u << 6;

    enum class Operation {
        context_global,
        context_domain,
        context_device,
        iotlb_global,
        iotlb_domain,
        iotlb_page,
        wait,
        write_buffer_flush,
        interrupt_entry_global,
        interrupt_entry_index,
    };
    struct Event {
        Operation operation;
        bool queued = false;
        uint16_t domain_id = 0;
        uint16_t source_id = 0;
        uint64_t address = 0;
        unsigned address_mask = 0;
        bool hint = false;
    };

    // What an interrupt request (a DMA write to 0xfeexxxxx) became (VT-d
    // 5.1.4): delivered as vector to destination, or blocked with a fault
    // reason (also recorded as a fault, as the hardware does).
    struct InterruptResult {
        bool delivered = false;
        uint8_t vector = 0;
        uint32_t destination = 0;
        uint8_t reason = 0;
        bool cached = false;  // the entry came from the interrupt entry cache
    };

    struct DmaResult {
        bool ok = false;
        uint64_t output = 0;
        uint8_t reason = 0;  // fault reason when !ok
        bool cached = false;  // answered from a cache
    };

    VtdRegisterModel(PhysicalMemory& memory, uint64_t capability_value = qemu_capability,
                     uint64_t extended_value = qemu_extended_capability, uint64_t size = 0x1000)
        : memory_(memory), capability_(capability_value), extended_(extended_value), size_(size),
          records_(((capability_value >> 40) & 0xff) + 1) {}

    // --- Knobs ---
    // false: no command completes from now on (GSTS stops following GCMD,
    // CCMD/IOTLB requests stay pending, the queue is not fetched).
    void set_answering(bool answering) { answering_ = answering; }
    // Pretend the unit was left translating by a previous owner.
    void preset_status(uint32_t status) { status_ = status; }
    // A previous owner's queue that stopped on a bad descriptor: queued
    // invalidation on, FSTS.IQE set, descriptors left between head and tail.
    void preset_stopped_queue(uint64_t head, uint64_t tail) {
        status_ |= qie;
        fault_status_ |= iqe;
        head_ = head;
        tail_ = tail;
    }
    void set_register_reads_all_ones(bool all_ones) { all_ones_ = all_ones; }
    // A broken unit for negative tests: page-selective IOTLB invalidations
    // complete but drop nothing.
    void set_ignoring_page_invalidations(bool ignoring) { ignoring_pages_ = ignoring; }
    // A broken unit for negative tests: fault records name this source-id.
    void set_recorded_source(std::optional<uint16_t> source) { recorded_source_ = source; }

    // --- Inspection ---
    [[nodiscard]] uint32_t status() const { return status_; }
    [[nodiscard]] uint64_t active_root() const { return active_root_; }
    [[nodiscard]] const std::vector<Event>& events() const { return events_; }
    void clear_events() { events_.clear(); }
    [[nodiscard]] size_t count(Operation operation) const {
        size_t found = 0;
        for (const Event& event : events_)
            if (event.operation == operation) ++found;
        return found;
    }
    [[nodiscard]] size_t iotlb_invalidations() const {
        return count(Operation::iotlb_global) + count(Operation::iotlb_domain) + count(Operation::iotlb_page);
    }
    [[nodiscard]] size_t context_invalidations() const {
        return count(Operation::context_global) + count(Operation::context_domain) +
               count(Operation::context_device);
    }
    // Every GCMD value written, in order.
    [[nodiscard]] const std::vector<uint32_t>& command_writes() const { return command_writes_; }
    // Register-based invalidations requested while queued invalidation was on
    // (the spec forbids mixing the two, 6.5.2).
    [[nodiscard]] size_t mixed_invalidations() const { return mixed_; }
    [[nodiscard]] size_t translation_disables() const { return translation_disables_; }

    // --- The interrupt path (VT-d 5.1.2-5.1.4, 9.10) ---
    // A write of data to address (0xFEEx_xxxx) from source_id.
    InterruptResult interrupt(uint16_t source_id, uint64_t address, uint32_t data) {
        InterruptResult result;
        if ((status_ & ire) == 0) {
            // Remapping off: the request is delivered as it is (compatibility).
            result.delivered = true;
            result.vector = static_cast<uint8_t>(data & 0xff);
            result.destination = static_cast<uint32_t>((address >> 12) & 0xff);
            return result;
        }
        const bool remappable = ((address >> 4) & 1) != 0;
        if (!remappable) {
            if ((status_ & cfi) != 0) {
                result.delivered = true;
                result.vector = static_cast<uint8_t>(data & 0xff);
                result.destination = static_cast<uint32_t>((address >> 12) & 0xff);
                return result;
            }
            return interrupt_fault(result, source_id, 0, 0x25);
        }
        // Handle: address bits 19:5 and bit 2 (handle[15]); SHV (bit 3) adds
        // the data's low 16 bits as a subhandle.
        uint32_t index = static_cast<uint32_t>(((address >> 5) & 0x7fff) | ((address >> 2) & 1) << 15);
        if (((address >> 3) & 1) != 0) index += data & 0xffff;
        const uint64_t entries = uint64_t{2} << (active_interrupt_table_ & 0xf);
        if (index >= entries) return interrupt_fault(result, source_id, index, 0x21);
        uint64_t low = 0, high = 0;
        const auto cached = interrupt_cache_.find(index);
        if (cached != interrupt_cache_.end()) {
            low = cached->second.first;
            high = cached->second.second;
            result.cached = true;
        } else {
            const uint64_t slot = (active_interrupt_table_ & ~uint64_t{0xfff}) + uint64_t{index} * 16;
            low = memory_.read64(slot);
            high = memory_.read64(slot + 8);
            // The entry cache keeps entries, present or not, until software
            // invalidates them (6.5.2.8).
            interrupt_cache_[index] = {low, high};
        }
        if ((low & 1) == 0) return interrupt_fault(result, source_id, index, 0x22);
        // SVT 01b: the requester must match SID under the SQ mask (SQ 00b
        // compares all 16 bits; 01b-11b ignore function bits).
        const unsigned validation = static_cast<unsigned>((high >> 18) & 3);
        if (validation == 1) {
            const unsigned qualifier = static_cast<unsigned>((high >> 16) & 3);
            const uint16_t ignored = qualifier == 0 ? 0 : qualifier == 1 ? 0x4 : qualifier == 2 ? 0x6 : 0x7;
            const uint16_t expected = static_cast<uint16_t>(high & 0xffff);
            if ((expected & ~ignored) != (source_id & ~ignored)) return interrupt_fault(result, source_id, index, 0x26);
        }
        result.delivered = true;
        result.vector = static_cast<uint8_t>((low >> 16) & 0xff);
        const uint32_t destination = static_cast<uint32_t>(low >> 32);
        result.destination = (active_interrupt_table_ & (1u << 11)) != 0 ? destination : (destination >> 8) & 0xff;
        return result;
    }
    [[nodiscard]] uint64_t active_interrupt_table() const { return active_interrupt_table_; }
    [[nodiscard]] size_t cached_interrupt_entries() const { return interrupt_cache_.size(); }

    // --- The DMA path ---
    // One request from source_id at address. Untranslated when TE is off.
    DmaResult dma(uint16_t source_id, uint64_t address, bool write) {
        if ((status_ & te) == 0) return DmaResult{true, address, 0, false};
        const uint64_t page = address & ~uint64_t{0xfff};
        const auto fault = [&](uint8_t reason) {
            record_fault(source_id, page, write, reason);
            return DmaResult{false, 0, reason, false};
        };

        bool context_cached = false;
        std::optional<std::pair<uint64_t, uint64_t>> context;
        if (auto found = context_cache_.find(source_id); found != context_cache_.end()) {
            context = found->second;
            context_cached = true;
        } else {
            const uint64_t root_low = memory_.read64(active_root_ + (source_id >> 8) * 16);
            if ((root_low & 1) == 0) return fault(0x01);
            const uint64_t table = root_low & ~uint64_t{0xfff};
            const uint64_t entry = table + (source_id & 0xff) * 16;
            context = std::make_pair(memory_.read64(entry), memory_.read64(entry + 8));
            // Caching Mode may cache not-present entries as well (6.1).
            if ((context->first & 1) != 0 || caching_mode()) context_cache_[source_id] = *context;
        }
        const uint64_t low = context->first, high = context->second;
        if ((low & 1) == 0) return fault(0x02);
        const unsigned type = (low >> 2) & 3;
        const uint16_t domain_id = static_cast<uint16_t>((high >> 8) & 0xffff);
        const unsigned width = high & 7;
        if ((low & 0xff0) != 0 || (high & ~uint64_t{0xffff07}) != 0) return fault(0x0b);
        if (type == 2) {
            if (((extended_ >> 6) & 1) == 0) return fault(0x03);
            return DmaResult{true, address, 0, context_cached};
        }
        if (type != 0) return fault(0x03);
        if (width < 1 || width > 3 || ((capability_ >> (8 + width)) & 1) == 0) return fault(0x03);
        const unsigned levels = width + 2;

        const auto key = std::make_tuple(domain_id, page);
        if (auto cached = iotlb_.find(key); cached != iotlb_.end()) {
            const Translation& hit = cached->second;
            if (!hit.present || !(write ? hit.write : hit.read)) return fault(write ? 0x05 : 0x06);
            return DmaResult{true, hit.output | (address & 0xfff), 0, true};
        }
        const bool large_2m = ((capability_ >> 34) & 1) != 0, large_1g = ((capability_ >> 35) & 1) != 0;
        const VtdReference walker(levels, large_2m, large_1g, host_address_width_);
        const ReferenceTranslation translation = walker.translate(memory_, low & ~uint64_t{0xfff}, address);
        if (translation.fault == ReferenceFault::address_too_wide) return fault(0x04);
        if (translation.fault == ReferenceFault::reserved_bit) return fault(0x0c);
        Translation entry;
        entry.present = translation.translated();
        entry.read = translation.read;
        entry.write = translation.write;
        entry.output = translation.output & ~uint64_t{0xfff};
        // Caching Mode may keep faulting translations too (6.1).
        if (entry.present || caching_mode()) iotlb_[key] = entry;
        if (!entry.present || !(write ? entry.write : entry.read)) return fault(write ? 0x05 : 0x06);
        return DmaResult{true, translation.output, 0, false};
    }

    [[nodiscard]] size_t cached_translations() const { return iotlb_.size(); }
    [[nodiscard]] size_t cached_contexts() const { return context_cache_.size(); }

    // --- pci::MmioRegion ---
    uint64_t size() const override { return size_; }
    uint8_t read8(uint64_t) override { throw std::logic_error("VT-d registers are never read as bytes"); }
    uint16_t read16(uint64_t) override { throw std::logic_error("VT-d registers are never read as words"); }
    void write8(uint64_t, uint8_t) override { throw std::logic_error("VT-d registers are never written as bytes"); }
    void write16(uint64_t, uint16_t) override { throw std::logic_error("VT-d registers are never written as words"); }

    uint32_t read32(uint64_t offset) override {
        check(offset, 4);
        if (all_ones_) return ~uint32_t{0};
        switch (offset) {
        case version: return 0x10;
        case global_status: return status_;
        case fault_status: return fault_status_value();
        case fault_event_control: return fault_event_control_;
        case completion_status: return 0;
        }
        if (is_fault_record(offset)) return static_cast<uint32_t>(fault_record_word(offset & ~uint64_t{7}) >> (offset & 4 ? 32 : 0));
        throw std::logic_error("32-bit read of an unmodelled or 64-bit register at " + hex(offset));
    }
    uint64_t read64(uint64_t offset) override {
        check(offset, 8);
        if (all_ones_) return ~uint64_t{0};
        switch (offset) {
        case capability: return capability_;
        case extended_capability: return extended_;
        case root_table_address: return root_table_address_;
        case context_command: return context_command_;
        case queue_head: return head_;
        case queue_tail: return tail_;
        case queue_address: return queue_address_;
        case interrupt_table_address: return interrupt_table_address_;
        case queue_error_record: return 0;
        }
        if (offset == iotlb_register()) return iotlb_command_;
        if (offset == iotlb_register() - 8) return invalidate_address_;
        if (is_fault_record(offset)) return fault_record_word(offset);
        throw std::logic_error("64-bit read of an unmodelled or 32-bit register at " + hex(offset));
    }
    void write32(uint64_t offset, uint32_t value) override {
        check(offset, 4);
        switch (offset) {
        case global_command: handle_command(value); return;
        case fault_status: fault_status_clear(value); return;
        case fault_event_control: fault_event_control_ = value & (1u << 31); return;
        }
        if (is_fault_record(offset) && (offset & 15) == 12) {
            if ((value & (1u << 31)) != 0) {
                const unsigned index = static_cast<unsigned>((offset - fault_recording_offset()) / 16);
                records_[index].high &= ~(uint64_t{1} << 63);
                maybe_reset_fault_index();
            }
            return;
        }
        throw std::logic_error("32-bit write of an unmodelled or 64-bit register at " + hex(offset));
    }
    void write64(uint64_t offset, uint64_t value) override {
        check(offset, 8);
        switch (offset) {
        case root_table_address: root_table_address_ = value; return;
        case context_command: handle_context_command(value); return;
        case queue_tail: handle_tail(value); return;
        case queue_address: queue_address_ = value; return;
        case interrupt_table_address: interrupt_table_address_ = value; return;
        }
        if (offset == iotlb_register() - 8) {
            invalidate_address_ = value;
            return;
        }
        if (offset == iotlb_register()) {
            handle_iotlb_command(value);
            return;
        }
        throw std::logic_error("64-bit write of an unmodelled or 32-bit register at " + hex(offset));
    }

    unsigned host_address_width_ = 39;

private:
    struct Translation {
        bool present = false;
        bool read = false;
        bool write = false;
        uint64_t output = 0;
    };
    struct Record {
        uint64_t low = 0;
        uint64_t high = 0;
    };

    static std::string hex(uint64_t value) {
        char text[32];
        std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(value));
        return text;
    }
    void check(uint64_t offset, unsigned width) const {
        if (offset % width != 0 || offset + width > size_) throw std::logic_error("misaligned or out-of-window access");
    }
    [[nodiscard]] bool caching_mode() const { return ((capability_ >> 7) & 1) != 0; }
    [[nodiscard]] uint64_t iotlb_register() const { return ((extended_ >> 8) & 0x3ff) * 16 + 8; }
    [[nodiscard]] uint64_t fault_recording_offset() const { return ((capability_ >> 24) & 0x3ff) * 16; }
    [[nodiscard]] bool is_fault_record(uint64_t offset) const {
        return offset >= fault_recording_offset() && offset < fault_recording_offset() + 16 * records_.size();
    }
    [[nodiscard]] uint64_t fault_record_word(uint64_t offset) const {
        const Record& record = records_[(offset - fault_recording_offset()) / 16];
        return (offset & 8) != 0 ? record.high : record.low;
    }

    void handle_command(uint32_t value) {
        command_writes_.push_back(value);
        if (!answering_) return;
        const uint32_t changed = value ^ status_;
        if ((changed & te) != 0) {
            if ((value & te) != 0) {
                status_ |= te;
            } else {
                status_ &= ~te;
                ++translation_disables_;
            }
        }
        if ((value & srtp) != 0) {
            active_root_ = root_table_address_ & ~uint64_t{0xfff};
            status_ |= srtp;
        }
        if ((value & wbf) != 0) events_.push_back(Event{Operation::write_buffer_flush});
        if ((changed & qie) != 0) {
            if ((value & qie) != 0) {
                // QEMU refuses to enable the queue when the tail is not 0.
                if (tail_ == 0) {
                    head_ = 0;
                    status_ |= qie;
                }
            } else if (head_ == tail_) {
                status_ &= ~qie;
            }
        }
        if ((changed & ire) != 0) status_ ^= ire;
        if ((changed & cfi) != 0) status_ ^= cfi;
        if ((value & sirtp) != 0) {
            // 11.4.4.1 SIRTP: the table address is latched now.
            active_interrupt_table_ = interrupt_table_address_;
            status_ |= sirtp;
        }
    }

    void handle_context_command(uint64_t value) {
        context_command_ = value;
        if ((value >> 63) == 0 || !answering_) return;
        if ((status_ & qie) != 0) ++mixed_;
        const unsigned granularity = (value >> 61) & 3;
        const uint16_t domain_id = static_cast<uint16_t>(value & 0xffff);
        const uint16_t source_id = static_cast<uint16_t>((value >> 16) & 0xffff);
        invalidate_context(granularity, domain_id, source_id, false);
        // ICC clear, CAIG = what was done.
        context_command_ = (value & ~(uint64_t{1} << 63) & ~(uint64_t{3} << 59)) | uint64_t{granularity} << 59;
    }

    void handle_iotlb_command(uint64_t value) {
        iotlb_command_ = value;
        if ((value >> 63) == 0 || !answering_) return;
        if ((status_ & qie) != 0) ++mixed_;
        const unsigned granularity = (value >> 60) & 3;
        const uint16_t domain_id = static_cast<uint16_t>((value >> 32) & 0xffff);
        const unsigned mask = invalidate_address_ & 0x3f;
        invalidate_iotlb(granularity, domain_id, invalidate_address_ & ~uint64_t{0xfff}, mask,
                         ((invalidate_address_ >> 6) & 1) != 0, false);
        iotlb_command_ = (value & ~(uint64_t{1} << 63) & ~(uint64_t{3} << 57)) | uint64_t{granularity} << 57;
    }

    void invalidate_context(unsigned granularity, uint16_t domain_id, uint16_t source_id, bool queued) {
        Event event{granularity == 1 ? Operation::context_global
                    : granularity == 2 ? Operation::context_domain
                                       : Operation::context_device,
                    queued, domain_id, source_id};
        events_.push_back(event);
        for (auto it = context_cache_.begin(); it != context_cache_.end();) {
            const uint16_t cached_domain = static_cast<uint16_t>((it->second.second >> 8) & 0xffff);
            const bool drop = granularity == 1 || (granularity == 2 && cached_domain == domain_id) ||
                              (granularity == 3 && it->first == source_id);
            it = drop ? context_cache_.erase(it) : std::next(it);
        }
    }

    void invalidate_iotlb(unsigned granularity, uint16_t domain_id, uint64_t address, unsigned mask, bool hint,
                          bool queued) {
        Event event{granularity == 1 ? Operation::iotlb_global
                    : granularity == 2 ? Operation::iotlb_domain
                                       : Operation::iotlb_page,
                    queued, domain_id, 0, address, mask, hint};
        events_.push_back(event);
        if (granularity == 3 && ignoring_pages_) return;
        const uint64_t span = uint64_t{0x1000} << mask;
        for (auto it = iotlb_.begin(); it != iotlb_.end();) {
            const auto [cached_domain, page] = it->first;
            const bool drop = granularity == 1 || (granularity == 2 && cached_domain == domain_id) ||
                              (granularity == 3 && cached_domain == domain_id && page >= (address & ~(span - 1)) &&
                               page < (address & ~(span - 1)) + span);
            it = drop ? iotlb_.erase(it) : std::next(it);
        }
    }

    void handle_tail(uint64_t value) {
        tail_ = value & 0x7fff0;
        if ((status_ & qie) == 0 || !answering_) return;
        const uint64_t queue = queue_address_ & ~uint64_t{0xfff};
        const uint64_t queue_size = uint64_t{0x1000} << (queue_address_ & 7);
        while (head_ != tail_) {
            if ((fault_status_ & iqe) != 0) return;
            const uint64_t low = memory_.read64(queue + head_);
            const uint64_t high = memory_.read64(queue + head_ + 8);
            const unsigned type = static_cast<unsigned>((low & 0xf) | ((low >> 9) & 7) << 4);
            switch (type) {
            case 1:
                invalidate_context((low >> 4) & 3, static_cast<uint16_t>((low >> 16) & 0xffff),
                                   static_cast<uint16_t>((low >> 32) & 0xffff), true);
                break;
            case 2: {
                const unsigned granularity = (low >> 4) & 3;
                if (granularity == 0) {
                    fault_status_ |= iqe;
                    return;
                }
                invalidate_iotlb(granularity, static_cast<uint16_t>((low >> 16) & 0xffff), high & ~uint64_t{0xfff},
                                 high & 0x3f, ((high >> 6) & 1) != 0, true);
                break;
            }
            case 4: {
                // 6.5.2.8: G (4) 0 = global, 1 = IIDX (47:32) with 2^IM
                // (31:27) entries.
                const bool index_selective = ((low >> 4) & 1) != 0;
                Event event{index_selective ? Operation::interrupt_entry_index : Operation::interrupt_entry_global, true};
                if (!index_selective) {
                    interrupt_cache_.clear();
                } else {
                    const unsigned mask = static_cast<unsigned>((low >> 27) & 0x1f);
                    const uint32_t index = static_cast<uint32_t>((low >> 32) & 0xffff);
                    event.address = index;
                    event.address_mask = mask;
                    if ((index & ((1u << mask) - 1)) != 0) {
                        fault_status_ |= iqe;  // IIDX not aligned to the mask
                        return;
                    }
                    for (auto entry = interrupt_cache_.begin(); entry != interrupt_cache_.end();)
                        entry = (entry->first >> mask) == (index >> mask) ? interrupt_cache_.erase(entry) : ++entry;
                }
                events_.push_back(event);
                break;
            }
            case 5: {
                events_.push_back(Event{Operation::wait, true});
                if (((low >> 5) & 1) != 0) {
                    const uint32_t data = static_cast<uint32_t>(low >> 32);
                    const uint64_t target = high & ~uint64_t{3};
                    if (!memory_.write_bytes(target, &data, sizeof data).ok())
                        throw std::logic_error("wait descriptor status address outside memory");
                }
                break;
            }
            default:
                // 6.5.2.10: an unknown descriptor stops the queue at itself.
                fault_status_ |= iqe;
                return;
            }
            head_ = (head_ + 16) % queue_size;
        }
    }

    InterruptResult& interrupt_fault(InterruptResult& result, uint16_t source_id, uint32_t index, uint8_t reason) {
        result.reason = reason;
        // 7.2.1: interrupt-remapping faults record the index in FI 63:48 and
        // count as write requests.
        record_fault(source_id, uint64_t{index} << 48, true, reason);
        return result;
    }

    void record_fault(uint16_t source_id, uint64_t page, bool write, uint8_t reason) {
        Record& record = records_[fault_index_];
        if ((record.high >> 63) != 0) {
            overflow_ = true;
            return;
        }
        record.low = page;
        // F (127), T1 (126: 1 = read), FR (103:96), SID (79:64).
        record.high = uint64_t{1} << 63 | uint64_t{write ? 0u : 1u} << 62 | uint64_t{reason} << 32 |
                      recorded_source_.value_or(source_id);
        if (first_pending_ < 0) first_pending_ = static_cast<int>(fault_index_);
        fault_index_ = (fault_index_ + 1) % records_.size();
    }

    [[nodiscard]] bool any_pending() const {
        for (const Record& record : records_)
            if ((record.high >> 63) != 0) return true;
        return false;
    }
    [[nodiscard]] uint32_t fault_status_value() const {
        uint32_t value = fault_status_ | (overflow_ ? pfo : 0);
        if (any_pending()) {
            value |= ppf;
            // FRI: the first record still pending, oldest first.
            unsigned index = first_pending_ < 0 ? 0 : static_cast<unsigned>(first_pending_);
            for (size_t step = 0; step < records_.size(); ++step, index = (index + 1) % records_.size())
                if ((records_[index].high >> 63) != 0) break;
            value |= index << 8;
        }
        return value;
    }
    void fault_status_clear(uint32_t value) {
        if ((value & pfo) != 0) overflow_ = false;
        fault_status_ &= ~(value & (iqe | ice | ite));
        maybe_reset_fault_index();
    }
    void maybe_reset_fault_index() {
        // 7.2.1: the internal index returns to 0 once PPF and PFO are both clear.
        if (!any_pending() && !overflow_) {
            fault_index_ = 0;
            first_pending_ = -1;
        }
    }

    PhysicalMemory& memory_;
    uint64_t capability_;
    uint64_t extended_;
    uint64_t size_;
    bool answering_ = true;
    bool all_ones_ = false;
    bool ignoring_pages_ = false;
    std::optional<uint16_t> recorded_source_;

    uint32_t status_ = 0;
    uint64_t root_table_address_ = 0;
    uint64_t active_root_ = 0;
    uint64_t context_command_ = 0;
    uint64_t iotlb_command_ = 0;
    uint64_t invalidate_address_ = 0;
    uint64_t head_ = 0;
    uint64_t tail_ = 0;
    uint64_t queue_address_ = 0;
    uint32_t fault_status_ = 0;
    uint32_t fault_event_control_ = 0;
    uint64_t interrupt_table_address_ = 0;
    uint64_t active_interrupt_table_ = 0;
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> interrupt_cache_;
    bool overflow_ = false;
    std::vector<Record> records_;
    size_t fault_index_ = 0;
    int first_pending_ = -1;

    std::map<uint16_t, std::pair<uint64_t, uint64_t>> context_cache_;
    std::map<std::tuple<uint16_t, uint64_t>, Translation> iotlb_;
    std::vector<Event> events_;
    std::vector<uint32_t> command_writes_;
    size_t mixed_ = 0;
    size_t translation_disables_ = 0;
};

// Cache maintenance that records what was written back.
class RecordingCache final : public passthrough::CacheMaintenance {
public:
    void write_back(PhysicalAddress address, uint64_t length) override { ranges.emplace_back(address, length); }
    [[nodiscard]] bool covers(PhysicalAddress address, uint64_t length) const {
        for (const auto& [start, size] : ranges)
            if (address >= start && address + length <= start + size) return true;
        return false;
    }
    std::vector<std::pair<PhysicalAddress, uint64_t>> ranges;
};

}  // namespace sluice::testing
