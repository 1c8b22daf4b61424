// The remapping hardware's registers, VT-d spec chapter 11 "Register
// Descriptions" (revision 5.10; chapter 10 in revisions before 4.0).
//
// Offsets are enum classes by register width, so a 32-bit register cannot be
// read with a 64-bit access by mistake. Register values are small value types
// that decode or build the fields by name; nothing here touches hardware.
#pragma once

#include <sluice/log.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::vtd {

// 11.4, the register address map ("Register Descriptions"): the
// 32-bit registers.
enum class Register32 : uint32_t {
    version = 0x000,                            // VER_REG
    global_command = 0x018,                     // GCMD_REG
    global_status = 0x01c,                      // GSTS_REG
    fault_status = 0x034,                       // FSTS_REG
    fault_event_control = 0x038,                // FECTL_REG
    fault_event_data = 0x03c,                   // FEDATA_REG
    fault_event_address = 0x040,                // FEADDR_REG
    fault_event_upper_address = 0x044,          // FEUADDR_REG
    protected_memory_enable = 0x064,            // PMEN_REG
    protected_low_memory_base = 0x068,          // PLMBASE_REG
    protected_low_memory_limit = 0x06c,         // PLMLIMIT_REG
    invalidation_completion_status = 0x09c,     // ICS_REG
    invalidation_event_control = 0x0a0,         // IECTL_REG
    invalidation_event_data = 0x0a4,            // IEDATA_REG
    invalidation_event_address = 0x0a8,         // IEADDR_REG
    invalidation_event_upper_address = 0x0ac,   // IEUADDR_REG
};

// The 64-bit registers at fixed offsets. The IOTLB registers and the fault
// recording registers sit where CAP/ECAP say: see the functions below.
enum class Register64 : uint32_t {
    capability = 0x008,                         // CAP_REG
    extended_capability = 0x010,                // ECAP_REG
    root_table_address = 0x020,                 // RTADDR_REG
    context_command = 0x028,                    // CCMD_REG
    protected_high_memory_base = 0x070,         // PHMBASE_REG
    protected_high_memory_limit = 0x078,        // PHMLIMIT_REG
    invalidation_queue_head = 0x080,            // IQH_REG
    invalidation_queue_tail = 0x088,            // IQT_REG
    invalidation_queue_address = 0x090,         // IQA_REG
    invalidation_queue_error_record = 0x0b0,    // IQERCD_REG
    interrupt_remapping_table_address = 0x0b8,  // IRTA_REG
};

[[nodiscard]] constexpr uint32_t offset_of(Register32 reg) { return static_cast<uint32_t>(reg); }
[[nodiscard]] constexpr uint32_t offset_of(Register64 reg) { return static_cast<uint32_t>(reg); }

// 11.4.1 Version Register.
struct Version {
    uint32_t value = 0;
    [[nodiscard]] constexpr unsigned major() const { return static_cast<unsigned>(extract_bits(value, 7, 4)); }
    [[nodiscard]] constexpr unsigned minor() const { return static_cast<unsigned>(extract_bits(value, 3, 0)); }
};

// --- 11.4.2 Capability Register (CAP_REG) ------------------------------------------

struct Capability {
    uint64_t value = 0;

