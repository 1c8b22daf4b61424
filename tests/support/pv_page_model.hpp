// A reference model of the PV page-type rules, written from the rules in
// docs/pv.md and Intel SDM Vol. 3A 4.5, not from the engine: it never asks
// the engine anything and shares no decoder with it.
//
// The model is declarative. A configuration is the contents of the domain's
// frames plus the roots (pins and base pointers). It is legal when the
// frames reachable from the roots get exactly one level each, every present
// entry of a reachable table passes the entry rules, and no reachable L1
// entry maps a reachable table writable. An operation succeeds exactly when
// the configuration it would pass through is legal; because the engine takes
// new references before it drops old ones, an entry update is checked with
// both the old and the new value present. Types and counts then follow by
// counting references in the reachable tables.
//
// Scope: the random test makes an entry read-only only when it points at
// its own table or at a frame the domain does not own, so linear entries to
// other tables (whose meaning depends on the order of validation) never
// arise; unit tests cover those and read-only mappings of tables.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice::testing::model {

inline constexpr uint64_t present = 1, writable = 2, user = 4, accessed = 0x20, dirty = 0x40, large = 0x80,
                          global = 0x100;
inline constexpr uint64_t address_bits = 0x000f'ffff'ffff'f000;
inline constexpr uint64_t key_bits = uint64_t{0xf} << 59;

struct Expected {
    int level = 0;  // 1-4 for a table, 0 otherwise
    uint32_t table_count = 0;
    uint32_t writable_count = 0;
    uint32_t references = 0;
};

struct Extra {  // an entry value present next to the current one
    uint64_t table = 0;
    unsigned index = 0;
    uint64_t value = 0;
};

class PageModel {
public:
    // frames: the domain's frames the test uses (contents tracked); foreign:
    // frames owned by someone else; io: frames of I/O memory the domain may map.
    PageModel(std::set<uint64_t> frames, std::set<uint64_t> io, std::vector<uint64_t> hypervisor_entries)
        : frames_(std::move(frames)), io_(std::move(io)), hypervisor_(std::move(hypervisor_entries)) {
        for (uint64_t frame : frames_) contents[frame] = std::vector<uint64_t>(512, 0);
    }

    std::map<uint64_t, std::vector<uint64_t>> contents;
    std::map<uint64_t, int> pins;  // frame -> level
    std::optional<uint64_t> kernel_base, user_base;
    mutable std::string reason;  // why the last evaluate() said illegal

    bool owned(uint64_t frame) const { return frames_.count(frame) != 0; }

    // Computes the expectation for a configuration; false when illegal.
    bool evaluate(std::map<uint64_t, Expected>& out, const std::vector<std::pair<uint64_t, int>>& extra_roots = {},
                  const std::optional<Extra>& extra = std::nullopt) const {
        out.clear();
        std::vector<std::pair<uint64_t, int>> roots;
        for (auto [frame, level] : pins) roots.push_back({frame, level});
        if (kernel_base) roots.push_back({*kernel_base, 4});
        if (user_base) roots.push_back({*user_base, 4});
        for (auto root : extra_roots) roots.push_back(root);

        std::map<uint64_t, int> level_of;
        std::vector<uint64_t> work;
        auto assign = [&](uint64_t frame, int level) {
            if (!owned(frame)) return (reason = "not owned: " + std::to_string(frame), false);
            auto found = level_of.find(frame);
            if (found != level_of.end())
                return found->second == level ||
                       (reason = "frame " + std::to_string(frame) + " at levels " + std::to_string(found->second) +
                                 " and " + std::to_string(level),
                        false);
            level_of[frame] = level;
            work.push_back(frame);
            return true;
        };
        for (auto [frame, level] : roots) {
            if (!assign(frame, level)) return false;
            ++out[frame].table_count;
            ++out[frame].references;
        }
        std::map<uint64_t, uint32_t> writable_mappings;
        while (!work.empty()) {
            const uint64_t table = work.back();
            work.pop_back();
            const int level = level_of[table];
            std::vector<uint64_t> values;
            for (unsigned index = 0; index < 512; ++index) {
                if (level == 4 && index >= 256 && index < 272) continue;
                values.clear();
                values.push_back(contents.at(table)[index]);
                if (extra && extra->table == table && extra->index == index) values.push_back(extra->value);
                for (uint64_t value : values) {
                    if ((value & present) == 0) continue;
                    // G is the guest's in an L1 entry (ignored with CR4.PGE
                    // clear), refused above; protection keys never.
                    if ((level >= 2 && (value & global) != 0) || (value & key_bits) != 0)
                        return (reason = "bits", false);
                    if (level >= 2 && (value & large) != 0) return (reason = "PS", false);
                    const uint64_t target = (value & address_bits) >> 12;
                    if (level == 1) {
                        if (owned(target)) {
                            ++out[target].references;
                            if ((value & writable) != 0) ++writable_mappings[target];
                        } else if (io_.count(target) == 0) {
                            return (reason = "maps foreign " + std::to_string(target), false);
                        }
                        continue;
                    }
                    if (target == table) {
                        // The recursive mapping: read-only, holds nothing.
                        if ((value & writable) != 0) return (reason = "writable self entry", false);
                        continue;
                    }
                    if (!assign(target, level - 1)) return false;
                    ++out[target].table_count;
                    ++out[target].references;
                }
            }
        }
        for (auto [frame, count] : writable_mappings) {
            if (level_of.count(frame) != 0) return (reason = "writable table " + std::to_string(frame), false);
            out[frame].writable_count = count;
        }
        for (auto [frame, level] : level_of) out[frame].level = level;
        return true;
    }

    // After a legal change: what the engine writes into validated tables.
    void apply_validation_writes() {
        std::map<uint64_t, Expected> expected;
        if (!evaluate(expected)) throw std::logic_error("model: applied an illegal configuration");
        for (auto& [frame, state] : expected) {
            if (state.level == 0) continue;
            auto& words = contents[frame];
            for (unsigned index = 0; index < 512; ++index) {
                if (state.level == 4 && index >= 256 && index < 272) words[index] = hypervisor_[index - 256];
                else if ((words[index] & present) != 0) words[index] |= user;
            }
        }
    }

    int level_now(uint64_t frame) const {
        std::map<uint64_t, Expected> expected;
        evaluate(expected);
        auto found = expected.find(frame);
        return found == expected.end() ? 0 : found->second.level;
    }

private:
    std::set<uint64_t> frames_;
    std::set<uint64_t> io_;
    std::vector<uint64_t> hypervisor_;
};

}  // namespace sluice::testing::model
