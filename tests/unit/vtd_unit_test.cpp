// The VT-d unit driver against a register model of the hardware
// (tests/support/vtd_register_model.hpp): the order of its register writes,
// queued and register-based invalidation, context entries, the GCMD trap,
// time limits and fencing, fault records, and cache write-back for
// non-coherent units. DMA goes through the model's root/context/second-level
// walk and its caches, so a missing or under-scoped invalidation shows up as
// a wrong DMA result.
#include "support/domain_fixture.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"
#include "support/vtd_register_model.hpp"

#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <drivers/passthrough/vtd/unit.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace sluice::testing {
namespace {

using passthrough::AttachMode;
using passthrough::DmaFault;
using Operation = VtdRegisterModel::Operation;

constexpr PhysicalAddress memory_base = 0x1000'0000;
constexpr uint64_t memory_pages = 1024;
constexpr pci::PciAddress edu{0, 0, 1, 0};
constexpr pci::PciAddress sata{0, 0, 0x1f, 2};
constexpr uint64_t caching_mode_bit = uint64_t{1} << 7;
constexpr uint64_t write_buffer_flush_bit = uint64_t{1} << 4;
constexpr uint64_t coherent_bit = 1;
constexpr uint64_t queued_invalidation_bit = 2;

vtd::UnitDefinition qemu_definition() {
    vtd::UnitDefinition definition;
    definition.register_base = 0xfed90000;
    definition.register_size = 0x1000;
    // QEMU lists each bus-0 device as an endpoint.
    for (uint16_t requester : {uint16_t{0x0000}, edu.requester_id(), uint16_t{0x00f8}, sata.requester_id()})
        definition.scopes[definition.scope_count++] = vtd::RequesterRange{requester, requester};
    return definition;
}

class VtdUnitTest : public ::testing::Test {
protected:
    void make_model(uint64_t capability = VtdRegisterModel::qemu_capability,
                    uint64_t extended = VtdRegisterModel::qemu_extended_capability) {
        model = std::make_unique<VtdRegisterModel>(memory, capability, extended);
    }

    Status initialize(bool queued = true, uint64_t timeout = 1'000'000) {
        if (!model) make_model();
        vtd::UnitServices services{model.get(), &memory, &allocator, &clock, &cache};
        vtd::UnitSettings settings;
        settings.queued_invalidation = queued;
        settings.timeout_nanoseconds = timeout;
        return unit.initialize(0, qemu_definition(), services, settings);
    }

    passthrough::IommuContext& make_domain(unsigned levels = 3) {
        passthrough::IommuConfiguration configuration;
        configuration.id = 0;
        configuration.vtd = passthrough::VtdSecondLevelFormat(levels, true, true, false, 12 + 9 * levels, 39);
        configuration.identity_regions = Span<passthrough::IdentityRegion>(regions.data(), regions.size());
        auto created = passthrough::IommuContext::create(configuration, nullptr, memory, allocator);
        if (!created.ok()) throw std::runtime_error("domain");
        domains.push_back(std::make_unique<passthrough::IommuContext>(std::move(created).value()));
        return *domains.back();
    }

    Status map(passthrough::IommuContext& domain, PhysicalAddress start, uint64_t length) {
        paging::Batch batch(domain.invalidation_targets());
        const Status mapped = passthrough::identity_map(domain, start, start + length, paging::Access::read_write, batch);
        const Status committed = batch.commit();
        return mapped.ok() ? committed : mapped;
    }
    Status unmap(passthrough::IommuContext& domain, PhysicalAddress start, uint64_t length) {
        paging::Batch batch(domain.invalidation_targets());
        const Status unmapped = passthrough::identity_unmap(domain, start, start + length, batch);
        const Status committed = batch.commit();
        return unmapped.ok() ? committed : unmapped;
    }

    // A page of the simulated machine that no table uses.
    static constexpr PhysicalAddress data_page = memory_base + 0x200000;