    // ND, bits 2:0: domain-id width 4 + 2 * ND bits (7 is reserved).
    [[nodiscard]] constexpr unsigned number_of_domains_field() const { return static_cast<unsigned>(extract_bits(value, 2, 0)); }
    [[nodiscard]] constexpr unsigned domain_id_bits() const { return 4 + 2 * number_of_domains_field(); }
    [[nodiscard]] constexpr uint32_t domain_count() const { return uint32_t{1} << domain_id_bits(); }
    // AFL, bit 3 (advanced fault logging; reserved from revision 4).
    [[nodiscard]] constexpr bool advanced_fault_logging() const { return extract_bits(value, 3, 3) != 0; }
    // RWBF, bit 4.
    [[nodiscard]] constexpr bool required_write_buffer_flushing() const { return extract_bits(value, 4, 4) != 0; }
    // PLMR, bit 5; PHMR, bit 6.
    [[nodiscard]] constexpr bool protected_low_memory_region() const { return extract_bits(value, 5, 5) != 0; }
    [[nodiscard]] constexpr bool protected_high_memory_region() const { return extract_bits(value, 6, 6) != 0; }
    // CM, bit 7: not-present and erroneous entries may be cached (6.1).
    [[nodiscard]] constexpr bool caching_mode() const { return extract_bits(value, 7, 7) != 0; }
    // SAGAW, bits 12:8: bit 1 39-bit (3-level), bit 2 48-bit (4-level), bit 3 57-bit (5-level).
    [[nodiscard]] constexpr unsigned supported_adjusted_guest_address_widths() const {
        return static_cast<unsigned>(extract_bits(value, 12, 8));
    }
    [[nodiscard]] constexpr bool supports_levels(unsigned levels) const {
        return levels >= 3 && levels <= 5 && (supported_adjusted_guest_address_widths() & (1u << (levels - 2))) != 0;
    }
    // MGAW, bits 21:16, reported as width - 1.
    [[nodiscard]] constexpr unsigned maximum_guest_address_width() const {
        return static_cast<unsigned>(extract_bits(value, 21, 16)) + 1;
    }
    // ZLR, bit 22.
    [[nodiscard]] constexpr bool zero_length_read() const { return extract_bits(value, 22, 22) != 0; }
    // FRO, bits 33:24, in 16-byte units from the register base.
    [[nodiscard]] constexpr uint32_t fault_recording_offset() const {
        return static_cast<uint32_t>(extract_bits(value, 33, 24)) * 16;
    }
    // SSLPS (SLLPS before revision 4), bits 37:34: bit 0 2 MiB, bit 1 1 GiB.
    [[nodiscard]] constexpr unsigned second_stage_large_pages() const {
        return static_cast<unsigned>(extract_bits(value, 37, 34));
    }
    [[nodiscard]] constexpr bool supports_2m_pages() const { return (second_stage_large_pages() & 1) != 0; }
    [[nodiscard]] constexpr bool supports_1g_pages() const { return (second_stage_large_pages() & 2) != 0; }
    // PSI, bit 39.
    [[nodiscard]] constexpr bool page_selective_invalidation() const { return extract_bits(value, 39, 39) != 0; }
    // NFR, bits 47:40, reported as count - 1.
    [[nodiscard]] constexpr unsigned fault_recording_count() const {
        return static_cast<unsigned>(extract_bits(value, 47, 40)) + 1;
    }
    // MAMV, bits 53:48: the largest Address Mask an IOTLB invalidation may use.
    [[nodiscard]] constexpr unsigned maximum_address_mask() const { return static_cast<unsigned>(extract_bits(value, 53, 48)); }
    // DWD, bit 54; DRD, bit 55.
    [[nodiscard]] constexpr bool write_draining() const { return extract_bits(value, 54, 54) != 0; }
    [[nodiscard]] constexpr bool read_draining() const { return extract_bits(value, 55, 55) != 0; }
    // FS1GP, bit 56; PI, bit 59; FS5LP, bit 60; ECMDS, bit 61; ESIRTPS, bit 62; ESRTPS, bit 63.
    [[nodiscard]] constexpr bool first_stage_1g_pages() const { return extract_bits(value, 56, 56) != 0; }
    [[nodiscard]] constexpr bool posted_interrupts() const { return extract_bits(value, 59, 59) != 0; }
    [[nodiscard]] constexpr bool first_stage_5_level_paging() const { return extract_bits(value, 60, 60) != 0; }
    [[nodiscard]] constexpr bool enhanced_command() const { return extract_bits(value, 61, 61) != 0; }
    [[nodiscard]] constexpr bool enhanced_set_interrupt_root_table_pointer() const {
        return extract_bits(value, 62, 62) != 0;
    }
    [[nodiscard]] constexpr bool enhanced_set_root_table_pointer() const { return extract_bits(value, 63, 63) != 0; }
};

