// One walker for every radix page-table format: VT-d second-level tables,
// AMD-Vi v1 I/O page tables, EPT and NPT.
//
// A Format is a small traits value that encodes and decodes one 64-bit entry
// and says which levels may hold leaves (the contract in full is below). The
// formats live with their users: VT-d and AMD-Vi with the IOMMU drivers
// (page_table_vtd.hpp, page_table_amd.hpp), EPT and NPT in mm/p2m/; this
// layer includes none of them. Memory is anything with read64/write64/
// zero_page: the PhysicalMemory seam in the image and the host tests, a
// plain arena in the benchmarks.
//
// The walker works on ranges, not pages: it descends once per level over the
// part of the range each entry covers, so mapping 512 GiB with 1 GiB leaves
// writes 512 entries and one table. It always uses the largest leaf that the
// format allows at an entry and that the input range and output address
// alignment permit; it splits a superpage when only part of it changes,
// merges a table back into a superpage when a change makes all its entries
// one contiguous run, and unlinks tables that become empty.
//
// Rules that keep a concurrently walking IOMMU or processor safe:
//  - every entry is written with a single 64-bit store;
//  - a new table is complete (zeroed, or filled with copies of the superpage
//    it replaces, and with the requested change applied) before the single
//    store that links it, so an address outside the changed range never
//    translates differently, not even for an instant;
//  - an unlinked table page is never written again and goes to the batch,
//    which returns it to the allocator only after the invalidation.
//
// Map and unmap record what they changed in a Batch and never invalidate.
// On failure (out of memory) part of the range may already be changed; the
// tables are consistent, nothing leaks, and the change is recorded, so the
// caller can undo by unmapping (identity_map.cpp reserves pages for that).
//
// The format contract every walker format follows:
//   using Attributes;                       // what a leaf grants; has ==
//   static constexpr uint64_t hardware_managed_bits;  // bits hardware may set
//   unsigned levels() const;
//   uint64_t last_input() const;            // highest mappable input address
//   uint64_t last_output() const;           // highest addressable output
//   bool leaf_allowed(unsigned level) const;
//   bool valid(Attributes) const;           // can a leaf express them?
//   bool present(uint64_t entry) const;
//   bool leaf(uint64_t entry, unsigned level) const;      // entry is present
//   PhysicalAddress address(uint64_t entry, unsigned level) const;
//   Attributes attributes(uint64_t entry, unsigned level) const;
//   uint64_t encode_leaf(PhysicalAddress, Attributes, unsigned level) const;
//   uint64_t encode_table(PhysicalAddress table, unsigned level) const;
// A leaf encoding must decode back to the same address and attributes.
#pragma once

#include <mm/paging/batch.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::paging {

// One leaf as lookup and for_each_mapping report it.
template <typename Attributes> struct Mapping {
    uint64_t input = 0;           // first address the leaf translates
    uint64_t size = 0;            // bytes it translates
    PhysicalAddress output = 0;   // where `input` goes
    Attributes attributes{};
    unsigned level = 0;           // 1 for 4 KiB, 2 for 2 MiB, 3 for 1 GiB
};

