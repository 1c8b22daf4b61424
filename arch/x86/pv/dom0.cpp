#include "arch/x86/pv/dom0.hpp"

#include "arch/x86/address_space.hpp"
#include "arch/x86/clock.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/mm/page_types.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/pv/dom0_build.hpp"
#include "arch/x86/pv/page_table_operations.hpp"
#include "arch/x86/pv/run.hpp"
#include "arch/x86/shutdown.hpp"

#include <public/arch_x86_64.hpp>
#include <public/xen.hpp>

#include <sluice/log.hpp>
#include <sluice/new.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {

constexpr Logger logger{"dom0"};

constexpr uint64_t entry_present = uint64_t{1} << 0;
constexpr uint64_t entry_user = uint64_t{1} << 2;
constexpr uint64_t entry_large = uint64_t{1} << 7;
constexpr uint64_t large_page = 2 * MiB;

// Xen's INVALID_M2P_ENTRY: a machine frame no domain's pseudo-physical
// frame maps.
constexpr uint64_t invalid_machine_to_physical = ~uint64_t{0};

class Slots final : public mm::HypervisorSlots {
public:
    [[nodiscard]] uint64_t entry(unsigned index) const override {
        uint64_t entries[16];
        hypervisor_slot_entries(entries);
        return index < 16 ? entries[index] : 0;
    }
};

// The machine-to-physical table: one 64-bit pseudo-physical frame number
// per machine frame, read-only to the guest at MACH2PHYS_VIRT_START (L4 slot
// 256, 2 MiB pages).
class MachineToPhysicalTable final : public mm::MachineToPhysical {
public:
    [[nodiscard]] Status initialize(uint64_t frames, PhysicalPageAllocator& allocator) {
        frames_ = frames;
        const uint64_t bytes = align_up(frames * 8, large_page);
        if (bytes > GiB) return Error::unsupported;  // one L2 table: 512 GiB of machine memory
        base_ = SLUICE_TRY(allocator.allocate_contiguous(bytes / page_size, large_page));
        entries_ = static_cast<uint64_t*>(physical_to_virtual(base_));
        for (uint64_t index = 0; index < bytes / 8; ++index) entries_[index] = invalid_machine_to_physical;
        const PhysicalAddress l3 = SLUICE_TRY(allocator.allocate_page());
        const PhysicalAddress l2 = SLUICE_TRY(allocator.allocate_page());
        direct_map().zero_page(l3);
        direct_map().zero_page(l2);
        for (uint64_t offset = 0; offset < bytes; offset += large_page)
            direct_map().write64(l2 + offset / large_page * 8,
                                 (base_ + offset) | entry_present | entry_user | entry_large);
        direct_map().write64(l3, l2 | entry_present | entry_user);
        // Read-only at the L4 entry already: no guest mapping can write it.
        set_machine_to_physical_slot(l3 | entry_present | entry_user);
        return success();
    }
    [[nodiscard]] Status set(uint64_t machine_frame, uint64_t guest_frame) override {
        if (machine_frame >= frames_) return Error::out_of_range;
        entries_[machine_frame] = guest_frame;
        return success();
    }
    void set_run(uint64_t first_machine_frame, uint64_t first_guest_frame, uint64_t count) {
        if (first_machine_frame >= frames_) return;
        count = min(count, frames_ - first_machine_frame);
        for (uint64_t index = 0; index < count; ++index) entries_[first_machine_frame + index] = first_guest_frame + index;
    }

private:
    PhysicalAddress base_ = 0;
    uint64_t* entries_ = nullptr;
    uint64_t frames_ = 0;
};

// The builder's view of the same table.
class MachineToPhysicalBuilderWriter final : public MachineToPhysicalWriter {
public:
    explicit constexpr MachineToPhysicalBuilderWriter(MachineToPhysicalTable& table) : table_(&table) {}
    void set(uint64_t machine_frame, uint64_t pseudo_physical_frame) override {
        (void)table_->set(machine_frame, pseudo_physical_frame);
    }
    void set_run(uint64_t first_machine_frame, uint64_t first_pseudo_physical_frame, uint64_t count) override {
        table_->set_run(first_machine_frame, first_pseudo_physical_frame, count);
    }

private:
    MachineToPhysicalTable* table_;
};

Slots slots;
MachineToPhysicalTable machine_to_physical;
MachineToPhysicalBuilderWriter machine_to_physical_writer(machine_to_physical);
alignas(passthrough::FixedRangeSet<256>) unsigned char io_memory_storage[sizeof(passthrough::FixedRangeSet<256>)];
uint64_t pending_frames[mm::PageTypes::suggested_pending_capacity];
alignas(mm::FrameTable) unsigned char frame_table_storage[sizeof(mm::FrameTable)];
alignas(mm::PageTypes) unsigned char page_types_storage[sizeof(mm::PageTypes)];
alignas(IdentityIommuFollower) unsigned char follower_storage[sizeof(IdentityIommuFollower)];
alignas(PvPageTableOperations) unsigned char operations_storage[sizeof(PvPageTableOperations)];
MemoryMap guest_memory_map;

