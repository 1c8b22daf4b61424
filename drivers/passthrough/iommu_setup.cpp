#include <drivers/acpi/mcfg.hpp>
#include <drivers/acpi/table_directory.hpp>
#include <drivers/passthrough/iommu_setup.hpp>
#include <drivers/pci/enumeration.hpp>

#include <sluice/log.hpp>
#include <sluice/new.hpp>

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"iommu"};

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

// PCI class 08h subclass 06h: an IOMMU that is itself a PCI function; its
// own requests are not translated by itself.
constexpr bool is_iommu_function(const pci::Device& device) {
    return device.class_code == 0x08 && device.subclass == 0x06;
}

// --- Platform ranges the hardware domain's devices must not reach -----------------

constexpr acpi::Signature madt_signature("APIC");
constexpr acpi::Signature hpet_signature("HPET");

// ACPI 6.5 section 5.2.12 (MADT): the local APIC address at byte 36, then
// interrupt controller structures from byte 44, each Type and Length first.
// Type 1 (I/O APIC, 5.2.12.3) has its address at +4; type 5 (Local APIC
// Address Override, 5.2.12.8) a 64-bit address at +4.
Status add_interrupt_controllers(const Platform& platform, RangeSet& excluded) {
    for (const acpi::TableDescription& table : platform.tables.find_all(madt_signature)) {
        const acpi::TableReader reader = acpi::open_table(platform.memory, table);
        const Result<uint32_t> local_apic = reader.read32(36);
        if (local_apic.ok() && local_apic.value() != 0)
            SLUICE_TRY(excluded.add(round_outward({local_apic.value(), uint64_t{local_apic.value()} + page_size})));
        uint64_t offset = 44;
        while (reader.contains(offset, 2)) {
            const uint8_t type = reader.read8(offset).value_or(0);
            const uint8_t length = reader.read8(offset + 1).value_or(0);
            if (length < 2 || !reader.contains(offset, length)) break;
            if (type == 1 && length >= 12) {
                const uint32_t address = reader.read32(offset + 4).value_or(0);
                if (address != 0) SLUICE_TRY(excluded.add(round_outward({address, uint64_t{address} + page_size})));
            } else if (type == 5 && length >= 12) {
                const uint64_t address = reader.read64(offset + 4).value_or(0);
                if (address != 0 && address < (uint64_t{1} << 52))
                    SLUICE_TRY(excluded.add(round_outward({address, address + page_size})));
            }
            offset += length;
        }
    }
    return success();
}

// IA-PC HPET specification 1.0a, table 3: the event timer block's Generic
// Address Structure at byte 40, its 64-bit address at byte 44. The block is
// 1 KiB; dom0 reads it (read-only, like Xen's mapping of it).
Status add_hpet(const Platform& platform, RangeSet& read_only) {
    for (const acpi::TableDescription& table : platform.tables.find_all(hpet_signature)) {
        const acpi::TableReader reader = acpi::open_table(platform.memory, table);
        const uint64_t address = reader.read64(44).value_or(0);
        if (address != 0 && address < (uint64_t{1} << 52))
            SLUICE_TRY(read_only.add(round_outward({address, address + 1 * KiB})));
    }
    return success();
}

uint64_t floor_power_of_two(uint64_t value) { return value == 0 ? 0 : uint64_t{1} << highest_bit(value); }

}  // namespace

const char* describe(ProtectionState state) {
    switch (state) {
    case ProtectionState::not_set_up: return "not set up";
    case ProtectionState::disabled: return "disabled";
    case ProtectionState::absent: return "absent";
    case ProtectionState::failed: return "failed";
    case ProtectionState::partial: return "partial";
    case ProtectionState::active: return "active";
    }
    return "unknown";
}

// --- The table pool ------------------------------------------------------------------

void TablePool::initialize(PageAllocator& backing) {
    backing_ = &backing;
    const Result<PhysicalAddress> block = backing.allocate_contiguous(page_count, page_size, ~PhysicalAddress{0});
    if (block.ok()) {
        base_ = block.value();
        has_block_ = true;
        return;
    }
    has_block_ = false;
    logger.warning("no %llu contiguous pages for the IOMMU tables; in relaxed mode they may be reachable by the "
                   "hardware domain's DMA",
                   printable(page_count));
    warned_ = true;
}