    LogCapture log;
    SimulatedMemory memory{memory_base, memory_pages * page_size};
    SimulatedPageAllocator allocator{memory, memory_base, 256};
    AdvancingClock clock{1000};
    RecordingCache cache;
    std::unique_ptr<VtdRegisterModel> model;
    vtd::Unit unit;
    std::vector<passthrough::IdentityRegion> regions = std::vector<passthrough::IdentityRegion>(16);
    std::vector<std::unique_ptr<passthrough::IommuContext>> domains;
};

// --- Initialisation --------------------------------------------------------------

TEST_F(VtdUnitTest, InitializeInstallsRootTableAndStartsQueuedInvalidation) {
    ASSERT_TRUE(initialize().ok());
    EXPECT_TRUE(unit.initialized());
    EXPECT_FALSE(unit.failed());
    EXPECT_TRUE(unit.uses_queued_invalidation());
    EXPECT_EQ(model->active_root(), unit.root_table());
    EXPECT_NE(model->status() & VtdRegisterModel::qie, 0u);
    EXPECT_EQ(model->status() & VtdRegisterModel::te, 0u);
    EXPECT_FALSE(unit.translation_enabled());
    EXPECT_STREQ(unit.name(), "vtd0 at 0xfed90000");
    // The root table is empty: nothing translates before a device is attached.
    for (uint64_t offset = 0; offset < page_size; offset += 8) ASSERT_EQ(memory.read64(unit.root_table() + offset), 0u);
}

TEST_F(VtdUnitTest, NoQueuedInvalidationWhenTheOptionSaysSo) {
    ASSERT_TRUE(initialize(false).ok());
    EXPECT_FALSE(unit.uses_queued_invalidation());
    EXPECT_EQ(model->status() & VtdRegisterModel::qie, 0u);
}

TEST_F(VtdUnitTest, NoQueuedInvalidationWithoutEcapQi) {
    make_model(VtdRegisterModel::qemu_capability,
               VtdRegisterModel::qemu_extended_capability & ~queued_invalidation_bit);
    ASSERT_TRUE(initialize(true).ok());
    EXPECT_FALSE(unit.uses_queued_invalidation());
}

TEST_F(VtdUnitTest, RegistersReadingAllOnesAreReportedNotUsed) {
    make_model();
    model->set_register_reads_all_ones(true);
    EXPECT_EQ(initialize().error(), Error::hardware_failure);
    EXPECT_TRUE(unit.failed());
    EXPECT_TRUE(log.contains("vtd0 at 0xfed90000: registers read all ones"));
}

TEST_F(VtdUnitTest, UnsupportedTableDepthsAreRefused) {
    // SAGAW = 0: no 3-, 4- or 5-level tables.
    make_model(VtdRegisterModel::qemu_capability & ~(uint64_t{0x1f} << 8));
    EXPECT_EQ(initialize().error(), Error::unsupported);
    EXPECT_TRUE(unit.failed());
    EXPECT_TRUE(log.contains("SAGAW 0x0 offers no 3-, 4- or 5-level tables"));
}

TEST_F(VtdUnitTest, TranslationLeftOnByAPreviousOwnerIsTurnedOffFirst) {
    make_model();
    model->preset_status(VtdRegisterModel::te);
    ASSERT_TRUE(initialize().ok());
    EXPECT_EQ(model->translation_disables(), 1u);
    EXPECT_TRUE(log.contains("translation was left enabled"));
    // ...and it was off before the new root pointer was latched.
    ASSERT_GE(model->command_writes().size(), 2u);
    EXPECT_EQ(model->command_writes()[0] & VtdRegisterModel::te, 0u);
}

TEST_F(VtdUnitTest, AQueueAPreviousOwnerLeftStoppedOnAnErrorIsDiscardedNotWaitedFor) {
    make_model();
    model->preset_stopped_queue(0x20, 0x40);
    ASSERT_TRUE(initialize().ok());
    EXPECT_FALSE(unit.failed());
    EXPECT_TRUE(log.contains("invalidation queue stopped on an error"));
    EXPECT_FALSE(log.contains("timed out"));
}

// --- GCMD: never a bare command -------------------------------------------------------

TEST_F(VtdUnitTest, EveryCommandAfterEnablingKeepsTranslationOn) {
    // RWBF makes the driver issue write-buffer flushes through GCMD while
    // translation is on; each must carry TE (and QIE) along.
    make_model(VtdRegisterModel::qemu_capability | write_buffer_flush_bit);
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    const size_t enabled_at = model->command_writes().size();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    ASSERT_TRUE(unit.attach(domain, sata, AttachMode::translated).ok());
    ASSERT_GT(model->command_writes().size(), enabled_at);
    for (size_t index = enabled_at; index < model->command_writes().size(); ++index) {
        EXPECT_NE(model->command_writes()[index] & VtdRegisterModel::te, 0u) << "GCMD write " << index;
        EXPECT_NE(model->command_writes()[index] & VtdRegisterModel::qie, 0u) << "GCMD write " << index;
    }
    EXPECT_EQ(model->translation_disables(), 0u);
    EXPECT_GE(model->count(Operation::write_buffer_flush), 2u);
}

// --- Enabling translation ------------------------------------------------------------

TEST_F(VtdUnitTest, EnablingInvalidatesContextCacheThenIotlbGloballyThenSetsTe) {
    ASSERT_TRUE(initialize().ok());
    model->clear_events();
    ASSERT_TRUE(unit.enable_translation().ok());
    const auto& events = model->events();
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].operation, Operation::context_global);
    EXPECT_EQ(events[1].operation, Operation::iotlb_global);
    EXPECT_EQ(events[2].operation, Operation::wait);
    for (const auto& event : events) EXPECT_TRUE(event.queued);
    EXPECT_TRUE(unit.translation_enabled());
    EXPECT_TRUE(log.contains("vtd0 at 0xfed90000: DMA remapping enabled"));
}

