// The PV runtime's core: guest memory through the guest's tables, bounce
// frames and iret as the ABI defines them (xen.h / arch-x86/xen-x86_64.h),
// the privileged-instruction decoder (Intel SDM Vol. 2 encodings), and the
// hypercall dispatcher with a fake machine. The tables and frames the tests
// expect are written here from the specifications, never by the code under
// test.
#include "arch/x86/cpuid_policy.hpp"
#include "arch/x86/pv/emulate.hpp"
#include "arch/x86/pv/guest_memory.hpp"
#include "arch/x86/pv/hypercalls.hpp"
#include "arch/x86/pv/page_table_write.hpp"
#include "arch/x86/pv/vcpu.hpp"

#include <public/callback.hpp>
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace sluice::x86::pv {
namespace {

using sluice::testing::SimulatedMemory;

constexpr PhysicalAddress arena_base = 0x100000;
constexpr uint64_t arena_pages = 64;

// Intel SDM Vol. 3A, "4-Level Paging": present 1, writable 2, user 4, PS 0x80.
constexpr uint64_t present = 1, writable = 2, user = 4, large = 0x80;

// A guest address space written by hand: L4 at page 0, L3 at page 1, L2 at
// page 2, L1 at page 3; virtual 0x400000 + n * 4 KiB maps data page 4 + n
// (n < 16), user and writable unless a test changes it.
class GuestSpace {
public:
    static constexpr uint64_t base_virtual = 0x400000;

    GuestSpace() : memory(arena_base, arena_pages * page_size) {
        write(page(0) + 0 * 8, page(1) | present | writable | user);
        write(page(1) + 0 * 8, page(2) | present | writable | user);
        write(page(2) + 2 * 8, page(3) | present | writable | user);  // 0x400000 >> 21 == 2
        for (unsigned index = 0; index < 16; ++index) write(page(3) + index * 8, page(4 + index) | present | writable | user);
    }
    static PhysicalAddress page(unsigned index) { return arena_base + index * page_size; }
    void write(PhysicalAddress address, uint64_t value) { memory.write64(address, value); }
    uint64_t& l1_entry(unsigned index) { return *reinterpret_cast<uint64_t*>(memory.pointer(page(3) + index * 8, 8)); }

    SimulatedMemory memory;
};

class ArenaFrames final : public GuestFramePolicy {
public:
    [[nodiscard]] bool is_guest_ram(uint64_t frame) const override {
        return frame >= (arena_base >> 12) && frame < (arena_base >> 12) + arena_pages && frame != refused;
    }
    uint64_t refused = 0;
};

TEST(PvGuestMemory, TranslatesThroughTheGuestsTables) {
    GuestSpace space;
    ArenaFrames frames;
    const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
    const Result<PhysicalAddress> machine = memory.translate(GuestSpace::base_virtual + 0x1234, GuestAccess::write);
    ASSERT_TRUE(machine.ok());
    EXPECT_EQ(machine.value(), GuestSpace::page(5) + 0x234);
}

TEST(PvGuestMemory, RefusesWhatRingThreeCouldNotDo) {
    GuestSpace space;
    ArenaFrames frames;
    const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
    GuestFault fault;

    space.l1_entry(1) &= ~writable;
    EXPECT_TRUE(memory.translate(GuestSpace::base_virtual + 0x1000, GuestAccess::read).ok());
    EXPECT_FALSE(memory.translate(GuestSpace::base_virtual + 0x1000, GuestAccess::write, &fault).ok());
    EXPECT_STREQ(fault.reason, "read-only");
    EXPECT_EQ(fault.level, 1u);

    space.l1_entry(2) &= ~user;
    EXPECT_FALSE(memory.translate(GuestSpace::base_virtual + 0x2000, GuestAccess::read, &fault).ok());
    EXPECT_STREQ(fault.reason, "not a user mapping");

    space.l1_entry(3) = 0;
    EXPECT_FALSE(memory.translate(GuestSpace::base_virtual + 0x3000, GuestAccess::read, &fault).ok());
    EXPECT_STREQ(fault.reason, "not present");

    EXPECT_FALSE(memory.translate(0x0000800000000000, GuestAccess::read, &fault).ok());
    EXPECT_STREQ(fault.reason, "not canonical");

    // Nothing mapped at L4 slot 256 (a hypervisor address).
    EXPECT_FALSE(memory.translate(0xffff800000000000, GuestAccess::read, &fault).ok());
    EXPECT_EQ(fault.level, 4u);
}

TEST(PvGuestMemory, RefusesSuperpagesAndForeignFrames) {
    GuestSpace space;
    ArenaFrames frames;
    const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
    GuestFault fault;
    space.write(GuestSpace::page(2) + 3 * 8, GuestSpace::page(8) | present | writable | user | large);
    EXPECT_FALSE(memory.translate(0x600000, GuestAccess::read, &fault).ok());
    EXPECT_STREQ(fault.reason, "superpage");

    frames.refused = GuestSpace::page(6) >> 12;
    EXPECT_FALSE(memory.translate(GuestSpace::base_virtual + 0x2000, GuestAccess::read, &fault).ok());
    EXPECT_STREQ(fault.reason, "not the domain's memory");
}

TEST(PvGuestMemory, CopiesAcrossPagesAndWritesNothingOnFailure) {
    GuestSpace space;
    ArenaFrames frames;
    const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
    std::vector<uint8_t> pattern(6000);
    for (size_t index = 0; index < pattern.size(); ++index) pattern[index] = static_cast<uint8_t>(index * 7);
    ASSERT_TRUE(memory.copy_to(GuestSpace::base_virtual + 0xf00, pattern.data(), pattern.size()).ok());
    EXPECT_EQ(std::memcmp(space.memory.pointer(GuestSpace::page(4) + 0xf00, 0x100), pattern.data(), 0x100), 0);
    EXPECT_EQ(std::memcmp(space.memory.pointer(GuestSpace::page(5), 4096), pattern.data() + 0x100, 4096), 0);
    std::vector<uint8_t> back(pattern.size());
    ASSERT_TRUE(memory.copy_from(back.data(), GuestSpace::base_virtual + 0xf00, back.size()).ok());
    EXPECT_EQ(back, pattern);

    // The last page of a range read-only: nothing at all is written.
    // Virtual page 7 (data page 11) read-only; the copy starts half-way
    // into virtual page 6 (data page 10).
    space.l1_entry(7) &= ~writable;
    const uint8_t before = *space.memory.pointer(GuestSpace::page(11));
    std::vector<uint8_t> ones(8192, 0xff);
    EXPECT_FALSE(memory.copy_to(GuestSpace::base_virtual + 0x7000 - 0x800, ones.data(), 0x1000).ok());
    EXPECT_NE(*space.memory.pointer(GuestSpace::page(10) + 0x800), 0xff);
    EXPECT_EQ(*space.memory.pointer(GuestSpace::page(11)), before);
}

// --- Bounce frames and iret -------------------------------------------------------

class RecordingHooks final : public ModeHooks {
public:
    void switch_mode(bool kernel) override { switches.push_back(kernel); }
    void update_port_access() override { ++port_updates; }
    std::vector<bool> switches;
    int port_updates = 0;
};

struct VcpuFixture {
    VcpuFixture() {
        vcpu.kernel_page_table = GuestSpace::page(0);
        vcpu.user_page_table = GuestSpace::page(0);
        vcpu.vcpu_info = GuestSpace::page(30);  // an arena page standing for shared_info
    }
    uint64_t stack_word(uint64_t address) const {
        const GuestMemory memory(const_cast<SimulatedMemory&>(space.memory), frames, GuestSpace::page(0));
        uint64_t value = 0;
        EXPECT_TRUE(memory.read(address, value).ok());
        return value;
    }
    uint8_t mask() const { return *const_cast<SimulatedMemory&>(space.memory).pointer(vcpu.vcpu_info + 1); }
    void set_mask(uint8_t value) { *space.memory.pointer(vcpu.vcpu_info + 1) = value; }

    GuestSpace space;
    ArenaFrames frames;
    RecordingHooks hooks;
    Vcpu vcpu;
    InterruptFrame frame{};
};

TEST(PvBounceFrame, FromKernelModeFollowsTheAbiLayout) {
    VcpuFixture fixture;
    InterruptFrame& frame = fixture.frame;
    frame.rip = 0xffffffff81000123;
    frame.cs = 0xe033;
    frame.rflags = 0x246;  // IF set in the real flags, as always for a guest
    frame.rsp = GuestSpace::base_virtual + 0x3008;  // not 16-byte aligned
    frame.ss = 0xe02b;
    frame.rcx = 0x1111;
    frame.r11 = 0x2222;
    fixture.set_mask(1);
    Bounce bounce{0xffffffff81000400, true, 0x14, true};
    GuestCrash crash;
    ASSERT_TRUE(create_bounce_frame(fixture.vcpu, frame, bounce, fixture.space.memory, fixture.frames, fixture.hooks,
                                    crash)
                    .ok());
    // Aligned down to 16, then 8 words: rcx, r11, error, rip, cs, rflags, rsp, ss.
    const uint64_t bottom = GuestSpace::base_virtual + 0x3000 - 8 * 8;
    EXPECT_EQ(frame.rsp, bottom);
    EXPECT_EQ(fixture.stack_word(bottom + 0), 0x1111u);
    EXPECT_EQ(fixture.stack_word(bottom + 8), 0x2222u);
    EXPECT_EQ(fixture.stack_word(bottom + 16), 0x14u);
    EXPECT_EQ(fixture.stack_word(bottom + 24), 0xffffffff81000123u);
    // Kernel-mode frame: RPL 0; saved mask 1 in bits 39:32.
    EXPECT_EQ(fixture.stack_word(bottom + 32), 0xe030u | (uint64_t{1} << 32));
    // Events were masked, so the saved IF is clear.
    EXPECT_EQ(fixture.stack_word(bottom + 40), 0x046u);
    EXPECT_EQ(fixture.stack_word(bottom + 48), GuestSpace::base_virtual + 0x3008);
    EXPECT_EQ(fixture.stack_word(bottom + 56), 0xe02bu);
    EXPECT_EQ(frame.rip, 0xffffffff81000400u);
    EXPECT_EQ(frame.cs, 0xe033u);
    EXPECT_TRUE(fixture.hooks.switches.empty());
}

TEST(PvBounceFrame, FromUserModeSwitchesToTheKernelStack) {
    VcpuFixture fixture;
    fixture.vcpu.kernel_mode = false;
    fixture.vcpu.kernel_stack_pointer = GuestSpace::base_virtual + 0x8000;
    InterruptFrame& frame = fixture.frame;
    frame.rip = 0x401000;
    frame.cs = 0xe033;
    frame.rflags = 0x202;
    frame.rsp = 0x7ffff000;
    frame.ss = 0xe02b;
    fixture.set_mask(0);
    GuestCrash crash;
    ASSERT_TRUE(create_bounce_frame(fixture.vcpu, frame, Bounce{0x402000, false, 0, true}, fixture.space.memory,
                                    fixture.frames, fixture.hooks, crash)
                    .ok());
    const uint64_t bottom = GuestSpace::base_virtual + 0x8000 - 7 * 8;
    EXPECT_EQ(frame.rsp, bottom);
    EXPECT_EQ(fixture.stack_word(bottom + 16), 0x401000u);
    EXPECT_EQ(fixture.stack_word(bottom + 24), 0xe033u);  // user frame keeps RPL 3, mask 0
    EXPECT_EQ(fixture.stack_word(bottom + 32), 0x202u);   // IF: events were on
    EXPECT_EQ(fixture.stack_word(bottom + 40), 0x7ffff000u);
    EXPECT_TRUE(fixture.vcpu.kernel_mode);
    ASSERT_EQ(fixture.hooks.switches.size(), 1u);
    EXPECT_TRUE(fixture.hooks.switches[0]);
    EXPECT_EQ(fixture.mask(), 1);  // mask_events
}

TEST(PvBounceFrame, AnUnwritableKernelStackCrashesTheDomain) {
    VcpuFixture fixture;
    fixture.frame.rsp = 0x7fff0000;  // not mapped
    GuestCrash crash;
    EXPECT_FALSE(create_bounce_frame(fixture.vcpu, fixture.frame, Bounce{0x402000, false, 0, false},
                                     fixture.space.memory, fixture.frames, fixture.hooks, crash)
                     .ok());
    EXPECT_NE(std::string(crash.reason).find("kernel stack"), std::string::npos);
    EXPECT_FALSE(create_bounce_frame(fixture.vcpu, fixture.frame, Bounce{0xffff830000000000, false, 0, false},
                                     fixture.space.memory, fixture.frames, fixture.hooks, crash)
                     .ok());
}

void write_iret_context(VcpuFixture& fixture, uint64_t address, const xen::iret_context& context) {
    const GuestMemory memory(fixture.space.memory, fixture.frames, GuestSpace::page(0));
    ASSERT_TRUE(memory.write(address, context).ok());
}

TEST(PvIret, ReturnsToUserModeWithTheUpcallMaskFromIf) {
    VcpuFixture fixture;
    const uint64_t stack = GuestSpace::base_virtual + 0x5000;
    write_iret_context(fixture, stack, xen::iret_context{1, 2, 3, 0, 0x401000, 0xe033, 0x3202, 0x7fff0000, 0xe02b});
    fixture.frame.rsp = stack;
    fixture.set_mask(1);
    GuestCrash crash;
    ASSERT_TRUE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_EQ(fixture.frame.rax, 1u);
    EXPECT_EQ(fixture.frame.r11, 2u);
    EXPECT_EQ(fixture.frame.rcx, 3u);
    EXPECT_EQ(fixture.frame.rip, 0x401000u);
    EXPECT_EQ(fixture.frame.rsp, 0x7fff0000u);
    // IOPL (0x3000) never reaches the guest.
    EXPECT_EQ(fixture.frame.rflags, 0x202u);
    EXPECT_FALSE(fixture.vcpu.kernel_mode);
    EXPECT_EQ(fixture.mask(), 0);
}

TEST(PvIret, InSyscallLeavesRcxAndR11AsSysretWould) {
    VcpuFixture fixture;
    const uint64_t stack = GuestSpace::base_virtual + 0x5000;
    write_iret_context(fixture, stack,
                       xen::iret_context{7, 8, 9, xen::VGCF_in_syscall, 0x401000, 0xe033, 0x246, 0x7fff0000, 0xe02b});
    fixture.frame.rsp = stack;
    GuestCrash crash;
    ASSERT_TRUE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_EQ(fixture.frame.rcx, 0x401000u);
    EXPECT_EQ(fixture.frame.r11, 0x246u);
}

TEST(PvIret, StaysInKernelModeForAnRplZeroFrameAndMasksWithoutIf) {
    VcpuFixture fixture;
    const uint64_t stack = GuestSpace::base_virtual + 0x5000;
    write_iret_context(fixture, stack,
                       xen::iret_context{0, 0, 0, 0, 0xffffffff81000000, 0xe030, 0x046, stack + 0x100, 0xe02b});
    fixture.frame.rsp = stack;
    GuestCrash crash;
    ASSERT_TRUE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_TRUE(fixture.vcpu.kernel_mode);
    EXPECT_EQ(fixture.frame.cs, 0xe033u);
    EXPECT_EQ(fixture.mask(), 1);
    EXPECT_TRUE(fixture.hooks.switches.empty());
}

TEST(PvIret, RefusesWhatCannotBeResumed) {
    VcpuFixture fixture;
    const uint64_t stack = GuestSpace::base_virtual + 0x5000;
    GuestCrash crash;
    write_iret_context(fixture, stack, xen::iret_context{0, 0, 0, 0, 0x0000800000000000, 0xe033, 0x202, 0, 0xe02b});
    fixture.frame.rsp = stack;
    EXPECT_FALSE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    fixture.vcpu.user_page_table = 0;
    write_iret_context(fixture, stack, xen::iret_context{0, 0, 0, 0, 0x401000, 0xe033, 0x202, 0, 0xe02b});
    fixture.frame.rsp = stack;
    EXPECT_FALSE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_NE(std::string(crash.reason).find("user page table"), std::string::npos);
    fixture.frame.rsp = 0x7fff0000;  // unmapped
    EXPECT_FALSE(do_iret(fixture.vcpu, fixture.frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
}

TEST(PvIret, ArchitecturalIoplTravelsInRflags) {
    VcpuFixture fixture;
    fixture.vcpu.vm_assists = uint64_t{1} << 4;  // VMASST_TYPE_architectural_iopl
    fixture.vcpu.io_privilege = 1;
    InterruptFrame& frame = fixture.frame;
    frame.rip = 0xffffffff81000100;
    frame.cs = 0xe033;
    frame.rflags = 0x202;
    frame.rsp = GuestSpace::base_virtual + 0x4000;
    frame.ss = 0xe02b;
    GuestCrash crash;
    ASSERT_TRUE(create_bounce_frame(fixture.vcpu, frame, Bounce{0xffffffff81000200, false, 0, false},
                                    fixture.space.memory, fixture.frames, fixture.hooks, crash)
                    .ok());
    // rflags follows rcx, r11, rip and cs (offset 32); IOPL 1 in bits 13:12.
    EXPECT_EQ(fixture.stack_word(frame.rsp + 32) & 0x3000, 0x1000u);
    // An iret whose RFLAGS image carries IOPL 3 gives the guest IOPL 3.
    const uint64_t stack = GuestSpace::base_virtual + 0x5000;
    write_iret_context(fixture, stack,
                       xen::iret_context{0, 0, 0, 0, 0xffffffff81000000, 0xe030, 0x3202, stack + 0x100, 0xe02b});
    frame.rsp = stack;
    ASSERT_TRUE(do_iret(fixture.vcpu, frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_EQ(fixture.vcpu.io_privilege, 3);
    EXPECT_EQ(fixture.hooks.port_updates, 1);
    EXPECT_EQ(frame.rflags & 0x3000, 0u);  // the processor's IOPL stays 0
    // Without the assist the RFLAGS image's IOPL is ignored.
    fixture.vcpu.vm_assists = 0;
    frame.rsp = stack;
    fixture.vcpu.io_privilege = 1;
    ASSERT_TRUE(do_iret(fixture.vcpu, frame, fixture.space.memory, fixture.frames, fixture.hooks, crash).ok());
    EXPECT_EQ(fixture.vcpu.io_privilege, 1);
}

TEST(PvEvents, UpcallOnlyWhenPendingAndUnmasked) {
    VcpuFixture fixture;
    fixture.vcpu.event_callback = GuestCallback{0xffffffff81000800, true, true};
    fixture.frame.rsp = GuestSpace::base_virtual + 0x6000;
    fixture.frame.rip = 0xffffffff81000100;
    GuestCrash crash;
    *fixture.space.memory.pointer(fixture.vcpu.vcpu_info) = 1;  // evtchn_upcall_pending
    fixture.set_mask(1);
    const Result<bool> masked = deliver_pending_events(fixture.vcpu, fixture.frame, fixture.space.memory,
                                                       fixture.frames, fixture.hooks, crash);
    ASSERT_TRUE(masked.ok());
    EXPECT_FALSE(masked.value());
    fixture.set_mask(0);
    const Result<bool> delivered = deliver_pending_events(fixture.vcpu, fixture.frame, fixture.space.memory,
                                                          fixture.frames, fixture.hooks, crash);
    ASSERT_TRUE(delivered.ok());
    EXPECT_TRUE(delivered.value());
    EXPECT_EQ(fixture.frame.rip, 0xffffffff81000800u);
    EXPECT_EQ(fixture.mask(), 1);
}

TEST(PvSelectors, OnlyDescriptorsALoadCannotFaultOn) {
    VcpuFixture fixture;
    // The guest's GDT: one frame (arena page 20), 4 entries.
    fixture.vcpu.gdt_frames[0] = GuestSpace::page(20) >> 12;
    fixture.vcpu.gdt_entries = 4;
    // Descriptors written from the SDM's layout: flat data DPL 3 (0x00cff2000000ffff), data DPL 0, a
    // not-present DPL 3 data segment, and execute-only code DPL 3 (type 0x8).
    fixture.space.write(GuestSpace::page(20) + 1 * 8, 0x00cff2000000ffff);
    fixture.space.write(GuestSpace::page(20) + 2 * 8, 0x00cf92000000ffff);
    fixture.space.write(GuestSpace::page(20) + 3 * 8, 0x00cf72000000ffff);
    const PhysicalMemory& memory = fixture.space.memory;
    EXPECT_TRUE(data_selector_loadable(fixture.vcpu, memory, 0));
    EXPECT_TRUE(data_selector_loadable(fixture.vcpu, memory, 0x0b));   // entry 1
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x13));  // DPL 0
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x1b));  // not present
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x23));  // beyond the 4 entries
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x0f));  // the LDT, which has no entries
    fixture.vcpu.ldt_frames[0] = GuestSpace::page(20) >> 12;
    fixture.vcpu.ldt_entries = 2;
    EXPECT_TRUE(data_selector_loadable(fixture.vcpu, memory, 0x0f));   // LDT entry 1: the flat data one
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x17));  // LDT entry 2: beyond its 2 entries
    EXPECT_TRUE(data_selector_loadable(fixture.vcpu, memory, 0xe02b));
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0xe00b));  // the hypervisor's code
    fixture.space.write(GuestSpace::page(20) + 1 * 8, 0x00affa000000ffff - 0x0000020000000000);  // execute-only code
    EXPECT_FALSE(data_selector_loadable(fixture.vcpu, memory, 0x0b));
}

