// The 64-bit PV dom0 builder against a simulated machine. Every expectation is written from the
// specifications, not from the builder: the ELF images come from a small writer built from the ELF-64
// format, the page tables are read back with a walker written from the Intel SDM (Vol. 3A, 4.5
// "4-Level Paging"), start_info is read at the offsets public/xen.h's field list gives, and the
// pseudo-physical to machine model is computed here from the ranges handed to the builder.
#include <arch/x86/pv/dom0_build.hpp>

#include "support/log_capture.hpp"
#include "support/pv_test_kernel.hpp"
#include "support/simulated_machine.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace sluice;
using namespace sluice::x86::pv;
using sluice::passthrough::AddressRange;
using sluice::passthrough::FixedRangeSet;
using sluice::testing::LogCapture;
using sluice::testing::SimulatedMemory;
using namespace sluice::testing::pv_kernel;

// --- The machine ---------------------------------------------------------------------------------

constexpr PhysicalAddress arena_base = 0;
constexpr uint64_t arena_size = 48 * MiB;
constexpr PhysicalAddress shared_info_page = 0x200000;
constexpr PhysicalAddress initrd_address = 0x300000;

class RecordingMachineToPhysical final : public MachineToPhysicalWriter {
public:
    void set(uint64_t machine_frame, uint64_t pseudo_physical_frame) override {
        if (!entries.emplace(machine_frame, pseudo_physical_frame).second) duplicates++;
    }
    std::map<uint64_t, uint64_t> entries;
    int duplicates = 0;
};

// What the SDM's walk of a linear address yields (Vol. 3A, 4.5.4: R/W and U/S of every level combine,
// the leaf gives the frame; PS in an L3 or L2 entry would make it a large page).
struct Translation {
    bool present = false;
    bool writable = false;
    bool user = false;
    bool no_execute = false;
    bool global = false;
    bool large = false;
    PhysicalAddress address = 0;
};

class SdmWalker {
public:
    SdmWalker(const SimulatedMemory& memory, PhysicalAddress cr3) : memory_(memory), cr3_(cr3) {}

    Translation translate(uint64_t linear) const {
        Translation result;
        result.writable = result.user = true;
        PhysicalAddress table = cr3_ & 0x000ffffffffff000;
        for (int level = 4; level >= 1; --level) {
            const unsigned shift = 12 + 9 * (level - 1);
            const uint64_t index = (linear >> shift) & 511;
            const uint64_t entry = memory_.read64(table + index * 8);
            if ((entry & 1) == 0) return Translation{};
            result.writable = result.writable && (entry & 2) != 0;
            result.user = result.user && (entry & 4) != 0;
            result.no_execute = result.no_execute || (entry >> 63) != 0;
            if (level < 4 && level > 1 && (entry & 0x80) != 0) {
                result.large = true;
                return result;
            }
            table = entry & 0x000ffffffffff000;
            if (level == 1) result.global = (entry & 0x100) != 0;
        }
        result.present = true;
        result.address = table | (linear & 0xfff);
        return result;
    }

    // Every table frame reachable from CR3 with its level (4 = the L4).
    std::map<uint64_t, int> table_frames() const {
        std::map<uint64_t, int> frames;
        collect(cr3_ & 0x000ffffffffff000, 4, frames);
        return frames;
    }

private:
    void collect(PhysicalAddress table, int level, std::map<uint64_t, int>& frames) const {
        frames[table >> 12] = level;
        if (level == 1) return;
        for (uint64_t index = 0; index < 512; ++index) {
            const uint64_t entry = memory_.read64(table + index * 8);
            if (entry & 1) collect(entry & 0x000ffffffffff000, level - 1, frames);
        }
    }

    const SimulatedMemory& memory_;
    PhysicalAddress cr3_;
};

struct Fixture {
    explicit Fixture(std::vector<AddressRange> ranges = {{4 * MiB, 10 * MiB}, {12 * MiB, 13 * MiB}, {16 * MiB, 40 * MiB}})
        : memory(arena_base, arena_size), ranges(ranges) {
        std::memset(memory.pointer(arena_base, arena_size), 0xa5, arena_size);  // garbage everywhere
        for (const AddressRange& range : ranges) EXPECT_TRUE(set.add(range).ok());
        inputs.memory = &set;
        inputs.shared_info = shared_info_page;
        inputs.flags = 3;  // SIF_PRIVILEGED | SIF_INITDOMAIN
    }

    // The model of pseudo-physical frames: the pages of the ranges in order.
    uint64_t machine_frame(uint64_t pfn) const {
        for (const AddressRange& range : ranges) {
            const uint64_t frames = (range.end - range.start) / page_size;
            if (pfn < frames) return range.start / page_size + pfn;
            pfn -= frames;
        }
        ADD_FAILURE() << "pfn beyond dom0's memory";
        return 0;
    }
    uint64_t total_pages() const {
        uint64_t pages = 0;
        for (const AddressRange& range : ranges) pages += (range.end - range.start) / page_size;
        return pages;
    }

