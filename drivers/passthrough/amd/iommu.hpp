// One AMD-Vi IOMMU (one IVHD of the IVRS table) as the vendor-neutral
// passthrough code sees it: a passthrough::IommuUnit.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882.
// The unit owns its Device Table (device_table_memory.hpp), command buffer
// (command_buffer.hpp) and event log (event_log_buffer.hpp); the I/O page
// tables belong to the domains (the core's AMD-Vi v1 format).
//
// Life cycle and what "translation on" means here:
//   initialize()          stops the unit if firmware left it running, builds
//                         the tables with every entry V = 0, sets IommuEn,
//                         CmdBufEn and EventLogEn and invalidates everything
//                         the unit may have cached. A V = 0 entry translates
//                         nothing (2.2.2: the request passes untranslated),
//                         so DMA behaves as with the IOMMU off, while the
//                         command buffer already runs: QEMU and, as Linux and
//                         Xen assume, real units process commands only with
//                         IommuEn set, and attach() must be able to
//                         invalidate the entries it writes.
//   attach()              gives the domain a DomainID of this unit (1, 2,
//                         ... in order of first attach; 0 is left to blocked
//                         entries), writes the device's entry in the
//                         specified order, then INVALIDATE_DEVTAB_ENTRY and
//                         COMPLETION_WAIT; the device's DMA is handled by its
//                         entry from then.
//   enable_translation()  turns every entry still V = 0 (device IDs nobody
//                         attached) into a blocked entry and invalidates:
//                         from then on unknown requesters are refused.
//   disable_translation() clears IommuEn (all DMA passes untranslated).
//                         Entries written while stopped are invalidated with
//                         everything else when translation is enabled again.
//
// Every wait is bounded (Clock, time_limit). A unit that does not complete a
// command in time, or stops its command buffer, is reported once, marked
// failed and fenced: every later request fails at once with
// Error::hardware_failure and nothing waits on it again. Its device table is
// left as it was, so devices stay confined to what they were given.
#pragma once

#include <drivers/passthrough/amd/command_buffer.hpp>
#include <drivers/passthrough/amd/device_table_memory.hpp>
#include <drivers/passthrough/amd/event_log_buffer.hpp>
#include <drivers/passthrough/amd/ivrs.hpp>
#include <drivers/passthrough/amd/register_file.hpp>
#include <drivers/passthrough/amd/registers.hpp>
#include <drivers/passthrough/iommu_unit.hpp>

#include <sluice/clock.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::amd {

// How long any one wait for the hardware may take: a completion, room in the
// command buffer, the command buffer or event log stopping. Real units answer
// within microseconds; a second only ever passes on a broken unit.
inline constexpr uint64_t default_time_limit = 1'000'000'000;

// The services a unit uses; all must outlive it.
struct IommuResources {
    pci::MmioRegion* registers = nullptr;  // the unit's 16 KiB MMIO window
    PhysicalMemory* memory = nullptr;
    PageAllocator* allocator = nullptr;
    const Clock* clock = nullptr;
};

struct IommuSettings {
    // The parsed IVRS the unit comes from; it must outlive the unit (its
    // device entries decide which devices the unit translates).
    const IvrsDescription* ivrs = nullptr;
    uint8_t unit_index = 0;  // into ivrs->units()
    // NpCache (IOMMU Capability Header bit 26): the unit may cache
    // not-present entries. When the capability cannot be read, assume it does.
    bool caches_not_present = true;
    // Whether the unit's event log really receives events. QEMU 7.2's
    // emulation never writes its event log (a wrong mask test), so faults
    // can only be seen from outside there.
    bool event_log_receives_events = true;
    bool verbose = false;
    uint64_t time_limit = default_time_limit;  // nanoseconds
};

// The state of a unit (see the life cycle above).
enum class IommuState : uint8_t {
    unused,       // not initialised
    running,      // IommuEn set, unattached device IDs pass untranslated
    translating,  // IommuEn set, unattached device IDs blocked
    stopped,      // IommuEn clear: nothing is translated
    failed,       // did not answer in time: fenced
};
[[nodiscard]] const char* describe(IommuState state);

class Iommu final : public passthrough::IommuUnit, public passthrough::InterruptRemapper {
public:
    // Faults decoded from the event log and not yet taken.
    static constexpr size_t pending_fault_capacity = 32;
    // Domains one unit tells apart. DomainIDs are the unit's own: the first
    // domain attached gets 1, the next 2, and so on; 0 tags the blocked
    // entries of device IDs no domain holds.
    static constexpr size_t domain_capacity = 128;

    constexpr Iommu() = default;
    Iommu(const Iommu&) = delete;
    Iommu& operator=(const Iommu&) = delete;

