#include <gtest/gtest.h>

#include <drivers/acpi/mcfg.hpp>
#include <drivers/acpi/root_pointer.hpp>
#include <drivers/acpi/table_directory.hpp>
#include <drivers/acpi/table_reader.hpp>
#include <drivers/acpi/tables.hpp>

#include <sluice/log.hpp>

#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <cstring>
#include <string>
#include <vector>

namespace {

using sluice::Error;
using sluice::PhysicalAddress;
using sluice::Span;
using sluice::acpi::Signature;
using sluice::acpi::TableDescription;
using sluice::acpi::TableDirectory;
using sluice::testing::LogCapture;
using sluice::testing::SimulatedMemory;

using Bytes = std::vector<uint8_t>;

void put16(Bytes& bytes, size_t offset, uint16_t value) { std::memcpy(bytes.data() + offset, &value, sizeof value); }
void put32(Bytes& bytes, size_t offset, uint32_t value) { std::memcpy(bytes.data() + offset, &value, sizeof value); }
void put64(Bytes& bytes, size_t offset, uint64_t value) { std::memcpy(bytes.data() + offset, &value, sizeof value); }

// Sets bytes[checksum_offset] so that bytes[0, length) sums to zero.
void fix_checksum(Bytes& bytes, size_t checksum_offset, size_t length) {
    bytes[checksum_offset] = 0;
    uint8_t sum = 0;
    for (size_t index = 0; index < length; ++index) sum = static_cast<uint8_t>(sum + bytes[index]);
    bytes[checksum_offset] = static_cast<uint8_t>(-sum);
}

// A table with a valid header (OEM "BOCHS ") and checksum around body.
Bytes make_table(const char (&signature)[5], const Bytes& body, uint8_t revision = 1) {
    Bytes table(36 + body.size(), 0);
    std::memcpy(table.data(), signature, 4);
    put32(table, 4, static_cast<uint32_t>(table.size()));
    table[8] = revision;
    std::memcpy(table.data() + 10, "BOCHS ", 6);
    std::memcpy(table.data() + 16, "BXPC    ", 8);
    put32(table, 24, 1);
    std::memcpy(table.data() + 28, "BXPC", 4);
    put32(table, 32, 1);
    std::copy(body.begin(), body.end(), table.begin() + 36);
    fix_checksum(table, 9, table.size());
    return table;
}

Bytes make_rsdt(const std::vector<uint32_t>& entries) {
    Bytes body(entries.size() * 4);
    for (size_t index = 0; index < entries.size(); ++index) put32(body, index * 4, entries[index]);
    return make_table("RSDT", body);
}

Bytes make_xsdt(const std::vector<uint64_t>& entries) {
    Bytes body(entries.size() * 8);
    for (size_t index = 0; index < entries.size(); ++index) put64(body, index * 8, entries[index]);
    return make_table("XSDT", body);
}

Bytes make_rsdp_version1(uint32_t rsdt) {
    Bytes rsdp(20, 0);
    std::memcpy(rsdp.data(), "RSD PTR ", 8);
    std::memcpy(rsdp.data() + 9, "BOCHS ", 6);
    rsdp[15] = 0;
    put32(rsdp, 16, rsdt);
    fix_checksum(rsdp, 8, 20);
    return rsdp;
}

Bytes make_rsdp_version2(uint32_t rsdt, uint64_t xsdt) {
    Bytes rsdp(36, 0);
    std::memcpy(rsdp.data(), "RSD PTR ", 8);
    std::memcpy(rsdp.data() + 9, "BOCHS ", 6);
    rsdp[15] = 2;
    put32(rsdp, 16, rsdt);
    put32(rsdp, 20, 36);
    put64(rsdp, 24, xsdt);
    fix_checksum(rsdp, 8, 20);
    fix_checksum(rsdp, 32, 36);
    return rsdp;
}

// A machine with 2 MiB of memory at 0, so the BIOS areas exist.
class Machine {
public:
    Machine() : memory(0, 2 * sluice::MiB) {}

    void place(PhysicalAddress address, const Bytes& bytes) {
        ASSERT_TRUE(memory.write_bytes(address, bytes.data(), bytes.size()).ok());
    }
    sluice::Result<TableDirectory> discover_at(PhysicalAddress rsdp) {
        return sluice::acpi::discover(memory, sluice::acpi::RsdpSource::at(rsdp));
    }

