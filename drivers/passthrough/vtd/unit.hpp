// One DMA remapping hardware unit (one DRHD, VT-d spec 8.3) as a
// passthrough::IommuUnit: its registers, root and context tables (legacy
// mode, 9.1 and 9.3), domain identifiers, invalidation (queued, 6.5.2, or
// register-based, 6.5.1) and primary fault logging (7.2.1).
//
// Units live in static storage in the driver (probe.cpp); the tables, the
// invalidation queue and its status page come from the page allocator, the
// registers through a pci::MmioRegion. Every wait for the hardware has a time
// limit: a unit that does not answer in time is reported once, marked failed
// ("fenced") and never waited for again, so it cannot hang the host (Xen
// advisory XSA-373).
#pragma once

#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/passthrough/register_file.hpp>
#include <drivers/passthrough/interrupt_remapping.hpp>
#include <drivers/passthrough/vtd/entries.hpp>
#include <drivers/passthrough/vtd/interrupt_remapping.hpp>
#include <drivers/passthrough/vtd/invalidation.hpp>
#include <drivers/passthrough/vtd/registers.hpp>
#include <drivers/pci/address.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/clock.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::vtd {

// The registers of one unit, each access with the width its type says.
using RegisterFile = passthrough::RegisterFile<Register32, Register64>;

// The requester IDs a DRHD's device scopes name on its segment (8.3.1): an
// endpoint is one ID; a PCI sub-hierarchy is the bridge and every function on
// its secondary..subordinate buses.
struct RequesterRange {
    uint16_t first = 0;
    uint16_t last = 0;  // inclusive
    [[nodiscard]] constexpr bool contains(uint16_t requester_id) const {
        return requester_id >= first && requester_id <= last;
    }
};

// What the DMAR table says about one unit.
struct UnitDefinition {
    static constexpr size_t max_scopes = 64;

    PhysicalAddress register_base = 0;
    uint64_t register_size = page_size;
    uint16_t segment = 0;
    // INCLUDE_PCI_ALL: every device of the segment that no other unit's
    // scope names (8.3).
    bool include_pci_all = false;
    RequesterRange scopes[max_scopes] = {};
    size_t scope_count = 0;

    [[nodiscard]] bool names(const pci::PciAddress& device) const;
};

// How the driver uses a unit, from iommu= and the platform.
struct UnitSettings {
    bool queued_invalidation = true;  // iommu=qinval (when ECAP.QI)
    bool verbose = false;             // iommu=verbose: print CAP/ECAP and each step
    // QEMU's intel-iommu (DMAR OEM ID "BOCHS "), which does not enforce all
    // of interrupt remapping (see emulated_interrupt_enforcement).
    bool emulated = false;
    uint64_t timeout_nanoseconds = 1'000'000'000;
};

// The services a unit uses; they must outlive it.
struct UnitServices {
    pci::MmioRegion* registers = nullptr;
    PhysicalMemory* memory = nullptr;
    PageAllocator* allocator = nullptr;
    const Clock* clock = nullptr;
    passthrough::CacheMaintenance* cache = nullptr;  // needed when ECAP.C = 0
};

class Unit final : public passthrough::IommuUnit, public passthrough::InterruptRemapper {
public:
    // Domains one unit tells apart at a time; identifiers are handed out from
    // 1 in attach order, so the hardware domain (attached first) gets 1 on
    // every unit. Domain-id 0 is never used: with Caching Mode it tags the
    // cached not-present and faulting entries (VT-d spec 6.2.2, "Caching
    // Mode"; 11.4.2 CM).
    static constexpr size_t max_domains = 16;
    // Descriptors in the invalidation queue: one 4 KiB page (IQA.QS = 0).
    static constexpr size_t queue_entries = page_size / invalidation_descriptor_size;
    // Interrupt remapping table entries: one 4 KiB page (IRTA.S = 7).
    static constexpr unsigned interrupt_entries_order = 8;
    static constexpr size_t interrupt_entries = size_t{1} << interrupt_entries_order;

    constexpr Unit() = default;