// --- 11.4.3 Extended Capability Register (ECAP_REG) --------------------------------

struct ExtendedCapability {
    uint64_t value = 0;

    // C, bit 0: hardware walks of remapping structures snoop the CPU caches.
    [[nodiscard]] constexpr bool page_walk_coherency() const { return extract_bits(value, 0, 0) != 0; }
    // QI, bit 1; DT, bit 2; IR, bit 3; EIM, bit 4.
    [[nodiscard]] constexpr bool queued_invalidation() const { return extract_bits(value, 1, 1) != 0; }
    [[nodiscard]] constexpr bool device_tlb() const { return extract_bits(value, 2, 2) != 0; }
    [[nodiscard]] constexpr bool interrupt_remapping() const { return extract_bits(value, 3, 3) != 0; }
    [[nodiscard]] constexpr bool extended_interrupt_mode() const { return extract_bits(value, 4, 4) != 0; }
    // PT, bit 6; SC, bit 7.
    [[nodiscard]] constexpr bool pass_through() const { return extract_bits(value, 6, 6) != 0; }
    [[nodiscard]] constexpr bool snoop_control() const { return extract_bits(value, 7, 7) != 0; }
    // IRO, bits 17:8, in 16-byte units: where the IOTLB registers are.
    [[nodiscard]] constexpr uint32_t iotlb_register_offset() const {
        return static_cast<uint32_t>(extract_bits(value, 17, 8)) * 16;
    }
    // MHMV, bits 23:20.
    [[nodiscard]] constexpr unsigned maximum_handle_mask() const { return static_cast<unsigned>(extract_bits(value, 23, 20)); }
    // MTS, bit 25; NEST, bit 26; PRS, bit 29; ERS, bit 30; SRS, bit 31.
    [[nodiscard]] constexpr bool memory_type() const { return extract_bits(value, 25, 25) != 0; }
    [[nodiscard]] constexpr bool nested_translation() const { return extract_bits(value, 26, 26) != 0; }
    [[nodiscard]] constexpr bool page_requests() const { return extract_bits(value, 29, 29) != 0; }
    [[nodiscard]] constexpr bool execute_requests() const { return extract_bits(value, 30, 30) != 0; }
    [[nodiscard]] constexpr bool supervisor_requests() const { return extract_bits(value, 31, 31) != 0; }
    // NWFS, bit 33; EAFS, bit 34.
    [[nodiscard]] constexpr bool no_write_flag() const { return extract_bits(value, 33, 33) != 0; }
    [[nodiscard]] constexpr bool extended_accessed_flag() const { return extract_bits(value, 34, 34) != 0; }
    // PSS, bits 39:35: PASIDs of PSS + 1 bits.
    [[nodiscard]] constexpr unsigned pasid_size() const { return static_cast<unsigned>(extract_bits(value, 39, 35)); }
    // PASID, bit 40; DIT, bit 41; PDS, bit 42; SMTS, bit 43; VCS, bit 44.
    [[nodiscard]] constexpr bool pasid() const { return extract_bits(value, 40, 40) != 0; }
    [[nodiscard]] constexpr bool device_tlb_invalidation_throttle() const { return extract_bits(value, 41, 41) != 0; }
    [[nodiscard]] constexpr bool page_request_drain() const { return extract_bits(value, 42, 42) != 0; }
    [[nodiscard]] constexpr bool scalable_mode() const { return extract_bits(value, 43, 43) != 0; }
    [[nodiscard]] constexpr bool virtual_command() const { return extract_bits(value, 44, 44) != 0; }
    // SSADS, bit 45; SSTS, bit 46; FSTS, bit 47 (SLADS, SLTS, FLTS before revision 4).
    [[nodiscard]] constexpr bool second_stage_accessed_dirty() const { return extract_bits(value, 45, 45) != 0; }
    [[nodiscard]] constexpr bool second_stage_translation() const { return extract_bits(value, 46, 46) != 0; }
    [[nodiscard]] constexpr bool first_stage_translation() const { return extract_bits(value, 47, 47) != 0; }
    // SMPWCS, bit 48; RPS, bit 49; ADMS, bit 52; RPRIVS, bit 53.
    [[nodiscard]] constexpr bool scalable_mode_page_walk_coherency() const { return extract_bits(value, 48, 48) != 0; }
    [[nodiscard]] constexpr bool rid_pasid() const { return extract_bits(value, 49, 49) != 0; }
    [[nodiscard]] constexpr bool abort_dma_mode() const { return extract_bits(value, 52, 52) != 0; }
    [[nodiscard]] constexpr bool rid_privilege() const { return extract_bits(value, 53, 53) != 0; }
};

