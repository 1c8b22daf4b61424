// A model of one AMD-Vi IOMMU for host tests of the driver's sequencing: its
// MMIO registers (behind pci::MmioRegion, as the driver reaches them), a
// command processor that consumes the command buffer in simulated memory,
// the event log it writes, and a DMA path that walks the device table and the
// I/O page tables with a device table cache and an IOTLB, so a missing or
// under-scoped invalidation shows as a wrong translation.
//
// Behaviour follows the AMD IOMMU specification (48882) where the driver
// depends on it: commands run only while IommuEn and CmdBufEn are set (as on
// QEMU), COMPLETION_WAIT stores its data after the commands before it, an
// illegal command (unknown opcode or reserved bits set) logs
// ILLEGAL_COMMAND_ERROR and stops the command buffer (CmdBufRun clear).
// Options make the unit misbehave: never consume commands, consume but never
// store completions, or show QEMU 7.2's head register that reads the ring
// size after a wrap. Everything the driver does against the rules is recorded
// in violations().
#pragma once

#include "support/simulated_machine.hpp"

#include <drivers/passthrough/amd/commands.hpp>
#include <drivers/passthrough/amd/device_table.hpp>
#include <drivers/passthrough/amd/event_log.hpp>
#include <drivers/passthrough/amd/registers.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/optional.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

class AmdIommuModel final : public pci::MmioRegion {
public:
    // What QEMU 7.2's amd-iommu reports in its Extended Feature Register:
    // PreFSup, PPRSup, GTSup, IASup, GASup, HESup, GATS = 2, HATS = 2.
    static constexpr uint64_t qemu_extended_features =
        (1ull << 0) | (1ull << 1) | (1ull << 4) | (1ull << 6) | (1ull << 7) | (1ull << 8) | (2ull << 12) | (2ull << 10);

    struct Options {
        uint64_t extended_features = qemu_extended_features;
        bool consumes_commands = true;   // false: the head never moves
        bool stores_completions = true;  // false: COMPLETION_WAIT never writes its data
        bool qemu_head_register = false; // the head register reads the ring size after a wrap
    };

    struct Invalidation {
        uint16_t device_id;
        amd::DeviceTableEntry entry;  // the entry in memory when the command ran
    };

    explicit AmdIommuModel(SimulatedMemory& memory) : AmdIommuModel(memory, Options{}) {}
    AmdIommuModel(SimulatedMemory& memory, Options options) : memory_(memory), options_(options) {
        registers_[amd::offset_of(amd::Register64::extended_feature)] = options.extended_features;
    }

    // --- pci::MmioRegion ---------------------------------------------------------
    [[nodiscard]] uint64_t size() const override { return amd::register_region_size; }
    [[nodiscard]] uint8_t read8(uint64_t offset) override { return static_cast<uint8_t>(narrow(offset, 1)); }
    [[nodiscard]] uint16_t read16(uint64_t offset) override { return static_cast<uint16_t>(narrow(offset, 2)); }
    [[nodiscard]] uint32_t read32(uint64_t offset) override {
        if (!is_register32(offset)) violation("32-bit read of a 64-bit register at 0x" + hex(offset));
        return static_cast<uint32_t>(registers_[static_cast<uint32_t>(offset)]);
    }
    [[nodiscard]] uint64_t read64(uint64_t offset) override {
        if (offset % 8 != 0 || is_register32(offset)) violation("bad 64-bit read at 0x" + hex(offset));
        return registers_[static_cast<uint32_t>(offset)];
    }
    void write8(uint64_t offset, uint8_t) override { narrow(offset, 1); }
    void write16(uint64_t offset, uint16_t) override { narrow(offset, 2); }
    void write32(uint64_t offset, uint32_t value) override {
        if (!is_register32(offset)) violation("32-bit write of a 64-bit register at 0x" + hex(offset));
        registers_[static_cast<uint32_t>(offset)] = value;
    }
    void write64(uint64_t offset, uint64_t value) override;

