#include "arch/x86/hvm/dom0.hpp"

#include "arch/x86/clock.hpp"
#include "arch/x86/hvm/guest_memory.hpp"
#include "arch/x86/hvm/pvh_build.hpp"
#include "arch/x86/hvm/svm/run.hpp"
#include "arch/x86/hvm/svm/svm.hpp"
#include "arch/x86/paging.hpp"
#include "arch/x86/shutdown.hpp"

#include <drivers/passthrough/domain.hpp>
#include <mm/page_allocator.hpp>
#include <mm/range_set.hpp>
#include <public/xen.hpp>

#include <sluice/log.hpp>
#include <sluice/new.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::hvm {
namespace {

constexpr Logger logger{"dom0"};

// The domain's p2m, the one place this builder and the run loop reach it
// (passthrough::Domain's p2m_map / p2m_lookup).
class DomainPhysicalMap final : public GuestPhysicalMap {
public:
    explicit DomainPhysicalMap(passthrough::Domain& domain) : domain_(&domain) {}

    [[nodiscard]] Optional<PhysicalAddress> ram(uint64_t address, bool write) const override {
        const Optional<paging::Mapping<p2m::P2mAttributes>> mapping = domain_->p2m_lookup(address);
        if (!mapping.has_value()) return {};
        const p2m::P2mAttributes& attributes = mapping.value().attributes;
        if (attributes.type != p2m::P2mType::ram) return {};
        if (write ? !paging::allows_write(attributes.access) : !paging::allows_read(attributes.access)) return {};
        return mapping.value().output + (address - mapping.value().input);
    }

    // Maps device memory at its own address for the vCPU only (the IOMMU
    // tables get no peer-to-peer mappings).
    [[nodiscard]] Status map_io(uint64_t address, uint64_t length, paging::Batch& batch) {
        return domain_->p2m_map(address, length, address,
                                p2m::P2mAttributes{paging::Access::read_write, p2m::P2mType::mmio_direct},
                                domain_->allocator(), batch);
    }

