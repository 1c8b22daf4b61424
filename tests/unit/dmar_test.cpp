// DMAR parsing (VT-d spec chapter 8): QEMU's real table, RMRR tables, several
// tables accumulating, and every malformed case with its exact warning.
#include <gtest/gtest.h>

#include <drivers/passthrough/vtd/dmar.hpp>
#include <drivers/passthrough/vtd/reserved_regions.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <sluice/log.hpp>
#include <sluice/memory_map.hpp>

#include "support/dmar_builder.hpp"
#include "support/log_capture.hpp"

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using sluice::PhysicalAddress;
using sluice::pci::PciAddress;
using sluice::testing::LogCapture;
using sluice::vtd::DeviceScopeType;
using sluice::vtd::DmarDescription;
using namespace sluice::testing::dmar;

constexpr PhysicalAddress table_address = 0x7ffe0000;
constexpr PhysicalAddress second_table_address = 0x7ffe1000;

// Re-computes the checksum after a test edited a table.
void fix_checksum(Bytes& bytes) {
    bytes[9] = 0;
    uint8_t sum = 0;
    for (uint8_t byte : bytes) sum = static_cast<uint8_t>(sum + byte);
    bytes[9] = static_cast<uint8_t>(-sum);
}

// What QEMU 7.2 builds for -M q35 -device intel-iommu,intremap=on with an edu
// device: HAW 38 (39 bits), INTR_REMAP, one DRHD at 0xfed90000 without
// INCLUDE_PCI_ALL listing each bus-0 function, and the I/O APIC (ID 0) at its
// pseudo source-id ff:00.0.
Bytes qemu_table() {
    return table(38, 0x01,
                 {drhd(0, 0, 0xfed90000,
                       {endpoint(0, 0x00, 0), endpoint(0, 0x01, 0), endpoint(0, 0x1f, 0), endpoint(0, 0x1f, 2),
                        endpoint(0, 0x1f, 3), scope(3, 0xff, {{0, 0}}, 0)})});
}

sluice::Span<const uint8_t> span(const Bytes& bytes) { return {bytes.data(), bytes.size()}; }

std::unique_ptr<DmarDescription> parse(const Bytes& bytes, PhysicalAddress address = table_address,
                                       sluice::vtd::BridgeResolver* resolver = nullptr) {
    auto description = std::make_unique<DmarDescription>();
    EXPECT_TRUE(sluice::vtd::parse_dmar(span(bytes), address, *description, resolver).ok());
    return description;
}

PciAddress pci(uint8_t bus, uint8_t device, uint8_t function, uint16_t segment = 0) {
    return PciAddress{segment, bus, device, function};
}

class FakeBridges final : public sluice::vtd::BridgeResolver {
public:
    void add(PciAddress bridge, uint8_t secondary, uint8_t subordinate) {
        bridges_[bridge.sort_key()] = {secondary, subordinate};
    }
    sluice::Optional<sluice::vtd::BridgeBuses> bridge_buses(uint16_t segment, uint8_t bus, uint8_t device,
                                                            uint8_t function) override {
        ++calls;
        const auto found = bridges_.find(PciAddress{segment, bus, device, function}.sort_key());
        if (found == bridges_.end()) return {};
        return found->second;
    }
    int calls = 0;

private:
    std::map<uint32_t, sluice::vtd::BridgeBuses> bridges_;
};

// --- Good tables ---------------------------------------------------------------

