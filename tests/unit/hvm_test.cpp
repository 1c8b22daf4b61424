// The HVM pieces that run on the host: the VMCB layout helpers, the decoder of
// intercepted instructions, guest memory through guest paging and a p2m, the
// HVM hypercall ABI and the PVH builder. Expected values come from AMD APM
// Vol. 2/3, the Intel SDM and Xen's public headers, not from the code.
#include "arch/x86/cpuid_policy.hpp"
#include "arch/x86/hvm/guest_memory.hpp"
#include "arch/x86/hvm/hypercalls.hpp"
#include "arch/x86/hvm/instruction.hpp"
#include "arch/x86/hvm/pvh_build.hpp"
#include "arch/x86/hvm/svm/vmcb.hpp"
#include "arch/x86/reserved_ports.hpp"

#include <public/errno.hpp>
#include <public/hvm_start_info.hpp>
#include <public/sched.hpp>
#include <public/version.hpp>
#include <public/xen.hpp>

#include "support/elf_builder.hpp"
#include "support/log_capture.hpp"
#include "support/simulated_machine.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace sluice::x86 {
namespace {

using hvm::InterceptedInstruction;

// --- VMCB -------------------------------------------------------------------------

TEST(SvmVmcb, ExitCodesAreNamedAsAppendixC) {
    char buffer[24];
    EXPECT_STREQ(svm::exit_code_name(0x72, buffer), "VMEXIT_CPUID");
    EXPECT_STREQ(svm::exit_code_name(0x81, buffer), "VMEXIT_VMMCALL");
    EXPECT_STREQ(svm::exit_code_name(0x400, buffer), "VMEXIT_NPF");
    EXPECT_STREQ(svm::exit_code_name(0x13, buffer), "VMEXIT_CR3_WRITE");
    EXPECT_STREQ(svm::exit_code_name(0x4e, buffer), "VMEXIT_EXCP14");
    EXPECT_STREQ(svm::exit_code_name(~uint64_t{0}, buffer), "VMEXIT_INVALID");
    EXPECT_STREQ(svm::exit_code_name(0x3ff, buffer), "VMEXIT_UNKNOWN");
    // QEMU TCG's 32-bit -1 for VMEXIT_INVALID (docs/pvh.md) is read as the APM's.
    EXPECT_EQ(svm::canonical_exit_code(0xffffffff), ~uint64_t{0});
    EXPECT_EQ(svm::canonical_exit_code(0x400), 0x400u);
}

TEST(SvmVmcb, MsrPermissionMapPositions) {
    // APM 15.11: MSR 0 at byte 0 bits 0-1; C000_0080 (EFER) at 0x800 + 0x80 * 2 bits = byte 0x820, bit 0.
    EXPECT_EQ(svm::msrpm_position(0).byte, 0u);
    const svm::MsrpmPosition efer = svm::msrpm_position(0xc0000080);
    EXPECT_TRUE(efer.found);
    EXPECT_EQ(efer.byte, 0x820u);
    EXPECT_EQ(efer.bit, 0u);
    const svm::MsrpmPosition pat = svm::msrpm_position(0x277);  // 0x277 * 2 = bit 0x4ee: byte 0x9d, bit 6
    EXPECT_EQ(pat.byte, 0x9du);
    EXPECT_EQ(pat.bit, 6u);
    EXPECT_EQ(svm::msrpm_position(0xc0010117).byte, 0x1000u + 0x117u / 4);
    EXPECT_FALSE(svm::msrpm_position(0x40000000).found);  // always intercepted
}

TEST(SvmVmcb, IoioAndNestedPageFaultDecoding) {
    // An 8-bit OUT to port 0x3f8: TYPE 0, SZ8 (bit 4), port in 31:16.
    const svm::IoioExitInformation out = svm::decode_ioio((uint64_t{0x3f8} << 16) | (1u << 4));
    EXPECT_FALSE(out.in);
    EXPECT_EQ(out.size, 1u);
    EXPECT_EQ(out.port, 0x3f8);
    const svm::IoioExitInformation in = svm::decode_ioio((uint64_t{0xcfc} << 16) | (1u << 6) | 1);
    EXPECT_TRUE(in.in);
    EXPECT_EQ(in.size, 4u);
    // A write to a not-present final GPA: RW (bit 1) and bit 32.
    const svm::NestedPageFault fault = svm::decode_npf((uint64_t{1} << 32) | 2);
    EXPECT_TRUE(fault.write);
    EXPECT_FALSE(fault.present);
    EXPECT_TRUE(fault.final_address);
    EXPECT_FALSE(fault.page_table_access);
    // EVENTINJ for #GP(0): vector 13, type 3, EV, V.
    EXPECT_EQ(svm::exception_event(13, true, 0), 0x80000b0dull);
    EXPECT_EQ(svm::exception_event(6), 0x80000306ull);
}

// --- Decoder ---------------------------------------------------------------------------

hvm::DecodedInstruction decode(std::vector<uint8_t> bytes, bool long_mode = true) {
    const Result<hvm::DecodedInstruction> decoded =
        hvm::decode_intercepted(Span<const uint8_t>(bytes.data(), bytes.size()), long_mode);
    EXPECT_TRUE(decoded.ok());
    return decoded.ok() ? decoded.value() : hvm::DecodedInstruction{};
}

TEST(HvmDecoder, InterceptedInstructionsAndTheirLengths) {
    EXPECT_EQ(decode({0x0f, 0xa2}).instruction, InterceptedInstruction::cpuid);
    EXPECT_EQ(decode({0x0f, 0xa2}).length, 2u);
    EXPECT_EQ(decode({0x0f, 0x01, 0xd9}).instruction, InterceptedInstruction::vmmcall);
    EXPECT_EQ(decode({0x0f, 0x01, 0xd9}).length, 3u);
    EXPECT_EQ(decode({0x0f, 0x01, 0xc1}).instruction, InterceptedInstruction::vmcall);
    EXPECT_EQ(decode({0x0f, 0x01, 0xf9}).instruction, InterceptedInstruction::rdtscp);
    EXPECT_EQ(decode({0x0f, 0x01, 0xf9}).length, 3u);
    EXPECT_EQ(decode({0x0f, 0x31}).instruction, InterceptedInstruction::rdtsc);
    EXPECT_EQ(decode({0x0f, 0x30}).instruction, InterceptedInstruction::wrmsr);
    EXPECT_EQ(decode({0x0f, 0x32}).instruction, InterceptedInstruction::rdmsr);
    EXPECT_EQ(decode({0xf4}).instruction, InterceptedInstruction::hlt);
    EXPECT_EQ(decode({0xf4}).length, 1u);
    EXPECT_EQ(decode({0x0f, 0x09}).instruction, InterceptedInstruction::wbinvd);
    EXPECT_EQ(decode({0x0f, 0x08}).instruction, InterceptedInstruction::invd);
    EXPECT_EQ(decode({0x0f, 0x01, 0xd8}).instruction, InterceptedInstruction::vmrun);
    EXPECT_EQ(decode({0x0f, 0x01, 0xdf}).instruction, InterceptedInstruction::invlpga);
}

TEST(HvmDecoder, PrefixesCountTowardsTheLength) {
    // REX.W wrmsr (48 0f 30) in 64-bit mode: 3 bytes; a segment override and
    // an operand-size prefix before cpuid: 4 bytes.
    EXPECT_EQ(decode({0x48, 0x0f, 0x30}).length, 3u);
    EXPECT_EQ(decode({0x2e, 0x66, 0x0f, 0xa2}).length, 4u);
    // Outside 64-bit mode 0x48 is DEC EAX, not a prefix.
    std::vector<uint8_t> bytes{0x48, 0x0f, 0x30};
    EXPECT_FALSE(hvm::decode_intercepted(Span<const uint8_t>(bytes.data(), bytes.size()), false).ok());
}

TEST(HvmDecoder, RefusesWhatItDoesNotKnowAndShortFetches) {
    std::vector<uint8_t> mov{0x89, 0xc0};
    EXPECT_EQ(hvm::decode_intercepted(Span<const uint8_t>(mov.data(), mov.size()), true).error(), Error::malformed);
    std::vector<uint8_t> lgdt{0x0f, 0x01, 0x10};
    EXPECT_EQ(hvm::decode_intercepted(Span<const uint8_t>(lgdt.data(), lgdt.size()), true).error(), Error::malformed);
    std::vector<uint8_t> cut{0x0f, 0x01};
    EXPECT_EQ(hvm::decode_intercepted(Span<const uint8_t>(cut.data(), cut.size()), true).error(), Error::out_of_range);
    // Fifteen prefixes leave no room for an opcode (APM Vol. 3, 1.1: 15 bytes at most).
    std::vector<uint8_t> prefixes(15, 0x66);
    prefixes.push_back(0xf4);
    EXPECT_EQ(hvm::decode_intercepted(Span<const uint8_t>(prefixes.data(), prefixes.size()), true).error(),
              Error::malformed);
}

// --- Guest memory --------------------------------------------------------------------------

// A p2m model: guest page -> machine page, RAM or not, writable or not.
class ModelMap final : public hvm::GuestPhysicalMap {
public:
    struct Page {
        PhysicalAddress machine;
        bool ram;
        bool writable;
    };
    [[nodiscard]] Optional<PhysicalAddress> ram(uint64_t address, bool write) const override {
        const auto found = pages.find(address & ~uint64_t{0xfff});
        if (found == pages.end() || !found->second.ram || (write && !found->second.writable)) return {};
        return found->second.machine + (address & 0xfff);
    }
    std::map<uint64_t, Page> pages;
};

constexpr PhysicalAddress arena = 0x1000000;

struct GuestFixture {
    testing::SimulatedMemory memory{arena, 64 * page_size};
    ModelMap map;
    // Guest page g is machine page arena + (63 - g) * 4 KiB: reversed, so an
    // identity slip reads the wrong bytes.
    GuestFixture() {
        for (uint64_t page = 0; page < 64; ++page)
            map.pages[page * page_size] = ModelMap::Page{arena + (63 - page) * page_size, true, true};
    }
    uint64_t* guest_page(uint64_t guest) {
        return reinterpret_cast<uint64_t*>(memory.pointer(map.pages.at(guest).machine, page_size));
    }
};

TEST(HvmGuestMemory, PagingOffReadsThroughTheP2m) {
    GuestFixture fixture;
    std::memcpy(fixture.guest_page(0x3000), "pvh", 4);
    const hvm::HvmGuestMemory memory(fixture.memory, fixture.map, hvm::PagingState{0x11, 0, 0, 0});
    char text[4] = {};
    ASSERT_TRUE(memory.copy_from(text, 0x3000, 4).ok());
    EXPECT_STREQ(text, "pvh");
    EXPECT_FALSE(memory.copy_from(text, 0x100000, 4).ok());  // no RAM there
}

TEST(HvmGuestMemory, LongModeWalkWith4KiBAnd2MiBPages) {
    GuestFixture fixture;
    // PML4 at guest 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000 (APM 5.3.3).
    fixture.guest_page(0x1000)[0] = 0x2000 | 3;
    fixture.guest_page(0x2000)[0] = 0x3000 | 3;
    fixture.guest_page(0x3000)[0] = 0x4000 | 3;             // 0-2 MiB: 4 KiB pages
    fixture.guest_page(0x3000)[1] = 0x0 | 0x80 | 1;         // 2-4 MiB: a read-only 2 MiB page at guest 0
    fixture.guest_page(0x4000)[5] = 0x6000 | 3;             // linear 0x5000 -> guest 0x6000
    std::memcpy(fixture.guest_page(0x6000), "four", 5);
    const hvm::PagingState paging{0x80000011, 0x1000, 0x20, 0x500};  // PG, PAE, LME|LMA
    const hvm::HvmGuestMemory memory(fixture.memory, fixture.map, paging);
    EXPECT_EQ(memory.linear_to_physical(0x5123, hvm::GuestAccess::read).value(), 0x6123u);
    char text[5] = {};
    ASSERT_TRUE(memory.copy_from(text, 0x5000, 5).ok());
    EXPECT_STREQ(text, "four");
    EXPECT_EQ(memory.linear_to_physical(0x206123, hvm::GuestAccess::read).value(), 0x6123u);
    hvm::GuestFault fault;
    EXPECT_FALSE(memory.linear_to_physical(0x206123, hvm::GuestAccess::write, &fault).ok());
    EXPECT_EQ(fault.level, 2u);
    EXPECT_FALSE(memory.linear_to_physical(0x8000, hvm::GuestAccess::read).ok());  // PT entry 8 not present
    EXPECT_FALSE(memory.linear_to_physical(0x0000800000000000, hvm::GuestAccess::read).ok());  // non-canonical
    // copy_to writes nothing unless every page translates: 0x5ffe spans into
    // linear 0x6000, which is not mapped.
    const char data[4] = {'x', 'y', 'z', 'w'};
    EXPECT_FALSE(memory.copy_to(0x5ffe, data, 4).ok());
    EXPECT_NE(reinterpret_cast<char*>(fixture.guest_page(0x6000))[0xffe], 'x');
}

TEST(HvmGuestMemory, LegacyAndPaePaging) {
    GuestFixture fixture;
    // 32-bit paging: PD at 0x1000, a 4 MiB PSE page for linear 0x400000-0x7fffff -> guest 0.
    reinterpret_cast<uint32_t*>(fixture.guest_page(0x1000))[1] = 0x0 | 0x83;
    reinterpret_cast<uint32_t*>(fixture.guest_page(0x1000))[0] = 0x2000 | 3;
    reinterpret_cast<uint32_t*>(fixture.guest_page(0x2000))[3] = 0x7000 | 3;
    const hvm::HvmGuestMemory legacy(fixture.memory, fixture.map, hvm::PagingState{0x80000011, 0x1000, 0x10, 0});
    EXPECT_EQ(legacy.linear_to_physical(0x3456, hvm::GuestAccess::read).value(), 0x7456u);
    EXPECT_EQ(legacy.linear_to_physical(0x405678, hvm::GuestAccess::read).value(), 0x5678u);
    // PAE: PDPT at 0x1020 (CR3 bits 31:5), PDPTE 0 -> PD 0x3000 -> PT 0x4000.
    fixture.guest_page(0x1000)[4] = 0x3000 | 1;
    fixture.guest_page(0x3000)[0] = 0x4000 | 3;
    fixture.guest_page(0x4000)[2] = 0x9000 | 3;
    const hvm::HvmGuestMemory pae(fixture.memory, fixture.map, hvm::PagingState{0x80000011, 0x1020, 0x20, 0});
    EXPECT_EQ(pae.linear_to_physical(0x2abc, hvm::GuestAccess::read).value(), 0x9abcu);
}

TEST(HvmGuestMemory, TablesAndTargetsOutsideRamAreRefused) {
    GuestFixture fixture;
    fixture.map.pages[0x2000].ram = false;  // the PDPT page is MMIO
    fixture.guest_page(0x1000)[0] = 0x2000 | 3;
    const hvm::HvmGuestMemory memory(fixture.memory, fixture.map, hvm::PagingState{0x80000011, 0x1000, 0x20, 0x500});
    hvm::GuestFault fault;
    EXPECT_FALSE(memory.linear_to_physical(0x1000, hvm::GuestAccess::read, &fault).ok());
    EXPECT_EQ(fault.level, 3u);
    fixture.map.pages[0x5000].writable = false;
    const hvm::HvmGuestMemory flat(fixture.memory, fixture.map, hvm::PagingState{0x11, 0, 0, 0});
    const uint8_t byte = 1;
    EXPECT_FALSE(flat.copy_to(0x5000, &byte, 1).ok());
    EXPECT_TRUE(flat.copy_to(0x4fff, &byte, 1).ok());
}

// --- Hypercalls -------------------------------------------------------------------------------

class FakeServices final : public hvm::HvmServices {
public:
    void guest_console_line(uint16_t, StringView line) override { lines.emplace_back(line.data(), line.length()); }
    size_t guest_console_read(char*, size_t) override { return 0; }
    void shutdown(uint16_t, unsigned reason) override { shutdown_reason = static_cast<int>(reason); }
    std::vector<std::string> lines;
    int shutdown_reason = -1;
};

class FlatBuffers final : public hypercall::GuestBuffers {
public:
    [[nodiscard]] Status copy_from(void* destination, uint64_t address, size_t length) const override {
        if (address + length > bytes.size()) return Error::out_of_range;
        std::memcpy(destination, bytes.data() + address, length);
        return success();
    }
    [[nodiscard]] Status copy_to(uint64_t address, const void* source, size_t length) const override {
        if (address + length > bytes.size()) return Error::out_of_range;
        std::memcpy(const_cast<uint8_t*>(bytes.data()) + address, source, length);
        return success();
    }
    std::vector<uint8_t> bytes = std::vector<uint8_t>(0x10000, 0);
};

TEST(HvmHypercalls, SixtyFourBitConsoleAndShutdown) {
    testing::LogCapture log;
    FakeServices services;
    FlatBuffers buffers;
    hvm::HvmDomainContext domain;
    domain.services = &services;
    std::memcpy(buffers.bytes.data() + 0x100, "hello\nrest", 10);
    hvm::GuestRegisters registers{};
    registers.rax = xen::HYPERVISOR_console_io;
    registers.rdi = xen::CONSOLEIO_write;
    registers.rsi = 10;
    registers.rdx = 0x100;
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {true, 0}, buffers), hvm::HypercallOutcome::done);
    EXPECT_EQ(registers.rax, 0u);
    ASSERT_EQ(services.lines.size(), 1u);
    EXPECT_EQ(services.lines[0], "hello");
    // sched_op(SCHEDOP_shutdown, &{SHUTDOWN_poweroff}): the unfinished line shows first.
    buffers.bytes[0x200] = xen::SHUTDOWN_poweroff;
    registers.rax = xen::HYPERVISOR_sched_op;
    registers.rdi = xen::SCHEDOP_shutdown;
    registers.rsi = 0x200;
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {true, 0}, buffers), hvm::HypercallOutcome::done);
    EXPECT_EQ(services.shutdown_reason, static_cast<int>(xen::SHUTDOWN_poweroff));
    ASSERT_EQ(services.lines.size(), 2u);
    EXPECT_EQ(services.lines[1], "rest");
}

