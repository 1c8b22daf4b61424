// A domain as the passthrough code sees it: whether it is translated, its
// IOMMU context (tables, format, the units it is attached to) and, when
// translated, its p2m (EPT or NPT), possibly shared with VT-d.
#pragma once

#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/page_table_amd.hpp>
#include <drivers/passthrough/page_table_vtd.hpp>
#include <mm/p2m/ept.hpp>
#include <mm/p2m/npt.hpp>
#include <mm/paging/batch.hpp>
#include <mm/paging/page_table.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

enum class DomainKind : uint8_t {
    pv,   // untranslated: DMA addresses are machine addresses
    hvm,  // translated, with emulated devices
    pvh,  // translated, without
};
[[nodiscard]] const char* describe(DomainKind kind);

enum class IommuTableKind : uint8_t { vtd_second_level, amd_v1 };
enum class P2mTableKind : uint8_t { none, ept, npt };

struct DomainConfiguration {
    uint16_t id = 0;
    DomainKind kind = DomainKind::pv;
    IommuTableKind iommu = IommuTableKind::vtd_second_level;
    VtdSecondLevelFormat vtd{4, true, true, false, 48, 46};
    AmdV1Format amd{4, 3, 48};
    // Translated domains need a p2m; untranslated ones must have none.
    P2mTableKind p2m = P2mTableKind::none;
    p2m::EptFormat ept{4, true, true, 46};
    p2m::NptFormat npt{true, 48};
    // VT-d walks the EPT tables directly (the context entry points at the
    // p2m root). Needs VT-d + EPT with equal depth and every EPT leaf size
    // supported by the IOMMU.
    bool share_p2m_with_iommu = false;
    // Storage for the identity-region registry.
    Span<IdentityRegion> identity_regions;

    // Highest input address the IOMMU tables of this configuration translate.
    [[nodiscard]] constexpr uint64_t iommu_last_input() const {
        return iommu == IommuTableKind::amd_v1 ? amd.last_input() : vtd.last_input();
    }
};

class Domain {
public:
    // Allocates the table roots. Error::invalid_argument for an inconsistent
    // configuration (a PV domain with a p2m, a translated one without),
    // Error::unsupported for sharing the formats do not allow,
    // Error::out_of_memory. Each refusal is logged with its reason.
    [[nodiscard]] static Result<Domain> create(const DomainConfiguration& configuration, PhysicalMemory& memory,
                                               PageAllocator& allocator);

    Domain(Domain&& other) = default;
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    [[nodiscard]] uint16_t id() const { return configuration_.id; }
    [[nodiscard]] DomainKind kind() const { return configuration_.kind; }
    [[nodiscard]] bool translated() const { return configuration_.kind != DomainKind::pv; }
    [[nodiscard]] bool shares_p2m_with_iommu() const { return configuration_.share_p2m_with_iommu; }
    [[nodiscard]] IommuTableKind iommu_table_kind() const { return configuration_.iommu; }
    [[nodiscard]] P2mTableKind p2m_table_kind() const { return configuration_.p2m; }

    // What a unit driver programs into the context entry or device table
    // entry: the root the IOMMU walks (the p2m root when shared) and its
    // depth.
    [[nodiscard]] PhysicalAddress iommu_root() const {
        return configuration_.share_p2m_with_iommu ? p2m_root_ : iommu_root_;
    }
    [[nodiscard]] unsigned iommu_levels() const;
    [[nodiscard]] PhysicalAddress p2m_root() const { return p2m_root_; }
    // Highest address identity_map accepts: the smaller of the IOMMU's and
    // (when translated) the p2m's input width.
    [[nodiscard]] uint64_t last_identity_address() const;

    // The units to invalidate for this domain: IOMMU units its devices sit
    // behind and, when translated, the processors' EPT/NPT TLBs (modelled as
    // a unit too). Make batches from it.
    [[nodiscard]] paging::InvalidationTargets& invalidation_targets() { return targets_; }
    [[nodiscard]] const paging::InvalidationTargets& invalidation_targets() const { return targets_; }

    // Direct access to the tables, for mappings other than identity ones
    // (guest memory) and for inspection. The p2m calls fail with
    // Error::unsupported on an untranslated domain.
    [[nodiscard]] Status iommu_map(uint64_t address, uint64_t length, PhysicalAddress output, paging::Access access,
                                   PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Status iommu_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Optional<paging::Mapping<IommuAttributes>> iommu_lookup(uint64_t address) const;
    [[nodiscard]] Status p2m_map(uint64_t address, uint64_t length, PhysicalAddress output,
                                 p2m::P2mAttributes attributes, PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Status p2m_unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Optional<paging::Mapping<p2m::P2mAttributes>> p2m_lookup(uint64_t address) const;
    // True when any leaf of the IOMMU tables (own tables only) or the p2m
    // lies in [address, address + length).
    [[nodiscard]] bool iommu_has_mappings(uint64_t address, uint64_t length) const;
    [[nodiscard]] bool p2m_has_mappings(uint64_t address, uint64_t length) const;

    [[nodiscard]] Span<IdentityRegion> identity_regions() const { return configuration_.identity_regions; }
    [[nodiscard]] PageAllocator& allocator() const { return *allocator_; }
    [[nodiscard]] PhysicalMemory& memory() const { return *memory_; }
    // Table pages the domain holds (IOMMU and p2m), for accounting.
    [[nodiscard]] uint64_t table_pages() const;

    // Hands every table page to the batch; the domain is unusable after.
    // The caller has detached all devices first.
    void destroy(paging::Batch& batch);

private:
    Domain(const DomainConfiguration& configuration, PhysicalMemory& memory, PageAllocator& allocator)
        : configuration_(configuration), memory_(&memory), allocator_(&allocator) {}

    template <typename Function> decltype(auto) with_iommu(Function&& function) const;
    template <typename Function> decltype(auto) with_p2m(Function&& function) const;

    DomainConfiguration configuration_;
    PhysicalMemory* memory_;
    PageAllocator* allocator_;
    PhysicalAddress iommu_root_ = 0;
    PhysicalAddress p2m_root_ = 0;
    paging::InvalidationTargets targets_;
};

}  // namespace sluice::passthrough
