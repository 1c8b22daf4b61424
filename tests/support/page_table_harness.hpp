// A page table of one format over a simulated machine, with the checks the
// page-table tests share: compare addresses against an interval model
// through the reference walker, dump every leaf, check structure and count
// pages.
#pragma once

#include "support/page_table_cases.hpp"
#include "support/page_table_models.hpp"
#include "support/simulated_machine.hpp"

#include <mm/paging/page_table.hpp>

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace sluice::testing {

template <typename Case> class PageTableHarness {
public:
    using Format = typename Case::Format;
    using Attributes = typename Case::Attributes;
    using Walker = paging::PageTableWalker<Format, PhysicalMemory>;

    static constexpr PhysicalAddress memory_base = 0x4000'0000;  // tables live at 1 GiB
    static constexpr uint64_t memory_pages = 16384;               // 64 MiB of table pages

    PageTableHarness()
        : simulated_(memory_base, memory_pages * page_size), memory_(simulated_),
          allocator_(simulated_, memory_base, memory_pages), format_(Case::format()), reference_(Case::reference()),
          root_(Walker::create_root(memory_, allocator_).value()), walker_(format_, memory_, root_, allocator_) {}

    Walker& walker() { return walker_; }
    RecordingMemory& memory() { return memory_; }
    SimulatedMemory& simulated() { return simulated_; }
    SimulatedPageAllocator& allocator() { return allocator_; }
    const ReferenceWalker& reference() const { return *reference_; }
    const Format& format() const { return format_; }
    PhysicalAddress root() const { return root_; }
    IntervalModel<Attributes>& model() { return model_; }

    ReferenceTranslation translate(uint64_t address) const { return reference_->translate(memory_, root_, address); }

    // Empty string when `address` translates as the model says, through the
    // reference walker and through the walker's own lookup.
    std::string check_address(uint64_t address) const {
        const ReferenceTranslation translation = translate(address);
        const auto expected = model_.lookup(address);
        std::ostringstream problem;
        if (!expected) {
            if (translation.fault != ReferenceFault::not_present)
                problem << "address " << std::hex << address << ": expected unmapped, hardware gives "
                        << translation.to_string();
        } else if (!translation.translated() || translation.output != expected->output ||
                   !Case::matches(translation, expected->attributes)) {
            problem << "address " << std::hex << address << ": expected -> " << expected->output << " "
                    << Case::describe(expected->attributes) << ", hardware gives " << translation.to_string();
        }
        const auto looked_up = walker_.lookup(address);
        if (problem.str().empty()) {
            if (expected.has_value() != looked_up.has_value()) {
                problem << "address " << std::hex << address << ": lookup() disagrees about presence";
            } else if (looked_up) {
                const uint64_t output = looked_up->output + (address - looked_up->input);
                if (output != expected->output || !(looked_up->attributes == expected->attributes))
                    problem << "address " << std::hex << address << ": lookup() gives " << output;
            }
        }
        return problem.str();
    }

    struct Leaf {
        uint64_t input, size, output;
        ReferenceTranslation translation;
    };
    // Every leaf, as the hardware model decodes the tables.
    std::vector<Leaf> dump() const {
        std::vector<Leaf> leaves;
        dump(root_, reference_->levels(), 0, leaves);
        return leaves;
    }

    // Whole-table comparison with the model, structure rules and page count.
    std::string check_everything(size_t pending_releases) const {
        std::ostringstream problem;
        uint64_t mapped = 0;
        for (const Leaf& leaf : dump()) {
            mapped += leaf.size;
            const auto& intervals = model_.intervals();
            auto it = intervals.upper_bound(leaf.input);
            if (it == intervals.begin()) {
                problem << "leaf at " << std::hex << leaf.input << " is not in the model\n";
                continue;
            }
            --it;
            uint64_t cursor = leaf.input;
            const uint64_t leaf_last = leaf.input + (leaf.size - 1);
            for (; it != intervals.end() && it->first <= leaf_last; ++it) {
                if (it->first > cursor || it->second.last < cursor) break;
                const uint64_t expected_output = it->second.output + (cursor - it->first);
                if (expected_output != leaf.output + (cursor - leaf.input) ||
                    !Case::matches(leaf.translation, it->second.attributes)) {
                    problem << "leaf at " << std::hex << leaf.input << " disagrees with the model at " << cursor << "\n";
                    break;
                }
                if (it->second.last >= leaf_last) {
                    cursor = leaf_last;
                    break;
                }
                cursor = it->second.last + 1;
            }
            if (cursor != leaf_last) problem << "leaf at " << std::hex << leaf.input << " only partly in the model\n";
        }
        uint64_t expected_mapped = 0;
        for (const auto& [start, interval] : model_.intervals()) expected_mapped += interval.last - start + 1;
        if (mapped != expected_mapped)
            problem << "tables map " << std::hex << mapped << " bytes, model " << expected_mapped << "\n";

        const auto tables = reachable_tables(*reference_, memory_, root_);
        if (allocator_.live_pages() != tables.size() + pending_releases)
            problem << "live pages " << allocator_.live_pages() << " != reachable tables " << tables.size()
                    << " + pending releases " << pending_releases << "\n";
        if (walker_.count_tables() != tables.size()) problem << "count_tables() disagrees\n";
        problem << check_structure();
        return problem.str();
    }

    // No empty table below the root, and no table the walker should have
    // merged into a superpage.
    std::string check_structure() const {
        std::ostringstream problem;
        check_structure(root_, reference_->levels(), 0, true, problem);
        return problem.str();
    }

private:
    void dump(uint64_t table, unsigned level, uint64_t base, std::vector<Leaf>& leaves) const {
        for (uint64_t index = 0; index < 512; ++index) {
            const uint64_t input = base + (index << reference_shift(level));
            if (level == reference_->levels() && input > reference_->last_input()) break;
            const uint64_t entry = memory_.read64(table + index * 8);
            const ReferenceStep step = reference_->step(entry, level, input);
            if (step.fault == ReferenceFault::not_present) continue;
            if (step.fault != ReferenceFault::none) {
                ADD_FAILURE() << "entry at " << std::hex << table + index * 8 << " faults: " << describe(step.fault);
                continue;
            }
            if (step.leaf) {
                leaves.push_back({input, step.leaf_size, step.next, translate(input)});
            } else {
                dump(step.next, step.next_level, input, leaves);
            }
        }
    }

    void check_structure(uint64_t table, unsigned level, uint64_t base, bool is_root, std::ostringstream& problem) const {
        unsigned present = 0;
        bool mergeable = !is_root && format_.leaf_allowed(level + 1);
        uint64_t first_output = 0;
        ReferenceTranslation first{};
        for (uint64_t index = 0; index < 512; ++index) {
            const uint64_t input = base + (index << reference_shift(level));
            const uint64_t entry = memory_.read64(table + index * 8);
            const ReferenceStep step = reference_->step(entry, level, input);
            if (step.fault != ReferenceFault::none) {
                mergeable = false;
                continue;
            }
            ++present;
            if (!step.leaf) {
                mergeable = false;
                check_structure(step.next, step.next_level, input, false, problem);
                continue;
            }
            if (!mergeable) continue;
            const ReferenceTranslation translation = translate(input);
            if (index == 0) {
                first_output = step.next;
                first = translation;
                if (first_output % (uint64_t{1} << reference_shift(level + 1)) != 0) mergeable = false;
            } else if (step.next != first_output + (index << reference_shift(level)) ||
                       translation.read != first.read || translation.write != first.write ||
                       translation.software_type != first.software_type || translation.uncached != first.uncached) {
                mergeable = false;
            }
        }
        if (!is_root && present == 0) problem << "empty table left at " << std::hex << table << "\n";
        if (present == 512 && mergeable)
            problem << "table at " << std::hex << table << " (input " << base << ") should be a superpage\n";
    }

    SimulatedMemory simulated_;
    RecordingMemory memory_;
    SimulatedPageAllocator allocator_;
    Format format_;
    std::unique_ptr<ReferenceWalker> reference_;
    PhysicalAddress root_;
    Walker walker_;
    IntervalModel<Attributes> model_;
};

}  // namespace sluice::testing