    Result<Dom0InitialState> build(const std::vector<uint8_t>& kernel) {
        kernel_bytes = kernel;
        inputs.kernel = Span<const uint8_t>(kernel_bytes.data(), kernel_bytes.size());
        return build_pv_dom0(inputs, memory, machine_to_physical, diagnostic);
    }

    uint64_t read_virtual64(const SdmWalker& walker, uint64_t address) const {
        const Translation translation = walker.translate(address);
        EXPECT_TRUE(translation.present) << std::hex << address;
        return translation.present ? memory.read64(translation.address) : 0;
    }
    uint8_t read_virtual8(const SdmWalker& walker, uint64_t address) {
        const Translation translation = walker.translate(address);
        EXPECT_TRUE(translation.present) << std::hex << address;
        return translation.present ? *memory.pointer(translation.address) : 0;
    }

    SimulatedMemory memory;
    std::vector<AddressRange> ranges;
    FixedRangeSet<8> set;
    Dom0BuildInputs inputs;
    RecordingMachineToPhysical machine_to_physical;
    Dom0BuildDiagnostic diagnostic;
    std::vector<uint8_t> kernel_bytes;
};

std::string message(const Fixture& fixture) { return fixture.diagnostic.message; }

// public/xen.h, struct start_info, x86-64: the offsets of its fields.
namespace start_info_offset {  // magic is at 0
constexpr uint64_t nr_pages = 32, shared_info = 40, flags = 48, store_mfn = 56, store_evtchn = 64,
                   console = 72, pt_base = 88, nr_pt_frames = 96, mfn_list = 104, mod_start = 112, mod_len = 120,
                   cmd_line = 128, first_p2m_pfn = 1152, nr_p2m_frames = 1160;
}