    // Reads CAP and ECAP, checks them, turns off translation and queued
    // invalidation a previous owner left on, clears stale faults, installs a
    // fresh root table (SRTP) and starts queued invalidation when wanted and
    // offered. Translation stays off until enable_translation(). A failure is
    // logged; the unit is then failed() and may still be registered so the
    // devices behind it are reported as unprotected.
    [[nodiscard]] Status initialize(unsigned index, const UnitDefinition& definition, const UnitServices& services,
                                    const UnitSettings& settings);

    // The other units of the platform, so an INCLUDE_PCI_ALL unit leaves the
    // devices they name to them.
    void set_peers(Span<const Unit> peers) { peers_ = peers; }

    // --- passthrough::IommuUnit ---
    [[nodiscard]] const char* name() const override { return name_; }
    [[nodiscard]] PhysicalAddress register_base() const override { return definition_.register_base; }
    [[nodiscard]] uint64_t register_size() const override { return definition_.register_size; }
    [[nodiscard]] bool translates(const pci::PciAddress& device) const override;
    [[nodiscard]] Status attach(passthrough::IommuContext& domain, const pci::PciAddress& device,
                                passthrough::AttachMode mode) override;
    [[nodiscard]] Status enable_translation() override;
    [[nodiscard]] Status disable_translation() override;
    [[nodiscard]] bool reports_faults() const override { return !failed_ && initialized_; }
    size_t take_faults(Span<passthrough::DmaFault> faults) override;
    [[nodiscard]] bool coherent() const override { return extended_.page_walk_coherency(); }
    [[nodiscard]] bool failed() const override { return failed_; }
    [[nodiscard]] bool supports_passthrough() const override { return extended_.pass_through(); }
    [[nodiscard]] passthrough::InterruptRemapper* interrupt_remapper() override { return this; }
    // 5.1 and 6.5.2.8: the table (IRTA), SIRTP, a global interrupt entry
    // cache invalidation, then IRE, with compatibility-format interrupts
    // left blocked (CFI clear). Needs ECAP.IR and queued invalidation (the
    // entry cache is invalidated only through the queue).
    [[nodiscard]] Status enable_interrupt_remapping(bool x2apic) override;

    // --- passthrough::InterruptRemapper ---
    [[nodiscard]] bool remaps_interrupts() const override { return interrupt_table_ != 0; }
    [[nodiscard]] Result<uint32_t> write_new_entry(uint16_t requester_id,
                                                   const passthrough::InterruptTarget& target) override;
    [[nodiscard]] Status clear_entry(uint32_t index) override;
    [[nodiscard]] passthrough::MsiMessage message_for(uint32_t index) const override {
        return remappable_message(index);
    }
    [[nodiscard]] Status invalidate_entries(uint32_t first, uint32_t last) override;
    [[nodiscard]] passthrough::InterruptEnforcement enforcement() const override;

    // --- paging::InvalidationUnit ---
    [[nodiscard]] paging::InvalidationCapabilities invalidation_capabilities() const override;
    [[nodiscard]] Status invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order,
                                          bool leaf_only) override;
    [[nodiscard]] Status invalidate_domain(uint16_t domain_id) override;
    [[nodiscard]] Status wait() override;

    // --- For the set-up, the self-test and tests ---
    [[nodiscard]] Capability capability() const { return capability_; }
    [[nodiscard]] ExtendedCapability extended_capability() const { return extended_; }
    [[nodiscard]] const UnitDefinition& definition() const { return definition_; }
    [[nodiscard]] bool initialized() const { return initialized_; }
    [[nodiscard]] bool uses_queued_invalidation() const { return queue_ != 0; }
    [[nodiscard]] bool translation_enabled() const;
    [[nodiscard]] PhysicalAddress root_table() const { return root_table_; }
    // The identifier domain has on this unit, 0 when it has none.
    [[nodiscard]] uint16_t domain_id_of(const passthrough::IommuContext& domain) const;
    // Context-cache invalidations (6.5.2.1 / 11.4.6.1) issued so far, and
    // IOTLB invalidations (6.5.2.3 / 11.4.6.3); for tests and statistics.
    [[nodiscard]] uint64_t context_invalidations() const { return context_invalidations_; }
    [[nodiscard]] uint64_t iotlb_invalidations() const { return iotlb_invalidations_; }
    [[nodiscard]] uint64_t interrupt_entry_invalidations() const { return interrupt_entry_invalidations_; }
    [[nodiscard]] PhysicalAddress interrupt_table() const { return interrupt_table_; }