TEST(HvmHypercalls, ThirtyTwoBitArgumentsAndCplAndUnknown) {
    testing::LogCapture log;
    FakeServices services;
    FlatBuffers buffers;
    hvm::HvmDomainContext domain;
    domain.services = &services;
    hvm::GuestRegisters registers{};
    // xen_version(XENVER_version) from 32-bit code: EBX is the command.
    registers.rax = 0xffffffff00000000ull | xen::HYPERVISOR_xen_version;
    registers.rbx = xen::XENVER_version;
    registers.rdi = 0xdead;  // the 64-bit first argument register, ignored here
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {false, 0}, buffers), hvm::HypercallOutcome::done);
    EXPECT_EQ(registers.rax, (4u << 16) | 17u);
    // CPL 3: -EPERM whatever the call.
    registers.rax = xen::HYPERVISOR_xen_version;
    registers.rdi = xen::XENVER_version;
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {true, 3}, buffers), hvm::HypercallOutcome::done);
    EXPECT_EQ(static_cast<int64_t>(registers.rax), -int64_t{xen::XEN_EPERM});
    // An unknown hypercall: -ENOSYS, one warning for two calls.
    for (int call = 0; call < 2; ++call) {
        registers.rax = xen::HYPERVISOR_grant_table_op;
        EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {true, 0}, buffers), hvm::HypercallOutcome::done);
        EXPECT_EQ(static_cast<int64_t>(registers.rax), -int64_t{xen::XEN_ENOSYS});
    }
    EXPECT_EQ(log.count_warnings("grant_table_op"), 1u);
    // 32-bit results are 32 bits wide: -ENOSYS as 0xffffffda.
    registers.rax = xen::HYPERVISOR_grant_table_op;
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {false, 0}, buffers), hvm::HypercallOutcome::done);
    EXPECT_EQ(registers.rax, 0x100000000ull - xen::XEN_ENOSYS);
}

