#include "arch/x86/hvm/dom0.hpp"

#include "arch/x86/clock.hpp"
#include "arch/x86/hvm/dom0_memory.hpp"
#include "arch/x86/hvm/guest_memory.hpp"
#include "arch/x86/hvm/pvh_build.hpp"
#include "arch/x86/hvm/svm/run.hpp"
#include "arch/x86/hvm/svm/svm.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/shutdown.hpp"

#include <common/domain.hpp>
#include <mm/page_allocator.hpp>
#include <mm/range_set.hpp>
#include <public/xen.hpp>

#include <sluice/log.hpp>
#include <sluice/new.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::hvm {
namespace {

constexpr Logger logger{"dom0"};

class Writer final : public GuestPhysicalWriter {
public:
    explicit Writer(const DomainPhysicalMap& map) : map_(&map) {}
    [[nodiscard]] Status write(uint64_t guest_physical, const void* source, size_t length) override {
        return HvmGuestMemory(direct_map(), *map_, PagingState{}).write_physical(guest_physical, source, length);
    }
    [[nodiscard]] Status zero(uint64_t guest_physical, uint64_t length) override {
        static const uint8_t zeros[256] = {};
        while (length != 0) {
            const size_t chunk = static_cast<size_t>(min<uint64_t>(length, sizeof zeros));
            SLUICE_TRY(write(guest_physical, zeros, chunk));
            guest_physical += chunk;
            length -= chunk;
        }
        return success();
    }

private:
    const DomainPhysicalMap* map_;
};

alignas(DomainPhysicalMap) unsigned char physical_map_storage[sizeof(DomainPhysicalMap)];
MemoryMap guest_memory_map;
svm::SvmFeatures features;
svm::SvmGuestStart start;
passthrough::UnitRegistry* iommu_units = nullptr;

void poll_dma_faults() {
    if (iommu_units != nullptr) passthrough::take_recorded_faults(*iommu_units);
}

}  // namespace

void boot_pvh_dom0(const Dom0Boot& boot) {
    const uint64_t build_started = clock().nanoseconds();
    features = svm::detect();
    svm::log_features(features);
    if (!features.present || features.disabled_by_firmware || !features.nested_paging)
        finish_fail("dom0=pvh needs AMD SVM with nested paging, which this processor does not offer (VMX is not "
                    "supported yet)");
    passthrough::IommuSetup& iommu = *boot.iommu;
    Domain* domain = boot.domain;
    if (domain == nullptr || domain->iommu() == nullptr)
        finish_fail("dom0 build: the hardware domain has no memory");
    if (domain->p2m() == nullptr || domain->p2m()->kind() != p2m::P2mTableKind::npt)
        finish_fail("dom0 build: the hardware domain was not created with a nested page table");
    auto& allocator = static_cast<PhysicalPageAllocator&>(*boot.allocator);
    const passthrough::RangeSet& machine = domain->memory();

    // 1. The guest-physical map and its RAM.
    const Result<MemoryMap> computed = compute_pvh_memory_map(*boot.memory_map, machine.total_length());
    if (!computed.ok()) finish_fail("dom0 build: dom0's memory map: %s", describe(computed.error()));
    guest_memory_map = computed.value();
    auto* map = new (physical_map_storage) DomainPhysicalMap(*domain);
    paging::Batch batch(domain->invalidation_targets());
    const Result<uint64_t> backed = back_guest_ram(*map, guest_memory_map, machine, batch);
    if (!backed.ok()) finish_fail("dom0 build: the p2m could not map dom0's RAM: %s", describe(backed.error()));
    const uint64_t identical = backed.value();
    const uint64_t device_memory = map_device_holes(*map, *boot.memory_map, iommu.excluded(), batch);
    const Status committed = batch.commit();
    if (!committed.ok()) finish_fail("dom0 build: committing the p2m: %s", describe(committed.error()));
    for (const MemoryRegion& region : guest_memory_map.regions())
        logger.info("guest-physical 0x%016llx-0x%016llx %s", static_cast<unsigned long long>(region.base),
                    static_cast<unsigned long long>(region.end() - 1), describe(region.type));
    logger.info("%llu MiB of device memory below 4 GiB identity-mapped for the vCPU",
                static_cast<unsigned long long>(device_memory / MiB));
    logger.info("%llu MiB of RAM behind the p2m%s, %llu page%s 1:1 with machine frames",
                static_cast<unsigned long long>(machine.total_length() / MiB),
                domain->iommu()->shares_p2m_with_iommu() ? " (the IOMMU walks it)" : " and the same in the IOMMU tables",
                static_cast<unsigned long long>(identical),
                identical == 1 ? "" : "s");

    // 2. The kernel and the start-of-day structures.
    PvhBuildInputs inputs;
    inputs.kernel = Span<const uint8_t>(static_cast<const uint8_t*>(physical_to_virtual(boot.kernel)),
                                        static_cast<size_t>(boot.kernel_length));
    if (boot.initrd_length != 0)
        inputs.initrd = Span<const uint8_t>(static_cast<const uint8_t*>(physical_to_virtual(boot.initrd)),
                                            static_cast<size_t>(boot.initrd_length));
    inputs.command_line = boot.command_line;
    inputs.guest_memory_map = &guest_memory_map;
    // The host's RSDP, at its host address (the firmware areas are
    // identity-mapped); rewritten ACPI tables for dom0 are not built yet.
    inputs.rsdp = boot.rsdp;
    inputs.flags = xen::SIF_INITDOMAIN | xen::SIF_PRIVILEGED;
    Writer writer(*map);
    PvhBuildDiagnostic diagnostic;
    const Result<PvhInitialState> built = build_pvh_dom0(inputs, writer, diagnostic);
    if (!built.ok()) {
        logger.error("%s", diagnostic.message);
        finish_fail("dom0 build: %s", diagnostic.message);
    }
    const PvhInitialState& state = built.value();
    logger.info("PVH kernel 0x%llx-0x%llx, entry 0x%x, start info 0x%x%s",
                static_cast<unsigned long long>(state.kernel_start), static_cast<unsigned long long>(state.kernel_end - 1),
                state.entry, state.start_info, state.initrd_length != 0 ? ", initrd as module 0" : "");

    // 3. SVM.
    const Status enabled = svm::enable(features, allocator);
    if (!enabled.ok()) finish_fail("dom0 build: SVM could not be enabled: %s", describe(enabled.error()));
    start.domain_id = domain->id();
    start.entry = state.entry;
    start.start_info = state.start_info;
    start.nested_page_table = domain->p2m()->root();
    start.guest_physical = map;
    start.features = &features;
    start.allocator = &allocator;
    start.hypervisor_command_line = boot.hypervisor_command_line;
    iommu_units = &iommu.units();
    start.poll_dma_faults = poll_dma_faults;
    logger.info("PVH build done in %llu us", static_cast<unsigned long long>((clock().nanoseconds() - build_started) / 1000));
    svm::run_pvh_dom0_svm(start);
}

}  // namespace sluice::x86::hvm
