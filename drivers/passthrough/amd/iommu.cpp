#include <drivers/passthrough/amd/iommu.hpp>

#include <drivers/passthrough/amd/commands.hpp>
#include <drivers/passthrough/amd/event_log.hpp>
#include <drivers/passthrough/iommu_context.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::amd {

namespace {

constexpr Logger logger{"amd-vi"};

// The Control register bits that make the unit do anything (3.4.4); stopping
// the unit clears them all, whatever firmware left set.
constexpr uint64_t activity_bits =
    control::iommu_enable | control::event_log_enable | control::event_interrupt_enable |
    control::completion_wait_interrupt_enable | control::command_buffer_enable | control::ppr_log_enable |
    control::ppr_interrupt_enable | control::ppr_enable | control::guest_translation_enable |
    control::guest_virtual_apic_enable;

// Status bits that say a log or the command buffer still runs (MMIO 2020h).
constexpr uint64_t running_bits = status::command_buffer_running | status::event_log_running |
                                  status::ppr_log_running | status::guest_log_running;

// 5.2.2.1: bits 0-3 and 5 of an IVHD's flags give the values software
// programs into the Control register fields of the same names.
uint64_t control_from_ivhd_flags(uint8_t flags) {
    uint64_t value = 0;
    if (flags & ivhd_flags::ht_tunnel_enable) value |= control::ht_tunnel_enable;
    if (flags & ivhd_flags::pass_posted_write) value |= control::pass_posted_write;
    if (flags & ivhd_flags::response_pass_posted_write) value |= control::response_pass_posted_write;
    if (flags & ivhd_flags::isochronous) value |= control::isochronous;
    if (flags & ivhd_flags::coherent) value |= control::coherent;
    return value;
}

// Mode 0 with IR and IW set: requests pass untranslated with read and write
// access (2.2.2, Mode 000b "access controlled by IR and IW"). TV is set so
// the entry's IR/IW are valid; QEMU 7.2 also reads them with TV clear.
constexpr DeviceTableEntry make_passthrough_entry(uint16_t domain_id) {
    DeviceTableEntry entry;
    entry.qwords[0] = device_table_entry::valid | device_table_entry::translation_valid |
                      device_table_entry::read_permission | device_table_entry::write_permission;
    entry.qwords[1] = domain_id;
    return entry;
}

// Whether the unit may hold translations cached under the entry's DomainID.
constexpr bool translates_with_tables(const DeviceTableEntry& entry) {
    return is_valid(entry) && translation_is_valid(entry) && paging_mode(entry) != 0;
}

const char* describe(passthrough::AttachMode mode) {
    switch (mode) {
    case passthrough::AttachMode::translated: return "translated";
    case passthrough::AttachMode::passthrough: return "pass-through";
    case passthrough::AttachMode::blocked: return "blocked";
    }
    return "unknown";
}

}  // namespace

const char* describe(IommuState state) {
    switch (state) {
    case IommuState::unused: return "unused";
    case IommuState::running: return "running";
    case IommuState::translating: return "translating";
    case IommuState::stopped: return "stopped";
    case IommuState::failed: return "failed";
    }
    return "unknown";
}

// --- Bring-up ------------------------------------------------------------------