    // Brings the unit up as described above. Errors, each logged with the
    // unit and the reason: invalid_argument (bad settings, or the unit is
    // initialised already; nothing changes), and, leaving the unit failed
    // (it still names its devices through translates()): hardware_failure
    // (no registers given, or they read all ones), out_of_memory (nothing
    // kept), timed_out (the unit did not stop, or did not complete the
    // initial invalidation; it is quietened with IommuEn clear).
    // resources.registers may be null for a unit whose registers could not
    // be mapped: it is then failed at once.
    [[nodiscard]] Status initialize(const IommuResources& resources, const IommuSettings& settings);

    // --- passthrough::IommuUnit ----------------------------------------------
    [[nodiscard]] const char* name() const override { return name_; }
    [[nodiscard]] PhysicalAddress register_base() const override { return base_; }
    [[nodiscard]] bool translates(const pci::PciAddress& device) const override;
    // Translated mode needs a domain with AMD-Vi v1 tables no deeper than the
    // unit walks (EFR.HATS); Error::unsupported otherwise. The entry carries
    // the domain's DomainID on this unit, which is also what the unit joins
    // the domain's invalidation targets with; Error::capacity when the unit
    // has no DomainID left. When the IVRS names an alias for the device,
    // the alias's entry is written too (its requests carry that ID).
    [[nodiscard]] Status attach(passthrough::IommuContext& domain, const pci::PciAddress& device,
                                passthrough::AttachMode mode) override;
    [[nodiscard]] Status enable_translation() override;
    [[nodiscard]] Status disable_translation() override;
    [[nodiscard]] bool reports_faults() const override { return state_ != IommuState::unused && reports_faults_; }
    size_t take_faults(Span<passthrough::DmaFault> faults) override;
    // 16 KiB of registers (3.4), 512 KiB when the unit has performance
    // counters (EFR.PCSup: counter banks from offset 40000h).
    [[nodiscard]] uint64_t register_size() const override {
        return features_.performance_counters_supported() ? 512 * KiB : register_region_size;
    }
    [[nodiscard]] bool failed() const override { return state_ == IommuState::failed; }

