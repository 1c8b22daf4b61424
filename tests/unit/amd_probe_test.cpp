// amd::probe(): IVRS tables in, units and reserved regions out, against a
// simulated platform (ACPI directory, PCI configuration space, MMIO mapper
// handing out the IOMMU model).
#include "support/advancing_clock.hpp"
#include "support/amd_iommu_model.hpp"
#include "support/amd_ivrs_builder.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <drivers/acpi/table_directory.hpp>
#include <drivers/passthrough/amd/ivmd_option.hpp>
#include <drivers/passthrough/amd/probe.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/enumeration.hpp>
#include <drivers/pci/mmio.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::testing;

constexpr PhysicalAddress arena_base = 0x1000'0000;
constexpr uint64_t arena_pages = 2048;
constexpr PhysicalAddress table_area = arena_base;  // tables in the first 16 pages
constexpr PhysicalAddress allocator_base = arena_base + 16 * page_size;

// Configuration space of the IOMMU function only; everything else is absent.
class IommuConfigurationSpace final : public pci::ConfigurationAccess {
public:
    [[nodiscard]] bool reaches(const pci::PciAddress& address) const override { return address.segment == 0; }
    [[nodiscard]] uint16_t space_size() const override { return 256; }
    [[nodiscard]] const char* name() const override { return "simulated"; }

    std::map<std::pair<uint16_t, uint16_t>, uint32_t> registers;  // (requester ID, offset) -> dword

protected:
    uint32_t read_register(const pci::PciAddress& address, uint16_t offset, pci::AccessWidth width) override {
        const auto found = registers.find({address.requester_id(), static_cast<uint16_t>(offset & ~3)});
        const uint32_t dword = found == registers.end() ? ~0u : found->second;
        const uint32_t value = dword >> (8 * (offset & 3));
        return width == pci::AccessWidth::doubleword ? value
               : width == pci::AccessWidth::word     ? value & 0xffff
                                                     : value & 0xff;
    }
    void write_register(const pci::PciAddress&, uint16_t, pci::AccessWidth, uint32_t) override {}
};

class ModelMapper final : public pci::MmioMapper {
public:
    Result<pci::MmioRegion*> map(PhysicalAddress base, uint64_t size) override {
        requests.emplace_back(base, size);
        const auto found = models.find(base);
        if (found == models.end()) return Error::unsupported;
        return static_cast<pci::MmioRegion*>(found->second.get());
    }
    std::map<PhysicalAddress, std::unique_ptr<AmdIommuModel>> models;
    std::vector<std::pair<PhysicalAddress, uint64_t>> requests;
};

// Each test's machine starts and ends with no ivmd= regions: the option list
// is process-wide, and the probe adds whatever it holds.
class Platform {
public:
    Platform() : memory_(arena_base, arena_pages * page_size), allocator_(memory_, allocator_base, arena_pages - 16) {
        amd::clear_ivmd_option_regions();
        // 00:01.0 1022:0008, the IOMMU capability at 0x40 with NpCache.
        configuration_.registers[{0x0008, 0x00}] = 0x0008'1022;
        configuration_.registers[{0x0008, 0x40}] = 0x0f | 3u << 16 | 1u << 26;
        (void)memory_map_.add(0, 0xa0000, MemoryType::ram);
        (void)memory_map_.add(0x10'0000, 0x1fe0'0000, MemoryType::ram);
        (void)memory_map_.add(0x1ffe'0000, 0x2'0000, MemoryType::reserved);
        (void)memory_map_.add(0xfffc'0000, 0x4'0000, MemoryType::reserved);
        memory_map_.sanitize();
    }

    ~Platform() { amd::clear_ivmd_option_regions(); }
    Platform(const Platform&) = delete;
    Platform& operator=(const Platform&) = delete;

    void add_iommu(PhysicalAddress base, AmdIommuModel::Options options = {}) {
        mapper_.models[base] = std::make_unique<AmdIommuModel>(memory_, options);
    }
    // Places a table in simulated memory and lists it in the ACPI directory.
    void add_table(const std::vector<uint8_t>& bytes) {
        const PhysicalAddress address = table_area + next_table_offset_;
        ASSERT_TRUE(memory_.write_bytes(address, bytes.data(), bytes.size()).ok());
        acpi::TableDescription description;
        description.signature = acpi::Signature("IVRS");
        description.address = address;
        description.length = static_cast<uint32_t>(bytes.size());
        description.revision = bytes[8];
        std::memcpy(description.oem_id, &bytes[10], 6);
        ASSERT_TRUE(tables_.add(description).ok());
        next_table_offset_ += align_up(bytes.size(), 64);
    }