Status Iommu::initialize(const IommuResources& resources, const IommuSettings& settings) {
    if (state_ != IommuState::unused) {
        logger.error("%s: initialised twice", name_);
        return Error::invalid_argument;
    }
    if (resources.memory == nullptr || resources.allocator == nullptr || resources.clock == nullptr ||
        settings.ivrs == nullptr || settings.unit_index >= settings.ivrs->units().size())
        return Error::invalid_argument;

    const amd::IommuUnit& unit = settings.ivrs->units()[settings.unit_index];
    ivrs_ = settings.ivrs;
    unit_index_ = settings.unit_index;
    base_ = unit.base_address;
    segment_ = unit.segment;
    device_id_ = unit.device_id;
    format(name_, sizeof name_, "amd-vi%u at 0x%llx", settings.unit_index, static_cast<unsigned long long>(base_));
    memory_ = resources.memory;
    allocator_ = resources.allocator;
    clock_ = resources.clock;
    time_limit_ = settings.time_limit;
    caches_not_present_ = settings.caches_not_present;
    verbose_ = settings.verbose;

    // From here on a unit that cannot work is failed, not unused: it still
    // names the devices it leaves unprotected (translates()).
    if (resources.registers == nullptr) {
        logger.error("%s: its registers cannot be reached", name_);
        state_ = IommuState::failed;
        return Error::hardware_failure;
    }
    registers_ = RegisterFile(*resources.registers);
    features_ = ExtendedFeatures{registers_.read(Register64::extended_feature)};
    if (features_.value == ~uint64_t{0}) {
        logger.error("%s: the registers read all ones: no IOMMU answers at this address", name_);
        state_ = IommuState::failed;
        return Error::hardware_failure;
    }
    maximum_levels_ = features_.maximum_host_levels();
    invalidate_all_supported_ = features_.invalidate_all_supported();
    if (verbose_) print_extended_features(logger, base_, features_);
    if (maximum_levels_ == 0)
        logger.warning("%s: EFR.HATS holds the reserved value 11b: no host page tables; devices behind the unit can "
                       "only be passed through or blocked",
                       name_);

    // A unit firmware left running (pre-boot DMA protection, IVinfo bit 1)
    // is stopped before its tables are replaced.
    const uint64_t found = registers_.read(Register64::control);
    if ((found & activity_bits) != 0) {
        logger.info("%s: found running (control 0x%llx); stopping it to take over", name_,
                    static_cast<unsigned long long>(found));
        control_ = found;
        const Status stopped = stop();
        if (!stopped.ok()) return stopped;
    }

    // An exclusion range left by firmware (ExEn, Allow) would let DMA into it
    // bypass translation for every device; identity maps replace it (IVMD
    // exclusion ranges become unity maps), so the registers are cleared.
    registers_.write(Register64::exclusion_base, 0);
    registers_.write(Register64::exclusion_range_limit, 0);

    // Tables. The device table is one block (3.4.1 has a single base).
    const uint32_t entries = DeviceTable::entries_for(unit.highest_device_id);
    const uint64_t table_pages = DeviceTable::pages_for(entries);
    const Result<PhysicalAddress> table = table_pages == 1 ? allocator_->allocate_page()
                                                           : allocator_->allocate_contiguous(table_pages, page_size,
                                                                                             ~PhysicalAddress{0});
    if (!table.ok()) {
        logger.error("%s: no memory for a device table of %llu contiguous pages (%s)", name_,
                     static_cast<unsigned long long>(table_pages), sluice::describe(table.error()));
        state_ = IommuState::failed;
        return Error::out_of_memory;
    }
    device_table_.bind(*memory_, table.value(), entries);
    const Result<PhysicalAddress> command_page = allocator_->allocate_page();
    if (command_page.ok()) command_page_ = command_page.value();
    const Result<PhysicalAddress> event_page = allocator_->allocate_page();
    if (event_page.ok()) event_page_ = event_page.value();
    const Result<PhysicalAddress> completion_page = allocator_->allocate_page();
    if (completion_page.ok()) completion_page_ = completion_page.value();
    if (!command_page.ok() || !event_page.ok() || !completion_page.ok()) {
        logger.error("%s: no memory for the command buffer, event log and completion page", name_);
        release_memory();
        state_ = IommuState::failed;
        return Error::out_of_memory;
    }
    memory_->zero_page(completion_page_);
    device_table_.clear();

    registers_.write(Register64::device_table_base, device_table_.base_register_value());
    commands_.bind(registers_, *memory_, *clock_, command_page_, completion_page_, time_limit_);
    commands_.program();
    events_.bind(registers_, *memory_, *clock_, event_page_);
    events_.program();
    // Write-1-to-clear whatever a previous owner left in the status bits.
    registers_.write(Register64::status, status::event_log_overflow | status::event_log_interrupt |
                                             status::completion_wait_interrupt);
    reports_faults_ = settings.event_log_receives_events;

    control_ = control_from_ivhd_flags(unit.flags);
    start();
    const Status invalidated = invalidate_everything();
    if (!invalidated.ok()) {
        // Nothing relies on the unit yet (every entry passes DMA through):
        // quieten it. Its memory stays with it, since it may still write there.
        registers_.write(Register64::control, 0);
        return invalidated;
    }

    const pci::PciAddress function = pci::PciAddress::from_requester_id(segment_, device_id_);
    logger.info("%s (PCI %s): device table 0x%llx for device IDs 0000-%04x, command buffer 0x%llx, event log 0x%llx, "
                "I/O page tables of up to %u levels",
                name_, pci::describe(function).c_str(), static_cast<unsigned long long>(device_table_.base()),
                static_cast<unsigned>(unit.highest_device_id), static_cast<unsigned long long>(command_page_),
                static_cast<unsigned long long>(event_page_), maximum_levels_);
    return success();
}