TEST(PvSanitize, ThirtyTwoBitReturnsStayBelowFourGiB) {
    InterruptFrame frame{};
    frame.cs = 0xe023;
    frame.rip = 0x100000000;
    GuestCrash crash;
    EXPECT_FALSE(sanitize_return_frame(frame, crash).ok());
    frame.rip = 0xfffff000;
    frame.rsp = 0x1000;
    EXPECT_TRUE(sanitize_return_frame(frame, crash).ok());
    EXPECT_EQ(frame.cs, 0xe023u);
    frame.cs = 0x10;  // anything else becomes the flat 64-bit selector
    EXPECT_TRUE(sanitize_return_frame(frame, crash).ok());
    EXPECT_EQ(frame.cs, 0xe033u);
    EXPECT_EQ(frame.ss, 0xe02bu);
}

// --- The privileged-instruction decoder (Intel SDM Vol. 2 encodings) ------------------

DecodedInstruction decode(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> buffer(bytes);
    return decode_privileged(buffer.data(), static_cast<unsigned>(buffer.size()));
}

// Forced-emulation CPUID (Intel SDM Vol. 2A CPUID, AMD APM Vol. 3): the
// hypervisor leaves, and the host's leaves without VMX/SVM and the paging
// features a PV guest cannot use (Xen 4.17 hides the same from PV guests).
CpuidValues guest_cpuid(uint32_t leaf, uint32_t subleaf, const CpuidValues& host) {
    return guest_leaf(leaf, subleaf, host, GuestKind::pv, 0, 0);
}