    Status probe() {
        const passthrough::Platform platform{tables_,      memory_map_, devices_, configuration_, mapper_,
                                             memory_,      allocator_,  clock_,   options_};
        return amd::probe(platform, registry, regions);
    }

    AmdIommuModel& model(PhysicalAddress base = 0xfed80000) { return *mapper_.models.at(base); }
    IommuConfigurationSpace& configuration() { return configuration_; }
    ModelMapper& mapper() { return mapper_; }
    passthrough::IommuOptions& options() { return options_; }

    passthrough::UnitRegistry registry;
    passthrough::ReservedRegionList regions;

private:
    SimulatedMemory memory_;
    SimulatedPageAllocator allocator_;
    AdvancingClock clock_;
    acpi::TableDirectory tables_;
    MemoryMap memory_map_;
    pci::DeviceList devices_;
    IommuConfigurationSpace configuration_;
    ModelMapper mapper_;
    passthrough::IommuOptions options_;
    uint64_t next_table_offset_ = 0;
};

TEST(AmdProbe, BringsUpQemusIommuAndKnowsItsEventLogStaysEmpty) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.add_table(qemu_ivrs(true));
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    ASSERT_EQ(platform.registry.units().size(), 1u);
    passthrough::IommuUnit& unit = *platform.registry.units()[0];
    EXPECT_STREQ(unit.name(), "amd-vi0 at 0xfed80000");
    EXPECT_FALSE(unit.reports_faults());
    EXPECT_TRUE(unit.invalidation_capabilities().caches_not_present);
    EXPECT_EQ(platform.registry.unit_for(pci::PciAddress{0, 0, 2, 0}), &unit);
    EXPECT_EQ(platform.registry.unit_for(pci::PciAddress{0, 0, 9, 0}), nullptr);
    ASSERT_EQ(amd::probed_units().size(), 1u);
    EXPECT_EQ(amd::probed_units()[0]->state(), amd::IommuState::running);
    EXPECT_TRUE(platform.model().translation_enabled());
    EXPECT_EQ(platform.mapper().requests.front(), (std::pair<PhysicalAddress, uint64_t>{0xfed80000, 16 * KiB}));
    EXPECT_TRUE(log.contains("amd-vi: IVRS at 0x10000000: revision 1, IVinfo 0x00002800, 1 IOMMUs, 0 IVMDs"));
    EXPECT_TRUE(log.contains("QEMU's emulated IOMMU (PCI 1022:0008, IVRS OEM BOCHS)"));
    EXPECT_TRUE(log.problems().empty()) << log.problems().front();
    EXPECT_EQ(platform.regions.size(), 0u);
}

TEST(AmdProbe, ARealUnitReportsFaultsAndItsNpCacheBitCounts) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.configuration().registers[{0x0008, 0x00}] = 0x1451'1022;
    platform.configuration().registers[{0x0008, 0x40}] = 0x0f | 3u << 16;  // no NpCache
    IvrsBuilder builder(40u << 8, "ALASKA");
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0008, 0xfed80000);
    builder.range(0x0000, 0x00ff);
    builder.end_block(block);
    platform.add_table(builder.bytes());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    passthrough::IommuUnit& unit = *platform.registry.units()[0];
    EXPECT_TRUE(unit.reports_faults());
    EXPECT_FALSE(unit.invalidation_capabilities().caches_not_present);
    EXPECT_FALSE(log.contains("QEMU"));
}

TEST(AmdProbe, AMissingCapabilityMeansAssumingNpCache) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.configuration().registers.erase({0x0008, 0x40});
    platform.add_table(qemu_ivrs());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    EXPECT_TRUE(platform.registry.units()[0]->invalidation_capabilities().caches_not_present);
    EXPECT_TRUE(log.contains("no IOMMU capability at offset 0x40 of 0000:00:01.0"));
}