TEST(Dmar, QemuTable) {
    LogCapture log;
    const Bytes bytes = qemu_table();
    const auto description = parse(bytes);
    EXPECT_TRUE(log.lines().empty()) << log.lines().front();

    EXPECT_EQ(description->table_count(), 1u);
    EXPECT_EQ(description->host_address_width(), 39u);
    EXPECT_TRUE(description->interrupt_remapping());
    EXPECT_FALSE(description->x2apic_opt_out());
    EXPECT_FALSE(description->dma_control_opt_in());
    EXPECT_EQ(description->rejected(), 0u);

    ASSERT_EQ(description->units().size(), 1u);
    const auto& unit = description->units()[0];
    EXPECT_EQ(unit.register_base, 0xfed90000u);
    EXPECT_EQ(unit.register_size, 0x1000u);
    EXPECT_EQ(unit.segment, 0u);
    EXPECT_FALSE(unit.include_pci_all);
    EXPECT_EQ(unit.table, table_address);
    EXPECT_EQ(unit.offset, 0x30u);

    const auto scopes = description->scopes(unit.scopes);
    ASSERT_EQ(scopes.size(), 6u);
    const PciAddress expected[] = {pci(0, 0, 0), pci(0, 1, 0), pci(0, 0x1f, 0), pci(0, 0x1f, 2), pci(0, 0x1f, 3)};
    for (size_t index = 0; index < 5; ++index) {
        EXPECT_EQ(scopes[index].type, DeviceScopeType::pci_endpoint);
        EXPECT_TRUE(scopes[index].resolved);
        EXPECT_EQ(scopes[index].device, expected[index]) << index;
        EXPECT_EQ(scopes[index].offset, 0x40u + 8 * index);
    }
    EXPECT_EQ(scopes[5].type, DeviceScopeType::ioapic);
    EXPECT_EQ(scopes[5].enumeration_id, 0u);
    EXPECT_TRUE(scopes[5].resolved);
    EXPECT_EQ(scopes[5].device.requester_id(), 0xff00u);
    EXPECT_TRUE(description->reserved_memory().empty());
}

TEST(Dmar, HeaderFlagsAndWideRegisterSet) {
    const Bytes bytes = table(47, 0x07, {drhd(1, 2, 0xfed00000, {}, 4)});
    const auto description = parse(bytes);
    EXPECT_EQ(description->host_address_width(), 48u);
    EXPECT_TRUE(description->interrupt_remapping());
    EXPECT_TRUE(description->x2apic_opt_out());
    EXPECT_TRUE(description->dma_control_opt_in());
    ASSERT_EQ(description->units().size(), 1u);
    EXPECT_TRUE(description->units()[0].include_pci_all);
    EXPECT_EQ(description->units()[0].segment, 2u);
    EXPECT_EQ(description->units()[0].register_size, 0x10000u);  // 2^4 pages
}

TEST(Dmar, ReservedMemoryRegions) {
    LogCapture log;
    const Bytes bytes =
        table(38, 0x01,
              {drhd(1, 0, 0xfed90000, {}),
               rmrr(0, 0xd5d45000, 0xd5d45fff, {endpoint(0, 0x1d, 0)}),
               rmrr(1, 0x7c000000, 0x7fffffff, {endpoint(0, 0x02, 0), scope(2, 0, {{0x1c, 0}})})});
    const auto description = parse(bytes);
    EXPECT_TRUE(log.lines().empty());
    ASSERT_EQ(description->reserved_memory().size(), 2u);

    const auto& usb = description->reserved_memory()[0];
    EXPECT_EQ(usb.segment, 0u);
    EXPECT_EQ(usb.base, 0xd5d45000u);
    EXPECT_EQ(usb.limit, 0xd5d45fffu);
    EXPECT_EQ(usb.offset, 0x40u);
    ASSERT_EQ(description->scopes(usb.scopes).size(), 1u);
    EXPECT_EQ(description->scopes(usb.scopes)[0].device, pci(0, 0x1d, 0));

    const auto& graphics = description->reserved_memory()[1];
    EXPECT_EQ(graphics.segment, 1u);
    EXPECT_EQ(graphics.limit, 0x7fffffffu);
    const auto scopes = description->scopes(graphics.scopes);
    ASSERT_EQ(scopes.size(), 2u);
    EXPECT_EQ(scopes[0].device, pci(0, 2, 0, 1));
    EXPECT_EQ(scopes[1].type, DeviceScopeType::pci_sub_hierarchy);
    EXPECT_EQ(scopes[1].device, pci(0, 0x1c, 0, 1));
}

