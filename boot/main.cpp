// The boot sequence: from the first C++ instruction to the verdict.
//
// entry.S calls sluice_main() in long mode on the boot stack with the first
// 4 GiB identity-mapped. The order matters: exceptions are reported from the
// first line on, the console exists before anything can complain, and the
// boot information is copied before the page allocator may hand out the
// memory around it.
#include "arch/x86/apic/apic.hpp"
#include "arch/x86/apic/vectors.hpp"
#include "arch/x86/cache.hpp"
#include "arch/x86/clock.hpp"
#include "arch/x86/cpu.hpp"
#include "arch/x86/console.hpp"
#include "arch/x86/descriptors.hpp"
#include "arch/x86/interrupts.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/shutdown.hpp"
#include "arch/x86/hvm/dom0.hpp"
#include "arch/x86/pv/dom0.hpp"
#include "boot/boot_information.hpp"
#include "boot/dom0_command_line.hpp"
#include "common/domain.hpp"
#include "drivers/acpi/table_directory.hpp"
#include "drivers/passthrough/dma_selftest.hpp"
#include "drivers/passthrough/iommu_options.hpp"
#include "drivers/passthrough/iommu_setup.hpp"
#include "drivers/pci/ecam.hpp"
#include "drivers/pci/enumeration.hpp"
#include "drivers/pci/identity_mapped_mmio.hpp"
#include "drivers/pci/port_configuration.hpp"
#include "drivers/pci/select.hpp"
#include "mm/heap.hpp"
#include "mm/page_allocator.hpp"

#include <sluice/cmdline.hpp>
#include <sluice/log.hpp>
#include <sluice/memory_map.hpp>

#ifndef SLUICE_VERSION
#error "SLUICE_VERSION must be defined by the build (arch/x86/image.cmake)"
#endif

// Bounds of the loaded image, .bss included (arch/x86/linker.ld).
extern "C" const uint8_t sluice_image_start[];
extern "C" const uint8_t sluice_image_end[];