TEST(PvGuestCpuid, HypervisorLeavesAndHiddenFeatures) {
    const CpuidValues all{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    const CpuidValues signature = guest_cpuid(0x40000000, 0, all);
    EXPECT_EQ(signature.eax, 0x40000002u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&signature.ebx), 4) +
                  std::string(reinterpret_cast<const char*>(&signature.ecx), 4) +
                  std::string(reinterpret_cast<const char*>(&signature.edx), 4),
              "XenVMMXenVMM");
    EXPECT_EQ(guest_cpuid(0x40000001, 0, all).eax, (4u << 16) | 17u);

    const CpuidValues basic = guest_cpuid(1, 0, CpuidValues{1, 2, 0, 0xffffffff});
    EXPECT_EQ(basic.eax, 1u);
    EXPECT_EQ(basic.ebx, 2u);
    EXPECT_EQ(basic.ecx, 1u << 31);  // hypervisor present
    // VME (1), PSE (3), MCE (7), PGE (13), MCA (14), PSE-36 (17) gone; PAE
    // (6), PAT (16) stay.
    EXPECT_EQ(basic.edx,
              0xffffffffu & ~((1u << 1) | (1u << 3) | (1u << 7) | (1u << 13) | (1u << 14) | (1u << 17)));
    EXPECT_EQ(guest_cpuid(1, 0, all).ecx & (1u << 5), 0u);  // no VMX

    const CpuidValues extended = guest_cpuid(0x80000001, 0, all);
    EXPECT_EQ(extended.ecx, ~(1u << 2));   // no SVM
    EXPECT_EQ(extended.edx, ~(1u << 26));  // no 1 GiB pages
    EXPECT_EQ(guest_cpuid(7, 0, all).ebx, ~1u);           // no FSGSBASE (leaf 7.0 EBX bit 0)
    EXPECT_EQ(guest_cpuid(7, 1, all).ebx, 0xffffffffu);   // other subleaves and leaves as the host's
    EXPECT_EQ(guest_cpuid(0xd, 0, all).eax, 0xffffffffu);
}

