// Long random sequences of mmu_update / pin / unpin / base-pointer changes
// and guest writes, checked after every step against the reference model
// (tests/support/pv_page_model.hpp): outcome, types and counts, contents of
// the tables, no writable mapping of a table, no mapping of a frame the
// domain does not own, and (strict) the IOMMU-mapped set. A failure prints
// its seed; PV_PAGE_TYPES_SEED=<n> replays one seed.
#include "support/pv_machine.hpp"
#include "support/pv_page_model.hpp"
#include "support/test_effort.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>

namespace sluice::testing {
namespace {

using x86::mm::FrameType;

constexpr unsigned pool_size = 24;
constexpr unsigned steps_per_seed = 600;

class RandomRun {
public:
    explicit RandomRun(uint64_t seed) : random_(seed), model_(pool(), io(), hypervisor_entries()) {}

    void run() {
        for (step_ = 0; step_ < steps_per_seed; ++step_) {
            one_step();
            check();
            if (::testing::Test::HasFailure()) return;
        }
    }

    // How much of the rule space a run reached, so a generator that only
    // ever produces failures (or only successes) is noticed.
    struct Coverage {
        unsigned succeeded = 0, failed = 0, l4_tables = 0, l1_tables = 0, late_unmaps = 0;
    } coverage;

private:
    static std::set<uint64_t> pool() {
        std::set<uint64_t> frames;
        for (unsigned index = 0; index < pool_size; ++index) frames.insert(PvMachine::frame(index));
        return frames;
    }
    static std::set<uint64_t> io() { return {PvMachine::io_frame}; }
    std::vector<uint64_t> hypervisor_entries() const {
        std::vector<uint64_t> entries;
        for (unsigned index = 0; index < 16; ++index) entries.push_back(machine_.slots.entry(index));
        return entries;
    }

    unsigned below(unsigned limit) { return std::uniform_int_distribution<unsigned>(0, limit - 1)(random_); }
    bool chance(unsigned percent) { return below(100) < percent; }
    uint64_t pool_frame() { return PvMachine::frame(below(pool_size)); }

    uint64_t random_target() {
        const unsigned roll = below(100);
        if (roll < 82) return pool_frame();
        if (roll < 86) return PvMachine::other_frame;
        if (roll < 90) return PvMachine::hypervisor_frame;
        if (roll < 95) return PvMachine::io_frame;
        return PvMachine::forbidden_io_frame;
    }
    // Read-only only towards the table itself or frames the domain does not
    // own (see pv_page_model.hpp, "Scope"). Into a table of a known level,
    // targets are mostly frames that fit (one level down, or type-free), so
    // that a fair share of requests succeeds.
    uint64_t random_entry(uint64_t table) {
        if (chance(25)) return chance(50) ? 0 : (uint64_t{below(1u << 20)} << 12);  // not present
        uint64_t flags = model::present;
        uint64_t target = chance(5) ? table : random_target();
        const int level = model_.level_now(table);
        if (level != 0 && chance(70)) {
            std::vector<uint64_t> fitting;
            std::map<uint64_t, model::Expected> expected;
            model_.evaluate(expected);
            for (unsigned index = 0; index < pool_size; ++index) {
                const uint64_t frame = PvMachine::frame(index);
                const int now = expected.count(frame) != 0 ? expected[frame].level : 0;
                if (level == 1 ? now == 0 : (now == level - 1 || (now == 0 && expected[frame].writable_count == 0)))
                    fitting.push_back(frame);
            }
            if (!fitting.empty()) target = fitting[below(static_cast<unsigned>(fitting.size()))];
        }
        if (!chance(30) || (model_.owned(target) && target != table)) flags |= model::writable;
        if (chance(50)) flags |= model::user;
        if (chance(30)) flags |= model::accessed;
        if (chance(2)) flags |= model::global;
        if (chance(2)) flags |= model::large;
        if (chance(1)) flags |= uint64_t{1} << 60;
        if (chance(30)) flags |= uint64_t{1} << 63;
        return (target << 12) | flags;
    }
    std::vector<uint64_t> tables() const {
        std::vector<uint64_t> found;
        std::map<uint64_t, model::Expected> expected;
        model_.evaluate(expected);
        for (auto& [frame, state] : expected)
            if (state.level != 0) found.push_back(frame);
        return found;
    }