// Checks the whole start-of-day state against the ABI.
void check_state(Fixture& fixture, const Dom0InitialState& state, const KernelSpec& spec, uint64_t initrd_length) {
    const Dom0Layout& layout = state.layout;
    const uint64_t virt_base = spec.virt_base.value_or(0);
    const uint64_t kernel_start = kernel_virtual_start(spec);
    const uint64_t kernel_end = kernel_start + spec.text_size + data_file_size + spec.bss_size;
    const uint64_t nr_pages = fixture.total_pages();
    const auto page_up = [](uint64_t value) { return (value + 4095) & ~uint64_t{4095}; };

    // The order and sizes the ABI gives.
    EXPECT_EQ(layout.virt_base, virt_base);
    EXPECT_EQ(layout.kernel.start, kernel_start);
    EXPECT_EQ(layout.kernel.end, kernel_end);
    uint64_t cursor = page_up(kernel_end);
    const bool unmapped = spec.mod_start_pfn && initrd_length != 0;
    if (initrd_length != 0 && !unmapped) {
        EXPECT_EQ(layout.initrd.start, cursor);
        EXPECT_EQ(layout.initrd.end, cursor + initrd_length);
        cursor = page_up(cursor + initrd_length);
    } else {
        EXPECT_TRUE(layout.initrd.empty());
    }
    EXPECT_EQ(layout.p2m_list.start, cursor);
    EXPECT_EQ(layout.p2m_list.end, cursor + nr_pages * 8);
    cursor = page_up(cursor + nr_pages * 8);
    EXPECT_EQ(layout.start_info.start, cursor);
    cursor += 4096;
    EXPECT_EQ(layout.page_tables.start, cursor);
    EXPECT_EQ(layout.page_tables.end, cursor + layout.nr_pt_frames * 4096);
    EXPECT_EQ(layout.boot_stack.start, layout.page_tables.end);
    EXPECT_EQ(layout.boot_stack.end, layout.boot_stack.start + 4096);
    EXPECT_EQ(layout.virt_end % (4 * MiB), 0u);
    EXPECT_GE(layout.virt_end - layout.boot_stack.end, 512 * KiB);
    EXPECT_LT(layout.virt_end - 4 * MiB, layout.boot_stack.end + 512 * KiB) << "more padding than needed";
    EXPECT_EQ(layout.nr_pages, nr_pages);

    // The registers.
    EXPECT_EQ(state.rip, kernel_start + spec.entry_offset);
    EXPECT_EQ(state.rsp, layout.boot_stack.end);
    EXPECT_EQ(state.rsi, layout.start_info.start);

    // Every page of [virt_base, virt_end) maps pseudo-physical (va - virt_base), present, user, writable
    // except the table frames; nothing global or no-execute; nothing large.
    SdmWalker walker(fixture.memory, state.l4);
    for (uint64_t address = virt_base; address < layout.virt_end; address += 4096) {
        const Translation translation = walker.translate(address);
        const uint64_t pfn = (address - virt_base) / 4096;
        ASSERT_TRUE(translation.present) << std::hex << address;
        EXPECT_EQ(translation.address >> 12, fixture.machine_frame(pfn)) << std::hex << address;
        EXPECT_TRUE(translation.user) << std::hex << address;
        EXPECT_FALSE(translation.global) << std::hex << address;
        EXPECT_FALSE(translation.no_execute) << std::hex << address;
        const bool table = address >= layout.page_tables.start && address < layout.page_tables.end;
        EXPECT_EQ(translation.writable, !table) << std::hex << address << (table ? " table frame" : " ordinary page");
    }
    // Nothing outside it.
    for (uint64_t address : {layout.virt_end, layout.virt_end + 4096, layout.virt_end + 2 * MiB,
                             virt_base - 4096, uint64_t{0xffff800000000000}, uint64_t{0xffff828000000000}}) {
        if (address < virt_base || address >= layout.virt_end) {
            EXPECT_FALSE(walker.translate(address).present) << std::hex << address;
        }
    }

    // The tables the walk reaches are exactly the frames [pt_base, pt_base + nr_pt_frames), mapped where
    // start_info says, and page_table_frame() names them with their levels.
    const std::map<uint64_t, int> tables = walker.table_frames();
    EXPECT_EQ(tables.size(), layout.nr_pt_frames);
    std::set<uint64_t> mapped_tables;
    for (uint64_t index = 0; index < layout.nr_pt_frames; ++index) {
        const uint64_t frame = walker.translate(layout.page_tables.start + index * 4096).address >> 12;
        mapped_tables.insert(frame);
        const BootstrapTableFrame listed = state.page_table_frame(PseudoPhysicalMap(fixture.set), index);
        EXPECT_EQ(listed.machine_frame, frame);
        ASSERT_TRUE(tables.count(frame)) << "frame " << std::hex << frame << " is not a table";
        EXPECT_EQ(static_cast<int>(listed.level), tables.at(frame));
    }
    EXPECT_EQ(mapped_tables.size(), tables.size());
    EXPECT_EQ(walker.translate(layout.page_tables.start).address, state.l4) << "the L4 comes first";

    // The p2m list.
    for (uint64_t pfn = 0; pfn < nr_pages; ++pfn)
        ASSERT_EQ(fixture.read_virtual64(walker, layout.p2m_list.start + pfn * 8), fixture.machine_frame(pfn)) << pfn;
    // The machine-to-physical entries: one per frame of dom0, the inverse of the p2m.
    EXPECT_EQ(fixture.machine_to_physical.duplicates, 0);
    EXPECT_EQ(fixture.machine_to_physical.entries.size(), nr_pages);
    for (uint64_t pfn = 0; pfn < nr_pages; ++pfn) {
        const auto found = fixture.machine_to_physical.entries.find(fixture.machine_frame(pfn));
        ASSERT_NE(found, fixture.machine_to_physical.entries.end());
        EXPECT_EQ(found->second, pfn);
    }

    // The kernel's bytes, its bss zeroed (the arena was filled with 0xa5).
    for (uint64_t offset = 0; offset < spec.text_size; offset += 97) {
        if (spec.hypercall_page_offset.has_value() && offset >= spec.hypercall_page_offset.value() &&
            offset < spec.hypercall_page_offset.value() + 4096)
            continue;
        EXPECT_EQ(fixture.read_virtual8(walker, kernel_start + offset), text_byte(offset)) << offset;
    }
    for (uint64_t offset = 0; offset < data_file_size; offset += 31)
        EXPECT_EQ(fixture.read_virtual8(walker, kernel_start + spec.text_size + offset), data_byte(offset));
    for (uint64_t address = kernel_start + spec.text_size + data_file_size; address < page_up(kernel_end); address += 61)
        EXPECT_EQ(fixture.read_virtual8(walker, address), 0) << std::hex << address;

    // start_info.
    const uint64_t info = layout.start_info.start;
    char magic[32];
    for (size_t index = 0; index < 32; ++index) magic[index] = static_cast<char>(fixture.read_virtual8(walker, info + index));
    EXPECT_STREQ(magic, "xen-3.0-x86_64");
    const auto field = [&](uint64_t offset) { return fixture.read_virtual64(walker, info + offset); };
    EXPECT_EQ(field(start_info_offset::nr_pages), nr_pages);
    EXPECT_EQ(field(start_info_offset::shared_info), shared_info_page);
    EXPECT_EQ(field(start_info_offset::flags) & 0xffffffff, 3u | (unmapped ? 8u : 0u));
    EXPECT_EQ(field(start_info_offset::store_mfn), 0u);
    EXPECT_EQ(field(start_info_offset::store_evtchn), 0u);
    EXPECT_EQ(field(start_info_offset::console), 0u);
    EXPECT_EQ(field(start_info_offset::console + 8), 0u);
    EXPECT_EQ(field(start_info_offset::pt_base), layout.page_tables.start);
    EXPECT_EQ(field(start_info_offset::nr_pt_frames), layout.nr_pt_frames);
    EXPECT_EQ(field(start_info_offset::mfn_list), layout.p2m_list.start);
    EXPECT_EQ(field(start_info_offset::first_p2m_pfn), 0u);
    EXPECT_EQ(field(start_info_offset::nr_p2m_frames), 0u);
    EXPECT_EQ(field(start_info_offset::mod_len), initrd_length);
    if (initrd_length == 0) EXPECT_EQ(field(start_info_offset::mod_start), 0u);
    else if (unmapped) EXPECT_EQ(field(start_info_offset::mod_start), layout.mapped_pages);
    else EXPECT_EQ(field(start_info_offset::mod_start), layout.initrd.start);
    std::string command_line;
    for (uint64_t index = 0; index < 1024; ++index) {
        const char character = static_cast<char>(fixture.read_virtual8(walker, info + start_info_offset::cmd_line + index));
        if (character == 0) break;
        command_line += character;
    }
    EXPECT_EQ(command_line, std::string(fixture.inputs.command_line.data(), fixture.inputs.command_line.length()).substr(0, 1023));

    // shared_info: zero but for every legacy vCPU's evtchn_upcall_mask (byte 1 of each 64-byte vcpu_info).
    const uint8_t* shared = fixture.memory.pointer(shared_info_page, 4096);
    for (size_t offset = 0; offset < 4096; ++offset) {
        const bool mask = offset < 32 * 64 && offset % 64 == 1;
        ASSERT_EQ(shared[offset], mask ? 1 : 0) << "shared_info offset " << offset;
    }
}

