// Reference walkers: hardware models of the four page-table formats,
// written from the specifications and kept apart from the code under test
// (they share no constants or functions with drivers/passthrough or mm/p2m).
// Each translates one address through a SimulatedMemory the way the IOMMU or
// processor would, including permission accumulation, superpage rules and
// reserved-bit / misconfiguration faults.
#pragma once

#include <sluice/physical_memory.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace sluice::testing {

enum class ReferenceFault : uint8_t {
    none,
    not_present,
    reserved_bit,       // a reserved bit was set (VT-d, AMD, NPT) or an EPT misconfiguration
    invalid_level,      // AMD: Next Level not below the current level
    address_too_wide,   // input beyond what the tables translate
};

inline const char* describe(ReferenceFault fault) {
    switch (fault) {
    case ReferenceFault::none: return "none";
    case ReferenceFault::not_present: return "not present";
    case ReferenceFault::reserved_bit: return "reserved bit / misconfiguration";
    case ReferenceFault::invalid_level: return "invalid next level";
    case ReferenceFault::address_too_wide: return "address too wide";
    }
    return "?";
}

struct ReferenceTranslation {
    ReferenceFault fault = ReferenceFault::not_present;
    uint64_t output = 0;       // machine address of the translated input address
    uint64_t page_size = 0;    // bytes of the leaf that translated it
    uint64_t page_base = 0;    // input address of that leaf's first byte
    bool read = false;
    bool write = false;
    bool execute = false;
    unsigned software_type = 0;  // EPT/NPT bits 55:52
    bool uncached = false;       // EPT memory type UC / NPT PCD+PWT
    bool snoop = false;          // VT-d SNP

    [[nodiscard]] bool translated() const { return fault == ReferenceFault::none; }
    [[nodiscard]] bool same_result(const ReferenceTranslation& other) const {
        if (fault != other.fault) return false;
        if (fault != ReferenceFault::none) return true;
        return output == other.output && read == other.read && write == other.write &&
               software_type == other.software_type && uncached == other.uncached && snoop == other.snoop;
    }
    [[nodiscard]] std::string to_string() const {
        if (!translated()) return std::string("fault(") + describe(fault) + ")";
        char text[160];
        std::snprintf(text, sizeof text, "-> %#llx %s%s%s type %u%s%s (leaf %#llx)",
                      static_cast<unsigned long long>(output), read ? "R" : "-", write ? "W" : "-",
                      execute ? "X" : "-", software_type, uncached ? " UC" : "", snoop ? " SNP" : "",
                      static_cast<unsigned long long>(page_size));
        return text;
    }
};

// What one entry means to the hardware at one level.
struct ReferenceStep {
    ReferenceFault fault = ReferenceFault::none;
    bool leaf = false;
    uint64_t next = 0;          // table address, or leaf output base
    unsigned next_level = 0;    // level of the next table (AMD may skip)
    uint64_t leaf_size = 0;
    bool read = false, write = false, execute = false, user = true;
    unsigned software_type = 0;
    bool uncached = false;
    bool snoop = false;
};

inline constexpr uint64_t bit(unsigned index) { return uint64_t{1} << index; }

// A walk step that ends in a fault of the given kind.
inline ReferenceStep fault(ReferenceFault kind) {
    ReferenceStep step;
    step.fault = kind;
    return step;
}
inline constexpr uint64_t bits_between(unsigned high, unsigned low) {
    return (high >= 63 ? ~uint64_t{0} : (bit(high + 1) - 1)) & ~(bit(low) - 1);
}
inline constexpr unsigned reference_shift(unsigned level) { return 12 + 9 * (level - 1); }

// The loop every radix format shares: read the entry the address selects,
// AND the rights, follow the pointer or stop at the leaf.
class ReferenceWalker {
public:
    virtual ~ReferenceWalker() = default;
    [[nodiscard]] virtual unsigned levels() const = 0;
    [[nodiscard]] virtual ReferenceStep step(uint64_t entry, unsigned level, uint64_t address) const = 0;
    // Highest input address the tables translate.
    [[nodiscard]] virtual uint64_t last_input() const {
        const unsigned width = 12 + 9 * levels();
        return width >= 64 ? ~uint64_t{0} : bit(width) - 1;
    }

