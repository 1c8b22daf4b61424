// The PV page-type rules one by one, each with the error the ABI gives
// (docs/pv.md, arch/x86/mm/page_types.hpp), against a simulated machine.
#include "support/pv_machine.hpp"

#include <public/errno.hpp>

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

using x86::mm::FrameRecord;
using x86::mm::FrameType;
using namespace pv_bits;

constexpr uint64_t table_flags = present | writable | user | accessed;

class PvPageTypes : public ::testing::Test {
protected:
    PvMachine machine;
    const uint64_t l4 = PvMachine::frame(0);
    const uint64_t l3 = PvMachine::frame(1);
    const uint64_t l2 = PvMachine::frame(2);
    const uint64_t l1 = PvMachine::frame(3);
    const uint64_t data = PvMachine::frame(10);

    // L4[0] -> L3[0] -> L2[0] -> L1[0] -> data (read-write).
    void lay_out_tree() {
        machine.write(l4, 0, PvMachine::entry(l3, table_flags));
        machine.write(l3, 0, PvMachine::entry(l2, table_flags));
        machine.write(l2, 0, PvMachine::entry(l1, table_flags));
        machine.write(l1, 0, PvMachine::entry(data, present | writable));
    }
    const FrameRecord& record(uint64_t frame) const { return machine.record(frame); }
};

TEST_F(PvPageTypes, PinnedL1TakesGeneralAndWritableReferences) {
    machine.write(l1, 0, PvMachine::entry(data, present | writable));
    machine.write(l1, 1, PvMachine::entry(data + 1, present));
    ASSERT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(record(l1).type, FrameType::l1);
    EXPECT_EQ(record(l1).type_count, 1u);
    EXPECT_TRUE(record(l1).has(FrameRecord::pinned));
    EXPECT_EQ(record(data).type, FrameType::writable);
    EXPECT_EQ(record(data).type_count, 1u);
    EXPECT_EQ(record(data).reference_count, 1u);
    EXPECT_EQ(record(data + 1).type, FrameType::none);
    EXPECT_EQ(record(data + 1).reference_count, 1u);
    // A 64-bit PV kernel runs in ring 3: present entries become user entries.
    EXPECT_EQ(machine.read(l1, 0), PvMachine::entry(data, present | writable | user));
}

TEST_F(PvPageTypes, L1RefusesOtherOwnersAndForeignIo) {
    machine.write(l1, 0, PvMachine::entry(PvMachine::other_frame, present));
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EPERM);
    machine.write(l1, 0, PvMachine::entry(PvMachine::hypervisor_frame, present));
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EPERM);
    machine.write(l1, 0, PvMachine::entry(PvMachine::forbidden_io_frame, present | writable));
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EPERM);
    machine.write(l1, 0, PvMachine::entry(PvMachine::io_frame, present | writable));
    EXPECT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(record(l1).type, FrameType::l1);
}

// A non-RAM frame the frame table spans (a reserved region between RAM, such
// as the BIOS area at 0xf0000) has no owner and is I/O memory: dom0 maps it
// when its I/O capabilities hold it, as under Xen (dom_io). An unowned frame
// outside them (free RAM) stays refused.
TEST_F(PvPageTypes, L1MapsUnownedFramesOnlyWithinTheIoCapabilities) {
    const uint64_t hole = PvMachine::hypervisor_frame + 2;
    const uint64_t free_ram = PvMachine::hypervisor_frame + 3;
    ASSERT_TRUE(machine.frames.assign(hole, x86::mm::owner_none, false).ok());
    ASSERT_TRUE(machine.frames.assign(free_ram, x86::mm::owner_none, false).ok());
    ASSERT_TRUE(machine.io_memory.add(passthrough::AddressRange{hole << page_shift, (hole + 1) << page_shift}).ok());
    machine.write(l1, 0, PvMachine::entry(free_ram, present));
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EPERM);
    machine.write(l1, 0, PvMachine::entry(hole, present | writable));
    EXPECT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(record(hole).reference_count, 0u);  // I/O memory holds no references
}

