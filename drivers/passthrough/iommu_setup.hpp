// The hardware domain's IOMMU set-up at boot, whatever the IOMMU vendor:
//
//   1. iommu=0: nothing is probed; boot goes on without DMA protection
//      (refused with iommu=force/required, as Xen does).
//   2. The registered vendor probes (iommu_vendor.hpp), in their order, find
//      their units and the reserved regions (RMRR, IVMD, rmrr=, ivmd=); the
//      first vendor that finds any is used. No unit: boot goes on
//      unprotected, or is refused with iommu=force/required.
//   3. The hardware domain is created with its memory (dom0_mem=, Xen's
//      syntax and default) and the table format every unit can walk.
//   4. The policy (iommu=, dom0-iommu=) turns the memory map into range sets;
//      ONE batch identity-maps the policy ranges, then the reserved regions of
//      the devices present, and ONE commit flushes it: the number of
//      invalidations does not depend on the number of ranges or regions.
//   5. Every PCI function is attached to the unit that translates it
//      (pass-through with dom0-iommu=passthrough where the unit can).
//   6. Translation is enabled on every unit.
// A unit that failed (stopped answering, unusable capabilities) was reported
// by its driver; the set-up names every device it leaves unprotected, and
// iommu=force/required then refuses to boot.
#pragma once

#include <drivers/passthrough/domain.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/passthrough/iommu_vendor.hpp>
#include <drivers/passthrough/policy.hpp>
#include <drivers/passthrough/reserved_region.hpp>
#include <mm/range_set.hpp>

#include <sluice/memory_map.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

// What boot knows besides the platform.
struct SetupInputs {
    // Memory no device of the hardware domain may ever reach: the image, the
    // page allocator's bitmaps, pages in use by the hypervisor at this point.
    const RangeSet* hypervisor_memory = nullptr;
    // Bytes of RAM free for domains (dom0_mem= is computed from it).
    uint64_t available_bytes = 0;
    HardwareDomainOptions hardware_domain{};
    // The p2m a translated (PVH) hardware domain gets: the format the
    // processor's nested paging walks.
    struct TranslatedP2m {
        P2mTableKind kind = P2mTableKind::npt;
        p2m::NptFormat npt{false, 48};
    };
    TranslatedP2m translated_p2m{};
};

// The pages the IOMMU structures come from (root, context and device tables,
// queues, the hardware domain's I/O page tables): one block taken from the
// page allocator before anything is mapped, so the policy can keep it out of
// every identity map, relaxed mode included. Xen's relaxed mode leaves its
// IOMMU page tables reachable by dom0's DMA; here they are not. When the
// block runs out, pages come from the page allocator with a warning: those
// may be reachable in relaxed mode.
class TablePool final : public PageAllocator {
public:
    static constexpr uint64_t page_count = 1024;  // 4 MiB: a 2 MiB AMD-Vi device table fits

    constexpr TablePool() = default;

    // Takes the block from backing; without one every request goes to backing.
    void initialize(PageAllocator& backing);
    [[nodiscard]] AddressRange block() const {
        return has_block_ ? AddressRange{base_, base_ + page_count * page_size} : AddressRange{};
    }
    [[nodiscard]] uint64_t pages_in_use() const;

    [[nodiscard]] Result<PhysicalAddress> allocate_page() override;
    void free_page(PhysicalAddress page) override;
    [[nodiscard]] Result<PhysicalAddress> allocate_contiguous(uint64_t count, uint64_t alignment,
                                                              PhysicalAddress limit) override;

private:
    void warn_exhausted();

    PageAllocator* backing_ = nullptr;
    PhysicalAddress base_ = 0;
    bool has_block_ = false;
    uint64_t used_[page_count / 64] = {};
    bool warned_ = false;
};

enum class ProtectionState : uint8_t {
    not_set_up,
    disabled,  // iommu=0
    absent,    // no IOMMU unit found
    failed,    // units found, none working
    partial,   // translation on, but some devices are not protected
    active,    // translation on for every device
};
[[nodiscard]] const char* describe(ProtectionState state);

class IommuSetup {
public:
    // Ranges of the hardware domain's memory: allocated in power-of-two runs,
    // so a few dozen at most.
    static constexpr size_t memory_range_capacity = 64;
    // Policy ranges: hardware_domain_range_capacity() for a full memory map
    // and the excluded and read-only sets below.
    static constexpr size_t policy_range_capacity = 4 * MemoryMap::capacity + 2 * memory_range_capacity + 64;
    static constexpr size_t excluded_capacity = 48;
    static constexpr size_t read_only_capacity = 8;
    // One identity region per policy range and reserved region, and a few
    // for the DMA self-test and later assignments.
    static constexpr size_t identity_region_capacity =
        2 * policy_range_capacity + ReservedRegionList::capacity + 16;

    constexpr IommuSetup() = default;
    IommuSetup(const IommuSetup&) = delete;
    IommuSetup& operator=(const IommuSetup&) = delete;

    // Runs the whole set-up once. Returns an error (after saying why) only
    // when boot must not go on: iommu=force/required without full
    // protection, or a hardware domain that cannot exist.
    [[nodiscard]] Status run(const Platform& platform, const SetupInputs& inputs);