[[noreturn]] void refuse(const char* what, Error error) {
    logger.error("cannot build dom0: %s: %s", what, describe(error));
    finish_fail("dom0 build: %s", what);
}

}  // namespace

void boot_pv_dom0(const Dom0Boot& boot) {
    const uint64_t build_started = clock().nanoseconds();
    passthrough::IommuSetup& iommu = *boot.iommu;
    Domain& domain = *boot.domain;
    passthrough::IommuContext* hardware_domain = domain.iommu();
    if (hardware_domain == nullptr) finish_fail("dom0 build: the hardware domain has no memory");
    const passthrough::RangeSet& memory = domain.memory();
    auto& allocator = static_cast<PhysicalPageAllocator&>(*boot.allocator);

    // Machine frames up to the end of the highest RAM region.
    uint64_t frames = 0;
    for (const MemoryRegion& region : boot.memory_map->regions())
        if (region.type == MemoryType::ram) frames = max(frames, region.end() >> 12);

    // 1. The frame table, from the page allocator (16 bytes a frame).
    const uint64_t table_pages = align_up(frames * sizeof(mm::FrameRecord), page_size) / page_size;
    const Result<PhysicalAddress> table_base = allocator.allocate_contiguous(table_pages);
    if (!table_base.ok()) refuse("no room for the frame table", table_base.error());
    auto* records = static_cast<mm::FrameRecord*>(physical_to_virtual(table_base.value()));
    const mm::FrameRecord blank{};
    for (uint64_t index = 0; index < frames; ++index) records[index] = blank;
    auto* frame_table = new (frame_table_storage) mm::FrameTable(Span<mm::FrameRecord>(records, frames), 0);

    const bool strict = iommu.policy().mode == passthrough::HardwareDomainIommuMode::strict;
    for (const passthrough::AddressRange& range : memory)
        if (!frame_table->assign_range(range.start >> 12, range.length() >> 12, 0, strict).ok())
            refuse("a dom0 frame beyond the frame table", Error::out_of_range);

    logger.debug("frame table: done at %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    // 2. The machine-to-physical table.
    const Status m2p = machine_to_physical.initialize(frames, allocator);
    if (!m2p.ok()) refuse("the machine-to-physical table", m2p.error());

    logger.debug("machine-to-physical table: done at %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    // shared_info: a hypervisor page dom0 owns (it maps it by machine
    // address, start_info.shared_info).
    const Result<PhysicalAddress> shared_info = allocator.allocate_page();
    if (!shared_info.ok()) refuse("no page for shared_info", shared_info.error());
    direct_map().zero_page(shared_info.value());
    if (!frame_table->assign(shared_info.value() >> 12, 0, false).ok())
        refuse("shared_info beyond the frame table", Error::out_of_range);

    // I/O memory dom0 may map: everything that is not RAM, minus what the
    // hypervisor keeps (IOMMU registers, APICs, ...: the IOMMU set-up's
    // excluded ranges).
    auto* io_memory = new (io_memory_storage) passthrough::FixedRangeSet<256>();
    bool io_complete = io_memory->add({0, uint64_t{1} << 46}).ok();
    for (const MemoryRegion& region : boot.memory_map->regions())
        if (region.type == MemoryType::ram)
            io_complete = io_memory->remove({align_down(region.base, page_size), align_up(region.end(), page_size)}).ok() && io_complete;
    // The first MiB but frame 0 is I/O memory for dom0 whatever the memory
    // map says (Xen's rule: the BIOS data areas, EBDA, VGA and option ROMs
    // live there). The page allocator never hands out anything below 1 MiB.
    io_complete = io_memory->add({page_size, PhysicalPageAllocator::lowest_allocatable_address}).ok() && io_complete;
    io_complete = io_memory->remove(iommu.excluded()).ok() && io_complete;
    if (!io_complete) logger.warning("the I/O memory dom0 may map is incomplete (too many ranges)");
    domain.set_io_memory(io_memory);

    logger.debug("I/O memory: done at %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    // 3. The start-of-day layout.
    Dom0BuildInputs inputs;
    inputs.kernel = Span<const uint8_t>(static_cast<const uint8_t*>(physical_to_virtual(boot.kernel)),
                                        static_cast<size_t>(boot.kernel_length));
    inputs.initrd = boot.initrd;
    inputs.initrd_length = boot.initrd_length;
    inputs.command_line = boot.command_line;
    inputs.memory = &memory;
    inputs.shared_info = shared_info.value();
    inputs.flags = xen::SIF_INITDOMAIN | xen::SIF_PRIVILEGED;
    // Kernels built for Xen (Linux among them) mark writable_page_tables as
    // required: stores to their L1 tables are emulated
    // (arch/x86/pv/page_table_write.hpp), as Xen does for 64-bit PV guests.
    inputs.offered_features = pv_dom0_offered_features | (uint32_t{1} << xen::XENFEAT_writable_page_tables);
    Dom0BuildDiagnostic diagnostic;
    const Result<Dom0InitialState> built = build_pv_dom0(inputs, direct_map(), machine_to_physical_writer, diagnostic);
    if (!built.ok()) {
        logger.error("%s", diagnostic.message);
        finish_fail("dom0 build: %s", diagnostic.message);
    }
    const Dom0InitialState& state = built.value();
    log_dom0_layout(state);

    logger.debug("start-of-day layout: done at %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    // 4. Validate the bootstrap tables and pin the L4: one batch, one commit.
    // Address bits beyond the processor's MAXPHYADDR are reserved in every
    // entry (Intel SDM Vol. 3A, "4-Level Paging"; CPUID 80000008H EAX[7:0]).
    unsigned physical_address_bits = 36;
    if (cpuid(0x80000000).eax >= 0x80000008) physical_address_bits = cpuid(0x80000008).eax & 0xff;
    auto* types = new (page_types_storage)
        mm::PageTypes(*frame_table, direct_map(), slots, &machine_to_physical,
                      Span<uint64_t>(pending_frames, array_length(pending_frames)), physical_address_bits);
    mm::IommuFollower* follower = nullptr;
    if (strict) follower = new (follower_storage) IdentityIommuFollower(*hardware_domain);
    mm::DomainContext context;
    context.id = 0;
    context.io_memory = io_memory;
    context.iommu = follower;
    context.may_flush_cache = true;
    const uint64_t l4_frame = state.l4 >> 12;
    paging::Batch batch(hardware_domain->invalidation_targets());
    const int32_t pinned = types->pin_table(context, l4_frame, mm::FrameType::l4, batch);
    const int32_t based = pinned == 0 ? types->get_page_type(context, l4_frame, mm::FrameType::l4, batch) : pinned;
    // shared_info (and the vcpu_info in it) is written by the hypervisor
    // behind the guest's back: a writable type held for good keeps it from
    // ever becoming a page table or descriptor page.
    const int32_t shared_held = types->get_page_type(context, shared_info.value() >> 12, mm::FrameType::writable, batch);
    if (shared_held != 0) {
        logger.error("shared_info frame 0x%llx refused a writable type (error %d)",
                     static_cast<unsigned long long>(shared_info.value() >> 12), shared_held);
        finish_fail("dom0 build: shared_info");
    }
    const Status committed = batch.commit();
    if (pinned != 0 || based != 0) {
        logger.error("the bootstrap page tables did not validate (error %d): a builder bug", pinned != 0 ? pinned : based);
        finish_fail("dom0 build: bootstrap page tables refused");
    }
    if (!committed.ok()) refuse("the IOMMU invalidation after pinning the bootstrap tables", committed.error());
    auto* operations = new (operations_storage) PvPageTableOperations(*types, context);
    mm::BaseTables bases;
    bases.kernel = l4_frame;
    operations->set_bases(bases);
    logger.info("bootstrap tables: %llu frames validated, L4 0x%llx pinned%s",
                static_cast<unsigned long long>(state.layout.nr_pt_frames), static_cast<unsigned long long>(state.l4),
                strict ? "; strict IOMMU follows page types" : "");

    logger.debug("bootstrap tables: done at %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    // dom0's pseudo-physical memory map: its pages from 0.
    (void)guest_memory_map.add(0, state.layout.nr_pages * page_size, MemoryType::ram);

    PvDom0Start start;
    start.domain = &domain;
    start.rip = state.rip;
    start.rsp = state.rsp;
    start.rsi = state.rsi;
    start.l4 = state.l4;
    start.shared_info = shared_info.value();
    start.memory = &memory;
    start.pages = state.layout.nr_pages;
    start.page_tables = operations;
    start.targets = &hardware_domain->invalidation_targets();
    start.units = &iommu.units();
    start.machine_memory_map = boot.memory_map;
    start.guest_memory_map = &guest_memory_map;
    start.maximum_machine_frame = frames == 0 ? 0 : frames - 1;
    start.hypervisor_command_line = boot.hypervisor_command_line;
    start.reserved_ports = hardware_domain_reserved_ports().data();
    start.reserved_port_count = hardware_domain_reserved_ports().size();
    const uint64_t now = clock().nanoseconds();
    const auto microseconds = [](uint64_t nanoseconds) { return static_cast<unsigned long long>(nanoseconds / 1000); };
    logger.info("built in %llu us: IOMMU set-up %llu us, PV build %llu us (%llu MiB, %s)",
                microseconds(now - boot.setup_started), microseconds(boot.iommu_setup_nanoseconds),
                microseconds(now - build_started), static_cast<unsigned long long>(memory.total_length() / MiB),
                strict ? "strict" : "relaxed");
    run_pv_dom0(start);
}

}  // namespace sluice::x86::pv
