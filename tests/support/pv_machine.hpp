// A small PV machine for the page-type tests: simulated memory, a frame
// table over it, fakes for the hypervisor's L4 slots, the machine-to-physical
// table and the IOMMU (a follower that keeps the set of device-mapped frames
// and an invalidation unit that counts), and helpers to lay out tables.
#pragma once

#include "simulated_machine.hpp"

#include <arch/x86/mm/page_types.hpp>

#include <functional>
#include <map>
#include <set>
#include <vector>

namespace sluice::testing {

namespace pv_bits {
inline constexpr uint64_t present = 1;
inline constexpr uint64_t writable = 2;
inline constexpr uint64_t user = 4;
inline constexpr uint64_t accessed = 0x20;
inline constexpr uint64_t dirty = 0x40;
inline constexpr uint64_t large = 0x80;
inline constexpr uint64_t global = 0x100;
inline constexpr uint64_t no_execute = uint64_t{1} << 63;
}  // namespace pv_bits

class FakeHypervisorSlots final : public x86::mm::HypervisorSlots {
public:
    // Distinct supervisor entries pointing outside the guest's memory.
    uint64_t entry(unsigned index) const override { return 0x7700'0000 + index * 0x1000 + 0x63; }
};

class FakeMachineToPhysical final : public x86::mm::MachineToPhysical {
public:
    Status set(uint64_t machine_frame, uint64_t guest_frame) override {
        table[machine_frame] = guest_frame;
        return success();
    }
    std::map<uint64_t, uint64_t> table;
};

// Counts invalidations; optionally calls a hook first (a device that writes
// memory up to the moment the invalidation completes).
class HookedUnit final : public paging::InvalidationUnit {
public:
    paging::InvalidationCapabilities invalidation_capabilities() const override { return {false, true, 18}; }
    Status invalidate_pages(uint16_t, uint64_t, unsigned, bool) override {
        before();
        ++invalidations;
        return success();
    }
    Status invalidate_domain(uint16_t) override {
        before();
        ++invalidations;
        return success();
    }
    Status wait() override { return success(); }
    uint64_t invalidations = 0;
    std::function<void()> hook;

private:
    void before() {
        if (hook) hook();
    }
};

// The domain's IOMMU mappings as a set of frames; records into the batch as
// the real identity-map code does (an unmap modifies, a map adds).
class FakeFollower final : public x86::mm::IommuFollower {
public:
    Status map_writable(uint64_t frame, paging::Batch& batch) override {
        if (mapped.count(frame) != 0) throw std::logic_error("follower: frame mapped twice");
        mapped.insert(frame);
        batch.record(frame << page_shift, (frame << page_shift) + page_mask, paging::Change::added, 0);
        ++maps;
        return success();
    }
    Status unmap(uint64_t frame, paging::Batch& batch) override {
        if (mapped.count(frame) == 0) throw std::logic_error("follower: frame unmapped twice");
        mapped.erase(frame);
        unflushed.insert(frame);
        batch.record(frame << page_shift, (frame << page_shift) + page_mask, paging::Change::modified, 0);
        ++unmaps;
        return success();
    }
    std::set<uint64_t> mapped;
    std::set<uint64_t> unflushed;  // unmapped, invalidation not yet done
    uint64_t maps = 0;
    uint64_t unmaps = 0;
};

struct PvMachine {
    static constexpr uint64_t first_frame = 0x100;
    static constexpr uint64_t frame_count = 2048;
    static constexpr uint16_t domain_id = 0;
    static constexpr uint16_t other_domain = 1;
    // Frames [first_frame, first_frame + guest_frames) belong to the domain,
    // the next 16 to another domain, the last 16 to the hypervisor.
    static constexpr uint64_t guest_frames = frame_count - 32;
    static constexpr uint64_t other_frame = first_frame + guest_frames;
    static constexpr uint64_t hypervisor_frame = other_frame + 16;
    // I/O memory the domain may map (outside the frame table) and some it may not.
    static constexpr uint64_t io_frame = 0xfee00;
    static constexpr uint64_t forbidden_io_frame = 0xfed00;