// The bytes the ABI gives for hypercall page slot n (notes/xen-guest-abi.md).
std::vector<uint8_t> expected_slot(uint32_t number) {
    std::vector<uint8_t> slot;
    if (number == 23) slot = {0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05};
    else slot = {0x51, 0x41, 0x53, 0xb8, static_cast<uint8_t>(number), 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3};
    slot.resize(32, 0xcc);
    return slot;
}

// --- The tests -----------------------------------------------------------------------------------

TEST(PvDom0Build, WithoutVirtBaseVirtualIsPseudoPhysicalFromZero) {
    Fixture fixture;
    fixture.inputs.command_line = "console=hvc0 earlyprintk=xen";
    KernelSpec spec;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_EQ(state.value().layout.virt_base, 0u);
    EXPECT_EQ(state.value().layout.kernel.start, 0x100000u);
    check_state(fixture, state.value(), spec, 0);
    // Virtual 0 is pseudo-physical 0, which is the first page of the first range, not machine 0.
    SdmWalker walker(fixture.memory, state.value().l4);
    EXPECT_EQ(walker.translate(0).address, 4 * MiB);
    EXPECT_EQ(state.value().flags, 3u);
}

TEST(PvDom0Build, LinuxStyleVirtBaseAndPaddrOffset) {
    Fixture fixture;
    KernelSpec spec;
    spec.virt_base = 0xffffffff80000000;
    spec.paddr_offset = 0;
    spec.physical_start = 0x1000000;
    spec.text_size = 0x5000;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_EQ(state.value().layout.kernel.start, 0xffffffff81000000u);
    check_state(fixture, state.value(), spec, 0);
}

TEST(PvDom0Build, LayoutCrossingAnL4SlotNeedsTwoOfEachUpperTable) {
    Fixture fixture;
    KernelSpec spec;
    spec.virt_base = (uint64_t{512} << 30) - 4 * MiB;  // 4 MiB below the second L4 slot
    spec.physical_start = 0x3ff000;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_EQ(state.value().layout.l3_tables, 2u);
    EXPECT_EQ(state.value().layout.l2_tables, 2u);
    check_state(fixture, state.value(), spec, 0);
}

TEST(PvDom0Build, HypercallPageSlots) {
    Fixture fixture;
    KernelSpec spec;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    ASSERT_TRUE(state.value().hypercall_page.has_value());
    const uint64_t page = state.value().hypercall_page.value();
    EXPECT_EQ(page, 0x101000u);
    SdmWalker walker(fixture.memory, state.value().l4);
    for (uint32_t number = 0; number < 128; ++number) {
        const std::vector<uint8_t> expected = expected_slot(number);
        for (uint32_t index = 0; index < 32; ++index)
            ASSERT_EQ(fixture.read_virtual8(walker, page + number * 32 + index), expected[index])
                << "slot " << number << " byte " << index;
    }
    uint8_t slot[hypercall_slot_size];
    hypercall_slot(23, slot);
    EXPECT_EQ(std::vector<uint8_t>(slot, slot + 32), expected_slot(23));
}

TEST(PvDom0Build, NoHypercallPageWhenTheNoteIsAbsent) {
    Fixture fixture;
    KernelSpec spec;
    spec.hypercall_page_offset = {};
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_FALSE(state.value().hypercall_page.has_value());
    check_state(fixture, state.value(), spec, 0);
}

void fill_initrd(Fixture& fixture, uint64_t length) {
    for (uint64_t offset = 0; offset < length; ++offset)
        *fixture.memory.pointer(initrd_address + offset) = static_cast<uint8_t>(offset * 5 + 11);
    fixture.inputs.initrd = initrd_address;
    fixture.inputs.initrd_length = length;
}