TEST_F(VtdUnitTest, RegisterBasedInvalidationNeverMixesWithTheQueue) {
    ASSERT_TRUE(initialize(false).ok());
    model->clear_events();
    ASSERT_TRUE(unit.enable_translation().ok());
    ASSERT_EQ(model->events().size(), 2u);
    EXPECT_EQ(model->events()[0].operation, Operation::context_global);
    EXPECT_EQ(model->events()[1].operation, Operation::iotlb_global);
    EXPECT_FALSE(model->events()[0].queued);
    EXPECT_EQ(model->mixed_invalidations(), 0u);
}

// --- Context entries and DMA -------------------------------------------------------------

TEST_F(VtdUnitTest, AttachedDeviceTranslatesThroughTheDomainTables) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());

    EXPECT_EQ(unit.domain_id_of(domain), 1u);
    EXPECT_TRUE(domain.invalidation_targets().contains(unit));
    const auto ok = model->dma(edu.requester_id(), data_page + 0x10, true);
    EXPECT_TRUE(ok.ok);
    EXPECT_EQ(ok.output, data_page + 0x10);
    // Unmapped page: a write fault (reason 5); unattached device: context entry not present (2).
    EXPECT_EQ(model->dma(edu.requester_id(), data_page + page_size, true).reason, 0x05);
    EXPECT_EQ(model->dma(sata.requester_id(), data_page, false).reason, 0x02);
}

TEST_F(VtdUnitTest, ContextEntryFieldsFollowTheDomain) {
    make_model(0x00d2008c222f0606, VtdRegisterModel::qemu_extended_capability);  // aw-bits=48: SAGAW 39+48
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain(4);
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    const vtd::RootEntry root = vtd::load_root_entry(memory, vtd::root_entry_address(unit.root_table(), 0));
    ASSERT_TRUE(root.present());
    const vtd::ContextEntry entry =
        vtd::load_context_entry(memory, vtd::context_entry_address(root.context_table(), 0x08));
    EXPECT_TRUE(entry.present());
    EXPECT_EQ(entry.translation_type(), vtd::TranslationType::untranslated);
    EXPECT_EQ(entry.address_width(), vtd::AddressWidth::bits_48);
    EXPECT_EQ(entry.second_stage_table(), domain.iommu_root());
    EXPECT_EQ(entry.domain_id(), 1u);
}

TEST_F(VtdUnitTest, TablesTheUnitCannotWalkAreRefused) {
    ASSERT_TRUE(initialize().ok());  // SAGAW: 3 levels only
    passthrough::IommuContext& domain = make_domain(4);
    EXPECT_EQ(unit.attach(domain, edu, AttachMode::translated).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("4-level tables, which SAGAW 0x2 does not offer"));
}