    [[nodiscard]] ProtectionState state() const { return state_; }
    [[nodiscard]] const char* vendor() const { return vendor_ == nullptr ? "none" : vendor_->name; }
    [[nodiscard]] UnitRegistry& units() { return units_; }
    [[nodiscard]] const UnitRegistry& units() const { return units_; }
    [[nodiscard]] const ReservedRegionList& reserved_regions() const { return reserved_; }
    [[nodiscard]] const HardwareDomainPolicy& policy() const { return policy_; }
    // The hardware domain, once created (nullptr before, or when its memory
    // could not be allocated).
    [[nodiscard]] Domain* hardware_domain() { return domain_; }
    // Its memory (page-aligned ranges it owns).
    [[nodiscard]] const RangeSet& hardware_domain_memory() const { return domain_memory_; }
    [[nodiscard]] const RangeSet& mapped_read_write() const { return read_write_; }
    [[nodiscard]] const RangeSet& mapped_read_only() const { return read_only_; }
    [[nodiscard]] const RangeSet& excluded() const { return excluded_; }
    // The hypervisor's memory as the policy saw it (the inputs' set and the
    // table pool).
    [[nodiscard]] const RangeSet& hypervisor_memory() const { return hypervisor_memory_; }
    [[nodiscard]] const TablePool& table_pool() const { return pool_; }
    // Reserved regions identity-mapped for present devices.
    [[nodiscard]] size_t mapped_reserved_regions() const { return mapped_regions_; }
    // Devices whose DMA goes through a working unit, and those that are not
    // protected (no unit, failed unit, failed attach).
    [[nodiscard]] size_t protected_devices() const { return protected_devices_; }
    [[nodiscard]] size_t unprotected_devices() const { return unprotected_devices_; }
    // Invalidations the one commit of the set-up issued (all units).
    [[nodiscard]] uint64_t setup_invalidations() const { return setup_invalidations_; }
    // The attach mode devices got (passthrough only with dom0-iommu=passthrough).
    [[nodiscard]] bool passthrough_active() const { return passthrough_; }

private:
    [[nodiscard]] Status refuse_if_required(const IommuOptions& options, const char* why);
    [[nodiscard]] Status probe(const Platform& platform);
    [[nodiscard]] Status continue_without_protection(const Platform& platform, const SetupInputs& inputs);
    [[nodiscard]] Status allocate_memory(const Platform& platform, const SetupInputs& inputs);
    [[nodiscard]] Status collect_excluded(const Platform& platform);
    void trim_memory_map(const MemoryMap& map);
    [[nodiscard]] Status create_domain(const Platform& platform, DomainConfiguration configuration);
    [[nodiscard]] Status map_everything(const Platform& platform);
    void attach_devices(const Platform& platform);
    void enable_units();

    ProtectionState state_ = ProtectionState::not_set_up;
    const IommuVendor* vendor_ = nullptr;
    UnitRegistry units_{};
    ReservedRegionList reserved_{};
    HardwareDomainPolicy policy_{};
    SetupInputs::TranslatedP2m translated_p2m_{};
    bool passthrough_ = false;
    MemoryMap trimmed_map_{};

    AddressRange memory_storage_[memory_range_capacity] = {};
    RangeSet domain_memory_{Span<AddressRange>(memory_storage_, memory_range_capacity)};
    AddressRange excluded_storage_[excluded_capacity] = {};
    RangeSet excluded_{Span<AddressRange>(excluded_storage_, excluded_capacity)};
    AddressRange read_only_input_storage_[read_only_capacity] = {};
    RangeSet read_only_input_{Span<AddressRange>(read_only_input_storage_, read_only_capacity)};
    AddressRange read_write_storage_[policy_range_capacity] = {};
    RangeSet read_write_{Span<AddressRange>(read_write_storage_, policy_range_capacity)};
    AddressRange read_only_storage_[policy_range_capacity] = {};
    RangeSet read_only_{Span<AddressRange>(read_only_storage_, policy_range_capacity)};
    TablePool pool_{};
    AddressRange hypervisor_storage_[128] = {};
    RangeSet hypervisor_memory_{Span<AddressRange>(hypervisor_storage_, 128)};

    IdentityRegion identity_regions_[identity_region_capacity] = {};
    alignas(Domain) unsigned char domain_storage_[sizeof(Domain)] = {};
    Domain* domain_ = nullptr;
    // The tables of a domain behind a non-coherent unit are written back on
    // every store.
    alignas(WriteBackMemory) unsigned char write_back_storage_[sizeof(WriteBackMemory)] = {};

    size_t mapped_regions_ = 0;
    size_t protected_devices_ = 0;
    size_t unprotected_devices_ = 0;
    uint64_t setup_invalidations_ = 0;
};

// Allocates bytes (rounded down to pages) for a domain from allocator, in
// the largest physically contiguous runs it has (power-of-two counts of
// pages), into ranges. Returns the bytes obtained: less when memory or the
// range set's capacity runs out (the caller reports it).
[[nodiscard]] uint64_t allocate_domain_memory(PageAllocator& allocator, uint64_t bytes, RangeSet& ranges);

}  // namespace sluice::passthrough
