// The AMD-Vi unit driver (drivers/passthrough/amd/iommu.hpp) against the
// register, command-buffer and DMA model in tests/support/amd_iommu_model.hpp.
#include "support/advancing_clock.hpp"
#include "support/amd_iommu_model.hpp"
#include "support/amd_ivrs_builder.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <drivers/passthrough/amd/iommu.hpp>
#include <drivers/passthrough/amd/ivrs.hpp>
#include <drivers/passthrough/interrupt_remapping.hpp>
#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/identity_map.hpp>
#include <mm/paging/batch.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::testing;
using amd::CommandOpcode;
using amd::Iommu;
using amd::IommuState;
using passthrough::AttachMode;

constexpr PhysicalAddress memory_base = 0x1000'0000;
constexpr uint64_t memory_pages = 4096;  // 16 MiB
constexpr PhysicalAddress ivrs_address = 0x7fe0'0000;

constexpr pci::PciAddress edu{0, 0, 2, 0};         // device ID 0x0010
constexpr pci::PciAddress isa_bridge{0, 0, 0x1f, 0};  // device ID 0x00f8
constexpr uint16_t edu_id = 0x0010;

// A simulated machine with one modelled IOMMU and its parsed IVRS.
class Rig {
public:
    explicit Rig(AmdIommuModel::Options options = {}, const std::vector<uint8_t>& table = qemu_ivrs())
        : memory_(memory_base, memory_pages * page_size), allocator_(memory_, memory_base, memory_pages),
          model_(std::make_unique<AmdIommuModel>(memory_, options)),
          ivrs_(std::make_unique<amd::IvrsDescription>()), iommu_(std::make_unique<Iommu>()) {
        const Status parsed = amd::parse_ivrs(Span<const uint8_t>(table.data(), table.size()), ivrs_address, *ivrs_);
        if (!parsed.ok()) throw std::runtime_error("IVRS did not parse");
    }

    amd::IommuSettings settings() const {
        amd::IommuSettings settings;
        settings.ivrs = ivrs_.get();
        settings.unit_index = 0;
        settings.time_limit = 10'000'000;  // 10 ms: 10 000 reads of the advancing clock
        return settings;
    }
    Status initialize() { return initialize(settings()); }
    Status initialize(const amd::IommuSettings& settings) {
        return iommu_->initialize(amd::IommuResources{model_.get(), &memory_, &allocator_, &clock_}, settings);
    }

    // A PV domain with AMD-Vi v1 tables of `levels` levels.
    std::unique_ptr<passthrough::IommuContext> domain(uint16_t id, unsigned levels = 4) {
        passthrough::IommuConfiguration configuration;
        configuration.id = id;
        configuration.iommu = passthrough::IommuTableKind::amd_v1;
        configuration.amd = passthrough::AmdV1Format(levels, 3, 48);
        regions_.emplace_back(16);
        configuration.identity_regions = Span<passthrough::IdentityRegion>(regions_.back().data(), 16);
        auto created = passthrough::IommuContext::create(configuration, nullptr, memory_, allocator_);
        if (!created.ok()) throw std::runtime_error("domain creation failed");
        return std::make_unique<passthrough::IommuContext>(std::move(created).value());
    }

    Iommu& iommu() { return *iommu_; }
    AmdIommuModel& model() { return *model_; }
    SimulatedMemory& memory() { return memory_; }
    SimulatedPageAllocator& allocator() { return allocator_; }
    AdvancingClock& clock() { return clock_; }
    const amd::IvrsDescription& ivrs() const { return *ivrs_; }

private:
    SimulatedMemory memory_;
    SimulatedPageAllocator allocator_;
    AdvancingClock clock_{1'000};
    std::unique_ptr<AmdIommuModel> model_;
    std::unique_ptr<amd::IvrsDescription> ivrs_;
    std::unique_ptr<Iommu> iommu_;
    std::vector<std::vector<passthrough::IdentityRegion>> regions_;
};

Status map_identity(passthrough::IommuContext& domain, PhysicalAddress start, PhysicalAddress end,
                    paging::Access access = paging::Access::read_write) {
    paging::Batch batch(domain.invalidation_targets());
    const Status mapped = passthrough::identity_map(domain, start, end, access, batch);
    const Status committed = batch.commit();
    return mapped.ok() ? committed : mapped;
}

std::vector<CommandOpcode> opcodes(const std::vector<amd::Command>& commands, size_t from = 0) {
    std::vector<CommandOpcode> result;
    for (size_t index = from; index < commands.size(); ++index) result.push_back(amd::opcode(commands[index]));
    return result;
}

// --- Bring-up ------------------------------------------------------------------

TEST(AmdDriver, InitializeBuildsTheTablesStartsTheUnitAndInvalidatesEverything) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    Iommu& iommu = rig.iommu();
    EXPECT_EQ(iommu.state(), IommuState::running);
    EXPECT_STREQ(iommu.name(), "amd-vi0 at 0xfed80000");
    EXPECT_EQ(iommu.register_base(), 0xfed80000u);
    EXPECT_EQ(iommu.maximum_levels(), 6);  // QEMU's HATS = 2
    EXPECT_EQ(iommu.register_size(), 16 * KiB);
    EXPECT_FALSE(iommu.failed());

    // The IVRS names device IDs up to 00:1f.3 (0xfb): two pages of 128 entries.
    EXPECT_EQ(iommu.device_table().entries(), 256u);
    EXPECT_EQ(rig.model().device_table_base(), iommu.device_table().base());
    EXPECT_EQ(rig.model().device_table_entries(), 256u);
    for (uint32_t device = 0; device < 256; ++device)
        EXPECT_FALSE(amd::is_valid(iommu.device_table().read(static_cast<uint16_t>(device))));