TEST(PvDom0Build, InitrdCopiedAndMapped) {
    Fixture fixture;
    const uint64_t length = 3 * 4096 + 123;
    fill_initrd(fixture, length);
    KernelSpec spec;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    check_state(fixture, state.value(), spec, length);
    SdmWalker walker(fixture.memory, state.value().l4);
    const uint64_t start = state.value().layout.initrd.start;
    for (uint64_t offset = 0; offset < length; ++offset)
        ASSERT_EQ(fixture.read_virtual8(walker, start + offset), static_cast<uint8_t>(offset * 5 + 11)) << offset;
    // The rest of its last page is zero.
    for (uint64_t offset = length; offset % 4096 != 0; ++offset) ASSERT_EQ(fixture.read_virtual8(walker, start + offset), 0);
}

TEST(PvDom0Build, InitrdUnmappedWithModStartPfn) {
    Fixture fixture;
    const uint64_t length = 2 * 4096 + 7;
    fill_initrd(fixture, length);
    KernelSpec spec;
    spec.mod_start_pfn = true;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    const Dom0Layout& layout = state.value().layout;
    EXPECT_TRUE(layout.initrd_unmapped);
    EXPECT_EQ(state.value().flags, 3u | 8u);  // SIF_MOD_START_PFN
    check_state(fixture, state.value(), spec, length);
    // The copy is at the first pfn after the mapped region, in its machine frames.
    const uint64_t first_pfn = layout.mapped_pages;
    for (uint64_t offset = 0; offset < length; ++offset) {
        const uint64_t machine = fixture.machine_frame(first_pfn + offset / 4096) * 4096 + offset % 4096;
        ASSERT_EQ(*fixture.memory.pointer(machine), static_cast<uint8_t>(offset * 5 + 11)) << offset;
    }
    const uint64_t tail = fixture.machine_frame(first_pfn + 2) * 4096 + 7;
    EXPECT_EQ(*fixture.memory.pointer(tail), 0) << "the unmapped copy's last page is zero after the data";
}

TEST(PvDom0Build, LongCommandLineIsCutWithAWarning) {
    Fixture fixture;
    const std::string long_line(1500, 'x');
    fixture.inputs.command_line = StringView(long_line.data(), long_line.size());
    LogCapture log;
    KernelSpec spec;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_EQ(log.count_warnings({"dom0: warning:", "1500", "1023"}), 1u) << log.all();
    check_state(fixture, state.value(), spec, 0);
}

TEST(PvDom0Build, MemoryTooSmallIsRefused) {
    Fixture fixture({{4 * MiB, 5 * MiB}});  // 256 pages: less than the 4 MiB region the layout needs
    RecordingMachineToPhysical& m2p = fixture.machine_to_physical;
    std::memset(fixture.memory.pointer(shared_info_page, 4096), 0x5a, 4096);
    Result<Dom0InitialState> state = fixture.build(build_kernel(KernelSpec{}));
    ASSERT_FALSE(state.ok());
    EXPECT_EQ(state.error(), Error::out_of_memory);
    EXPECT_NE(message(fixture).find("dom0 memory: 256 pages"), std::string::npos) << message(fixture);
    EXPECT_NE(message(fixture).find("1024 pages"), std::string::npos) << message(fixture);
    EXPECT_TRUE(m2p.entries.empty());
    EXPECT_EQ(*fixture.memory.pointer(shared_info_page), 0x5a) << "shared_info untouched on refusal";
}

TEST(PvDom0Build, UnmappedInitrdMustFitToo) {
    Fixture fixture({{4 * MiB, 8 * MiB}});  // exactly the 4 MiB mapped region
    fill_initrd(fixture, 4096);
    KernelSpec spec;
    spec.mod_start_pfn = true;
    ASSERT_FALSE(fixture.build(build_kernel(spec)).ok());
    EXPECT_NE(message(fixture).find("plus the unmapped initrd"), std::string::npos) << message(fixture);
    spec.mod_start_pfn = false;  // mapped, it fits inside the region's padding
    Fixture second({{4 * MiB, 8 * MiB}});
    fill_initrd(second, 4096);
    EXPECT_TRUE(second.build(build_kernel(spec)).ok()) << message(second);
}

struct Refusal {
    const char* name;
    void (*change)(KernelSpec&);
    const char* fragment;
};

class PvDom0BuildRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(PvDom0BuildRefusal, IsRefusedWithAMessage) {
    Fixture fixture;
    KernelSpec spec;
    GetParam().change(spec);
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_FALSE(state.ok());
    EXPECT_NE(message(fixture).find(GetParam().fragment), std::string::npos) << message(fixture);
    EXPECT_EQ(message(fixture).rfind("dom0 ", 0), 0u) << message(fixture);
    EXPECT_TRUE(fixture.machine_to_physical.entries.empty());
}