TEST(PvDecoder, ControlRegisterMoves) {
    // mov %rax, %cr3: 0f 22 d8 (ModRM 11 011 000).
    DecodedInstruction instruction = decode({0x0f, 0x22, 0xd8});
    EXPECT_EQ(instruction.operation, PrivilegedOperation::move_to_control);
    EXPECT_EQ(instruction.control_register, 3);
    EXPECT_EQ(instruction.general_register, 0);
    EXPECT_EQ(instruction.length, 3);
    // mov %r9, %cr3: REX.B 41 0f 22 d9.
    instruction = decode({0x41, 0x0f, 0x22, 0xd9});
    EXPECT_EQ(instruction.general_register, 9);
    EXPECT_EQ(instruction.length, 4);
    // mov %cr2, %rdx: 0f 20 d2.
    instruction = decode({0x0f, 0x20, 0xd2});
    EXPECT_EQ(instruction.operation, PrivilegedOperation::move_from_control);
    EXPECT_EQ(instruction.control_register, 2);
    EXPECT_EQ(instruction.general_register, 2);
    // mov %cr8, %rax needs REX.R: 44 0f 20 c0.
    EXPECT_EQ(decode({0x44, 0x0f, 0x20, 0xc0}).control_register, 8);
}

TEST(PvDecoder, InterruptFlag) {
    // cli fa, sti fb (Intel SDM Vol. 2A): one byte each.
    EXPECT_EQ(decode({0xfa}).operation, PrivilegedOperation::clear_interrupts);
    EXPECT_EQ(decode({0xfa}).length, 1);
    EXPECT_EQ(decode({0xfb}).operation, PrivilegedOperation::set_interrupts);
    EXPECT_EQ(decode({0xfb}).length, 1);
}