TEST(HvmHypercalls, LongConsoleWriteContinues) {
    FakeServices services;
    FlatBuffers buffers;
    hvm::HvmDomainContext domain;
    domain.services = &services;
    std::memset(buffers.bytes.data(), 'a', 5000);
    hvm::GuestRegisters registers{};
    registers.rax = xen::HYPERVISOR_console_io;
    registers.rdi = xen::CONSOLEIO_write;
    registers.rsi = 5000;
    registers.rdx = 0;
    EXPECT_EQ(hvm::dispatch_hvm_hypercall(domain, registers, {true, 0}, buffers), hvm::HypercallOutcome::repeat);
    EXPECT_EQ(registers.rax, uint64_t{xen::HYPERVISOR_console_io});
    EXPECT_EQ(registers.rsi, 5000u - 4096u);
    EXPECT_EQ(registers.rdx, 4096u);
}

TEST(HvmHypercalls, HypercallPageSlots) {
    uint8_t page[4096];
    hvm::fill_hypercall_page(page, hvm::HypercallInstruction::vmmcall);
    // Slot 29 (sched_op) at 29 * 32: b8 1d 00 00 00 (mov $29, %eax), 0f 01 d9 (vmmcall), c3 (ret).
    const uint8_t expected[] = {0xb8, 0x1d, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xd9, 0xc3};
    EXPECT_EQ(std::memcmp(page + 29 * 32, expected, sizeof expected), 0);
    EXPECT_EQ(page[29 * 32 + 9], 0xcc);
    hvm::fill_hypercall_page(page, hvm::HypercallInstruction::vmcall);
    EXPECT_EQ(page[18 * 32 + 7], 0xc1);
}