    // IommuEn, CmdBufEn, EventLogEn, and HtTunEn from IVHD flags 0xd1.
    const uint64_t control = rig.model().control();
    EXPECT_NE(control & amd::control::iommu_enable, 0u);
    EXPECT_NE(control & amd::control::command_buffer_enable, 0u);
    EXPECT_NE(control & amd::control::event_log_enable, 0u);
    EXPECT_NE(control & amd::control::ht_tunnel_enable, 0u);
    EXPECT_EQ(control & amd::control::coherent, 0u);

    // Everything cached before is dropped, and the unit confirmed it.
    EXPECT_EQ(opcodes(rig.model().executed()),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_iommu_all, CommandOpcode::completion_wait}));
    EXPECT_EQ(rig.memory().read64(iommu.commands().store()), iommu.commands().last_sequence());
    EXPECT_TRUE(rig.model().violations().empty()) << rig.model().violations().front();
    EXPECT_TRUE(log.problems().empty());
    EXPECT_TRUE(log.contains("amd-vi: amd-vi0 at 0xfed80000 (PCI 0000:00:01.0): device table"));

    // Entries with V = 0 let DMA through untranslated: as if the unit were off.
    EXPECT_EQ(rig.model().dma(edu_id, 0x1234'5678, true).value_or(0), 0x1234'5678u);
    EXPECT_TRUE(iommu.reports_faults());
}

TEST(AmdDriver, DeviceTableCoversTheHighestDeviceIdTheIvrsNames) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0002, 0xfed80000);
    builder.range(0x0100, 0x3fff);
    builder.end_block(block);
    Rig rig({}, builder.bytes());
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_EQ(rig.iommu().device_table().entries(), 0x4000u);
    EXPECT_EQ(rig.iommu().device_table().pages(), 128u);  // 512 KiB, one block
    EXPECT_EQ(rig.model().device_table_entries(), 0x4000u);
    EXPECT_EQ(rig.iommu().device_table().base() % page_size, 0u);
}

TEST(AmdDriver, WithoutInvalidateAllEveryDeviceTableEntryIsInvalidated) {
    AmdIommuModel::Options options;
    options.extended_features &= ~(uint64_t{1} << 6);  // no IASup
    Rig rig(options);
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_EQ(rig.model().count(CommandOpcode::invalidate_iommu_all), 0u);
    EXPECT_EQ(rig.model().count(CommandOpcode::invalidate_devtab_entry), 256u);
    EXPECT_EQ(rig.model().count(CommandOpcode::completion_wait), 1u);
    EXPECT_EQ(amd::opcode(rig.model().executed().back()), CommandOpcode::completion_wait);
    EXPECT_TRUE(rig.model().violations().empty());
}

TEST(AmdDriver, AUnitFirmwareLeftRunningIsStoppedBeforeItsTablesChange) {
    Rig rig;
    rig.model().set_register(amd::Register64::control, amd::control::iommu_enable |
                                                            amd::control::command_buffer_enable |
                                                            amd::control::event_log_enable);
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_TRUE(rig.model().violations().empty()) << rig.model().violations().front();
    EXPECT_TRUE(log.contains("found running"));
    // The first register write stops it.
    const auto writes = rig.model().register_writes();
    ASSERT_FALSE(writes.empty());
    EXPECT_EQ(writes.front().first, amd::offset_of(amd::Register64::control));
    EXPECT_EQ(writes.front().second & amd::control::iommu_enable, 0u);
}

class AllOnes final : public pci::MmioRegion {
public:
    uint64_t size() const override { return amd::register_region_size; }
    uint8_t read8(uint64_t) override { return 0xff; }
    uint16_t read16(uint64_t) override { return 0xffff; }
    uint32_t read32(uint64_t) override { return ~0u; }
    uint64_t read64(uint64_t) override { return ~uint64_t{0}; }
    void write8(uint64_t, uint8_t) override {}
    void write16(uint64_t, uint16_t) override {}
    void write32(uint64_t, uint32_t) override {}
    void write64(uint64_t, uint64_t) override { ++writes; }
    int writes = 0;
};

TEST(AmdDriver, RegistersReadingAllOnesAreNoIommu) {
    Rig rig;
    AllOnes absent;
    Iommu iommu;
    LogCapture log;
    EXPECT_EQ(iommu.initialize(amd::IommuResources{&absent, &rig.memory(), &rig.allocator(), &rig.clock()},
                               rig.settings())
                  .error(),
              Error::hardware_failure);
    EXPECT_EQ(absent.writes, 0);
    EXPECT_EQ(rig.allocator().live_pages(), 0u);
    EXPECT_TRUE(iommu.failed());
    EXPECT_TRUE(iommu.translates(edu));  // it names the devices it leaves unprotected
    EXPECT_TRUE(log.contains("registers read all ones"));
}

TEST(AmdDriver, OutOfMemoryAtEveryAllocationLeavesNothingBehind) {
    for (uint64_t attempt = 1; attempt <= 4; ++attempt) {
        Rig rig;
        LogCapture log;
        rig.allocator().fail_allocation(attempt);
        EXPECT_EQ(rig.initialize().error(), Error::out_of_memory) << "attempt " << attempt;
        EXPECT_EQ(rig.allocator().live_pages(), 0u) << "attempt " << attempt;
        EXPECT_EQ(rig.model().control() & amd::control::iommu_enable, 0u);
        EXPECT_TRUE(rig.iommu().failed());
    }
}

TEST(AmdDriver, InitialisingTwiceIsRefused) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_EQ(rig.initialize().error(), Error::invalid_argument);
}

TEST(AmdDriver, TranslatesExactlyTheDevicesTheIvrsNamesForTheUnit) {
    Rig rig;
    EXPECT_FALSE(rig.iommu().translates(edu));  // not initialised yet
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_TRUE(rig.iommu().translates(edu));
    EXPECT_TRUE(rig.iommu().translates(isa_bridge));
    EXPECT_FALSE(rig.iommu().translates(pci::PciAddress{0, 0, 5, 0}));
    EXPECT_FALSE(rig.iommu().translates(pci::PciAddress{1, 0, 2, 0}));  // another segment
    EXPECT_FALSE(rig.iommu().translates(pci::PciAddress{0, 1, 2, 0}));
}