TEST(Dmar, SeveralTablesAccumulate) {
    LogCapture log;
    auto description = std::make_unique<DmarDescription>();
    const Bytes first = qemu_table();
    // A second table as -acpitable adds it: an RMRR only, another HAW and flags.
    const Bytes second = table(45, 0x00, {rmrr(0, 0x100000, 0x1fffff, {endpoint(0, 1, 0)})});
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(first), table_address, *description).ok());
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(second), second_table_address, *description).ok());

    EXPECT_EQ(description->table_count(), 2u);
    EXPECT_EQ(description->units().size(), 1u);
    ASSERT_EQ(description->reserved_memory().size(), 1u);
    EXPECT_EQ(description->reserved_memory()[0].table, second_table_address);
    EXPECT_EQ(description->host_address_width(), 39u);
    EXPECT_TRUE(description->interrupt_remapping());
    EXPECT_EQ(description->all_scopes().size(), 7u);
    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe1000: host address width 46 differs from 39 in the DMAR at 0x7ffe0000; "
        "keeping 39",
        "vtd: warning: DMAR at 0x7ffe1000: flags 0x00 differ from 0x01 in the DMAR at 0x7ffe0000; keeping 0x01",
    };
    EXPECT_EQ(log.lines(), expected);

    description->clear();
    EXPECT_EQ(description->table_count(), 0u);
    EXPECT_TRUE(description->units().empty());
    EXPECT_TRUE(description->all_scopes().empty());
}

TEST(Dmar, OtherStructures) {
    LogCapture log;
    const Bytes bytes = table(
        38, 0x01,
        {drhd(1, 0, 0xfed90000, {}), atsr(0, 0, {scope(2, 0, {{0x1c, 0}}), scope(2, 0, {{0x1c, 1}})}),
         atsr(1, 1, {}), rhsa(0xfed90000, 3), andd(7, "\\_SB.PCI0.I2C0"),
         satc(1, 0, {endpoint(0, 5, 0)}), sidp(0, {scope(1, 0, {{6, 0}}, 0, 0x1b), scope(5, 0, {{0x15, 1}}, 7)})});
    const auto description = parse(bytes);
    EXPECT_TRUE(log.lines().empty());

    ASSERT_EQ(description->ats_reporting().size(), 2u);
    EXPECT_FALSE(description->ats_reporting()[0].all_ports);
    const auto ports = description->scopes(description->ats_reporting()[0].scopes);
    ASSERT_EQ(ports.size(), 2u);
    EXPECT_EQ(ports[1].device, pci(0, 0x1c, 1));
    EXPECT_TRUE(description->ats_reporting()[1].all_ports);
    EXPECT_EQ(description->ats_reporting()[1].segment, 1u);

    ASSERT_EQ(description->static_affinity().size(), 1u);
    EXPECT_EQ(description->static_affinity()[0].register_base, 0xfed90000u);
    EXPECT_EQ(description->static_affinity()[0].proximity_domain, 3u);

    ASSERT_EQ(description->namespace_devices().size(), 1u);
    EXPECT_EQ(description->namespace_devices()[0].acpi_device_number, 7u);
    EXPECT_STREQ(description->namespace_devices()[0].name, "\\_SB.PCI0.I2C0");

    ASSERT_EQ(description->translation_cache_reporting().size(), 1u);
    EXPECT_TRUE(description->translation_cache_reporting()[0].atc_required);
    EXPECT_EQ(description->scopes(description->translation_cache_reporting()[0].scopes)[0].device, pci(0, 5, 0));

    ASSERT_EQ(description->device_properties().size(), 1u);
    const auto properties = description->scopes(description->device_properties()[0].scopes);
    ASSERT_EQ(properties.size(), 2u);
    EXPECT_EQ(properties[0].flags, 0x1bu);
    EXPECT_EQ(properties[1].type, DeviceScopeType::acpi_namespace_device);
    EXPECT_EQ(properties[1].enumeration_id, 7u);
    EXPECT_EQ(properties[1].device.requester_id(), 0x00a9u);  // 00:15.1
}

TEST(Dmar, UndefinedStructureTypeIsSkippedByItsLength) {
    LogCapture log;
    const Bytes bytes = table(38, 0, {structure(9, Bytes(8, 0xee)), drhd(1, 0, 0xfed90000, {})});
    const auto description = parse(bytes);
    EXPECT_EQ(description->units().size(), 1u);
    EXPECT_EQ(description->rejected(), 0u);
    const std::vector<std::string> expected = {
        "vtd: DMAR at 0x7ffe0000, offset 0x30: type 9 (12 bytes) is not a VT-d structure type; skipped"};
    EXPECT_EQ(log.lines(), expected);
}