TEST(PvDecoder, PortInstructions) {
    DecodedInstruction instruction = decode({0xe4, 0x71});  // in $0x71, %al
    EXPECT_EQ(instruction.operation, PrivilegedOperation::in);
    EXPECT_EQ(instruction.port, 0x71);
    EXPECT_EQ(instruction.operand_size, 1);
    EXPECT_EQ(instruction.length, 2);
    instruction = decode({0xed});  // in %dx, %eax
    EXPECT_TRUE(instruction.port_in_dx);
    EXPECT_EQ(instruction.operand_size, 4);
    instruction = decode({0x66, 0xef});  // out %ax, %dx
    EXPECT_EQ(instruction.operation, PrivilegedOperation::out);
    EXPECT_EQ(instruction.operand_size, 2);
    EXPECT_EQ(instruction.length, 2);
    EXPECT_EQ(decode({0xe6, 0x80}).operation, PrivilegedOperation::out);
}

TEST(PvDecoder, TheRest) {
    EXPECT_EQ(decode({0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2}).operation, PrivilegedOperation::forced_cpuid);
    EXPECT_EQ(decode({0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2}).length, 7);
    EXPECT_EQ(decode({0x0f, 0x0b, 'x', 'e', 'n', 0x90}).operation, PrivilegedOperation::none);
    EXPECT_EQ(decode({0xf4}).operation, PrivilegedOperation::halt);
    EXPECT_EQ(decode({0x0f, 0x32}).operation, PrivilegedOperation::read_msr);
    EXPECT_EQ(decode({0x0f, 0x30}).operation, PrivilegedOperation::write_msr);
    EXPECT_EQ(decode({0x0f, 0x06}).operation, PrivilegedOperation::clear_task_switched);
    EXPECT_EQ(decode({0x0f, 0x09}).operation, PrivilegedOperation::write_back_invalidate);
    const DecodedInstruction interrupt = decode({0xcd, 0x80});
    EXPECT_EQ(interrupt.operation, PrivilegedOperation::software_interrupt);
    EXPECT_EQ(interrupt.vector, 0x80);
    EXPECT_EQ(decode({0x0f, 0x22}).operation, PrivilegedOperation::none); // truncated
    EXPECT_EQ(decode({0xe4}).operation, PrivilegedOperation::none);
    EXPECT_EQ(decode({}).operation, PrivilegedOperation::none);
}

// --- Stores to page tables (writable page tables), Intel SDM Vol. 2 encodings -------

DecodedStore decode_store(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> buffer(bytes);
    return decode_page_table_store(buffer.data(), static_cast<unsigned>(buffer.size()));
}

TEST(PvPageTableStores, TheStoresKernelsUse) {
    DecodedStore store = decode_store({0x48, 0x89, 0x37});  // mov %rsi, (%rdi)
    EXPECT_EQ(store.kind, PageTableStore::move_register);
    EXPECT_EQ(store.source_register, 6);
    EXPECT_EQ(store.length, 3);
    store = decode_store({0x4c, 0x89, 0x04, 0x24});  // mov %r8, (%rsp): SIB
    EXPECT_EQ(store.source_register, 8);
    EXPECT_EQ(store.length, 4);
    EXPECT_EQ(decode_store({0x48, 0x89, 0x44, 0x24, 0x08}).length, 5);                    // disp8 with SIB
    EXPECT_EQ(decode_store({0x48, 0x89, 0x87, 0x00, 0x10, 0x00, 0x00}).length, 7);        // disp32
    EXPECT_EQ(decode_store({0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00}).length, 7);        // RIP-relative
    EXPECT_EQ(decode_store({0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00}).length, 8);  // SIB, no base
    store = decode_store({0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff});  // movq $-1, (%rdi)
    EXPECT_EQ(store.kind, PageTableStore::move_immediate);
    EXPECT_EQ(store.immediate, -1);
    EXPECT_EQ(store.length, 7);
    store = decode_store({0xf0, 0x48, 0x0f, 0xb1, 0x17});  // lock cmpxchg %rdx, (%rdi)
    EXPECT_EQ(store.kind, PageTableStore::compare_exchange);
    EXPECT_EQ(store.source_register, 2);
    EXPECT_EQ(store.length, 5);
    store = decode_store({0x48, 0x87, 0x0e});  // xchg %rcx, (%rsi)
    EXPECT_EQ(store.kind, PageTableStore::exchange);
    EXPECT_EQ(store.source_register, 1);
}

TEST(PvPageTableStores, AnythingElseIsNotEmulated) {
    EXPECT_EQ(decode_store({0x89, 0x37}).kind, PageTableStore::none);              // 4-byte store
    EXPECT_EQ(decode_store({0x48, 0x89, 0xf7}).kind, PageTableStore::none);        // register destination
    EXPECT_EQ(decode_store({0x48, 0xc7, 0x0f, 0, 0, 0, 0}).kind, PageTableStore::none);  // c7 /1
    EXPECT_EQ(decode_store({0x48, 0xc7, 0x07, 0, 0}).kind, PageTableStore::none);  // truncated immediate
    EXPECT_EQ(decode_store({0x48, 0x89}).kind, PageTableStore::none);
    EXPECT_EQ(decode_store({0x48, 0x8b, 0x37}).kind, PageTableStore::none);        // a load
}

// --- Hypercalls against a fake machine ------------------------------------------------

class FakeServices final : public PvServices {
public:
    void guest_console_line(uint16_t domain_id, StringView line) override {
        lines.push_back(std::to_string(domain_id) + ":" + std::string(line.data(), line.length()));
    }
    size_t guest_console_read(char*, size_t) override { return 0; }
    [[nodiscard]] uint64_t system_time() const override { return now; }
    void set_timer(uint64_t deadline) override { timer = deadline; }
    void shutdown(uint16_t, unsigned why) override { reason = static_cast<int>(why); }
    void block() override {
        ++blocks;
        now += block_duration;  // time passes while the vCPU waits
    }
    void load_guest_gdt(const uint64_t*, unsigned) override {}
    void load_guest_ldt(const uint64_t*, unsigned, unsigned) override {}
    [[nodiscard]] Status set_segment_base(unsigned which, uint64_t) override {
        return which <= 3 ? success() : Status(Error::invalid_argument);
    }
    void set_task_switched(bool set) override { task_switched = set; }
    void update_port_access() override { ++port_updates; }
    [[nodiscard]] const MemoryMap& machine_memory_map() const override { return map; }
    [[nodiscard]] const MemoryMap& guest_memory_map() const override { return map; }
    [[nodiscard]] uint64_t domain_pages() const override { return 4096; }
    [[nodiscard]] uint64_t maximum_machine_frame() const override { return 0x7ffff; }

    std::vector<std::string> lines;
    uint64_t now = 1000;
    uint64_t timer = 0;
    int reason = -1;
    int blocks = 0;
    uint64_t block_duration = 0;
    bool task_switched = false;
    int port_updates = 0;
    MemoryMap map;
};