// --- CPUID policy and ports ---------------------------------------------------------------------

TEST(GuestPolicy, XenLeaves) {
    const CpuidValues base = hypervisor_leaf(0x40000000, 0, GuestKind::hvm, 0, 0);
    char signature[13] = {};
    std::memcpy(signature, &base.ebx, 4);
    std::memcpy(signature + 4, &base.ecx, 4);
    std::memcpy(signature + 8, &base.edx, 4);
    EXPECT_STREQ(signature, "XenVMMXenVMM");
    EXPECT_GE(base.eax, 0x40000004u);
    EXPECT_EQ(hypervisor_leaf(0x40000001, 0, GuestKind::hvm, 0, 0).eax, (4u << 16) | 17u);
    const CpuidValues pages = hypervisor_leaf(0x40000002, 0, GuestKind::hvm, 0, 0);
    EXPECT_EQ(pages.eax, 1u);
    EXPECT_EQ(pages.ebx, 0x40000000u);
    EXPECT_EQ(hypervisor_leaf(0x40000000, 0, GuestKind::pv, 0, 0).eax, 0x40000002u);
    CpuidValues leaf1{0, 0, (1u << 5) | (1u << 21), 0};
    adjust_host_leaf(1, 0, leaf1, GuestKind::hvm);
    EXPECT_EQ(leaf1.ecx, 1u << 31);
    CpuidValues extended{0, 0, 1u << 2, 0};
    adjust_host_leaf(0x80000001, 0, extended, GuestKind::hvm);
    EXPECT_EQ(extended.ecx, 0u);
}

