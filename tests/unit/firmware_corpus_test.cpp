// Real firmware as a regression suite: every DMAR and IVRS table of the
// firmware corpus (raw tables from public ACPI dumps of real machines) goes
// through the code a boot runs on it: the ACPI table check and the
// bounds-checked copy (drivers/acpi), then the DMAR parser, the bridge walk
// and the RMRR list (drivers/passthrough/vtd), or the IVRS parser and the
// IVMD list (drivers/passthrough/amd).
//
// The corpus is not part of the project. It is looked for in the folder
// named by SLUICE_FIRMWARE_DIRECTORY, else in ../shared/firmware beside the
// source tree: dmar/<hash>.bin, ivrs/<hash>.bin and manifest.tsv (one row per
// table: kind, hash, length, OEM ID, ..., checksum_ok, synthetic, source).
// Without it the tests are skipped with a message.
//
// What must hold for every table: no crash and no sanitizer report (the
// `debug` preset runs this under ASan and UBSan, each table in a buffer of
// exactly its length), the ACPI check agrees with the manifest's checksum
// column, the parser accepts the table, and every warning (and every
// structure skipped as unknown) is one of the known findings below, each
// listed with the number of times it must appear and why it is right. A
// finding that no longer appears fails too, so the list stays true.
#include <gtest/gtest.h>

#include <drivers/acpi/table_directory.hpp>
#include <drivers/acpi/table_reader.hpp>
#include <drivers/passthrough/amd/ivmd.hpp>
#include <drivers/passthrough/amd/ivrs.hpp>
#include <drivers/passthrough/reserved_region.hpp>
#include <drivers/passthrough/vtd/dmar.hpp>
#include <drivers/passthrough/vtd/reserved_regions.hpp>
#include <drivers/passthrough/vtd/rmrr_option.hpp>

#include <sluice/log.hpp>

#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifndef SLUICE_SOURCE_DIRECTORY
#error "the build passes SLUICE_SOURCE_DIRECTORY (tests/tests.cmake)"
#endif