// The IOTLB registers (11.4.6.2): the Invalidate Address Register at IRO * 16,
// the IOTLB Invalidate Register 8 bytes above it.
[[nodiscard]] constexpr Register64 invalidate_address_register(ExtendedCapability extended) {
    return static_cast<Register64>(extended.iotlb_register_offset());
}
[[nodiscard]] constexpr Register64 iotlb_invalidate_register(ExtendedCapability extended) {
    return static_cast<Register64>(extended.iotlb_register_offset() + 8);
}
// Fault recording register index (11.4.7.6): 128 bits at FRO * 16 + 16 * index,
// read as its low and high quadwords.
[[nodiscard]] constexpr Register64 fault_recording_register_low(Capability capability, unsigned index) {
    return static_cast<Register64>(capability.fault_recording_offset() + 16 * index);
}
[[nodiscard]] constexpr Register64 fault_recording_register_high(Capability capability, unsigned index) {
    return static_cast<Register64>(capability.fault_recording_offset() + 16 * index + 8);
}
// The last doubleword of a fault recording register, which holds F (bit 31 of
// it, bit 127 of the register); writing fault_record_clear there clears F
// without touching the other fields.
[[nodiscard]] constexpr Register32 fault_recording_register_last_doubleword(Capability capability, unsigned index) {
    return static_cast<Register32>(capability.fault_recording_offset() + 16 * index + 12);
}
inline constexpr uint32_t fault_record_clear = 1u << 31;

// "vtd: unit 0 at 0xfed90000: CAP 0xd2008c22260206 ECAP 0xf00f4a" and one line
// of decoded fields, for iommu=verbose. The decoded line is also available as
// text (for tests and other sinks).
size_t format_capabilities(char* buffer, size_t capacity, Capability capability, ExtendedCapability extended);
void log_capabilities(const Logger& logger, unsigned unit, PhysicalAddress register_base, Capability capability,
                      ExtendedCapability extended);

// --- 11.4.4 Global Command and Global Status Registers -----------------------------

// GCMD_REG bits (11.4.4.1).
enum class GlobalCommand : uint32_t {
    compatibility_format_interrupt = 1u << 23,    // CFI
    set_interrupt_remapping_table_pointer = 1u << 24,  // SIRTP (one-shot)
    interrupt_remapping_enable = 1u << 25,        // IRE
    queued_invalidation_enable = 1u << 26,        // QIE
    write_buffer_flush = 1u << 27,                // WBF (one-shot)
    enable_advanced_fault_logging = 1u << 28,     // EAFL (reserved from revision 4)
    set_fault_log = 1u << 29,                     // SFL (one-shot; reserved from revision 4)
    set_root_table_pointer = 1u << 30,            // SRTP (one-shot)
    translation_enable = 1u << 31,                // TE
};

// GSTS_REG bits (11.4.4.2): each reports the command bit at the same position.
enum class GlobalStatus : uint32_t {
    compatibility_format_interrupt = 1u << 23,    // CFIS
    interrupt_remapping_table_pointer = 1u << 24,  // IRTPS
    interrupt_remapping_enable = 1u << 25,        // IRES
    queued_invalidation_enable = 1u << 26,        // QIES
    write_buffer_flush = 1u << 27,                // WBFS (set while the flush is pending)
    advanced_fault_logging = 1u << 28,            // AFLS
    fault_log = 1u << 29,                         // FLS
    root_table_pointer = 1u << 30,                // RTPS
    translation_enable = 1u << 31,                // TES
};