TEST_F(VtdUnitTest, PassThroughAndBlockedModes) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::passthrough).ok());
    ASSERT_TRUE(unit.attach(domain, sata, AttachMode::blocked).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    EXPECT_TRUE(model->dma(edu.requester_id(), 0x12345000, true).ok);
    EXPECT_EQ(model->dma(sata.requester_id(), 0x12345000, true).reason, 0x02);
    // Pass-through needs ECAP.PT.
    vtd::Unit other;
    VtdRegisterModel no_pass_through(memory, VtdRegisterModel::qemu_capability,
                                     VtdRegisterModel::qemu_extended_capability & ~(uint64_t{1} << 6));
    vtd::UnitServices services{&no_pass_through, &memory, &allocator, &clock, &cache};
    ASSERT_TRUE(other.initialize(1, qemu_definition(), services, vtd::UnitSettings{}).ok());
    EXPECT_EQ(other.attach(domain, edu, AttachMode::passthrough).error(), Error::unsupported);
}

TEST_F(VtdUnitTest, ReplacingAPresentEntryInvalidatesTheOldOneFirst) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& first = make_domain();
    passthrough::IommuContext& second = make_domain();
    ASSERT_TRUE(map(first, data_page, page_size).ok());
    ASSERT_TRUE(unit.attach(first, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    ASSERT_TRUE(model->dma(edu.requester_id(), data_page, false).ok);  // now cached
    model->clear_events();

    ASSERT_TRUE(unit.attach(second, edu, AttachMode::translated).ok());
    EXPECT_EQ(unit.domain_id_of(second), 2u);
    const auto& events = model->events();
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events[0].operation, Operation::context_device);
    EXPECT_EQ(events[0].domain_id, 1u);
    EXPECT_EQ(events[0].source_id, edu.requester_id());
    EXPECT_EQ(events[1].operation, Operation::iotlb_domain);
    EXPECT_EQ(events[1].domain_id, 1u);
    EXPECT_EQ(events[2].operation, Operation::wait);
    // The second domain maps nothing: the stale translation must be gone.
    EXPECT_FALSE(model->dma(edu.requester_id(), data_page, false).ok);
}

TEST_F(VtdUnitTest, CachingModeInvalidatesNewEntriesOnceTranslationIsOn) {
    make_model(VtdRegisterModel::qemu_capability | caching_mode_bit);
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    // A DMA from the not-yet-attached device caches its not-present entry.
    EXPECT_FALSE(model->dma(sata.requester_id(), data_page, false).ok);
    model->clear_events();
    ASSERT_TRUE(unit.attach(domain, sata, AttachMode::translated).ok());
    const auto& events = model->events();
    ASSERT_EQ(events.size(), 3u);
    // 6.1: the cached not-present entry carries domain-id 0.
    EXPECT_EQ(events[0].operation, Operation::context_device);
    EXPECT_EQ(events[0].domain_id, 0u);
    EXPECT_EQ(events[0].source_id, sata.requester_id());
    EXPECT_EQ(events[1].operation, Operation::iotlb_domain);
    EXPECT_EQ(events[1].domain_id, 1u);
    EXPECT_TRUE(model->dma(sata.requester_id(), data_page, false).ok);
}

TEST_F(VtdUnitTest, WithoutCachingModeAddingANewEntryNeedsNoInvalidation) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    model->clear_events();
    ASSERT_TRUE(unit.attach(domain, sata, AttachMode::translated).ok());
    EXPECT_TRUE(model->events().empty());
}

// --- The batch's invalidations through the unit --------------------------------------------

TEST_F(VtdUnitTest, UnmapIsFlushedPageSelectively) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    ASSERT_TRUE(map(domain, data_page + page_size, page_size).ok());
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    ASSERT_TRUE(model->dma(edu.requester_id(), data_page, true).ok);
    ASSERT_TRUE(model->dma(edu.requester_id(), data_page + page_size, true).ok);
    model->clear_events();

    ASSERT_TRUE(unmap(domain, data_page, page_size).ok());
    ASSERT_EQ(model->iotlb_invalidations(), 1u);
    EXPECT_EQ(model->events()[0].operation, Operation::iotlb_page);
    EXPECT_EQ(model->events()[0].address, data_page);
    EXPECT_EQ(model->events()[0].address_mask, 0u);
    EXPECT_EQ(model->events()[0].domain_id, 1u);
    EXPECT_EQ(model->events().back().operation, Operation::wait);
    EXPECT_EQ(model->dma(edu.requester_id(), data_page, true).reason, 0x05);
    // The neighbour keeps its (cached) translation.
    const auto neighbour = model->dma(edu.requester_id(), data_page + page_size, true);
    EXPECT_TRUE(neighbour.ok);
    EXPECT_TRUE(neighbour.cached);
}

