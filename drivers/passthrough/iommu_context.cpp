#include <drivers/passthrough/iommu_context.hpp>

#include <sluice/log.hpp>

namespace sluice::passthrough {

namespace {
constexpr Logger logger{"iommu"};

using VtdWalker = paging::PageTableWalker<VtdSecondLevelFormat, PhysicalMemory>;
using AmdWalker = paging::PageTableWalker<AmdV1Format, PhysicalMemory>;

// The leaf sizes of `p2m` must all be usable by `iommu`, level by level.
bool iommu_can_walk(const VtdSecondLevelFormat& iommu, const p2m::EptFormat& p2m) {
    if (iommu.levels() != p2m.levels()) return false;
    for (unsigned level = 2; level <= p2m.levels(); ++level)
        if (p2m.leaf_allowed(level) && !iommu.leaf_allowed(level)) return false;
    return iommu.last_output() >= p2m.last_output();
}
}  // namespace

Result<IommuContext> IommuContext::create(const IommuConfiguration& configuration, p2m::P2m* p2m,
                                          PhysicalMemory& memory, PageAllocator& allocator) {
    if (configuration.share_p2m_with_iommu) {
        if (configuration.iommu != IommuTableKind::vtd_second_level || p2m == nullptr ||
            p2m->kind() != p2m::P2mTableKind::ept) {
            logger.error("domain %u: only VT-d can share the p2m, and only EPT", configuration.id);
            return Error::unsupported;
        }
        if (!iommu_can_walk(configuration.vtd, p2m->configuration().ept)) {
            logger.error("domain %u: the IOMMU cannot walk this EPT (depth, superpage sizes or address width differ)",
                         configuration.id);
            return Error::unsupported;
        }
    }
    if (configuration.identity_regions.empty())
        logger.warning("domain %u: no identity-region storage; identity_map will refuse every region",
                       configuration.id);

    IommuContext context(configuration, p2m, memory, allocator);
    for (IdentityRegion& region : context.configuration_.identity_regions) region = IdentityRegion{};
    if (!configuration.share_p2m_with_iommu) context.iommu_root_ = SLUICE_TRY(VtdWalker::create_root(memory, allocator));
    return sluice::move(context);
}

template <typename Function> decltype(auto) IommuContext::with_iommu(Function&& function) const {
    if (configuration_.share_p2m_with_iommu || configuration_.iommu == IommuTableKind::vtd_second_level) {
        // Shared: the IOMMU walks the EPT tables with the VT-d format.
        VtdWalker walker(configuration_.vtd, *memory_, iommu_root(), *allocator_);
        return function(walker);
    }
    AmdWalker walker(configuration_.amd, *memory_, iommu_root_, *allocator_);
    return function(walker);
}

unsigned IommuContext::iommu_levels() const {
    return configuration_.iommu == IommuTableKind::vtd_second_level ? configuration_.vtd.levels()
                                                                     : configuration_.amd.levels();
}

uint64_t IommuContext::last_identity_address() const {
    uint64_t last = configuration_.iommu_last_input();
    if (p2m_ != nullptr) last = min(last, p2m_->last_input());
    return last;
}

Status IommuContext::iommu_map(uint64_t address, uint64_t length, PhysicalAddress output, paging::Access access,
                               PageAllocator& allocator, paging::Batch& batch) {
    if (configuration_.share_p2m_with_iommu) return Error::unsupported;
    return with_iommu([&](auto& walker) {
        return walker.map(address, length, output, IommuAttributes{access}, allocator, batch);
    });
}

Status IommuContext::iommu_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch) {
    if (configuration_.share_p2m_with_iommu) return Error::unsupported;
    return with_iommu([&](auto& walker) { return walker.unmap(address, length, allocator, batch); });
}

Optional<paging::Mapping<IommuAttributes>> IommuContext::iommu_lookup(uint64_t address) const {
    return with_iommu([&](auto& walker) { return walker.lookup(address); });
}

bool IommuContext::iommu_has_mappings(uint64_t address, uint64_t length) const {
    if (configuration_.share_p2m_with_iommu) return p2m_->has_mappings(address, length);
    return with_iommu([&](auto& walker) {
        return !walker.for_each_mapping(address, length, [](const auto&) { return false; });
    });
}

uint64_t IommuContext::table_pages() const {
    if (configuration_.share_p2m_with_iommu || iommu_root_ == 0) return 0;
    return with_iommu([](auto& walker) { return walker.count_tables(); });
}

void IommuContext::destroy(paging::Batch& batch) {
    if (!configuration_.share_p2m_with_iommu && iommu_root_ != 0)
        with_iommu([&](auto& walker) { walker.release_all(batch); });
    iommu_root_ = 0;
    for (IdentityRegion& region : configuration_.identity_regions) region = IdentityRegion{};
}

}  // namespace sluice::passthrough