TEST(AmdProbe, IvmdsOfAnExtraTableBecomeReservedRegions) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.add_table(qemu_ivrs());
    IvrsBuilder extra(0, "SLUICE");
    extra.ivmd(0x20, 0x7, 0, 0, 0x1ffe'0000, 0x1000);        // all devices, unity read/write
    extra.ivmd(0x21, 0x3, 0x0010, 0, 0x1ffe'1000, 0x2000);   // 00:02.0 only, read-only
    extra.ivmd(0x22, 0x7, 0x00f8, 0x00fb, 0xfffc'0000, 0x1000);  // 00:1f.0-00:1f.3
    extra.ivmd(0x20, 0x7, 0, 0, 0x0100'0000, 0x1000);         // RAM: refused
    platform.add_table(extra.bytes());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    EXPECT_EQ(platform.registry.units().size(), 1u);
    ASSERT_EQ(platform.regions.size(), 3u);
    const auto regions = platform.regions.regions();
    EXPECT_EQ(regions[0].base, 0x1ffe'0000u);
    EXPECT_EQ(regions[0].access, paging::Access::read_write);
    EXPECT_EQ(regions[0].source, passthrough::ReservedRegionSource::acpi_ivmd);
    EXPECT_EQ(regions[1].base, 0x1ffe'1000u);
    EXPECT_EQ(regions[1].end, 0x1ffe'3000u);
    EXPECT_EQ(regions[1].access, paging::Access::read);
    EXPECT_EQ(regions[2].base, 0xfffc'0000u);
    EXPECT_TRUE(log.contains("0 IOMMUs, 4 IVMDs"));
    ASSERT_EQ(log.problems().size(), 1u);
    EXPECT_NE(log.problems()[0].find("0x1000000"), std::string::npos) << log.problems()[0];
}

TEST(AmdProbe, IommusDescribedAgainInALaterTableAreIgnored) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.add_table(qemu_ivrs());
    IvrsBuilder again(40u << 8, "OTHER ");
    const size_t block = again.begin_ivhd(0x10, 0, 0x0010, 0xfeb80000);
    again.select(0x0010);
    again.end_block(block);
    platform.add_table(again.bytes());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    EXPECT_EQ(platform.registry.units().size(), 1u);
    EXPECT_EQ(platform.registry.units()[0]->register_base(), 0xfed80000u);
    EXPECT_TRUE(log.contains("describes IOMMUs again; its IVHD blocks are ignored"));
}

TEST(AmdProbe, MalformedBlocksAreDroppedAndTheRestIsUsed) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.add_table(qemu_ivrs());
    IvrsBuilder broken(0, "SLUICE");
    broken.ivmd(0x21, 0x2, 0x0010, 0, 0x1ffe'0800, 0x1000);  // not page aligned
    broken.ivmd(0x20, 0x7, 0, 0, 0xfffc'0000, 0x1000);
    broken.append(0x20, 1);  // a block whose length runs past the table
    broken.append(0, 1);
    broken.append(0x40, 2);
    platform.add_table(broken.bytes());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    EXPECT_EQ(platform.regions.size(), 1u);
    EXPECT_EQ(log.problems().size(), 2u);
}

TEST(AmdProbe, NoIvrsMeansNoAmdIommu) {
    Platform platform;
    LogCapture log;
    EXPECT_EQ(platform.probe().error(), Error::not_found);
    EXPECT_TRUE(platform.registry.units().empty());
    EXPECT_TRUE(amd::probed_units().empty());
    EXPECT_EQ(amd::page_table_format(true).error(), Error::not_found);
    EXPECT_TRUE(log.problems().empty());
}

TEST(AmdProbe, AnIvrsWithoutIommusSaysSo) {
    Platform platform;
    IvrsBuilder only_memory(0, "SLUICE");
    only_memory.ivmd(0x20, 0x7, 0, 0, 0x1ffe'0000, 0x1000);
    platform.add_table(only_memory.bytes());
    LogCapture log;
    EXPECT_EQ(platform.probe().error(), Error::not_found);
    EXPECT_TRUE(log.contains("no IVRS table describes an IOMMU"));
}

TEST(AmdProbe, AUnitWhoseRegistersCannotBeMappedIsRegisteredAsFailed) {
    Platform platform;  // no model at 0xfed80000
    platform.add_table(qemu_ivrs());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    ASSERT_EQ(platform.registry.units().size(), 1u);
    passthrough::IommuUnit& unit = *platform.registry.units()[0];
    EXPECT_TRUE(unit.failed());
    // It still names the devices it leaves unprotected.
    EXPECT_EQ(platform.registry.unit_for(pci::PciAddress{0, 0, 2, 0}), &unit);
    EXPECT_TRUE(log.contains("amd-vi0 at 0xfed80000: its registers cannot be mapped"));
    EXPECT_TRUE(log.contains("amd-vi0 at 0xfed80000: not usable (hardware failure); the devices behind it are not "
                             "protected"));
    passthrough::IommuConfiguration configuration;
    EXPECT_EQ(amd::configure_domain(platform.options(), configuration).error(), Error::not_found);
}

TEST(AmdProbe, AUnitThatNeverAnswersIsFencedAndTheOthersWork) {
    Platform platform;
    AmdIommuModel::Options silent;
    silent.stores_completions = false;
    platform.add_iommu(0xfed80000, silent);
    platform.add_iommu(0xfeb80000);
    platform.configuration().registers[{0x0208, 0x00}] = 0x1451'1022;
    IvrsBuilder builder(40u << 8, "ALASKA");
    size_t block = builder.begin_ivhd(0x10, 0, 0x0008, 0xfed80000);
    builder.range(0x0000, 0x00ff);
    builder.end_block(block);
    block = builder.begin_ivhd(0x10, 0, 0x0208, 0xfeb80000);
    builder.range(0x0200, 0x02ff);
    builder.end_block(block);
    platform.add_table(builder.bytes());
    LogCapture log;
    ASSERT_TRUE(platform.probe().ok());
    ASSERT_EQ(platform.registry.units().size(), 2u);
    EXPECT_TRUE(platform.registry.units()[0]->failed());
    EXPECT_FALSE(platform.registry.units()[1]->failed());
    EXPECT_TRUE(log.contains("amd-vi0 at 0xfed80000: not usable (timed out)"));
    EXPECT_FALSE(platform.model(0xfed80000).translation_enabled());
    EXPECT_TRUE(platform.registry.units()[0]->failed());
    EXPECT_EQ(platform.registry.unit_for(pci::PciAddress{0, 2, 2, 0}), platform.registry.units()[1]);
    // The domain's format only needs the working unit.
    passthrough::IommuConfiguration configuration;
    ASSERT_TRUE(amd::configure_domain(platform.options(), configuration).ok());
    EXPECT_EQ(configuration.iommu, passthrough::IommuTableKind::amd_v1);
}

TEST(AmdProbe, PageTableFormatFollowsIvinfoAndHats) {
    Platform platform;
    platform.add_iommu(0xfed80000);
    platform.add_table(qemu_ivrs());
    ASSERT_TRUE(platform.probe().ok());
    const Result<passthrough::AmdV1Format> format = amd::page_table_format(true);
    ASSERT_TRUE(format.ok());
    EXPECT_EQ(format.value().levels(), 4u);  // VAsize 0 -> 48 bits, PAsize 40
    EXPECT_EQ(format.value().last_input(), (uint64_t{1} << 48) - 1);
    EXPECT_TRUE(format.value().leaf_allowed(3));
    EXPECT_FALSE(amd::page_table_format(false).value().leaf_allowed(2));

    passthrough::IommuConfiguration configuration;
    platform.options().superpages = false;
    ASSERT_TRUE(amd::configure_domain(platform.options(), configuration).ok());
    EXPECT_EQ(configuration.iommu, passthrough::IommuTableKind::amd_v1);
    EXPECT_EQ(configuration.amd.levels(), 4u);
    EXPECT_FALSE(configuration.amd.leaf_allowed(2));

    // VAsize 64 with HATS 0 (4 levels): the width shrinks to what 4 levels reach.
    Platform narrow;
    AmdIommuModel::Options options;
    options.extended_features &= ~(uint64_t{3} << 10);
    narrow.add_iommu(0xfed80000, options);
    IvrsBuilder builder(40u << 8 | 64u << 15);
    const size_t block = builder.begin_ivhd(0x10, 0, 0x0008, 0xfed80000);
    builder.select(0x0010);
    builder.end_block(block);
    narrow.add_table(builder.bytes());
    ASSERT_TRUE(narrow.probe().ok());
    EXPECT_EQ(amd::page_table_format(true).value().levels(), 4u);
    EXPECT_EQ(amd::page_table_format(true).value().last_input(), (uint64_t{1} << 48) - 1);
}

TEST(AmdProbe, RecognisesOnlyQemusEmulatedIommu) {
    const char bochs[6] = {'B', 'O', 'C', 'H', 'S', ' '};
    const char alaska[6] = {'A', 'L', 'A', 'S', 'K', 'A'};
    EXPECT_TRUE(amd::is_emulated_iommu(bochs, 0x1022, 0x0008, 0x0008));
    EXPECT_TRUE(amd::is_emulated_iommu(bochs, 0x1022, 0x0018, 0x0018));
    EXPECT_FALSE(amd::is_emulated_iommu(bochs, 0x1022, 0x1451, 0x0002));
    EXPECT_FALSE(amd::is_emulated_iommu(bochs, 0x1022, 0x0008, 0x0018));
    EXPECT_FALSE(amd::is_emulated_iommu(bochs, 0x8086, 0x0008, 0x0008));
    EXPECT_FALSE(amd::is_emulated_iommu(alaska, 0x1022, 0x0008, 0x0008));
}

}  // namespace