struct HypercallFixture : VcpuFixture {
    HypercallFixture() {
        domain.vcpu = &vcpu;
        domain.memory = &space.memory;
        domain.frames = &frames;
        domain.services = &services;
        domain.events = &events;
        domain.shared_info = GuestSpace::page(30);
        (void)services.map.add(0, 0x9f000, MemoryType::ram);
        (void)services.map.add(0x100000, 0x7f00000, MemoryType::ram);
    }
    int64_t call(uint64_t number, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
        frame.rax = number;
        frame.rdi = a0;
        frame.rsi = a1;
        frame.rdx = a2;
        frame.r10 = a3;
        paging::InvalidationTargets targets;
        paging::Batch batch(targets);
        GuestCrash crash;
        EXPECT_TRUE(dispatch_hypercall(domain, frame, hooks, batch, crash).ok()) << crash.reason;
        return static_cast<int64_t>(frame.rax);
    }
    void put(uint64_t address, const void* data, size_t length) {
        const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
        ASSERT_TRUE(memory.copy_to(address, data, length).ok());
    }
    template <typename T> T get(uint64_t address) {
        const GuestMemory memory(space.memory, frames, GuestSpace::page(0));
        T value{};
        EXPECT_TRUE(memory.read(address, value).ok());
        return value;
    }

    FakeServices services;
    EventChannels events;
    PvDomainContext domain;
    sluice::testing::LogCapture log;
};

constexpr uint64_t buffer_address = GuestSpace::base_virtual + 0x2000;
// Xen errno values (xen/include/public/errno.h), written out here.
constexpr int64_t efault = -14, enosys = -38, einval = -22;

TEST(PvHypercalls, ConsoleWriteGivesWholeLines) {
    HypercallFixture fixture;
    const char text[] = "hello\nwor";
    fixture.put(buffer_address, text, 9);
    EXPECT_EQ(fixture.call(18, 0, 9, buffer_address), 0);  // console_io(CONSOLEIO_write)
    fixture.put(buffer_address, "ld\n", 3);
    EXPECT_EQ(fixture.call(18, 0, 3, buffer_address), 0);
    ASSERT_EQ(fixture.services.lines.size(), 2u);
    EXPECT_EQ(fixture.services.lines[0], "0:hello");
    EXPECT_EQ(fixture.services.lines[1], "0:world");
    EXPECT_EQ(fixture.call(18, 0, 16, 0x7fff0000), efault);
}

TEST(PvHypercalls, LongConsoleWritesContinueThemselves) {
    HypercallFixture fixture;
    // 6000 bytes of 'a' with a newline every 100: more than one entry may
    // write (4096 bytes), so the call asks to run again from its SYSCALL.
    std::vector<char> text(6000, 'a');
    for (size_t index = 99; index < text.size(); index += 100) text[index] = '\n';
    fixture.put(buffer_address, text.data(), text.size());
    fixture.frame.rip = 0x1000;
    fixture.call(18, 0, text.size(), buffer_address);
    EXPECT_EQ(fixture.frame.rip, 0x1000u - 2);  // back to the two-byte SYSCALL
    EXPECT_EQ(fixture.frame.rax, 18u);          // with the hypercall number again
    EXPECT_EQ(fixture.frame.rsi, 6000u - 4096);
    EXPECT_EQ(fixture.frame.rdx, buffer_address + 4096);
    EXPECT_EQ(fixture.services.lines.size(), 40u);
    fixture.frame.rip = 0x1000;
    EXPECT_EQ(fixture.call(18, 0, fixture.frame.rsi, fixture.frame.rdx), 0);
    EXPECT_EQ(fixture.frame.rip, 0x1000u);
    EXPECT_EQ(fixture.services.lines.size(), 60u);
}

TEST(PvHypercalls, LongMulticallsContinueWhereTheyStopped) {
    HypercallFixture fixture;
    std::vector<xen::multicall_entry> entries(100);
    for (xen::multicall_entry& entry : entries) entry.op = 17;  // xen_version(XENVER_version)
    // The entries span pages 0x400000-0x401900 of the guest space.
    const uint64_t list = GuestSpace::base_virtual;
    fixture.put(list, entries.data(), entries.size() * sizeof(xen::multicall_entry));
    fixture.frame.rip = 0x2000;
    fixture.call(13, list, entries.size());
    EXPECT_EQ(fixture.frame.rip, 0x2000u - 2);
    EXPECT_EQ(fixture.frame.rdi, list + 64 * sizeof(xen::multicall_entry));
    EXPECT_EQ(fixture.frame.rsi, 36u);
    EXPECT_EQ(fixture.get<uint64_t>(list + 63 * 64 + 8), (4u << 16) | 17u);
    EXPECT_EQ(fixture.get<uint64_t>(list + 64 * 64 + 8), 0u);  // not run yet
    fixture.frame.rip = 0x2000;
    EXPECT_EQ(fixture.call(13, fixture.frame.rdi, fixture.frame.rsi), 0);
    EXPECT_EQ(fixture.get<uint64_t>(list + 99 * 64 + 8), (4u << 16) | 17u);
    // The ABI's count is an unsigned int: the upper half is ignored.
    EXPECT_EQ(fixture.call(13, list, uint64_t{1} << 32), 0);
}

TEST(PvHypercalls, UnknownNumbersAreEnosysAndReportedOnce) {
    HypercallFixture fixture;
    EXPECT_EQ(fixture.call(99), enosys);
    EXPECT_EQ(fixture.call(99), enosys);
    EXPECT_EQ(fixture.call(1000000), enosys);
    EXPECT_EQ(fixture.log.count_warnings("hypercall 99"), 1u);
    // Without page-table operations, mmu_update is unknown too.
    EXPECT_EQ(fixture.call(1), enosys);
}

TEST(PvHypercalls, TrapTableAndCallbacks) {
    HypercallFixture fixture;
    xen::trap_info table[3] = {{14, 0, 0xe033, 0xffffffff81000e00}, {3, 3, 0xe033, 0xffffffff81000300}, {}};
    fixture.put(buffer_address, table, sizeof table);
    EXPECT_EQ(fixture.call(0, buffer_address), 0);
    EXPECT_TRUE(fixture.vcpu.traps[14].present);
    EXPECT_EQ(fixture.vcpu.traps[14].address, 0xffffffff81000e00u);
    EXPECT_EQ(fixture.vcpu.traps[3].flags, 3);
    EXPECT_FALSE(fixture.vcpu.traps[13].present);

    xen::callback_register request{2, 0, 0xffffffff81000900};  // CALLBACKTYPE_syscall
    fixture.put(buffer_address, &request, sizeof request);
    EXPECT_EQ(fixture.call(30, 0, buffer_address), 0);  // CALLBACKOP_register
    EXPECT_TRUE(fixture.vcpu.syscall_callback.present);
    request.type = 99;
    fixture.put(buffer_address, &request, sizeof request);
    EXPECT_EQ(fixture.call(30, 0, buffer_address), einval);
    request = xen::callback_register{0, 0, 0xffff830000000000};  // into the hypervisor's range
    fixture.put(buffer_address, &request, sizeof request);
    EXPECT_EQ(fixture.call(30, 0, buffer_address), einval);

    EXPECT_EQ(fixture.call(3, 0xe02b, 0xffffffff81800000), 0);  // stack_switch
    EXPECT_EQ(fixture.vcpu.kernel_stack_pointer, 0xffffffff81800000u);
}