    // --- Driving the model ---------------------------------------------------------
    // A DMA request from device_id: the output address, or nothing when the
    // unit refuses it (an IO_PAGE_FAULT is logged then, as the hardware would).
    [[nodiscard]] Optional<PhysicalAddress> dma(uint16_t device_id, uint64_t address, bool write);

    // An interrupt request: device_id writes data to address (0xFEEx_xxxx).
    // Decoded from the spec's bit positions (AMD IOMMU 2.2.2 DTE word 2,
    // 2.2.5 interrupt remapping), not with the driver's helpers. Entries
    // read from a table stay cached per device until INVALIDATE_INTERRUPT_TABLE
    // for it or INVALIDATE_IOMMU_ALL.
    struct InterruptResult {
        bool delivered = false;
        uint8_t vector = 0;
        uint8_t destination = 0;
        bool cached = false;
    };
    [[nodiscard]] InterruptResult interrupt(uint16_t device_id, uint64_t address, uint32_t data);
    [[nodiscard]] size_t cached_interrupt_entries() const { return interrupt_cache_.size(); }
    // Appends an event the way the hardware does (dropped when logging is
    // off; sets EventOverflow when the log is full).
    void log_event(const amd::EventLogEntry& entry);
    void set_consumes_commands(bool consumes) {
        options_.consumes_commands = consumes;
        process_commands();
    }
    void set_stores_completions(bool stores) { options_.stores_completions = stores; }
    // Firmware left the unit running (control value as given).
    void set_register(amd::Register64 register_offset, uint64_t value) {
        registers_[amd::offset_of(register_offset)] = value;
        update_status();
    }

    // --- Observing it ----------------------------------------------------------------
    [[nodiscard]] uint64_t read_register(amd::Register64 register_offset) const {
        const auto found = registers_.find(amd::offset_of(register_offset));
        return found == registers_.end() ? 0 : found->second;
    }
    [[nodiscard]] uint64_t control() const { return read_register(amd::Register64::control); }
    [[nodiscard]] bool translation_enabled() const { return (control() & amd::control::iommu_enable) != 0; }
    [[nodiscard]] const std::vector<amd::Command>& executed() const { return executed_; }
    [[nodiscard]] size_t count(amd::CommandOpcode opcode) const {
        size_t total = 0;
        for (const amd::Command& command : executed_) total += amd::opcode(command) == opcode;
        return total;
    }
    [[nodiscard]] const std::vector<Invalidation>& device_table_invalidations() const { return devtab_invalidations_; }
    [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
    [[nodiscard]] PhysicalAddress device_table_base() const {
        return read_register(amd::Register64::device_table_base) & 0x000f'ffff'ffff'f000ull;
    }
    [[nodiscard]] uint64_t device_table_entries() const {
        return ((read_register(amd::Register64::device_table_base) & 0x1ff) + 1) * (page_size / 32);
    }
    [[nodiscard]] size_t cached_translations() const { return iotlb_.size(); }
    [[nodiscard]] size_t events_dropped() const { return events_dropped_; }
    [[nodiscard]] std::vector<std::pair<uint32_t, uint64_t>> register_writes() const { return register_writes_; }

private:
    struct CachedTranslation {
        PhysicalAddress page;
        bool read;
        bool write;
    };

    static std::string hex(uint64_t value) {
        char text[24];
        std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(value));
        return text;
    }
    static bool is_register32(uint64_t offset) { return offset >= 0x158 && offset < 0x168; }
    uint64_t narrow(uint64_t offset, unsigned width) {
        violation(std::to_string(width * 8) + "-bit access at 0x" + hex(offset));
        return 0;
    }
    void violation(const std::string& text) { violations_.push_back(text); }