[[nodiscard]] constexpr uint32_t bit(GlobalCommand command) { return static_cast<uint32_t>(command); }
[[nodiscard]] constexpr uint32_t bit(GlobalStatus status) { return static_cast<uint32_t>(status); }
[[nodiscard]] constexpr bool has(uint32_t global_status, GlobalStatus status) { return (global_status & bit(status)) != 0; }

// 11.4.4.1: GCMD is not read-modify-write. The value to write is the current
// GSTS with the one-shot status bits (RTPS, FLS, WBFS, IRTPS) cleared, then
// the one command bit changed; writing anything else would toggle the other
// enables (QEMU acts on every changed bit: a bare SRTP write turns TE off).
inline constexpr uint32_t global_status_one_shot_clear_mask = 0x96ffffff;
[[nodiscard]] constexpr uint32_t global_command_value(uint32_t global_status, GlobalCommand command, bool set = true) {
    const uint32_t preserved = global_status & global_status_one_shot_clear_mask;
    return set ? (preserved | bit(command)) : (preserved & ~bit(command));
}

// --- 11.4.5 Root Table Address Register ----------------------------------------------

// TTM, bits 11:10.
enum class TranslationTableMode : uint8_t { legacy = 0, scalable = 1, abort_dma = 3 };
[[nodiscard]] constexpr uint64_t root_table_address_value(PhysicalAddress root_table,
                                                          TranslationTableMode mode = TranslationTableMode::legacy) {
    return (root_table & ~page_mask) | (static_cast<uint64_t>(mode) << 10);
}

// --- 11.4.6 Register-based invalidation -----------------------------------------------

// CIRG/CAIG encodings (11.4.6.1), also the G field of the context-cache
// invalidate descriptor (6.5.2.1). 0 is reserved as a request and means
// "error" as an actual granularity.
enum class ContextInvalidationGranularity : uint8_t { none = 0, global = 1, domain = 2, device = 3 };
// IIRG/IAIG encodings (11.4.6.3), also the G field of the IOTLB invalidate
// descriptor (6.5.2.3).
enum class IotlbInvalidationGranularity : uint8_t { none = 0, global = 1, domain = 2, page = 3 };

// Function Mask (FM, 11.4.6.1 and 6.5.2.1, Table 21): how many low bits of
// the source-id's function number are ignored (phantom functions).
enum class FunctionMask : uint8_t { none = 0, bit2 = 1, bits2_1 = 2, bits2_0 = 3 };

// CCMD_REG value requesting an invalidation: ICC (63), CIRG (62:61), FM
// (33:32), SID (31:16), DID (15:0).
[[nodiscard]] constexpr uint64_t context_command_value(ContextInvalidationGranularity granularity, uint16_t domain_id,
                                                       uint16_t source_id = 0, FunctionMask mask = FunctionMask::none) {
    return uint64_t{1} << 63 | static_cast<uint64_t>(static_cast<uint8_t>(granularity) & 3) << 61 |
           static_cast<uint64_t>(static_cast<uint8_t>(mask) & 3) << 32 | static_cast<uint64_t>(source_id) << 16 |
           domain_id;
}
// ICC still set: the invalidation has not completed.
[[nodiscard]] constexpr bool context_command_pending(uint64_t value) { return (value >> 63) != 0; }
// CAIG, bits 60:59, once ICC is clear.
[[nodiscard]] constexpr ContextInvalidationGranularity context_command_actual_granularity(uint64_t value) {
    return static_cast<ContextInvalidationGranularity>(extract_bits(value, 60, 59));
}