    SimulatedMemory memory;
};

constexpr PhysicalAddress rsdp_address = 0xf5a60;
constexpr PhysicalAddress rsdt_address = 0x10000;
constexpr PhysicalAddress xsdt_address = 0x11000;

std::vector<std::string> signatures_of(const TableDirectory& directory) {
    std::vector<std::string> signatures;
    for (const TableDescription& table : directory.tables())
        signatures.emplace_back(table.signature.characters, 4);
    return signatures;
}

// --- RSDP ------------------------------------------------------------------

TEST(AcpiRootPointer, Revision0FromMemory) {
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(0x12345678));
    const auto root = sluice::acpi::read_root_pointer(machine.memory, rsdp_address);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().address, rsdp_address);
    EXPECT_FALSE(root.value().from_copy);
    EXPECT_EQ(root.value().revision, 0);
    EXPECT_EQ(root.value().length, 20u);
    EXPECT_EQ(root.value().rsdt_address, 0x12345678u);
    EXPECT_EQ(root.value().xsdt_address, 0u);
    EXPECT_EQ(std::string(root.value().oem_id, 6), "BOCHS ");
}

TEST(AcpiRootPointer, Revision2FromBootLoaderCopy) {
    const Bytes rsdp = make_rsdp_version2(0x1000, 0x123456789000);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_TRUE(root.ok());
    EXPECT_TRUE(root.value().from_copy);
    EXPECT_EQ(root.value().revision, 2);
    EXPECT_EQ(root.value().length, 36u);
    EXPECT_EQ(root.value().rsdt_address, 0x1000u);
    EXPECT_EQ(root.value().xsdt_address, 0x123456789000u);
}

TEST(AcpiRootPointer, BadChecksumIsRejected) {
    LogCapture log;
    Bytes rsdp = make_rsdp_version1(0x1000);
    rsdp[16] ^= 0x40;  // the RSDT address changes, the checksum does not
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::malformed);
    EXPECT_EQ(log.count_warnings({"RSDP (boot loader copy)", "checksum of the first 20 bytes"}), 1u) << log.all();
}

TEST(AcpiRootPointer, BadSignatureIsRejected) {
    LogCapture log;
    Machine machine;
    Bytes rsdp = make_rsdp_version1(0x1000);
    rsdp[0] = 'X';
    fix_checksum(rsdp, 8, 20);
    machine.place(rsdp_address, rsdp);
    const auto root = sluice::acpi::read_root_pointer(machine.memory, rsdp_address);
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(log.count_warnings({"RSDP at 0x00000000000f5a60", "signature"}), 1u) << log.all();
}

TEST(AcpiRootPointer, BadExtendedChecksumKeepsOnlyTheRsdt) {
    LogCapture log;
    Bytes rsdp = make_rsdp_version2(0x1000, 0x2000);
    rsdp[24] ^= 0x01;  // XSDT address changes; the 20-byte checksum still holds
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().rsdt_address, 0x1000u);
    EXPECT_EQ(root.value().xsdt_address, 0u);
    EXPECT_EQ(log.count_warnings({"extended checksum", "using the RSDT only"}), 1u) << log.all();
}

TEST(AcpiRootPointer, Revision2WithShortLengthKeepsOnlyTheRsdt) {
    LogCapture log;
    Bytes rsdp = make_rsdp_version2(0x1000, 0x2000);
    put32(rsdp, 20, 20);
    fix_checksum(rsdp, 32, 36);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().xsdt_address, 0u);
    EXPECT_EQ(log.count_warnings({"length 20 is outside 36-4096"}), 1u) << log.all();
}

TEST(AcpiRootPointer, Revision2CopyCutShortKeepsOnlyTheRsdt) {
    LogCapture log;
    const Bytes rsdp = make_rsdp_version2(0x1000, 0x2000);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), 24));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().xsdt_address, 0u);
    EXPECT_EQ(log.count_warnings({"36 bytes are not all readable"}), 1u) << log.all();
}

TEST(AcpiRootPointer, TooShortCopyIsOutOfRange) {
    LogCapture log;
    const Bytes rsdp = make_rsdp_version1(0x1000);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), 19));
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::out_of_range);
}

TEST(AcpiRootPointer, RevisionOneIsTreatedAsAcpi10) {
    LogCapture log;
    Bytes rsdp = make_rsdp_version2(0x1000, 0x2000);
    rsdp[15] = 1;
    fix_checksum(rsdp, 8, 20);
    fix_checksum(rsdp, 32, 36);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().xsdt_address, 0u);
    EXPECT_EQ(log.count_warnings({"revision 1 is not defined"}), 1u) << log.all();
}