TEST(PvHypercalls, MulticallReportsEachResult) {
    HypercallFixture fixture;
    xen::multicall_entry entries[3] = {};
    entries[0].op = 17;  // xen_version(XENVER_version)
    entries[1].op = 99;  // unknown
    entries[2].op = 13;  // a nested multicall is refused
    fixture.put(buffer_address, entries, sizeof entries);
    EXPECT_EQ(fixture.call(13, buffer_address, 3), 0);
    EXPECT_EQ(fixture.get<uint64_t>(buffer_address + 8), (4u << 16) | 17u);
    EXPECT_EQ(static_cast<int64_t>(fixture.get<uint64_t>(buffer_address + 64 + 8)), enosys);
    EXPECT_EQ(static_cast<int64_t>(fixture.get<uint64_t>(buffer_address + 128 + 8)), einval);
}

TEST(PvHypercalls, VersionStrings) {
    HypercallFixture fixture;
    EXPECT_EQ(fixture.call(17, 3, buffer_address), 0);  // XENVER_capabilities
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(fixture.space.memory.pointer(GuestSpace::page(6), 16))),
              "xen-3.0-x86_64 ");
    EXPECT_EQ(fixture.call(17, 5, buffer_address), 0);  // XENVER_platform_parameters
    EXPECT_EQ(fixture.get<uint64_t>(buffer_address), 0xffff800000000000u);
    const uint32_t feature_request[2] = {0, 0};
    fixture.put(buffer_address, feature_request, sizeof feature_request);
    EXPECT_EQ(fixture.call(17, 6, buffer_address), 0);  // XENVER_get_features
    // pae_pgdir_above_4gb (4), mmu_pt_update_preserve_ad (5), highmem_assist
    // (6), gnttab_map_avail_bits (7), dom0 (11) (features.h).
    EXPECT_EQ(fixture.get<uint32_t>(buffer_address + 4), (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 11));
}

// vcpu.h: vcpu_runstate_info is {int state; uint64 state_entry_time; uint64
// time[4]} at offsets 0, 8, 16; RUNSTATE_running 0, blocked 2. The area is
// written at registration and on every change of state.
TEST(PvHypercalls, RunstateAreaFollowsBlocking) {
    HypercallFixture fixture;
    const uint64_t area = buffer_address + 0x100;
    fixture.put(buffer_address, &area, sizeof area);
    EXPECT_EQ(fixture.call(24, 5, 0, buffer_address), 0);  // VCPUOP_register_runstate_memory_area
    EXPECT_EQ(fixture.get<int32_t>(area), 0);
    EXPECT_EQ(fixture.get<uint64_t>(area + 8), 1000u);
    EXPECT_EQ(fixture.get<uint64_t>(area + 16), 1000u);  // running since system time 0

    fixture.services.block_duration = 500;
    EXPECT_EQ(fixture.call(29, 1), 0);  // SCHEDOP_block
    EXPECT_EQ(fixture.get<int32_t>(area), 0);             // running again
    EXPECT_EQ(fixture.get<uint64_t>(area + 8), 1500u);    // since the wake-up
    EXPECT_EQ(fixture.get<uint64_t>(area + 16), 1000u);   // running
    EXPECT_EQ(fixture.get<uint64_t>(area + 16 + 2 * 8), 500u);  // blocked

    // VMASST_TYPE_runstate_update_flag: the update bit (63) never stays.
    EXPECT_EQ(fixture.call(21, 0, 5), 0);
    fixture.services.now = 2000;
    EXPECT_EQ(fixture.call(24, 4, 0, buffer_address), 0);  // VCPUOP_get_runstate_info
    EXPECT_EQ(fixture.get<uint64_t>(buffer_address + 16), 1500u);
    EXPECT_EQ(fixture.get<uint64_t>(buffer_address + 8), 2000u);
    EXPECT_EQ(fixture.get<uint64_t>(area + 8), 2000u);
    // An address in the hypervisor's range is refused; 0 unregisters.
    const uint64_t hypervisor = 0xffff800000000000;
    fixture.put(buffer_address, &hypervisor, sizeof hypervisor);
    EXPECT_EQ(fixture.call(24, 5, 0, buffer_address), einval);
}

// set_debugreg / get_debugreg (xen.h) with the architectural rules (Intel
// SDM Vol. 3B, "Debug Registers"): DR6 reads 0xffff0ff0 after reset, DR7
// 0x400; DR4/DR5 alias DR6/DR7 with CR4.DE clear.
TEST(PvHypercalls, DebugRegisters) {
    HypercallFixture fixture;
    constexpr int64_t eperm = -1, eopnotsupp = -95;
    EXPECT_EQ(fixture.call(9, 6), 0xffff0ff0);
    EXPECT_EQ(fixture.call(9, 7), 0x400);
    EXPECT_EQ(fixture.call(9, 5), 0x400);
    EXPECT_EQ(fixture.call(8, 0, 0x401000), 0);
    EXPECT_EQ(fixture.call(9, 0), 0x401000);
    EXPECT_EQ(fixture.call(8, 1, 0xffff800000000000), eperm);  // the hypervisor's range
    EXPECT_EQ(fixture.call(8, 6, 0), 0);
    EXPECT_EQ(fixture.call(9, 4), 0xffff0ff0);  // reserved bits read back as the architecture fixes them
    EXPECT_EQ(fixture.call(8, 7, uint64_t{1} << 13), eperm);    // GD
    EXPECT_EQ(fixture.call(8, 7, uint64_t{1} << 11), eperm);    // reserved, must be 0
    EXPECT_EQ(fixture.call(8, 7, 0x1), eopnotsupp);             // L0: breakpoints are not armed
    EXPECT_EQ(fixture.call(8, 7, 0), 0);
    EXPECT_EQ(fixture.call(9, 7), 0x400);
    EXPECT_EQ(fixture.call(9, 8), einval);
    EXPECT_EQ(fixture.call(8, 8, 0), einval);
}

// VCPUOP_down of the only vCPU: the domain can never run again, which the
// dispatcher reports as a crash with a reason.
TEST(PvHypercalls, LastVcpuDownEndsTheDomain) {
    HypercallFixture fixture;
    fixture.frame.rax = 24;
    fixture.frame.rdi = 2;  // VCPUOP_down
    fixture.frame.rsi = 0;
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    GuestCrash crash;
    EXPECT_FALSE(dispatch_hypercall(fixture.domain, fixture.frame, fixture.hooks, batch, crash).ok());
    EXPECT_NE(std::string(crash.reason).find("VCPUOP_down"), std::string::npos);
}