TEST(AmdDriver, CapabilitiesReportNpCacheAndEveryPowerOfTwo) {
    Rig rig;
    amd::IommuSettings settings = rig.settings();
    settings.caches_not_present = false;
    ASSERT_TRUE(rig.initialize(settings).ok());
    const paging::InvalidationCapabilities capabilities = rig.iommu().invalidation_capabilities();
    EXPECT_FALSE(capabilities.caches_not_present);
    EXPECT_TRUE(capabilities.page_selective);
    EXPECT_EQ(capabilities.max_page_order, 52);
}

// --- Attaching devices ---------------------------------------------------------

TEST(AmdDriver, AttachWritesTheEntryThenInvalidatesItThenWaits) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x40'0000).ok());
    const size_t before = rig.model().executed().size();

    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    const amd::DeviceTableEntry entry = rig.iommu().device_table().read(edu_id);
    EXPECT_TRUE(amd::is_valid(entry));
    EXPECT_TRUE(amd::translation_is_valid(entry));
    EXPECT_EQ(amd::paging_mode(entry), 4);
    EXPECT_EQ(amd::root_pointer(entry), domain->iommu_root());
    EXPECT_EQ(amd::domain_id(entry), 1);
    EXPECT_NE(entry.qwords[0] & amd::device_table_entry::read_permission, 0u);
    EXPECT_NE(entry.qwords[0] & amd::device_table_entry::write_permission, 0u);
    EXPECT_EQ(entry.qwords[2], 0u);
    EXPECT_EQ(entry.qwords[3], 0u);

    EXPECT_EQ(opcodes(rig.model().executed(), before),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_devtab_entry, CommandOpcode::completion_wait}));
    // When the unit dropped its cached copy, the whole entry was in memory.
    ASSERT_EQ(rig.model().device_table_invalidations().size(), 1u);
    EXPECT_EQ(rig.model().device_table_invalidations()[0].device_id, edu_id);
    EXPECT_EQ(rig.model().device_table_invalidations()[0].entry, entry);
    EXPECT_TRUE(domain->invalidation_targets().contains(rig.iommu()));

    // DMA now goes through the domain's tables.
    EXPECT_EQ(rig.model().dma(edu_id, 0x20'1234, true).value_or(0), 0x20'1234u);
    EXPECT_FALSE(rig.model().dma(edu_id, 0x50'0000, false).has_value());
    EXPECT_TRUE(rig.model().violations().empty());
}

TEST(AmdDriver, DomainIdsAreTheUnitsOwnFromOneUp) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    auto hardware_domain = rig.domain(0);  // what the set-up creates
    auto other = rig.domain(7);
    EXPECT_EQ(rig.iommu().domain_id_of(*hardware_domain), 0);  // none yet
    ASSERT_TRUE(rig.iommu().attach(*hardware_domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.iommu().attach(*other, isa_bridge, AttachMode::translated).ok());
    ASSERT_TRUE(rig.iommu().attach(*hardware_domain, pci::PciAddress{0, 0, 0x1f, 2}, AttachMode::passthrough).ok());
    EXPECT_EQ(rig.iommu().domain_id_of(*hardware_domain), 1);
    EXPECT_EQ(rig.iommu().domain_id_of(*other), 2);
    EXPECT_EQ(amd::domain_id(rig.iommu().device_table().read(edu_id)), 1);
    EXPECT_EQ(amd::domain_id(rig.iommu().device_table().read(0x00f8)), 2);
    EXPECT_EQ(amd::domain_id(rig.iommu().device_table().read(0x00fa)), 1);
    // The batch invalidates with the unit's DomainID.
    ASSERT_EQ(hardware_domain->invalidation_targets().attachments().size(), 1u);
    EXPECT_EQ(hardware_domain->invalidation_targets().attachments()[0].domain_id, 1);
    EXPECT_EQ(other->invalidation_targets().attachments()[0].domain_id, 2);
    // 0 stays with the entries nobody holds.
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    EXPECT_EQ(rig.iommu().device_table().read(0x00fb), amd::make_blocked_entry(0));
}

TEST(AmdDriver, DomainIdsRunOutAfterTheUnitsCapacity) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    std::vector<std::unique_ptr<passthrough::IommuContext>> domains;
    for (size_t index = 0; index < Iommu::domain_capacity; ++index) {
        domains.push_back(rig.domain(static_cast<uint16_t>(index + 1)));
        ASSERT_TRUE(rig.iommu().attach(*domains.back(), edu, AttachMode::blocked).ok()) << index;
    }
    auto one_too_many = rig.domain(999);
    const amd::DeviceTableEntry before = rig.iommu().device_table().read(edu_id);
    EXPECT_EQ(rig.iommu().attach(*one_too_many, edu, AttachMode::translated).error(), Error::capacity);
    EXPECT_EQ(rig.iommu().device_table().read(edu_id), before);
    EXPECT_TRUE(log.contains("no DomainID left for domain 999 (128 domains use this unit)"));
    // Domains that have one keep working.
    EXPECT_TRUE(rig.iommu().attach(*domains.front(), edu, AttachMode::translated).ok());
}

TEST(AmdDriver, AttachingTheSameWayAgainChangesAndInvalidatesNothing) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    const size_t before = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    EXPECT_EQ(rig.model().executed().size(), before);
}

