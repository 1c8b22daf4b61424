#include <drivers/passthrough/vtd/entries.hpp>

namespace sluice::vtd {

Result<ContextEntry> make_context_entry(const ContextEntryFields& fields, Capability capability,
                                        ExtendedCapability extended) {
    ContextEntry entry;
    AddressWidth width = fields.width;
    switch (fields.type) {
    case TranslationType::pass_through: {
        // 9.3 "AW": with pass-through the field must hold the largest AGAW
        // the hardware supports; the table pointer is ignored.
        if (!extended.pass_through()) return Error::unsupported;
        const Optional<AddressWidth> largest = largest_address_width(capability);
        if (!largest) return Error::unsupported;
        width = *largest;
        break;
    }
    case TranslationType::device_tlb:
        if (!extended.device_tlb()) return Error::unsupported;
        [[fallthrough]];
    case TranslationType::untranslated:
        if (fields.second_stage_table == 0 || !is_aligned(fields.second_stage_table, page_size))
            return Error::invalid_argument;
        if (!capability.supports_levels(levels(width))) return Error::unsupported;
        entry.set_second_stage_table(fields.second_stage_table);
        break;
    default: return Error::invalid_argument;
    }
    // 9.3 "DID": bits beyond the width CAP.ND reports are reserved; with CM
    // set, domain id 0 tags cached faulting entries and must not be used.
    if (capability.domain_id_bits() < 16 && (fields.domain_id >> capability.domain_id_bits()) != 0)
        return Error::unsupported;
    if (capability.caching_mode() && fields.domain_id == 0) return Error::unsupported;
    entry.set_translation_type(fields.type)
        .set_address_width(width)
        .set_domain_id(fields.domain_id)
        .set_fault_processing_disable(fields.fault_processing_disable)
        .set_present(true);
    return entry;
}

namespace {

// Root and context entries alike: 128 bits stored as two 64-bit halves in
// the order store() promises, P (bit 0 of the low half) written last when set.
template <typename Entry> void store_halves(PhysicalMemory& memory, PhysicalAddress address, const Entry& entry) {
    if (entry.present()) {
        memory.write64(address + 8, entry.high);
        memory.write64(address, entry.low);
    } else {
        memory.write64(address, entry.low);
        memory.write64(address + 8, entry.high);
    }
}

template <typename Entry> Entry load_halves(const PhysicalMemory& memory, PhysicalAddress address) {
    Entry entry;
    entry.low = memory.read64(address);
    entry.high = memory.read64(address + 8);
    return entry;
}

}  // namespace

void store(PhysicalMemory& memory, PhysicalAddress address, const ContextEntry& entry) {
    store_halves(memory, address, entry);
}

void store(PhysicalMemory& memory, PhysicalAddress address, const RootEntry& entry) {
    store_halves(memory, address, entry);
}

ContextEntry load_context_entry(const PhysicalMemory& memory, PhysicalAddress address) {
    return load_halves<ContextEntry>(memory, address);
}

RootEntry load_root_entry(const PhysicalMemory& memory, PhysicalAddress address) {
    return load_halves<RootEntry>(memory, address);
}

}  // namespace sluice::vtd
