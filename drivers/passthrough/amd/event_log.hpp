// AMD-Vi event log entries: the 128-bit records the IOMMU writes when a
// device's request fails or the IOMMU itself hits an error.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882,
// section 2.5 "Event Logging". The common frame: the event code in bits 63:60
// (bits 31:28 of the second 32-bit word), the device ID in bits 15:0 for the
// events about a device, an event-specific flags field in bits 59:48, a
// domain ID (or PASID) in bits 47:32 for translation faults, and an address
// in bits 127:64.
#pragma once

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::amd {

struct EventLogEntry {
    uint64_t qwords[2] = {};
};
static_assert(sizeof(EventLogEntry) == 16);

enum class EventCode : uint8_t {
    illegal_device_table_entry = 0x1,     // 2.5.2 ILLEGAL_DEV_TABLE_ENTRY
    io_page_fault = 0x2,                  // 2.5.3 IO_PAGE_FAULT
    device_table_hardware_error = 0x3,    // 2.5.4 DEV_TAB_HARDWARE_ERROR
    page_table_hardware_error = 0x4,      // 2.5.5 PAGE_TAB_HARDWARE_ERROR
    illegal_command_error = 0x5,          // 2.5.6 ILLEGAL_COMMAND_ERROR
    command_hardware_error = 0x6,         // 2.5.7 COMMAND_HARDWARE_ERROR
    iotlb_invalidation_timeout = 0x7,     // 2.5.8 IOTLB_INV_TIMEOUT
    invalid_device_request = 0x8,         // 2.5.9 INVALID_DEVICE_REQUEST
};
// The specification's name ("IO_PAGE_FAULT"), or "UNKNOWN_EVENT".
[[nodiscard]] const char* describe(EventCode code);

// Flag bits, counted from bit 48 of the entry (the flags field).
namespace event_flags {
inline constexpr uint16_t guest = 1u << 0;              // GN: a guest (GPA) or nested (GVA) access
inline constexpr uint16_t no_execute = 1u << 1;         // NX: an instruction fetch
inline constexpr uint16_t user = 1u << 2;               // US: user privilege
inline constexpr uint16_t interrupt = 1u << 3;          // I: an interrupt request, not a memory access
inline constexpr uint16_t present = 1u << 4;            // PR: the page was present (0: not present)
inline constexpr uint16_t write = 1u << 5;              // RW: a write (0: a read); meaningful when I=0
inline constexpr uint16_t permission = 1u << 6;         // PE: the access lacked permission
inline constexpr uint16_t reserved_bit = 1u << 7;       // RZ: a reserved bit was set, or a bad level
inline constexpr uint16_t translation = 1u << 8;        // TR: an ATS translation request
inline constexpr unsigned hardware_error_type_shift = 9;  // Type, bits 58:57: 01b master abort,
inline constexpr uint16_t hardware_error_type_mask = 3u << 9;  // 10b target abort, 11b data error
}  // namespace event_flags

struct DecodedEvent {
    uint8_t code = 0;
    uint16_t device_id = 0;
    uint16_t domain_id = 0;  // IO_PAGE_FAULT, PAGE_TAB_HARDWARE_ERROR (domain ID or PASID bits 15:0)
    uint16_t flags = 0;      // event_flags, bits 59:48
    uint64_t address = 0;
};

[[nodiscard]] constexpr DecodedEvent decode_event(const EventLogEntry& entry) {
    DecodedEvent event;
    event.code = static_cast<uint8_t>(entry.qwords[0] >> 60);
    event.device_id = static_cast<uint16_t>(entry.qwords[0] & 0xffff);
    event.domain_id = static_cast<uint16_t>((entry.qwords[0] >> 32) & 0xffff);
    event.flags = static_cast<uint16_t>((entry.qwords[0] >> 48) & 0xfff);
    event.address = entry.qwords[1];
    return event;
}

// One line for the log, e.g.
//   "IO_PAGE_FAULT device 00:04.0 domain 0x0001 address 0x12345000 flags 0x070: write, present, permission"
// Returns the characters written (format() semantics).
size_t describe_event(const EventLogEntry& entry, char* buffer, size_t capacity);

}  // namespace sluice::amd