void Iommu::release_memory() {
    const uint64_t table_pages = device_table_.base() == 0 ? 0 : device_table_.pages();
    for (uint64_t page = 0; page < table_pages; ++page) allocator_->free_page(device_table_.base() + page * page_size);
    device_table_ = DeviceTable{};
    PhysicalAddress* pages[] = {&command_page_, &event_page_, &completion_page_};
    for (PhysicalAddress* page : pages) {
        if (*page != 0) allocator_->free_page(*page);
        *page = 0;
    }
}

void Iommu::start() {
    // The buffers first, translation last (3.4.4 lists IommuEn as the switch
    // that makes the unit act on everything else).
    control_ = (control_ & ~activity_bits) | control::command_buffer_enable | control::event_log_enable;
    registers_.write(Register64::control, control_);
    control_ |= control::iommu_enable;
    registers_.write(Register64::control, control_);
    state_ = IommuState::running;
}

Status Iommu::stop() {
    control_ &= ~activity_bits;
    registers_.write(Register64::control, control_);
    const bool stopped =
        poll_until(*clock_, time_limit_, [&] { return (registers_.read(Register64::status) & running_bits) == 0; });
    if (!stopped) return fail("stopping the command buffer and logs", Error::timed_out);
    // Whatever changes while stopped, the caches are dropped on the next start.
    invalidate_on_start_ = true;
    if (state_ != IommuState::failed) state_ = IommuState::stopped;
    return success();
}

Status Iommu::invalidate_everything() {
    if (invalidate_all_supported_) {
        SLUICE_TRY(submit(make_invalidate_iommu_all(), "INVALIDATE_IOMMU_ALL"));
    } else {
        // Without INVALIDATE_IOMMU_ALL (EFR.IASup clear): every cached entry
        // by device ID, then the translations of every DomainID the table
        // uses. DomainIDs a previous owner used are flushed when an entry
        // first takes them (attach()).
        for (uint32_t device = 0; device < device_table_.entries(); ++device)
            SLUICE_TRY(submit(make_invalidate_device_table_entry(static_cast<uint16_t>(device)),
                              "INVALIDATE_DEVTAB_ENTRY"));
        constexpr size_t domain_capacity = 64;
        uint16_t domains[domain_capacity];
        size_t domain_count = 0;
        bool too_many = false;
        for (uint32_t device = 0; device < device_table_.entries() && !too_many; ++device) {
            const DeviceTableEntry entry = device_table_.read(static_cast<uint16_t>(device));
            if (!translates_with_tables(entry)) continue;
            const uint16_t domain = domain_id(entry);
            bool seen = false;
            for (size_t index = 0; index < domain_count && !seen; ++index) seen = domains[index] == domain;
            if (seen) continue;
            if (domain_count == domain_capacity) too_many = true;
            else domains[domain_count++] = domain;
        }
        if (too_many) {
            for (uint32_t domain = 0; domain <= 0xffff; ++domain)
                SLUICE_TRY(submit(make_invalidate_domain(static_cast<uint16_t>(domain)), "INVALIDATE_IOMMU_PAGES"));
        } else {
            for (size_t index = 0; index < domain_count; ++index)
                SLUICE_TRY(submit(make_invalidate_domain(domains[index]), "INVALIDATE_IOMMU_PAGES"));
        }
    }
    SLUICE_TRY(complete("COMPLETION_WAIT after invalidating everything"));
    invalidate_on_start_ = false;
    return success();
}

// --- Commands --------------------------------------------------------------------

