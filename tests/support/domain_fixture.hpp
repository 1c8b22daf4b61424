// A domain over a simulated machine with model units attached, for the
// identity-map and domain tests and benchmarks.
#pragma once

#include "support/page_table_models.hpp"
#include "support/reference_walkers.hpp"
#include "support/simulated_machine.hpp"

#include <drivers/passthrough/domain.hpp>
#include <drivers/passthrough/identity_map.hpp>


#include <memory>
#include <string>
#include <vector>

namespace sluice::testing {

inline passthrough::DomainConfiguration configuration_for(passthrough::DomainKind kind,
                                                          passthrough::IommuTableKind iommu, bool share,
                                                          Span<passthrough::IdentityRegion> regions) {
    passthrough::DomainConfiguration configuration;
    configuration.id = 3;
    configuration.kind = kind;
    configuration.iommu = iommu;
    configuration.p2m = kind == passthrough::DomainKind::pv
                            ? passthrough::P2mTableKind::none
                            : (iommu == passthrough::IommuTableKind::amd_v1 ? passthrough::P2mTableKind::npt
                                                                            : passthrough::P2mTableKind::ept);
    configuration.share_p2m_with_iommu = share;
    configuration.identity_regions = regions;
    return configuration;
}

class DomainFixture {
public:
    static constexpr PhysicalAddress memory_base = 0x1'0000'0000;
    static constexpr uint64_t memory_pages = 8192;

    DomainFixture(passthrough::DomainKind kind, passthrough::IommuTableKind iommu, bool share,
                  paging::InvalidationCapabilities capabilities = {false, true, 18})
        : simulated_(memory_base, memory_pages * page_size), allocator_(simulated_, memory_base, memory_pages),
          regions_(64) {
        auto created = passthrough::Domain::create(
            configuration_for(kind, iommu, share, Span<passthrough::IdentityRegion>(regions_.data(), regions_.size())),
            simulated_, allocator_);
        if (!created.ok()) throw std::runtime_error("domain creation failed");
        domain_ = std::make_unique<passthrough::Domain>(std::move(created).value());
        if (iommu == passthrough::IommuTableKind::vtd_second_level)
            iommu_reference_ = std::make_unique<VtdReference>(4, true, true, 46);
        else
            iommu_reference_ = std::make_unique<AmdReference>(4);
        if (kind != passthrough::DomainKind::pv) {
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

    passthrough::Domain& domain() { return *domain_; }
    SimulatedPageAllocator& allocator() { return allocator_; }
    SimulatedMemory& memory() { return simulated_; }
    ModelIommu& unit() { return *unit_; }

    ReferenceTranslation dma(uint64_t address) const {
        return iommu_reference_->translate(simulated_, domain_->iommu_root(), address);
    }
    ReferenceTranslation guest(uint64_t address) const {
        return p2m_reference_->translate(simulated_, domain_->p2m_root(), address);
    }
    // Table pages reachable from the roots.
    uint64_t reachable_pages() const {
        uint64_t pages = 0;
        if (!domain_->shares_p2m_with_iommu())
            pages += reachable_tables(*iommu_reference_, simulated_, domain_->iommu_root()).size();
        if (p2m_reference_) pages += reachable_tables(*p2m_reference_, simulated_, domain_->p2m_root()).size();
        return pages;
    }
    bool has_p2m() const { return p2m_reference_ != nullptr; }

private:
    SimulatedMemory simulated_;
    SimulatedPageAllocator allocator_;
    std::vector<passthrough::IdentityRegion> regions_;
    std::unique_ptr<passthrough::Domain> domain_;
    std::unique_ptr<ReferenceWalker> iommu_reference_;
    std::unique_ptr<ReferenceWalker> p2m_reference_;
    std::unique_ptr<ModelIommu> unit_;
};

}  // namespace sluice::testing
