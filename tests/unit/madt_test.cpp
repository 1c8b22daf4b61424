// MADT parsing (ACPI 6.5 section 5.2.12): QEMU's q35 table, x2APIC and
// override structures, and every malformed case with its warning.
#include <gtest/gtest.h>

#include <arch/x86/apic/madt.hpp>
#include <drivers/acpi/table_directory.hpp>

#include "support/log_capture.hpp"
#include "support/madt_builder.hpp"
#include "support/simulated_machine.hpp"

#include <memory>
#include <string>

namespace {

using sluice::Error;
using sluice::PhysicalAddress;
using sluice::testing::LogCapture;
using sluice::x86::apic::InterruptPolarity;
using sluice::x86::apic::InterruptTriggerMode;
using sluice::x86::apic::MadtDescription;
using sluice::x86::apic::MadtLocalNmi;
using namespace sluice::testing::madt;

constexpr PhysicalAddress table_address = 0x7ffe0000;
// The first structure starts after the 44-byte header.
constexpr uint32_t first_offset = 0x2c;

sluice::Span<const uint8_t> span(const Bytes& bytes) { return {bytes.data(), bytes.size()}; }

std::unique_ptr<MadtDescription> parse(const Bytes& bytes) {
    auto description = std::make_unique<MadtDescription>();
    EXPECT_TRUE(sluice::x86::apic::parse_madt(span(bytes), table_address, *description).ok());
    return description;
}

std::string at(uint32_t offset) {
    char text[64];
    std::snprintf(text, sizeof text, "apic: warning: MADT at 0x7ffe0000, offset 0x%x: ", offset);
    return text;
}

TEST(Madt, QemuQ35TableGivesOneProcessorOneIoApicAndTheOverrides) {
    LogCapture log;
    const auto description = parse(qemu_q35_table());
    EXPECT_TRUE(log.problems().empty()) << log.all();
    EXPECT_EQ(description->local_apic_address(), 0xfee00000u);
    EXPECT_FALSE(description->address_overridden());
    EXPECT_TRUE(description->pcat_compatible());
    ASSERT_EQ(description->processors().size(), 1u);
    EXPECT_EQ(description->processors()[0].apic_id, 0u);
    EXPECT_TRUE(description->processors()[0].enabled);
    EXPECT_FALSE(description->processors()[0].from_x2apic_structure);
    EXPECT_EQ(description->processors()[0].location.offset, first_offset);
    ASSERT_EQ(description->io_apics().size(), 1u);
    EXPECT_EQ(description->io_apics()[0].id, 0u);
    EXPECT_EQ(description->io_apics()[0].address, 0xfec00000u);
    EXPECT_EQ(description->io_apics()[0].global_system_interrupt_base, 0u);
    ASSERT_EQ(description->source_overrides().size(), 5u);
    EXPECT_EQ(description->source_overrides()[1].source, 5u);
    EXPECT_EQ(description->source_overrides()[1].polarity, InterruptPolarity::active_high);
    EXPECT_EQ(description->source_overrides()[1].trigger_mode, InterruptTriggerMode::level);
    EXPECT_EQ(description->source_overrides()[0].polarity, InterruptPolarity::conforming);
    EXPECT_EQ(description->isa_irq_to_global_system_interrupt(0), 2u);
    EXPECT_EQ(description->isa_irq_to_global_system_interrupt(1), 1u);
    EXPECT_EQ(description->isa_irq_to_global_system_interrupt(9), 9u);
    ASSERT_EQ(description->local_nmis().size(), 1u);
    EXPECT_EQ(description->local_nmis()[0].acpi_processor_uid, MadtLocalNmi::all_processors);
    EXPECT_EQ(description->local_nmis()[0].lint, 1u);
    EXPECT_EQ(description->rejected(), 0u);
}

TEST(Madt, X2apicStructuresAddressOverrideAndNmiSources) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 0,
                                         {local_apic(0, 0), local_x2apic(0x12345, 7), address_override(0x1fee00000),
                                          local_x2apic_nmi(7, 0x5, 0), nmi_source(0xf, 23),
                                          io_apic(1, 0xfec01000, 24), io_apic(0, 0xfec00000, 0)}));
    EXPECT_TRUE(log.problems().empty()) << log.all();
    EXPECT_FALSE(description->pcat_compatible());
    EXPECT_EQ(description->local_apic_address(), 0x1fee00000u);
    EXPECT_TRUE(description->address_overridden());
    ASSERT_EQ(description->processors().size(), 2u);
    const auto* x2apic = description->find_processor(0x12345);
    ASSERT_NE(x2apic, nullptr);
    EXPECT_TRUE(x2apic->from_x2apic_structure);
    EXPECT_EQ(x2apic->acpi_processor_uid, 7u);
    ASSERT_EQ(description->local_nmis().size(), 1u);
    EXPECT_EQ(description->local_nmis()[0].acpi_processor_uid, 7u);
    EXPECT_EQ(description->local_nmis()[0].polarity, InterruptPolarity::active_high);
    EXPECT_EQ(description->local_nmis()[0].trigger_mode, InterruptTriggerMode::edge);
    ASSERT_EQ(description->nmi_sources().size(), 1u);
    EXPECT_EQ(description->nmi_sources()[0].global_system_interrupt, 23u);
    EXPECT_EQ(description->nmi_sources()[0].polarity, InterruptPolarity::active_low);
    EXPECT_EQ(description->nmi_sources()[0].trigger_mode, InterruptTriggerMode::level);
    ASSERT_EQ(description->io_apics().size(), 2u);
    EXPECT_EQ(description->io_apics()[0].global_system_interrupt_base, 24u);
}