TEST(GuestPolicy, ReservedPorts) {
    ASSERT_NE(reserved_port_range(0x3f8), nullptr);
    EXPECT_NE(reserved_port_range(0x21), nullptr);
    EXPECT_NE(reserved_port_range(0x61), nullptr);
    ASSERT_NE(reserved_port_range(0xcfc), nullptr);
    EXPECT_TRUE(reserved_port_range(0xcfc)->emulated);
    EXPECT_EQ(reserved_port_range(0x60), nullptr);   // the keyboard controller is dom0's
    EXPECT_EQ(reserved_port_range(0x2f8), nullptr);  // COM2
    EXPECT_EQ(reserved_port_range(0x80), nullptr);
}

// --- PVH builder ------------------------------------------------------------------------------

MemoryMap host_map() {
    MemoryMap map;
    EXPECT_TRUE(map.add(0, 0x9fc00, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0x9fc00, 0x400, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0xf0000, 0x10000, MemoryType::reserved).ok());
    EXPECT_TRUE(map.add(0x100000, 0x7f00000, MemoryType::ram).ok());
    EXPECT_TRUE(map.add(0xfffc0000, 0x40000, MemoryType::reserved).ok());
    map.sanitize();
    return map;
}

TEST(PvhBuild, GuestMemoryMapMirrorsTheHost) {
    const Result<MemoryMap> guest = hvm::compute_pvh_memory_map(host_map(), 0x9f000 + 0x1000000);
    ASSERT_TRUE(guest.ok());
    // 0x9f000 bytes below 640 KiB, then 16 MiB from 1 MiB, then UNUSABLE to
    // the end of host RAM; the partial page at 0x9f000 is reserved.
    EXPECT_TRUE(guest.value().covers(0, 0x9f000, MemoryType::ram));
    EXPECT_TRUE(guest.value().covers(0x100000, 0x1000000, MemoryType::ram));
    EXPECT_TRUE(guest.value().covers(0x1100000, 0x8000000 - 0x1100000, MemoryType::unusable));
    EXPECT_EQ(guest.value().total(MemoryType::ram), 0x9f000u + 0x1000000u);
    EXPECT_TRUE(guest.value().covers(0xf0000, 0x10000, MemoryType::reserved));
    EXPECT_TRUE(guest.value().covers(0xfffc0000, 0x40000, MemoryType::reserved));
}

