#include <drivers/passthrough/iommu_context.hpp>
#include <drivers/passthrough/vtd/unit.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::vtd {
namespace {

constexpr Logger logger{"vtd"};

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

// FSTS bits software clears by writing 1 (11.4.7.1).
constexpr uint32_t invalidation_errors = bit(FaultStatus::invalidation_queue_error) |
                                         bit(FaultStatus::invalidation_completion_error) |
                                         bit(FaultStatus::invalidation_timeout_error);

}  // namespace

bool UnitDefinition::names(const pci::PciAddress& device) const {
    if (device.segment != segment) return false;
    const uint16_t requester = device.requester_id();
    for (size_t index = 0; index < scope_count; ++index)
        if (scopes[index].contains(requester)) return true;
    return false;
}

// --- Set-up ------------------------------------------------------------------------

Status Unit::initialize(unsigned index, const UnitDefinition& definition, const UnitServices& services,
                        const UnitSettings& settings) {
    index_ = index;
    definition_ = definition;
    settings_ = settings;
    memory_ = services.memory;
    allocator_ = services.allocator;
    clock_ = services.clock;
    cache_ = services.cache;
    format(name_, sizeof name_, "vtd%u at 0x%llx", index, printable(definition.register_base));
    if (services.registers == nullptr || memory_ == nullptr || allocator_ == nullptr || clock_ == nullptr) {
        failed_ = true;
        logger.error("%s: registers could not be mapped; unit not used", name_);
        return Error::unsupported;
    }
    registers_ = RegisterFile(*services.registers);

    capability_ = Capability{registers_.read(Register64::capability)};
    extended_ = ExtendedCapability{registers_.read(Register64::extended_capability)};
    const Version version{registers_.read(Register32::version)};
    // Nothing decodes the address: reads return all ones (PCI master abort).
    if (capability_.value == ~uint64_t{0} || extended_.value == ~uint64_t{0}) {
        failed_ = true;
        logger.error("%s: registers read all ones, no unit answers there; unit not used", name_);
        return Error::hardware_failure;
    }
    if (settings.verbose) {
        logger.info("%s: version %u.%u", name_, version.major(), version.minor());
        log_capabilities(logger, index, definition.register_base, capability_, extended_);
    }
    if (!largest_address_width(capability_)) {
        failed_ = true;
        logger.error("%s: SAGAW 0x%x offers no 3-, 4- or 5-level tables; unit not used", name_,
                     capability_.supported_adjusted_guest_address_widths());
        return Error::unsupported;
    }
    // The fault recording and IOTLB registers sit where CAP.FRO and ECAP.IRO
    // say; they must lie inside the register set the DRHD describes (8.3).
    const uint64_t fault_end = capability_.fault_recording_offset() + 16ull * capability_.fault_recording_count();
    if (!registers_.covers(0, fault_end) || !registers_.covers(extended_.iotlb_register_offset(), 16)) {
        failed_ = true;
        logger.error("%s: fault recording registers (FRO 0x%x, NFR %u) or IOTLB registers (IRO 0x%x) lie outside the "
                     "register set; unit not used",
                     name_, capability_.fault_recording_offset(), capability_.fault_recording_count(),
                     extended_.iotlb_register_offset());
        return Error::unsupported;
    }
    if (!extended_.page_walk_coherency() && cache_ == nullptr) {
        failed_ = true;
        logger.error("%s: table walks do not snoop the caches (ECAP.C = 0) and no cache write-back is available; "
                     "unit not used",
                     name_);
        return Error::unsupported;
    }

    // Whatever ran before (firmware, a previous kernel) may have left the unit
    // translating or queueing; take it over from a known state.
    const uint32_t status = registers_.read(Register32::global_status);
    if (has(status, GlobalStatus::translation_enable)) {
        logger.warning("%s: translation was left enabled; disabling it to take over", name_);
        SLUICE_TRY(global_command(GlobalCommand::translation_enable, false, GlobalStatus::translation_enable,
                                  "disabling translation"));
    }
    if (has(status, GlobalStatus::queued_invalidation_enable)) SLUICE_TRY(stop_queued_invalidation());

    // Faults are polled, never signalled: mask the fault event interrupt
    // (11.4.7.2), then drop what an earlier owner left recorded.
    registers_.write(Register32::fault_event_control, fault_event_interrupt_mask);
    (void)take_faults(Span<passthrough::DmaFault>());
    registers_.write(Register32::fault_status, invalidation_errors | bit(FaultStatus::primary_fault_overflow));

    // A fresh, empty root table: every request is blocked (root entry not
    // present) until a device is attached.
    const Result<PhysicalAddress> root = allocator_->allocate_page();
    if (!root.ok()) {
        failed_ = true;
        logger.error("%s: no memory for the root table; unit not used", name_);
        return root.error();
    }
    root_table_ = root.value();
    memory_->zero_page(root_table_);
    write_back(root_table_, page_size);
    registers_.write(Register64::root_table_address, root_table_address_value(root_table_));
    SLUICE_TRY(global_command(GlobalCommand::set_root_table_pointer, true, GlobalStatus::root_table_pointer,
                              "setting the root table pointer"));

    if (extended_.queued_invalidation() && settings.queued_invalidation) SLUICE_TRY(start_queued_invalidation());
    initialized_ = true;
    if (settings.verbose)
        logger.info("%s: root table at 0x%llx, %s invalidation, %s", name_, printable(root_table_),
                    queue_ != 0 ? "queued" : "register-based",
                    coherent() ? "coherent table walks" : "table updates written back (not coherent)");
    return success();
}