TEST(Madt, ProcessorsNeitherEnabledNorOnlineCapableAreLeftOut) {
    LogCapture log;
    const auto description =
        parse(table(0xfee00000, 1, {local_apic(0, 0, 1), local_apic(1, 1, 0), local_apic(2, 2, 2), local_x2apic(300, 3, 0)}));
    EXPECT_TRUE(log.problems().empty()) << log.all();
    ASSERT_EQ(description->processors().size(), 2u);
    EXPECT_EQ(description->processors()[1].apic_id, 2u);
    EXPECT_FALSE(description->processors()[1].enabled);
    EXPECT_TRUE(description->processors()[1].online_capable);
    // APIC ID 0xff may appear in a disabled, unusable entry (firmware padding).
    EXPECT_TRUE(parse(table(0xfee00000, 1, {local_apic(9, 0xff, 0)}))->processors().empty());
}

TEST(Madt, UnknownTypesAreSkippedByTheirLength) {
    LogCapture log;
    Bytes gicc(78, 0);
    const auto description =
        parse(table(0xfee00000, 1, {structure(0xb, gicc), structure(0x80, {1, 2, 3}), io_apic(0, 0xfec00000, 0)}));
    EXPECT_TRUE(log.problems().empty()) << log.all();
    EXPECT_EQ(description->io_apics().size(), 1u);
}

// --- Lengths that cannot be trusted end the parse -----------------------------------

TEST(Madt, ZeroLengthStructureEndsTheParse) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 1, {local_apic(0, 0, 1, 0), io_apic(0, 0xfec00000, 0)}));
    EXPECT_EQ(log.count_warnings(at(first_offset) +
                                 "Processor Local APIC: length 0 is smaller than the structure's 8 bytes; rest of the "
                                 "table ignored"),
              1u)
        << log.all();
    EXPECT_TRUE(description->processors().empty());
    EXPECT_TRUE(description->io_apics().empty());
    EXPECT_EQ(description->rejected(), 1u);
}

TEST(Madt, ShortKnownStructureEndsTheParse) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 1, {local_apic(0, 0), io_apic(0, 0xfec00000, 0, 8), local_apic(1, 1)}));
    EXPECT_EQ(log.count_warnings(at(0x34) + "I/O APIC: length 8 is smaller than the structure's 12 bytes"), 1u)
        << log.all();
    EXPECT_EQ(description->processors().size(), 1u);
    EXPECT_TRUE(description->io_apics().empty());
}

TEST(Madt, StructureRunningPastTheEndEndsTheParse) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 1, {local_apic(0, 0), io_apic(0, 0xfec00000, 0, 40)}));
    EXPECT_EQ(log.count_warnings(at(0x34) + "I/O APIC: length 40 runs past the end of the table (12 bytes left); "
                                            "rest of the table ignored"),
              1u)
        << log.all();
    EXPECT_TRUE(description->io_apics().empty());
}