TEST(AmdDriver, PassThroughAndBlockedEntries) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::passthrough).ok());
    amd::DeviceTableEntry entry = rig.iommu().device_table().read(edu_id);
    EXPECT_EQ(amd::paging_mode(entry), 0);
    EXPECT_TRUE(amd::translation_is_valid(entry));
    EXPECT_EQ(amd::domain_id(entry), 1);
    EXPECT_EQ(rig.model().dma(edu_id, 0x7654'3000, true).value_or(0), 0x7654'3000u);

    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::blocked).ok());
    entry = rig.iommu().device_table().read(edu_id);
    EXPECT_EQ(entry, amd::make_blocked_entry(1));
    EXPECT_FALSE(rig.model().dma(edu_id, 0x7654'3000, false).has_value());
    EXPECT_EQ(rig.model().count(CommandOpcode::invalidate_devtab_entry), 2u);
}

TEST(AmdDriver, BlockingADeviceInItsOwnDomainDropsItsCachedTranslations) {
    // XSA-442: a translating entry that changes without changing its DomainID
    // (here: re-attached blocked) must still flush that DomainID, or cached
    // translations keep letting the device reach memory.
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x40'0000).ok());
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.model().dma(edu_id, 0x20'0000, true).has_value());  // cached now

    const size_t before = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::blocked).ok());
    EXPECT_EQ(opcodes(rig.model().executed(), before),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_devtab_entry,
                                          CommandOpcode::invalidate_iommu_pages, CommandOpcode::completion_wait}));
    EXPECT_EQ(rig.model().cached_translations(), 0u);
    EXPECT_FALSE(rig.model().dma(edu_id, 0x20'0000, true).has_value());
}

TEST(AmdDriver, MovingADeviceToAnotherDomainInvalidatesItsEntryAndTheOldTranslations) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto first = rig.domain(1);
    auto second = rig.domain(2);
    ASSERT_TRUE(map_identity(*first, 0x20'0000, 0x40'0000).ok());
    ASSERT_TRUE(map_identity(*second, 0x60'0000, 0x80'0000).ok());
    ASSERT_TRUE(rig.iommu().attach(*first, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.model().dma(edu_id, 0x20'0000, true).has_value());  // cached now
    EXPECT_EQ(rig.model().cached_translations(), 1u);

    const size_t before = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().attach(*second, edu, AttachMode::translated).ok());
    EXPECT_EQ(opcodes(rig.model().executed(), before),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_devtab_entry,
                                          CommandOpcode::invalidate_iommu_pages, CommandOpcode::completion_wait}));
    EXPECT_EQ(rig.model().cached_translations(), 0u);
    EXPECT_FALSE(rig.model().dma(edu_id, 0x20'0000, true).has_value());  // the old domain's memory
    EXPECT_TRUE(rig.model().dma(edu_id, 0x60'0000, true).has_value());
    EXPECT_EQ(amd::domain_id(rig.iommu().device_table().read(edu_id)), 2);
}

TEST(AmdDriver, AliasEntriesAreWrittenAndInvalidatedToo) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0008, 0xfed80000);
    builder.select(0x0008);
    builder.alias_select(0x0300, 0x0200);  // 03:00.0 behind a bridge whose requests carry 02:00.0
    builder.end_block(block);
    Rig rig({}, builder.bytes());
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, pci::PciAddress{0, 3, 0, 0}, AttachMode::translated).ok());
    EXPECT_EQ(rig.iommu().device_table().read(0x0300), rig.iommu().device_table().read(0x0200));
    EXPECT_EQ(amd::root_pointer(rig.iommu().device_table().read(0x0200)), domain->iommu_root());
    ASSERT_EQ(rig.model().device_table_invalidations().size(), 2u);
    EXPECT_EQ(rig.model().device_table_invalidations()[0].device_id, 0x0300);
    EXPECT_EQ(rig.model().device_table_invalidations()[1].device_id, 0x0200);
}

TEST(AmdDriver, SystemManagementComesFromTheIvrsSetting) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0008, 0xfed80000);
    builder.select(0x0008);
    builder.select(0x0010, 0x20);  // SysMgt 10b
    builder.end_block(block);
    Rig rig({}, builder.bytes());
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    const amd::DeviceTableEntry entry = rig.iommu().device_table().read(edu_id);
    EXPECT_EQ((entry.qwords[1] & amd::device_table_entry::system_management_mask) >>
                  amd::device_table_entry::system_management_shift,
              2u);
}

TEST(AmdDriver, AttachRefusesWhatTheUnitCannotWalk) {
    AmdIommuModel::Options options;
    options.extended_features &= ~(uint64_t{3} << 10);  // HATS 0: at most 4 levels
    Rig rig(options);
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    EXPECT_EQ(rig.iommu().maximum_levels(), 4);
    auto deep = rig.domain(1, 5);
    EXPECT_EQ(rig.iommu().attach(*deep, edu, AttachMode::translated).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("has 5-level I/O page tables, the unit walks at most 4"));
    EXPECT_FALSE(amd::is_valid(rig.iommu().device_table().read(edu_id)));

    EXPECT_EQ(rig.iommu().attach(*deep, pci::PciAddress{0, 0, 5, 0}, AttachMode::translated).error(),
              Error::invalid_argument);
    EXPECT_TRUE(log.contains("0000:00:05.0 is not behind this IOMMU"));
}

TEST(AmdDriver, AttachRefusesVtdTables) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    passthrough::IommuConfiguration configuration;
    configuration.id = 1;
    configuration.iommu = passthrough::IommuTableKind::vtd_second_level;
    std::vector<passthrough::IdentityRegion> regions(4);
    configuration.identity_regions = Span<passthrough::IdentityRegion>(regions.data(), regions.size());
    auto domain = passthrough::IommuContext::create(configuration, nullptr, rig.memory(), rig.allocator());
    ASSERT_TRUE(domain.ok());
    EXPECT_EQ(rig.iommu().attach(domain.value(), edu, AttachMode::translated).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("does not have AMD-Vi I/O page tables"));
}

// --- Translation on and off --------------------------------------------------------