namespace {

using sluice::PhysicalAddress;
using sluice::Span;
using sluice::testing::LogCapture;
using sluice::testing::SimulatedMemory;
namespace filesystem = std::filesystem;

// Where the table is placed in simulated memory (and named in messages).
constexpr PhysicalAddress table_address = 0x7ffe0000;

// What the code does with a structure it does not take as it stands.
enum class Outcome : uint8_t {
    rejected,   // dropped with a warning, counted by the parser
    corrected,  // kept in a corrected form with a warning (IVMDs rounded to whole pages)
    skipped,    // a structure type the code does not know, stepped over by its length (info)
    refused,    // the whole table refused by the ACPI checks (a boot never parses it)
};

// One line the code prints for a real table, and why that is right.
struct KnownFinding {
    const char* kind;      // "dmar" or "ivrs"
    const char* table;     // the manifest's hash (the file name without .bin)
    const char* fragment;  // a part of the line
    size_t count;          // how many lines of that table contain it
    Outcome outcome;
    const char* reason;
};

constexpr const char* drhd_switched_off =
    "a unit switched off in firmware set-up keeps its DRHD with register base 0 (VT-d 8.3): there is no unit to "
    "program, so ignoring it is right";
constexpr const char* synthetic_template =
    "synthetic test input (fwts ivrs-0001), malformed on purpose; the manifest flags it";
constexpr const char* unknown_block_51 =
    "type 51h is no IVRS block type of the specification this parser follows; in each of these tables it repeats "
    "the IVMD 21h block before it byte for byte (checked when the list was made), so skipping it loses nothing";

// Every warning the corpus gives rise to, and every structure skipped.
// Nothing else may be printed at warning level, or as skipped, for any table.
constexpr KnownFinding known_findings[] = {
    {"dmar", "27d1e500a85c0ddd", "DRHD: register base address is 0; unit ignored", 1, Outcome::rejected,
     drhd_switched_off},
    {"dmar", "90513e675e02db8f", "DRHD: register base address is 0; unit ignored", 1, Outcome::rejected,
     drhd_switched_off},
    {"ivrs", "69d7ad5b69e2da86", "+0x1 is not whole 4 KiB pages; rounded outward", 5, Outcome::corrected,
     "five IVMD 22h blocks of length 1 byte (5.2.2.3 asks for whole 4 KiB pages): each becomes the one page it "
     "starts in, as the devices need that memory"},
    {"ivrs", "e0e637b4c280fe54", "IOAPIC 0 already has device ID 0x00a0", 1, Outcome::rejected,
     "the table names IOAPIC 0 twice, at 00:14.0 and at 00:00.1; a lookup must give one answer, and the first "
     "entry is the one kept"},
    // The two synthetic tables: test inputs of a firmware test suite (OEM
    // table ID TEMPLATE, flagged in the manifest), malformed on purpose; the
    // second differs from the first in a few bytes, one device entry among
    // them, and its checksum fails.
    {"ivrs", "3f5eab704fb77673", "start of range without end of range", 1, Outcome::rejected, synthetic_template},
    {"ivrs", "3f5eab704fb77673", "0x12345678abcd+0xfedc is not whole 4 KiB pages; rounded outward", 3,
     Outcome::corrected, synthetic_template},
    {"ivrs", "3f5eab704fb77673", "device range 0x1122-0x0000 ends before it starts", 1, Outcome::rejected,
     synthetic_template},
    {"ivrs", "5e0dbe9ec823741a", "checksum mismatch", 1, Outcome::refused, synthetic_template},
    {"ivrs", "5e0dbe9ec823741a", "0x12345678abcd+0xfedc is not whole 4 KiB pages; rounded outward", 3,
     Outcome::corrected, synthetic_template},
    {"ivrs", "5e0dbe9ec823741a", "device range 0x1122-0x0000 ends before it starts", 1, Outcome::rejected,
     synthetic_template},
    {"ivrs", "2a874809fdc65344", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
    {"ivrs", "4df2423166d15cb3", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
    {"ivrs", "5f25043e4f6ab618", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
    {"ivrs", "de9237c9094ca8a0", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
    {"ivrs", "f2b5691a6a3725e7", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
    {"ivrs", "fbf770d077b6fabb", "block type 0x51 is not known, skipped", 1, Outcome::skipped, unknown_block_51},
};

// The lines that say the code did not take a structure as it stands: every
// warning, and the info lines about structure types stepped over.
std::vector<std::string> notable_lines(const LogCapture& log) {
    std::vector<std::string> lines = log.warnings();
    for (const std::string& line : log.lines())
        if (line.find("skipped") != std::string::npos && line.find("warning:") == std::string::npos)
            lines.push_back(line);
    return lines;
}

struct FindingCounts {
    size_t rejected = 0;
    size_t corrected = 0;
};

struct CorpusTable {
    std::string kind;
    std::string hash;
    uint32_t length = 0;
    std::string oem_id;
    std::string oem_table_id;
    bool checksum_ok = true;
    bool synthetic = false;
    std::string source;
};

std::optional<filesystem::path> corpus_directory() {
    if (const char* named = std::getenv("SLUICE_FIRMWARE_DIRECTORY"); named != nullptr && *named != '\0')
        return filesystem::path(named);
    const filesystem::path beside = filesystem::path(SLUICE_SOURCE_DIRECTORY) / ".." / "shared" / "firmware";
    if (filesystem::exists(beside / "manifest.tsv")) return beside;
    return std::nullopt;
}

std::vector<std::string> split(const std::string& line, char separator) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream stream(line);
    while (std::getline(stream, field, separator)) fields.push_back(field);
    return fields;
}

// The manifest's rows of one kind. Columns are found by the header's names.
std::vector<CorpusTable> read_manifest(const filesystem::path& directory, const std::string& kind) {
    std::ifstream manifest(directory / "manifest.tsv");
    std::string line;
    std::vector<CorpusTable> tables;
    if (!std::getline(manifest, line)) {
        ADD_FAILURE() << "no header line in " << (directory / "manifest.tsv");
        return tables;
    }
    std::map<std::string, size_t> column;
    const std::vector<std::string> header = split(line, '\t');
    for (size_t index = 0; index < header.size(); ++index) column[header[index]] = index;
    for (const char* name : {"kind", "sha", "length", "oem_id", "oem_table_id", "checksum_ok", "synthetic", "source"}) {
        if (column.count(name) == 0) {
            ADD_FAILURE() << "manifest.tsv has no column '" << name << "'";
            return tables;
        }
    }
    while (std::getline(manifest, line)) {
        const std::vector<std::string> fields = split(line, '\t');
        if (fields.size() < header.size() || fields[column["kind"]] != kind) continue;
        CorpusTable table;
        table.kind = kind;
        table.hash = fields[column["sha"]];
        table.length = static_cast<uint32_t>(std::stoul(fields[column["length"]]));
        table.oem_id = fields[column["oem_id"]];
        table.oem_table_id = fields[column["oem_table_id"]];
        table.checksum_ok = fields[column["checksum_ok"]] == "True";
        table.synthetic = fields[column["synthetic"]] == "True";
        table.source = fields[column["source"]];
        tables.push_back(table);
    }
    return tables;
}

std::string describe(const CorpusTable& table) {
    return table.kind + "/" + table.hash + ".bin (" + table.oem_id + " " + table.oem_table_id + ", " + table.source +
           ")";
}

// The file's bytes, of the length the manifest gives.
std::optional<std::vector<uint8_t>> read_table(const filesystem::path& file, const CorpusTable& table) {
    std::ifstream stream(file, std::ios::binary);
    if (!stream) {
        ADD_FAILURE() << describe(table) << ": cannot open " << file;
        return std::nullopt;
    }
    std::vector<uint8_t> raw((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    if (raw.size() != table.length) {
        ADD_FAILURE() << describe(table) << ": " << raw.size() << " bytes, the manifest says " << table.length;
        return std::nullopt;
    }
    return raw;
}

// The ACPI layer's checks where a boot finds the table (header, signature,
// length, checksum: check_table), which must agree with the manifest's
// checksum column, then the bounds-checked copy the probes use. Returns the
// bytes to parse, in a buffer of exactly the table's length so that
// AddressSanitizer sees any read past its end: the copy when the table
// passed, else the raw bytes (a boot never parses a refused table; the
// parser still must survive it).
std::vector<uint8_t> check_and_copy(const std::vector<uint8_t>& raw, const CorpusTable& table,
                                    const sluice::acpi::Signature& signature) {
    SimulatedMemory memory(table_address, raw.size());
    EXPECT_TRUE(memory.write_bytes(table_address, raw.data(), raw.size()).ok());
    const sluice::Result<sluice::acpi::TableDescription> checked =
        sluice::acpi::check_table(memory, table_address, "corpus", &signature);
    EXPECT_EQ(checked.ok(), table.checksum_ok)
        << describe(table) << ": the ACPI check and the manifest's checksum column disagree";
    if (!checked.ok()) return raw;
    std::vector<uint8_t> bytes(checked.value().length);
    EXPECT_TRUE(sluice::acpi::copy_table(memory, checked.value(), Span<uint8_t>(bytes.data(), bytes.size())).ok());
    EXPECT_EQ(bytes, raw);
    return bytes;
}

// Checks one table's notable lines against the known findings; returns how
// many of them the list says are rejections and corrections.
FindingCounts check_findings(const CorpusTable& table, const std::vector<std::string>& lines,
                             std::map<const KnownFinding*, size_t>& matched) {
    FindingCounts counts;
    std::map<const KnownFinding*, size_t> seen;
    for (const std::string& line : lines) {
        const KnownFinding* finding = nullptr;
        for (const KnownFinding& known : known_findings)
            if (table.kind == known.kind && table.hash == known.table && line.find(known.fragment) != std::string::npos)
                finding = &known;
        if (finding == nullptr) {
            ADD_FAILURE() << describe(table) << ": a line not among the known findings:\n  " << line;
            continue;
        }
        ++seen[finding];
        if (finding->outcome == Outcome::rejected) ++counts.rejected;
        if (finding->outcome == Outcome::corrected) ++counts.corrected;
    }
    for (const KnownFinding& known : known_findings) {
        if (table.kind != known.kind || table.hash != known.table) continue;
        matched[&known] += seen[&known];
        EXPECT_EQ(seen[&known], known.count)
            << describe(table) << ": known finding '" << known.fragment << "' (" << known.reason << ")";
    }
    return counts;
}

void expect_every_finding_seen(const std::string& kind, const std::map<const KnownFinding*, size_t>& matched) {
    for (const KnownFinding& known : known_findings) {
        if (kind != known.kind) continue;
        const auto found = matched.find(&known);
        EXPECT_TRUE(found != matched.end() && found->second > 0)
            << kind << "/" << known.table << ".bin: known finding '" << known.fragment
            << "' never appeared (is the table missing from the corpus?)";
    }
}

// No PCI configuration space comes with the tables: every bridge a
// multi-hop path crosses is taken to lead to the bus one above its own.
class OneBusBelowEachBridge final : public sluice::vtd::BridgeResolver {
public:
    sluice::Optional<sluice::vtd::BridgeBuses> bridge_buses(uint16_t, uint8_t bus, uint8_t, uint8_t) override {
        const uint8_t below = static_cast<uint8_t>(bus + 1);
        return sluice::vtd::BridgeBuses{below, below};
    }
};

#define SKIP_WITHOUT_CORPUS(directory)                                                                           \
    if (!(directory)) {                                                                                          \
        GTEST_SKIP() << "no firmware corpus: set SLUICE_FIRMWARE_DIRECTORY or place it in "                      \
                     << (filesystem::path(SLUICE_SOURCE_DIRECTORY) / ".." / "shared" / "firmware").lexically_normal() \
                     << " (dmar/, ivrs/, manifest.tsv)";                                                         \
    }

// What the code under test did with one table: how many structures it
// dropped and how many it kept corrected, to compare with the known findings.
struct CodeCounts {
    size_t rejected = 0;
    size_t corrected = 0;
};
// Runs the code under test over one table's bytes, checks what it built, and
// returns its counts; nothing when it refused the table (a failure already).
using TableCheck = std::function<std::optional<CodeCounts>(const CorpusTable& table, Span<const uint8_t> bytes,
                                                           const LogCapture& log)>;

// Every table of one kind: read, ACPI-checked and copied, then check, with the
// log captured throughout and compared with the known findings.
void run_corpus(const filesystem::path& directory, const std::string& kind, const sluice::acpi::Signature& signature,
                const TableCheck& check) {
    const std::vector<CorpusTable> tables = read_manifest(directory, kind);
    ASSERT_FALSE(tables.empty()) << "the manifest lists no " << kind << " table";
    std::map<const KnownFinding*, size_t> matched;
    for (const CorpusTable& table : tables) {
        SCOPED_TRACE(describe(table));
        const std::optional<std::vector<uint8_t>> raw = read_table(directory / kind / (table.hash + ".bin"), table);
        if (!raw) continue;
        const LogCapture log;
        const std::vector<uint8_t> bytes = check_and_copy(*raw, table, signature);
        const std::optional<CodeCounts> counts = check(table, Span<const uint8_t>(bytes.data(), bytes.size()), log);
        if (!counts) continue;
        const FindingCounts listed = check_findings(table, notable_lines(log), matched);
        EXPECT_EQ(counts->rejected, listed.rejected) << log.all();
        EXPECT_EQ(counts->corrected, listed.corrected) << log.all();
    }
    expect_every_finding_seen(kind, matched);
    std::printf("[ corpus   ] %zu %s tables\n", tables.size(), kind.c_str());
}

TEST(FirmwareCorpus, EveryRealDmarTableParsesWithOnlyKnownFindings) {
    const std::optional<filesystem::path> directory = corpus_directory();
    SKIP_WITHOUT_CORPUS(directory);
    auto description = std::make_unique<sluice::vtd::DmarDescription>();
    auto regions = std::make_unique<sluice::passthrough::ReservedRegionList>();
    const sluice::vtd::RmrrOption no_option;
    OneBusBelowEachBridge bridges;
    size_t units = 0;
    size_t reserved = 0;
    run_corpus(*directory, "dmar", sluice::acpi::Signature("DMAR"),
               [&](const CorpusTable& table, Span<const uint8_t> bytes,
                   const LogCapture& log) -> std::optional<CodeCounts> {
        description->clear();
        regions->clear();
        if (!sluice::vtd::parse_dmar(bytes, table_address, *description).ok()) {
            ADD_FAILURE() << describe(table) << ": parse_dmar refused the table:\n" << log.all();
            return std::nullopt;
        }
        const size_t parse_rejections = description->rejected();
        (void)description->resolve_scopes(bridges);
        // No memory map comes with the tables, so placement is not judged here.
        const sluice::vtd::CollectedRegions collected = sluice::vtd::collect_reserved_regions(
            *description, no_option, *regions, sluice::passthrough::PlacementPolicy{}, &bridges);
        EXPECT_EQ(collected.accepted + collected.rejected, description->reserved_memory().size());

        EXPECT_GE(description->units().size() + description->reserved_memory().size(), 1u)
            << "the table describes neither a unit nor a reserved region";
        for (const sluice::vtd::DmarUnit& unit : description->units()) {
            EXPECT_NE(unit.register_base, 0u);
            EXPECT_EQ(unit.register_base & (unit.register_size - 1), 0u);
        }
        for (const sluice::passthrough::ReservedRegion& region : regions->regions()) {
            EXPECT_LT(region.base, region.end);
            EXPECT_FALSE(region.devices.empty());
        }
        units += description->units().size();
        reserved += description->reserved_memory().size();
        return CodeCounts{parse_rejections + collected.rejected, 0};
    });
    std::printf("[ corpus   ] %zu remapping units, %zu RMRRs\n", units, reserved);
}

TEST(FirmwareCorpus, EveryRealIvrsTableParsesWithOnlyKnownFindings) {
    const std::optional<filesystem::path> directory = corpus_directory();
    SKIP_WITHOUT_CORPUS(directory);
    auto description = std::make_unique<sluice::amd::IvrsDescription>();
    auto regions = std::make_unique<sluice::passthrough::ReservedRegionList>();
    size_t units = 0;
    size_t ivmds = 0;
    run_corpus(*directory, "ivrs", sluice::acpi::Signature("IVRS"),
               [&](const CorpusTable& table, Span<const uint8_t> bytes,
                   const LogCapture& log) -> std::optional<CodeCounts> {
        regions->clear();
        if (!sluice::amd::parse_ivrs(bytes, table_address, *description).ok()) {
            ADD_FAILURE() << describe(table) << ": parse_ivrs refused the table:\n" << log.all();
            return std::nullopt;
        }
        size_t list_rejections = 0;
        for (const sluice::amd::IvmdRegion& ivmd : description->ivmd_regions()) {
            EXPECT_EQ(ivmd.start % sluice::page_size, 0u);
            EXPECT_EQ(ivmd.length % sluice::page_size, 0u);
            const sluice::Result<sluice::passthrough::ReservedRegion> region = sluice::amd::to_reserved_region(ivmd);
            EXPECT_TRUE(region.ok());
            if (region.ok() && !regions->add(region.value(), sluice::passthrough::PlacementPolicy{}).ok())
                ++list_rejections;
        }
        EXPECT_GE(description->units().size(), 1u) << "the table describes no IOMMU";
        for (const sluice::amd::IommuUnit& unit : description->units()) {
            EXPECT_NE(unit.base_address, 0u);
            EXPECT_GE(unit.highest_device_id, unit.device_id);
        }
        for (const sluice::amd::DeviceSetting& setting : description->device_settings()) {
            EXPECT_LT(setting.unit, description->units().size());
            EXPECT_LE(setting.first_device, setting.last_device);
        }
        units += description->units().size();
        ivmds += description->ivmd_regions().size();
        return CodeCounts{description->rejected_count() + list_rejections, description->rounded_count()};
    });
    std::printf("[ corpus   ] %zu IOMMUs, %zu IVMDs\n", units, ivmds);
}

}  // namespace