TEST_F(PvPageTypes, EntryBitsProtectionKeyReservedAndGlobalAboveL1AreRefusedNoExecuteIsNot) {
    PvMachine narrow(true, 40);
    const uint64_t table = PvMachine::frame(3);
    // G in a directory entry is refused; in an L1 entry it is the guest's
    // (ignored by the processor with CR4.PGE clear) and kept as written.
    narrow.write(PvMachine::frame(2), 0, PvMachine::entry(table, present | writable | global));
    EXPECT_EQ(narrow.pin(PvMachine::frame(2), 2), -xen::XEN_EINVAL);
    narrow.write(PvMachine::frame(2), 0, 0);
    narrow.write(table, 0, PvMachine::entry(PvMachine::frame(10), present | global));
    EXPECT_EQ(narrow.pin(table, 1), 0);
    EXPECT_EQ(narrow.read(table, 0), PvMachine::entry(PvMachine::frame(10), present | user | global));
    EXPECT_EQ(narrow.unpin(table), 0);
    narrow.write(table, 0, PvMachine::entry(PvMachine::frame(10), present) | (uint64_t{1} << 60));
    EXPECT_EQ(narrow.pin(table, 1), -xen::XEN_EINVAL);
    narrow.write(table, 0, PvMachine::entry(PvMachine::frame(10), present) | (uint64_t{1} << 45));
    EXPECT_EQ(narrow.pin(table, 1), -xen::XEN_EINVAL);
    narrow.write(table, 0, PvMachine::entry(PvMachine::frame(10), present | no_execute | large));  // PAT in L1
    EXPECT_EQ(narrow.pin(table, 1), 0);
    // Not-present entries are never walked: anything goes.
    EXPECT_EQ(narrow.update(table, 1, 0xffff'ffff'ffff'fffe), 0);
}

TEST_F(PvPageTypes, SuperpagesAreRefused) {
    machine.write(l2, 0, PvMachine::entry(data, present | writable | large));
    EXPECT_EQ(machine.pin(l2, 2), -xen::XEN_EINVAL);
    machine.write(l3, 0, PvMachine::entry(data, present | writable | large));
    EXPECT_EQ(machine.pin(l3, 3), -xen::XEN_EINVAL);
    machine.write(l4, 0, PvMachine::entry(l3, present | writable | large));
    EXPECT_EQ(machine.pin(l4, 4), -xen::XEN_EINVAL);
}

TEST_F(PvPageTypes, WritableMappingOfAPageTableIsRefusedReadOnlyIsAllowed) {
    ASSERT_EQ(machine.pin(l1, 1), 0);
    const uint64_t other = PvMachine::frame(4);
    ASSERT_EQ(machine.pin(other, 1), 0);
    EXPECT_EQ(machine.update(other, 0, PvMachine::entry(l1, present | writable)), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.update(other, 0, PvMachine::entry(l1, present)), 0);
    EXPECT_EQ(record(l1).reference_count, 2u);  // pin + read-only mapping
    // And an L1 table cannot map itself writable.
    EXPECT_EQ(machine.update(l1, 5, PvMachine::entry(l1, present | writable)), -xen::XEN_EINVAL);
}

TEST_F(PvPageTypes, FrameMappedWritableCannotBecomeATable) {
    const uint64_t mapper = PvMachine::frame(4);
    machine.write(mapper, 0, PvMachine::entry(l1, present | writable));
    ASSERT_EQ(machine.pin(mapper, 1), 0);
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EINVAL);
    EXPECT_EQ(record(l1).type, FrameType::writable);
    ASSERT_EQ(machine.update(mapper, 0, 0), 0);
    EXPECT_EQ(record(l1).type, FrameType::none);
    EXPECT_EQ(machine.pin(l1, 1), 0);
}

TEST_F(PvPageTypes, PinningAnL4ValidatesTheTreeAndInstallsHypervisorSlots) {
    lay_out_tree();
    machine.write(l4, 256, 0x1234'5000 | present);  // ignored: the hypervisor's slot
    ASSERT_EQ(machine.pin(l4, 4), 0);
    EXPECT_EQ(record(l4).type, FrameType::l4);
    EXPECT_EQ(record(l3).type, FrameType::l3);
    EXPECT_EQ(record(l2).type, FrameType::l2);
    EXPECT_EQ(record(l1).type, FrameType::l1);
    EXPECT_EQ(record(data).type, FrameType::writable);
    for (unsigned slot = 256; slot < 272; ++slot) EXPECT_EQ(machine.read(l4, slot), machine.slots.entry(slot - 256));
    EXPECT_EQ(machine.update(l4, 256, 0), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.update(l4, 271, 0), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.read(l4, 256), machine.slots.entry(0));
    EXPECT_EQ(machine.update(l4, 272, 0), 0);
}

TEST_F(PvPageTypes, UnpinningDevalidatesTheTree) {
    lay_out_tree();
    ASSERT_EQ(machine.pin(l4, 4), 0);
    ASSERT_EQ(machine.unpin(l4), 0);
    for (uint64_t frame : {l4, l3, l2, l1, data}) {
        EXPECT_EQ(record(frame).type, FrameType::none) << std::hex << frame;
        EXPECT_EQ(record(frame).type_count, 0u);
        EXPECT_EQ(record(frame).reference_count, 0u);
    }
}

TEST_F(PvPageTypes, PinRules) {
    ASSERT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EINVAL);  // pinned already
    EXPECT_EQ(machine.pin(l1, 2), -xen::XEN_EINVAL);  // pinned (and an L1)
    EXPECT_EQ(machine.unpin(l2), -xen::XEN_EINVAL);   // not pinned
    EXPECT_EQ(machine.pin(PvMachine::other_frame, 1), -xen::XEN_EPERM);
    EXPECT_EQ(machine.unpin(PvMachine::hypervisor_frame), -xen::XEN_EPERM);
    // A table of another level cannot be pinned at this one.
    machine.write(l2, 0, PvMachine::entry(l1, table_flags));
    EXPECT_EQ(machine.pin(l2, 2), 0);
    EXPECT_EQ(machine.pin(PvMachine::frame(20), 2), 0);
    machine.write(l3, 0, PvMachine::entry(l1, table_flags));  // L1 frame used as an L2
    EXPECT_EQ(machine.pin(l3, 3), -xen::XEN_EINVAL);
}

TEST_F(PvPageTypes, ALoopBackToATableBeingValidatedIsRefused) {
    machine.write(l4, 0, PvMachine::entry(l3, table_flags));
    machine.write(l3, 0, PvMachine::entry(l4, table_flags));  // L3 entry to the L4 as an L2
    EXPECT_EQ(machine.pin(l4, 4), -xen::XEN_EINVAL);
    EXPECT_EQ(record(l4).type, FrameType::none);
    EXPECT_EQ(record(l3).type, FrameType::none);
    EXPECT_EQ(record(l3).reference_count, 0u);
}

TEST_F(PvPageTypes, LinearEntriesOnlyReadOnlyAndOneHop) {
    machine.write(l4, 0, PvMachine::entry(l4, present | writable));
    EXPECT_EQ(machine.pin(l4, 4), -xen::XEN_EINVAL);
    machine.write(l4, 0, PvMachine::entry(l4, present));  // the recursive mapping
    ASSERT_EQ(machine.pin(l4, 4), 0);
    EXPECT_EQ(record(l4).reference_count, 1u);  // the pin only: a self entry holds nothing

    const uint64_t second = PvMachine::frame(30);
    const uint64_t third = PvMachine::frame(31);
    ASSERT_EQ(machine.pin(l2, 2), 0);
    ASSERT_EQ(machine.pin(second, 2), 0);
    ASSERT_EQ(machine.pin(third, 2), 0);
    EXPECT_EQ(machine.update(second, 0, PvMachine::entry(l2, present | writable)), -xen::XEN_EINVAL);
    ASSERT_EQ(machine.update(second, 0, PvMachine::entry(l2, present)), 0);
    EXPECT_EQ(record(l2).type_count, 2u);
    // l2 is now a linear target: it may not hold linear entries itself, and
    // second (which holds one) may not become a target.
    EXPECT_EQ(machine.update(l2, 0, PvMachine::entry(third, present)), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.update(third, 0, PvMachine::entry(second, present)), -xen::XEN_EINVAL);
    ASSERT_EQ(machine.update(second, 0, 0), 0);
    EXPECT_EQ(record(l2).type_count, 1u);
    EXPECT_EQ(record(l2).linear_count, 0);
    EXPECT_EQ(record(second).linear_count, 0);
}

TEST_F(PvPageTypes, MmuUpdateTargetsAndCompletedCount) {
    ASSERT_EQ(machine.pin(l1, 1), 0);
    xen::mmu_update requests[] = {
        {PvMachine::entry_address(l1, 0), PvMachine::entry(data, present)},
        {PvMachine::entry_address(l1, 1), PvMachine::entry(data, present)},
        {PvMachine::entry_address(data, 0), 0},  // not a page table
        {PvMachine::entry_address(l1, 2), 0},
    };
    const auto outcome = machine.types.mmu_update(machine.context, Span<const xen::mmu_update>(requests), machine.batch);
    EXPECT_EQ(outcome.status, -xen::XEN_EINVAL);
    EXPECT_EQ(outcome.completed, 2u);
    EXPECT_EQ(record(data).reference_count, 2u);
    // Misaligned (bit 2 set) and foreign table frames.
    EXPECT_EQ(machine.update(l1, 0, 0, 4), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.update(PvMachine::other_frame, 0, 0), -xen::XEN_EPERM);
    EXPECT_EQ(machine.update(l1, 0, 0, xen::MMU_PT_UPDATE_NO_TRANSLATE), -xen::XEN_EINVAL);
}

TEST_F(PvPageTypes, PreserveAccessedDirtyKeepsTheOldBits) {
    ASSERT_EQ(machine.pin(l1, 1), 0);
    ASSERT_EQ(machine.update(l1, 0, PvMachine::entry(data, present | writable)), 0);
    machine.write(l1, 0, machine.read(l1, 0) | accessed | dirty);  // the CPU set them
    ASSERT_EQ(machine.update(l1, 0, PvMachine::entry(data, present), xen::MMU_PT_UPDATE_PRESERVE_AD), 0);
    EXPECT_EQ(machine.read(l1, 0), PvMachine::entry(data, present | user | accessed | dirty));
    EXPECT_EQ(record(data).type, FrameType::none);
    ASSERT_EQ(machine.update(l1, 0, PvMachine::entry(data, present)), 0);
    EXPECT_EQ(machine.read(l1, 0), PvMachine::entry(data, present | user));
}

TEST_F(PvPageTypes, MachineToPhysicalUpdate) {
    EXPECT_EQ(machine.update(data, 0, 0x42, xen::MMU_MACHPHYS_UPDATE), 0);
    EXPECT_EQ(machine.machine_to_physical.table.at(data), 0x42u);
    EXPECT_EQ(machine.update(PvMachine::other_frame, 0, 0x42, xen::MMU_MACHPHYS_UPDATE), -xen::XEN_EPERM);
}

TEST_F(PvPageTypes, BasePointers) {
    lay_out_tree();
    ASSERT_EQ(machine.extended(xen::MMUEXT_NEW_BASEPTR, l4), 0);
    EXPECT_EQ(machine.bases.kernel, l4);
    EXPECT_EQ(record(l4).type, FrameType::l4);
    EXPECT_EQ(record(l1).type, FrameType::l1);
    EXPECT_EQ(machine.extended(xen::MMUEXT_NEW_BASEPTR, data), -xen::XEN_EINVAL);  // mapped writable
    EXPECT_EQ(machine.extended(xen::MMUEXT_NEW_BASEPTR, PvMachine::other_frame), -xen::XEN_EPERM);
    EXPECT_EQ(machine.bases.kernel, l4);
    const uint64_t user_l4 = PvMachine::frame(40);
    ASSERT_EQ(machine.extended(xen::MMUEXT_NEW_USER_BASEPTR, user_l4), 0);
    EXPECT_EQ(machine.bases.user, user_l4);
    ASSERT_EQ(machine.extended(xen::MMUEXT_NEW_USER_BASEPTR, 0), 0);
    EXPECT_EQ(machine.bases.user, x86::mm::no_frame);
    EXPECT_EQ(record(user_l4).type, FrameType::none);
    ASSERT_EQ(machine.extended(xen::MMUEXT_NEW_BASEPTR, user_l4), 0);
    EXPECT_EQ(record(l4).type, FrameType::none);  // the old base's tree went
    EXPECT_EQ(record(l1).type, FrameType::none);
}

TEST_F(PvPageTypes, FlushCacheLdtClearCopyAndUnknownCommands) {
    EXPECT_EQ(machine.extended(xen::MMUEXT_INVLPG_ALL, 0x1000), 0);
    EXPECT_TRUE(machine.effects.cpu_flush);
    EXPECT_EQ(machine.extended(xen::MMUEXT_FLUSH_CACHE, 0), 0);
    EXPECT_TRUE(machine.effects.cache_flush);
    machine.context.may_flush_cache = false;
    EXPECT_EQ(machine.extended(xen::MMUEXT_FLUSH_CACHE_GLOBAL, 0), -xen::XEN_EACCES);

    EXPECT_EQ(machine.extended(xen::MMUEXT_SET_LDT, 0x7000'0000, 16), 0);
    EXPECT_TRUE(machine.effects.ldt_changed);
    EXPECT_EQ(machine.effects.ldt_linear_address, 0x7000'0000u);
    EXPECT_EQ(machine.effects.ldt_entries, 16u);
    EXPECT_EQ(machine.extended(xen::MMUEXT_SET_LDT, 0x7000'0008, 16), -xen::XEN_EINVAL);       // unaligned
    EXPECT_EQ(machine.extended(xen::MMUEXT_SET_LDT, 0x7000'0000, 8193), -xen::XEN_EINVAL);     // too many
    EXPECT_EQ(machine.extended(xen::MMUEXT_SET_LDT, 0xffff'8000'0000'0000, 1), -xen::XEN_EINVAL);  // hypervisor's
    EXPECT_EQ(machine.extended(xen::MMUEXT_SET_LDT, 0x0000'8000'0000'0000, 1), -xen::XEN_EINVAL);  // non-canonical

    machine.write(data, 7, 0x1234);
    ASSERT_EQ(machine.extended(xen::MMUEXT_COPY_PAGE, data + 1, data), 0);
    EXPECT_EQ(machine.read(data + 1, 7), 0x1234u);
    ASSERT_EQ(machine.extended(xen::MMUEXT_CLEAR_PAGE, data), 0);
    EXPECT_EQ(machine.read(data, 7), 0u);
    ASSERT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(machine.extended(xen::MMUEXT_CLEAR_PAGE, l1), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.extended(xen::MMUEXT_COPY_PAGE, l1, data), -xen::XEN_EINVAL);
    EXPECT_EQ(machine.extended(xen::MMUEXT_COPY_PAGE, data, PvMachine::other_frame), -xen::XEN_EPERM);
    EXPECT_EQ(machine.extended(xen::MMUEXT_MARK_SUPER, data), -xen::XEN_EOPNOTSUPP);

    xen::mmuext_op operations[3] = {};
    operations[0].cmd = xen::MMUEXT_TLB_FLUSH_LOCAL;
    operations[1].cmd = 14;  // unallocated
    operations[2].cmd = xen::MMUEXT_TLB_FLUSH_LOCAL;
    const auto outcome = machine.types.mmuext_op(machine.context, Span<const xen::mmuext_op>(operations),
                                                 machine.bases, machine.effects, machine.batch);
    EXPECT_EQ(outcome.status, -xen::XEN_ENOSYS);
    EXPECT_EQ(outcome.completed, 1u);
}

TEST_F(PvPageTypes, UpdateVaMappingWalksToTheL1Entry) {
    lay_out_tree();
    ASSERT_EQ(machine.extended(xen::MMUEXT_NEW_BASEPTR, l4), 0);
    // va 0x5000: L4[0] L3[0] L2[0] L1[5].
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l4, 0x5000, PvMachine::entry(data + 1, present | writable),
                                              xen::UVMF_INVLPG, machine.effects, machine.batch),
              0);
    EXPECT_EQ(machine.read(l1, 5), PvMachine::entry(data + 1, present | writable | user));
    EXPECT_EQ(record(data + 1).type, FrameType::writable);
    EXPECT_TRUE(machine.effects.cpu_flush);
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l4, 0x5000, PvMachine::entry(l2, present | writable), 0,
                                              machine.effects, machine.batch),
              -xen::XEN_EINVAL);
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l4, 0x4000'0000, 0, 0, machine.effects, machine.batch),
              -xen::XEN_EINVAL);  // no L2 entry there
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l4, 0xffff'8000'0000'0000, 0, 0, machine.effects,
                                              machine.batch),
              -xen::XEN_EINVAL);
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l4, 0x5000, 0, 3, machine.effects, machine.batch),
              -xen::XEN_EINVAL);
    EXPECT_EQ(machine.types.update_va_mapping(machine.context, l1, 0x5000, 0, 0, machine.effects, machine.batch),
              -xen::XEN_EINVAL);  // not an L4
}

TEST_F(PvPageTypes, DescriptorPages) {
    const uint64_t gdt = PvMachine::frame(50);
    const uint64_t kernel_code = 0x00af'9a00'0000'ffff;  // 64-bit code, DPL 0, present
    const uint64_t user_data = 0x00cf'f200'0000'ffff;    // data, DPL 3
    machine.write(gdt, 1, kernel_code);
    machine.write(gdt, 2, user_data);
    machine.write(gdt, 3, 0x0000'0900'0000'0067);  // not-present TSS: faults on use, allowed
    ASSERT_EQ(machine.types.get_page_type(machine.context, gdt, FrameType::segment_descriptor, machine.batch), 0);
    EXPECT_EQ(machine.read(gdt, 1), kernel_code | (uint64_t{3} << 45));  // presented at DPL 3
    EXPECT_EQ(machine.read(gdt, 2), user_data);
    EXPECT_FALSE(machine.types.is_writable(machine.context, gdt));
    // A present call gate may not be written, a code segment may.
    const uint64_t call_gate = 0x0000'ec00'e008'0000;
    EXPECT_EQ(machine.types.update_descriptor(machine.context, PvMachine::entry_address(gdt, 4), call_gate,
                                              machine.batch),
              -xen::XEN_EINVAL);
    EXPECT_EQ(machine.types.update_descriptor(machine.context, PvMachine::entry_address(gdt, 4), kernel_code,
                                              machine.batch),
              0);
    EXPECT_EQ(machine.read(gdt, 4), kernel_code | (uint64_t{3} << 45));
    EXPECT_EQ(machine.types.update_descriptor(machine.context, PvMachine::entry_address(gdt, 4) + 4, 0, machine.batch),
              -xen::XEN_EINVAL);
    // It cannot be mapped writable while it is a descriptor page.
    ASSERT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(machine.update(l1, 0, PvMachine::entry(gdt, present | writable)), -xen::XEN_EINVAL);
    machine.types.put_page_type(machine.context, gdt, machine.batch);
    EXPECT_EQ(record(gdt).type, FrameType::none);
    EXPECT_TRUE(machine.types.is_writable(machine.context, gdt));

    const uint64_t bad = PvMachine::frame(51);
    machine.write(bad, 9, 0x0000'8200'0000'0000);  // a present LDT descriptor
    EXPECT_EQ(machine.types.get_page_type(machine.context, bad, FrameType::segment_descriptor, machine.batch),
              -xen::XEN_EINVAL);
    EXPECT_EQ(record(bad).reference_count, 0u);
}

TEST_F(PvPageTypes, CountOverflowIsRefusedNotWrapped) {
    machine.records[data - PvMachine::first_frame].reference_count = 0xffff'ffff;
    ASSERT_EQ(machine.pin(l1, 1), 0);
    EXPECT_EQ(machine.update(l1, 0, PvMachine::entry(data, present)), -xen::XEN_EOVERFLOW);
    EXPECT_EQ(record(data).reference_count, 0xffff'ffffu);
    machine.records[data - PvMachine::first_frame].reference_count = 0;
    machine.records[data - PvMachine::first_frame].type = FrameType::writable;
    machine.records[data - PvMachine::first_frame].type_count = 0xffff'ffff;
    machine.records[data - PvMachine::first_frame].flags |= FrameRecord::validated;
    EXPECT_EQ(machine.update(l1, 0, PvMachine::entry(data, present | writable)), -xen::XEN_EOVERFLOW);
    EXPECT_EQ(record(data).reference_count, 0u);
    EXPECT_EQ(record(data).type_count, 0xffff'ffffu);
}

TEST_F(PvPageTypes, GetAndPutReferencesAndWritability) {
    EXPECT_EQ(machine.types.get_reference(machine.context, data), 0);
    EXPECT_EQ(record(data).reference_count, 1u);
    machine.types.put_reference(data);
    EXPECT_EQ(record(data).reference_count, 0u);
    EXPECT_EQ(machine.types.get_reference(machine.context, PvMachine::other_frame), -xen::XEN_EPERM);
    EXPECT_TRUE(machine.types.is_writable(machine.context, data));
    EXPECT_FALSE(machine.types.is_writable(machine.context, PvMachine::hypervisor_frame));
    ASSERT_EQ(machine.types.pin_table(machine.context, l1, FrameType::l1, machine.batch), 0);
    EXPECT_FALSE(machine.types.is_writable(machine.context, l1));
}

// --- Strict IOMMU -----------------------------------------------------------

TEST_F(PvPageTypes, StrictTablesLeaveTheIommuAndComeBack) {
    lay_out_tree();
    ASSERT_EQ(machine.pin(l4, 4), 0);
    for (uint64_t frame : {l4, l3, l2, l1}) EXPECT_EQ(machine.follower.mapped.count(frame), 0u) << std::hex << frame;
    EXPECT_EQ(machine.follower.mapped.count(data), 1u);
    EXPECT_EQ(machine.types.statistics().late_unmaps, 0u);
    ASSERT_EQ(machine.unpin(l4), 0);
    for (uint64_t frame : {l4, l3, l2, l1}) EXPECT_EQ(machine.follower.mapped.count(frame), 1u) << std::hex << frame;
    EXPECT_EQ(machine.follower.mapped.size(), PvMachine::guest_frames);
}

TEST_F(PvPageTypes, StrictContentsAreReadOnlyAfterTheDeviceLostAccess) {
    // A device writes every frame it still reaches until the invalidation
    // completes (XSA-288). A bad entry written that late must be seen.
    machine.write(l1, 0, PvMachine::entry(data, present));
    machine.unit.hook = [this] {
        for (uint64_t frame : machine.follower.unflushed)
            machine.write(frame, 0, PvMachine::entry(frame, present | writable));  // maps itself writable
        machine.follower.unflushed.clear();
    };
    EXPECT_EQ(machine.pin(l1, 1), -xen::XEN_EINVAL);
    EXPECT_EQ(record(l1).type, FrameType::none);
    EXPECT_EQ(machine.follower.mapped.count(l1), 1u);
}

TEST_F(PvPageTypes, StrictFrameFoundOnlyDuringValidationIsUnmappedFirst) {
    // The L2 entry is written after the prepare pass read the L2, as another
    // vCPU could: the L1 is met only by validation.
    machine.write(l2, 0, PvMachine::entry(l1, table_flags));
    ASSERT_EQ(machine.pin(l2, 2), 0);
    const uint64_t late = PvMachine::frame(60);
    const uint64_t parent = PvMachine::frame(61);
    machine.write(late, 0, PvMachine::entry(data, present));
    bool swapped = false;
    machine.unit.hook = [&] {
        if (!swapped) machine.write(parent, 0, PvMachine::entry(late, table_flags));
        swapped = true;
        machine.follower.unflushed.clear();
    };
    ASSERT_EQ(machine.pin(parent, 2), 0);
    EXPECT_EQ(record(late).type, FrameType::l1);
    EXPECT_EQ(machine.follower.mapped.count(late), 0u);
    EXPECT_EQ(machine.types.statistics().late_unmaps, 1u);
}

// One mmu_update turning 1 or 512 frames into L1 tables costs the same
// number of invalidations: one, from the prepare commit.
TEST_F(PvPageTypes, StrictInvalidationsDoNotGrowWithTheBatch) {
    ASSERT_EQ(machine.pin(l2, 2), 0);
    ASSERT_TRUE(machine.batch.commit().ok());
    auto invalidations_for = [&](unsigned count, uint64_t first) {
        std::vector<xen::mmu_update> requests;
        for (unsigned index = 0; index < count; ++index)
            requests.push_back({PvMachine::entry_address(l2, index), PvMachine::entry(first + index, table_flags)});
        const uint64_t before = machine.unit.invalidations;
        const auto outcome = machine.types.mmu_update(
            machine.context, Span<const xen::mmu_update>(requests.data(), requests.size()), machine.batch);
        EXPECT_EQ(outcome.status, 0);
        EXPECT_TRUE(machine.batch.commit().ok());
        return machine.unit.invalidations - before;
    };
    const uint64_t one = invalidations_for(1, PvMachine::frame(100));
    for (unsigned index = 0; index < 1; ++index) ASSERT_EQ(machine.update(l2, index, 0), 0);
    ASSERT_TRUE(machine.batch.commit().ok());
    const uint64_t many = invalidations_for(512, PvMachine::frame(1000));
    EXPECT_EQ(one, 1u);
    EXPECT_EQ(many, one);
    EXPECT_EQ(machine.types.statistics().late_unmaps, 0u);
    for (unsigned index = 0; index < 512; ++index)
        EXPECT_EQ(machine.follower.mapped.count(PvMachine::frame(1000) + index), 0u);
}

TEST_F(PvPageTypes, StrictRemovingAndReaddingATableInOneCallCostsNothing) {
    machine.write(l2, 0, PvMachine::entry(l1, table_flags));
    ASSERT_EQ(machine.pin(l2, 2), 0);
    ASSERT_TRUE(machine.batch.commit().ok());
    const uint64_t unmaps = machine.follower.unmaps;
    const uint64_t maps = machine.follower.maps;
    xen::mmu_update requests[] = {
        {PvMachine::entry_address(l2, 0), 0},
        {PvMachine::entry_address(l2, 0), PvMachine::entry(l1, table_flags)},
    };
    ASSERT_EQ(machine.types.mmu_update(machine.context, Span<const xen::mmu_update>(requests), machine.batch).status, 0);
    EXPECT_EQ(machine.follower.unmaps, unmaps);
    EXPECT_EQ(machine.follower.maps, maps);
    EXPECT_EQ(machine.follower.mapped.count(l1), 0u);
}

}  // namespace
}  // namespace sluice::testing