    [[nodiscard]] bool commands_enabled() const {
        const uint64_t wanted = amd::control::iommu_enable | amd::control::command_buffer_enable;
        return (control() & wanted) == wanted && !command_buffer_stopped_;
    }
    [[nodiscard]] bool log_enabled() const {
        const uint64_t wanted = amd::control::iommu_enable | amd::control::event_log_enable;
        return (control() & wanted) == wanted;
    }
    static uint64_t ring_bytes(uint64_t base_register) {
        return uint64_t{16} << ((base_register >> amd::ring_length_shift) & 0xf);
    }
    void update_status();
    void process_commands();
    void execute(const amd::Command& command);
    void illegal_command(PhysicalAddress at);
    void fault(uint16_t device_id, uint16_t domain_id, uint64_t address, bool write, bool present, bool permission);
    [[nodiscard]] amd::DeviceTableEntry read_entry(uint16_t device_id) const;

    SimulatedMemory& memory_;
    Options options_;
    std::map<uint32_t, uint64_t> registers_;
    std::vector<std::pair<uint32_t, uint64_t>> register_writes_;
    uint64_t command_head_ = 0;  // the model's own head (the register may read otherwise)
    bool command_buffer_stopped_ = false;
    std::vector<amd::Command> executed_;
    std::vector<Invalidation> devtab_invalidations_;
    std::vector<std::string> violations_;
    std::map<uint16_t, amd::DeviceTableEntry> entry_cache_;
    std::map<std::pair<uint16_t, uint32_t>, uint32_t> interrupt_cache_;
    std::map<std::pair<uint16_t, uint64_t>, CachedTranslation> iotlb_;  // (DomainID, page number)
    size_t events_dropped_ = 0;
};

inline void AmdIommuModel::update_status() {
    uint64_t status = read_register(amd::Register64::status) &
                      ~(amd::status::command_buffer_running | amd::status::event_log_running);
    if (commands_enabled()) status |= amd::status::command_buffer_running;
    if (log_enabled()) status |= amd::status::event_log_running;
    registers_[amd::offset_of(amd::Register64::status)] = status;
}

inline void AmdIommuModel::write64(uint64_t offset, uint64_t value) {
    using amd::Register64;
    if (offset % 8 != 0 || is_register32(offset)) violation("bad 64-bit write at 0x" + hex(offset));
    register_writes_.emplace_back(static_cast<uint32_t>(offset), value);
    const auto reg = static_cast<Register64>(offset);
    const uint64_t control_now = control();
    switch (reg) {
    case Register64::extended_feature: violation("write to the read-only Extended Feature Register"); return;
    case Register64::device_table_base:
        if (control_now & amd::control::iommu_enable) violation("device table base written while IommuEn is set");
        entry_cache_.clear();
        break;
    case Register64::command_buffer_base:
        if (control_now & amd::control::command_buffer_enable)
            violation("command buffer base written while CmdBufEn is set");
        break;
    case Register64::event_log_base:
        if (control_now & amd::control::event_log_enable) violation("event log base written while EventLogEn is set");
        break;
    case Register64::command_buffer_head:
        if (control_now & amd::control::command_buffer_enable) violation("command head written while CmdBufEn is set");
        command_head_ = value & amd::ring_pointer_mask;
        break;
    case Register64::event_log_tail:
        if (control_now & amd::control::event_log_enable) violation("event log tail written while EventLogEn is set");
        break;
    case Register64::status:
        // Bits 0-2, 5, 6, 9, 10 are write-1-to-clear; the rest read-only.
        registers_[static_cast<uint32_t>(offset)] &= ~(value & 0x667);
        return;
    case Register64::control:
        if ((value & amd::control::command_buffer_enable) && !(control_now & amd::control::command_buffer_enable))
            command_buffer_stopped_ = false;  // setting CmdBufEn restarts a stopped buffer
        break;
    default: break;
    }
    registers_[static_cast<uint32_t>(offset)] = value;
    update_status();
    if (reg == Register64::control || reg == Register64::command_buffer_tail || reg == Register64::command_buffer_head)
        process_commands();
}

