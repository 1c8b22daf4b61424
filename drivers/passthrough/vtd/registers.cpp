#include <drivers/passthrough/vtd/registers.hpp>

#include <sluice/format.hpp>

namespace sluice::vtd {
namespace {

// "39", "39+48", ... for SAGAW; "none" when it offers no width this driver knows.
size_t format_widths(char* buffer, size_t capacity, Capability capability) {
    size_t length = 0;
    const char* separator = "";
    for (unsigned levels = 3; levels <= 5; ++levels) {
        if (!capability.supports_levels(levels)) continue;
        length += format(buffer + length, capacity - length, "%s%u", separator, 30 + 9 * (levels - 2));
        separator = "+";
    }
    if (length == 0) length = format(buffer, capacity, "none");
    return length;
}

const char* large_pages(Capability capability) {
    if (capability.supports_1g_pages() && capability.supports_2m_pages()) return "2M+1G";
    if (capability.supports_2m_pages()) return "2M";
    if (capability.supports_1g_pages()) return "1G";  // not a valid combination (11.4.2), shown as found
    return "none";
}

}  // namespace

size_t format_capabilities(char* buffer, size_t capacity, Capability capability, ExtendedCapability extended) {
    char widths[16];
    format_widths(widths, sizeof widths, capability);
    return format(buffer, capacity,
                  "domains %u, SAGAW %s, MGAW %u, SSLPS %s, FRO 0x%x, NFR %u, PSI %u, MAMV %u, CM %u, RWBF %u, "
                  "ZLR %u, PLMR %u, PHMR %u, DWD %u, DRD %u; C %u, QI %u, DT %u, IR %u, EIM %u, PT %u, SC %u, "
                  "IRO 0x%x, NEST %u, PASID %u, SMTS %u",
                  capability.domain_count(), widths, capability.maximum_guest_address_width(), large_pages(capability),
                  capability.fault_recording_offset(), capability.fault_recording_count(),
                  capability.page_selective_invalidation(), capability.maximum_address_mask(),
                  capability.caching_mode(), capability.required_write_buffer_flushing(),
                  capability.zero_length_read(), capability.protected_low_memory_region(),
                  capability.protected_high_memory_region(), capability.write_draining(), capability.read_draining(),
                  extended.page_walk_coherency(), extended.queued_invalidation(), extended.device_tlb(),
                  extended.interrupt_remapping(), extended.extended_interrupt_mode(), extended.pass_through(),
                  extended.snoop_control(), extended.iotlb_register_offset(), extended.nested_translation(),
                  extended.pasid(), extended.scalable_mode());
}

void log_capabilities(const Logger& logger, unsigned unit, PhysicalAddress register_base, Capability capability,
                      ExtendedCapability extended) {
    logger.info("unit %u at 0x%llx: CAP 0x%llx ECAP 0x%llx", unit, static_cast<unsigned long long>(register_base),
                static_cast<unsigned long long>(capability.value), static_cast<unsigned long long>(extended.value));
    char decoded[log_line_capacity];
    format_capabilities(decoded, sizeof decoded, capability, extended);
    logger.info("unit %u: %s", unit, decoded);
}

const char* describe_fault_reason(uint8_t reason) {
    switch (reason) {
    // 7.1.3 Table 30, legacy-mode DMA remapping (condition codes in the comments).
    case 0x01: return "root entry not present";                                    // LRT.2
    case 0x02: return "context entry not present";                                 // LCT.2
    case 0x03: return "invalid context entry (address width, type or table)";      // LCT.4
    case 0x04: return "address beyond the address width";                          // LGN.1
    case 0x05: return "write to a page without write permission";                  // LGN.2
    case 0x06: return "read from a page without read permission";                  // LGN.3
    case 0x07: return "second-stage paging entry unreadable";                      // LSS.1
    case 0x08: return "root entry unreadable";                                     // LRT.1
    case 0x09: return "context entry unreadable";                                  // LCT.1
    case 0x0a: return "reserved field set in a root entry";                        // LRT.3
    case 0x0b: return "reserved field set in a context entry";                     // LCT.3
    case 0x0c: return "reserved field set in a second-stage paging entry";         // LSS.2
    case 0x0d: return "translation request blocked by the context entry's type";   // LCT.5
    case 0x0e: return "output address in the interrupt range 0xfeexxxxx";          // LGN.4
    // 5.1.4.1 Table 15, interrupt remapping.
    case 0x20: return "reserved field set in an interrupt request";
    case 0x21: return "interrupt index beyond the remapping table";
    case 0x22: return "interrupt remapping entry not present";
    case 0x23: return "interrupt remapping table unreadable";
    case 0x24: return "reserved field set in an interrupt remapping entry";
    case 0x25: return "compatibility-format interrupt blocked";
    case 0x26: return "interrupt source-id check failed";
    case 0x27: return "posted interrupt descriptor unreadable";
    case 0x28: return "reserved field set in a posted interrupt descriptor";
    case 0x29: return "malformed interrupt request to 0xfeexxxxx";
    case 0x2a: return "interrupt while extended interrupt mode is required but off";
    case 0x2b: return "MSI while interrupt remapping is required but off";
    // 7.1.3 Table 30, root table address register faults.
    case 0x30: return "invalid root table address register programming";         // RTA.1
    case 0x31: return "request with PASID in legacy mode";                         // RTA.2
    case 0x32: return "page request in legacy mode";                               // RTA.3
    }
    return "unknown fault reason";
}

const char* describe(FaultRequestType type) {
    switch (type) {
    case FaultRequestType::write: return "write";
    case FaultRequestType::page_request: return "page request";
    case FaultRequestType::read: return "read";
    case FaultRequestType::atomic: return "atomic";
    }
    return "unknown";
}

size_t format_fault_record(char* buffer, size_t capacity, const FaultRecord& record) {
    if (record.interrupt_remapping_fault())
        return format(buffer, capacity, "interrupt remapping fault from %02x:%02x.%u, index 0x%x: reason 0x%x (%s)",
                      record.bus(), record.device(), record.function(), record.interrupt_index(), record.reason(),
                      describe_fault_reason(record.reason()));
    return format(buffer, capacity, "DMA %s fault from %02x:%02x.%u at 0x%llx: reason 0x%x (%s)",
                  describe(record.request_type()), record.bus(), record.device(), record.function(),
                  static_cast<unsigned long long>(record.fault_information()), record.reason(),
                  describe_fault_reason(record.reason()));
}

}  // namespace sluice::vtd