uint64_t TablePool::pages_in_use() const {
    uint64_t count = 0;
    for (const uint64_t word : used_) count += static_cast<uint64_t>(__builtin_popcountll(word));
    return count;
}

void TablePool::warn_exhausted() {
    if (warned_) return;
    warned_ = true;
    logger.warning("the IOMMU table pool (%llu pages) is used up; further tables come from general memory, which "
                   "relaxed mode leaves reachable by the hardware domain's DMA",
                   printable(page_count));
}

Result<PhysicalAddress> TablePool::allocate_page() {
    return allocate_contiguous(1, page_size, ~PhysicalAddress{0});
}

Result<PhysicalAddress> TablePool::allocate_contiguous(uint64_t count, uint64_t alignment, PhysicalAddress limit) {
    if (count == 0 || !is_power_of_two(alignment) || alignment < page_size) return Error::invalid_argument;
    if (has_block_ && count <= page_count) {
        const auto used = [&](uint64_t index) { return (used_[index / 64] >> (index % 64)) & 1; };
        for (uint64_t first = 0; first + count <= page_count; ++first) {
            const PhysicalAddress start = base_ + first * page_size;
            if (!is_aligned(start, alignment)) continue;
            if (start + count * page_size - 1 >= limit) break;
            uint64_t length = 0;
            while (length < count && !used(first + length)) ++length;
            if (length < count) {
                first += length;
                continue;
            }
            for (uint64_t index = first; index < first + count; ++index) used_[index / 64] |= uint64_t{1} << (index % 64);
            return start;
        }
    }
    if (backing_ == nullptr) return Error::out_of_memory;
    warn_exhausted();
    return count == 1 ? backing_->allocate_page() : backing_->allocate_contiguous(count, alignment, limit);
}

void TablePool::free_page(PhysicalAddress page) {
    if (has_block_ && page >= base_ && page < base_ + page_count * page_size && is_aligned(page, page_size)) {
        const uint64_t index = (page - base_) / page_size;
        if (((used_[index / 64] >> (index % 64)) & 1) == 0) {
            logger.error("table pool: page 0x%llx freed but not in use; ignored", printable(page));
            return;
        }
        used_[index / 64] &= ~(uint64_t{1} << (index % 64));
        return;
    }
    if (backing_ != nullptr) backing_->free_page(page);
}

uint64_t allocate_domain_memory(PageAllocator& allocator, uint64_t bytes, RangeSet& ranges) {
    uint64_t remaining = bytes / page_size;
    uint64_t allocated = 0;
    // 1 GiB runs at most; halve on failure down to single pages.
    uint64_t run = min(floor_power_of_two(remaining), uint64_t{1} << 18);
    bool contiguous = true;
    while (remaining != 0 && run != 0) {
        run = min(run, floor_power_of_two(remaining));
        // Allocators without contiguous runs give single pages.
        const Result<PhysicalAddress> block = contiguous ? allocator.allocate_contiguous(run, page_size, ~PhysicalAddress{0})
                                                         : allocator.allocate_page();
        if (!block.ok()) {
            if (contiguous && block.error() == Error::unsupported) {
                contiguous = false;
                run = 1;
                continue;
            }
            if (run == 1) break;
            run /= 2;
            continue;
        }
        const AddressRange range{block.value(), block.value() + run * page_size};
        if (!ranges.add(range).ok()) {
            for (uint64_t page = 0; page < run; ++page) allocator.free_page(range.start + page * page_size);
            break;
        }
        remaining -= run;
        allocated += run * page_size;
    }
    return allocated;
}

Status IommuSetup::refuse_if_required(const IommuOptions& options, const char* why) {
    if (!options.required) {
        logger.warning("%s: DMA from devices is not restricted", why);
        return success();
    }
    logger.error("%s, and iommu=force/required asks for DMA protection: refusing to boot", why);
    return Error::unsupported;
}

Status IommuSetup::probe(const Platform& platform) {
    // The vendors in their registered order; a machine has one kind or none.
    const Span<const IommuVendor> vendors = iommu_vendors();
    if (vendors.empty()) logger.warning("no IOMMU vendor driver is linked");
    for (const IommuVendor& vendor : vendors) {
        if (vendor_ != nullptr) break;
        const Status found = vendor.probe(platform, units_, reserved_);
        if (found.ok()) {
            vendor_ = &vendor;
        } else if (found.error() != Error::not_found) {
            logger.error("%s probe: %s", vendor.name, describe(found.error()));
        }
    }
    for (const IommuVendor& vendor : vendors)
        if (&vendor != vendor_) vendor.report_unused_options();
    return vendor_ != nullptr ? success() : Status(Error::not_found);
}