    // Called for every non-leaf entry followed: the table it points to (at
    // table_level) and the rights accumulated so far. A paging-structure
    // cache model records these.
    using TableVisitor = std::function<void(unsigned table_level, uint64_t table, bool read, bool write, bool user)>;

    [[nodiscard]] ReferenceTranslation translate(const PhysicalMemory& memory, uint64_t root, uint64_t address) const {
        if (address > last_input()) {
            ReferenceTranslation result;
            result.fault = ReferenceFault::address_too_wide;
            return result;
        }
        return translate_from(memory, root, levels(), address, true, true, true, nullptr);
    }

    [[nodiscard]] ReferenceTranslation translate_from(const PhysicalMemory& memory, uint64_t table, unsigned level,
                                                      uint64_t address, bool read, bool write, bool user,
                                                      const TableVisitor* visitor) const {
        bool execute = true;
        ReferenceTranslation result;
        for (;;) {
            const uint64_t index = (address >> reference_shift(level)) & 511;
            const uint64_t entry = memory.read64(table + index * 8);
            const ReferenceStep current = step(entry, level, address);
            if (current.fault != ReferenceFault::none) {
                result.fault = current.fault;
                return result;
            }
            read = read && current.read;
            write = write && current.write;
            execute = execute && current.execute;
            user = user && current.user;
            if (current.leaf) {
                result.fault = ReferenceFault::none;
                result.page_size = current.leaf_size;
                result.page_base = address & ~(current.leaf_size - 1);
                result.output = current.next + (address & (current.leaf_size - 1));
                // Nested (NPT) walks are user accesses: without U/S anywhere
                // on the path nothing is allowed.
                result.read = read && user;
                result.write = write && user;
                result.execute = execute && user;
                result.software_type = current.software_type;
                result.uncached = current.uncached;
                result.snoop = current.snoop;
                return result;
            }
            if (current.next_level == 0 || current.next_level >= level) {
                result.fault = ReferenceFault::invalid_level;
                return result;
            }
            // Skipped levels (AMD): their index bits must be zero.
            for (unsigned skipped = current.next_level + 1; skipped < level; ++skipped) {
                if (((address >> reference_shift(skipped)) & 511) != 0) {
                    result.fault = ReferenceFault::not_present;
                    return result;
                }
            }
            if (visitor) (*visitor)(current.next_level, current.next, read, write, user);
            table = current.next;
            level = current.next_level;
        }
    }
};

// VT-d second-level translation (VT-d spec 3.7 and 9.8).
class VtdReference final : public ReferenceWalker {
public:
    VtdReference(unsigned levels, bool large_2m, bool large_1g, unsigned host_address_width)
        : levels_(levels), large_2m_(large_2m), large_1g_(large_1g), haw_(host_address_width) {}
    unsigned levels() const override { return levels_; }
    ReferenceStep step(uint64_t entry, unsigned level, uint64_t) const override {
        ReferenceStep result;
        result.read = (entry & bit(0)) != 0;
        result.write = (entry & bit(1)) != 0;
        result.execute = true;
        if (!result.read && !result.write) return fault(ReferenceFault::not_present);
        if (haw_ < 52 && (entry & bits_between(51, haw_)) != 0) return fault(ReferenceFault::reserved_bit);
        const bool page_size_bit = (entry & bit(7)) != 0;
        bool leaf = level == 1;
        if (level >= 2 && page_size_bit) {
            // PS is reserved in SL-PML4E/SL-PML5E, and in SL-PDPE/SL-PDE when
            // SLLPS does not report the size.
            if (level >= 4 || (level == 3 && !large_1g_) || (level == 2 && !large_2m_))
                return fault(ReferenceFault::reserved_bit);
            leaf = true;
        }
        const uint64_t address = entry & bits_between(51, 12);
        if (leaf) {
            const uint64_t size = bit(reference_shift(level));
            if ((address & (size - 1)) != 0) return fault(ReferenceFault::reserved_bit);
            result.leaf = true;
            result.leaf_size = size;
            result.next = address;
            result.snoop = (entry & bit(11)) != 0;
            // Scalable-mode / EPT-sharing fields the IOMMU ignores in
            // legacy mode; bits 55:52 are available to software.
            result.software_type = static_cast<unsigned>((entry >> 52) & 0xf);
            return result;
        }
        result.next = address;
        result.next_level = level - 1;
        return result;
    }

private:
    unsigned levels_;
    bool large_2m_, large_1g_;
    unsigned haw_;
};