Status Iommu::submit(const Command& command, const char* what) {
    const Status submitted = commands_.submit(command);
    if (!submitted.ok()) return fail(what, submitted.error());
    return success();
}

Status Iommu::complete(const char* what) {
    const Status completed = commands_.wait_for_completion();
    if (!completed.ok()) return fail(what, completed.error());
    return success();
}

Error Iommu::fail(const char* what, Error error) {
    if (state_ == IommuState::failed) return error;
    if (command_page_ == 0) {
        logger.error("%s: %s: %s; the unit is fenced: no further commands or device table changes", name_, what,
                     sluice::describe(error));
        state_ = IommuState::failed;
        return error;
    }
    logger.error("%s: %s: %s (command buffer head 0x%llx tail 0x%llx, status 0x%llx); the unit is fenced: no further "
                 "commands or device table changes",
                 name_, what, sluice::describe(error), static_cast<unsigned long long>(commands_.head()),
                 static_cast<unsigned long long>(commands_.tail()),
                 static_cast<unsigned long long>(registers_.read(Register64::status)));
    state_ = IommuState::failed;
    // An ILLEGAL_COMMAND_ERROR or COMMAND_HARDWARE_ERROR event says why.
    service_event_log();
    return error;
}

Status Iommu::usable() const {
    if (state_ == IommuState::unused) return Error::invalid_argument;
    if (state_ == IommuState::failed) return Error::hardware_failure;
    return success();
}

// --- passthrough::IommuUnit ------------------------------------------------------

bool Iommu::translates(const pci::PciAddress& device) const {
    if (state_ == IommuState::unused || ivrs_ == nullptr || device.segment != segment_) return false;
    const Optional<uint8_t> unit = ivrs_->unit_for(segment_, device.requester_id());
    return unit.has_value() && unit.value() == unit_index_;
}

DeviceTableSetting Iommu::setting_for(uint16_t device) const {
    const DeviceSetting* setting = ivrs_->setting_for(segment_, device);
    return setting != nullptr ? setting->setting : DeviceTableSetting{};
}

uint16_t Iommu::domain_id_of(const passthrough::IommuContext& domain) const {
    for (size_t index = 0; index < domain_count_; ++index)
        if (domains_[index].domain == &domain) return domains_[index].id;
    return 0;
}

Result<uint16_t> Iommu::domain_id_for(const passthrough::IommuContext& domain) {
    if (const uint16_t existing = domain_id_of(domain); existing != 0) return existing;
    if (domain_count_ == domain_capacity) {
        logger.error("%s: no DomainID left for domain %u (%zu domains use this unit)", name_, domain.id(),
                     domain_count_);
        return Error::capacity;
    }
    const auto id = static_cast<uint16_t>(domain_count_ + 1);
    domains_[domain_count_++] = DomainSlot{&domain, id};
    return id;
}

