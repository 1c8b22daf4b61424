#include <drivers/passthrough/domain.hpp>

#include <sluice/log.hpp>

namespace sluice::passthrough {

namespace {
constexpr Logger logger{"iommu"};

using VtdWalker = paging::PageTableWalker<VtdSecondLevelFormat, PhysicalMemory>;
using AmdWalker = paging::PageTableWalker<AmdV1Format, PhysicalMemory>;
using EptWalker = paging::PageTableWalker<p2m::EptFormat, PhysicalMemory>;
using NptWalker = paging::PageTableWalker<p2m::NptFormat, PhysicalMemory>;

// The leaf sizes of `p2m` must all be usable by `iommu`, level by level.
bool iommu_can_walk(const VtdSecondLevelFormat& iommu, const p2m::EptFormat& p2m) {
    if (iommu.levels() != p2m.levels()) return false;
    for (unsigned level = 2; level <= p2m.levels(); ++level)
        if (p2m.leaf_allowed(level) && !iommu.leaf_allowed(level)) return false;
    return iommu.last_output() >= p2m.last_output();
}
}  // namespace

const char* describe(DomainKind kind) {
    switch (kind) {
    case DomainKind::pv: return "PV";
    case DomainKind::hvm: return "HVM";
    case DomainKind::pvh: return "PVH";
    }
    return "unknown";
}

Result<Domain> Domain::create(const DomainConfiguration& configuration, PhysicalMemory& memory,
                              PageAllocator& allocator) {
    const bool translated = configuration.kind != DomainKind::pv;
    if (translated != (configuration.p2m != P2mTableKind::none)) {
        logger.error("domain %u: a %s domain %s a p2m", configuration.id, describe(configuration.kind),
                     translated ? "needs" : "cannot have");
        return Error::invalid_argument;
    }
    if (configuration.share_p2m_with_iommu) {
        if (configuration.iommu != IommuTableKind::vtd_second_level || configuration.p2m != P2mTableKind::ept) {
            logger.error("domain %u: only VT-d can share the p2m, and only EPT", configuration.id);
            return Error::unsupported;
        }
        if (!iommu_can_walk(configuration.vtd, configuration.ept)) {
            logger.error("domain %u: the IOMMU cannot walk this EPT (depth, superpage sizes or address width differ)",
                         configuration.id);
            return Error::unsupported;
        }
    }
    if (configuration.identity_regions.empty())
        logger.warning("domain %u: no identity-region storage; identity_map will refuse every region",
                       configuration.id);

    Domain domain(configuration, memory, allocator);
    for (IdentityRegion& region : domain.configuration_.identity_regions) region = IdentityRegion{};
    if (translated) domain.p2m_root_ = SLUICE_TRY(EptWalker::create_root(memory, allocator));
    if (!configuration.share_p2m_with_iommu) {
        const Result<PhysicalAddress> root = VtdWalker::create_root(memory, allocator);
        if (!root.ok()) {
            if (translated) allocator.free_page(domain.p2m_root_);
            return root.error();
        }
        domain.iommu_root_ = root.value();
    }
    return sluice::move(domain);
}

template <typename Function> decltype(auto) Domain::with_iommu(Function&& function) const {
    if (configuration_.share_p2m_with_iommu || configuration_.iommu == IommuTableKind::vtd_second_level) {
        // Shared: the IOMMU walks the EPT tables with the VT-d format.
        VtdWalker walker(configuration_.vtd, *memory_, iommu_root(), *allocator_);
        return function(walker);
    }
    AmdWalker walker(configuration_.amd, *memory_, iommu_root_, *allocator_);
    return function(walker);
}

template <typename Function> decltype(auto) Domain::with_p2m(Function&& function) const {
    if (configuration_.p2m == P2mTableKind::ept) {
        EptWalker walker(configuration_.ept, *memory_, p2m_root_, *allocator_);
        return function(walker);
    }
    NptWalker walker(configuration_.npt, *memory_, p2m_root_, *allocator_);
    return function(walker);
}

unsigned Domain::iommu_levels() const {
    return configuration_.iommu == IommuTableKind::vtd_second_level ? configuration_.vtd.levels()
                                                                     : configuration_.amd.levels();
}

uint64_t Domain::last_identity_address() const {
    uint64_t last = configuration_.iommu_last_input();
    if (translated()) {
        const uint64_t p2m_last = configuration_.p2m == P2mTableKind::ept ? configuration_.ept.last_input()
                                                                          : configuration_.npt.last_input();
        last = min(last, p2m_last);
    }
    return last;
}

Status Domain::iommu_map(uint64_t address, uint64_t length, PhysicalAddress output, paging::Access access,
                         PageAllocator& allocator, paging::Batch& batch) {
    if (configuration_.share_p2m_with_iommu) return Error::unsupported;
    return with_iommu([&](auto& walker) {
        return walker.map(address, length, output, IommuAttributes{access}, allocator, batch);
    });
}

Status Domain::iommu_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch) {
    if (configuration_.share_p2m_with_iommu) return Error::unsupported;
    return with_iommu([&](auto& walker) { return walker.unmap(address, length, allocator, batch); });
}

Optional<paging::Mapping<IommuAttributes>> Domain::iommu_lookup(uint64_t address) const {
    return with_iommu([&](auto& walker) { return walker.lookup(address); });
}

Status Domain::p2m_map(uint64_t address, uint64_t length, PhysicalAddress output, p2m::P2mAttributes attributes,
                       PageAllocator& allocator, paging::Batch& batch) {
    if (!translated()) return Error::unsupported;
    return with_p2m([&](auto& walker) { return walker.map(address, length, output, attributes, allocator, batch); });
}

Status Domain::p2m_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch) {
    if (!translated()) return Error::unsupported;
    return with_p2m([&](auto& walker) { return walker.unmap(address, length, allocator, batch); });
}

Optional<paging::Mapping<p2m::P2mAttributes>> Domain::p2m_lookup(uint64_t address) const {
    if (!translated()) return {};
    return with_p2m([&](auto& walker) { return walker.lookup(address); });
}

bool Domain::iommu_has_mappings(uint64_t address, uint64_t length) const {
    if (configuration_.share_p2m_with_iommu) return p2m_has_mappings(address, length);
    return with_iommu([&](auto& walker) {
        return !walker.for_each_mapping(address, length, [](const auto&) { return false; });
    });
}

bool Domain::p2m_has_mappings(uint64_t address, uint64_t length) const {
    if (!translated()) return false;
    return with_p2m([&](auto& walker) {
        return !walker.for_each_mapping(address, length, [](const auto&) { return false; });
    });
}

uint64_t Domain::table_pages() const {
    uint64_t pages = 0;
    if (!configuration_.share_p2m_with_iommu) pages += with_iommu([](auto& walker) { return walker.count_tables(); });
    if (translated()) pages += with_p2m([](auto& walker) { return walker.count_tables(); });
    return pages;
}

void Domain::destroy(paging::Batch& batch) {
    if (!configuration_.share_p2m_with_iommu && iommu_root_ != 0)
        with_iommu([&](auto& walker) { walker.release_all(batch); });
    if (translated() && p2m_root_ != 0) with_p2m([&](auto& walker) { walker.release_all(batch); });
    iommu_root_ = 0;
    p2m_root_ = 0;
    for (IdentityRegion& region : configuration_.identity_regions) region = IdentityRegion{};
}

}  // namespace sluice::passthrough
