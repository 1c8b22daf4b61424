// The page-table hypercalls of a 64-bit PV guest (mmu_update, mmuext_op,
// update_va_mapping, set_gdt, update_descriptor, and CR3 writes) over the
// page-type engine (arch/x86/mm/page_types.hpp): this layer copies the
// guest's request arrays in through GuestMemory, keeps the vCPU's base
// pointers and GDT frames in step, and reports results the ABI's way
// (success_count through `pdone`, -EFAULT for a bad array).
//
// A hypercall's requests are handed to the engine in one call whenever they
// fit in `request_capacity`, so its prepare pass and commit cover all of
// them: one IOMMU invalidation per unit per hypercall. A longer array does
// request_capacity of them and continues itself (the guest's SYSCALL runs
// again, Xen's MMU_UPDATE_PREEMPTED convention), one commit per slice, so
// no single entry into the hypervisor runs unbounded.
#pragma once

#include "arch/x86/mm/page_types.hpp"
#include "arch/x86/pv/hypercalls.hpp"

#include <drivers/passthrough/iommu_context.hpp>

namespace sluice::x86::pv {

// mm::IommuFollower over a PV domain's IOMMU tables: frame N at address N.
class IdentityIommuFollower final : public mm::IommuFollower {
public:
    explicit IdentityIommuFollower(passthrough::IommuContext& domain) : domain_(&domain) {}
    [[nodiscard]] Status map_writable(uint64_t frame, paging::Batch& batch) override;
    [[nodiscard]] Status unmap(uint64_t frame, paging::Batch& batch) override;

private:
    passthrough::IommuContext* domain_;
};

class PvPageTableOperations final : public PageTableOperations {
public:
    static constexpr size_t request_capacity = 1024;

    PvPageTableOperations(mm::PageTypes& types, const mm::DomainContext& domain) : types_(&types), domain_(domain) {}

    // The bases the builder installed (the pinned bootstrap L4 as the kernel
    // base); the engine already holds their references.
    void set_bases(const mm::BaseTables& bases) { bases_ = bases; }
    [[nodiscard]] const mm::BaseTables& bases() const { return bases_; }

    [[nodiscard]] int64_t mmu_update(PvDomainContext& domain, uint64_t requests, uint64_t count, uint64_t done_pointer,
                                     uint16_t foreign_domain, paging::Batch& batch) override;
    [[nodiscard]] int64_t mmuext_op(PvDomainContext& domain, uint64_t operations, uint64_t count,
                                    uint64_t done_pointer, uint16_t foreign_domain, paging::Batch& batch) override;
    [[nodiscard]] int64_t update_va_mapping(PvDomainContext& domain, uint64_t address, uint64_t value, uint64_t flags,
                                            paging::Batch& batch) override;
    [[nodiscard]] int64_t set_gdt(PvDomainContext& domain, uint64_t frame_list, uint64_t entries,
                                  paging::Batch& batch) override;
    [[nodiscard]] int64_t update_descriptor(PvDomainContext& domain, uint64_t machine_address, uint64_t descriptor,
                                            paging::Batch& batch) override;
    [[nodiscard]] int64_t new_base_pointer(PvDomainContext& domain, uint64_t frame, paging::Batch& batch) override;
    [[nodiscard]] int64_t hold_writable(PvDomainContext& domain, uint64_t frame, paging::Batch& batch) override;
    [[nodiscard]] int64_t write_l1_entry(PvDomainContext& domain, PhysicalAddress entry, uint64_t value,
                                         paging::Batch& batch) override;

private:
    [[nodiscard]] bool foreign_domain_ok(const PvDomainContext& domain, uint16_t foreign_domain) const;
    [[nodiscard]] int64_t run_extended(PvDomainContext& domain, Span<const xen::mmuext_op> operations,
                                       uint32_t* completed, paging::Batch& batch);
    void sync_vcpu(PvDomainContext& domain) const;
    [[nodiscard]] int64_t set_local_descriptor_table(PvDomainContext& domain, uint64_t linear_address,
                                                     uint32_t entries, paging::Batch& batch);

    mm::PageTypes* types_;
    mm::DomainContext domain_;
    mm::BaseTables bases_;
};

}  // namespace sluice::x86::pv