bool Unit::translation_enabled() const {
    return registers_.bound() && has(registers_.read(Register32::global_status), GlobalStatus::translation_enable);
}

Error Unit::fence(const char* what, Error error) {
    if (!failed_) {
        if (error == Error::timed_out)
            logger.error("%s: %s did not complete within %llu ms; unit fenced: it is not used again and the devices "
                         "behind it are not protected",
                         name_, what, printable(settings_.timeout_nanoseconds / 1'000'000));
        else
            logger.error("%s: %s failed in the hardware; unit fenced: it is not used again and the devices behind it "
                         "are not protected",
                         name_, what);
    }
    failed_ = true;
    return error;
}

bool Unit::poll32(Register32 reg, uint32_t mask, uint32_t expected) const {
    return poll_until(*clock_, settings_.timeout_nanoseconds,
                      [&] { return (registers_.read(reg) & mask) == expected; });
}

Status Unit::global_command(GlobalCommand command, bool set, GlobalStatus status, const char* what) {
    if (failed_) return Error::hardware_failure;
    // 11.4.4.1: GCMD is written as the current GSTS (one-shot bits cleared)
    // with the one command changed, so no other enable bit flips.
    const uint32_t current = registers_.read(Register32::global_status);
    registers_.write(Register32::global_command, global_command_value(current, command, set));
    // One-shot commands (SRTP, WBF) report completion differently: RTPS is
    // set once the pointer is latched, WBFS clears once the flush is done.
    const bool expected = command == GlobalCommand::write_buffer_flush ? false : set;
    if (!poll32(Register32::global_status, bit(status), expected ? bit(status) : 0))
        return fence(what, Error::timed_out);
    return success();
}

Status Unit::flush_write_buffer() {
    // 6.8 "Write Buffer Flushing": needed only where CAP.RWBF says so.
    if (!capability_.required_write_buffer_flushing()) return success();
    return global_command(GlobalCommand::write_buffer_flush, true, GlobalStatus::write_buffer_flush,
                          "flushing the write buffer");
}

void Unit::write_back(PhysicalAddress address, uint64_t length) {
    if (!extended_.page_walk_coherency() && cache_ != nullptr) cache_->write_back(address, length);
}

// --- Queued invalidation (6.5.2) -----------------------------------------------------

Status Unit::start_queued_invalidation() {
    const Result<PhysicalAddress> queue = allocator_->allocate_page();
    if (!queue.ok()) {
        logger.warning("%s: no memory for the invalidation queue; using register-based invalidation", name_);
        return success();
    }
    const Result<PhysicalAddress> status = allocator_->allocate_page();
    if (!status.ok()) {
        allocator_->free_page(queue.value());
        logger.warning("%s: no memory for the invalidation status page; using register-based invalidation", name_);
        return success();
    }
    memory_->zero_page(queue.value());
    memory_->zero_page(status.value());
    // 11.4.9.2: the tail must be 0 when the queue is enabled; the head is
    // reset by the hardware.
    registers_.write(Register64::invalidation_queue_tail, 0);
    registers_.write(Register64::invalidation_queue_address, invalidation_queue_address_value(queue.value(), 0));
    queue_ = queue.value();
    status_ = status.value();
    tail_ = 0;
    const Status enabled = global_command(GlobalCommand::queued_invalidation_enable, true,
                                          GlobalStatus::queued_invalidation_enable, "enabling queued invalidation");
    if (!enabled.ok()) queue_ = 0;
    return enabled;
}

