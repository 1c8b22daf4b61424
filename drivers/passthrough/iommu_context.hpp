// A domain's IOMMU context, as the passthrough code sees it: its IOMMU
// tables (format, root), the units it is attached to (its invalidation
// targets), the registry of its identity regions and, for a translated
// domain, the p2m the identity maps also go into (owned by the domain,
// common/domain.hpp). A VT-d unit may walk that p2m instead of tables of
// its own (shared EPT).
#pragma once

#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/page_table_amd.hpp>
#include <drivers/passthrough/page_table_vtd.hpp>
#include <mm/p2m/p2m.hpp>
#include <mm/paging/batch.hpp>
#include <mm/paging/page_table.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

enum class IommuTableKind : uint8_t { vtd_second_level, amd_v1 };

struct IommuConfiguration {
    uint16_t id = 0;
    IommuTableKind iommu = IommuTableKind::vtd_second_level;
    VtdSecondLevelFormat vtd{4, true, true, false, 48, 46};
    AmdV1Format amd{4, 3, 48};
    // VT-d walks the domain's EPT tables directly (the context entry points
    // at the p2m root). Needs VT-d + EPT with equal depth and every EPT leaf
    // size supported by the IOMMU.
    bool share_p2m_with_iommu = false;
    // Storage for the identity-region registry.
    Span<IdentityRegion> identity_regions;

    // Highest input address the IOMMU tables of this configuration translate.
    [[nodiscard]] constexpr uint64_t iommu_last_input() const {
        return iommu == IommuTableKind::amd_v1 ? amd.last_input() : vtd.last_input();
    }
};

class IommuContext {
public:
    // p2m: the domain's p2m when it is translated (identity maps go into it
    // too), nullptr when it is not. Allocates the IOMMU root unless shared.
    // Error::unsupported for sharing the formats do not allow,
    // Error::out_of_memory. Each refusal is logged with its reason.
    [[nodiscard]] static Result<IommuContext> create(const IommuConfiguration& configuration, p2m::P2m* p2m,
                                                     PhysicalMemory& memory, PageAllocator& allocator);

    IommuContext(IommuContext&& other) = default;
    IommuContext(const IommuContext&) = delete;
    IommuContext& operator=(const IommuContext&) = delete;

    [[nodiscard]] uint16_t id() const { return configuration_.id; }
    [[nodiscard]] bool translated() const { return p2m_ != nullptr; }
    [[nodiscard]] bool shares_p2m_with_iommu() const { return configuration_.share_p2m_with_iommu; }
    [[nodiscard]] IommuTableKind iommu_table_kind() const { return configuration_.iommu; }
    [[nodiscard]] p2m::P2m* p2m() const { return p2m_; }

    // What a unit driver programs into the context entry or device table
    // entry: the root the IOMMU walks (the p2m root when shared) and its
    // depth.
    [[nodiscard]] PhysicalAddress iommu_root() const {
        return configuration_.share_p2m_with_iommu ? p2m_->root() : iommu_root_;
    }
    [[nodiscard]] unsigned iommu_levels() const;
    // Highest address identity_map accepts: the smaller of the IOMMU's and
    // (when translated) the p2m's input width.
    [[nodiscard]] uint64_t last_identity_address() const;

    // The units to invalidate for this domain: IOMMU units its devices sit
    // behind and, when translated, the processors' EPT/NPT TLBs (modelled as
    // a unit too). Make batches from it.
    [[nodiscard]] paging::InvalidationTargets& invalidation_targets() { return targets_; }
    [[nodiscard]] const paging::InvalidationTargets& invalidation_targets() const { return targets_; }

    // Direct access to the IOMMU tables, for mappings other than identity
    // ones (guest memory) and for inspection. Error::unsupported when the
    // IOMMU walks the shared p2m (change the p2m instead).
    [[nodiscard]] Status iommu_map(uint64_t address, uint64_t length, PhysicalAddress output, paging::Access access,
                                   PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Status iommu_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Optional<paging::Mapping<IommuAttributes>> iommu_lookup(uint64_t address) const;
    // True when any leaf of the IOMMU tables (the p2m's when shared) lies in
    // [address, address + length).
    [[nodiscard]] bool iommu_has_mappings(uint64_t address, uint64_t length) const;

    [[nodiscard]] Span<IdentityRegion> identity_regions() const { return configuration_.identity_regions; }
    [[nodiscard]] PageAllocator& allocator() const { return *allocator_; }
    [[nodiscard]] PhysicalMemory& memory() const { return *memory_; }
    // IOMMU table pages the context holds (none of its own when shared).
    [[nodiscard]] uint64_t table_pages() const;

    // Hands every IOMMU table page to the batch; the context is unusable
    // after. The caller has detached all devices first; the p2m is the
    // domain's to release.
    void destroy(paging::Batch& batch);

private:
    IommuContext(const IommuConfiguration& configuration, p2m::P2m* p2m, PhysicalMemory& memory,
                 PageAllocator& allocator)
        : configuration_(configuration), p2m_(p2m), memory_(&memory), allocator_(&allocator) {}

    template <typename Function> decltype(auto) with_iommu(Function&& function) const;

    IommuConfiguration configuration_;
    p2m::P2m* p2m_;
    PhysicalMemory* memory_;
    PageAllocator* allocator_;
    PhysicalAddress iommu_root_ = 0;
    paging::InvalidationTargets targets_;
};

}  // namespace sluice::passthrough