template <typename Format, typename Memory = PhysicalMemory> class PageTableWalker {
public:
    using Attributes = typename Format::Attributes;

    // Unlinked table pages go back to `owner` (through the batch).
    PageTableWalker(const Format& format, Memory& memory, PhysicalAddress root, PageAllocator& owner)
        : format_(format), memory_(memory), root_(root), owner_(&owner) {}

    // An empty top-level table.
    [[nodiscard]] static Result<PhysicalAddress> create_root(Memory& memory, PageAllocator& allocator) {
        const PhysicalAddress root = SLUICE_TRY(allocator.allocate_page());
        memory.zero_page(root);
        return root;
    }

    [[nodiscard]] PhysicalAddress root() const { return root_; }
    [[nodiscard]] const Format& format() const { return format_; }

    // Maps [address, address + length) to [output, output + length). New
    // table pages come from `allocator` (the owner, or a reserve drawing on
    // it: identity_map.cpp undoes with pre-allocated pages).
    // Error::invalid_argument for unaligned or empty ranges and attributes the
    // format cannot express; Error::out_of_range beyond the input or output
    // address width; Error::out_of_memory when a table page was unavailable
    // (see the header comment for the state left behind).
    [[nodiscard]] Status map(uint64_t address, uint64_t length, PhysicalAddress output, Attributes attributes,
                             PageAllocator& allocator, Batch& batch) {
        SLUICE_TRY(check_range(address, length));
        if (!is_aligned(output, page_size)) return Error::invalid_argument;
        if (output > format_.last_output() || length - 1 > format_.last_output() - output) return Error::out_of_range;
        if (!format_.valid(attributes)) return Error::invalid_argument;
        Operation operation{true, attributes, output - address, &allocator, &batch};
        return run(address, address + (length - 1), operation);
    }

    // Removes every translation in [address, address + length); splitting a
    // superpage that straddles an end needs a table page.
    [[nodiscard]] Status unmap(uint64_t address, uint64_t length, PageAllocator& allocator, Batch& batch) {
        SLUICE_TRY(check_range(address, length));
        Operation operation{false, Attributes{}, 0, &allocator, &batch};
        return run(address, address + (length - 1), operation);
    }

    // The leaf translating `address`, if any.
    [[nodiscard]] Optional<Mapping<Attributes>> lookup(uint64_t address) const {
        if (address > format_.last_input()) return {};
        PhysicalAddress table = root_;
        for (unsigned level = format_.levels(); level >= 1; --level) {
            const uint64_t entry = read_entry(table, table_index(address, level));
            if (!format_.present(entry)) return {};
            if (format_.leaf(entry, level)) {
                const uint64_t span = level_span(level);
                const uint64_t base = align_down(address, span);
                return Mapping<Attributes>{base, span, format_.address(entry, level), format_.attributes(entry, level),
                                           level};
            }
            table = format_.address(entry, level);
        }
        return {};
    }

    // Calls visitor(const Mapping&) for each leaf intersecting
    // [address, address + length), in address order, until it returns false.
    // Returns false when the visitor stopped the walk.
    template <typename Visitor> bool for_each_mapping(uint64_t address, uint64_t length, Visitor&& visitor) const {
        if (length == 0 || address > format_.last_input()) return true;
        const uint64_t last = min(format_.last_input(), length - 1 > ~uint64_t{0} - address ? ~uint64_t{0}
                                                                                             : address + (length - 1));
        return visit(root_, format_.levels(), address, last, visitor);
    }

    // Table pages reachable from the root, the root included.
    [[nodiscard]] uint64_t count_tables() const { return count_tables(root_, format_.levels()); }

    // Hands every table page, the root included, to the batch. The caller
    // has made sure no hardware uses the tables any more (the batch still
    // invalidates before the pages are reused).
    void release_all(Batch& batch) {
        batch.record(0, format_.last_input(), Change::modified | Change::structure, 0);
        release_subtree(root_, format_.levels(), batch);
    }

private:
    struct Operation {
        bool map;
        Attributes attributes;
        uint64_t output_offset;   // output = input + output_offset (mod 2^64)
        PageAllocator* allocator;
        Batch* batch;
        Change change = Change::none;
        unsigned smallest_level = max_levels;
    };

    [[nodiscard]] Status check_range(uint64_t address, uint64_t length) const {
        if (length == 0 || !is_aligned(address, page_size) || !is_aligned(length, page_size))
            return Error::invalid_argument;
        if (address > format_.last_input() || length - 1 > format_.last_input() - address) return Error::out_of_range;
        return success();
    }

    [[nodiscard]] Status run(uint64_t address, uint64_t last, Operation& operation) {
        const Status status = apply(root_, format_.levels(), address, last, operation);
        // Recorded even on failure: whatever did change must be flushed.
        operation.batch->record(address, last, operation.change, leaf_order(operation.smallest_level));
        return status;
    }

    [[nodiscard]] uint64_t read_entry(PhysicalAddress table, unsigned index) const {
        return memory_.read64(table + uint64_t{index} * entry_size);
    }
    void write_entry(PhysicalAddress table, unsigned index, uint64_t value) {
        memory_.write64(table + uint64_t{index} * entry_size, value);
    }
    [[nodiscard]] uint64_t comparable(uint64_t entry) const { return entry & ~Format::hardware_managed_bits; }

    // Applies the operation to [address, last] inside the table at `level`,
    // which translates all of that range.
    [[nodiscard]] Status apply(PhysicalAddress table, unsigned level, uint64_t address, uint64_t last,
                               Operation& operation) {
        if (level == 1) {
            apply_leaves(table, address, last, operation);
            return success();
        }
        const uint64_t span = level_span(level);
        for (unsigned index = table_index(address, level);; ++index) {
            const uint64_t entry_start = align_down(address, span);
            const uint64_t entry_last = entry_start + (span - 1);
            const uint64_t chunk_last = min(last, entry_last);
            const bool whole = address == entry_start && chunk_last == entry_last;
            SLUICE_TRY(apply_entry(table, index, level, address, chunk_last, whole, operation));
            if (chunk_last == last) return success();
            address = chunk_last + 1;
        }
    }

    // Level 1 holds only 4 KiB leaves: the tight loop that 4 KiB mapping
    // speed depends on.
    void apply_leaves(PhysicalAddress table, uint64_t address, uint64_t last, Operation& operation) {
        const unsigned first = table_index(address, 1);
        const unsigned final = table_index(last, 1);
        Change change = Change::none;
        if (operation.map) {
            PhysicalAddress output = address + operation.output_offset;
            for (unsigned index = first; index <= final; ++index, output += page_size) {
                const uint64_t wanted = format_.encode_leaf(output, operation.attributes, 1);
                const uint64_t old = read_entry(table, index);
                if (comparable(old) == wanted) continue;
                write_entry(table, index, wanted);
                change |= format_.present(old) ? Change::modified : Change::added;
            }
        } else {
            for (unsigned index = first; index <= final; ++index) {
                const uint64_t old = read_entry(table, index);
                if (!format_.present(old)) continue;
                write_entry(table, index, 0);
                change |= Change::modified;
            }
        }
        if (change != Change::none) {
            operation.change |= change;
            operation.smallest_level = 1;
        }
    }

    [[nodiscard]] Status apply_entry(PhysicalAddress table, unsigned index, unsigned level, uint64_t address,
                                     uint64_t last, bool whole, Operation& operation) {
        const uint64_t old = read_entry(table, index);
        const bool present = format_.present(old);
        const bool old_leaf = present && format_.leaf(old, level);
        const uint64_t span = level_span(level);

        if (operation.map) {
            const PhysicalAddress output = address + operation.output_offset;
            if (whole && format_.leaf_allowed(level) && is_aligned(output, span)) {
                const uint64_t wanted = format_.encode_leaf(output, operation.attributes, level);
                if (comparable(old) == wanted) return success();
                write_entry(table, index, wanted);
                note(operation, level, present ? Change::modified : Change::added);
                if (present && !old_leaf) unlink_subtree(old, level, address, last, operation);
                return success();
            }
            // A superpage that already gives this part of the range exactly
            // what is asked needs no split.
            if (old_leaf && format_.attributes(old, level) == operation.attributes &&
                format_.address(old, level) + (address - align_down(address, span)) == output)
                return success();
        } else {
            if (!present) return success();
            if (whole) {
                write_entry(table, index, 0);
                note(operation, level, Change::modified);
                if (!old_leaf) unlink_subtree(old, level, address, last, operation);
                return success();
            }
        }

        if (present && !old_leaf) {
            // Change the existing table in place, then see whether it can
            // collapse.
            const PhysicalAddress child = format_.address(old, level);
            const Status status = apply(child, level - 1, address, last, operation);
            collapse(table, index, level, child, address, operation);
            return status;
        }

        // A new table: empty, or a copy of the superpage it replaces. The
        // change is applied to it while no hardware can see it, then one store
        // links it.
        const PhysicalAddress child = SLUICE_TRY(operation.allocator->allocate_page());
        if (old_leaf) {
            // Splitting: units may hold the whole superpage in one IOTLB
            // entry, and a page-selective invalidation removes it only when
            // its mask covers the entire superpage (VT-d spec, Invalidate
            // Address Register, AM field; AMD INVALIDATE_IOMMU_PAGES size
            // encoding). Record the superpage's span, not just the range.
            const uint64_t superpage_start = align_down(address, span);
            operation.batch->record(superpage_start, superpage_start + (span - 1), Change::modified | Change::structure,
                                    leaf_order(level));
        }
        if (old_leaf) {
            const uint64_t child_span = level_span(level - 1);
            const PhysicalAddress base = format_.address(old, level);
            const Attributes attributes = format_.attributes(old, level);
            for (unsigned child_index = 0; child_index < entries_per_table; ++child_index)
                write_entry(child, child_index,
                            format_.encode_leaf(base + child_index * child_span, attributes, level - 1));
        } else {
            memory_.zero_page(child);
        }
        const Change before = operation.change;
        const Status status = apply(child, level - 1, address, last, operation);
        if (!status.ok()) {
            // Never linked: no hardware saw it, so it can go straight back.
            operation.change = before;
            free_unlinked(child, level - 1, *operation.allocator);
            return status;
        }
        write_entry(table, index, format_.encode_table(child, level));
        operation.change |= Change::structure | (present ? Change::modified : Change::added);
        return success();
    }

    // The table behind `old` (an entry at `level` spanning [start, last],
    // just overwritten) is unreachable now. The span is recorded before the
    // pages go to the batch: if the batch has to commit early, its
    // invalidation must already cover them.
    void unlink_subtree(uint64_t old, unsigned level, uint64_t start, uint64_t last, Operation& operation) {
        operation.change |= Change::structure;
        operation.batch->record(start, last, operation.change, leaf_order(operation.smallest_level));
        release_subtree(format_.address(old, level), level - 1, *operation.batch);
    }

    void note(Operation& operation, unsigned level, Change change) {
        operation.change |= change;
        if (level < operation.smallest_level) operation.smallest_level = level;
    }

    // After changing the live table `child` (linked from table[index] at
    // `level`): replace it by a superpage when all its entries form one
    // contiguous run with equal attributes, or remove it when it is empty.
    void collapse(PhysicalAddress table, unsigned index, unsigned level, PhysicalAddress child, uint64_t address,
                  Operation& operation) {
        const uint64_t span = level_span(level);
        const uint64_t entry_start = align_down(address, span);
        uint64_t replacement;
        if (operation.map) {
            if (!format_.leaf_allowed(level)) return;
            const uint64_t first = read_entry(child, 0);
            if (!format_.present(first) || !format_.leaf(first, level - 1)) return;
            const PhysicalAddress base = format_.address(first, level - 1);
            if (!is_aligned(base, span)) return;
            const Attributes attributes = format_.attributes(first, level - 1);
            const uint64_t child_span = level_span(level - 1);
            for (unsigned child_index = 1; child_index < entries_per_table; ++child_index) {
                if (comparable(read_entry(child, child_index)) !=
                    format_.encode_leaf(base + child_index * child_span, attributes, level - 1))
                    return;
            }
            replacement = format_.encode_leaf(base, attributes, level);
        } else {
            for (unsigned child_index = 0; child_index < entries_per_table; ++child_index)
                if (format_.present(read_entry(child, child_index))) return;
            replacement = 0;
        }
        write_entry(table, index, replacement);
        operation.change |= Change::modified | Change::structure;
        // The whole span: cached paging-structure entries pointing into the
        // unlinked table must go, wherever in the span they were used.
        operation.batch->record(entry_start, entry_start + (span - 1), Change::modified | Change::structure,
                                leaf_order(level));
        operation.batch->defer_release(child, *owner_);
    }

    // Defers `table` (at `level`) and every table below it to the batch.
    void release_subtree(PhysicalAddress table, unsigned level, Batch& batch) {
        if (level > 1) {
            for (unsigned index = 0; index < entries_per_table; ++index) {
                const uint64_t entry = read_entry(table, index);
                if (format_.present(entry) && !format_.leaf(entry, level))
                    release_subtree(format_.address(entry, level), level - 1, batch);
            }
        }
        batch.defer_release(table, *owner_);
    }

    // Frees a table (and its subtables) that was never linked, to the
    // allocator it came from.
    void free_unlinked(PhysicalAddress table, unsigned level, PageAllocator& allocator) {
        if (level > 1) {
            for (unsigned index = 0; index < entries_per_table; ++index) {
                const uint64_t entry = read_entry(table, index);
                if (format_.present(entry) && !format_.leaf(entry, level))
                    free_unlinked(format_.address(entry, level), level - 1, allocator);
            }
        }
        allocator.free_page(table);
    }

    template <typename Visitor>
    bool visit(PhysicalAddress table, unsigned level, uint64_t address, uint64_t last, Visitor& visitor) const {
        const uint64_t span = level_span(level);
        for (unsigned index = table_index(address, level);; ++index) {
            const uint64_t entry_start = align_down(address, span);
            const uint64_t chunk_last = min(last, entry_start + (span - 1));
            const uint64_t entry = read_entry(table, index);
            if (format_.present(entry)) {
                if (format_.leaf(entry, level)) {
                    if (!visitor(Mapping<Attributes>{entry_start, span, format_.address(entry, level),
                                                     format_.attributes(entry, level), level}))
                        return false;
                } else if (!visit(format_.address(entry, level), level - 1, address, chunk_last, visitor)) {
                    return false;
                }
            }
            if (chunk_last == last) return true;
            address = chunk_last + 1;
        }
    }

    [[nodiscard]] uint64_t count_tables(PhysicalAddress table, unsigned level) const {
        uint64_t count = 1;
        if (level == 1) return count;
        for (unsigned index = 0; index < entries_per_table; ++index) {
            const uint64_t entry = read_entry(table, index);
            if (format_.present(entry) && !format_.leaf(entry, level))
                count += count_tables(format_.address(entry, level), level - 1);
        }
        return count;
    }

    Format format_;
    Memory& memory_;
    PhysicalAddress root_;
    PageAllocator* owner_;
};

}  // namespace sluice::paging