    explicit PvMachine(bool strict = true, unsigned physical_address_bits = 52)
        : memory(first_frame << page_shift, frame_count * page_size),
          records(frame_count),
          frames(Span<x86::mm::FrameRecord>(records.data(), records.size()), first_frame),
          pending(x86::mm::PageTypes::suggested_pending_capacity),
          types(frames, memory, slots, &machine_to_physical, Span<uint64_t>(pending.data(), pending.size()),
                physical_address_bits),
          batch(targets) {
        if (!targets.attach(unit, 1).ok()) throw std::logic_error("attach");
        unit.hook = [this] { follower.unflushed.clear(); };
        if (!io_memory.add(passthrough::AddressRange{io_frame << page_shift, (io_frame + 1) << page_shift}).ok())
            throw std::logic_error("io range");
        for (uint64_t index = 0; index < frame_count; ++index) {
            const uint64_t frame = first_frame + index;
            const uint16_t owner = frame < other_frame      ? domain_id
                                   : frame < hypervisor_frame ? other_domain
                                                              : x86::mm::owner_hypervisor;
            const bool device_mapped = strict && owner == domain_id;
            if (!frames.assign(frame, owner, device_mapped).ok()) throw std::logic_error("assign");
            if (device_mapped) follower.mapped.insert(frame);
        }
        context.id = domain_id;
        context.io_memory = &io_memory;
        context.iommu = strict ? &follower : nullptr;
        context.may_flush_cache = true;
    }
    ~PvMachine() { (void)batch.commit(); }

    static uint64_t frame(uint64_t index) { return first_frame + index; }
    static uint64_t entry(uint64_t target, uint64_t flags) { return (target << page_shift) | flags; }
    static uint64_t entry_address(uint64_t table, unsigned index) { return (table << page_shift) + index * 8; }
    void write(uint64_t table, unsigned index, uint64_t value) { memory.write64(entry_address(table, index), value); }
    uint64_t read(uint64_t table, unsigned index) const { return memory.read64(entry_address(table, index)); }
    const x86::mm::FrameRecord& record(uint64_t frame) const { return *frames.find(frame); }

    int32_t update(uint64_t table, unsigned index, uint64_t value, uint64_t command = xen::MMU_NORMAL_PT_UPDATE) {
        xen::mmu_update request{entry_address(table, index) | command, value};
        return types.mmu_update(context, Span<const xen::mmu_update>(&request, 1), batch).status;
    }
    int32_t extended(uint32_t command, uint64_t argument1, uint64_t argument2 = 0) {
        xen::mmuext_op operation{};
        operation.cmd = command;
        operation.arg1.mfn = argument1;
        operation.arg2.src_mfn = argument2;
        return types.mmuext_op(context, Span<const xen::mmuext_op>(&operation, 1), bases, effects, batch).status;
    }
    int32_t pin(uint64_t frame, unsigned level) { return extended(xen::MMUEXT_PIN_L1_TABLE + level - 1, frame); }
    int32_t unpin(uint64_t frame) { return extended(xen::MMUEXT_UNPIN_TABLE, frame); }

    SimulatedMemory memory;
    std::vector<x86::mm::FrameRecord> records;
    x86::mm::FrameTable frames;
    FakeHypervisorSlots slots;
    FakeMachineToPhysical machine_to_physical;
    std::vector<uint64_t> pending;
    x86::mm::PageTypes types;
    HookedUnit unit;
    paging::InvalidationTargets targets;
    paging::Batch batch;
    FakeFollower follower;
    passthrough::FixedRangeSet<4> io_memory;
    x86::mm::DomainContext context;
    x86::mm::BaseTables bases;
    x86::mm::Effects effects;
};

}  // namespace sluice::testing