const Refusal refusals[] = {
    {"EntryOutsideImage", [](KernelSpec& spec) { spec.entry_offset = 0x100000; }, "XEN_ELFNOTE_ENTRY at offset 0x"},
    {"HypercallPageUnaligned", [](KernelSpec& spec) { spec.hypercall_page_offset = uint64_t{0x1800}; },
     "XEN_ELFNOTE_HYPERCALL_PAGE"},
    {"HypercallPageOutsideImage", [](KernelSpec& spec) { spec.hypercall_page_offset = uint64_t{0x100000}; },
     "XEN_ELFNOTE_HYPERCALL_PAGE"},
    {"PaddrOffsetWithoutVirtBase", [](KernelSpec& spec) { spec.paddr_offset = uint64_t{0x1000}; },
     "XEN_ELFNOTE_PADDR_OFFSET"},
    {"SegmentsBelowVirtBase",
     [](KernelSpec& spec) {
         spec.virt_base = 0x200000;
         spec.paddr_offset = 0x200000;
         spec.physical_start = 0x100000;
     },
     "VIRT_BASE"},
    {"RequiresWritablePageTables", [](KernelSpec& spec) { spec.features = "!writable_page_tables"; },
     "writable_page_tables"},
    {"RequiresAutoTranslation", [](KernelSpec& spec) { spec.features = "!auto_translated_physmap"; },
     "auto_translated_physmap"},
    {"SupportedFeaturesWithoutDom0", [](KernelSpec& spec) { spec.supported_features = 1u; }, "dom0"},
    {"WrongLoader",
     [](KernelSpec& spec) {
         spec.loader = "other";
     },
     "XEN_ELFNOTE_LOADER"},
    {"WrongXenVersion", [](KernelSpec& spec) { spec.xen_version = "xen-2.0"; }, "XEN_ELFNOTE_XEN_VERSION"},
    {"TruncatedNumericNote", [](KernelSpec& spec) { spec.extra_notes.push_back(TestNote{HYPERCALL_PAGE, {1, 2, 3}}); },
     "XEN_ELFNOTE_HYPERCALL_PAGE"},
    {"OverlapsHypervisorArea",
     [](KernelSpec& spec) {
         spec.virt_base = 0xffff800000000000;
         spec.paddr_offset = 0;
     },
     "hypervisor"},
    {"NonCanonical",
     [](KernelSpec& spec) {
         spec.virt_base = 0x00007ffffffc0000;  // the padding would pass 2^47
         spec.paddr_offset = 0;
         spec.physical_start = 0;
     },
     "non-canonical"},
};

INSTANTIATE_TEST_SUITE_P(Notes, PvDom0BuildRefusal, ::testing::ValuesIn(refusals),
                         [](const ::testing::TestParamInfo<Refusal>& info) { return std::string(info.param.name); });

TEST(PvDom0Build, OfferedFeaturesDecideWhatMayBeRequired) {
    Fixture fixture;
    KernelSpec spec;
    spec.features = "!writable_page_tables|pae_pgdir_above_4gb";  // what Linux writes
    fixture.inputs.offered_features = pv_dom0_offered_features | 1u;
    Result<Dom0InitialState> state = fixture.build(build_kernel(spec));
    ASSERT_TRUE(state.ok()) << message(fixture);
    EXPECT_EQ(state.value().required_features, 1u);
}

TEST(PvDom0Build, NotAnElfOrNoXenNotes) {
    Fixture fixture;
    std::vector<uint8_t> junk(200, 0x42);
    EXPECT_FALSE(fixture.build(junk).ok());
    EXPECT_EQ(message(fixture).rfind("dom0 kernel: ", 0), 0u) << message(fixture);

    Fixture second;
    TestSegment segment{0x100000, 0x100000, std::vector<uint8_t>(64, 0x90), 64};
    EXPECT_FALSE(second.build(write_elf({segment}, {}, 0x100000)).ok());
    EXPECT_NE(message(second).find("Xen"), std::string::npos) << message(second);
}

TEST(PvDom0Build, BadInputsAreRefused) {
    {
        Fixture fixture({{4 * MiB, 8 * MiB + 100}});
        EXPECT_FALSE(fixture.build(build_kernel(KernelSpec{})).ok());
        EXPECT_NE(message(fixture).find("not page aligned"), std::string::npos) << message(fixture);
    }
    {
        Fixture fixture;
        fixture.inputs.shared_info = 5 * MiB;  // inside dom0's memory
        EXPECT_FALSE(fixture.build(build_kernel(KernelSpec{})).ok());
        EXPECT_NE(message(fixture).find("shared_info"), std::string::npos) << message(fixture);
    }
    {
        Fixture fixture;
        fixture.inputs.initrd = 9 * MiB;  // inside dom0's memory
        fixture.inputs.initrd_length = 4096;
        EXPECT_FALSE(fixture.build(build_kernel(KernelSpec{})).ok());
        EXPECT_NE(message(fixture).find("initrd"), std::string::npos) << message(fixture);
    }
}