class RecordingWriter final : public hvm::GuestPhysicalWriter {
public:
    [[nodiscard]] Status write(uint64_t address, const void* source, size_t length) override {
        const auto* bytes = static_cast<const uint8_t*>(source);
        for (size_t index = 0; index < length; ++index) memory[address + index] = bytes[index];
        return success();
    }
    [[nodiscard]] Status zero(uint64_t address, uint64_t length) override {
        for (uint64_t index = 0; index < length; ++index) memory[address + index] = 0;
        return success();
    }
    template <typename T> T read(uint64_t address) const {
        T value{};
        auto* bytes = reinterpret_cast<uint8_t*>(&value);
        for (size_t index = 0; index < sizeof(T); ++index) bytes[index] = memory.at(address + index);
        return value;
    }
    std::map<uint64_t, uint8_t> memory;
};

namespace elf = testing::elf_image;

testing::Bytes pvh_kernel(uint64_t physical, uint32_t entry, bool with_note = true) {
    elf::ElfBuilder builder;
    builder.entry = entry;
    builder.load(physical, physical, testing::Bytes(0x100, 0x90), 0x2000);
    if (with_note) builder.note_segment(elf::xen_note(18, elf::u32(entry)));
    return builder.build();
}

TEST(PvhBuild, LoadsAtPhysicalAddressesAndWritesStartInfo) {
    const MemoryMap guest = hvm::compute_pvh_memory_map(host_map(), 0x4000000).value();
    const testing::Bytes kernel = pvh_kernel(0x100000, 0x100010);
    const testing::Bytes initrd(300, 0x5a);
    hvm::PvhBuildInputs inputs;
    inputs.kernel = Span<const uint8_t>(kernel.data(), kernel.size());
    inputs.initrd = Span<const uint8_t>(initrd.data(), initrd.size());
    inputs.command_line = StringView("console=hvc0");
    inputs.guest_memory_map = &guest;
    inputs.rsdp = 0xf5a20;
    inputs.flags = xen::SIF_INITDOMAIN | xen::SIF_PRIVILEGED;
    RecordingWriter writer;
    hvm::PvhBuildDiagnostic diagnostic;
    const Result<hvm::PvhInitialState> built = hvm::build_pvh_dom0(inputs, writer, diagnostic);
    ASSERT_TRUE(built.ok()) << diagnostic.message;
    EXPECT_EQ(built.value().entry, 0x100010u);
    EXPECT_EQ(writer.read<uint8_t>(0x100000), 0x90);
    EXPECT_EQ(writer.read<uint8_t>(0x101fff), 0x00);  // bss zeroed
    const uint64_t start = built.value().start_info;
    EXPECT_EQ(start % page_size, 0u);
    EXPECT_GE(start, 0x102000u);
    const auto information = writer.read<xen::hvm_start_info>(start);
    EXPECT_EQ(information.magic, 0x336ec578u);
    EXPECT_EQ(information.version, 1u);
    EXPECT_EQ(information.flags, 3u);
    EXPECT_EQ(information.rsdp_paddr, 0xf5a20u);
    ASSERT_EQ(information.nr_modules, 1u);
    const auto module = writer.read<xen::hvm_modlist_entry>(information.modlist_paddr);
    EXPECT_EQ(module.size, 300u);
    EXPECT_EQ(writer.read<uint8_t>(module.paddr + 299), 0x5a);
    EXPECT_EQ(information.memmap_entries, guest.size());
    const auto first = writer.read<xen::hvm_memmap_table_entry>(information.memmap_paddr);
    EXPECT_EQ(first.addr, 0u);
    EXPECT_EQ(first.type, xen::XEN_HVM_MEMMAP_TYPE_RAM);
    std::string line;
    for (uint64_t address = information.cmdline_paddr; writer.read<char>(address) != 0; ++address)
        line += writer.read<char>(address);
    EXPECT_EQ(line, "console=hvc0");
}