    // Maps [guest, guest + length) to machine frames from `machine`, in the
    // p2m and, unless the IOMMU walks the p2m itself, the same translation
    // in the IOMMU tables, in one batch: a PVH dom0 is always strict, and
    // its devices see exactly what its vCPUs see (docs/pvh.md).
    [[nodiscard]] Status map_ram(uint64_t guest, uint64_t length, PhysicalAddress machine, paging::Batch& batch) {
        SLUICE_TRY(domain_->p2m_map(guest, length, machine,
                                    p2m::P2mAttributes{paging::Access::read_write, p2m::P2mType::ram},
                                    domain_->allocator(), batch));
        if (domain_->shares_p2m_with_iommu()) return success();
        return domain_->iommu_map(guest, length, machine, paging::Access::read_write, domain_->allocator(), batch);
    }

private:
    passthrough::Domain* domain_;
};

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

// Backs every RAM range of the guest map with dom0's machine ranges, in
// order. Returns how many pages ended up 1:1 (guest-physical = machine).
uint64_t back_guest_ram(DomainPhysicalMap& map, const passthrough::RangeSet& machine, paging::Batch& batch) {
    const passthrough::AddressRange* next = machine.begin();
    uint64_t offset = 0;
    uint64_t identical = 0;
    for (const MemoryRegion& region : guest_memory_map.regions()) {
        if (region.type != MemoryType::ram) continue;
        for (uint64_t done = 0; done < region.length;) {
            if (next == machine.end()) finish_fail("dom0 build: fewer machine frames than guest RAM (a builder bug)");
            const uint64_t length = min(region.length - done, next->length() - offset);
            const uint64_t guest = region.base + done;
            const PhysicalAddress frames = next->start + offset;
            const Status mapped = map.map_ram(guest, length, frames, batch);
            if (!mapped.ok()) {
                logger.error("cannot map guest-physical 0x%llx-0x%llx to machine 0x%llx: %s",
                             static_cast<unsigned long long>(guest), static_cast<unsigned long long>(guest + length - 1),
                             static_cast<unsigned long long>(frames), describe(mapped.error()));
                finish_fail("dom0 build: the p2m could not map dom0's RAM");
            }
            if (guest == frames) identical += length / page_size;
            done += length;
            offset += length;
            if (offset == next->length()) {
                ++next;
                offset = 0;
            }
        }
    }
    return identical;
}

// The holes below 4 GiB (no e820 region: PCI windows, the legacy VGA range),
// minus what the hypervisor keeps (IOMMU registers, APICs, the ECAM window:
// the IOMMU set-up's excluded ranges), are device memory dom0's vCPU may
// reach, identity-mapped as the PV rule lets a PV dom0 map them. The e820's
// own non-RAM regions were identity-mapped by the hardware-domain policy.
// Returns how many bytes were mapped.
uint64_t map_io_holes(DomainPhysicalMap& map, const MemoryMap& host, const passthrough::RangeSet& excluded,
                      paging::Batch& batch) {
    passthrough::FixedRangeSet<256> holes;
    bool complete = holes.add({0, uint64_t{1} << 32}).ok();
    for (const MemoryRegion& region : host.regions())
        complete = holes.remove({align_down(region.base, page_size), align_up(region.end(), page_size)}).ok() && complete;
    complete = holes.remove(excluded).ok() && complete;
    if (!complete) logger.warning("too many device-memory ranges: some holes below 4 GiB stay unmapped");
    uint64_t mapped = 0;
    for (const passthrough::AddressRange& range : holes) {
        const Status status = map.map_io(range.start, range.length(), batch);
        if (!status.ok()) {
            logger.warning("device memory 0x%llx-0x%llx could not be mapped for dom0: %s",
                           static_cast<unsigned long long>(range.start), static_cast<unsigned long long>(range.end - 1),
                           describe(status.error()));
            continue;
        }
        mapped += range.length();
    }
    return mapped;
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
    passthrough::Domain* domain = iommu.hardware_domain();
    if (domain == nullptr) finish_fail("dom0 build: the hardware domain has no memory");
    if (domain->p2m_table_kind() != passthrough::P2mTableKind::npt)
        finish_fail("dom0 build: the hardware domain was not created with a nested page table");
    auto& allocator = static_cast<PhysicalPageAllocator&>(*boot.allocator);
    const passthrough::RangeSet& machine = iommu.hardware_domain_memory();

    // 1. The guest-physical map and its RAM.
    const Result<MemoryMap> computed = compute_pvh_memory_map(*boot.memory_map, machine.total_length());
    if (!computed.ok()) finish_fail("dom0 build: dom0's memory map: %s", describe(computed.error()));
    guest_memory_map = computed.value();
    auto* map = new (physical_map_storage) DomainPhysicalMap(*domain);
    paging::Batch batch(domain->invalidation_targets());
    const uint64_t identical = back_guest_ram(*map, machine, batch);
    const uint64_t device_memory = map_io_holes(*map, *boot.memory_map, iommu.excluded(), batch);
    const Status committed = batch.commit();
    if (!committed.ok()) finish_fail("dom0 build: committing the p2m: %s", describe(committed.error()));
    for (const MemoryRegion& region : guest_memory_map.regions())
        logger.info("guest-physical 0x%016llx-0x%016llx %s", static_cast<unsigned long long>(region.base),
                    static_cast<unsigned long long>(region.end() - 1), describe(region.type));
    logger.info("%llu MiB of device memory below 4 GiB identity-mapped for the vCPU",
                static_cast<unsigned long long>(device_memory / MiB));
    logger.info("%llu MiB of RAM behind the p2m%s, %llu page%s 1:1 with machine frames",
                static_cast<unsigned long long>(machine.total_length() / MiB),
                domain->shares_p2m_with_iommu() ? " (the IOMMU walks it)" : " and the same in the IOMMU tables",
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
    start.nested_page_table = domain->p2m_root();
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