Status IommuSetup::allocate_memory(const Platform& platform, const SetupInputs& inputs) {
    const HardwareDomainMemory wanted =
        compute_hardware_domain_memory(inputs.hardware_domain.memory, inputs.available_bytes);
    const uint64_t obtained = allocate_domain_memory(platform.allocator, wanted.initial, *parts_.memory);
    if (obtained < wanted.initial)
        logger.warning("hardware domain: only %llu of %llu MiB could be allocated", printable(obtained / MiB),
                       printable(wanted.initial / MiB));
    if (obtained == 0) {
        logger.error("hardware domain: no memory at all");
        return Error::out_of_memory;
    }
    logger.info("hardware domain: %llu MiB in %zu range%s (dom0_mem=%s)", printable(obtained / MiB),
                parts_.memory->count(), parts_.memory->count() == 1 ? "" : "s",
                inputs.hardware_domain.memory.size.given ? "as given" : "default");
    return success();
}

Status IommuSetup::collect_excluded(const Platform& platform) {
    for (const IommuUnit* unit : units_.units())
        SLUICE_TRY(excluded_.add(round_outward({unit->register_base(), unit->register_base() + unit->register_size()})));
    acpi::ConfigurationSpaceRange windows[16];
    const size_t window_count = acpi::read_configuration_space_ranges(platform.memory, platform.tables,
                                                                      Span<acpi::ConfigurationSpaceRange>(windows, 16));
    for (size_t index = 0; index < window_count; ++index)
        SLUICE_TRY(excluded_.add({windows[index].start(), windows[index].start() + windows[index].size()}));
    SLUICE_TRY(add_interrupt_controllers(platform, excluded_));
    SLUICE_TRY(add_hpet(platform, read_only_input_));
    return success();
}

// Like Xen, reserved and other non-RAM ranges above both 4 GiB and the top of
// RAM are left alone: nothing dom0 drives lives there (QEMU reports its
// 0xfd00000000 HyperTransport hole as reserved), and it may lie beyond what
// the tables translate.
void IommuSetup::trim_memory_map(const MemoryMap& map) {
    PhysicalAddress top = 4 * GiB;
    for (const MemoryRegion& region : map.regions())
        if (region.type == MemoryType::ram) top = max(top, region.end());
    trimmed_map_ = MemoryMap{};
    for (const MemoryRegion& region : map.regions()) {
        if (region.type != MemoryType::ram && region.base >= top) continue;
        (void)trimmed_map_.add(region.base, region.length, region.type);  // fits: a subset of a valid map
    }
}

Status IommuSetup::create_domain(const Platform& platform, IommuConfiguration configuration) {
    bool coherent = true;
    for (const IommuUnit* unit : units_.units())
        if (!unit->failed() && !unit->coherent()) coherent = false;
    PhysicalMemory* memory = &platform.memory;
    if (!coherent && platform.cache != nullptr)
        memory = new (write_back_storage_) WriteBackMemory(platform.memory, *platform.cache);
    configuration.id = parts_.id;
    configuration.identity_regions = Span<IdentityRegion>(identity_regions_, identity_region_capacity);
    Result<IommuContext> created = IommuContext::create(configuration, parts_.p2m, *memory, platform.allocator);
    if (!created.ok()) {
        logger.error("hardware domain: its IOMMU tables could not be created: %s", describe(created.error()));
        return created.error();
    }
    domain_ = &parts_.iommu->construct(sluice::move(created.value()));
    if (platform.options.verbose)
        logger.info("hardware domain: IOMMU tables of %u levels, input addresses up to 0x%llx", domain_->iommu_levels(),
                    printable(domain_->last_identity_address()));
    return success();
}