TEST(PvhBuild, RefusalsNameTheField) {
    const MemoryMap guest = hvm::compute_pvh_memory_map(host_map(), 0x1000000).value();
    RecordingWriter writer;
    hvm::PvhBuildDiagnostic diagnostic;
    hvm::PvhBuildInputs inputs;
    inputs.guest_memory_map = &guest;
    // No PHYS32_ENTRY note.
    const testing::Bytes plain = pvh_kernel(0x100000, 0x100010, false);
    inputs.kernel = Span<const uint8_t>(plain.data(), plain.size());
    EXPECT_FALSE(hvm::build_pvh_dom0(inputs, writer, diagnostic).ok());
    EXPECT_NE(std::string(diagnostic.message).find("XEN_ELFNOTE_PHYS32_ENTRY"), std::string::npos) << diagnostic.message;
    // A segment in the UNUSABLE part (beyond dom0's 16 MiB).
    const testing::Bytes high = pvh_kernel(0x2000000, 0x2000000);
    inputs.kernel = Span<const uint8_t>(high.data(), high.size());
    EXPECT_FALSE(hvm::build_pvh_dom0(inputs, writer, diagnostic).ok());
    EXPECT_NE(std::string(diagnostic.message).find("p_paddr at offset 0x58"), std::string::npos) << diagnostic.message;
    // An entry outside every segment.
    const testing::Bytes stray = pvh_kernel(0x100000, 0x300000);
    inputs.kernel = Span<const uint8_t>(stray.data(), stray.size());
    EXPECT_FALSE(hvm::build_pvh_dom0(inputs, writer, diagnostic).ok());
    EXPECT_NE(std::string(diagnostic.message).find("entry 0x300000 lies outside"), std::string::npos)
        << diagnostic.message;
}

}  // namespace
}  // namespace sluice::x86
