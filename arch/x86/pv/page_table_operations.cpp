#include "arch/x86/pv/page_table_operations.hpp"

#include <public/errno.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {


int64_t error(int32_t code) { return -int64_t{code}; }

// The guest's arrays are copied here before the engine sees them: one vCPU,
// one hypercall at a time, so one buffer of each kind serves all.
xen::mmu_update update_buffer[PvPageTableOperations::request_capacity];
xen::mmuext_op operation_buffer[PvPageTableOperations::request_capacity];

GuestMemory kernel_memory(const PvDomainContext& domain) {
    return GuestMemory(*domain.memory, *domain.frames, domain.vcpu->kernel_page_table);
}

// success_count: written back when the guest gave a pointer (xen.h,
// mmu_update: "pdone").
bool report_done(const PvDomainContext& domain, uint64_t done_pointer, uint64_t done) {
    if (done_pointer == 0) return true;
    const uint32_t value = static_cast<uint32_t>(done);
    return kernel_memory(domain).write(done_pointer, value).ok();
}

}  // namespace

Status IdentityIommuFollower::map_writable(uint64_t frame, paging::Batch& batch) {
    const uint64_t address = frame << 12;
    return domain_->iommu_map(address, page_size, address, paging::Access::read_write, domain_->allocator(), batch);
}

Status IdentityIommuFollower::unmap(uint64_t frame, paging::Batch& batch) {
    return domain_->iommu_unmap(frame << 12, page_size, domain_->allocator(), batch);
}

bool PvPageTableOperations::foreign_domain_ok(const PvDomainContext& domain, uint16_t foreign_domain) const {
    return foreign_domain == xen::DOMID_SELF || foreign_domain == domain.vcpu->domain_id;
}

void PvPageTableOperations::sync_vcpu(PvDomainContext& domain) const {
    domain.vcpu->kernel_page_table = bases_.kernel == mm::no_frame ? 0 : bases_.kernel << 12;
    domain.vcpu->user_page_table = bases_.user == mm::no_frame ? 0 : bases_.user << 12;
}

namespace {

// A continued call (preempted_count_flag in the count) starts from what
// *pdone says was done; counts are the ABI's unsigned int.
bool resume_count(const PvDomainContext& domain, uint64_t& count, uint64_t done_pointer, uint64_t& done) {
    count &= 0xffffffff;
    done = 0;
    if (!(count & preempted_count_flag)) return true;
    count &= ~preempted_count_flag;
    if (done_pointer == 0) return true;
    uint32_t value = 0;
    if (!kernel_memory(domain).read(done_pointer, value).ok()) return false;
    done = value;
    return true;
}

// After one slice: the rest through a continuation, *pdone holding the
// running total.
int64_t continue_later(PvDomainContext& domain, uint64_t array, uint64_t element_size, uint64_t remaining,
                       uint64_t done_pointer, uint64_t total_done, uint16_t foreign_domain, uint64_t slice) {
    if (!report_done(domain, done_pointer, total_done)) return error(xen::XEN_EFAULT);
    request_continuation(domain, {array + slice * element_size, (remaining - slice) | preempted_count_flag,
                                  done_pointer, foreign_domain, 0, 0});
    return 0;
}

}  // namespace