TEST(Madt, OneTrailingByteIsReported) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 1, {local_apic(0, 0), Bytes{0}}));
    EXPECT_EQ(log.count_warnings(at(0x34) + "1 trailing byte is too short for a structure header; ignored"), 1u)
        << log.all();
    EXPECT_EQ(description->processors().size(), 1u);
}

TEST(Madt, LongerStructuresOfKnownTypesAreAccepted) {
    // A later revision may grow a structure; its length still finds the next one.
    LogCapture log;
    Bytes longer = io_apic(0, 0xfec00000, 0);
    longer[1] = 16;
    longer.insert(longer.end(), 4, 0);
    const auto description = parse(table(0xfee00000, 1, {longer, local_apic(0, 0)}));
    EXPECT_TRUE(log.problems().empty()) << log.all();
    EXPECT_EQ(description->io_apics().size(), 1u);
    EXPECT_EQ(description->processors().size(), 1u);
}

// --- Bad contents drop one structure ----------------------------------------------------

struct BadStructure {
    const char* name;
    Bytes structure;
    std::string warning;
};

class MadtBadStructure : public ::testing::TestWithParam<BadStructure> {};

TEST_P(MadtBadStructure, IsDroppedAloneWithItsWarning) {
    LogCapture log;
    // A valid processor and I/O APIC first, the bad structure at 0x40, then a valid one after it.
    const auto description = parse(table(0xfee00000, 1,
                                         {local_apic(0, 0), io_apic(0, 0xfec00000, 0), GetParam().structure,
                                          local_apic(5, 5)}));
    EXPECT_EQ(log.count_warnings(at(0x40) + GetParam().warning), 1u) << log.all();
    EXPECT_EQ(log.warnings().size(), 1u) << log.all();
    EXPECT_EQ(description->rejected(), 1u);
    EXPECT_NE(description->find_processor(5), nullptr) << "the structure after the bad one is still read";
    EXPECT_EQ(description->io_apics().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Madt, MadtBadStructure,
    ::testing::Values(
        BadStructure{"DuplicateApicId", local_apic(1, 0), "Processor Local APIC: APIC ID 0x0 is listed twice; entry ignored"},
        BadStructure{"BroadcastApicId", local_apic(1, 0xff),
                     "Processor Local APIC: APIC ID 0xff is the broadcast ID"},
        BadStructure{"BroadcastX2apicId", local_x2apic(0xffffffff, 1),
                     "Processor Local x2APIC: x2APIC ID 0xffffffff is the broadcast ID; entry ignored"},
        BadStructure{"DuplicateX2apicId", local_x2apic(0, 1),
                     "Processor Local x2APIC: APIC ID 0x0 is listed twice; entry ignored"},
        BadStructure{"IoApicAddressZero", io_apic(1, 0, 24), "I/O APIC: ID 1: address 0x0 is zero; entry ignored"},
        BadStructure{"IoApicAddressUnaligned", io_apic(1, 0xfec00004, 24),
                     "I/O APIC: ID 1: address 0xfec00004 is not 16-byte aligned; entry ignored"},
        BadStructure{"IoApicSameId", io_apic(0, 0xfec01000, 24),
                     "I/O APIC: ID 0 at 0xfec01000, GSI base 24: its ID is also the I/O APIC's at offset 0x34"},
        BadStructure{"IoApicSameAddress", io_apic(1, 0xfec00000, 24), "I/O APIC: ID 1 at 0xfec00000, GSI base 24: its address is also the I/O APIC's at offset 0x34"},
        BadStructure{"IoApicSameGsiBase", io_apic(1, 0xfec01000, 0), "I/O APIC: ID 1 at 0xfec01000, GSI base 0: its GSI base is also the I/O APIC's at offset 0x34"},
        BadStructure{"OverrideNotIsa", source_override(1, 0, 2, 0),
                     "Interrupt Source Override: bus 1 is not ISA (0); entry ignored"},
        BadStructure{"OverrideIrq16", source_override(0, 16, 16, 0),
                     "Interrupt Source Override: source IRQ 16 is not an ISA IRQ (0-15); entry ignored"},
        BadStructure{"OverrideReservedPolarity", source_override(0, 9, 9, 0xe),
                     "Interrupt Source Override: IRQ 9: flags 0x000e: polarity 2 is reserved; entry ignored"},
        BadStructure{"OverrideReservedTrigger", source_override(0, 9, 9, 0xb),
                     "Interrupt Source Override: IRQ 9: flags 0x000b: trigger mode 2 is reserved; entry ignored"},
        BadStructure{"NmiSourceReservedPolarity", nmi_source(0x2, 3),
                     "NMI Source: GSI 3: flags 0x0002: polarity 2 is reserved; entry ignored"},
        BadStructure{"LocalNmiLint2", local_apic_nmi(0xff, 0, 2),
                     "Local APIC NMI: LINT2 does not exist (0 or 1); entry ignored"},
        BadStructure{"X2apicNmiLint7", local_x2apic_nmi(0, 0, 7),
                     "Local x2APIC NMI: LINT7 does not exist (0 or 1); entry ignored"},
        BadStructure{"AddressOverrideUnaligned", address_override(0xfee00800),
                     "Local APIC Address Override: address 0xfee00800 is not 4 KiB aligned; the header's 0xfee00000 "
                     "is kept"},
        BadStructure{"AddressOverrideZero", address_override(0), "Local APIC Address Override: address 0x0 is zero"}),
    [](const ::testing::TestParamInfo<BadStructure>& info) { return std::string(info.param.name); });

TEST(Madt, SecondOverrideOfOneIrqAndSecondAddressOverrideAreRefused) {
    LogCapture log;
    const auto description = parse(table(0xfee00000, 1,
                                         {source_override(0, 0, 2, 0), source_override(0, 0, 9, 0),
                                          address_override(0x100000000), address_override(0x200000000)}));
    EXPECT_EQ(log.count_warnings(at(0x36) + "Interrupt Source Override: IRQ 0 is already overridden at offset 0x2c"), 1u)
        << log.all();
    EXPECT_EQ(log.count_warnings(at(0x4c) + "Local APIC Address Override: a second override (0x200000000); entry ignored"),
              1u)
        << log.all();
    EXPECT_EQ(description->isa_irq_to_global_system_interrupt(0), 2u);
    EXPECT_EQ(description->local_apic_address(), 0x100000000u);
}

TEST(Madt, ProcessorCapacityIsReported) {
    LogCapture log;
    std::vector<Bytes> structures;
    for (uint32_t id = 0; id <= MadtDescription::max_processors; ++id) structures.push_back(local_x2apic(id, id));
    const auto description = parse(table(0xfee00000, 1, structures));
    EXPECT_EQ(description->processors().size(), MadtDescription::max_processors);
    EXPECT_EQ(log.count_warnings("more than 256 processors; entry ignored"), 1u) << log.all();
}

// --- The table as a whole ------------------------------------------------------------

TEST(Madt, WrongSignatureShortTableAndShortLengthAreRefused) {
    LogCapture log;
    MadtDescription description;
    Bytes wrong = qemu_q35_table();
    std::memcpy(wrong.data(), "APIX", 4);
    EXPECT_EQ(sluice::x86::apic::parse_madt(span(wrong), table_address, description).error(), Error::malformed);
    EXPECT_EQ(log.count_warnings("apic: warning: MADT at 0x7ffe0000: signature is 'APIX', not 'APIC'; table ignored"), 1u)
        << log.all();

    const Bytes short_table(43, 0);
    EXPECT_EQ(sluice::x86::apic::parse_madt(span(short_table), table_address, description).error(), Error::malformed);
    EXPECT_EQ(log.count_warnings("only 43 bytes, shorter than the 44-byte MADT header; table ignored"), 1u) << log.all();

    Bytes short_length = qemu_q35_table();
    short_length[4] = 40;
    short_length[5] = short_length[6] = short_length[7] = 0;
    EXPECT_EQ(sluice::x86::apic::parse_madt(span(short_length), table_address, description).error(), Error::malformed);
    EXPECT_EQ(log.count_warnings("length 40 is shorter than the 44-byte MADT header; table ignored"), 1u) << log.all();
    EXPECT_FALSE(description.parsed());
}

TEST(Madt, BadChecksumIsReportedAndTheTableStillParsed) {
    LogCapture log;
    Bytes bytes = qemu_q35_table();
    bytes[9] = static_cast<uint8_t>(bytes[9] + 3);
    const auto description = parse(bytes);
    EXPECT_EQ(log.count_warnings("apic: warning: MADT at 0x7ffe0000: checksum is off by 0x03; parsed anyway"), 1u)
        << log.all();
    EXPECT_EQ(description->io_apics().size(), 1u);
}

TEST(Madt, LengthBeyondTheBytesParsesWhatThereIs) {
    LogCapture log;
    Bytes bytes = qemu_q35_table();
    bytes.resize(bytes.size() - 4);  // the Local APIC NMI is cut off; the header still says 120
    const auto description = parse(bytes);
    EXPECT_EQ(log.count_warnings("length 120 exceeds the 116 bytes available; only those are parsed"), 1u) << log.all();
    EXPECT_EQ(log.count_warnings(at(0x72) + "Local APIC NMI: length 6 runs past the end of the table (2 bytes left)"), 1u)
        << log.all();
    EXPECT_EQ(description->source_overrides().size(), 5u);
}

TEST(Madt, MissingOrUnalignedLocalApicAddressIsReported) {
    LogCapture log;
    EXPECT_EQ(parse(table(0, 1, {local_apic(0, 0)}))->local_apic_address(), 0u);
    EXPECT_EQ(log.count_warnings("apic: warning: MADT at 0x7ffe0000: no local APIC address (header field 0 and no "
                                 "override)"),
              1u)
        << log.all();
    EXPECT_EQ(parse(table(0xfee00010, 1, {local_apic(0, 0)}))->local_apic_address(), 0u);
    EXPECT_EQ(log.count_warnings("local APIC address 0xfee00010 is not 4 KiB aligned; not used"), 1u) << log.all();
    // An override makes a zero header field fine.
    log.clear();
    EXPECT_EQ(parse(table(0, 1, {address_override(0xfee00000)}))->local_apic_address(), 0xfee00000u);
    EXPECT_TRUE(log.problems().empty()) << log.all();
}

TEST(Madt, ParsingAgainForgetsTheEarlierTable) {
    MadtDescription description;
    ASSERT_TRUE(sluice::x86::apic::parse_madt(span(qemu_q35_table()), table_address, description).ok());
    const Bytes other = table(0xfee00000, 0, {local_apic(0, 3)});
    ASSERT_TRUE(sluice::x86::apic::parse_madt(span(other), 0x1000, description).ok());
    EXPECT_EQ(description.processors().size(), 1u);
    EXPECT_EQ(description.processors()[0].apic_id, 3u);
    EXPECT_TRUE(description.io_apics().empty());
    EXPECT_TRUE(description.source_overrides().empty());
    EXPECT_EQ(description.table_address(), 0x1000u);
}

// --- Through the table directory ---------------------------------------------------------

TEST(Madt, ReadMadtUsesTheFirstTableAndReportsASecond) {
    LogCapture log;
    sluice::testing::SimulatedMemory memory(0x7ffe0000, 0x2000);
    const Bytes first = qemu_q35_table();
    const Bytes second = table(0xfee00000, 1, {local_apic(0, 7)});
    ASSERT_TRUE(memory.write_bytes(0x7ffe0000, first.data(), first.size()).ok());
    ASSERT_TRUE(memory.write_bytes(0x7ffe1000, second.data(), second.size()).ok());
    sluice::acpi::TableDirectory directory;
    sluice::acpi::TableDescription description_of_first;
    description_of_first.signature = sluice::acpi::Signature("APIC");
    description_of_first.address = 0x7ffe0000;
    description_of_first.length = static_cast<uint32_t>(first.size());
    ASSERT_TRUE(directory.add(description_of_first).ok());
    sluice::acpi::TableDescription description_of_second = description_of_first;
    description_of_second.address = 0x7ffe1000;
    description_of_second.length = static_cast<uint32_t>(second.size());
    ASSERT_TRUE(directory.add(description_of_second).ok());

    auto description = std::make_unique<MadtDescription>();
    ASSERT_TRUE(sluice::x86::apic::read_madt(memory, directory, *description).ok());
    EXPECT_EQ(description->io_apics().size(), 1u);
    EXPECT_EQ(description->processors()[0].apic_id, 0u);
    EXPECT_EQ(log.count_warnings("apic: warning: MADT at 0x7ffe1000: a second MADT; ignored (the one at 0x7ffe0000 is "
                                 "used)"),
              1u)
        << log.all();

    const sluice::acpi::TableDirectory empty;
    EXPECT_EQ(sluice::x86::apic::read_madt(memory, empty, *description).error(), Error::not_found);
}

}  // namespace