// --- Bridges -------------------------------------------------------------------------

TEST(Dmar, MultiHopPathsWalkBridges) {
    LogCapture log;
    FakeBridges bridges;
    bridges.add(pci(0, 0x1c, 0), 2, 4);  // root port
    bridges.add(pci(2, 0, 0), 3, 4);     // switch below it
    const Bytes bytes = table(38, 0,
                              {drhd(0, 0, 0xfed90000,
                                    {scope(1, 0, {{0x1c, 0}, {0, 0}, {0, 3}}),  // 00:1c.0 -> 02:00.0 -> 03:00.3
                                     scope(1, 0, {{0x1d, 0}, {0, 0}})})})      // no bridge at 00:1d.0
        ;
    const auto description = parse(bytes, table_address, &bridges);
    const auto scopes = description->all_scopes();
    ASSERT_EQ(scopes.size(), 2u);
    EXPECT_TRUE(scopes[0].resolved);
    EXPECT_EQ(scopes[0].device, pci(3, 0, 3));
    EXPECT_FALSE(scopes[1].resolved);
    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x4c: DRHD device scope: no PCI bridge at 0000:00:1d.0 on the "
        "path; left unresolved"};
    EXPECT_EQ(log.lines(), expected);
}

TEST(Dmar, PathsResolveLaterWithoutResolverAtParseTime) {
    LogCapture log;
    const Bytes bytes = table(38, 0, {drhd(0, 3, 0xfed90000, {scope(1, 0x80, {{1, 0}, {0, 1}})})});
    auto description = parse(bytes);
    EXPECT_TRUE(log.lines().empty());
    ASSERT_EQ(description->all_scopes().size(), 1u);
    EXPECT_FALSE(description->all_scopes()[0].resolved);

    FakeBridges bridges;
    EXPECT_EQ(description->resolve_scopes(bridges), 1u);
    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x40: PCI endpoint device scope: no PCI bridge at 0003:80:01.0 on "
        "the path; left unresolved"};
    EXPECT_EQ(log.lines(), expected);

    bridges.add(pci(0x80, 1, 0, 3), 0x81, 0x81);
    EXPECT_EQ(description->resolve_scopes(bridges), 0u);
    EXPECT_EQ(description->all_scopes()[0].device, pci(0x81, 0, 1, 3));
    // Resolved scopes are not asked again.
    const int calls = bridges.calls;
    EXPECT_EQ(description->resolve_scopes(bridges), 0u);
    EXPECT_EQ(bridges.calls, calls);
}

TEST(Dmar, ResolvePathFollowsSpecPseudocode) {
    sluice::vtd::DmarDeviceScope scope;
    scope.start_bus = 0;
    scope.path_length = 2;
    scope.path[0] = {0x1c, 4};
    scope.path[1] = {0, 0};
    EXPECT_FALSE(sluice::vtd::resolve_path(scope, 0, nullptr).has_value());
    FakeBridges bridges;
    bridges.add(pci(0, 0x1c, 4), 5, 5);
    const auto device = sluice::vtd::resolve_path(scope, 0, &bridges);
    ASSERT_TRUE(device.has_value());
    EXPECT_EQ(device.value(), pci(5, 0, 0));
}

// --- Malformed tables: each warning exactly, and the rest kept ------------------------

struct MalformedCase {
    const char* name;
    Bytes bytes;
    std::vector<std::string> warnings;
    size_t units;
    size_t regions;
};

void expect_case(const MalformedCase& test) {
    SCOPED_TRACE(test.name);
    LogCapture log;
    const auto description = parse(test.bytes);
    EXPECT_EQ(log.lines(), test.warnings);
    EXPECT_EQ(description->units().size(), test.units);
    EXPECT_EQ(description->reserved_memory().size(), test.regions);
    EXPECT_EQ(description->rejected(), test.warnings.size());
}

const Bytes good_unit = drhd(1, 0, 0xfed90000, {});                                  // at 0x30, 16 bytes
const Bytes good_region = rmrr(0, 0xd5d45000, 0xd5d45fff, {endpoint(0, 0x1d, 0)});  // 32 bytes