Status Iommu::attach(passthrough::IommuContext& domain, const pci::PciAddress& device, passthrough::AttachMode mode) {
    SLUICE_TRY(usable());
    if (!translates(device)) {
        logger.error("%s: %s is not behind this IOMMU (the IVRS does not name it for the unit)", name_,
                     pci::describe(device).c_str());
        return Error::invalid_argument;
    }
    const uint16_t device_id = device.requester_id();
    if (!device_table_.contains(device_id)) return Error::out_of_range;

    const uint16_t hardware_id = SLUICE_TRY(domain_id_for(domain));
    DeviceTableEntry desired;
    switch (mode) {
    case passthrough::AttachMode::translated: {
        if (domain.iommu_table_kind() != passthrough::IommuTableKind::amd_v1) {
            logger.error("%s: %s: domain %u does not have AMD-Vi I/O page tables", name_,
                         pci::describe(device).c_str(), domain.id());
            return Error::unsupported;
        }
        const unsigned levels = domain.iommu_levels();
        if (levels == 0 || levels > maximum_levels_) {
            logger.error("%s: %s: domain %u has %u-level I/O page tables, the unit walks at most %u", name_,
                         pci::describe(device).c_str(), domain.id(), levels, maximum_levels_);
            return Error::unsupported;
        }
        const Result<DeviceTableEntry> entry = make_translated_entry(DeviceTableTranslation{
            domain.iommu_root(), static_cast<uint8_t>(levels), hardware_id, true, true});
        if (!entry.ok()) {
            logger.error("%s: %s: domain %u's table root 0x%llx cannot be put in a device table entry", name_,
                         pci::describe(device).c_str(), domain.id(),
                         static_cast<unsigned long long>(domain.iommu_root()));
            return entry.error();
        }
        desired = entry.value();
        break;
    }
    case passthrough::AttachMode::passthrough: desired = make_passthrough_entry(hardware_id); break;
    case passthrough::AttachMode::blocked: desired = make_blocked_entry(hardware_id); break;
    }

    const Status targeted = domain.invalidation_targets().attach(*this, hardware_id);
    if (!targeted.ok()) {
        logger.error("%s: %s: cannot add the unit to domain %u's invalidation targets: %s", name_,
                     pci::describe(device).c_str(), domain.id(), sluice::describe(targeted.error()));
        return targeted;
    }

    // The entry of the device, and of the ID its requests carry when the
    // IVRS gives it an alias (5.2.2.2, alias select and alias range).
    uint16_t ids[2] = {device_id, device_id};
    size_t id_count = 1;
    const DeviceSetting* setting = ivrs_->setting_for(segment_, device_id);
    if (setting != nullptr && setting->has_alias && setting->alias_device_id != device_id &&
        device_table_.contains(setting->alias_device_id))
        ids[id_count++] = setting->alias_device_id;

    bool changed[2] = {};
    DeviceTableEntry previous[2];
    for (size_t index = 0; index < id_count; ++index) {
        previous[index] = device_table_.read(ids[index]);
        DeviceTableEntry entry = with_system_management(desired, setting_for(ids[index]));
        entry.qwords[2] = interrupt_word_for(ids[index]);  // the interrupt set-up stays as it was
        changed[index] = device_table_.update(ids[index], entry);
    }
    if (verbose_)
        logger.info("%s: %s -> domain %u (DomainID %u), %s%s", name_, pci::describe(device).c_str(), domain.id(),
                    hardware_id, describe(mode), id_count > 1 ? " (and its alias)" : "");
    if (!commands_run()) {
        invalidate_on_start_ = true;
        return success();
    }

    bool queued = false;
    for (size_t index = 0; index < id_count; ++index) {
        if (!changed[index]) continue;
        SLUICE_TRY(submit(make_invalidate_device_table_entry(ids[index]), "INVALIDATE_DEVTAB_ENTRY"));
        queued = true;
        const bool domain_changed = !is_valid(previous[index]) || amd::domain_id(previous[index]) != hardware_id;
        // Translations cached for the device under its old DomainID must go
        // whenever a translating entry changes, even within one domain
        // (re-attached blocked, pass-through, new root): some units keep
        // using them after INVALIDATE_DEVTAB_ENTRY alone (Xen advisory
        // XSA-442), and QEMU 7.2 keys its IOTLB by device, not domain.
        if (translates_with_tables(previous[index]))
            SLUICE_TRY(submit(make_invalidate_domain(amd::domain_id(previous[index])), "INVALIDATE_IOMMU_PAGES"));
        // Without INVALIDATE_IOMMU_ALL the start could not drop translations
        // a previous owner cached under this DomainID.
        if (!invalidate_all_supported_ && domain_changed)
            SLUICE_TRY(submit(make_invalidate_domain(hardware_id), "INVALIDATE_IOMMU_PAGES"));
    }
    if (queued) SLUICE_TRY(complete("COMPLETION_WAIT after a device table entry change"));
    return success();
}

Status Iommu::enable_translation() {
    SLUICE_TRY(usable());
    if (state_ == IommuState::translating) return success();
    if (state_ == IommuState::stopped) start();

    // Device IDs nobody attached: blocked from now on, rather than passing
    // untranslated.
    size_t blocked = 0;
    for (uint32_t device = 0; device < device_table_.entries(); ++device) {
        const auto id = static_cast<uint16_t>(device);
        if (is_valid(device_table_.read(id))) continue;
        DeviceTableEntry entry = with_system_management(make_blocked_entry(0), setting_for(id));
        entry.qwords[2] = interrupt_word_for(id);
        device_table_.update(id, entry);
        ++blocked;
        if (!invalidate_all_supported_)
            SLUICE_TRY(submit(make_invalidate_device_table_entry(id), "INVALIDATE_DEVTAB_ENTRY"));
    }
    if (invalidate_all_supported_ || invalidate_on_start_) {
        SLUICE_TRY(invalidate_everything());
    } else {
        SLUICE_TRY(complete("COMPLETION_WAIT after blocking unattached device IDs"));
    }
    state_ = IommuState::translating;
    logger.info("%s: translation enabled; %zu device IDs no domain holds are blocked", name_, blocked);
    return success();
}