TEST(AcpiRootPointer, NamingNoTableIsMalformed) {
    LogCapture log;
    const Bytes rsdp = make_rsdp_version1(0);
    const auto root = sluice::acpi::validate_root_pointer(Span<const uint8_t>(rsdp.data(), rsdp.size()));
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::malformed);
    EXPECT_EQ(log.count_warnings({"names neither"}), 1u) << log.all();
}

TEST(AcpiRootPointer, OutsideMemoryIsOutOfRange) {
    LogCapture log;
    Machine machine;
    const auto root = sluice::acpi::read_root_pointer(machine.memory, 2 * sluice::MiB - 8);
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::out_of_range);
    const auto wrapping = sluice::acpi::read_root_pointer(machine.memory, ~uint64_t{0} - 4);
    ASSERT_FALSE(wrapping.ok());
}

TEST(AcpiRootPointer, ScanFindsTheRsdpInTheBiosArea) {
    LogCapture log;
    Machine machine;
    // A stray signature with a bad checksum comes first and is passed over;
    // one that is not on a 16-byte boundary is never looked at.
    Bytes stray = make_rsdp_version1(0x1000);
    stray[8] ^= 1;
    machine.place(0xe1000, stray);
    machine.place(0xe2008, make_rsdp_version1(0x3000));
    machine.place(rsdp_address, make_rsdp_version1(0x2000));
    const auto root = sluice::acpi::scan_for_root_pointer(machine.memory);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().address, rsdp_address);
    EXPECT_EQ(root.value().rsdt_address, 0x2000u);
    EXPECT_EQ(log.count_warnings({"RSDP at 0x00000000000e1000", "checksum"}), 1u) << log.all();
}

TEST(AcpiRootPointer, ScanLooksInTheExtendedBiosDataAreaFirst) {
    Machine machine;
    const Bytes segment = {0xc0, 0x9f};  // EBDA at 0x9fc00
    machine.place(0x40e, segment);
    machine.place(0x9fc00 + 0x40, make_rsdp_version1(0x4000));
    machine.place(rsdp_address, make_rsdp_version1(0x2000));
    const auto root = sluice::acpi::scan_for_root_pointer(machine.memory);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(root.value().address, 0x9fc40u);
    EXPECT_EQ(root.value().rsdt_address, 0x4000u);
}

TEST(AcpiRootPointer, ScanOnlySearchesTheFirstKibOfTheEbda) {
    Machine machine;
    const Bytes segment = {0xc0, 0x9f};
    machine.place(0x40e, segment);
    machine.place(0x9fc00 + 0x400, make_rsdp_version1(0x4000));
    LogCapture log;
    const auto root = sluice::acpi::scan_for_root_pointer(machine.memory);
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::not_found);
    EXPECT_EQ(log.count_warnings({"no valid RSDP"}), 1u);
}

TEST(AcpiRootPointer, ScanOfAMachineWithoutBiosAreasFindsNothing) {
    SimulatedMemory memory(0x100000, sluice::MiB);
    LogCapture log;
    const auto root = sluice::acpi::scan_for_root_pointer(memory);
    ASSERT_FALSE(root.ok());
    EXPECT_EQ(root.error(), Error::not_found);
}

// --- Table walk --------------------------------------------------------------

TEST(AcpiDirectory, WalksTheRsdtOfARevision0Rsdp) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000, 0x21000}));
    machine.place(0x20000, make_table("APIC", Bytes(8, 1), 3));
    machine.place(0x21000, make_table("DMAR", Bytes(12, 2)));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "APIC", "DMAR"}));
    const auto apic = directory.value().find_first(Signature("APIC"));
    ASSERT_TRUE(apic.has_value());
    EXPECT_EQ(apic.value().address, 0x20000u);
    EXPECT_EQ(apic.value().length, 44u);
    EXPECT_EQ(apic.value().revision, 3);
    EXPECT_EQ(directory.value().root_pointer().address, rsdp_address);
    EXPECT_TRUE(log.warnings().empty()) << log.all();
    EXPECT_TRUE(log.has_line("acpi: RSDP 0x00000000000f5a60 length 20 rev 0 (BOCHS )")) << log.all();
    EXPECT_TRUE(log.has_line("acpi: RSDT 0x0000000000010000 length 44 rev 1 (BOCHS )")) << log.all();
    EXPECT_TRUE(log.has_line("acpi: APIC 0x0000000000020000 length 44 rev 3 (BOCHS )")) << log.all();
    EXPECT_TRUE(log.has_line("acpi: DMAR 0x0000000000021000 length 48 rev 1 (BOCHS )")) << log.all();
}