// The layout on its own: the padding rule at its boundary, and the table count is the least that
// covers itself.
//
// Kernel [0, end) with 4096 pages: the p2m takes 32 KiB (8 pages), start_info 1, then T table frames
// and the stack page, so the stack ends at end + (10 + T) pages. Up to 8 MiB, T = 1 L4 + 1 L3 + 1 L2 +
// 4 L1 = 7.
Dom0LayoutRequest request_with_kernel_end(uint64_t end) {
    Dom0LayoutRequest request;
    request.kernel = VirtualRange{0, end};
    request.entry = 0;
    request.nr_pages = 4096;
    return request;
}

constexpr uint64_t kernel_end_for_exact_padding = 8 * MiB - 512 * KiB - 17 * 4096;

TEST(PvDom0Layout, PaddingOfExactly512KiBIsEnough) {
    Dom0BuildDiagnostic diagnostic;
    Result<Dom0Layout> layout = compute_dom0_layout(request_with_kernel_end(kernel_end_for_exact_padding), diagnostic);
    ASSERT_TRUE(layout.ok()) << diagnostic.message;
    EXPECT_EQ(layout.value().nr_pt_frames, 7u);
    EXPECT_EQ(layout.value().boot_stack.end, 8 * MiB - 512 * KiB);
    EXPECT_EQ(layout.value().virt_end, 8 * MiB);
}

TEST(PvDom0Layout, PaddingOnePageShortAddsFourMiB) {
    Dom0BuildDiagnostic diagnostic;
    Result<Dom0Layout> layout =
        compute_dom0_layout(request_with_kernel_end(kernel_end_for_exact_padding + 4096), diagnostic);
    ASSERT_TRUE(layout.ok()) << diagnostic.message;
    // 12 MiB needs 6 L1s: 9 frames, which moves the stack two pages further.
    EXPECT_EQ(layout.value().nr_pt_frames, 9u);
    EXPECT_EQ(layout.value().boot_stack.end, 8 * MiB - 512 * KiB + 3 * 4096);
    EXPECT_EQ(layout.value().virt_end, 12 * MiB);
}

// The region the ABI's rule gives for `count` table frames after `tables_start`, and the frames it needs.
uint64_t frames_needed(uint64_t virt_base, uint64_t tables_start, uint64_t count) {
    const uint64_t stack_end = tables_start + count * 4096 + 4096;
    uint64_t end = (stack_end + 4 * MiB - 1) & ~(4 * MiB - 1);
    if (end - stack_end < 512 * KiB) end += 4 * MiB;
    uint64_t frames = 1;
    for (unsigned shift : {39u, 30u, 21u}) frames += ((end - 1) >> shift) - (virt_base >> shift) + 1;
    return frames;
}

TEST(PvDom0Layout, TableCountIsTheLeastThatCoversItself) {
    // More pages make a bigger p2m and so more L1s; the count must cover itself and be the least that does.
    for (uint64_t nr_pages : {uint64_t{1} << 14, uint64_t{1} << 16, uint64_t{1} << 20, uint64_t{3} << 20,
                              uint64_t{1} << 24}) {
        Dom0LayoutRequest request;
        request.virt_base = 0xffffffff80000000;
        request.kernel = VirtualRange{0xffffffff81000000, 0xffffffff81000000 + 20 * MiB};
        request.entry = request.kernel.start;
        request.nr_pages = nr_pages;
        Dom0BuildDiagnostic diagnostic;
        Result<Dom0Layout> layout = compute_dom0_layout(request, diagnostic);
        ASSERT_TRUE(layout.ok()) << diagnostic.message;
        const Dom0Layout& value = layout.value();
        const uint64_t count = value.nr_pt_frames;
        EXPECT_LE(frames_needed(value.virt_base, value.page_tables.start, count), count) << nr_pages;
        for (uint64_t fewer = 1; fewer < count; ++fewer)
            EXPECT_GT(frames_needed(value.virt_base, value.page_tables.start, fewer), fewer) << nr_pages;
        EXPECT_EQ(count, 1 + value.l3_tables + value.l2_tables + value.l1_tables);
    }
}

TEST(PvDom0Layout, ImageNearTheTopIsRefused) {
    Dom0LayoutRequest request;
    request.virt_base = 0xffffffffff000000;
    request.kernel = VirtualRange{0xffffffffff000000, 0xffffffffffe00000};
    request.entry = request.kernel.start;
    request.nr_pages = 1 << 20;
    Dom0BuildDiagnostic diagnostic;
    EXPECT_FALSE(compute_dom0_layout(request, diagnostic).ok());
    EXPECT_NE(std::string(diagnostic.message).find("top of the address space"), std::string::npos) << diagnostic.message;
}