TEST(PvHypercalls, ShutdownAndTimer) {
    HypercallFixture fixture;
    const uint32_t reason = 2;  // SHUTDOWN_suspend
    fixture.put(buffer_address, &reason, sizeof reason);
    EXPECT_EQ(fixture.call(29, 2, buffer_address), 0);  // SCHEDOP_shutdown
    EXPECT_EQ(fixture.services.reason, 2);
    EXPECT_EQ(fixture.call(15, 5000), 0);  // set_timer_op
    EXPECT_EQ(fixture.services.timer, 5000u);
    EXPECT_EQ(fixture.call(29, 1), 0);  // SCHEDOP_block unmasks and blocks
    EXPECT_EQ(fixture.services.blocks, 1);
    EXPECT_EQ(fixture.mask(), 0);
}

TEST(PvHypercalls, EventChannelBindAndRaise) {
    HypercallFixture fixture;
    const uint32_t bind[3] = {0, 0, 0};  // VIRQ_TIMER on vCPU 0
    fixture.put(buffer_address, bind, sizeof bind);
    EXPECT_EQ(fixture.call(32, 1, buffer_address), 0);  // EVTCHNOP_bind_virq
    const uint32_t port = fixture.get<uint32_t>(buffer_address + 8);
    EXPECT_NE(port, 0u);
    EXPECT_EQ(fixture.call(32, 1, buffer_address), -17);  // bound twice: -EEXIST
    fixture.events.raise(port, fixture.space.memory, fixture.domain.shared_info, fixture.vcpu.vcpu_info);
    // shared_info.evtchn_pending at 2048; vcpu_info.evtchn_pending_sel at 8.
    EXPECT_EQ(fixture.space.memory.read64(fixture.domain.shared_info + 2048), uint64_t{1} << port);
    EXPECT_EQ(fixture.space.memory.read64(fixture.vcpu.vcpu_info + 8), 1u);
    EXPECT_EQ(*fixture.space.memory.pointer(fixture.vcpu.vcpu_info), 1);
}

TEST(PvHypercalls, MaskedPortsStayQuietUntilUnmasked) {
    HypercallFixture fixture;
    const Result<unsigned> port = fixture.events.bind_virq(0);
    ASSERT_TRUE(port.ok());
    fixture.space.memory.write64(fixture.domain.shared_info + 2560, uint64_t{1} << port.value());  // evtchn_mask
    fixture.events.raise(port.value(), fixture.space.memory, fixture.domain.shared_info, fixture.vcpu.vcpu_info);
    EXPECT_EQ(*fixture.space.memory.pointer(fixture.vcpu.vcpu_info), 0);
    const uint32_t unmask = port.value();
    fixture.put(buffer_address, &unmask, sizeof unmask);
    EXPECT_EQ(fixture.call(32, 9, buffer_address), 0);  // EVTCHNOP_unmask
    EXPECT_EQ(*fixture.space.memory.pointer(fixture.vcpu.vcpu_info), 1);
}

TEST(PvHypercalls, IoPrivilegeFollowsXensRule) {
    HypercallFixture fixture;
    // Without set_iopl the guest kernel (ring 1 in Xen's model) has no ports.
    EXPECT_FALSE(io_ports_allowed(fixture.vcpu));
    const uint32_t one = 1;
    fixture.put(buffer_address, &one, sizeof one);
    EXPECT_EQ(fixture.call(33, 6, buffer_address), 0);  // PHYSDEVOP_set_iopl
    EXPECT_EQ(fixture.services.port_updates, 1);
    EXPECT_TRUE(io_ports_allowed(fixture.vcpu));
    fixture.vcpu.kernel_mode = false;
    EXPECT_FALSE(io_ports_allowed(fixture.vcpu));  // user mode needs IOPL 3
    fixture.vcpu.kernel_mode = true;
    const uint32_t four = 4;
    fixture.put(buffer_address, &four, sizeof four);
    EXPECT_EQ(fixture.call(33, 6, buffer_address), einval);
    EXPECT_EQ(fixture.call(33, 6, 0x7fff0000), efault);
    EXPECT_EQ(fixture.call(33, 1000, buffer_address), enosys);
}

TEST(PvHypercalls, AllocUnboundGivesAPort) {
    HypercallFixture fixture;
    const uint16_t request[4] = {0x7ff0, 0x7ff0, 0, 0};
    fixture.put(buffer_address, request, sizeof request);
    EXPECT_EQ(fixture.call(32, 6, buffer_address), 0);  // EVTCHNOP_alloc_unbound
    EXPECT_NE(fixture.get<uint32_t>(buffer_address + 4), 0u);
    const uint16_t foreign[4] = {0x7ff0, 5, 0, 0};
    fixture.put(buffer_address, foreign, sizeof foreign);
    EXPECT_EQ(fixture.call(32, 6, buffer_address), -3);  // -ESRCH: no domain 5
}

TEST(PvHypercalls, SendDropsUnboundAndRefusesVirqPorts) {
    HypercallFixture fixture;
    const Result<unsigned> unbound = fixture.events.allocate_unbound();
    const Result<unsigned> virq = fixture.events.bind_virq(0);
    const Result<unsigned> ipi = fixture.events.bind_ipi();
    ASSERT_TRUE(unbound.ok() && virq.ok() && ipi.ok());
    const auto send = [&](uint32_t port) {
        fixture.put(buffer_address, &port, sizeof port);
        return fixture.call(32, 4, buffer_address);  // EVTCHNOP_send
    };
    EXPECT_EQ(send(unbound.value()), 0);
    EXPECT_EQ(*fixture.space.memory.pointer(fixture.vcpu.vcpu_info), 0);  // dropped: nothing pending
    EXPECT_EQ(send(virq.value()), einval);
    EXPECT_EQ(send(60), einval);  // a free port
    EXPECT_EQ(send(ipi.value()), 0);
    EXPECT_EQ(*fixture.space.memory.pointer(fixture.vcpu.vcpu_info), 1);
}

TEST(PvHypercalls, MemoryOps) {
    HypercallFixture fixture;
    const uint16_t self = 0x7ff0;
    fixture.put(buffer_address, &self, sizeof self);
    EXPECT_EQ(fixture.call(12, 3, buffer_address), 4096);  // XENMEM_current_reservation
    EXPECT_EQ(fixture.call(12, 2), 0x7ffff);               // XENMEM_maximum_ram_page
    struct [[gnu::packed]] {
        uint32_t entries;
        uint32_t pad;
        uint64_t buffer;
    } request{8, 0, buffer_address + 0x100};
    fixture.put(buffer_address, &request, sizeof request);
    EXPECT_EQ(fixture.call(12, 10, buffer_address), 0);  // XENMEM_machine_memory_map
    EXPECT_EQ(fixture.get<uint32_t>(buffer_address), 2u);
    EXPECT_EQ(fixture.get<uint64_t>(buffer_address + 0x100 + 20), 0x100000u);  // second e820 entry's address
    EXPECT_EQ(fixture.get<uint32_t>(buffer_address + 0x100 + 16), 1u);        // E820_RAM
}

}  // namespace
}  // namespace sluice::x86::pv