TEST(AcpiDirectory, PrefersTheXsdt) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version2(rsdt_address, xsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    machine.place(xsdt_address, make_xsdt({0x21000}));
    machine.place(0x20000, make_table("OLDT", {}));
    machine.place(0x21000, make_table("NEWT", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"XSDT", "NEWT"}));
    EXPECT_TRUE(log.warnings().empty()) << log.all();
}

TEST(AcpiDirectory, FallsBackToTheRsdtWhenTheXsdtIsBad) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version2(rsdt_address, xsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    Bytes xsdt = make_xsdt({0x21000});
    xsdt[40] ^= 0xff;  // corrupts the entry without fixing the checksum
    machine.place(xsdt_address, xsdt);
    machine.place(0x20000, make_table("OLDT", {}));
    machine.place(0x21000, make_table("NEWT", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "OLDT"}));
    EXPECT_EQ(log.count_warnings({"XSDT at 0x0000000000011000", "checksum mismatch"}), 1u) << log.all();
    EXPECT_EQ(log.count_warnings({"falling back to the RSDT at 0x0000000000010000"}), 1u) << log.all();
}

TEST(AcpiDirectory, FallsBackToTheRsdtWhenTheXsdtAddressHoldsAnotherTable) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version2(rsdt_address, xsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    machine.place(xsdt_address, make_table("FACS", {}));
    machine.place(0x20000, make_table("OLDT", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "OLDT"}));
    EXPECT_EQ(log.count_warnings({"FACS at 0x0000000000011000", "expected XSDT"}), 1u) << log.all();
}

TEST(AcpiDirectory, FailsWhenNoRootTableIsUsable) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    Bytes rsdt = make_rsdt({0x20000});
    rsdt[9] ^= 1;
    machine.place(rsdt_address, rsdt);
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_FALSE(directory.ok());
    EXPECT_EQ(directory.error(), Error::malformed);
    EXPECT_EQ(log.count_warnings({"RSDT at 0x0000000000010000", "checksum mismatch"}), 1u) << log.all();
}

TEST(AcpiDirectory, FindsEveryTableWithOneSignature) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000, 0x21000, 0x22000}));
    machine.place(0x20000, make_table("DMAR", Bytes(12, 0)));
    machine.place(0x21000, make_table("APIC", {}));
    machine.place(0x22000, make_table("DMAR", Bytes(40, 0)));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    std::vector<PhysicalAddress> found;
    for (const TableDescription& table : directory.value().find_all(Signature("DMAR"))) found.push_back(table.address);
    EXPECT_EQ(found, (std::vector<PhysicalAddress>{0x20000, 0x22000}));
    EXPECT_EQ(directory.value().find_all(Signature("DMAR")).count(), 2u);
    EXPECT_EQ(directory.value().find_all(Signature("IVRS")).count(), 0u);
    EXPECT_EQ(directory.value().find_first(Signature("DMAR")).value().address, 0x20000u);
    EXPECT_FALSE(directory.value().find_first(Signature("IVRS")).has_value());
}

// Builds an RSDT listing a good table, then `bad` at 0x21000, then another good table.
struct BadTableCase {
    Machine machine;
    LogCapture log;

    sluice::Result<TableDirectory> run(const Bytes& bad, PhysicalAddress bad_address = 0x21000) {
        machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
        machine.place(rsdt_address, make_rsdt({0x20000, static_cast<uint32_t>(bad_address), 0x22000}));
        machine.place(0x20000, make_table("GOOD", {}));
        if (!bad.empty()) machine.place(bad_address, bad);
        machine.place(0x22000, make_table("LAST", {}));
        return machine.discover_at(rsdp_address);
    }
    void expect_survivors(const sluice::Result<TableDirectory>& directory) {
        ASSERT_TRUE(directory.ok()) << log.all();
        EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "GOOD", "LAST"}));
    }
};

TEST(AcpiDirectory, SkipsATableWithABadChecksum) {
    BadTableCase test;
    Bytes bad = make_table("DMAR", Bytes(12, 0));
    bad[40] = 0x55;
    const auto directory = test.run(bad);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"DMAR at 0x0000000000021000 (RSDT entry 1)", "checksum mismatch",
                                       "skipped"}),
              1u)
        << test.log.all();
}

TEST(AcpiDirectory, SkipsATableOfLengthZero) {
    BadTableCase test;
    Bytes bad = make_table("DMAR", {});
    put32(bad, 4, 0);
    fix_checksum(bad, 9, bad.size());
    const auto directory = test.run(bad);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"DMAR at 0x0000000000021000", "length 0 is below the 36-byte header"}), 1u)
        << test.log.all();
}