inline void AmdIommuModel::process_commands() {
    if (!options_.consumes_commands) return;
    const uint64_t base_register = read_register(amd::Register64::command_buffer_base);
    const PhysicalAddress ring = base_register & 0x000f'ffff'ffff'f000ull;
    const uint64_t bytes = ring_bytes(base_register);
    while (commands_enabled()) {
        const uint64_t tail = read_register(amd::Register64::command_buffer_tail) & amd::ring_pointer_mask;
        if (command_head_ % bytes == tail % bytes) break;
        const PhysicalAddress at = ring + command_head_ % bytes;
        amd::Command command;
        command.qwords[0] = memory_.read64(at);
        command.qwords[1] = memory_.read64(at + 8);
        execute(command);
        if (command_buffer_stopped_) break;
        const uint64_t next = command_head_ % bytes + 16;
        command_head_ = next % bytes;
        registers_[amd::offset_of(amd::Register64::command_buffer_head)] =
            options_.qemu_head_register ? next : command_head_;
    }
}

inline void AmdIommuModel::illegal_command(PhysicalAddress at) {
    violation("illegal command at 0x" + hex(at));
    amd::EventLogEntry entry;
    entry.qwords[0] = uint64_t{static_cast<uint8_t>(amd::EventCode::illegal_command_error)} << 60;
    entry.qwords[1] = at;
    log_event(entry);
    command_buffer_stopped_ = true;
    update_status();
}