namespace sluice {
namespace {

constexpr Logger boot_logger{"boot"};
constexpr Logger memory_logger{"memory"};
constexpr Logger mm_logger{"mm"};

// The heap's first region; it grows from the page allocator beyond that.
constexpr uint64_t initial_heap_pages = 256;

boot::BootInformation boot_information;
PhysicalPageAllocator page_allocator;
Heap heap;

// The platform as ACPI and PCI describe it; filled once at boot.
acpi::TableDirectory acpi_tables;
pci::IdentityMappedMmioMapper mmio_mapper(x86::boot_direct_map_limit);
pci::EcamConfigurationAccess ecam_access;
pci::PortConfigurationAccess port_access;
pci::DeviceList pci_devices;

// Heap growth: contiguous pages from the page allocator, reached through the
// direct map.
class PageHeapBacking final : public HeapBacking {
public:
    Result<Chunk> obtain(size_t minimum_size) override {
        const uint64_t pages = align_up(minimum_size, page_size) / page_size;
        const PhysicalAddress base = SLUICE_TRY(page_allocator.allocate_contiguous(pages));
        return Chunk{x86::physical_to_virtual(base), static_cast<size_t>(pages * page_size)};
    }
};
PageHeapBacking heap_backing;

// CLFLUSH for IOMMU units whose table walks do not snoop the caches.
class ClflushCache final : public passthrough::CacheMaintenance {
public:
    void write_back(PhysicalAddress address, uint64_t length) override {
        if (line_size_ == 0) line_size_ = x86::cache_line_size();
        x86::write_back_cache_lines(address, length, line_size_);
    }

private:
    uint64_t line_size_ = 0;
};
ClflushCache cache_maintenance;

// dom0's command line (start_info.cmd_line holds at most 1024 bytes).
char dom0_command_line[1024];

// The DMA self-test's interrupts: vectors from the allocator, each with a
// handler that does nothing (the handler table counts arrivals).
class ApicInterruptSink final : public passthrough::InterruptSink {
public:
    Result<uint8_t> take_vector() override {
        const uint8_t vector = SLUICE_TRY(x86::apic::vector_allocator().allocate());
        const Status registered = x86::apic::interrupt_handlers().register_handler(vector, [](void*) {}, nullptr);
        if (!registered.ok()) {
            (void)x86::apic::vector_allocator().release(vector);
            return registered.error();
        }
        return vector;
    }
    void release_vector(uint8_t vector) override {
        (void)x86::apic::interrupt_handlers().unregister_handler(vector);
        (void)x86::apic::vector_allocator().release(vector);
    }
    uint64_t arrivals(uint8_t vector) const override { return x86::apic::interrupt_handlers().count(vector); }
    uint32_t destination() const override { return x86::apic::local_apic_id(); }
    void take_pending_interrupts() override { x86::take_pending_interrupts(); }
};
ApicInterruptSink selftest_interrupts;

// The hardware domain (dom0), and the IOMMU units with its tables.
Domain hardware_domain;
passthrough::IommuSetup iommu_setup;

// A page of the hypervisor's own memory the DMA self-test aims at: only an
// IOMMU that fails to block the device ever writes it.
alignas(page_size) uint8_t dma_selftest_target[page_size];

// Everything the hypervisor owns at this point, which the hardware domain's
// devices must never reach: the image, the allocator's bitmaps and every page
// handed out so far (heap, direct-map tables). Later allocations are the
// IOMMU's own tables, dom0's memory and what the DMA self-test takes.
passthrough::AddressRange hypervisor_ranges[64];
passthrough::RangeSet hypervisor_memory{Span<passthrough::AddressRange>(hypervisor_ranges, 64)};

void collect_hypervisor_memory() {
    bool complete = hypervisor_memory
                        .add(passthrough::round_outward({x86::virtual_to_physical(sluice_image_start),
                                                         x86::virtual_to_physical(sluice_image_end)}))
                        .ok();
    const PhysicalRange metadata = page_allocator.metadata();
    complete = hypervisor_memory.add({metadata.base, metadata.end()}).ok() && complete;
    page_allocator.for_each_allocated_run([&](const PhysicalRange& run) {
        complete = hypervisor_memory.add({run.base, run.end()}).ok() && complete;
    });
    if (!complete) boot_logger.warning("too many hypervisor memory ranges to keep track of; some stay reachable by DMA");
}

void print_memory_map(const MemoryMap& map) {
    for (const MemoryRegion& region : map.regions())
        memory_logger.info("0x%016llx-0x%016llx %s", static_cast<unsigned long long>(region.base),
                           static_cast<unsigned long long>(region.end() - 1), describe(region.type));
}

void print_boot_information(const boot::BootInformation& information) {
    for (const PhysicalRange& range : information.occupied_ranges())
        boot_logger.debug("%s information occupies 0x%llx-0x%llx", boot::describe(information.loader),
                          static_cast<unsigned long long>(range.base), static_cast<unsigned long long>(range.end() - 1));
    if (information.loader_name[0] != '\0') boot_logger.info("loader: %s", information.loader_name);
    if (information.rsdp_address)
        boot_logger.info("ACPI RSDP at 0x%llx", static_cast<unsigned long long>(*information.rsdp_address));
    for (size_t index = 0; index < information.module_count; ++index) {
        const boot::BootModule& module = information.modules[index];
        boot_logger.info("module %zu: 0x%016llx-0x%016llx (%llu bytes) \"%s\"", index,
                         static_cast<unsigned long long>(module.start), static_cast<unsigned long long>(module.end - 1),
                         static_cast<unsigned long long>(module.end - module.start), module.string);
    }
}

// Everything the page allocator must never hand out besides non-RAM.
size_t collect_excluded_ranges(const boot::BootInformation& information, PhysicalRange* ranges, size_t capacity) {
    size_t count = 0;
    const auto add = [&](PhysicalAddress base, uint64_t length) {
        if (length != 0 && count < capacity) ranges[count++] = PhysicalRange{base, length};
    };
    add(0, PhysicalPageAllocator::lowest_allocatable_address);
    add(x86::virtual_to_physical(sluice_image_start),
        static_cast<uint64_t>(sluice_image_end - sluice_image_start));
    for (const PhysicalRange& range : information.occupied_ranges()) add(range.base, range.length);
    for (const boot::BootModule& module : information.module_list()) add(module.start, module.end - module.start);
    return count;
}

}  // namespace
}  // namespace sluice

using namespace sluice;