TEST(PvDom0Build, LayoutIsPrintedOneLinePerRange) {
    Fixture fixture;
    Result<Dom0InitialState> state = fixture.build(build_kernel(KernelSpec{}));
    ASSERT_TRUE(state.ok()) << message(fixture);
    LogCapture log;
    log_dom0_layout(state.value());
    for (const char* name : {"loaded kernel:", "init. ramdisk:", "phys-mach map:", "start info:", "page tables:",
                             "boot stack:", "total:", "entry address:"})
        EXPECT_EQ(log.count_lines({"dom0: ", name}), 1u) << name << "\n" << log.all();
    EXPECT_TRUE(log.contains("0x0000000000100000->0x0000000000106a34")) << log.all();
}

}  // namespace

// --- With the page-type engine (arch/x86/mm) -------------------------------------------------------

class NoHypervisorSlots final : public x86::mm::HypervisorSlots {
public:
    [[nodiscard]] uint64_t entry(unsigned) const override { return 0; }
};

TEST(PvDom0BuildPin, TheEngineAcceptsTheBootstrapTables) {
    Fixture fixture;
    fill_initrd(fixture, 5000);
    KernelSpec spec;
    spec.virt_base = 0xffffffff80000000;
    spec.paddr_offset = 0;
    spec.physical_start = 0x1000000;
    Result<Dom0InitialState> built = fixture.build(build_kernel(spec));
    ASSERT_TRUE(built.ok()) << message(fixture);
    const Dom0InitialState& state = built.value();

    std::vector<x86::mm::FrameRecord> records(arena_size / page_size);
    x86::mm::FrameTable frames(Span<x86::mm::FrameRecord>(records.data(), records.size()), 0);
    for (uint64_t pfn = 0; pfn < fixture.total_pages(); ++pfn)
        ASSERT_TRUE(frames.assign(fixture.machine_frame(pfn), 0, false).ok());
    NoHypervisorSlots slots;
    std::vector<uint64_t> pending(x86::mm::PageTypes::suggested_pending_capacity);
    x86::mm::PageTypes types(frames, fixture.memory, slots, nullptr, Span<uint64_t>(pending.data(), pending.size()));
    x86::mm::DomainContext dom0;
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    ASSERT_TRUE(pin_dom0_bootstrap_tables(state, types, dom0, batch, fixture.diagnostic).ok()) << message(fixture);
    EXPECT_TRUE(batch.commit().ok());

    // Every table frame has its level's type; every other mapped page a writable type reference.
    const PseudoPhysicalMap map(fixture.set);
    std::set<uint64_t> table_frames;
    for (uint64_t index = 0; index < state.layout.nr_pt_frames; ++index) {
        const BootstrapTableFrame table = state.page_table_frame(map, index);
        table_frames.insert(table.machine_frame);
        const x86::mm::FrameRecord* record = frames.find(table.machine_frame);
        ASSERT_NE(record, nullptr);
        EXPECT_EQ(record->type, x86::mm::table_type(static_cast<unsigned>(table.level))) << index;
        EXPECT_GT(record->type_count, 0u);
    }
    EXPECT_TRUE(frames.find(state.l4 >> 12)->has(x86::mm::FrameRecord::pinned));
    for (uint64_t pfn = 0; pfn < state.layout.mapped_pages; ++pfn) {
        const uint64_t frame = fixture.machine_frame(pfn);
        if (table_frames.count(frame)) continue;
        EXPECT_EQ(frames.find(frame)->type, x86::mm::FrameType::writable) << pfn;
    }
    // Beyond the mapped region, frames are untyped.
    EXPECT_EQ(frames.find(fixture.machine_frame(state.layout.mapped_pages))->type_count, 0u);
}

TEST(PvDom0BuildPin, AFrameNotDom0sIsRefusedByTheEngine) {
    Fixture fixture;
    Result<Dom0InitialState> built = fixture.build(build_kernel(KernelSpec{}));
    ASSERT_TRUE(built.ok()) << message(fixture);
    std::vector<x86::mm::FrameRecord> records(arena_size / page_size);
    x86::mm::FrameTable frames(Span<x86::mm::FrameRecord>(records.data(), records.size()), 0);
    for (uint64_t pfn = 1; pfn < fixture.total_pages(); ++pfn)  // pfn 0 left unowned
        ASSERT_TRUE(frames.assign(fixture.machine_frame(pfn), 0, false).ok());
    NoHypervisorSlots slots;
    std::vector<uint64_t> pending(x86::mm::PageTypes::suggested_pending_capacity);
    x86::mm::PageTypes types(frames, fixture.memory, slots, nullptr, Span<uint64_t>(pending.data(), pending.size()));
    x86::mm::DomainContext dom0;
    paging::InvalidationTargets targets;
    paging::Batch batch(targets);
    LogCapture log;  // the engine explains its refusal in the log
    EXPECT_FALSE(pin_dom0_bootstrap_tables(built.value(), types, dom0, batch, fixture.diagnostic).ok());
    EXPECT_NE(message(fixture).find("dom0 page tables: pinning the bootstrap L4"), std::string::npos)
        << message(fixture);
    EXPECT_TRUE(batch.commit().ok());
}