// --- Interrupt remapping (2.2.5) ------------------------------------------------

Iommu::InterruptTable* Iommu::interrupt_table_of(uint16_t device_id) {
    for (size_t index = 0; index < interrupt_table_count_; ++index)
        if (interrupt_tables_[index].device_id == device_id) return &interrupt_tables_[index];
    return nullptr;
}

const Iommu::InterruptTable* Iommu::interrupt_table_of(uint16_t device_id) const {
    for (size_t index = 0; index < interrupt_table_count_; ++index)
        if (interrupt_tables_[index].device_id == device_id) return &interrupt_tables_[index];
    return nullptr;
}

uint64_t Iommu::interrupt_word_for(uint16_t device_id) const {
    if (!interrupt_remapping_) return 0;
    const InterruptTable* table = interrupt_table_of(device_id);
    if (table == nullptr) return interrupt_word(InterruptControl::abort);
    return interrupt_word(InterruptControl::remapped, table->table, interrupt_entries_order);
}

Status Iommu::enable_interrupt_remapping(bool x2apic) {
    SLUICE_TRY(usable());
    if (x2apic) {
        logger.warning("%s: x2APIC destinations need the 128-bit entries of XT mode, not implemented: its devices may "
                       "raise any interrupt",
                       name_);
        return Error::unsupported;
    }
    if (interrupt_remapping_) return success();
    // A table for every device ID a domain holds (translated or passed
    // through); the rest abort.
    size_t tables = 0;
    for (uint32_t device = 0; device < device_table_.entries(); ++device) {
        const auto id = static_cast<uint16_t>(device);
        const DeviceTableEntry entry = device_table_.read(id);
        if (!is_valid(entry) || amd::domain_id(entry) == 0) continue;
        const bool blocked = paging_mode(entry) == 0 &&
                             (entry.qwords[0] & (device_table_entry::read_permission |
                                                 device_table_entry::write_permission)) == 0;
        if (blocked) continue;
        if (interrupt_table_count_ == interrupt_table_capacity) {
            logger.error("%s: more than %zu devices; device ID 0x%04x gets no interrupt table (its interrupts are "
                         "aborted)",
                         name_, interrupt_table_capacity, id);
            continue;
        }
        const Result<PhysicalAddress> page = allocator_->allocate_page();
        if (!page.ok()) {
            logger.error("%s: no memory for device ID 0x%04x's interrupt table (its interrupts are aborted)", name_, id);
            continue;
        }
        memory_->zero_page(page.value());  // every entry RemapEn = 0: nothing is delivered
        interrupt_tables_[interrupt_table_count_++] = InterruptTable{id, page.value(), {}};
        ++tables;
    }
    interrupt_remapping_ = true;
    for (uint32_t device = 0; device < device_table_.entries(); ++device) {
        const auto id = static_cast<uint16_t>(device);
        DeviceTableEntry entry = device_table_.read(id);
        entry.qwords[2] = interrupt_word_for(id);
        if (!device_table_.update(id, entry) || invalidate_all_supported_) continue;
        SLUICE_TRY(submit(make_invalidate_device_table_entry(id), "INVALIDATE_DEVTAB_ENTRY"));
        SLUICE_TRY(submit(make_invalidate_interrupt_table(id), "INVALIDATE_INTERRUPT_TABLE"));
    }
    if (invalidate_all_supported_) {
        SLUICE_TRY(invalidate_everything());
    } else {
        SLUICE_TRY(complete("COMPLETION_WAIT after turning interrupt remapping on"));
    }
    logger.info("%s: interrupt remapping enabled (%zu device tables of %u entries; other device IDs abort)", name_,
                tables, 1u << interrupt_entries_order);
    return success();
}