TEST(AcpiDirectory, SkipsATableShorterThanItsHeader) {
    BadTableCase test;
    Bytes bad = make_table("DMAR", {});
    put32(bad, 4, 35);
    fix_checksum(bad, 9, 35);
    const auto directory = test.run(bad);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"DMAR at 0x0000000000021000", "length 35 is below"}), 1u) << test.log.all();
}

TEST(AcpiDirectory, SkipsATableWithAHugeLength) {
    BadTableCase test;
    Bytes bad = make_table("DMAR", {});
    put32(bad, 4, 0xfffffff0);
    const auto directory = test.run(bad);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"DMAR at 0x0000000000021000", "length 4294967280 exceeds"}), 1u)
        << test.log.all();
}

TEST(AcpiDirectory, SkipsATableThatRunsPastMemory) {
    BadTableCase test;
    const PhysicalAddress near_end = 2 * sluice::MiB - 64;
    Bytes bad = make_table("DMAR", Bytes(28, 0));  // 64 bytes: fits exactly
    put32(bad, 4, 4096);                           // but claims 4 KiB
    const auto directory = test.run(bad, near_end);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"DMAR at 0x00000000001fffc0", "reaches past accessible memory"}), 1u)
        << test.log.all();
}

TEST(AcpiDirectory, SkipsAnEntryOutsideMemory) {
    BadTableCase test;
    const auto directory = test.run({}, 0xfffffff0);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"table at 0x00000000fffffff0 (RSDT entry 1)", "not in accessible memory"}), 1u)
        << test.log.all();
}

TEST(AcpiDirectory, SkipsANullEntry) {
    BadTableCase test;
    const auto directory = test.run({}, 0);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"RSDT entry 1 is a null address"}), 1u) << test.log.all();
}

TEST(AcpiDirectory, SkipsATableWithAGarbageSignature) {
    BadTableCase test;
    Bytes bad = make_table("DMAR", {});
    bad[0] = 0x01;
    bad[1] = 0xff;
    fix_checksum(bad, 9, bad.size());
    const auto directory = test.run(bad);
    test.expect_survivors(directory);
    EXPECT_EQ(test.log.count_warnings({"table at 0x0000000000021000", "signature 0x5241ff01"}), 1u)
        << test.log.all();
}

TEST(AcpiDirectory, RsdtLengthNotAWholeNumberOfEntries) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    Bytes body(6, 0);
    put32(body, 0, 0x20000);
    machine.place(rsdt_address, make_table("RSDT", body));  // 42 bytes: one entry and 2 stray bytes
    machine.place(0x20000, make_table("APIC", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "APIC"}));
    EXPECT_EQ(log.count_warnings({"RSDT at 0x0000000000010000", "length 42 is not 36 + 4 * n",
                                  "trailing 2 bytes"}),
              1u)
        << log.all();
}

TEST(AcpiDirectory, XsdtLengthNotAWholeNumberOfEntries) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version2(0, xsdt_address));
    Bytes body(12, 0);
    put64(body, 0, 0x20000);
    put32(body, 8, 0x21000);  // half an entry
    machine.place(xsdt_address, make_table("XSDT", body));
    machine.place(0x20000, make_table("APIC", {}));
    machine.place(0x21000, make_table("HPET", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"XSDT", "APIC"}));
    EXPECT_EQ(log.count_warnings({"XSDT", "length 48 is not 36 + 8 * n"}), 1u) << log.all();
}

TEST(AcpiDirectory, AnRsdtListingItselfDoesNotLoop) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({rsdt_address, 0x20000, rsdt_address, 0x20000}));
    machine.place(0x20000, make_table("DMAR", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "DMAR"}));
    EXPECT_EQ(log.count_warnings({"RSDT at 0x0000000000010000", "a root table listed as an entry"}), 2u)
        << log.all();
    EXPECT_EQ(log.count_warnings({"DMAR at 0x0000000000020000 (RSDT entry 3)", "listed already"}), 1u)
        << log.all();
}

TEST(AcpiDirectory, TwoRootTablesListingEachOtherDoNotLoop) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version2(rsdt_address, xsdt_address));
    machine.place(rsdt_address, make_rsdt({xsdt_address}));
    machine.place(xsdt_address, make_xsdt({rsdt_address}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"XSDT"}));
}