Status IommuSetup::map_everything(const Platform& platform) {
    const size_t needed = read_write_.count() + read_only_.count() + reserved_.size();
    if (needed > identity_region_capacity) {
        logger.error("hardware domain: %zu identity regions needed, room for %zu", needed, identity_region_capacity);
        return Error::capacity;
    }
    paging::Batch batch(domain_->invalidation_targets());
    Status result = success();
    for (const AddressRange& range : read_write_) {
        const Status mapped = identity_map(*domain_, range.start, range.end, paging::Access::read_write, batch);
        if (!mapped.ok() && result.ok()) result = mapped;
        if (platform.options.verbose)
            logger.info("hardware domain: 0x%llx-0x%llx read-write", printable(range.start), printable(range.end - 1));
    }
    for (const AddressRange& range : read_only_) {
        const Status mapped = identity_map(*domain_, range.start, range.end, paging::Access::read, batch);
        if (!mapped.ok() && result.ok()) result = mapped;
        if (platform.options.verbose)
            logger.info("hardware domain: 0x%llx-0x%llx read-only", printable(range.start), printable(range.end - 1));
    }
    // Then each reserved region some present device needs.
    for (const ReservedRegion& region : reserved_.regions()) {
        bool needed_now = false;
        for (const pci::Device& device : platform.devices.devices())
            if (region.devices.contains(device.address)) needed_now = true;
        char origin[96];
        format_origin(origin, sizeof origin, region);
        if (!needed_now) {
            logger.info("%s 0x%llx-0x%llx: no device of its scope is present; not mapped", origin,
                        printable(region.base), printable(region.end - 1));
            continue;
        }
        const Status mapped = identity_map(*domain_, region.base, region.end, region.access, batch);
        if (!mapped.ok()) {
            logger.warning("%s 0x%llx-0x%llx could not be identity-mapped (%s); its devices may fail", origin,
                           printable(region.base), printable(region.end - 1), describe(mapped.error()));
            continue;
        }
        ++mapped_regions_;
        char devices[128];
        format_device_scope(devices, sizeof devices, region.devices);
        logger.info("%s 0x%llx-0x%llx identity-mapped %s for %s", origin, printable(region.base),
                    printable(region.end - 1), paging::describe(region.access), devices);
    }
    const Status committed = batch.commit();
    const paging::Batch::Statistics& statistics = batch.statistics();
    setup_invalidations_ = statistics.page_invalidations + statistics.domain_invalidations;
    logger.info("hardware domain: %zu read-write and %zu read-only ranges and %zu reserved region%s mapped in one "
                "batch, %llu invalidation%s",
                read_write_.count(), read_only_.count(), mapped_regions_, mapped_regions_ == 1 ? "" : "s",
                printable(setup_invalidations_), setup_invalidations_ == 1 ? "" : "s");
    if (!committed.ok()) return committed;
    return result;
}

void IommuSetup::attach_devices(const Platform& platform) {
    size_t modes[3] = {};
    for (const pci::Device& device : platform.devices.devices()) {
        const pci::PciAddressText name = pci::describe(device.address);
        if (is_iommu_function(device)) continue;
        IommuUnit* unit = units_.unit_for(device.address);
        if (unit == nullptr) {
            logger.warning("%s is behind no IOMMU unit: its DMA is not restricted", name.c_str());
            ++unprotected_devices_;
            continue;
        }
        if (unit->failed()) {
            logger.warning("%s is behind %s, which failed: its DMA is not restricted", name.c_str(), unit->name());
            ++unprotected_devices_;
            continue;
        }
        AttachMode mode = passthrough_ && unit->supports_passthrough() ? AttachMode::passthrough : AttachMode::translated;
        const Status attached = unit->attach(*domain_, device.address, mode);
        if (!attached.ok()) {
            logger.warning("%s: attaching to %s failed (%s): its DMA is not restricted", name.c_str(), unit->name(),
                           describe(attached.error()));
            ++unprotected_devices_;
            continue;
        }
        ++modes[static_cast<unsigned>(mode)];
        ++protected_devices_;
    }
    logger.info("devices: %zu translated, %zu passed through, %zu unprotected",
                modes[static_cast<unsigned>(AttachMode::translated)],
                modes[static_cast<unsigned>(AttachMode::passthrough)], unprotected_devices_);
    // Pass-through is a protection state an operator must not mistake for
    // the translated one: those devices' DMA reaches every byte of memory.
    const size_t passed_through = modes[static_cast<unsigned>(AttachMode::passthrough)];
    if (passed_through != 0)
        logger.warning("dom0-iommu=passthrough: %zu device%s of the hardware domain %s not restricted: %s DMA "
                       "reaches all memory untranslated, the hypervisor's included",
                       passed_through, passed_through == 1 ? "" : "s", passed_through == 1 ? "is" : "are",
                       passed_through == 1 ? "its" : "their");
}