private:
    struct DomainSlot {
        const passthrough::IommuContext* domain = nullptr;
        uint16_t id = 0;
    };

    // Marks the unit failed after `what` did not happen in time (or the
    // hardware reported an error), with one error line; returns the error.
    Error fence(const char* what, Error error);
    // Waits until (read(reg) & mask) == expected, within the time limit.
    [[nodiscard]] bool poll32(Register32 reg, uint32_t mask, uint32_t expected) const;
    // Sets or clears one GCMD command and waits for GSTS to follow (11.4.4).
    [[nodiscard]] Status global_command(GlobalCommand command, bool set, GlobalStatus status, const char* what);
    [[nodiscard]] Status flush_write_buffer();
    void write_back(PhysicalAddress address, uint64_t length);

    [[nodiscard]] Status start_queued_invalidation();
    [[nodiscard]] Status stop_queued_invalidation();
    [[nodiscard]] Status queue_descriptor(const InvalidationDescriptor& descriptor);
    [[nodiscard]] Status queue_wait();
    [[nodiscard]] Status register_context_invalidation(ContextInvalidationGranularity granularity, uint16_t domain_id,
                                                       uint16_t source_id);
    [[nodiscard]] Status register_iotlb_invalidation(const IotlbInvalidation& request);
    // One context-cache invalidation, queued or through CCMD.
    [[nodiscard]] Status invalidate_context(ContextInvalidationGranularity granularity, uint16_t domain_id,
                                            uint16_t source_id);
    // One IOTLB invalidation, queued or through the IOTLB registers.
    [[nodiscard]] Status invalidate_iotlb(IotlbInvalidation request);
    // Invalidates everything both caches hold for the unit and waits (after
    // SRTP, before enabling translation: 11.4.4.1 SRTP).
    [[nodiscard]] Status invalidate_everything();

    [[nodiscard]] Result<uint16_t> domain_id_for(const passthrough::IommuContext& domain);
    [[nodiscard]] Result<PhysicalAddress> context_table_for(uint8_t bus);
    void log_fault(const FaultRecord& record) const;

    char name_[32] = {};
    unsigned index_ = 0;
    UnitDefinition definition_{};
    UnitSettings settings_{};
    RegisterFile registers_{};
    PhysicalMemory* memory_ = nullptr;
    PageAllocator* allocator_ = nullptr;
    const Clock* clock_ = nullptr;
    passthrough::CacheMaintenance* cache_ = nullptr;
    Span<const Unit> peers_{};

    Capability capability_{};
    ExtendedCapability extended_{};
    bool initialized_ = false;
    bool failed_ = false;

    PhysicalAddress root_table_ = 0;
    DomainSlot domains_[max_domains] = {};
    size_t domain_count_ = 0;

    // Queued invalidation: the queue page, the status page the wait
    // descriptor writes to, the next free slot and the last status value.
    PhysicalAddress queue_ = 0;
    PhysicalAddress status_ = 0;
    uint32_t tail_ = 0;
    uint32_t sequence_ = 0;

    uint64_t context_invalidations_ = 0;
    uint64_t iotlb_invalidations_ = 0;

    // Interrupt remapping: the table (0 while remapping is off), whether its
    // destinations are x2APIC IDs, and which entries are in use.
    PhysicalAddress interrupt_table_ = 0;
    bool x2apic_destinations_ = false;
    uint64_t interrupt_in_use_[interrupt_entries / 64] = {};
    uint64_t interrupt_entry_invalidations_ = 0;
};

}  // namespace sluice::vtd
