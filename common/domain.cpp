#include <common/domain.hpp>

#include <sluice/log.hpp>

namespace sluice {

namespace {
constexpr Logger logger{"domain"};
}  // namespace

const char* describe(DomainKind kind) {
    switch (kind) {
    case DomainKind::pv: return "PV";
    case DomainKind::hvm: return "HVM";
    case DomainKind::pvh: return "PVH";
    }
    return "unknown";
}

Status Domain::initialize(const DomainConfiguration& configuration, PhysicalMemory& memory, PageAllocator& allocator) {
    const bool translated = configuration.kind != DomainKind::pv;
    if (translated != (configuration.p2m.kind != p2m::P2mTableKind::none)) {
        logger.error("d%u: a %s domain %s a p2m", configuration.id, describe(configuration.kind),
                     translated ? "needs" : "cannot have");
        return Error::invalid_argument;
    }
    if (initialized_) {
        logger.error("d%u: initialized twice", configuration.id);
        return Error::invalid_argument;
    }
    configuration_ = configuration;
    if (translated) {
        Result<p2m::P2m> created = p2m::P2m::create(configuration.p2m, memory, allocator);
        if (!created.ok()) {
            logger.error("d%u: no p2m: %s", configuration.id, describe(created.error()));
            return created.error();
        }
        p2m_.construct(sluice::move(created.value()));
    }
    initialized_ = true;
    return success();
}

Status Domain::create_iommu_context(passthrough::IommuConfiguration configuration, PhysicalMemory& memory,
                                    PageAllocator& allocator) {
    configuration.id = configuration_.id;
    Result<passthrough::IommuContext> created =
        passthrough::IommuContext::create(configuration, p2m_.get(), memory, allocator);
    if (!created.ok()) return created.error();
    iommu_.construct(sluice::move(created.value()));
    return success();
}

Status Domain::add_vcpu(Vcpu& vcpu) {
    if (vcpu_count_ == vcpu_capacity) {
        logger.error("d%u: more than %zu vCPUs", configuration_.id, vcpu_capacity);
        return Error::capacity;
    }
    vcpu.vcpu_id = static_cast<uint16_t>(vcpu_count_);
    vcpu.domain = this;
    vcpus_[vcpu_count_++] = &vcpu;
    return success();
}

Status Domain::identity_map(PhysicalAddress start, PhysicalAddress end, paging::Access access, paging::Batch& batch) {
    if (!iommu_) return Error::not_found;
    return passthrough::identity_map(*iommu_, start, end, access, batch);
}

Status Domain::identity_unmap(PhysicalAddress start, PhysicalAddress end, paging::Batch& batch) {
    if (!iommu_) return Error::not_found;
    return passthrough::identity_unmap(*iommu_, start, end, batch);
}

void Domain::destroy(paging::Batch& batch) {
    if (iommu_) iommu_->destroy(batch);
    if (p2m_) p2m_->release(batch);
    iommu_.reset();
    p2m_.reset();
    vcpu_count_ = 0;
}

}  // namespace sluice
