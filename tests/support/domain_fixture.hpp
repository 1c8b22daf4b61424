// A domain over a simulated machine with model units attached, for the
// identity-map and domain tests and benchmarks.
#pragma once

#include "support/page_table_models.hpp"
#include "support/reference_walkers.hpp"
#include "support/simulated_machine.hpp"

#include <common/domain.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/iommu_context.hpp>


#include <memory>
#include <string>
#include <vector>

namespace sluice::testing {

inline passthrough::IommuConfiguration configuration_for(passthrough::IommuTableKind iommu, bool share,
                                                         Span<passthrough::IdentityRegion> regions) {
    passthrough::IommuConfiguration configuration;
    configuration.id = 3;
    configuration.iommu = iommu;
    configuration.share_p2m_with_iommu = share;
    configuration.identity_regions = regions;
    return configuration;
}

// The p2m format a translated domain gets beside an IOMMU of this kind, as
// on real hardware (EPT with VT-d, NPT with AMD-Vi).
inline DomainConfiguration domain_configuration_for(DomainKind kind, passthrough::IommuTableKind iommu) {
    DomainConfiguration configuration;
    configuration.id = 3;
    configuration.kind = kind;
    configuration.p2m.kind = kind == DomainKind::pv ? p2m::P2mTableKind::none
                             : iommu == passthrough::IommuTableKind::amd_v1 ? p2m::P2mTableKind::npt
                                                                           : p2m::P2mTableKind::ept;
    return configuration;
}

class DomainFixture {
public:
    static constexpr PhysicalAddress memory_base = 0x1'0000'0000;
    static constexpr uint64_t memory_pages = 8192;

    DomainFixture(DomainKind kind, passthrough::IommuTableKind iommu, bool share,
                  paging::InvalidationCapabilities capabilities = {false, true, 18})
        : simulated_(memory_base, memory_pages * page_size), allocator_(simulated_, memory_base, memory_pages),
          regions_(64), owner_(std::make_unique<Domain>()) {
        if (!owner_->initialize(domain_configuration_for(kind, iommu), simulated_, allocator_).ok())
            throw std::runtime_error("domain creation failed");
        if (!owner_->create_iommu_context(configuration_for(iommu, share,
                                                            Span<passthrough::IdentityRegion>(regions_.data(),
                                                                                              regions_.size())),
                                          simulated_, allocator_)
                 .ok())
            throw std::runtime_error("IOMMU context creation failed");
        domain_ = owner_->iommu();
        if (iommu == passthrough::IommuTableKind::vtd_second_level)
            iommu_reference_ = std::make_unique<VtdReference>(4, true, true, 46);
        else
            iommu_reference_ = std::make_unique<AmdReference>(4);
        if (kind != DomainKind::pv) {
            if (iommu == passthrough::IommuTableKind::vtd_second_level)
                p2m_reference_ = std::make_unique<EptReference>(4, true, true, 46);
            else
                p2m_reference_ = std::make_unique<NptReference>(true, 48);
        }
        unit_ = std::make_unique<ModelIommu>(simulated_, *iommu_reference_, capabilities);
        unit_->set_root(unit_domain_id, domain_->iommu_root());
        if (!domain_->invalidation_targets().attach(*unit_, unit_domain_id).ok()) throw std::runtime_error("attach");
    }

    static constexpr uint16_t unit_domain_id = 9;

    // The IOMMU context (what the passthrough code names), the domain that
    // owns it and, when translated, the domain's p2m.
    passthrough::IommuContext& domain() { return *domain_; }
    Domain& owner() { return *owner_; }
    p2m::P2m& p2m() { return *owner_->p2m(); }
    SimulatedPageAllocator& allocator() { return allocator_; }
    SimulatedMemory& memory() { return simulated_; }
    ModelIommu& unit() { return *unit_; }

    ReferenceTranslation dma(uint64_t address) const {
        return iommu_reference_->translate(simulated_, domain_->iommu_root(), address);
    }
    ReferenceTranslation guest(uint64_t address) const {
        return p2m_reference_->translate(simulated_, owner_->p2m()->root(), address);
    }
    // Table pages reachable from the roots.
    uint64_t reachable_pages() const {
        uint64_t pages = 0;
        if (!domain_->shares_p2m_with_iommu())
            pages += reachable_tables(*iommu_reference_, simulated_, domain_->iommu_root()).size();
        if (p2m_reference_) pages += reachable_tables(*p2m_reference_, simulated_, owner_->p2m()->root()).size();
        return pages;
    }
    bool has_p2m() const { return p2m_reference_ != nullptr; }

private:
    SimulatedMemory simulated_;
    SimulatedPageAllocator allocator_;
    std::vector<passthrough::IdentityRegion> regions_;
    std::unique_ptr<Domain> owner_;
    passthrough::IommuContext* domain_ = nullptr;
    std::unique_ptr<ReferenceWalker> iommu_reference_;
    std::unique_ptr<ReferenceWalker> p2m_reference_;
    std::unique_ptr<ModelIommu> unit_;
};

}  // namespace sluice::testing