void IommuSetup::enable_units() {
    for (IommuUnit* unit : units_.units()) {
        if (unit->failed()) continue;
        const Status enabled = unit->enable_translation();
        if (!enabled.ok()) logger.error("%s: translation could not be enabled: %s", unit->name(), describe(enabled.error()));
    }
}

void IommuSetup::enable_interrupt_remapping(const IommuOptions& options, bool x2apic) {
    if (!options.interrupt_remapping) {
        logger.warning("interrupt remapping off (iommu=no-intremap): devices are not restricted in the interrupts "
                       "they raise");
        return;
    }
    size_t working = 0;
    for (IommuUnit* unit : units_.units()) {
        if (unit->failed()) continue;
        ++working;
        // Each refusal names the unit and why; its devices stay unrestricted.
        if (unit->enable_interrupt_remapping(x2apic).ok()) ++interrupt_remapping_units_;
    }
    if (working != 0 && interrupt_remapping_units_ < working)
        logger.warning("interrupt remapping on %zu of %zu units: devices behind the others may raise any interrupt",
                       interrupt_remapping_units_, working);
}

Status IommuSetup::continue_without_protection(const Platform& platform, const SetupInputs& inputs) {
    // The hardware domain exists all the same, with its memory; its devices
    // reach all memory.
    SLUICE_TRY(allocate_memory(platform, inputs));
    return create_domain(platform, IommuConfiguration{});
}