// MMUEXT_SET_LDT (xen.h): the LDT is `entries` descriptors at the guest's
// linear_address, page aligned, in frames the guest has mapped now. Each
// frame takes the segment-descriptor type (its contents validated, then
// read-only for the guest) before the old LDT's frames are let go.
int64_t PvPageTableOperations::set_local_descriptor_table(PvDomainContext& domain, uint64_t linear_address,
                                                          uint32_t entries, paging::Batch& batch) {
    constexpr uint32_t maximum_entries = 8192;
    Vcpu& vcpu = *domain.vcpu;
    if (entries > maximum_entries || (entries != 0 && (linear_address & (page_size - 1)) != 0) ||
        (entries != 0 && (!is_canonical(linear_address) || linear_address + uint64_t{entries} * 8 < linear_address ||
                          (linear_address + uint64_t{entries} * 8 > xen::HYPERVISOR_VIRT_START &&
                           linear_address < xen::HYPERVISOR_VIRT_END))))
        return error(xen::XEN_EINVAL);
    const unsigned frames = (entries + 511) / 512;
    uint64_t requested[16] = {};
    const GuestMemory memory = kernel_memory(domain);
    for (unsigned index = 0; index < frames; ++index) {
        const Result<PhysicalAddress> machine = memory.translate(linear_address + index * page_size, GuestAccess::read);
        if (!machine.ok()) return error(xen::XEN_EFAULT);
        requested[index] = machine.value() >> 12;
    }
    for (unsigned index = 0; index < frames; ++index) {
        const int32_t status = types_->get_page_type(domain_, requested[index], mm::FrameType::segment_descriptor, batch);
        if (status != 0) {
            while (index-- > 0) types_->put_page_type(domain_, requested[index], batch);
            return status;
        }
    }
    const unsigned old_frames = (vcpu.ldt_entries + 511) / 512;
    for (unsigned index = 0; index < old_frames; ++index) types_->put_page_type(domain_, vcpu.ldt_frames[index], batch);
    for (unsigned index = 0; index < 16; ++index) vcpu.ldt_frames[index] = index < frames ? requested[index] : 0;
    vcpu.ldt_entries = entries;
    domain.services->load_guest_ldt(vcpu.ldt_frames, frames, entries);
    return 0;
}

int64_t PvPageTableOperations::mmu_update(PvDomainContext& domain, uint64_t requests, uint64_t count,
                                          uint64_t done_pointer, uint16_t foreign_domain, paging::Batch& batch) {
    if (!foreign_domain_ok(domain, foreign_domain)) return error(xen::XEN_ESRCH);
    uint64_t base = 0;
    if (!resume_count(domain, count, done_pointer, base)) return error(xen::XEN_EFAULT);
    // One slice per entry (one prepare commit, one batch); the rest later.
    const uint64_t slice = min<uint64_t>(count, request_capacity);
    if (slice != 0 && !kernel_memory(domain).copy_from(update_buffer, requests, slice * sizeof(xen::mmu_update)).ok()) {
        (void)report_done(domain, done_pointer, base);
        return error(xen::XEN_EFAULT);
    }
    const mm::Outcome outcome =
        slice == 0 ? mm::Outcome{} : types_->mmu_update(domain_, Span<const xen::mmu_update>(update_buffer, slice), batch);
    if (outcome.status != 0) {
        (void)report_done(domain, done_pointer, base + outcome.completed);
        return outcome.status;
    }
    if (slice < count)
        return continue_later(domain, requests, sizeof(xen::mmu_update), count, done_pointer, base + slice,
                              foreign_domain, slice);
    return report_done(domain, done_pointer, base + slice) ? 0 : error(xen::XEN_EFAULT);
}

int64_t PvPageTableOperations::run_extended(PvDomainContext& domain, Span<const xen::mmuext_op> operations,
                                            uint32_t* completed, paging::Batch& batch) {
    mm::Effects effects;
    const mm::Outcome outcome = types_->mmuext_op(domain_, operations, bases_, effects, batch);
    sync_vcpu(domain);
    // TLB flushes and INVLPG need nothing more: the return to the guest
    // reloads CR3 with CR4.PGE clear (docs/pv.md). A cache flush is for
    // devices that do not snoop, which the IOMMU set-up already keeps
    // coherent.
    *completed = outcome.completed;
    if (outcome.status == 0 && effects.ldt_changed) {
        const int64_t status = set_local_descriptor_table(domain, effects.ldt_linear_address, effects.ldt_entries, batch);
        if (status != 0) {
            // The SET_LDT was the last operation the engine completed.
            if (*completed != 0) --*completed;
            return status;
        }
    }
    return outcome.status;
}

int64_t PvPageTableOperations::mmuext_op(PvDomainContext& domain, uint64_t operations, uint64_t count,
                                         uint64_t done_pointer, uint16_t foreign_domain, paging::Batch& batch) {
    if (!foreign_domain_ok(domain, foreign_domain)) return error(xen::XEN_ESRCH);
    uint64_t base = 0;
    if (!resume_count(domain, count, done_pointer, base)) return error(xen::XEN_EFAULT);
    const uint64_t slice = min<uint64_t>(count, request_capacity);
    if (slice != 0 &&
        !kernel_memory(domain).copy_from(operation_buffer, operations, slice * sizeof(xen::mmuext_op)).ok()) {
        (void)report_done(domain, done_pointer, base);
        return error(xen::XEN_EFAULT);
    }
    uint32_t completed = 0;
    const int64_t status =
        slice == 0 ? 0 : run_extended(domain, Span<const xen::mmuext_op>(operation_buffer, slice), &completed, batch);
    if (status != 0) {
        (void)report_done(domain, done_pointer, base + completed);
        return status;
    }
    if (slice < count)
        return continue_later(domain, operations, sizeof(xen::mmuext_op), count, done_pointer, base + slice,
                              foreign_domain, slice);
    return report_done(domain, done_pointer, base + slice) ? 0 : error(xen::XEN_EFAULT);
}