TEST(AmdDriver, EnablingTranslationBlocksEveryDeviceNobodyAttached) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x40'0000).ok());
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    const amd::DeviceTableEntry attached = rig.iommu().device_table().read(edu_id);
    EXPECT_TRUE(rig.model().dma(0x00f8, 0x20'0000, true).has_value());  // untranslated so far

    const size_t before = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    EXPECT_EQ(rig.iommu().state(), IommuState::translating);
    EXPECT_EQ(opcodes(rig.model().executed(), before),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_iommu_all, CommandOpcode::completion_wait}));
    EXPECT_EQ(rig.iommu().device_table().read(edu_id), attached);
    EXPECT_EQ(rig.iommu().device_table().read(0x00f8), amd::make_blocked_entry(0));
    EXPECT_FALSE(rig.model().dma(0x00f8, 0x20'0000, true).has_value());
    EXPECT_FALSE(rig.model().dma(0x00ff, 0x20'0000, true).has_value());  // not even in the IVRS
    EXPECT_TRUE(rig.model().dma(edu_id, 0x20'0000, true).has_value());
    EXPECT_TRUE(log.contains("translation enabled; 255 device IDs no domain holds are blocked"));

    // Enabling twice does nothing more.
    const size_t after = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    EXPECT_EQ(rig.model().executed().size(), after);
}

TEST(AmdDriver, DisablingStopsTheUnitAndEnablingAgainInvalidatesWhatChangedMeanwhile) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    ASSERT_TRUE(rig.iommu().disable_translation().ok());
    EXPECT_EQ(rig.iommu().state(), IommuState::stopped);
    EXPECT_FALSE(rig.model().translation_enabled());
    EXPECT_EQ(rig.model().read_register(amd::Register64::status) & amd::status::command_buffer_running, 0u);

    // While stopped nothing is queued (the unit would not run it) ...
    auto domain = rig.domain(1);
    const size_t before = rig.model().executed().size();
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::passthrough).ok());
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x40'0000).ok());
    EXPECT_EQ(rig.model().executed().size(), before);
    EXPECT_TRUE(amd::is_valid(rig.iommu().device_table().read(edu_id)));

    // ... and everything is dropped when it starts again.
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    EXPECT_TRUE(rig.model().translation_enabled());
    EXPECT_EQ(opcodes(rig.model().executed(), before),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_iommu_all, CommandOpcode::completion_wait}));
    EXPECT_TRUE(rig.model().violations().empty()) << rig.model().violations().front();
}

// --- Invalidation through the batch ---------------------------------------------------

TEST(AmdDriver, ManyIdentityMapsCostOneInvalidationAndOneWait) {
    for (size_t regions : {1u, 4u, 12u}) {
        Rig rig;
        ASSERT_TRUE(rig.initialize().ok());
        auto domain = rig.domain(1);
        ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
        const size_t before = rig.model().executed().size();
        paging::Batch batch(domain->invalidation_targets());
        for (size_t index = 0; index < regions; ++index) {
            const PhysicalAddress start = 0x100'0000 + index * 0x10'0000;
            ASSERT_TRUE(
                passthrough::identity_map(*domain, start, start + 0x3000, paging::Access::read_write, batch).ok());
        }
        ASSERT_TRUE(batch.commit().ok());
        // NpCache: even entries that only became present are invalidated.
        EXPECT_EQ(opcodes(rig.model().executed(), before),
                  (std::vector<CommandOpcode>{CommandOpcode::invalidate_iommu_pages, CommandOpcode::completion_wait}))
            << regions << " regions";
    }
}

