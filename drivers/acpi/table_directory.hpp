// The directory of every valid ACPI table, built once at boot.
//
// discover() finds the RSDP, walks the XSDT (or the RSDT when there is no
// usable XSDT), checks each listed table and records the valid ones; the DSDT,
// which the FADT names instead of the root table, is added as well. A table
// that fails a check is left out with one warning naming its signature, its
// address and the reason. Parsers then look tables up by signature; several
// tables may share one (a second DMAR added by firmware or by QEMU's
// -acpitable), so find_all() visits every one of them.
#pragma once

#include <drivers/acpi/root_pointer.hpp>
#include <drivers/acpi/table_reader.hpp>
#include <drivers/acpi/tables.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>
#include <sluice/types.hpp>

namespace sluice::acpi {

// One valid table: its header has a proper signature, its length lies within
// 36 bytes..16 MiB, all its bytes are in accessible memory and they sum to 0.
struct TableDescription {
    Signature signature;
    PhysicalAddress address = 0;
    uint32_t length = 0;
    uint8_t revision = 0;
    char oem_id[6] = {};
};

// The tables with one signature, in directory order; use with range-for.
class MatchingTables {
public:
    class Iterator {
    public:
        constexpr Iterator(const TableDescription* current, const TableDescription* end, Signature signature)
            : current_(current), end_(end), signature_(signature) {
            skip_others();
        }
        [[nodiscard]] constexpr const TableDescription& operator*() const { return *current_; }
        [[nodiscard]] constexpr const TableDescription* operator->() const { return current_; }
        constexpr Iterator& operator++() {
            ++current_;
            skip_others();
            return *this;
        }
        friend constexpr bool operator==(const Iterator& first, const Iterator& second) {
            return first.current_ == second.current_;
        }

    private:
        constexpr void skip_others() {
            while (current_ != end_ && !(current_->signature == signature_)) ++current_;
        }
        const TableDescription* current_;
        const TableDescription* end_;
        Signature signature_;
    };

    constexpr MatchingTables(Span<const TableDescription> tables, Signature signature)
        : tables_(tables), signature_(signature) {}

    [[nodiscard]] constexpr Iterator begin() const { return Iterator(tables_.begin(), tables_.end(), signature_); }
    [[nodiscard]] constexpr Iterator end() const { return Iterator(tables_.end(), tables_.end(), signature_); }
    [[nodiscard]] constexpr size_t count() const {
        size_t matches = 0;
        for (Iterator iterator = begin(); iterator != end(); ++iterator) ++matches;
        return matches;
    }

private:
    Span<const TableDescription> tables_;
    Signature signature_;
};

// A fixed-capacity list of tables: usable before any allocator exists.
class TableDirectory {
public:
    static constexpr size_t capacity = 64;

    // Appends a table: Error::capacity when full, Error::already_exists when a
    // table at the same address is listed already (so a root table listing
    // itself, or one table listed twice, is recorded once).
    [[nodiscard]] Status add(const TableDescription& table);

    [[nodiscard]] Span<const TableDescription> tables() const { return Span<const TableDescription>(tables_, count_); }
    [[nodiscard]] size_t size() const { return count_; }

    [[nodiscard]] MatchingTables find_all(Signature signature) const { return MatchingTables(tables(), signature); }
    [[nodiscard]] Optional<TableDescription> find_first(Signature signature) const;
    [[nodiscard]] bool contains_address(PhysicalAddress address) const;

    // The RSDP the directory was built from.
    [[nodiscard]] const RootPointer& root_pointer() const { return root_pointer_; }
    void set_root_pointer(const RootPointer& root) { root_pointer_ = root; }

private:
    TableDescription tables_[capacity];
    size_t count_ = 0;
    RootPointer root_pointer_;
};

// Where the boot loader said the RSDP is. Each present source is tried in
// the order copy, physical_address, BIOS area scan; the first valid RSDP wins.
struct RsdpSource {
    // The RSDP bytes from multiboot2 tag 15 (preferred) or 14; empty if none.
    Span<const uint8_t> copy;
    // PVH hvm_start_info.rsdp_paddr; 0 if none.
    PhysicalAddress physical_address = 0;
    // Search the EBDA and 0xe0000-0xfffff when nothing else gave a valid RSDP.
    bool scan_bios_areas = true;

    static constexpr RsdpSource from_copy(Span<const uint8_t> bytes) { return RsdpSource{bytes, 0, true}; }
    static constexpr RsdpSource at(PhysicalAddress address) { return RsdpSource{{}, address, true}; }
    static constexpr RsdpSource scan() { return RsdpSource{}; }
};

// Finds the RSDP and builds the directory, logging one info line per RSDP and
// table ("acpi: DMAR 0x000000007ffe1b1e length 80 rev 1 (BOCHS )") and one
// warning per problem. Fails (Error::not_found, Error::malformed or
// Error::out_of_range) only when there is no valid RSDP or no valid root
// table; a bad individual table is skipped.
[[nodiscard]] Result<TableDirectory> discover(const PhysicalMemory& memory, const RsdpSource& source);

// The table walk alone, from an RSDP already validated.
[[nodiscard]] Result<TableDirectory> read_tables(const PhysicalMemory& memory, const RootPointer& root);

// Checks the table at address (header, signature, length, readable bytes,
// checksum) and describes it. location names the referrer in the warning
// ("RSDT entry 3"); expected, when given, is the signature it must have.
[[nodiscard]] Result<TableDescription> check_table(const PhysicalMemory& memory, PhysicalAddress address,
                                                   const char* location, const Signature* expected = nullptr);

// A bounds-checked reader over a table of the directory.
[[nodiscard]] inline TableReader open_table(const PhysicalMemory& memory, const TableDescription& table) {
    return TableReader(memory, table.address, table.length);
}

// Copies a table's bytes into destination (Error::capacity when it holds
// fewer than table.length bytes).
[[nodiscard]] Status copy_table(const PhysicalMemory& memory, const TableDescription& table, Span<uint8_t> destination);

// Logs the info line for one table.
void print(const TableDescription& table);

}  // namespace sluice::acpi