// AMD-Vi host translation with v1 tables (AMD IOMMU spec 2.2.3).
class AmdReference final : public ReferenceWalker {
public:
    explicit AmdReference(unsigned levels) : levels_(levels) {}
    unsigned levels() const override { return levels_; }
    ReferenceStep step(uint64_t entry, unsigned level, uint64_t) const override {
        ReferenceStep result;
        if ((entry & bit(0)) == 0) return fault(ReferenceFault::not_present);
        if ((entry & bits_between(58, 52)) != 0) return fault(ReferenceFault::reserved_bit);
        result.read = (entry & bit(61)) != 0;
        result.write = (entry & bit(62)) != 0;
        result.execute = true;
        const unsigned next_level = static_cast<unsigned>((entry >> 9) & 7);
        const uint64_t address = entry & bits_between(51, 12);
        if (next_level == 0) {
            // A PTE at this level: the default page size of the level.
            result.leaf = true;
            result.leaf_size = bit(reference_shift(level));
            if ((address & (result.leaf_size - 1)) != 0) return fault(ReferenceFault::reserved_bit);
            result.next = address;
            return result;
        }
        if (next_level == 7) {
            // Size encoded in the address: the run of ones from bit 12 up.
            unsigned ones = 0;
            while (12 + ones < 52 && (address & bit(12 + ones)) != 0) ++ones;
            result.leaf = true;
            result.leaf_size = bit(12 + ones + 1);
            if (result.leaf_size > bit(reference_shift(level))) return fault(ReferenceFault::reserved_bit);
            result.next = address & ~(result.leaf_size - 1);
            return result;
        }
        result.next = address;
        result.next_level = next_level;
        return result;
    }

private:
    unsigned levels_;
};

// Intel EPT (SDM Vol. 3C, "EPT Translation Mechanism", "EPT Misconfigurations").
class EptReference final : public ReferenceWalker {
public:
    EptReference(unsigned levels, bool large_2m, bool large_1g, unsigned physical_address_width)
        : levels_(levels), large_2m_(large_2m), large_1g_(large_1g), maxphyaddr_(physical_address_width) {}
    unsigned levels() const override { return levels_; }
    ReferenceStep step(uint64_t entry, unsigned level, uint64_t) const override {
        ReferenceStep result;
        if ((entry & 7) == 0) return fault(ReferenceFault::not_present);
        result.read = (entry & bit(0)) != 0;
        result.write = (entry & bit(1)) != 0;
        result.execute = (entry & bit(2)) != 0;
        if (result.write && !result.read) return fault(ReferenceFault::reserved_bit);
        if (maxphyaddr_ < 52 && (entry & bits_between(51, maxphyaddr_)) != 0) return fault(ReferenceFault::reserved_bit);
        bool leaf = level == 1;
        if (level >= 2 && (entry & bit(7)) != 0) {
            if (level >= 4 || (level == 3 && !large_1g_) || (level == 2 && !large_2m_))
                return fault(ReferenceFault::reserved_bit);
            leaf = true;
        }
        const uint64_t address = entry & bits_between(51, 12);
        if (!leaf) {
            // Bits 7:3 are reserved in entries that reference a table.
            if ((entry & bits_between(7, 3)) != 0) return fault(ReferenceFault::reserved_bit);
            result.next = address;
            result.next_level = level - 1;
            return result;
        }
        const unsigned memory_type = static_cast<unsigned>((entry >> 3) & 7);
        if (memory_type == 2 || memory_type == 3 || memory_type == 7) return fault(ReferenceFault::reserved_bit);
        const uint64_t size = bit(reference_shift(level));
        if ((address & (size - 1)) != 0) return fault(ReferenceFault::reserved_bit);
        result.leaf = true;
        result.leaf_size = size;
        result.next = address;
        result.software_type = static_cast<unsigned>((entry >> 52) & 0xf);
        result.uncached = memory_type == 0;
        return result;
    }

private:
    unsigned levels_;
    bool large_2m_, large_1g_;
    unsigned maxphyaddr_;
};