Status Unit::stop_queued_invalidation() {
    // A queue that stopped on an error (6.5.2.10: hardware fetches nothing
    // more until software clears the error) would never drain: discard what
    // the previous owner left by moving the tail (software's pointer) back to
    // the head, then clear the error.
    const uint32_t fault_status = registers_.read(Register32::fault_status);
    if ((fault_status & invalidation_errors) != 0) {
        logger.warning("%s: the previous owner's invalidation queue stopped on an error (FSTS 0x%x); discarding it",
                       name_, fault_status);
        registers_.write(Register64::invalidation_queue_tail, registers_.read(Register64::invalidation_queue_head));
        registers_.write(Register32::fault_status, invalidation_errors);
    }
    // 11.4.4.1 QIE: the queue must be empty (IQH = IQT) before it is turned off.
    const bool drained = poll_until(*clock_, settings_.timeout_nanoseconds, [&] {
        return registers_.read(Register64::invalidation_queue_head) ==
               registers_.read(Register64::invalidation_queue_tail);
    });
    if (!drained) return fence("draining the invalidation queue left by a previous owner", Error::timed_out);
    SLUICE_TRY(global_command(GlobalCommand::queued_invalidation_enable, false, GlobalStatus::queued_invalidation_enable,
                              "disabling queued invalidation"));
    queue_ = 0;
    return success();
}

Status Unit::queue_descriptor(const InvalidationDescriptor& descriptor) {
    if (failed_) return Error::hardware_failure;
    const uint32_t next = static_cast<uint32_t>((tail_ + 1) % queue_entries);
    // A full queue (the tail one slot behind the head) drains as the hardware
    // fetches descriptors.
    const uint64_t next_pointer = invalidation_queue_pointer(next);
    if (!poll_until(*clock_, settings_.timeout_nanoseconds,
                    [&] { return registers_.read(Register64::invalidation_queue_head) != next_pointer; }))
        return fence("fetching queued invalidation descriptors", Error::timed_out);
    const PhysicalAddress slot = queue_ + static_cast<PhysicalAddress>(tail_) * invalidation_descriptor_size;
    memory_->write64(slot, descriptor.low);
    memory_->write64(slot + 8, descriptor.high);
    tail_ = next;
    registers_.write(Register64::invalidation_queue_tail, invalidation_queue_pointer(tail_));
    return success();
}

Status Unit::queue_wait() {
    if (failed_) return Error::hardware_failure;
    // 6.5.2.9: the wait descriptor writes its status data once every earlier
    // descriptor completed. A fresh value per wait tells this wait apart.
    ++sequence_;
    if (sequence_ == 0) sequence_ = 1;
    InvalidationWait request;
    request.status_address = status_;
    request.status_data = sequence_;
    request.fence = true;
    SLUICE_TRY(queue_descriptor(invalidation_wait(request)));
    bool queue_error = false;
    const bool completed = poll_until(*clock_, settings_.timeout_nanoseconds, [&] {
        if ((registers_.read(Register32::fault_status) & bit(FaultStatus::invalidation_queue_error)) != 0) {
            queue_error = true;
            return true;
        }
        return static_cast<uint32_t>(memory_->read64(status_)) == sequence_;
    });
    if (queue_error) {
        // 6.5.2.10: the hardware stopped at the descriptor IQH points to.
        logger.error("%s: invalidation queue error at head 0x%llx (IQERCD 0x%llx)", name_,
                     printable(registers_.read(Register64::invalidation_queue_head)),
                     printable(registers_.read(Register64::invalidation_queue_error_record)));
        return fence("queued invalidation", Error::hardware_failure);
    }
    if (!completed) return fence("queued invalidation (wait descriptor)", Error::timed_out);
    return success();
}