TEST_F(VtdUnitTest, TheModelCatchesAMissingFlush) {
    // The proof that the test above can fail: without the commit the stale
    // translation is still used.
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    ASSERT_TRUE(model->dma(edu.requester_id(), data_page, true).ok);
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(passthrough::identity_unmap(domain, data_page, data_page + page_size, batch).ok());
    EXPECT_TRUE(model->dma(edu.requester_id(), data_page, true).ok);
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_FALSE(model->dma(edu.requester_id(), data_page, true).ok);
}

TEST_F(VtdUnitTest, CachingModeFlushesAddedMappings) {
    make_model(VtdRegisterModel::qemu_capability | caching_mode_bit);
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    EXPECT_FALSE(model->dma(edu.requester_id(), data_page, false).ok);  // the fault is cached
    model->clear_events();
    ASSERT_TRUE(map(domain, data_page, page_size).ok());
    EXPECT_EQ(model->iotlb_invalidations(), 1u);
    EXPECT_TRUE(model->dma(edu.requester_id(), data_page, false).ok);
}

TEST_F(VtdUnitTest, CapabilitiesReportedToTheBatch) {
    make_model(VtdRegisterModel::qemu_capability | caching_mode_bit);
    ASSERT_TRUE(initialize().ok());
    const paging::InvalidationCapabilities capabilities = unit.invalidation_capabilities();
    EXPECT_TRUE(capabilities.caches_not_present);
    EXPECT_TRUE(capabilities.page_selective);
    EXPECT_EQ(capabilities.max_page_order, 18u);
}