TEST(AcpiDirectory, AGarbageEntryCountIsBounded) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt(std::vector<uint32_t>(3000, 0)));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok());
    EXPECT_EQ(log.count_warnings({"lists 3000 entries; only the first 1024 are read"}), 1u);
    EXPECT_EQ(log.count_warnings({"is a null address"}), 1024u);
}

TEST(AcpiDirectory, StopsWhenFull) {
    LogCapture log;
    Machine machine;
    std::vector<uint32_t> entries;
    for (uint32_t index = 0; index < 70; ++index) {
        const uint32_t address = 0x20000 + index * 0x100;
        entries.push_back(address);
        machine.place(address, make_table("SSDT", {}));
    }
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt(entries));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok());
    EXPECT_EQ(directory.value().size(), TableDirectory::capacity);
    EXPECT_EQ(log.count_warnings({"SSDT at 0x0000000000023f00 (RSDT entry 63)", "directory is full (64 tables)"}),
              1u)
        << log.all();
}

// A FADT long enough for X_DSDT (ACPI 6.5 table 5.9).
Bytes make_fadt(uint32_t dsdt, uint64_t x_dsdt) {
    Bytes body(244 - 36, 0);
    put32(body, 40 - 36, dsdt);
    put64(body, 140 - 36, x_dsdt);
    return make_table("FACP", body, 6);
}

TEST(AcpiDirectory, AddsTheDsdtNamedByTheFadt) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    machine.place(0x20000, make_fadt(0x30000, 0x31000));
    machine.place(0x30000, make_table("DSDT", Bytes(4, 0)));
    machine.place(0x31000, make_table("DSDT", Bytes(100, 0)));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "FACP", "DSDT"}));
    // X_DSDT wins over the 32-bit field.
    EXPECT_EQ(directory.value().find_first(Signature("DSDT")).value().address, 0x31000u);
}

TEST(AcpiDirectory, UsesTheLegacyDsdtFieldOfAShortFadt) {
    LogCapture log;
    Machine machine;
    Bytes body(116 - 36, 0);  // an ACPI 1.0 FADT: no X_DSDT field
    put32(body, 40 - 36, 0x30000);
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    machine.place(0x20000, make_table("FACP", body));
    machine.place(0x30000, make_table("DSDT", Bytes(4, 0)));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(directory.value().find_first(Signature("DSDT")).value().address, 0x30000u);
}

TEST(AcpiDirectory, ABadDsdtIsSkipped) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000}));
    machine.place(0x20000, make_fadt(0, 0x31000));
    machine.place(0x31000, make_table("SSDT", {}));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();
    EXPECT_EQ(signatures_of(directory.value()), (std::vector<std::string>{"RSDT", "FACP"}));
    EXPECT_EQ(log.count_warnings({"SSDT at 0x0000000000031000 (FACP DSDT address)", "expected DSDT"}), 1u)
        << log.all();
}

TEST(AcpiDirectory, DiscoverTriesTheCopyThenTheAddressThenTheScan) {
    Machine machine;
    machine.place(rsdt_address, make_rsdt({}));
    machine.place(0x20000, make_rsdt({}));
    machine.place(0x30000, make_rsdt({}));
    machine.place(rsdp_address, make_rsdp_version1(0x30000));
    machine.place(0x8000, make_rsdp_version1(0x20000));

    const Bytes copy = make_rsdp_version1(rsdt_address);
    sluice::acpi::RsdpSource source;
    source.copy = Span<const uint8_t>(copy.data(), copy.size());
    source.physical_address = 0x8000;
    {
        LogCapture log;
        const auto directory = sluice::acpi::discover(machine.memory, source);
        ASSERT_TRUE(directory.ok());
        EXPECT_TRUE(directory.value().root_pointer().from_copy);
        EXPECT_EQ(directory.value().tables()[0].address, rsdt_address);
        EXPECT_TRUE(log.has_line("acpi: RSDP (boot loader copy) length 20 rev 0 (BOCHS )")) << log.all();
    }
    Bytes broken = copy;
    broken[8] ^= 1;
    source.copy = Span<const uint8_t>(broken.data(), broken.size());
    {
        LogCapture log;
        const auto directory = sluice::acpi::discover(machine.memory, source);
        ASSERT_TRUE(directory.ok());
        EXPECT_EQ(directory.value().tables()[0].address, 0x20000u);
    }
    source.physical_address = 0x9000;  // nothing there
    {
        LogCapture log;
        const auto directory = sluice::acpi::discover(machine.memory, source);
        ASSERT_TRUE(directory.ok());
        EXPECT_EQ(directory.value().root_pointer().address, rsdp_address);
        EXPECT_EQ(directory.value().tables()[0].address, 0x30000u);
    }
    source.scan_bios_areas = false;
    {
        LogCapture log;
        const auto directory = sluice::acpi::discover(machine.memory, source);
        ASSERT_FALSE(directory.ok());
        EXPECT_EQ(directory.error(), Error::not_found);
    }
}