// --- Register-based invalidation (6.5.1, 11.4.6) ------------------------------------------

Status Unit::register_context_invalidation(ContextInvalidationGranularity granularity, uint16_t domain_id,
                                           uint16_t source_id) {
    if (failed_) return Error::hardware_failure;
    registers_.write(Register64::context_command, context_command_value(granularity, domain_id, source_id));
    uint64_t value = 0;
    if (!poll_until(*clock_, settings_.timeout_nanoseconds, [&] {
            value = registers_.read(Register64::context_command);
            return !context_command_pending(value);
        }))
        return fence("context-cache invalidation (CCMD)", Error::timed_out);
    // 11.4.6.1 CAIG: 0 means the request was refused.
    if (context_command_actual_granularity(value) == ContextInvalidationGranularity::none)
        return fence("context-cache invalidation (CCMD)", Error::hardware_failure);
    return success();
}

Status Unit::register_iotlb_invalidation(const IotlbInvalidation& request) {
    if (failed_) return Error::hardware_failure;
    if (request.granularity == IotlbInvalidationGranularity::page)
        registers_.write(invalidate_address_register(extended_),
                         invalidate_address_value(request.address, request.address_mask, request.invalidation_hint));
    registers_.write(iotlb_invalidate_register(extended_),
                     iotlb_invalidate_value(request.granularity, request.domain_id, request.drain_reads,
                                            request.drain_writes));
    uint64_t value = 0;
    if (!poll_until(*clock_, settings_.timeout_nanoseconds, [&] {
            value = registers_.read(iotlb_invalidate_register(extended_));
            return !iotlb_invalidate_pending(value);
        }))
        return fence("IOTLB invalidation (IOTLB_REG)", Error::timed_out);
    // 11.4.6.3 IAIG: 0 means the request was refused.
    if (iotlb_invalidate_actual_granularity(value) == IotlbInvalidationGranularity::none)
        return fence("IOTLB invalidation (IOTLB_REG)", Error::hardware_failure);
    return success();
}

Status Unit::invalidate_context(ContextInvalidationGranularity granularity, uint16_t domain_id, uint16_t source_id) {
    ++context_invalidations_;
    if (queue_ != 0) return queue_descriptor(context_cache_invalidation(granularity, domain_id, source_id));
    return register_context_invalidation(granularity, domain_id, source_id);
}

Status Unit::invalidate_iotlb(IotlbInvalidation request) {
    ++iotlb_invalidations_;
    // 6.5.2.3 DR/DW: drain requests only where the hardware offers it.
    request.drain_reads = capability_.read_draining();
    request.drain_writes = capability_.write_draining();
    if (queue_ != 0) return queue_descriptor(iotlb_invalidation(request));
    return register_iotlb_invalidation(request);
}

Status Unit::invalidate_everything() {
    SLUICE_TRY(invalidate_context(ContextInvalidationGranularity::global, 0, 0));
    IotlbInvalidation global;
    global.granularity = IotlbInvalidationGranularity::global;
    SLUICE_TRY(invalidate_iotlb(global));
    return wait();
}

// --- paging::InvalidationUnit -------------------------------------------------------------

paging::InvalidationCapabilities Unit::invalidation_capabilities() const {
    paging::InvalidationCapabilities capabilities;
    // With Caching Mode the unit may cache not-present entries (6.1), so
    // added entries need an invalidation. Where CAP.RWBF asks for write-buffer
    // flushes after table updates (6.8), treating it the same way makes the
    // batch call invalidate_*() after every change, which flushes first.
    capabilities.caches_not_present = capability_.caching_mode() || capability_.required_write_buffer_flushing();
    capabilities.page_selective = capability_.page_selective_invalidation();
    capabilities.max_page_order = static_cast<uint8_t>(capability_.maximum_address_mask());
    return capabilities;
}

Status Unit::invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order, bool leaf_only) {
    if (failed_) return Error::hardware_failure;
    SLUICE_TRY(flush_write_buffer());
    IotlbInvalidation request;
    request.granularity = IotlbInvalidationGranularity::page;
    request.domain_id = domain_id;
    request.address = address;
    request.address_mask = order;
    request.invalidation_hint = leaf_only;
    // Outside what PSI and MAMV allow (the batch should not ask), the
    // domain-selective form is always correct.
    if (!check(request, capability_).ok()) request = IotlbInvalidation{IotlbInvalidationGranularity::domain, domain_id};
    return invalidate_iotlb(request);
}