extern "C" [[noreturn]] void sluice_main(uint32_t boot_magic, uint32_t boot_information_address) {
    x86::install_descriptor_tables();
    x86::protect_boot_stack();
    x86::console_initialize();

    const char* loader = boot_magic == boot::multiboot2_boot_magic ? "multiboot2"
                         : boot_magic == boot::pvh_boot_magic      ? "PVH"
                                                                   : "an unknown loader";
    x86::console_write_line("Sluice %s x86-64 hypervisor, booted via %s", SLUICE_VERSION, loader);

    const Status parsed =
        boot::parse_boot_information(boot_magic, boot_information_address, x86::direct_map(), boot_information);
    if (!parsed.ok())
        x86::finish_fail("boot information at 0x%x unusable: %s", boot_information_address, describe(parsed.error()));

    boot_logger.info("command line: \"%s\"", boot_information.command_line);
    // Xen's convention: what follows " -- " is dom0's, not the hypervisor's.
    const boot::SplitCommandLine command_line = boot::split_command_line(boot_information.command_line_view());
    cmdline::LogReporter reporter;
    cmdline::parse_registered(command_line.hypervisor, reporter);
    x86::console_apply_command_line();
    x86::run_requested_crash_test();

    print_boot_information(boot_information);
    const MemoryMap& memory_map = boot_information.memory_map;
    print_memory_map(memory_map);

    PhysicalRange excluded[4 + boot::BootInformation::occupied_capacity + boot::BootInformation::module_capacity];
    const size_t excluded_count = collect_excluded_ranges(boot_information, excluded, array_length(excluded));
    // The bitmaps must be reachable through the boot map while it is the only one.
    const Status allocator_ready = page_allocator.initialize(
        x86::direct_map(), memory_map, Span<const PhysicalRange>(excluded, excluded_count), x86::boot_direct_map_limit);
    if (!allocator_ready.ok()) x86::finish_fail("page allocator: %s", describe(allocator_ready.error()));

    size_t ram_regions = 0;
    for (const MemoryRegion& region : memory_map.regions())
        if (region.type == MemoryType::ram) ++ram_regions;
    const PageAllocatorStatistics& pages = page_allocator.statistics();
    memory_logger.info("%llu MiB RAM in %zu regions, %llu MiB free for allocation",
                       static_cast<unsigned long long>(memory_map.total(MemoryType::ram) / MiB), ram_regions,
                       static_cast<unsigned long long>(pages.free_pages * page_size / MiB));
    mm_logger.info("page allocator: %llu of %llu pages free, bitmaps at 0x%llx-0x%llx",
                   static_cast<unsigned long long>(pages.free_pages), static_cast<unsigned long long>(pages.managed_pages),
                   static_cast<unsigned long long>(page_allocator.metadata().base),
                   static_cast<unsigned long long>(page_allocator.metadata().end() - 1));

    const Result<x86::DirectMapStatistics> direct_map = x86::extend_direct_map(memory_map, page_allocator);
    if (!direct_map.ok()) x86::finish_fail("direct map: %s", describe(direct_map.error()));
    mm_logger.info("direct map: %llu 2 MiB pages added above 4 GiB (%llu table pages), %llu device-only 2 MiB pages "
                   "below 4 GiB uncached",
                   static_cast<unsigned long long>(direct_map.value().large_pages_added),
                   static_cast<unsigned long long>(direct_map.value().table_pages_allocated),
                   static_cast<unsigned long long>(direct_map.value().uncached_large_pages));

    const Result<PhysicalAddress> heap_pages = page_allocator.allocate_contiguous(initial_heap_pages);
    if (!heap_pages.ok()) x86::finish_fail("heap: no %llu contiguous pages", static_cast<unsigned long long>(initial_heap_pages));
    const Status heap_ready =
        heap.add_region(x86::physical_to_virtual(heap_pages.value()), initial_heap_pages * page_size);
    if (!heap_ready.ok()) x86::finish_fail("heap: %s", describe(heap_ready.error()));
    heap.set_backing(&heap_backing);
    mm_logger.info("heap: %llu KiB at 0x%llx, grows from the page allocator",
                   static_cast<unsigned long long>(initial_heap_pages * page_size / KiB),
                   static_cast<unsigned long long>(heap_pages.value()));

    // ACPI: the boot loader's RSDP (PVH rsdp_paddr, or GRUB's copy, which
    // stays in the never-allocated boot information), else the BIOS areas.
    const acpi::RsdpSource rsdp_source =
        boot_information.rsdp_address ? acpi::RsdpSource::at(*boot_information.rsdp_address) : acpi::RsdpSource::scan();
    Result<acpi::TableDirectory> tables = acpi::discover(x86::direct_map(), rsdp_source);
    if (tables.ok()) {
        acpi_tables = tables.value();
    } else {
        // Without ACPI there is no MCFG and no DMAR/IVRS: PCI still works
        // through the ports, and the IOMMU set-up reports its own absence.
        boot_logger.warning("no usable ACPI tables (%s); continuing without them", describe(tables.error()));
    }

    pci::ConfigurationAccess& configuration =
        pci::select_configuration_access(acpi_tables, x86::direct_map(), mmio_mapper, ecam_access, port_access);
    (void)pci::enumerate(configuration, pci_devices);
    pci::print(pci_devices);

    // The IOMMU and the hardware domain. Every hardware wait has a time limit
    // from the calibrated TSC.
    x86::clock().calibrate();
    const Status interrupts_ready = x86::apic::initialize(acpi_tables, x86::direct_map(), x86::clock());
    if (!interrupts_ready.ok()) x86::finish_fail("apic: %s", describe(interrupts_ready.error()));
    collect_hypervisor_memory();
    const passthrough::Platform platform{acpi_tables,          memory_map,      pci_devices,
                                         configuration,        mmio_mapper,     x86::direct_map(),
                                         page_allocator,       x86::clock(),    passthrough::iommu_options(),
                                         &cache_maintenance};
    // dom0=pv is untranslated; dom0=pvh is translated, and its p2m is walked
    // by the processor's nested paging: 1 GiB leaves when CPUID
    // Fn8000_0001 EDX[Page1GB] says so, output up to MAXPHYADDR
    // (Fn8000_0008 EAX[7:0]).
    DomainConfiguration hardware_domain_configuration;
    if (passthrough::hardware_domain_options().kind == passthrough::HardwareDomainKind::pvh) {
        hardware_domain_configuration.kind = DomainKind::pvh;
        hardware_domain_configuration.p2m.kind = p2m::P2mTableKind::npt;
        hardware_domain_configuration.p2m.npt = p2m::NptFormat(false, 48);
        if (x86::cpuid(0x80000000).eax >= 0x80000008) {
            const bool leaves_1g = (x86::cpuid(0x80000001).edx & (1u << 26)) != 0;
            hardware_domain_configuration.p2m.npt = p2m::NptFormat(leaves_1g, x86::cpuid(0x80000008).eax & 0xff);
        }
    }
    if (!hardware_domain.initialize(hardware_domain_configuration, x86::direct_map(), page_allocator).ok())
        x86::finish_fail("the hardware domain could not be created");
    passthrough::SetupInputs inputs;
    inputs.domain.iommu = &hardware_domain.iommu_storage();
    inputs.domain.memory = &hardware_domain.memory();
    inputs.domain.p2m = hardware_domain.p2m();
    inputs.domain.id = hardware_domain.id();
    inputs.hypervisor_memory = &hypervisor_memory;
    inputs.x2apic = x86::apic::x2apic_enabled();
    inputs.available_bytes = page_allocator.statistics().free_pages * page_size;
    inputs.hardware_domain = passthrough::hardware_domain_options();
    const uint64_t setup_started = x86::clock().nanoseconds();
    const Status iommu_ready = iommu_setup.run(platform, inputs);
    const uint64_t iommu_setup_nanoseconds = x86::clock().nanoseconds() - setup_started;
    if (!iommu_ready.ok()) x86::finish_fail("IOMMU set-up: %s", describe(iommu_ready.error()));

    if (passthrough::dma_selftest_requested()) {
        const passthrough::SelftestResult result =
            passthrough::run_dma_selftest(platform, iommu_setup, x86::virtual_to_physical(dma_selftest_target),
                                          &selftest_interrupts);
        if (result.failed != 0)
            x86::finish_fail("dma-selftest: %u of %u checks failed", result.failed, result.passed + result.failed);
    }

    // dom0: the first boot module is its kernel, the second its initrd.
    if (boot_information.module_count == 0) {
        boot_logger.info("no dom0 kernel given (no boot module): set-up done, nothing to run");
        x86::finish_pass();
    }
    const boot::BootModule& kernel = boot_information.modules[0];
    bool truncated = false;
    boot::assemble_dom0_command_line(kernel.name(), command_line.dom0_extra, dom0_command_line,
                                     sizeof dom0_command_line, &truncated);
    if (truncated || kernel.string_truncated)
        boot_logger.warning("dom0 command line cut to %zu bytes", sizeof dom0_command_line - 1);
    boot_logger.info("dom0 command line: \"%s\"", dom0_command_line);
    x86::Dom0Boot dom0;
    dom0.kernel = kernel.start;
    dom0.kernel_length = kernel.end - kernel.start;
    if (boot_information.module_count > 1) {
        dom0.initrd = boot_information.modules[1].start;
        dom0.initrd_length = boot_information.modules[1].end - boot_information.modules[1].start;
    }
    if (boot_information.module_count > 2)
        boot_logger.warning("%zu boot modules given; dom0 uses the first two (kernel, initrd)",
                            boot_information.module_count);
    dom0.command_line = StringView(dom0_command_line);
    dom0.hypervisor_command_line = command_line.hypervisor;
    dom0.memory_map = &memory_map;
    dom0.domain = &hardware_domain;
    dom0.iommu = &iommu_setup;
    dom0.allocator = &page_allocator;
    dom0.setup_started = setup_started;
    dom0.iommu_setup_nanoseconds = iommu_setup_nanoseconds;
    // The RSDP dom0 may read where it lies: in firmware memory, not in a
    // boot loader's copy inside the hypervisor's RAM.
    if (boot_information.rsdp_address) {
        const MemoryRegion* region = memory_map.find(*boot_information.rsdp_address);
        if (region == nullptr || region->type != MemoryType::ram) dom0.rsdp = *boot_information.rsdp_address;
    }
    if (passthrough::hardware_domain_options().kind == passthrough::HardwareDomainKind::pvh)
        x86::hvm::boot_pvh_dom0(dom0);
    x86::pv::boot_pv_dom0(dom0);
}