TEST(AcpiDirectory, AddRefusesDuplicatesAndOverflow) {
    TableDirectory directory;
    TableDescription table;
    table.signature = Signature("SSDT");
    for (size_t index = 0; index < TableDirectory::capacity; ++index) {
        table.address = 0x1000 * (index + 1);
        ASSERT_TRUE(directory.add(table).ok());
    }
    EXPECT_EQ(directory.add(table).error(), Error::already_exists);
    table.address = 0x100000;
    EXPECT_EQ(directory.add(table).error(), Error::capacity);
    EXPECT_EQ(directory.find_all(Signature("SSDT")).count(), TableDirectory::capacity);
}

TEST(AcpiSignature, DescribesPrintableAndGarbageSignatures) {
    EXPECT_STREQ(sluice::acpi::describe(Signature("DMAR")).c_str(), "DMAR");
    EXPECT_STREQ(sluice::acpi::describe(Signature("iBFT")).c_str(), "iBFT");
    const char garbage[4] = {'D', '\n', 'A', static_cast<char>(0x80)};
    EXPECT_STREQ(sluice::acpi::describe(Signature::from_bytes(garbage)).c_str(), "0x80410a44");
    const char oem[6] = {'A', 'B', '\0', '\x01', 'Z', ' '};
    EXPECT_STREQ(sluice::acpi::describe_oem_id(oem).c_str(), "AB ?Z ");
}

// --- TableReader -------------------------------------------------------------

TEST(AcpiTableReader, ReadsFieldsOnlyInsideTheTable) {
    Machine machine;
    Bytes body = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    const Bytes table = make_table("TEST", body);
    machine.place(0x20000, table);
    const sluice::acpi::TableReader reader(machine.memory, 0x20000, table.size());
    EXPECT_EQ(reader.read8(36).value(), 0x11);
    EXPECT_EQ(reader.read16(37).value(), 0x3322);
    EXPECT_EQ(reader.read32(36).value(), 0x44332211u);
    EXPECT_EQ(reader.read64(36).value(), 0x8877665544332211ull);
    EXPECT_EQ(reader.read8(43).value(), 0x88);
    EXPECT_EQ(reader.read8(44).error(), Error::out_of_range);
    EXPECT_EQ(reader.read16(43).error(), Error::out_of_range);
    EXPECT_EQ(reader.read64(37).error(), Error::out_of_range);
    EXPECT_EQ(reader.read32(~uint64_t{0} - 1).error(), Error::out_of_range);
    EXPECT_EQ(reader.checksum().value(), 0);

    const auto header = reader.read<sluice::acpi::SystemDescriptionTableHeader>(0);
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header.value().length, 44u);
    EXPECT_EQ(std::string(header.value().oem_table_id, 8), "BXPC    ");
}

TEST(AcpiTableReader, SlicesStayInsideTheirParent) {
    Machine machine;
    const Bytes table = make_table("TEST", {1, 2, 3, 4, 5, 6, 7, 8});
    machine.place(0x20000, table);
    const sluice::acpi::TableReader reader(machine.memory, 0x20000, table.size());
    const auto slice = reader.slice(40, 4);
    ASSERT_TRUE(slice.ok());
    EXPECT_EQ(slice.value().address(), 0x20028u);
    EXPECT_EQ(slice.value().read32(0).value(), 0x08070605u);
    EXPECT_EQ(slice.value().read8(4).error(), Error::out_of_range);
    EXPECT_EQ(reader.slice(40, 5).error(), Error::out_of_range);
    EXPECT_EQ(reader.slice(45, 0).error(), Error::out_of_range);
    EXPECT_EQ(reader.slice(8, ~uint64_t{0}).error(), Error::out_of_range);
}

TEST(AcpiTableReader, CopiesWholeTables) {
    Machine machine;
    const Bytes table = make_table("TEST", {9, 8, 7});
    machine.place(0x20000, table);
    TableDescription description;
    description.address = 0x20000;
    description.length = static_cast<uint32_t>(table.size());
    std::vector<uint8_t> buffer(table.size() + 4, 0xee);
    ASSERT_TRUE(sluice::acpi::copy_table(machine.memory, description, Span<uint8_t>(buffer.data(), buffer.size())).ok());
    EXPECT_TRUE(std::equal(table.begin(), table.end(), buffer.begin()));
    EXPECT_EQ(buffer.back(), 0xee);
    EXPECT_EQ(sluice::acpi::copy_table(machine.memory, description, Span<uint8_t>(buffer.data(), table.size() - 1))
                  .error(),
              Error::capacity);
}