Status Unit::invalidate_domain(uint16_t domain_id) {
    if (failed_) return Error::hardware_failure;
    SLUICE_TRY(flush_write_buffer());
    return invalidate_iotlb(IotlbInvalidation{IotlbInvalidationGranularity::domain, domain_id});
}

Status Unit::wait() {
    if (failed_) return Error::hardware_failure;
    // Register-based invalidations complete before invalidate_*() returns.
    if (queue_ != 0) return queue_wait();
    return success();
}

// --- Devices and domains --------------------------------------------------------------------

bool Unit::translates(const pci::PciAddress& device) const {
    if (device.segment != definition_.segment) return false;
    if (definition_.names(device)) return true;
    if (!definition_.include_pci_all) return false;
    // 8.3: INCLUDE_PCI_ALL covers what no other unit of the segment names.
    for (const Unit& peer : peers_)
        if (&peer != this && !peer.definition_.include_pci_all && peer.definition_.names(device)) return false;
    return true;
}

uint16_t Unit::domain_id_of(const passthrough::IommuContext& domain) const {
    for (size_t index = 0; index < domain_count_; ++index)
        if (domains_[index].domain == &domain) return domains_[index].id;
    return 0;
}

Result<uint16_t> Unit::domain_id_for(const passthrough::IommuContext& domain) {
    if (const uint16_t existing = domain_id_of(domain); existing != 0) return existing;
    const uint16_t id = static_cast<uint16_t>(domain_count_ + 1);
    if (domain_count_ == max_domains || id >= capability_.domain_count()) {
        logger.error("%s: no domain identifier left for domain %u (%zu in use, CAP.ND allows %u)", name_, domain.id(),
                     domain_count_, capability_.domain_count());
        return Error::capacity;
    }
    domains_[domain_count_++] = DomainSlot{&domain, id};
    return id;
}

Result<PhysicalAddress> Unit::context_table_for(uint8_t bus) {
    const PhysicalAddress root_entry = root_entry_address(root_table_, bus);
    const RootEntry existing = load_root_entry(*memory_, root_entry);
    if (existing.present()) return existing.context_table();
    const PhysicalAddress table = SLUICE_TRY(allocator_->allocate_page());
    memory_->zero_page(table);
    write_back(table, page_size);
    // The context table is complete (all entries not present) before the
    // root entry that makes it reachable.
    store(*memory_, root_entry, RootEntry::pointing_to(table));
    write_back(root_entry, sizeof(RootEntry));
    return table;
}