int64_t PvPageTableOperations::update_va_mapping(PvDomainContext& domain, uint64_t address, uint64_t value,
                                                 uint64_t flags, paging::Batch& batch) {
    if (bases_.kernel == mm::no_frame) return error(xen::XEN_EINVAL);
    (void)domain;
    mm::Effects effects;
    return types_->update_va_mapping(domain_, bases_.kernel, address, value, flags, effects, batch);
}

int64_t PvPageTableOperations::set_gdt(PvDomainContext& domain, uint64_t frame_list, uint64_t entries,
                                       paging::Batch& batch) {
    // At most the 14 pages below the hypervisor's reserved ones (arch-x86/
    // xen.h, FIRST_RESERVED_GDT_ENTRY).
    if (entries > xen::FIRST_RESERVED_GDT_ENTRY) return error(xen::XEN_EINVAL);
    const unsigned frames = static_cast<unsigned>((entries + 511) / 512);
    uint64_t requested[xen::FIRST_RESERVED_GDT_PAGE] = {};
    if (frames != 0 && !kernel_memory(domain).copy_from(requested, frame_list, frames * sizeof(uint64_t)).ok())
        return error(xen::XEN_EFAULT);
    // Type the new frames first (each must be the guest's and hold only
    // descriptors the guest may have); on a failure the old GDT stays.
    for (unsigned index = 0; index < frames; ++index) {
        const int32_t status = types_->get_page_type(domain_, requested[index], mm::FrameType::segment_descriptor, batch);
        if (status != 0) {
            while (index-- > 0) types_->put_page_type(domain_, requested[index], batch);
            return status;
        }
    }
    Vcpu& vcpu = *domain.vcpu;
    const unsigned old_frames = (vcpu.gdt_entries + 511) / 512;
    for (unsigned index = 0; index < old_frames; ++index) types_->put_page_type(domain_, vcpu.gdt_frames[index], batch);
    for (unsigned index = 0; index < xen::FIRST_RESERVED_GDT_PAGE; ++index)
        vcpu.gdt_frames[index] = index < frames ? requested[index] : 0;
    vcpu.gdt_entries = static_cast<unsigned>(entries);
    domain.services->load_guest_gdt(vcpu.gdt_frames, frames);
    return 0;
}

int64_t PvPageTableOperations::update_descriptor(PvDomainContext&, uint64_t machine_address, uint64_t descriptor,
                                                 paging::Batch& batch) {
    return types_->update_descriptor(domain_, machine_address, descriptor, batch);
}

int64_t PvPageTableOperations::hold_writable(PvDomainContext&, uint64_t frame, paging::Batch& batch) {
    return types_->get_page_type(domain_, frame, mm::FrameType::writable, batch);
}

int64_t PvPageTableOperations::write_l1_entry(PvDomainContext&, PhysicalAddress entry, uint64_t value,
                                              paging::Batch& batch) {
    if ((entry & 7) != 0 || !types_->is_validated_table(domain_, entry >> 12, mm::FrameType::l1))
        return error(xen::XEN_EINVAL);
    const xen::mmu_update request{entry | xen::MMU_NORMAL_PT_UPDATE, value};
    return types_->mmu_update(domain_, Span<const xen::mmu_update>(&request, 1), batch).status;
}

int64_t PvPageTableOperations::new_base_pointer(PvDomainContext& domain, uint64_t frame, paging::Batch& batch) {
    xen::mmuext_op operation{};
    operation.cmd = xen::MMUEXT_NEW_BASEPTR;
    operation.arg1.mfn = frame;
    uint32_t completed = 0;
    return run_extended(domain, Span<const xen::mmuext_op>(&operation, 1), &completed, batch);
}

}  // namespace sluice::x86::pv