// IOTLB_REG value requesting an invalidation: IVT (63), IIRG (61:60), DR (49),
// DW (48), DID (47:32). For page granularity write the Invalidate Address
// Register first.
[[nodiscard]] constexpr uint64_t iotlb_invalidate_value(IotlbInvalidationGranularity granularity, uint16_t domain_id,
                                                        bool drain_reads = true, bool drain_writes = true) {
    return uint64_t{1} << 63 | static_cast<uint64_t>(static_cast<uint8_t>(granularity) & 3) << 60 |
           static_cast<uint64_t>(drain_reads) << 49 | static_cast<uint64_t>(drain_writes) << 48 |
           static_cast<uint64_t>(domain_id) << 32;
}
[[nodiscard]] constexpr bool iotlb_invalidate_pending(uint64_t value) { return (value >> 63) != 0; }
// IAIG, bits 58:57, once IVT is clear.
[[nodiscard]] constexpr IotlbInvalidationGranularity iotlb_invalidate_actual_granularity(uint64_t value) {
    return static_cast<IotlbInvalidationGranularity>(extract_bits(value, 58, 57));
}

// IVA_REG value (11.4.6.4): ADDR (63:12), IH (6), AM (5:0). The address must
// be aligned to the 2^AM pages it covers; the caller checks that against
// CAP.MAMV (see invalidation.hpp for the shared check).
[[nodiscard]] constexpr uint64_t invalidate_address_value(uint64_t address, unsigned address_mask,
                                                          bool invalidation_hint = false) {
    return (address & ~page_mask) | static_cast<uint64_t>(invalidation_hint) << 6 | (address_mask & 0x3f);
}

// --- 11.4.7 Fault reporting -----------------------------------------------------------

// FSTS_REG bits (11.4.7.1).
enum class FaultStatus : uint32_t {
    primary_fault_overflow = 1u << 0,        // PFO (write 1 to clear)
    primary_pending_fault = 1u << 1,         // PPF (OR of all F bits)
    advanced_fault_overflow = 1u << 2,       // AFO
    advanced_pending_fault = 1u << 3,        // APF
    invalidation_queue_error = 1u << 4,      // IQE (write 1 to clear)
    invalidation_completion_error = 1u << 5,  // ICE (write 1 to clear)
    invalidation_timeout_error = 1u << 6,    // ITE (write 1 to clear)
};
[[nodiscard]] constexpr uint32_t bit(FaultStatus status) { return static_cast<uint32_t>(status); }
// FRI, bits 15:8: the first fault recording register to look at.
[[nodiscard]] constexpr unsigned fault_record_index(uint32_t fault_status) {
    return static_cast<unsigned>(extract_bits(fault_status, 15, 8));
}
// FECTL_REG (11.4.7.2): IM (31) masks the fault event interrupt, IP (30) pending.
inline constexpr uint32_t fault_event_interrupt_mask = 1u << 31;
inline constexpr uint32_t fault_event_interrupt_pending = 1u << 30;

// 11.4.7.6: T1 (bit 126) and T2 (bit 92) together give the request type.
enum class FaultRequestType : uint8_t { write = 0, page_request = 1, read = 2, atomic = 3 };
// 11.4.7.6, AT (bits 125:124).
enum class FaultAddressType : uint8_t { untranslated = 0, translation_request = 1, translated = 2, reserved = 3 };

// A Fault Recording Register (11.4.7.6), 128 bits read as two quadwords.
struct FaultRecord {
    uint64_t low = 0;   // bits 63:0
    uint64_t high = 0;  // bits 127:64