TEST(AcpiTableReader, ReportsUnreadableMemory) {
    Machine machine;
    const sluice::acpi::TableReader reader(machine.memory, 2 * sluice::MiB - 4, 8);
    EXPECT_TRUE(reader.read32(0).ok());
    EXPECT_EQ(reader.read32(4).error(), Error::out_of_range);
    EXPECT_FALSE(reader.checksum().ok());
}

// --- MCFG --------------------------------------------------------------------

Bytes allocation(uint64_t base, uint16_t segment, uint8_t start, uint8_t end) {
    Bytes bytes(16, 0);
    put64(bytes, 0, base);
    put16(bytes, 8, segment);
    bytes[10] = start;
    bytes[11] = end;
    return bytes;
}

Bytes make_mcfg(const std::vector<Bytes>& allocations, size_t trailing = 0) {
    Bytes body(8, 0);
    for (const Bytes& one : allocations) body.insert(body.end(), one.begin(), one.end());
    body.insert(body.end(), trailing, 0);
    return make_table("MCFG", body);
}

TEST(AcpiMcfg, ReadsTheAllocationsOfEveryMcfg) {
    LogCapture log;
    Machine machine;
    machine.place(rsdp_address, make_rsdp_version1(rsdt_address));
    machine.place(rsdt_address, make_rsdt({0x20000, 0x21000}));
    machine.place(0x20000, make_mcfg({allocation(0xb0000000, 0, 0, 0xff)}));
    machine.place(0x21000, make_mcfg({allocation(0xc0000000, 1, 0x10, 0x1f),
                                      allocation(0xd0000000, 2, 5, 4),           // start above end
                                      allocation(0xd0080000, 3, 0, 0),           // not 1 MiB aligned
                                      allocation(0, 4, 0, 0),                    // zero
                                      allocation(0xfffffffffff00000, 5, 0, 1)},  // wraps
                                     3));
    const auto directory = machine.discover_at(rsdp_address);
    ASSERT_TRUE(directory.ok()) << log.all();

    sluice::acpi::ConfigurationSpaceRange ranges[4];
    const size_t count = sluice::acpi::read_configuration_space_ranges(machine.memory, directory.value(), ranges);
    ASSERT_EQ(count, 2u) << log.all();
    EXPECT_EQ(ranges[0].base_address, 0xb0000000u);
    EXPECT_EQ(ranges[0].segment, 0);
    EXPECT_EQ(ranges[0].start_bus, 0);
    EXPECT_EQ(ranges[0].end_bus, 0xff);
    EXPECT_EQ(ranges[0].start(), 0xb0000000u);
    EXPECT_EQ(ranges[0].size(), 256u * sluice::MiB);
    EXPECT_EQ(ranges[1].segment, 1);
    EXPECT_EQ(ranges[1].start(), 0xc1000000u);  // the base is bus 0's, even for a range starting at bus 16
    EXPECT_EQ(ranges[1].size(), 16u * sluice::MiB);
    EXPECT_EQ(log.count_warnings({"MCFG at 0x0000000000021000 offset 60", "start bus is above end bus"}), 1u)
        << log.all();
    EXPECT_EQ(log.count_warnings({"offset 76", "not 1 MiB aligned"}), 1u) << log.all();
    EXPECT_EQ(log.count_warnings({"offset 92", "base address is zero"}), 1u) << log.all();
    EXPECT_EQ(log.count_warnings({"offset 108", "wraps"}), 1u) << log.all();
    EXPECT_EQ(log.count_warnings({"MCFG at 0x0000000000021000", "trailing 3 bytes"}), 1u) << log.all();

    sluice::acpi::ConfigurationSpaceRange one[1];
    EXPECT_EQ(sluice::acpi::read_configuration_space_ranges(machine.memory, directory.value(), one), 1u);
    EXPECT_EQ(log.count_warnings({"more than 1 allocations"}), 1u) << log.all();
}

TEST(AcpiMcfg, NoMcfgGivesNoRanges) {
    Machine machine;
    TableDirectory directory;
    sluice::acpi::ConfigurationSpaceRange ranges[4];
    EXPECT_EQ(sluice::acpi::read_configuration_space_ranges(machine.memory, directory, ranges), 0u);
}

}  // namespace