    void one_step() {
        const unsigned roll = below(100);
        std::ostringstream what;
        if (roll < 20) {
            // The guest writes a frame it may write.
            const uint64_t frame = pool_frame();
            if (model_.level_now(frame) != 0) return;
            const unsigned index = chance(80) ? below(8) : below(512);
            const uint64_t value = random_entry(frame);
            machine_.write(frame, index, value);
            model_.contents[frame][index] = value;
            return;
        }
        if (roll < 55) {
            mmu_update();
            return;
        }
        if (roll < 70) {
            const uint64_t frame = pool_frame();
            const int level = static_cast<int>(1 + below(4));
            bool expect = model_.pins.count(frame) == 0;
            if (expect) {
                model_.pins[frame] = level;
                std::map<uint64_t, model::Expected> expected;
                expect = model_.evaluate(expected);
                if (!expect) model_.pins.erase(frame);
                else model_.apply_validation_writes();
            }
            const int32_t status = machine_.pin(frame, static_cast<unsigned>(level));
            tally(expect);
            EXPECT_EQ(status == 0, expect) << "step " << step_ << ": pin L" << level << " of " << std::hex << frame
                                           << " gave " << std::dec << status << " model: " << model_.reason;
            return;
        }
        if (roll < 80) {
            uint64_t frame = pool_frame();
            if (!model_.pins.empty() && chance(70)) {
                auto it = model_.pins.begin();
                std::advance(it, below(static_cast<unsigned>(model_.pins.size())));
                frame = it->first;
            }
            const bool expect = model_.pins.erase(frame) != 0;
            tally(expect);
            const int32_t status = machine_.unpin(frame);
            EXPECT_EQ(status == 0, expect) << "step " << step_ << ": unpin " << std::hex << frame;
            return;
        }
        const bool user_base = roll >= 90;
        if (user_base && chance(20)) {
            model_.user_base.reset();
            EXPECT_EQ(machine_.extended(xen::MMUEXT_NEW_USER_BASEPTR, 0), 0) << "step " << step_;
            return;
        }
        const uint64_t frame = chance(95) ? pool_frame() : PvMachine::other_frame;
        std::map<uint64_t, model::Expected> expected;
        const bool expect = model_.owned(frame) && model_.evaluate(expected, {{frame, 4}});
        if (expect) {
            (user_base ? model_.user_base : model_.kernel_base) = frame;
            model_.apply_validation_writes();
        }
        tally(expect);
        const int32_t status =
            machine_.extended(user_base ? xen::MMUEXT_NEW_USER_BASEPTR : xen::MMUEXT_NEW_BASEPTR, frame);
        EXPECT_EQ(status == 0, expect) << "step " << step_ << ": new " << (user_base ? "user " : "") << "base "
                                       << std::hex << frame << " gave " << std::dec << status << " model: " << model_.reason;
    }

    void tally(bool success) { ++(success ? coverage.succeeded : coverage.failed); }

    void mmu_update() {
        const unsigned count = 1 + below(4);
        const std::vector<uint64_t> known = tables();
        std::vector<xen::mmu_update> requests;
        uint32_t expected_completed = count;
        bool failed = false;
        for (unsigned request = 0; request < count; ++request) {
            const uint64_t table = !known.empty() && chance(85) ? known[below(static_cast<unsigned>(known.size()))]
                                                                 : pool_frame();
            const int level = model_.level_now(table);
            unsigned index = chance(80) ? below(8) : below(512);
            if (chance(4)) index = 256 + below(16);
            const uint64_t value = random_entry(table);
            const bool preserve = chance(20);
            requests.push_back({PvMachine::entry_address(table, index) |
                                    (preserve ? xen::MMU_PT_UPDATE_PRESERVE_AD : xen::MMU_NORMAL_PT_UPDATE),
                                value});
            if (failed) continue;
            bool ok = level != 0 && !(level == 4 && index >= 256 && index < 272);
            uint64_t written = value;
            if ((written & model::present) != 0) written |= model::user;
            if (ok && preserve) written |= model_.contents[table][index] & (model::accessed | model::dirty);
            if (ok) {
                std::map<uint64_t, model::Expected> expected;
                ok = model_.evaluate(expected, {}, model::Extra{table, index, written});
            }
            if (!ok) {
                failed = true;
                expected_completed = request;
                continue;
            }
            model_.contents[table][index] = written;
            model_.apply_validation_writes();
        }
        const auto outcome = machine_.types.mmu_update(
            machine_.context, Span<const xen::mmu_update>(requests.data(), requests.size()), machine_.batch);
        tally(!failed);
        EXPECT_EQ(outcome.status == 0, !failed) << "step " << step_ << ": mmu_update status " << outcome.status
                                              << " model: " << model_.reason;
        EXPECT_EQ(outcome.completed, expected_completed) << "step " << step_;
    }

