// Decoding of AMD-Vi event log entries (see event_log.hpp).
#include <drivers/passthrough/amd/event_log.hpp>

#include <sluice/format.hpp>

namespace sluice::amd {
namespace {

// Appends to a buffer, keeping count and never overrunning it.
class LineBuilder {
public:
    LineBuilder(char* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {
        if (capacity_ > 0) buffer_[0] = '\0';
    }

    template <typename... Arguments> void append(const char* pattern, Arguments... arguments) {
        if (length_ + 1 >= capacity_) return;
        length_ += format(buffer_ + length_, capacity_ - length_, pattern, arguments...);
    }
    // Appends a word of a comma-separated list after ": ".
    void word(const char* text) {
        append(first_word_ ? ": %s" : ", %s", text);
        first_word_ = false;
    }
    [[nodiscard]] size_t length() const { return length_; }

private:
    char* buffer_;
    size_t capacity_;
    size_t length_ = 0;
    bool first_word_ = true;
};

constexpr uint16_t invalid_request_user = 1u << 1;

const char* hardware_error_type(uint16_t flags) {
    switch ((flags & event_flags::hardware_error_type_mask) >> event_flags::hardware_error_type_shift) {
    case 1: return "master abort";
    case 2: return "target abort";
    case 3: return "data error";
    }
    return "reserved error type";
}

void append_device(LineBuilder& line, uint16_t device_id) {
    line.append(" device %02x:%02x.%x", device_id >> 8, (device_id >> 3) & 0x1f, device_id & 7);
}

// The words for the access the event is about.
void append_access_words(LineBuilder& line, uint16_t flags, bool with_present) {
    if ((flags & event_flags::interrupt) != 0)
        line.word("interrupt");
    else
        line.word((flags & event_flags::write) != 0 ? "write" : "read");
    if (with_present) line.word((flags & event_flags::present) != 0 ? "present" : "not present");
    if ((flags & event_flags::permission) != 0) line.word("permission");
    if ((flags & event_flags::reserved_bit) != 0) line.word("reserved bit");
    if ((flags & event_flags::translation) != 0) line.word("translation request");
    if ((flags & event_flags::guest) != 0) line.word("guest");
    if ((flags & event_flags::user) != 0) line.word("user");
    if ((flags & event_flags::no_execute) != 0) line.word("execute");
}

}  // namespace

const char* describe(EventCode code) {
    switch (code) {
    case EventCode::illegal_device_table_entry: return "ILLEGAL_DEV_TABLE_ENTRY";
    case EventCode::io_page_fault: return "IO_PAGE_FAULT";
    case EventCode::device_table_hardware_error: return "DEV_TAB_HARDWARE_ERROR";
    case EventCode::page_table_hardware_error: return "PAGE_TAB_HARDWARE_ERROR";
    case EventCode::illegal_command_error: return "ILLEGAL_COMMAND_ERROR";
    case EventCode::command_hardware_error: return "COMMAND_HARDWARE_ERROR";
    case EventCode::iotlb_invalidation_timeout: return "IOTLB_INV_TIMEOUT";
    case EventCode::invalid_device_request: return "INVALID_DEVICE_REQUEST";
    }
    return "UNKNOWN_EVENT";
}

size_t describe_event(const EventLogEntry& entry, char* buffer, size_t capacity) {
    const DecodedEvent event = decode_event(entry);
    const auto code = static_cast<EventCode>(event.code);
    const auto address = static_cast<unsigned long long>(event.address);
    LineBuilder line(buffer, capacity);
    line.append("%s", describe(code));
    switch (code) {
    case EventCode::illegal_device_table_entry:
        append_device(line, event.device_id);
        line.append(" address 0x%llx flags 0x%03x", address, event.flags);
        append_access_words(line, event.flags, false);
        break;
    case EventCode::io_page_fault:
        append_device(line, event.device_id);
        line.append(" domain 0x%04x address 0x%llx flags 0x%03x", event.domain_id, address, event.flags);
        append_access_words(line, event.flags, true);
        break;
    case EventCode::device_table_hardware_error:
        append_device(line, event.device_id);
        line.append(" device table entry at 0x%llx flags 0x%03x", address, event.flags);
        line.word(hardware_error_type(event.flags));
        append_access_words(line, event.flags, false);
        break;
    case EventCode::page_table_hardware_error:
        append_device(line, event.device_id);
        line.append(" domain 0x%04x page table entry at 0x%llx flags 0x%03x", event.domain_id,
                    address & ~0x7ull, event.flags);
        line.word(hardware_error_type(event.flags));
        append_access_words(line, event.flags, false);
        break;
    case EventCode::illegal_command_error:
        line.append(" command at 0x%llx", address & ~0xfull);
        break;
    case EventCode::command_hardware_error:
        line.append(" command buffer access at 0x%llx", address);
        line.word(hardware_error_type(event.flags));
        break;
    case EventCode::iotlb_invalidation_timeout:
        append_device(line, event.device_id);
        line.append(" command at 0x%llx", address & ~0xfull);
        break;
    case EventCode::invalid_device_request:
        append_device(line, event.device_id);
        line.append(" address 0x%llx flags 0x%03x type %u", address, event.flags, (event.flags >> 9) & 7u);
        if ((event.flags & event_flags::translation) != 0) line.word("translation request");
        // This event's flags differ: US is bit 49, and the type (bits 59:57)
        // says what was wrong with the request (2.5.9).
        if ((event.flags & invalid_request_user) != 0) line.word("user");
        if ((event.flags & event_flags::guest) != 0) line.word("guest");
        break;
    default:
        line.append(" code 0x%x: 0x%016llx 0x%016llx", event.code, static_cast<unsigned long long>(entry.qwords[0]),
                    static_cast<unsigned long long>(entry.qwords[1]));
        break;
    }
    return line.length();
}

}  // namespace sluice::amd