Status IommuSetup::run(const Platform& given, const SetupInputs& inputs) {
    const IommuOptions& options = given.options;
    if (inputs.domain.iommu == nullptr || inputs.domain.memory == nullptr) {
        logger.error("hardware domain: no domain to set up (a caller bug)");
        return Error::invalid_argument;
    }
    parts_ = inputs.domain;
    const HardwareDomainKind kind = inputs.hardware_domain.kind;
    if ((kind == HardwareDomainKind::pvh) != (parts_.p2m != nullptr)) {
        logger.error("hardware domain: dom0=%s but the domain %s a p2m (a caller bug)",
                     kind == HardwareDomainKind::pvh ? "pvh" : "pv", parts_.p2m != nullptr ? "has" : "lacks");
        return Error::invalid_argument;
    }
    const Result<HardwareDomainPolicy> policy = resolve_hardware_domain_policy(options, kind);
    if (!policy.ok()) return policy.error();
    policy_ = policy.value();

    if (!options.enabled) {
        state_ = ProtectionState::disabled;
        SLUICE_TRY(refuse_if_required(options, "IOMMU disabled by iommu=0"));
        return continue_without_protection(given, inputs);
    }

    // Every IOMMU structure comes from the table pool; dom0's memory and
    // everything else from the page allocator.
    pool_.initialize(given.allocator);
    const Platform platform{given.tables,        given.memory_map, given.devices, given.configuration, given.mmio,
                            given.memory,        pool_,            given.clock,   given.options,       given.cache};
    bool tracked = inputs.hypervisor_memory == nullptr || hypervisor_memory_.assign(*inputs.hypervisor_memory).ok();
    tracked = hypervisor_memory_.add(pool_.block()).ok() && tracked;
    if (!tracked) logger.warning("too many hypervisor memory ranges; some may stay reachable by DMA");

    if (!probe(platform).ok()) {
        state_ = ProtectionState::absent;
        SLUICE_TRY(refuse_if_required(options, "no IOMMU found"));
        return continue_without_protection(given, inputs);
    }

    IommuConfiguration configuration;
    if (!vendor_->configure_domain(options, configuration).ok()) {
        state_ = ProtectionState::failed;
        for (const pci::Device& device : platform.devices.devices()) {
            const IommuUnit* unit = units_.unit_for(device.address);
            if (unit != nullptr && !is_iommu_function(device))
                logger.warning("%s is behind %s, which failed: its DMA is not restricted",
                               pci::describe(device.address).c_str(), unit->name());
        }
        SLUICE_TRY(refuse_if_required(options, "no IOMMU unit works"));
        return continue_without_protection(given, inputs);
    }

    // dom0-iommu=passthrough needs every unit to pass requests through;
    // where one cannot, dom0's devices get the relaxed identity map instead
    // (Xen does the same without ECAP.PT).
    passthrough_ = policy_.mode == HardwareDomainIommuMode::passthrough;
    if (passthrough_) {
        for (const IommuUnit* unit : units_.units()) {
            if (unit->failed() || unit->supports_passthrough()) continue;
            logger.warning("%s cannot pass DMA through untranslated; its devices get the relaxed identity map instead",
                           unit->name());
            policy_.mode = HardwareDomainIommuMode::relaxed;
        }
    }
    logger.info("hardware domain: %s, %s%s%s", describe(kind), describe(policy_.mode),
                policy_.map_reserved ? ", map-reserved" : "", policy_.map_inclusive ? ", map-inclusive" : "");

    SLUICE_TRY(allocate_memory(given, inputs));
    if (!collect_excluded(platform).ok()) logger.warning("too many platform ranges to exclude; some may stay mapped");
    trim_memory_map(platform.memory_map);

    HardwareDomainMappingInputs mapping;
    mapping.memory_map = &trimmed_map_;
    mapping.policy = policy_;
    mapping.domain_memory = parts_.memory;
    mapping.hypervisor_memory = &hypervisor_memory_;
    mapping.excluded = &excluded_;
    mapping.read_only = &read_only_input_;
    mapping.address_limit = configuration.iommu_last_input() + 1;
    if (hardware_domain_range_capacity(mapping) > policy_range_capacity)
        logger.warning("the memory map may need more than %zu ranges", policy_range_capacity);
    const Status computed = compute_hardware_domain_ranges(mapping, read_write_, read_only_);
    if (!computed.ok()) {
        logger.error("hardware domain: its ranges could not be computed: %s", describe(computed.error()));
        return computed;
    }

    SLUICE_TRY(create_domain(platform, configuration));
    const Status mapped = map_everything(platform);
    if (!mapped.ok()) logger.error("hardware domain: identity maps incomplete: %s", describe(mapped.error()));
    attach_devices(platform);
    bool failed_before[UnitRegistry::capacity] = {};
    for (size_t index = 0; index < units_.units().size(); ++index) failed_before[index] = units_.units()[index]->failed();
    enable_units();
    enable_interrupt_remapping(options, inputs.x2apic);

    size_t working = 0;
    for (size_t index = 0; index < units_.units().size(); ++index) {
        const IommuUnit* unit = units_.units()[index];
        if (!unit->failed()) {
            ++working;
            continue;
        }
        if (failed_before[index]) continue;
        // It failed while enabling: the devices attached to it lost protection.
        for (const pci::Device& device : platform.devices.devices()) {
            if (is_iommu_function(device) || units_.unit_for(device.address) != unit) continue;
            logger.warning("%s is behind %s, which failed: its DMA is not restricted",
                           pci::describe(device.address).c_str(), unit->name());
            --protected_devices_;
            ++unprotected_devices_;
        }
    }
    state_ = working == 0 ? ProtectionState::failed
             : (unprotected_devices_ != 0 || working != units_.units().size() || !mapped.ok()) ? ProtectionState::partial
                                                                                               : ProtectionState::active;
    logger.info("%s: DMA remapping %s on %zu of %zu unit%s", vendor_->name,
                working == 0 ? "not active" : "active", working, units_.units().size(),
                units_.units().size() == 1 ? "" : "s");
    if (state_ == ProtectionState::failed) return refuse_if_required(options, "no IOMMU unit works");
    if (state_ == ProtectionState::partial) {
        const size_t failed = units_.units().size() - working;
        if (options.required) {
            logger.error("DMA protection is incomplete (%zu unit%s failed, %zu device%s unprotected), and "
                         "iommu=force/required asks for it: refusing to boot",
                         failed, failed == 1 ? "" : "s", unprotected_devices_, unprotected_devices_ == 1 ? "" : "s");
            return Error::unsupported;
        }
        logger.warning("DMA protection is incomplete: %zu unit%s failed, %zu device%s unprotected (see above)", failed,
                       failed == 1 ? "" : "s", unprotected_devices_, unprotected_devices_ == 1 ? "" : "s");
    }
    return success();
}

}  // namespace sluice::passthrough
