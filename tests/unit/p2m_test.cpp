// The p2m object over EPT and NPT: what it maps is read back by reference
// walkers written from the SDM and the APM (support/reference_walkers.hpp),
// not by the walker that wrote it.
#include "support/log_capture.hpp"
#include "support/reference_walkers.hpp"
#include "support/simulated_machine.hpp"

#include <mm/p2m/p2m.hpp>

#include <gtest/gtest.h>

#include <memory>

namespace sluice::testing {
namespace {

struct Machine {
    static constexpr PhysicalAddress base = 0x1'0000'0000;
    SimulatedMemory memory{base, 256 * page_size};
    SimulatedPageAllocator allocator{memory, base, 256};
};

p2m::P2mConfiguration configuration_of(p2m::P2mTableKind kind) {
    p2m::P2mConfiguration configuration;
    configuration.kind = kind;
    return configuration;
}

std::unique_ptr<ReferenceWalker> reference_for(p2m::P2mTableKind kind) {
    if (kind == p2m::P2mTableKind::ept) return std::make_unique<EptReference>(4, true, true, 46);
    return std::make_unique<NptReference>(true, 48);
}

TEST(P2m, WithoutAFormatIsRefused) {
    Machine machine;
    LogCapture log;
    EXPECT_EQ(p2m::P2m::create(configuration_of(p2m::P2mTableKind::none), machine.memory, machine.allocator).error(),
              Error::invalid_argument);
    EXPECT_TRUE(log.contains("needs a table format"));
    machine.allocator.fail_allocation(1);
    EXPECT_EQ(p2m::P2m::create(configuration_of(p2m::P2mTableKind::ept), machine.memory, machine.allocator).error(),
              Error::out_of_memory);
    EXPECT_EQ(machine.allocator.live_pages(), 0u);
}

class P2mFormats : public ::testing::TestWithParam<p2m::P2mTableKind> {};

TEST_P(P2mFormats, GuestFramesLandOnTheirMachineFramesAndGoAwayAfterTheCommit) {
    Machine machine;
    auto created = p2m::P2m::create(configuration_of(GetParam()), machine.memory, machine.allocator);
    ASSERT_TRUE(created.ok());
    p2m::P2m p2m = std::move(created).value();
    const auto reference = reference_for(GetParam());
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    // Guest RAM at 16 MiB backed by machine frames elsewhere (not 1:1), and
    // a direct-MMIO identity page.
    ASSERT_TRUE(p2m.map(16 * MiB, 4 * page_size, 0x7654'3000, {paging::Access::read_write, p2m::P2mType::ram},
                        machine.allocator, batch).ok());
    ASSERT_TRUE(p2m.map(0xfee0'0000, page_size, 0xfee0'0000, {paging::Access::read, p2m::P2mType::mmio_direct},
                        machine.allocator, batch).ok());
    ASSERT_TRUE(batch.commit().ok());

    const ReferenceTranslation ram = reference->translate(machine.memory, p2m.root(), 16 * MiB + 2 * page_size + 8);
    ASSERT_TRUE(ram.translated()) << ram.to_string();
    EXPECT_EQ(ram.output, 0x7654'5008u);
    EXPECT_TRUE(ram.write);
    EXPECT_EQ(ram.software_type, static_cast<unsigned>(p2m::P2mType::ram));
    const ReferenceTranslation mmio = reference->translate(machine.memory, p2m.root(), 0xfee0'0010);
    ASSERT_TRUE(mmio.translated()) << mmio.to_string();
    EXPECT_EQ(mmio.output, 0xfee0'0010u);
    EXPECT_FALSE(mmio.write);
    EXPECT_TRUE(mmio.uncached);
    EXPECT_FALSE(reference->translate(machine.memory, p2m.root(), 16 * MiB + 4 * page_size).translated());

    const auto looked_up = p2m.lookup(16 * MiB + page_size);
    ASSERT_TRUE(looked_up.has_value());
    EXPECT_EQ(looked_up.value().output, 0x7654'4000u);
    EXPECT_TRUE(p2m.has_mappings(0, 32 * MiB));
    EXPECT_FALSE(p2m.has_mappings(32 * MiB, 32 * MiB));
    EXPECT_EQ(p2m.table_pages(), reachable_tables(*reference, machine.memory, p2m.root()).size());

    ASSERT_TRUE(p2m.unmap(16 * MiB, 4 * page_size, machine.allocator, batch).ok());
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_FALSE(reference->translate(machine.memory, p2m.root(), 16 * MiB).translated());

    const uint64_t live = machine.allocator.live_pages();
    p2m.release(batch);
    EXPECT_EQ(machine.allocator.live_pages(), live);  // freed only after the invalidation
    ASSERT_TRUE(batch.commit().ok());
    EXPECT_EQ(machine.allocator.live_pages(), 0u);
    EXPECT_EQ(p2m.root(), 0u);
    EXPECT_EQ(p2m.table_pages(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EptAndNpt, P2mFormats, ::testing::Values(p2m::P2mTableKind::ept, p2m::P2mTableKind::npt),
                         [](const auto& info) { return std::string(p2m::describe(info.param)); });

}  // namespace
}  // namespace sluice::testing