Status Unit::attach(passthrough::IommuContext& domain, const pci::PciAddress& device, passthrough::AttachMode mode) {
    if (failed_ || !initialized_) return Error::hardware_failure;
    if (!translates(device)) {
        logger.error("%s: %s is not in this unit's scope", name_, pci::describe(device).c_str());
        return Error::invalid_argument;
    }
    const uint16_t source_id = device.requester_id();

    ContextEntry wanted;  // not present: blocked
    uint16_t domain_id = 0;
    if (mode != passthrough::AttachMode::blocked) {
        ContextEntryFields fields;
        if (mode == passthrough::AttachMode::passthrough) {
            fields.type = TranslationType::pass_through;
        } else {
            if (domain.iommu_table_kind() != passthrough::IommuTableKind::vtd_second_level) {
                logger.error("%s: domain %u does not have VT-d tables", name_, domain.id());
                return Error::invalid_argument;
            }
            const Optional<AddressWidth> width = address_width_for_levels(domain.iommu_levels());
            if (!width || !capability_.supports_levels(domain.iommu_levels())) {
                logger.error("%s: domain %u uses %u-level tables, which SAGAW 0x%x does not offer", name_, domain.id(),
                             domain.iommu_levels(), capability_.supported_adjusted_guest_address_widths());
                return Error::unsupported;
            }
            fields.type = TranslationType::untranslated;
            fields.second_stage_table = domain.iommu_root();
            fields.width = *width;
        }
        domain_id = SLUICE_TRY(domain_id_for(domain));
        fields.domain_id = domain_id;
        const Result<ContextEntry> entry = make_context_entry(fields, capability_, extended_);
        if (!entry.ok()) {
            logger.error("%s: %s: the unit cannot %s (%s)", name_, pci::describe(device).c_str(),
                         mode == passthrough::AttachMode::passthrough ? "pass requests through (ECAP.PT)"
                                                                      : "translate with these tables",
                         describe(entry.error()));
            return entry.error();
        }
        wanted = entry.value();
    }

    const PhysicalAddress table = SLUICE_TRY(context_table_for(device.bus));
    const PhysicalAddress address = context_entry_address(table, static_cast<uint8_t>(source_id & 0xff));
    const ContextEntry current = load_context_entry(*memory_, address);
    if (current.present() && current.low == wanted.low && current.high == wanted.high) {
        if (mode == passthrough::AttachMode::translated)
            SLUICE_TRY(domain.invalidation_targets().attach(*this, domain_id));
        return success();
    }

    if (current.present()) {
        // 6.5.3.3 ("Guidance to Software for Invalidations"): a present entry
        // is first made not present and its cached copies and the
        // translations cached under its domain-id dropped; only then may the
        // new entry be written.
        store(*memory_, address, ContextEntry{});
        write_back(address, sizeof(ContextEntry));
        SLUICE_TRY(flush_write_buffer());
        SLUICE_TRY(invalidate_context(ContextInvalidationGranularity::device, current.domain_id(), source_id));
        SLUICE_TRY(invalidate_iotlb(IotlbInvalidation{IotlbInvalidationGranularity::domain, current.domain_id()}));
        SLUICE_TRY(wait());
    }
    if (wanted.present()) {
        store(*memory_, address, wanted);
        write_back(address, sizeof(ContextEntry));
        if (translation_enabled()) {
            if (capability_.caching_mode()) {
                // 6.1: with Caching Mode the not-present entry may be cached
                // under domain-id 0, and so may faulting translations.
                SLUICE_TRY(invalidate_context(ContextInvalidationGranularity::device, 0, source_id));
                SLUICE_TRY(invalidate_iotlb(IotlbInvalidation{IotlbInvalidationGranularity::domain, domain_id}));
                SLUICE_TRY(wait());
            } else {
                SLUICE_TRY(flush_write_buffer());
            }
        }
        // Before translation is on, enable_translation() invalidates both
        // caches globally, which covers every entry written until then.
    }
    if (mode == passthrough::AttachMode::translated) SLUICE_TRY(domain.invalidation_targets().attach(*this, domain_id));
    if (settings_.verbose)
        logger.info("%s: %s %s (domain-id %u)", name_, pci::describe(device).c_str(),
                    mode == passthrough::AttachMode::blocked       ? "blocked"
                    : mode == passthrough::AttachMode::passthrough ? "passes through"
                                                                   : "translated",
                    domain_id);
    return success();
}

Status Unit::enable_translation() {
    if (failed_ || !initialized_) return Error::hardware_failure;
    if (translation_enabled()) return success();
    // 11.4.4.1 SRTP: after the root table pointer is set, the context cache
    // and then the IOTLB are invalidated globally before translation is used;
    // doing it here also covers every context entry written since.
    SLUICE_TRY(flush_write_buffer());
    SLUICE_TRY(invalidate_everything());
    SLUICE_TRY(global_command(GlobalCommand::translation_enable, true, GlobalStatus::translation_enable,
                              "enabling translation"));
    logger.info("%s: DMA remapping enabled", name_);
    return success();
}

Status Unit::disable_translation() {
    if (failed_ || !initialized_) return Error::hardware_failure;
    if (!translation_enabled()) return success();
    SLUICE_TRY(global_command(GlobalCommand::translation_enable, false, GlobalStatus::translation_enable,
                              "disabling translation"));
    logger.info("%s: DMA remapping disabled", name_);
    return success();
}

// --- Interrupt remapping (5.1, 9.10) ---------------------------------------------------------