// AMD nested paging over long-mode tables (AMD APM Vol. 2, 5.3, 5.4, 15.25).
class NptReference final : public ReferenceWalker {
public:
    NptReference(bool large_1g, unsigned physical_address_width)
        : large_1g_(large_1g), maxphyaddr_(physical_address_width) {}
    unsigned levels() const override { return 4; }
    ReferenceStep step(uint64_t entry, unsigned level, uint64_t) const override {
        ReferenceStep result;
        if ((entry & bit(0)) == 0) return fault(ReferenceFault::not_present);
        if (maxphyaddr_ < 52 && (entry & bits_between(51, maxphyaddr_)) != 0) return fault(ReferenceFault::reserved_bit);
        result.read = true;
        result.write = (entry & bit(1)) != 0;
        result.user = (entry & bit(2)) != 0;
        result.execute = true;
        bool leaf = level == 1;
        if (level >= 2 && (entry & bit(7)) != 0) {
            if (level == 4 || (level == 3 && !large_1g_)) return fault(ReferenceFault::reserved_bit);
            leaf = true;
        }
        if (!leaf) {
            result.next = entry & bits_between(51, 12);
            result.next_level = level - 1;
            return result;
        }
        const uint64_t size = bit(reference_shift(level));
        uint64_t address = entry & bits_between(51, 12);
        bool pat = false;
        if (level > 1) {
            // Bit 12 is PAT in a large leaf; bits below the page size above
            // it are reserved.
            pat = (address & bit(12)) != 0;
            address &= ~bit(12);
            if ((address & (size - 1)) != 0) return fault(ReferenceFault::reserved_bit);
        } else {
            pat = (entry & bit(7)) != 0;
        }
        result.leaf = true;
        result.leaf_size = size;
        result.next = address;
        result.software_type = static_cast<unsigned>((entry >> 52) & 0xf);
        // With the power-on PAT, PAT=0 PCD=1 PWT=1 selects entry 3: UC.
        result.uncached = !pat && (entry & bit(4)) != 0 && (entry & bit(3)) != 0;
        return result;
    }

private:
    bool large_1g_;
    unsigned maxphyaddr_;
};

// Every table page reachable from a root, as the hardware model sees it,
// with the level of each. Used to count pages (leaks) and to check
// structure (no empty tables, no table that should have been a superpage).
struct ReferenceTable {
    uint64_t address;
    unsigned level;
};
inline std::vector<ReferenceTable> reachable_tables(const ReferenceWalker& walker, const PhysicalMemory& memory,
                                                    uint64_t root) {
    std::vector<ReferenceTable> tables{{root, walker.levels()}};
    for (size_t cursor = 0; cursor < tables.size(); ++cursor) {
        const ReferenceTable table = tables[cursor];
        if (table.level == 1) continue;
        for (uint64_t index = 0; index < 512; ++index) {
            const uint64_t entry = memory.read64(table.address + index * 8);
            const ReferenceStep step = walker.step(entry, table.level, 0);
            if (step.fault == ReferenceFault::none && !step.leaf) tables.push_back({step.next, step.next_level});
        }
    }
    return tables;
}

}  // namespace sluice::testing