Result<uint32_t> Iommu::write_new_entry(uint16_t requester_id, const passthrough::InterruptTarget& target) {
    SLUICE_TRY(usable());
    if (!interrupt_remapping_) return Error::unsupported;
    InterruptTable* table = interrupt_table_of(requester_id);
    if (table == nullptr) {
        logger.error("%s: device ID 0x%04x has no interrupt table (no domain holds it)", name_, requester_id);
        return Error::not_found;
    }
    if (target.destination > 0xff) {
        logger.error("%s: destination 0x%x does not fit the 8-bit field of 32-bit entries", name_, target.destination);
        return Error::invalid_argument;
    }
    for (uint32_t index = 0; index < (1u << interrupt_entries_order); ++index) {
        uint64_t& word = table->in_use[index / 64];
        const uint64_t bit = uint64_t{1} << (index % 64);
        if ((word & bit) != 0) continue;
        word |= bit;
        const InterruptRemappingTableEntry entry =
            InterruptRemappingTableEntry::fixed(target.vector, static_cast<uint8_t>(target.destination));
        SLUICE_TRY(memory_->write_bytes(table->table + index * sizeof entry, &entry, sizeof entry));
        return uint32_t{requester_id} << 8 | index;
    }
    logger.error("%s: device ID 0x%04x's interrupt table is full (%u entries)", name_, requester_id,
                 1u << interrupt_entries_order);
    return Error::capacity;
}

Status Iommu::clear_entry(uint32_t handle) {
    if (!interrupt_remapping_) return Error::unsupported;
    InterruptTable* table = interrupt_table_of(static_cast<uint16_t>(handle >> 8));
    const uint32_t index = handle & 0xff;
    if (table == nullptr || (handle >> 24) != 0 || (table->in_use[index / 64] & (uint64_t{1} << (index % 64))) == 0) {
        logger.error("%s: interrupt handle 0x%x is not in use", name_, handle);
        return Error::not_found;
    }
    const InterruptRemappingTableEntry cleared{};
    SLUICE_TRY(memory_->write_bytes(table->table + index * sizeof cleared, &cleared, sizeof cleared));
    table->in_use[index / 64] &= ~(uint64_t{1} << (index % 64));
    return success();
}

Status Iommu::invalidate_entries(uint32_t first, uint32_t last) {
    SLUICE_TRY(usable());
    if (!interrupt_remapping_) return Error::unsupported;
    if (first > last) return Error::invalid_argument;
    bool queued = false;
    for (size_t index = 0; index < interrupt_table_count_; ++index) {
        const uint16_t device = interrupt_tables_[index].device_id;
        if (device < (first >> 8) || device > (last >> 8)) continue;
        SLUICE_TRY(submit(make_invalidate_interrupt_table(device), "INVALIDATE_INTERRUPT_TABLE"));
        queued = true;
    }
    if (!queued) return success();
    return complete("COMPLETION_WAIT after interrupt table changes");
}

// QEMU 7.2's amd-iommu (measured with the DMA self-test and its
// amdvi_ir_* trace): its event log never receives events, so no refused
// interrupt is recorded; and a device's DMA write into 0xfeexxxxx reaches
// the interrupt path as device ID 0xa0 (the IVRS's IO-APIC), not as the
// device's own ID (edu's MSI arrives as 0x10), so a forged write is judged by
// 0xa0's entry (IntCtl abort here) and never by the writer's table.
passthrough::InterruptEnforcement Iommu::enforcement() const {
    passthrough::InterruptEnforcement enforcement;
    if (reports_faults_) return enforcement;
    enforcement.faults_recorded = false;
    enforcement.requester_validated = false;
    enforcement.why_not = "QEMU 7.2's amd-iommu records no event for a refused interrupt and takes a device's DMA "
                          "writes to 0xfeexxxxx as coming from device ID 0xa0";
    return enforcement;
}

Status Iommu::disable_translation() {
    if (state_ == IommuState::unused) return Error::invalid_argument;
    if (state_ == IommuState::stopped || !registers_.bound()) return success();
    SLUICE_TRY(stop());
    logger.info("%s: translation disabled", name_);
    return success();
}

