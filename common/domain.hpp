// A domain: the unit every map, unmap and hypercall names. It owns its
// memory (the machine ranges given to it), its vCPUs, its p2m when it is
// translated (HVM, PVH) and its IOMMU context (the tables its devices' DMA
// goes through, the units they sit behind, its identity regions).
//
// Layers (docs/architecture.md): the domain sits above the p2m (mm/p2m) and
// the passthrough code (drivers/passthrough), which never name it. The
// IOMMU context is made in place in the domain, so the units that point at
// it and the p2m it points at never move.
#pragma once

#include <common/vcpu.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/iommu_context.hpp>
#include <mm/p2m/p2m.hpp>
#include <mm/paging/batch.hpp>
#include <mm/range_set.hpp>

#include <sluice/in_place.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice {

enum class DomainKind : uint8_t {
    pv,   // untranslated: guest frames are machine frames, DMA addresses machine addresses
    hvm,  // translated, with emulated devices
    pvh,  // translated, without
};
[[nodiscard]] const char* describe(DomainKind kind);

struct DomainConfiguration {
    uint16_t id = 0;
    DomainKind kind = DomainKind::pv;
    // Translated domains only; kind none for a PV domain.
    p2m::P2mConfiguration p2m{};
};

class Domain {
public:
    static constexpr size_t vcpu_capacity = 8;
    // The machine ranges of a domain's memory: allocated in power-of-two
    // runs, so a few dozen at most.
    static constexpr size_t memory_range_capacity = 64;

    constexpr Domain() = default;
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    // Names the domain and, when translated, creates its (empty) p2m.
    // Error::invalid_argument for a PV domain with a p2m format or a
    // translated one without; Error::out_of_memory. Each refusal is logged.
    [[nodiscard]] Status initialize(const DomainConfiguration& configuration, PhysicalMemory& memory,
                                    PageAllocator& allocator);

    // Creates the IOMMU context (its tables) in place. The hardware domain's
    // is made by the IOMMU set-up through iommu_storage() instead, because
    // only the set-up knows the format its units walk.
    [[nodiscard]] Status create_iommu_context(passthrough::IommuConfiguration configuration, PhysicalMemory& memory,
                                              PageAllocator& allocator);
    [[nodiscard]] InPlace<passthrough::IommuContext>& iommu_storage() { return iommu_; }

    [[nodiscard]] uint16_t id() const { return configuration_.id; }
    [[nodiscard]] DomainKind kind() const { return configuration_.kind; }
    [[nodiscard]] bool translated() const { return configuration_.kind != DomainKind::pv; }
    [[nodiscard]] bool initialized() const { return initialized_; }

    // nullptr before the context exists (or for the p2m: untranslated).
    [[nodiscard]] passthrough::IommuContext* iommu() const { return iommu_.get(); }
    [[nodiscard]] p2m::P2m* p2m() const { return p2m_.get(); }

    // The machine memory the domain owns (page-aligned ranges).
    [[nodiscard]] RangeSet& memory() { return memory_; }
    [[nodiscard]] const RangeSet& memory() const { return memory_; }
    [[nodiscard]] uint64_t pages() const { return memory_.total_length() / page_size; }

    // Machine ranges outside its RAM the domain may map (MMIO), when set.
    [[nodiscard]] const RangeSet* io_memory() const { return io_memory_; }
    void set_io_memory(const RangeSet* ranges) { io_memory_ = ranges; }

    // Binds vcpu to this domain with the next vCPU id. Error::capacity past
    // vcpu_capacity.
    [[nodiscard]] Status add_vcpu(Vcpu& vcpu);
    [[nodiscard]] Span<Vcpu* const> vcpus() const { return Span<Vcpu* const>(vcpus_, vcpu_count_); }

    // One batch per hypercall (and per set-up step): every change goes into
    // a batch made from these targets and is committed once.
    // Precondition: the IOMMU context exists.
    [[nodiscard]] paging::InvalidationTargets& invalidation_targets() { return iommu_->invalidation_targets(); }

    // The identity-mapping API, for the domain as a whole: the IOMMU tables
    // and, when translated, the p2m (drivers/passthrough/identity_map.hpp).
    // Error::not_found before the IOMMU context exists.
    [[nodiscard]] Status identity_map(PhysicalAddress start, PhysicalAddress end, paging::Access access,
                                      paging::Batch& batch);
    [[nodiscard]] Status identity_unmap(PhysicalAddress start, PhysicalAddress end, paging::Batch& batch);

    // Hands every table page (IOMMU and p2m) to batch; the caller has
    // detached the devices and commits the batch, which frees the pages
    // after the invalidation.
    void destroy(paging::Batch& batch);

private:
    DomainConfiguration configuration_{};
    bool initialized_ = false;
    InPlace<p2m::P2m> p2m_;
    InPlace<passthrough::IommuContext> iommu_;
    AddressRange memory_storage_[memory_range_capacity] = {};
    RangeSet memory_{Span<AddressRange>(memory_storage_, memory_range_capacity)};
    const RangeSet* io_memory_ = nullptr;
    Vcpu* vcpus_[vcpu_capacity] = {};
    size_t vcpu_count_ = 0;
};

}  // namespace sluice