TEST_F(VtdUnitTest, RegisterBasedPageInvalidationUsesTheAddressRegister) {
    ASSERT_TRUE(initialize(false).ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(map(domain, data_page, 4 * page_size).ok());
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    ASSERT_TRUE(model->dma(edu.requester_id(), data_page + 3 * page_size, true).ok);
    model->clear_events();
    ASSERT_TRUE(unit.invalidate_pages(1, data_page, 2, true).ok());
    ASSERT_TRUE(unit.wait().ok());
    ASSERT_EQ(model->events().size(), 1u);
    EXPECT_EQ(model->events()[0].operation, Operation::iotlb_page);
    EXPECT_FALSE(model->events()[0].queued);
    EXPECT_EQ(model->events()[0].address, data_page);
    EXPECT_EQ(model->events()[0].address_mask, 2u);
    EXPECT_TRUE(model->events()[0].hint);
    EXPECT_FALSE(model->dma(edu.requester_id(), data_page + 3 * page_size, true).cached);
}

TEST_F(VtdUnitTest, PageInvalidationBeyondMamvFallsBackToDomain) {
    ASSERT_TRUE(initialize().ok());
    model->clear_events();
    ASSERT_TRUE(unit.invalidate_pages(1, 0, 19, false).ok());  // MAMV is 18
    ASSERT_TRUE(unit.wait().ok());
    EXPECT_EQ(model->count(Operation::iotlb_domain), 1u);
    EXPECT_EQ(model->count(Operation::iotlb_page), 0u);
}

// --- Time limits and fencing ---------------------------------------------------------------

TEST_F(VtdUnitTest, AUnitThatNeverAnswersIsFencedNotWaitedFor) {
    make_model();
    model->set_answering(false);
    EXPECT_EQ(initialize(true, 1'000'000).error(), Error::timed_out);
    EXPECT_TRUE(unit.failed());
    EXPECT_TRUE(log.contains("vtd0 at 0xfed90000: setting the root table pointer did not complete within 1 ms; unit "
                             "fenced"));
    // Bounded: about timeout / step clock reads, not forever.
    EXPECT_LT(clock.reads(), 2000u);
    // Everything after fails at once, without polling again.
    const uint64_t reads = clock.reads();
    passthrough::IommuContext& domain = make_domain();
    EXPECT_EQ(unit.attach(domain, edu, AttachMode::translated).error(), Error::hardware_failure);
    EXPECT_EQ(unit.enable_translation().error(), Error::hardware_failure);
    EXPECT_EQ(unit.invalidate_domain(1).error(), Error::hardware_failure);
    EXPECT_EQ(unit.wait().error(), Error::hardware_failure);
    EXPECT_EQ(clock.reads(), reads);
    EXPECT_FALSE(unit.reports_faults());
}

TEST_F(VtdUnitTest, AQueueThatStopsBeingFetchedTimesOutInWait) {
    ASSERT_TRUE(initialize(true, 2'000'000).ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    model->set_answering(false);
    paging::Batch batch(domain.invalidation_targets());
    ASSERT_TRUE(passthrough::identity_map(domain, data_page, data_page + page_size, paging::Access::read_write, batch)
                    .ok());
    ASSERT_TRUE(passthrough::identity_unmap(domain, data_page, data_page + page_size, batch).ok());
    EXPECT_EQ(batch.commit().error(), Error::timed_out);
    EXPECT_TRUE(unit.failed());
    EXPECT_TRUE(log.contains("queued invalidation (wait descriptor) did not complete within 2 ms"));
}

TEST_F(VtdUnitTest, RegisterInvalidationThatNeverCompletesTimesOut) {
    ASSERT_TRUE(initialize(false, 500'000).ok());
    model->set_answering(false);
    EXPECT_EQ(unit.invalidate_domain(1).error(), Error::timed_out);
    EXPECT_TRUE(unit.failed());
    EXPECT_TRUE(log.contains("IOTLB invalidation (IOTLB_REG) did not complete"));
}

TEST_F(VtdUnitTest, EnablingTranslationThatNeverTakesEffectTimesOut) {
    ASSERT_TRUE(initialize(false, 500'000).ok());
    // Invalidations complete, but GSTS.TES never follows.
    model->set_answering(true);
    ASSERT_TRUE(unit.invalidate_domain(1).ok());
    model->set_answering(false);
    EXPECT_EQ(unit.enable_translation().error(), Error::timed_out);
    EXPECT_TRUE(unit.failed());
}

// --- Faults ------------------------------------------------------------------------------

TEST_F(VtdUnitTest, FaultRecordsAreDecodedLoggedAndCleared) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    EXPECT_FALSE(model->dma(edu.requester_id(), 0x1234'5678, true).ok);

    DmaFault faults[4];
    ASSERT_EQ(unit.take_faults(Span<DmaFault>(faults, 4)), 1u);
    EXPECT_EQ(faults[0].source, edu);
    EXPECT_EQ(faults[0].address, 0x1234'5000u);
    EXPECT_TRUE(faults[0].write);
    EXPECT_EQ(faults[0].reason, 5u);
    EXPECT_STREQ(faults[0].description, "write to a page without write permission");
    EXPECT_TRUE(log.contains("vtd: warning: vtd0 at 0xfed90000: DMA write fault from 00:01.0 at 0x12345000: "
                             "reason 0x5 (write to a page without write permission)"));
    // Cleared: nothing more, and the next fault is recorded again.
    EXPECT_EQ(unit.take_faults(Span<DmaFault>(faults, 4)), 0u);
    EXPECT_FALSE(model->dma(edu.requester_id(), 0x2000'0000, false).ok);
    ASSERT_EQ(unit.take_faults(Span<DmaFault>(faults, 4)), 1u);
    EXPECT_FALSE(faults[0].write);
    EXPECT_EQ(faults[0].reason, 6u);
    EXPECT_EQ(faults[0].address, 0x2000'0000u);
}

TEST_F(VtdUnitTest, FaultOverflowIsReported) {
    ASSERT_TRUE(initialize().ok());  // QEMU: one fault recording register
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    EXPECT_FALSE(model->dma(edu.requester_id(), 0x1000'0000, true).ok);
    EXPECT_FALSE(model->dma(edu.requester_id(), 0x2000'0000, true).ok);  // no room: PFO
    DmaFault faults[4];
    EXPECT_EQ(unit.take_faults(Span<DmaFault>(faults, 4)), 1u);
    EXPECT_EQ(faults[0].address, 0x1000'0000u);
    EXPECT_TRUE(log.contains("fault recording overflowed"));
    EXPECT_EQ(model->status() & VtdRegisterModel::te, VtdRegisterModel::te);
}

TEST_F(VtdUnitTest, SeveralRecordsAreTakenOldestFirst) {
    make_model(VtdRegisterModel::qemu_capability | (uint64_t{3} << 40));  // NFR = 4
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(unit.enable_translation().ok());
    for (uint64_t page = 1; page <= 3; ++page) EXPECT_FALSE(model->dma(edu.requester_id(), page << 20, false).ok);
    DmaFault faults[2];
    // Two fit; the third is cleared (and logged) all the same.
    ASSERT_EQ(unit.take_faults(Span<DmaFault>(faults, 2)), 2u);
    EXPECT_EQ(faults[0].address, 1u << 20);
    EXPECT_EQ(faults[1].address, 2u << 20);
    EXPECT_EQ(unit.take_faults(Span<DmaFault>(faults, 2)), 0u);
    EXPECT_TRUE(log.contains("at 0x300000"));
}

// --- Coherency -------------------------------------------------------------------------------

TEST_F(VtdUnitTest, NonCoherentUnitWritesTableUpdatesBack) {
    // QEMU reports ECAP.C = 0.
    ASSERT_TRUE(initialize().ok());
    EXPECT_FALSE(unit.coherent());
    EXPECT_TRUE(cache.covers(unit.root_table(), page_size));
    passthrough::IommuContext& domain = make_domain();
    cache.ranges.clear();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    const vtd::RootEntry root = vtd::load_root_entry(memory, vtd::root_entry_address(unit.root_table(), 0));
    EXPECT_TRUE(cache.covers(root.context_table(), page_size));
    EXPECT_TRUE(cache.covers(vtd::root_entry_address(unit.root_table(), 0), 16));
    EXPECT_TRUE(cache.covers(vtd::context_entry_address(root.context_table(), 0x08), 16));
}

TEST_F(VtdUnitTest, CoherentUnitNeedsNoWriteBack) {
    make_model(VtdRegisterModel::qemu_capability, VtdRegisterModel::qemu_extended_capability | coherent_bit);
    ASSERT_TRUE(initialize().ok());
    EXPECT_TRUE(unit.coherent());
    passthrough::IommuContext& domain = make_domain();
    ASSERT_TRUE(unit.attach(domain, edu, AttachMode::translated).ok());
    EXPECT_TRUE(cache.ranges.empty());
}

TEST_F(VtdUnitTest, NonCoherentUnitWithoutWriteBackIsNotUsed) {
    make_model();
    vtd::UnitServices services{model.get(), &memory, &allocator, &clock, nullptr};
    EXPECT_EQ(unit.initialize(0, qemu_definition(), services, vtd::UnitSettings{}).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("ECAP.C = 0"));
}

// --- Scopes ------------------------------------------------------------------------------------

TEST_F(VtdUnitTest, IncludePciAllLeavesOtherUnitsDevicesToThem) {
    vtd::Unit units[2];
    VtdRegisterModel first(memory), second(memory);
    vtd::UnitDefinition graphics;
    graphics.register_base = 0xfed90000;
    graphics.scopes[graphics.scope_count++] = vtd::RequesterRange{0x0010, 0x0010};  // 00:02.0
    vtd::UnitDefinition everything;
    everything.register_base = 0xfed91000;
    everything.include_pci_all = true;
    vtd::UnitServices services{&first, &memory, &allocator, &clock, &cache};
    ASSERT_TRUE(units[0].initialize(0, graphics, services, vtd::UnitSettings{}).ok());
    services.registers = &second;
    ASSERT_TRUE(units[1].initialize(1, everything, services, vtd::UnitSettings{}).ok());
    for (vtd::Unit& each : units) each.set_peers(Span<const vtd::Unit>(units, 2));
    const pci::PciAddress graphics_device{0, 0, 2, 0};
    EXPECT_TRUE(units[0].translates(graphics_device));
    EXPECT_FALSE(units[1].translates(graphics_device));
    EXPECT_FALSE(units[0].translates(edu));
    EXPECT_TRUE(units[1].translates(edu));
    EXPECT_FALSE(units[1].translates(pci::PciAddress{1, 0, 1, 0}));  // another segment
}

TEST_F(VtdUnitTest, DevicesOutsideTheScopeAreRefused) {
    ASSERT_TRUE(initialize().ok());
    passthrough::IommuContext& domain = make_domain();
    EXPECT_EQ(unit.attach(domain, pci::PciAddress{0, 3, 0, 0}, AttachMode::translated).error(),
              Error::invalid_argument);
}

}  // namespace
}  // namespace sluice::testing