    // --- paging::InvalidationUnit --------------------------------------------
    [[nodiscard]] paging::InvalidationCapabilities invalidation_capabilities() const override;
    [[nodiscard]] Status invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order,
                                          bool leaf_only) override;
    [[nodiscard]] Status invalidate_domain(uint16_t domain_id) override;
    [[nodiscard]] Status wait() override;

    // --- Interrupt remapping (2.2.5) ---
    // Every device ID gets IV set: a device attached to a domain gets an
    // interrupt remapping table of its own (IntCtl remapped, all entries
    // off until written), every other ID has its fixed and arbitrated
    // interrupts aborted (IntCtl 00b); INIT, NMI, EInt and LINTn are never
    // passed. Refused (with why) for x2APIC destinations, which need the
    // 128-bit entries of XT mode.
    static constexpr unsigned interrupt_entries_order = 8;  // IntTabLen 8: 256 entries, 1 KiB
    static constexpr size_t interrupt_table_capacity = 32;
    [[nodiscard]] passthrough::InterruptRemapper* interrupt_remapper() override { return this; }
    [[nodiscard]] Status enable_interrupt_remapping(bool x2apic) override;
    [[nodiscard]] bool remaps_interrupts() const override { return interrupt_remapping_; }
    // Handles are device ID << 8 | entry: the entry's table is the one of
    // the requester the entry is for, which is how AMD-Vi validates the
    // source (a device's requests only ever reach its own table).
    [[nodiscard]] Result<uint32_t> write_new_entry(uint16_t requester_id,
                                                   const passthrough::InterruptTarget& target) override;
    [[nodiscard]] Status clear_entry(uint32_t handle) override;
    // 2.2.5.1: for fixed and arbitrated interrupts the table is indexed by
    // MSI data bits 10:0; the address only has to lie in 0xFEEx_xxxx.
    [[nodiscard]] passthrough::MsiMessage message_for(uint32_t handle) const override {
        return passthrough::MsiMessage{0xfee0'0000, handle & 0xff};
    }
    // One INVALIDATE_INTERRUPT_TABLE per device with a table among the
    // handles' devices, then one COMPLETION_WAIT.
    [[nodiscard]] Status invalidate_entries(uint32_t first, uint32_t last) override;
    [[nodiscard]] passthrough::InterruptEnforcement enforcement() const override;

    // --- This driver ---------------------------------------------------------
    // Reads the event log: every event is logged (device as bus:dev.fn,
    // address, type), faults are kept for take_faults(). An overflowed log
    // is reported and restarted.
    void service_event_log();

    [[nodiscard]] IommuState state() const { return state_; }
    [[nodiscard]] ExtendedFeatures extended_features() const { return features_; }
    // The deepest I/O page table the unit walks (4 + EFR.HATS), 0 if none.
    [[nodiscard]] uint8_t maximum_levels() const { return maximum_levels_; }
    [[nodiscard]] uint16_t segment() const { return segment_; }
    [[nodiscard]] uint16_t device_id() const { return device_id_; }
    [[nodiscard]] const DeviceTable& device_table() const { return device_table_; }
    [[nodiscard]] const CommandBuffer& commands() const { return commands_; }
    [[nodiscard]] const EventLogBuffer& events() const { return events_; }
    [[nodiscard]] uint64_t control() const { return control_; }
    [[nodiscard]] uint64_t faults_lost() const { return faults_lost_; }
    // The DomainID this unit uses for domain, 0 when it has none yet.
    [[nodiscard]] uint16_t domain_id_of(const passthrough::IommuContext& domain) const;

private:
    [[nodiscard]] bool commands_run() const {
        return state_ == IommuState::running || state_ == IommuState::translating;
    }
    // Sets CmdBufEn, EventLogEn, then IommuEn: running.
    void start();
    // Clears every enable and waits for the command buffer and logs to stop.
    [[nodiscard]] Status stop();
    // Drops everything the unit may cache: DTEs, translations of every
    // domain. Queues the commands and waits.
    [[nodiscard]] Status invalidate_everything();
    [[nodiscard]] Status submit(const Command& command, const char* what);
    [[nodiscard]] Status complete(const char* what);
    // Logs the failure once, with the command buffer's state and any events,
    // and fences the unit. Returns error.
    Error fail(const char* what, Error error);
    // invalid_argument before initialize(), hardware_failure once failed.
    [[nodiscard]] Status usable() const;
    void restart_event_log();
    void keep_fault(const passthrough::DmaFault& fault);
    void release_memory();
    [[nodiscard]] DeviceTableSetting setting_for(uint16_t device_id) const;
    // The domain's DomainID on this unit, given one on first use;
    // Error::capacity when domain_capacity domains have one.
    [[nodiscard]] Result<uint16_t> domain_id_for(const passthrough::IommuContext& domain);

    struct DomainSlot {
        const passthrough::IommuContext* domain = nullptr;
        uint16_t id = 0;
    };

    char name_[32] = {};
    PhysicalAddress base_ = 0;
    uint16_t segment_ = 0;
    uint16_t device_id_ = 0;
    uint8_t unit_index_ = 0;
    const IvrsDescription* ivrs_ = nullptr;

    RegisterFile registers_;
    PhysicalMemory* memory_ = nullptr;
    PageAllocator* allocator_ = nullptr;
    const Clock* clock_ = nullptr;
    uint64_t time_limit_ = default_time_limit;

    ExtendedFeatures features_{};
    uint8_t maximum_levels_ = 0;
    bool invalidate_all_supported_ = false;
    bool caches_not_present_ = true;
    bool reports_faults_ = false;
    bool verbose_ = false;

    IommuState state_ = IommuState::unused;
    // Entries or mappings changed while stopped: invalidate everything on start.
    bool invalidate_on_start_ = false;
    uint64_t control_ = 0;

    struct InterruptTable {
        uint16_t device_id = 0;
        PhysicalAddress table = 0;
        uint64_t in_use[4] = {};
    };
    // The DTE word 2 device_id gets: its table, or abort; 0 while remapping
    // is off.
    [[nodiscard]] uint64_t interrupt_word_for(uint16_t device_id) const;
    [[nodiscard]] InterruptTable* interrupt_table_of(uint16_t device_id);
    [[nodiscard]] const InterruptTable* interrupt_table_of(uint16_t device_id) const;

    bool interrupt_remapping_ = false;
    InterruptTable interrupt_tables_[interrupt_table_capacity] = {};
    size_t interrupt_table_count_ = 0;

    DeviceTable device_table_;
    CommandBuffer commands_;
    EventLogBuffer events_;
    PhysicalAddress command_page_ = 0;
    PhysicalAddress event_page_ = 0;
    PhysicalAddress completion_page_ = 0;

    DomainSlot domains_[domain_capacity] = {};
    size_t domain_count_ = 0;

    passthrough::DmaFault pending_faults_[pending_fault_capacity] = {};
    size_t pending_first_ = 0;
    size_t pending_count_ = 0;
    uint64_t faults_lost_ = 0;
};

}  // namespace sluice::amd