TEST(AmdDriver, UnmappingDropsExactlyTheCachedTranslation) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x20'2000).ok());
    ASSERT_TRUE(map_identity(*domain, 0x80'0000, 0x80'1000).ok());
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.model().dma(edu_id, 0x20'0000, true).has_value());
    ASSERT_TRUE(rig.model().dma(edu_id, 0x20'1000, true).has_value());
    ASSERT_TRUE(rig.model().dma(edu_id, 0x80'0000, true).has_value());
    EXPECT_EQ(rig.model().cached_translations(), 3u);

    paging::Batch batch(domain->invalidation_targets());
    ASSERT_TRUE(passthrough::identity_unmap(*domain, 0x20'0000, 0x20'2000, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    // The size-encoded INVALIDATE_IOMMU_PAGES covered the two pages, not the third.
    EXPECT_EQ(rig.model().cached_translations(), 1u);
    EXPECT_FALSE(rig.model().dma(edu_id, 0x20'0000, true).has_value());
    EXPECT_FALSE(rig.model().dma(edu_id, 0x20'1000, true).has_value());
    EXPECT_TRUE(rig.model().dma(edu_id, 0x80'0000, true).has_value());
    const amd::Command last_invalidation = rig.model().executed()[rig.model().executed().size() - 2];
    ASSERT_EQ(amd::opcode(last_invalidation), CommandOpcode::invalidate_iommu_pages);
    EXPECT_EQ((last_invalidation.qwords[0] >> 32) & 0xffff, 1u);
}

// --- Time limits -------------------------------------------------------------------

TEST(AmdDriver, AUnitThatNeverCompletesIsReportedFencedAndNeverWaitedForAgain) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    rig.model().set_stores_completions(false);
    const uint64_t clock_before = rig.clock().now();
    EXPECT_EQ(rig.iommu().attach(*domain, edu, AttachMode::translated).error(), Error::timed_out);
    // The wait gave up after its limit (10 ms here), not much later.
    EXPECT_GE(rig.clock().now() - clock_before, 10'000'000u);
    EXPECT_LT(rig.clock().now() - clock_before, 11'000'000u);
    EXPECT_EQ(rig.iommu().state(), IommuState::failed);
    EXPECT_TRUE(rig.iommu().failed());
    EXPECT_EQ(log.count_lines("the unit is fenced"), 1u);

    const size_t commands = rig.model().executed().size();
    const uint64_t reads = rig.clock().reads();
    EXPECT_EQ(rig.iommu().attach(*domain, isa_bridge, AttachMode::translated).error(), Error::hardware_failure);
    EXPECT_EQ(rig.iommu().invalidate_domain(1).error(), Error::hardware_failure);
    EXPECT_EQ(rig.iommu().wait().error(), Error::hardware_failure);
    EXPECT_EQ(rig.iommu().enable_translation().error(), Error::hardware_failure);
    EXPECT_EQ(rig.model().executed().size(), commands);
    EXPECT_EQ(rig.clock().reads(), reads);
    EXPECT_FALSE(amd::is_valid(rig.iommu().device_table().read(0x00f8)));
    EXPECT_EQ(log.count_lines("the unit is fenced"), 1u);
}

TEST(AmdDriver, AUnitThatStopsConsumingFailsItsBatchWithoutHanging) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    rig.model().set_consumes_commands(false);
    paging::Batch batch(domain->invalidation_targets());
    ASSERT_TRUE(passthrough::identity_map(*domain, 0x20'0000, 0x40'0000, paging::Access::read_write, batch).ok());
    EXPECT_EQ(batch.commit().error(), Error::timed_out);
    EXPECT_EQ(rig.iommu().state(), IommuState::failed);
}

TEST(AmdDriver, AFullRingThatNeverDrainsTimesOut) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    rig.model().set_consumes_commands(false);
    Status status = success();
    size_t queued = 0;
    while (status.ok() && queued < 1000) {
        status = rig.iommu().invalidate_domain(1);
        ++queued;
    }
    EXPECT_EQ(status.error(), Error::timed_out);
    // 256 slots, one always empty: 255 commands fit, the 256th times out.
    EXPECT_EQ(queued, amd::CommandBuffer::entry_count);
    EXPECT_EQ(rig.iommu().state(), IommuState::failed);
}

TEST(AmdDriver, AnInitialInvalidationThatNeverCompletesFailsInitialisation) {
    AmdIommuModel::Options options;
    options.stores_completions = false;
    Rig rig(options);
    LogCapture log;
    EXPECT_EQ(rig.initialize().error(), Error::timed_out);
    EXPECT_EQ(rig.iommu().state(), IommuState::failed);
    EXPECT_FALSE(rig.model().translation_enabled());
}

TEST(AmdDriver, TheQemuHeadRegisterAfterAWrapDoesNotConfuseTheRing) {
    AmdIommuModel::Options options;
    options.qemu_head_register = true;
    Rig rig(options);
    ASSERT_TRUE(rig.initialize().ok());
    for (int round = 0; round < 300; ++round) {
        ASSERT_TRUE(rig.iommu().invalidate_domain(1).ok()) << round;
        ASSERT_TRUE(rig.iommu().wait().ok()) << round;
    }
    EXPECT_EQ(rig.model().count(CommandOpcode::completion_wait), 301u);
}

// --- The command buffer on its own --------------------------------------------------------

TEST(AmdCommandBuffer, AStoppedCommandBufferEndsTheWaitAtOnce) {
    SimulatedMemory memory(memory_base, 16 * page_size);
    AmdIommuModel::Options options;
    options.extended_features = 0;  // no IASup: INVALIDATE_IOMMU_ALL is illegal
    AmdIommuModel model(memory, options);
    AdvancingClock clock;
    amd::CommandBuffer commands;
    commands.bind(amd::RegisterFile(model), memory, clock, memory_base, memory_base + page_size, 1'000'000'000);
    commands.program();
    model.write64(amd::offset_of(amd::Register64::control),
                  amd::control::iommu_enable | amd::control::command_buffer_enable);
    ASSERT_TRUE(commands.submit(amd::make_invalidate_iommu_all()).ok());
    const uint64_t reads = clock.reads();
    EXPECT_EQ(commands.wait_for_completion().error(), Error::hardware_failure);
    EXPECT_LT(clock.reads() - reads, 10u);
    EXPECT_EQ(commands.submitted(CommandOpcode::invalidate_iommu_all), 1u);
    EXPECT_EQ(commands.submitted(CommandOpcode::completion_wait), 1u);
}

TEST(AmdCommandBuffer, CommandsLandInTheRingInOrder) {
    SimulatedMemory memory(memory_base, 16 * page_size);
    AmdIommuModel model(memory);
    AdvancingClock clock;
    amd::CommandBuffer commands;
    commands.bind(amd::RegisterFile(model), memory, clock, memory_base, memory_base + page_size, 1'000'000);
    commands.program();
    model.write64(amd::offset_of(amd::Register64::device_table_base), memory_base + 2 * page_size);
    EXPECT_EQ(model.read_register(amd::Register64::command_buffer_base), memory_base | uint64_t{8} << 56);
    // Not running yet: commands wait in the ring.
    ASSERT_TRUE(commands.submit(amd::make_invalidate_device_table_entry(0x10)).ok());
    ASSERT_TRUE(commands.submit(amd::make_invalidate_domain(1)).ok());
    EXPECT_EQ(commands.tail(), 32u);
    EXPECT_EQ(model.read_register(amd::Register64::command_buffer_tail), 32u);
    EXPECT_EQ(memory.read64(memory_base), amd::make_invalidate_device_table_entry(0x10).qwords[0]);
    EXPECT_TRUE(model.executed().empty());
    model.write64(amd::offset_of(amd::Register64::control),
                  amd::control::iommu_enable | amd::control::command_buffer_enable);
    EXPECT_EQ(opcodes(model.executed()),
              (std::vector<CommandOpcode>{CommandOpcode::invalidate_devtab_entry,
                                          CommandOpcode::invalidate_iommu_pages}));
    ASSERT_TRUE(commands.wait_for_completion().ok());
    EXPECT_EQ(commands.head(), 48u);
}

// --- Events and faults ---------------------------------------------------------------

amd::EventLogEntry event(amd::EventCode code, uint16_t device, uint16_t domain, uint16_t flags, uint64_t address) {
    amd::EventLogEntry entry;
    entry.qwords[0] = uint64_t{device} | uint64_t{domain} << 32 | uint64_t{flags} << 48 |
                      uint64_t{static_cast<uint8_t>(code)} << 60;
    entry.qwords[1] = address;
    return entry;
}

TEST(AmdDriver, ADmaFaultIsLoggedDecodedAndTaken) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    auto domain = rig.domain(1);
    ASSERT_TRUE(map_identity(*domain, 0x20'0000, 0x20'1000, paging::Access::read).ok());
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.iommu().enable_translation().ok());

    EXPECT_FALSE(rig.model().dma(edu_id, 0x30'0000, false).has_value());  // not mapped
    EXPECT_FALSE(rig.model().dma(edu_id, 0x20'0000, true).has_value());   // read-only
    EXPECT_TRUE(rig.model().dma(edu_id, 0x20'0000, false).has_value());

    passthrough::DmaFault faults[4];
    ASSERT_EQ(rig.iommu().take_faults(faults), 2u);
    EXPECT_EQ(faults[0].source, edu);
    EXPECT_EQ(faults[0].address, 0x30'0000u);
    EXPECT_FALSE(faults[0].write);
    EXPECT_EQ(faults[0].reason, 2);
    EXPECT_STREQ(faults[0].description, "IO_PAGE_FAULT");
    EXPECT_EQ(faults[1].address, 0x20'0000u);
    EXPECT_TRUE(faults[1].write);
    EXPECT_EQ(rig.iommu().take_faults(faults), 0u);
    EXPECT_EQ(rig.iommu().events().head(), 32u);
    EXPECT_TRUE(log.contains("amd-vi: warning: amd-vi0 at 0xfed80000: IO_PAGE_FAULT device 00:02.0 domain 0x0001 "
                             "address 0x300000"));
    EXPECT_EQ(log.problems().size(), 2u);
}

TEST(AmdDriver, FaultsBeyondTheCallersRoomWaitForTheNextCall) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    for (uint64_t index = 0; index < 3; ++index)
        rig.model().log_event(event(amd::EventCode::io_page_fault, edu_id, 1, 0, 0x1000 * index));
    passthrough::DmaFault faults[2];
    ASSERT_EQ(rig.iommu().take_faults(faults), 2u);
    EXPECT_EQ(faults[1].address, 0x1000u);
    ASSERT_EQ(rig.iommu().take_faults(faults), 1u);
    EXPECT_EQ(faults[0].address, 0x2000u);
    EXPECT_EQ(log.count_lines("IO_PAGE_FAULT"), 3u);  // each logged once
}

TEST(AmdDriver, OtherEventsAreLoggedAsErrorsAndNotTakenAsFaults) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    rig.model().log_event(event(amd::EventCode::command_hardware_error, 0, 0, 1u << 9, 0xabc000));
    rig.model().log_event(
        event(amd::EventCode::illegal_device_table_entry, 0x00f8, 0, amd::event_flags::write, 0x5000));
    passthrough::DmaFault faults[4];
    ASSERT_EQ(rig.iommu().take_faults(faults), 1u);
    EXPECT_EQ(faults[0].source, isa_bridge);
    EXPECT_EQ(faults[0].reason, 1);
    EXPECT_TRUE(faults[0].write);
    EXPECT_TRUE(log.contains("amd-vi: error: amd-vi0 at 0xfed80000: COMMAND_HARDWARE_ERROR"));
    EXPECT_TRUE(log.contains("amd-vi: warning: amd-vi0 at 0xfed80000: ILLEGAL_DEV_TABLE_ENTRY device 00:1f.0"));
}

TEST(AmdDriver, AnOverflowedEventLogIsReportedAndRestarted) {
    Rig rig;
    LogCapture log;
    ASSERT_TRUE(rig.initialize().ok());
    for (uint64_t index = 0; index < amd::EventLogBuffer::entry_count + 5; ++index)
        rig.model().log_event(event(amd::EventCode::io_page_fault, edu_id, 1, 0, index << 12));
    EXPECT_NE(rig.model().read_register(amd::Register64::status) & amd::status::event_log_overflow, 0u);
    std::vector<passthrough::DmaFault> faults(300);
    const size_t taken = rig.iommu().take_faults(Span<passthrough::DmaFault>(faults.data(), faults.size()));
    EXPECT_EQ(taken, Iommu::pending_fault_capacity);
    EXPECT_EQ(rig.iommu().faults_lost(), amd::EventLogBuffer::entry_count - 1 - Iommu::pending_fault_capacity);
    EXPECT_TRUE(log.contains("the event log overflowed"));
    EXPECT_EQ(rig.model().read_register(amd::Register64::status) & amd::status::event_log_overflow, 0u);
    EXPECT_NE(rig.model().control() & amd::control::event_log_enable, 0u);
    EXPECT_EQ(rig.iommu().events().head(), 0u);
    // Logging works again.
    rig.model().log_event(event(amd::EventCode::io_page_fault, edu_id, 1, 0, 0x9000));
    ASSERT_EQ(rig.iommu().take_faults(Span<passthrough::DmaFault>(faults.data(), faults.size())), 1u);
    EXPECT_EQ(faults[0].address, 0x9000u);
    EXPECT_TRUE(rig.model().violations().empty()) << rig.model().violations().front();
}

TEST(AmdDriver, AUnitWhoseEventLogStaysEmptySaysSo) {
    Rig rig;
    amd::IommuSettings settings = rig.settings();
    settings.event_log_receives_events = false;
    ASSERT_TRUE(rig.initialize(settings).ok());
    EXPECT_FALSE(rig.iommu().reports_faults());
    // The log is still read: should events appear after all, they are taken.
    rig.model().log_event(event(amd::EventCode::io_page_fault, edu_id, 1, 0, 0x1000));
    passthrough::DmaFault faults[1];
    LogCapture log;
    EXPECT_EQ(rig.iommu().take_faults(faults), 1u);
}

// --- Interrupt remapping (2.2.5) -------------------------------------------------

// edu attached and remapping on: edu has a table, every other device ID
// aborts its interrupts.
void remapping_rig(Rig& rig, std::unique_ptr<passthrough::IommuContext>& domain) {
    ASSERT_TRUE(rig.initialize().ok());
    domain = rig.domain(1);
    ASSERT_TRUE(rig.iommu().attach(*domain, edu, AttachMode::translated).ok());
    ASSERT_TRUE(rig.iommu().enable_translation().ok());
    ASSERT_TRUE(rig.iommu().enable_interrupt_remapping(false).ok());
}

TEST(AmdInterruptRemapping, AnEntryDeliversForItsDeviceOnlyAndOtherIdsAbort) {
    Rig rig;
    std::unique_ptr<passthrough::IommuContext> domain;
    remapping_rig(rig, domain);
    EXPECT_TRUE(rig.iommu().remaps_interrupts());
    // Before any entry: edu's raw MSI (a plain vector) is not delivered.
    EXPECT_FALSE(rig.model().interrupt(edu_id, 0xfee0'0000, 0x41).delivered);
    passthrough::InterruptBatch batch;
    const auto interrupt = batch.allocate(rig.iommu(), edu_id, passthrough::InterruptTarget{0x41, 2});
    ASSERT_TRUE(interrupt.ok());
    ASSERT_TRUE(batch.commit().ok());
    const passthrough::MsiMessage message = rig.iommu().message_for(interrupt.value().index);
    const auto delivered = rig.model().interrupt(edu_id, message.address, message.data);
    ASSERT_TRUE(delivered.delivered);
    EXPECT_EQ(delivered.vector, 0x41);
    EXPECT_EQ(delivered.destination, 2);
    // The same message from the ISA bridge (never attached) and from a
    // device ID no domain holds: aborted.
    EXPECT_FALSE(rig.model().interrupt(0x00f8, message.address, message.data).delivered);
    EXPECT_FALSE(rig.model().interrupt(0x0040, message.address, message.data).delivered);
    // NMI/INIT/SMI/ExtInt delivery modes are never passed.
    EXPECT_FALSE(rig.model().interrupt(edu_id, 0xfee0'0000, 0x400 | message.data).delivered);
    // A device without a table cannot get an entry.
    LogCapture log;
    EXPECT_EQ(batch.allocate(rig.iommu(), 0x00f8, passthrough::InterruptTarget{0x42, 0}).error(), Error::not_found);
    EXPECT_TRUE(log.contains("has no interrupt table"));
    EXPECT_TRUE(rig.model().violations().empty());
}

TEST(AmdInterruptRemapping, AFreedEntryStopsDeliveringOnlyAfterTheTableIsInvalidated) {
    Rig rig;
    std::unique_ptr<passthrough::IommuContext> domain;
    remapping_rig(rig, domain);
    passthrough::InterruptBatch batch;
    const auto interrupt = batch.allocate(rig.iommu(), edu_id, passthrough::InterruptTarget{0x51, 0}).value();
    ASSERT_TRUE(batch.commit().ok());
    const passthrough::MsiMessage message = rig.iommu().message_for(interrupt.index);
    ASSERT_TRUE(rig.model().interrupt(edu_id, message.address, message.data).delivered);  // now cached
    ASSERT_TRUE(batch.free(interrupt).ok());
    EXPECT_TRUE(rig.model().interrupt(edu_id, message.address, message.data).delivered)
        << "the model caches the entry until INVALIDATE_INTERRUPT_TABLE";
    const size_t before = rig.model().count(CommandOpcode::invalidate_interrupt_table);
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(rig.model().count(CommandOpcode::invalidate_interrupt_table), before + 1);
    EXPECT_FALSE(rig.model().interrupt(edu_id, message.address, message.data).delivered);
}

TEST(AmdInterruptRemapping, ManyEntriesOfOneDeviceOneInvalidation) {
    Rig rig;
    std::unique_ptr<passthrough::IommuContext> domain;
    remapping_rig(rig, domain);
    const size_t invalidations = rig.model().count(CommandOpcode::invalidate_interrupt_table);
    const size_t waits = rig.model().count(CommandOpcode::completion_wait);
    passthrough::InterruptBatch batch;
    for (unsigned index = 0; index < 16; ++index)
        ASSERT_TRUE(
            batch.allocate(rig.iommu(), edu_id, passthrough::InterruptTarget{uint8_t(0x60 + index), 0}).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(rig.model().count(CommandOpcode::invalidate_interrupt_table), invalidations + 1);
    EXPECT_EQ(rig.model().count(CommandOpcode::completion_wait), waits + 1);
    for (unsigned index = 0; index < 16; ++index)
        EXPECT_EQ(rig.model().interrupt(edu_id, 0xfee0'0000, index).vector, 0x60 + index);
}

TEST(AmdInterruptRemapping, ReattachingKeepsTheInterruptTable) {
    Rig rig;
    std::unique_ptr<passthrough::IommuContext> domain;
    remapping_rig(rig, domain);
    passthrough::InterruptBatch batch;
    const auto interrupt = batch.allocate(rig.iommu(), edu_id, passthrough::InterruptTarget{0x70, 1}).value();
    ASSERT_TRUE(batch.commit().ok());
    auto other = rig.domain(2);
    ASSERT_TRUE(rig.iommu().attach(*other, edu, AttachMode::translated).ok());
    const passthrough::MsiMessage message = rig.iommu().message_for(interrupt.index);
    EXPECT_EQ(rig.model().interrupt(edu_id, message.address, message.data).vector, 0x70);
}

TEST(AmdInterruptRemapping, X2apicDestinationsAreRefusedWithAReason) {
    Rig rig;
    ASSERT_TRUE(rig.initialize().ok());
    LogCapture log;
    EXPECT_EQ(rig.iommu().enable_interrupt_remapping(true).error(), Error::unsupported);
    EXPECT_TRUE(log.contains("x2APIC destinations need the 128-bit entries"));
    EXPECT_FALSE(rig.iommu().remaps_interrupts());
}

}  // namespace