    void check() {
        ASSERT_TRUE(machine_.batch.commit().ok());
        std::map<uint64_t, model::Expected> expected;
        ASSERT_TRUE(model_.evaluate(expected)) << "step " << step_ << ": model reached an illegal state";
        size_t restricted = 0;
        for (unsigned index = 0; index < pool_size; ++index) {
            const uint64_t frame = PvMachine::frame(index);
            const model::Expected state = expected.count(frame) != 0 ? expected[frame] : model::Expected{};
            const auto& record = machine_.record(frame);
            const FrameType type = state.level != 0        ? x86::mm::table_type(static_cast<unsigned>(state.level))
                                   : state.writable_count != 0 ? FrameType::writable
                                                               : FrameType::none;
            const uint32_t type_count = state.level != 0 ? state.table_count : state.writable_count;
            EXPECT_EQ(record.type, type) << "step " << step_ << " frame " << std::hex << frame;
            EXPECT_EQ(record.type_count, type_count) << "step " << step_ << " frame " << std::hex << frame;
            EXPECT_EQ(record.reference_count, state.references) << "step " << step_ << " frame " << std::hex << frame;
            EXPECT_EQ(record.has(x86::mm::FrameRecord::pinned), model_.pins.count(frame) != 0) << "step " << step_;
            if (state.level != 0) ++restricted;
            if (state.level == 4) ++coverage.l4_tables;
            if (state.level == 1) ++coverage.l1_tables;
            // Strict IOMMU: device-mapped exactly while type-free or writable.
            EXPECT_EQ(machine_.follower.mapped.count(frame) != 0, state.level == 0)
                << "step " << step_ << " frame " << std::hex << frame;

            auto& words = model_.contents[frame];
            for (unsigned slot = 0; slot < 512; ++slot) {
                const uint64_t actual = machine_.read(frame, slot);
                if (actual == words[slot]) continue;
                // A validation that failed further up may have left its
                // adjustments in a frame that is not a table now.
                const bool adjustment = state.level == 0 && (actual == (words[slot] | model::user) ||
                                                             (slot >= 256 && slot < 272 &&
                                                              actual == machine_.slots.entry(slot - 256)));
                ASSERT_TRUE(adjustment) << "step " << step_ << ": frame " << std::hex << frame << " slot " << std::dec
                                        << slot << " holds " << std::hex << actual << ", model " << words[slot];
                words[slot] = actual;
            }
            // Straight from memory: a table maps nothing writable that is a
            // table, and nothing the domain does not own (or may not reach).
            if (state.level == 1) {
                for (unsigned slot = 0; slot < 512; ++slot) {
                    const uint64_t entry = machine_.read(frame, slot);
                    if ((entry & model::present) == 0) continue;
                    const uint64_t target = (entry & model::address_bits) >> 12;
                    EXPECT_TRUE(model_.owned(target) || target == PvMachine::io_frame) << "step " << step_;
                    if ((entry & model::writable) != 0 && expected.count(target) != 0)
                        EXPECT_EQ(expected[target].level, 0) << "step " << step_ << ": writable mapping of a table";
                }
            }
        }
        EXPECT_EQ(machine_.follower.mapped.size(), PvMachine::guest_frames - restricted) << "step " << step_;
        EXPECT_EQ(machine_.bases.kernel, model_.kernel_base.value_or(x86::mm::no_frame)) << "step " << step_;
        EXPECT_EQ(machine_.bases.user, model_.user_base.value_or(x86::mm::no_frame)) << "step " << step_;
    }

    PvMachine machine_;
    std::mt19937_64 random_;
    model::PageModel model_;
    unsigned step_ = 0;
};

TEST(PvPageTypesRandom, EngineMatchesTheReferenceModel) {
    std::vector<uint64_t> seeds;
    if (const char* replay = std::getenv("PV_PAGE_TYPES_SEED")) seeds.push_back(std::strtoull(replay, nullptr, 0));
    else
        for (uint64_t seed = 1; seed <= scaled_by_effort(24); ++seed) seeds.push_back(seed * 0x9e37'79b9);
    for (uint64_t seed : seeds) {
        SCOPED_TRACE("replay with PV_PAGE_TYPES_SEED=" + std::to_string(seed));
        RandomRun run(seed);
        run.run();
        if (::testing::Test::HasFailure()) return;
        if (std::getenv("PV_PAGE_TYPES_VERBOSE"))
            std::printf("seed %llu: %u ok, %u refused, %u L4-steps, %u L1-steps\n",
                        static_cast<unsigned long long>(seed), run.coverage.succeeded, run.coverage.failed,
                        run.coverage.l4_tables, run.coverage.l1_tables);
        EXPECT_GT(run.coverage.succeeded, steps_per_seed / 10);
        EXPECT_GT(run.coverage.failed, steps_per_seed / 20);
        EXPECT_GT(run.coverage.l4_tables, 0u);
        EXPECT_GT(run.coverage.l1_tables, 0u);
    }
}

}  // namespace
}  // namespace sluice::testing