// --- paging::InvalidationUnit ------------------------------------------------------

paging::InvalidationCapabilities Iommu::invalidation_capabilities() const {
    // INVALIDATE_IOMMU_PAGES reaches every power of two (2.4.3).
    return paging::InvalidationCapabilities{caches_not_present_, true,
                                            static_cast<uint8_t>(invalidate_pages::all_addresses_order)};
}

Status Iommu::invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order, bool leaf_only) {
    SLUICE_TRY(usable());
    if (!commands_run()) {
        invalidate_on_start_ = true;
        return success();
    }
    // PDE = 1 also drops cached page directory entries when a non-leaf
    // entry changed.
    return submit(make_invalidate_iommu_pages(domain_id, encode_invalidation_range(address, order), !leaf_only),
                  "INVALIDATE_IOMMU_PAGES");
}

Status Iommu::invalidate_domain(uint16_t domain_id) {
    SLUICE_TRY(usable());
    if (!commands_run()) {
        invalidate_on_start_ = true;
        return success();
    }
    return submit(make_invalidate_domain(domain_id), "INVALIDATE_IOMMU_PAGES");
}

Status Iommu::wait() {
    SLUICE_TRY(usable());
    if (!commands_run()) return success();
    return complete("COMPLETION_WAIT");
}

// --- Faults and events -----------------------------------------------------------

void Iommu::keep_fault(const passthrough::DmaFault& fault) {
    if (pending_count_ == pending_fault_capacity) {
        pending_first_ = (pending_first_ + 1) % pending_fault_capacity;
        --pending_count_;
        ++faults_lost_;
    }
    pending_faults_[(pending_first_ + pending_count_) % pending_fault_capacity] = fault;
    ++pending_count_;
}

void Iommu::service_event_log() {
    if (state_ == IommuState::unused || event_page_ == 0) return;
    // At most one ring's worth per call: a device faulting without pause
    // keeps the tail moving, and the hypervisor must not spin here forever.
    uint64_t taken = 0;
    for (Optional<EventLogEntry> entry = events_.take(); entry.has_value();
         entry = ++taken < EventLogBuffer::entry_count ? events_.take() : Optional<EventLogEntry>{}) {
        char line[192];
        describe_event(entry.value(), line, sizeof line);
        const DecodedEvent event = decode_event(entry.value());
        const auto code = static_cast<EventCode>(event.code);
        if (code != EventCode::io_page_fault && code != EventCode::illegal_device_table_entry) {
            logger.error("%s: %s", name_, line);
            continue;
        }
        logger.warning("%s: %s", name_, line);
        passthrough::DmaFault fault;
        fault.source = pci::PciAddress::from_requester_id(segment_, event.device_id);
        fault.address = event.address;
        fault.write = (event.flags & event_flags::write) != 0;
        fault.reason = event.code;
        fault.description = describe(code);
        keep_fault(fault);
    }
    if ((registers_.read(Register64::status) & status::event_log_overflow) != 0) {
        logger.warning("%s: the event log overflowed; later events were lost", name_);
        restart_event_log();
    }
}

void Iommu::restart_event_log() {
    // 3.4.3 / Status register: after an overflow the unit stops logging
    // until software restarts the log with EventLogEn.
    control_ &= ~control::event_log_enable;
    registers_.write(Register64::control, control_);
    const bool stopped = poll_until(*clock_, time_limit_, [&] {
        return (registers_.read(Register64::status) & status::event_log_running) == 0;
    });
    if (!stopped) {
        logger.error("%s: the event log did not stop; left off", name_);
        return;
    }
    events_.reset_pointers();
    registers_.write(Register64::status, status::event_log_overflow);
    if (commands_run()) {
        control_ |= control::event_log_enable;
        registers_.write(Register64::control, control_);
    }
}

size_t Iommu::take_faults(Span<passthrough::DmaFault> faults) {
    service_event_log();
    size_t written = 0;
    while (written < faults.size() && pending_count_ != 0) {
        faults[written++] = pending_faults_[pending_first_];
        pending_first_ = (pending_first_ + 1) % pending_fault_capacity;
        --pending_count_;
    }
    return written;
}

}  // namespace sluice::amd