Status Unit::enable_interrupt_remapping(bool x2apic) {
    if (failed_ || !initialized_) return Error::hardware_failure;
    if (!extended_.interrupt_remapping()) {
        logger.warning("%s: no interrupt remapping (ECAP.IR = 0): its devices may raise any interrupt", name_);
        return Error::unsupported;
    }
    if (queue_ == 0) {
        logger.warning("%s: interrupt remapping needs queued invalidation, which is off: its devices may raise any "
                       "interrupt",
                       name_);
        return Error::unsupported;
    }
    if (x2apic && !extended_.extended_interrupt_mode()) {
        logger.warning("%s: x2APIC destinations need ECAP.EIM: its devices may raise any interrupt", name_);
        return Error::unsupported;
    }
    if (interrupt_table_ != 0) return success();
    const Result<PhysicalAddress> table = allocator_->allocate_page();
    if (!table.ok()) {
        logger.error("%s: no memory for the interrupt remapping table: its devices may raise any interrupt", name_);
        return table.error();
    }
    // Every entry not present: until an entry is written, each remappable
    // request faults (reason 22h) and nothing is delivered.
    memory_->zero_page(table.value());
    write_back(table.value(), page_size);
    registers_.write(Register64::interrupt_remapping_table_address,
                     interrupt_remapping_table_address_value(table.value(), interrupt_entries_order, x2apic));
    const Status latched = global_command(GlobalCommand::set_interrupt_remapping_table_pointer, true,
                                          GlobalStatus::interrupt_remapping_table_pointer,
                                          "setting the interrupt remapping table pointer");
    if (!latched.ok()) {
        allocator_->free_page(table.value());
        return latched;
    }
    // 6.5.2.8: whatever the entry cache held for an earlier table goes
    // before the new table is used.
    interrupt_table_ = table.value();
    x2apic_destinations_ = x2apic;
    Status invalidated = queue_descriptor(interrupt_entry_cache_invalidation());
    if (invalidated.ok()) invalidated = queue_wait();
    if (!invalidated.ok()) {
        interrupt_table_ = 0;
        return invalidated;
    }
    ++interrupt_entry_invalidations_;
    // Compatibility-format interrupts bypass the table: keep them blocked
    // (CFI clear), whatever a previous owner chose.
    if (has(registers_.read(Register32::global_status), GlobalStatus::compatibility_format_interrupt))
        SLUICE_TRY(global_command(GlobalCommand::compatibility_format_interrupt, false,
                                  GlobalStatus::compatibility_format_interrupt,
                                  "blocking compatibility-format interrupts"));
    const Status enabled = global_command(GlobalCommand::interrupt_remapping_enable, true,
                                          GlobalStatus::interrupt_remapping_enable,
                                          "enabling interrupt remapping");
    if (!enabled.ok()) {
        interrupt_table_ = 0;
        return enabled;
    }
    logger.info("%s: interrupt remapping enabled (%zu entries, %s destinations, compatibility format blocked)", name_,
                interrupt_entries, x2apic ? "x2APIC" : "xAPIC");
    return success();
}

Result<uint32_t> Unit::write_new_entry(uint16_t requester_id, const passthrough::InterruptTarget& target) {
    if (interrupt_table_ == 0) return Error::unsupported;
    if (failed_) return Error::hardware_failure;
    for (uint32_t index = 0; index < interrupt_entries; ++index) {
        uint64_t& word = interrupt_in_use_[index / 64];
        const uint64_t mask = uint64_t{1} << (index % 64);
        if ((word & mask) != 0) continue;
        word |= mask;
        const InterruptRemappingTableEntry entry =
            InterruptRemappingTableEntry::remapped(target.vector, target.destination, requester_id, x2apic_destinations_);
        const PhysicalAddress slot = interrupt_table_ + PhysicalAddress{index} * sizeof(InterruptRemappingTableEntry);
        // The hardware reads the entry as one 128-bit unit but only once it
        // is invalidated; the high half (source validation) goes first so a
        // present low half never pairs with a stale requester.
        memory_->write64(slot + 8, entry.high);
        memory_->write64(slot, entry.low);
        write_back(slot, sizeof entry);
        return index;
    }
    logger.error("%s: interrupt remapping table full (%zu entries)", name_, interrupt_entries);
    return Error::capacity;
}