inline void AmdIommuModel::execute(const amd::Command& command) {
    using amd::CommandOpcode;
    const PhysicalAddress at = (read_register(amd::Register64::command_buffer_base) & 0x000f'ffff'ffff'f000ull) +
                               command_head_ % ring_bytes(read_register(amd::Register64::command_buffer_base));
    const uint64_t first = command.qwords[0];
    const uint64_t second = command.qwords[1];
    const auto bits = [](uint64_t value, unsigned high, unsigned low) {
        return (value >> low) & ((high - low == 63) ? ~uint64_t{0} : ((uint64_t{1} << (high - low + 1)) - 1));
    };
    switch (amd::opcode(command)) {
    case CommandOpcode::completion_wait:
        if (bits(first, 59, 52) != 0 || (first & 0x6) != 0) return illegal_command(at);
        executed_.push_back(command);
        if ((first & amd::completion_wait::store) && options_.stores_completions)
            memory_.write64(first & amd::completion_wait::store_address_mask, second);
        return;
    case CommandOpcode::invalidate_devtab_entry: {
        if (bits(first, 59, 16) != 0 || second != 0) return illegal_command(at);
        executed_.push_back(command);
        const auto device_id = static_cast<uint16_t>(first & 0xffff);
        entry_cache_.erase(device_id);
        devtab_invalidations_.push_back(Invalidation{device_id, read_entry(device_id)});
        return;
    }
    case CommandOpcode::invalidate_iommu_pages: {
        if (bits(first, 31, 20) != 0 || bits(first, 59, 48) != 0 || bits(second, 11, 3) != 0)
            return illegal_command(at);
        executed_.push_back(command);
        const auto domain = static_cast<uint16_t>(bits(first, 47, 32));
        const amd::DecodedInvalidationRange range = amd::decode_invalidation_range(
            amd::InvalidationRange{second & amd::invalidate_pages::address_mask, (second & 1) != 0});
        for (auto iterator = iotlb_.begin(); iterator != iotlb_.end();) {
            const uint64_t address = iterator->first.second << page_shift;
            const bool inside = range.length == 0 || (address >= range.base && address - range.base < range.length);
            if (iterator->first.first == domain && inside) iterator = iotlb_.erase(iterator);
            else ++iterator;
        }
        return;
    }
    case CommandOpcode::invalidate_interrupt_table: {
        // 2.4.5: DeviceID in bits 15:0; everything else reserved.
        if (bits(first, 59, 16) != 0 || second != 0) return illegal_command(at);
        executed_.push_back(command);
        const auto device_id = static_cast<uint16_t>(first & 0xffff);
        for (auto iterator = interrupt_cache_.begin(); iterator != interrupt_cache_.end();)
            iterator = iterator->first.first == device_id ? interrupt_cache_.erase(iterator) : ++iterator;
        return;
    }
    case CommandOpcode::invalidate_iommu_all:
        if (!(options_.extended_features & (1ull << 6))) return illegal_command(at);
        if (bits(first, 59, 0) != 0 || second != 0) return illegal_command(at);
        executed_.push_back(command);
        interrupt_cache_.clear();
        entry_cache_.clear();
        iotlb_.clear();
        return;
    default: return illegal_command(at);
    }
}

inline amd::DeviceTableEntry AmdIommuModel::read_entry(uint16_t device_id) const {
    amd::DeviceTableEntry entry;
    const PhysicalAddress address = device_table_base() + uint64_t{device_id} * 32;
    for (unsigned index = 0; index < 4; ++index) entry.qwords[index] = memory_.read64(address + index * 8);
    return entry;
}

inline void AmdIommuModel::log_event(const amd::EventLogEntry& entry) {
    const uint64_t base_register = read_register(amd::Register64::event_log_base);
    const uint64_t bytes = ring_bytes(base_register);
    uint64_t& status = registers_[amd::offset_of(amd::Register64::status)];
    if (!log_enabled() || (status & amd::status::event_log_overflow)) {
        ++events_dropped_;
        return;
    }
    const uint64_t head = read_register(amd::Register64::event_log_head) & amd::ring_pointer_mask;
    const uint64_t tail = read_register(amd::Register64::event_log_tail) & amd::ring_pointer_mask;
    if ((tail + 16) % bytes == head % bytes) {
        status |= amd::status::event_log_overflow;
        ++events_dropped_;
        return;
    }
    const PhysicalAddress slot = (base_register & 0x000f'ffff'ffff'f000ull) + tail;
    memory_.write64(slot, entry.qwords[0]);
    memory_.write64(slot + 8, entry.qwords[1]);
    registers_[amd::offset_of(amd::Register64::event_log_tail)] = (tail + 16) % bytes;
    status |= amd::status::event_log_interrupt;
}

inline void AmdIommuModel::fault(uint16_t device_id, uint16_t domain_id, uint64_t address, bool write, bool present,
                                 bool permission) {
    uint16_t flags = 0;
    if (present) flags |= amd::event_flags::present;
    if (write) flags |= amd::event_flags::write;
    if (permission) flags |= amd::event_flags::permission;
    amd::EventLogEntry entry;
    entry.qwords[0] = uint64_t{device_id} | uint64_t{domain_id} << 32 | uint64_t{flags} << 48 |
                      uint64_t{static_cast<uint8_t>(amd::EventCode::io_page_fault)} << 60;
    entry.qwords[1] = address;
    log_event(entry);
}

inline AmdIommuModel::InterruptResult AmdIommuModel::interrupt(uint16_t device_id, uint64_t address, uint32_t data) {
    InterruptResult result;
    const auto pass = [&] {
        result.delivered = true;
        result.vector = static_cast<uint8_t>(data & 0xff);
        result.destination = static_cast<uint8_t>((address >> 12) & 0xff);
        return result;
    };
    if (!translation_enabled() || uint64_t{device_id} >= device_table_entries()) return pass();
    auto cached = entry_cache_.find(device_id);
    if (cached == entry_cache_.end()) cached = entry_cache_.emplace(device_id, read_entry(device_id)).first;
    const uint64_t word0 = cached->second.qwords[0];
    const uint64_t word2 = cached->second.qwords[2];
    // V (bit 0) clear, or IV (bit 128) clear: interrupts pass unmapped.
    if ((word0 & 1) == 0 || (word2 & 1) == 0) return pass();
    // MSI data bits 10:8: the delivery mode. Fixed (000b) and arbitrated
    // (001b) go through IntCtl; the others (SMI, NMI, INIT, ExtInt) only
    // with their pass bits, which this model treats as clear: blocked.
    const unsigned delivery = (data >> 8) & 7;
    if (delivery > 1) return result;
    const unsigned control = static_cast<unsigned>((word2 >> 60) & 3);  // IntCtl, bits 189:188
    if (control == 1) return pass();
    if (control != 2) return result;  // target abort (and the reserved 11b)
    const uint32_t offset = data & 0x7ff;
    const unsigned length = static_cast<unsigned>((word2 >> 1) & 0xf);  // IntTabLen, 2^n entries
    if (length > 11 || offset >= (1u << length)) return result;
    uint32_t entry = 0;
    const auto hit = interrupt_cache_.find({device_id, offset});
    if (hit != interrupt_cache_.end()) {
        entry = hit->second;
        result.cached = true;
    } else {
        const PhysicalAddress table = word2 & 0x000f'ffff'ffff'ffc0ull;  // bits 179:134 = address 51:6
        if (!memory_.read_bytes(table + offset * 4, &entry, 4).ok()) return result;
        interrupt_cache_[{device_id, offset}] = entry;
    }
    if ((entry & 1) == 0) return result;  // RemapEn clear
    result.delivered = true;
    result.vector = static_cast<uint8_t>(entry >> 16);
    result.destination = static_cast<uint8_t>(entry >> 8);
    return result;
}

inline Optional<PhysicalAddress> AmdIommuModel::dma(uint16_t device_id, uint64_t address, bool write) {
    if (!translation_enabled()) return address;
    if (uint64_t{device_id} >= device_table_entries()) return {};
    auto cached = entry_cache_.find(device_id);
    if (cached == entry_cache_.end()) cached = entry_cache_.emplace(device_id, read_entry(device_id)).first;
    const amd::DeviceTableEntry entry = cached->second;
    // 2.2.2: V = 0 or TV = 0: the request passes untranslated.
    if (!amd::is_valid(entry) || !amd::translation_is_valid(entry)) return address;
    const uint16_t domain = amd::domain_id(entry);
    const bool suppressed = (entry.qwords[1] & (amd::device_table_entry::suppress_events |
                                                amd::device_table_entry::suppress_all_events)) != 0;
    bool may_read = (entry.qwords[0] & amd::device_table_entry::read_permission) != 0;
    bool may_write = (entry.qwords[0] & amd::device_table_entry::write_permission) != 0;
    const auto refuse = [&](bool present, bool permission) -> Optional<PhysicalAddress> {
        if (!suppressed) fault(device_id, domain, address, write, present, permission);
        return {};
    };
    const unsigned mode = amd::paging_mode(entry);
    if (mode == 0) {
        if (write ? !may_write : !may_read) return refuse(false, true);
        return address;
    }
    const auto hit = iotlb_.find({domain, address >> page_shift});
    if (hit != iotlb_.end()) {
        if (write ? !hit->second.write : !hit->second.read) return refuse(true, true);
        return hit->second.page | (address & page_mask);
    }
    PhysicalAddress table = amd::root_pointer(entry);
    unsigned level = mode;
    while (level >= 1) {
        const unsigned shift = page_shift + 9 * (level - 1);
        const uint64_t value = memory_.read64(table + ((address >> shift) & 0x1ff) * 8);
        if (!(value & 1)) return refuse(false, false);
        may_read = may_read && (value & (1ull << 61));
        may_write = may_write && (value & (1ull << 62));
        const unsigned next = (value >> 9) & 7;
        if (next == 0) {
            const uint64_t span = uint64_t{1} << shift;
            const PhysicalAddress output = ((value & 0x000f'ffff'ffff'f000ull) & ~(span - 1)) | (address & (span - 1));
            if (write ? !may_write : !may_read) return refuse(true, true);
            iotlb_[{domain, address >> page_shift}] = CachedTranslation{output & ~page_mask, may_read, may_write};
            return output;
        }
        if (next >= level) return refuse(true, false);
        table = value & 0x000f'ffff'ffff'f000ull;
        level = next;
    }
    return refuse(false, false);
}

}  // namespace sluice::testing