TEST(DmarMalformed, ZeroLengthStructureStopsTheTable) {
    expect_case({"zero length",
                 table(38, 0, {good_unit, drhd(0, 0, 0xfed91000, {}, 0, 0), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x40: DRHD: length 0 is smaller than its 16-byte header; "
                  "rest of the table ignored"},
                 1,
                 0});
}

TEST(DmarMalformed, ShortStructureLength) {
    expect_case({"short",
                 table(38, 0, {good_unit, rmrr(0, 0xd5d45000, 0xd5d45fff, {}, 20), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x40: RMRR: length 20 is smaller than its 24-byte header; "
                  "rest of the table ignored"},
                 1,
                 0});
    expect_case({"shorter than a structure header",
                 table(38, 0, {good_region, structure(7, {}, 2)}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x50: type 7: length 2 is smaller than its 4-byte header; "
                  "rest of the table ignored"},
                 0,
                 1});
}

TEST(DmarMalformed, OversizedStructureLength) {
    expect_case({"oversized",
                 table(38, 0, {good_region, drhd(1, 0, 0xfed90000, {}, 0, 200)}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x50: DRHD: length 200 runs past the end of the table (16 "
                  "bytes left); rest of the table ignored"},
                 0,
                 1});
}

TEST(DmarMalformed, TrailingBytes) {
    Bytes bytes = table(38, 0, {good_unit, Bytes{0, 0, 0}});
    expect_case({"trailing",
                 bytes,
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x40: 3 trailing bytes are too short for a remapping "
                  "structure header; ignored"},
                 1,
                 0});
}

TEST(DmarMalformed, TruncatedDeviceScope) {
    // The RMRR declares 30 bytes: its 24-byte header and a scope of 8 bytes
    // of which only 6 are inside the RMRR.
    Bytes region = rmrr(0, 0xd5d45000, 0xd5d45fff, {endpoint(0, 0x1d, 0)}, 30);
    region.resize(30);
    expect_case({"truncated scope",
                 table(38, 0, {good_unit, region, good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x58: RMRR device scope: length 8 runs past the end of "
                  "the RMRR (6 bytes left); remaining scopes of this RMRR ignored",
                  "vtd: warning: DMAR at 0x7ffe0000, offset 0x40: RMRR: no usable device scope; region ignored"},
                 1,
                 1});
}

TEST(DmarMalformed, PathCountMismatchDropsOnlyThatScope) {
    // Length 9: three path bytes, not a whole number of (device, function) pairs.
    Bytes odd = scope(1, 0, {{0x1a, 0}}, 0, 0, 9);
    odd.push_back(0x55);
    expect_case({"odd path",
                 table(38, 0, {good_unit, rmrr(0, 0xd5d45000, 0xd5d45fff, {odd, endpoint(0, 0x1d, 0)})}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x58: RMRR device scope: path of 3 bytes is not a whole "
                  "number of (device, function) pairs; scope ignored"},
                 1,
                 1});
}

TEST(DmarMalformed, DeviceScopeShorterThanItsHeader) {
    expect_case({"zero-length scope",
                 table(38, 0,
                       {drhd(0, 0, 0xfed90000, {endpoint(0, 1, 0), scope(1, 0, {}, 0, 0, 0), endpoint(0, 2, 0)}),
                        good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x48: DRHD device scope: length 0 is smaller than its "
                  "6-byte header; remaining scopes of this DRHD ignored"},
                 1,
                 1});
}

TEST(DmarMalformed, ScopesWithBadContents) {
    LogCapture log;
    const Bytes bytes = table(
        38, 0,
        {drhd(0, 0, 0xfed90000,
              {scope(1, 0, {}),                 // no path
               scope(6, 0, {{1, 0}}),           // undefined type
               scope(1, 0, {{0x20, 0}}),        // device 0x20
               scope(1, 0, {{1, 8}}),           // function 8
               endpoint(0, 3, 0)}),
         rmrr(0, 0xd5d45000, 0xd5d45fff, {scope(3, 0xff, {{0, 0}}), endpoint(0, 0x1d, 0)}),
         satc(0, 0, {scope(1, 0, {{0x1c, 0}, {0, 0}}), endpoint(0, 5, 0)})});
    const auto description = parse(bytes);
    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x40: DRHD device scope: no path; scope ignored",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x46: DRHD device scope: type 6 is not defined; scope ignored",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x4e: DRHD device scope: hop 1 names device 0x20 function 0x0, "
        "beyond 1f.7; scope ignored",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x56: DRHD device scope: hop 1 names device 0x1 function 0x8, "
        "beyond 1f.7; scope ignored",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x7e: RMRR device scope: I/O APIC scope is not allowed here; "
        "scope ignored",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x96: SATC device scope: path of 2 hops where an integrated device "
        "(one hop) is required; scope ignored",
    };
    EXPECT_EQ(log.lines(), expected);
    ASSERT_EQ(description->units().size(), 1u);
    ASSERT_EQ(description->scopes(description->units()[0].scopes).size(), 1u);
    EXPECT_EQ(description->scopes(description->units()[0].scopes)[0].device, pci(0, 3, 0));
    ASSERT_EQ(description->reserved_memory().size(), 1u);
    EXPECT_EQ(description->scopes(description->reserved_memory()[0].scopes)[0].device, pci(0, 0x1d, 0));
    ASSERT_EQ(description->translation_cache_reporting().size(), 1u);
    EXPECT_EQ(description->scopes(description->translation_cache_reporting()[0].scopes).size(), 1u);
    EXPECT_EQ(description->rejected(), expected.size());
}

TEST(DmarMalformed, PathDeeperThanTheCap) {
    std::vector<std::pair<uint8_t, uint8_t>> path(13, {1, 0});
    expect_case({"deep path",
                 table(38, 0, {drhd(0, 0, 0xfed90000, {scope(1, 0, path), endpoint(0, 2, 0)})}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x40: DRHD device scope: path of 13 hops is deeper than "
                  "12; scope ignored"},
                 1,
                 0});
}

TEST(DmarMalformed, UnitRegisterBase) {
    expect_case({"base 0",
                 table(38, 0, {drhd(1, 0, 0, {}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: DRHD: register base address is 0; unit ignored"},
                 0,
                 1});
    expect_case({"unaligned base",
                 table(38, 0, {drhd(1, 0, 0xfed90800, {}), good_unit}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: DRHD: register base 0xfed90800 is not aligned to "
                  "its 0x1000-byte register set; unit ignored"},
                 1,
                 0});
    expect_case({"base not aligned to a 2-page register set",
                 table(38, 0, {drhd(1, 0, 0xfed91000, {}, 1)}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: DRHD: register base 0xfed91000 is not aligned to "
                  "its 0x2000-byte register set; unit ignored"},
                 0,
                 0});
}

TEST(DmarMalformed, DuplicateUnitAcrossTables) {
    LogCapture log;
    auto description = std::make_unique<DmarDescription>();
    const Bytes first = qemu_table();
    const Bytes second = table(38, 0x01, {drhd(1, 0, 0xfed90000, {})});
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(first), table_address, *description).ok());
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(second), second_table_address, *description).ok());
    EXPECT_EQ(description->units().size(), 1u);
    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe1000, offset 0x30: DRHD: register base 0xfed90000 is already described at offset "
        "0x30 of the DMAR at 0x7ffe0000; unit ignored"};
    EXPECT_EQ(log.lines(), expected);
}

TEST(DmarMalformed, ReservedMemoryBounds) {
    expect_case({"unaligned base",
                 table(38, 0, {rmrr(0, 0xd5d45800, 0xd5d45fff, {endpoint(0, 0x1d, 0)}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: RMRR: base 0xd5d45800 is not 4 KiB aligned; region "
                  "ignored"},
                 0,
                 1});
    expect_case({"limit + 1 unaligned",
                 table(38, 0, {rmrr(0, 0xd5d45000, 0xd5d46000, {endpoint(0, 0x1d, 0)}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: RMRR: limit 0xd5d46000 does not end a 4 KiB page; "
                  "region ignored"},
                 0,
                 1});
    expect_case({"end below base",
                 table(38, 0, {rmrr(0, 0xd5d45000, 0xd5d43fff, {endpoint(0, 0x1d, 0)}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: RMRR: limit 0xd5d43fff is below base 0xd5d45000; "
                  "region ignored"},
                 0,
                 1});
    expect_case({"beyond the host address width",
                 table(38, 0, {rmrr(0, 0x8000000000, 0x8000000fff, {endpoint(0, 0x1d, 0)}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: RMRR: limit 0x8000000fff lies beyond the 39-bit "
                  "host address width; region ignored"},
                 0,
                 1});
    expect_case({"no device",
                 table(38, 0, {rmrr(0, 0xd5d45000, 0xd5d45fff, {}), good_region}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: RMRR: no usable device scope; region ignored"},
                 0,
                 1});
}

TEST(DmarMalformed, NamespaceDeviceNames) {
    expect_case({"unterminated",
                 table(38, 0, {andd(1, "\\_SB.UART", false), good_unit}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: ANDD: ACPI object name is not NUL-terminated; "
                  "ignored"},
                 1,
                 0});
    expect_case({"too long",
                 table(38, 0, {andd(1, std::string(64, 'A')), good_unit}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x30: ANDD: ACPI object name longer than 63 characters; "
                  "ignored"},
                 1,
                 0});
}

TEST(DmarMalformed, Capacity) {
    std::vector<Bytes> units;
    for (uint64_t index = 0; index <= DmarDescription::max_units; ++index)
        units.push_back(drhd(0, 0, 0xfe000000 + index * 0x1000, {}));
    Bytes bytes = table(38, 0, units);
    expect_case({"units",
                 bytes,
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x130: DRHD: more than 16 remapping units; unit ignored"},
                 16,
                 0});

    std::vector<Bytes> scopes;
    for (uint8_t index = 0; index <= DmarDescription::max_scopes_per_structure; ++index)
        scopes.push_back(endpoint(1, index & 0x1f, index >> 5));
    expect_case({"scopes per structure",
                 table(38, 0, {drhd(0, 0, 0xfed90000, scopes)}),
                 {"vtd: warning: DMAR at 0x7ffe0000, offset 0x240: DRHD device scope: more than 64 scopes in one "
                  "DRHD; scope ignored"},
                 1,
                 0});
}

TEST(DmarMalformed, WholeTableRefused) {
    LogCapture log;
    auto description = std::make_unique<DmarDescription>();
    const Bytes good = qemu_table();

    EXPECT_EQ(sluice::vtd::parse_dmar(sluice::Span<const uint8_t>(good.data(), 40), table_address, *description)
                  .error(),
              sluice::Error::malformed);
    Bytes signature = good;
    signature[0] = 'X';
    signature[3] = 0x01;
    EXPECT_FALSE(sluice::vtd::parse_dmar(span(signature), table_address, *description).ok());
    Bytes short_length = good;
    short_length[4] = 47;
    short_length[5] = 0;
    EXPECT_FALSE(sluice::vtd::parse_dmar(span(short_length), table_address, *description).ok());

    const std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe0000: only 40 bytes, shorter than the 48-byte DMAR header; table ignored",
        "vtd: warning: DMAR at 0x7ffe0000: signature is 'XMA?', not 'DMAR'; table ignored",
        "vtd: warning: DMAR at 0x7ffe0000: length 47 is shorter than the 48-byte DMAR header; table ignored",
    };
    EXPECT_EQ(log.lines(), expected);
    EXPECT_EQ(description->table_count(), 0u);
    EXPECT_TRUE(description->units().empty());
}

TEST(DmarMalformed, HeaderProblemsThatStillParse) {
    LogCapture log;
    Bytes bytes = qemu_table();
    bytes[36] = 0;  // HAW 1
    fix_checksum(bytes);
    bytes[9] = static_cast<uint8_t>(bytes[9] - 3);  // the bytes now sum to -3
    auto description = std::make_unique<DmarDescription>();
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(bytes), table_address, *description).ok());
    std::vector<std::string> expected = {
        "vtd: warning: DMAR at 0x7ffe0000: checksum is off by 0xfd; parsed anyway",
        "vtd: warning: DMAR at 0x7ffe0000: host address width 1 is outside 32..64; taken as 64",
    };
    EXPECT_EQ(log.lines(), expected);
    EXPECT_EQ(description->host_address_width(), 64u);
    EXPECT_EQ(description->units().size(), 1u);

    // The header claims 8 bytes more than were given: the last scope (03 08 00
    // 00 00 ff 00 00, summing to 0x0a) is missing, so the DRHD runs past the end.
    log.clear();
    description->clear();
    Bytes truncated = qemu_table();
    truncated.resize(truncated.size() - 8);
    ASSERT_TRUE(sluice::vtd::parse_dmar(span(truncated), table_address, *description).ok());
    expected = {
        "vtd: warning: DMAR at 0x7ffe0000: length 112 exceeds the 104 bytes available; only those are parsed",
        "vtd: warning: DMAR at 0x7ffe0000: checksum is off by 0xf6; parsed anyway",
        "vtd: warning: DMAR at 0x7ffe0000, offset 0x30: DRHD: length 64 runs past the end of the table (56 bytes "
        "left); rest of the table ignored",
    };
    EXPECT_EQ(log.lines(), expected);
    EXPECT_TRUE(description->units().empty());
}

// --- Into the reserved-region list ----------------------------------------------------------

TEST(DmarReservedRegions, RmrrsAndOptionRangesAreCollected) {
    LogCapture log;
    FakeBridges bridges;
    bridges.add(pci(0, 0x1c, 0), 2, 5);
    const Bytes bytes = table(38, 0,
                              {drhd(1, 0, 0xfed90000, {}),
                               rmrr(0, 0xd5d45000, 0xd5d45fff, {endpoint(0, 0x1d, 0)}),
                               rmrr(0, 0xd5d46000, 0xd5d47fff, {scope(2, 0, {{0x1c, 0}})}),
                               rmrr(0, 0x50000, 0x50fff, {endpoint(0, 0x14, 0)})});  // in RAM
    const auto description = parse(bytes, table_address, &bridges);

    sluice::vtd::RmrrOption option;
    class Quiet final : public sluice::cmdline::Reporter {
    public:
        void warn(sluice::StringView, sluice::StringView) override { ADD_FAILURE(); }
    } reporter;
    option.parse("rmrr", "d5d45=0:1a.0", reporter);

    sluice::MemoryMap map;
    ASSERT_TRUE(map.add(0, 0x9f000, sluice::MemoryType::ram).ok());
    ASSERT_TRUE(map.add(0xd5d00000, 0x100000, sluice::MemoryType::reserved).ok());
    map.sanitize();
    auto list = std::make_unique<sluice::passthrough::ReservedRegionList>();
    log.clear();
    const auto collected =
        sluice::vtd::collect_reserved_regions(*description, option, *list, {&map, &sluice::passthrough::check_placement},
                                              &bridges);
    EXPECT_EQ(collected.accepted, 3u);
    EXPECT_EQ(collected.rejected, 1u);

    const auto regions = list->regions();
    ASSERT_EQ(regions.size(), 2u);
    // The RMRR for 00:1d.0 and the rmrr= range for 00:1a.0 are the same page: merged.
    EXPECT_EQ(regions[0].base, 0xd5d45000u);
    EXPECT_EQ(regions[0].end, 0xd5d46000u);
    EXPECT_TRUE(regions[0].devices.contains(pci(0, 0x1d, 0)));
    EXPECT_TRUE(regions[0].devices.contains(pci(0, 0x1a, 0)));
    // The sub-hierarchy covers the bridge and buses 2..5.
    EXPECT_TRUE(regions[1].devices.contains(pci(0, 0x1c, 0)));
    EXPECT_TRUE(regions[1].devices.contains(pci(4, 3, 1)));
    EXPECT_FALSE(regions[1].devices.contains(pci(6, 0, 0)));
    EXPECT_FALSE(regions[1].devices.contains(pci(0, 0x1d, 0)));

    const std::vector<std::string> expected = {
        "iommu: warning: RMRR (DMAR at 0x7ffe0000, offset 0x80) 0x50000-0x50fff for 0000:00:14.0: touches RAM "
        "0x0-0x9efff of the memory map; rejected",
        "iommu: warning: rmrr= range 1 0xd5d45000-0xd5d45fff for 0000:00:1a.0: same range as RMRR (DMAR at "
        "0x7ffe0000, offset 0x40) 0xd5d45000-0xd5d45fff for other devices; merged",
    };
    EXPECT_EQ(log.lines(), expected);
}

}  // namespace