Status Unit::clear_entry(uint32_t index) {
    if (interrupt_table_ == 0) return Error::unsupported;
    if (index >= interrupt_entries || (interrupt_in_use_[index / 64] & (uint64_t{1} << (index % 64))) == 0) {
        logger.error("%s: interrupt entry %u is not in use", name_, index);
        return Error::not_found;
    }
    const PhysicalAddress slot = interrupt_table_ + PhysicalAddress{index} * sizeof(InterruptRemappingTableEntry);
    memory_->write64(slot, 0);  // P clear first: the entry stops delivering
    memory_->write64(slot + 8, 0);
    write_back(slot, sizeof(InterruptRemappingTableEntry));
    interrupt_in_use_[index / 64] &= ~(uint64_t{1} << (index % 64));
    return success();
}

// Measured on QEMU 7.2's intel-iommu (intremap on, under TCG) with the DMA
// self-test's edu checks: with IRE set and CFI clear, a compatibility-format
// write to 0xfee00000 was still delivered; a DMA write into the interrupt
// range naming another requester's entry was delivered (the emulation has no
// requester ID for it, so no source validation); a remappable MSI through a
// freed, invalidated entry was dropped but left no fault record.
passthrough::InterruptEnforcement Unit::enforcement() const {
    passthrough::InterruptEnforcement enforcement;
    if (!settings_.emulated) return enforcement;
    enforcement.compatibility_format_blocked = false;
    enforcement.requester_validated = false;
    enforcement.faults_recorded = false;
    enforcement.why_not = "QEMU 7.2's intel-iommu delivers compatibility-format interrupts, does not validate the "
                          "requester of DMA writes to 0xfeexxxxx and records no interrupt-remapping fault";
    return enforcement;
}

Status Unit::invalidate_entries(uint32_t first, uint32_t last) {
    if (interrupt_table_ == 0) return Error::unsupported;
    if (first > last || last >= interrupt_entries) return Error::invalid_argument;
    // One index-selective invalidation over the aligned block holding both
    // ends (6.5.2.8 IM), or a global one when that block is the whole table.
    const unsigned mask = interrupt_index_mask(first, last);
    const InvalidationDescriptor descriptor =
        mask >= interrupt_entries_order
            ? interrupt_entry_cache_invalidation()
            : interrupt_entry_cache_invalidation(true, static_cast<uint16_t>(first & ~((1u << mask) - 1)), mask);
    SLUICE_TRY(queue_descriptor(descriptor));
    SLUICE_TRY(queue_wait());
    ++interrupt_entry_invalidations_;
    return success();
}

// --- Faults (7.2.1 Primary Fault Logging) ------------------------------------------------------

void Unit::log_fault(const FaultRecord& record) const {
    char text[log_line_capacity];
    format_fault_record(text, sizeof text, record);
    logger.warning("%s: %s", name_, text);
}

size_t Unit::take_faults(Span<passthrough::DmaFault> faults) {
    if (!registers_.bound() || failed_) return 0;
    const uint32_t status = registers_.read(Register32::fault_status);
    size_t taken = 0;
    if ((status & bit(FaultStatus::primary_pending_fault)) != 0) {
        // Records are processed from FRI on, cyclically, up to the first one
        // whose F bit is clear; each is cleared by writing 1 to F.
        const unsigned count = capability_.fault_recording_count();
        unsigned index = fault_record_index(status) % count;
        for (unsigned processed = 0; processed < count; ++processed, index = (index + 1) % count) {
            FaultRecord record;
            record.high = registers_.read(fault_recording_register_high(capability_, index));
            if (!record.fault()) break;
            record.low = registers_.read(fault_recording_register_low(capability_, index));
            registers_.write(fault_recording_register_last_doubleword(capability_, index), fault_record_clear);
            log_fault(record);
            if (taken == faults.size()) continue;
            passthrough::DmaFault& fault = faults[taken++];
            fault.source = pci::PciAddress::from_requester_id(definition_.segment, record.source_id());
            fault.address = record.fault_information();
            fault.write = record.request_type() == FaultRequestType::write;
            fault.reason = record.reason();
            fault.description = describe_fault_reason(record.reason());
        }
    }
    if ((status & bit(FaultStatus::primary_fault_overflow)) != 0) {
        logger.warning("%s: fault recording overflowed; faults were lost", name_);
        registers_.write(Register32::fault_status, bit(FaultStatus::primary_fault_overflow));
    }
    return taken;
}

}  // namespace sluice::vtd