    // F, bit 127.
    [[nodiscard]] constexpr bool fault() const { return extract_bits(high, 63, 63) != 0; }
    [[nodiscard]] constexpr FaultRequestType request_type() const {
        const unsigned t1 = static_cast<unsigned>(extract_bits(high, 62, 62));  // bit 126
        const unsigned t2 = static_cast<unsigned>(extract_bits(high, 28, 28));  // bit 92
        return static_cast<FaultRequestType>(t1 << 1 | t2);
    }
    [[nodiscard]] constexpr FaultAddressType address_type() const {
        return static_cast<FaultAddressType>(extract_bits(high, 61, 60));  // bits 125:124
    }
    // PV, bits 123:104, valid when PP (bit 95) is set.
    [[nodiscard]] constexpr uint32_t pasid_value() const { return static_cast<uint32_t>(extract_bits(high, 59, 40)); }
    [[nodiscard]] constexpr bool pasid_present() const { return extract_bits(high, 31, 31) != 0; }
    // FR, bits 103:96.
    [[nodiscard]] constexpr uint8_t reason() const { return static_cast<uint8_t>(extract_bits(high, 39, 32)); }
    // EXE, bit 94; PRIV, bit 93.
    [[nodiscard]] constexpr bool execute_requested() const { return extract_bits(high, 30, 30) != 0; }
    [[nodiscard]] constexpr bool privilege_requested() const { return extract_bits(high, 29, 29) != 0; }
    // SID, bits 79:64: the requester, bus:devfn.
    [[nodiscard]] constexpr uint16_t source_id() const { return static_cast<uint16_t>(extract_bits(high, 15, 0)); }
    [[nodiscard]] constexpr uint8_t bus() const { return static_cast<uint8_t>(source_id() >> 8); }
    [[nodiscard]] constexpr uint8_t device() const { return static_cast<uint8_t>((source_id() >> 3) & 0x1f); }
    [[nodiscard]] constexpr uint8_t function() const { return static_cast<uint8_t>(source_id() & 7); }
    // FI, bits 63:12: the faulting page address (address translation faults).
    [[nodiscard]] constexpr uint64_t fault_information() const { return low & ~page_mask; }
    // For interrupt-remapping faults other than 20h, 25h, 29h-2Bh, FI bits
    // 63:48 hold the interrupt_index.
    [[nodiscard]] constexpr uint16_t interrupt_index() const { return static_cast<uint16_t>(low >> 48); }
    // 5.1.4.1: reasons 20h and up are interrupt-remapping faults; 7.1.3 lists
    // the rest (address translation).
    [[nodiscard]] constexpr bool interrupt_remapping_fault() const { return reason() >= 0x20 && reason() <= 0x2f; }
};
static_assert(sizeof(FaultRecord) == 16);

// The fault reason text from 7.1.3 Table 30 (1h-Eh, 30h-32h) and 5.1.4.1
// Table 15 (20h-2Bh); "unknown fault reason" otherwise.
[[nodiscard]] const char* describe_fault_reason(uint8_t reason);
[[nodiscard]] const char* describe(FaultRequestType type);

// "DMA read fault from 00:02.0 at 0x12345000: reason 6 (...)" or, for an
// interrupt-remapping fault, "interrupt remapping fault from 00:1f.0 ...".
size_t format_fault_record(char* buffer, size_t capacity, const FaultRecord& record);

// --- 11.4.9 Invalidation queue -----------------------------------------------------------

// IQA_REG (11.4.9.3): IQA (63:12), DW (11: 256-bit descriptors), QS (2:0: the
// queue is 2^QS 4 KiB pages).
[[nodiscard]] constexpr uint64_t invalidation_queue_address_value(PhysicalAddress queue, unsigned size_order,
                                                                  bool wide_descriptors = false) {
    return (queue & ~page_mask) | static_cast<uint64_t>(wide_descriptors) << 11 | (size_order & 7);
}
// IQH/IQT (11.4.9.1, 11.4.9.2) hold a byte offset into the queue, bits 18:4:
// a multiple of 16 with 128-bit descriptors.
inline constexpr uint64_t invalidation_queue_pointer_mask = 0x7fff0;
[[nodiscard]] constexpr uint64_t invalidation_queue_pointer(unsigned descriptor_index) {
    return (static_cast<uint64_t>(descriptor_index) << 4) & invalidation_queue_pointer_mask;
}
// ICS_REG (11.4.9.4): IWC, bit 0.
inline constexpr uint32_t invalidation_wait_complete = 1u << 0;

}  // namespace sluice::vtd
