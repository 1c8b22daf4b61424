// AMD-Vi commands: the 128-bit entries software writes into the command
// buffer.
//
// AMD I/O Virtualization Technology (IOMMU) Specification, document 48882,
// section 2.4 "Commands". Every command has its opcode in bits 63:60 of the
// first 64-bit word.
#pragma once

#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice::amd {

struct Command {
    uint64_t qwords[2] = {};

    friend constexpr bool operator==(const Command& first, const Command& second) {
        return first.qwords[0] == second.qwords[0] && first.qwords[1] == second.qwords[1];
    }
};
static_assert(sizeof(Command) == 16);

enum class CommandOpcode : uint8_t {
    completion_wait = 0x01,             // 2.4.1
    invalidate_devtab_entry = 0x02,     // 2.4.2
    invalidate_iommu_pages = 0x03,      // 2.4.3
    invalidate_iotlb_pages = 0x04,      // 2.4.4
    invalidate_interrupt_table = 0x05,  // 2.4.5
    prefetch_iommu_pages = 0x06,        // 2.4.6
    complete_ppr_request = 0x07,        // 2.4.7
    invalidate_iommu_all = 0x08,        // 2.4.8 (EFR.IASup)
};

inline constexpr unsigned command_opcode_shift = 60;

[[nodiscard]] constexpr CommandOpcode opcode(const Command& command) {
    return static_cast<CommandOpcode>(command.qwords[0] >> command_opcode_shift);
}

namespace command_detail {
constexpr uint64_t opcode_bits(CommandOpcode opcode) {
    return uint64_t{static_cast<uint8_t>(opcode)} << command_opcode_shift;
}
}  // namespace command_detail

// --- COMPLETION_WAIT (2.4.1) ------------------------------------------------------
// Word 0: S (store) bit 0, I (interrupt) bit 1, F (flush queue) bit 2, the
// 8-byte aligned store address in bits 51:3. Word 1: the 64-bit store data.
// The IOMMU writes the data once every earlier command has completed.
namespace completion_wait {
inline constexpr uint64_t store = uint64_t{1} << 0;
inline constexpr uint64_t interrupt = uint64_t{1} << 1;
inline constexpr uint64_t flush_queue = uint64_t{1} << 2;
inline constexpr uint64_t store_address_mask = 0x000f'ffff'ffff'fff8ull;
}  // namespace completion_wait

// A completion wait that stores store_data at store_address (8-byte aligned;
// the low three bits are dropped) and optionally raises the completion
// interrupt.
[[nodiscard]] constexpr Command make_completion_wait(PhysicalAddress store_address, uint64_t store_data,
                                                     bool interrupt = false, bool flush_queue = false) {
    Command command;
    command.qwords[0] = command_detail::opcode_bits(CommandOpcode::completion_wait) | completion_wait::store |
                        (interrupt ? completion_wait::interrupt : 0) |
                        (flush_queue ? completion_wait::flush_queue : 0) |
                        (store_address & completion_wait::store_address_mask);
    command.qwords[1] = store_data;
    return command;
}

// --- INVALIDATE_DEVTAB_ENTRY (2.4.2) -------------------------------------------------
// Word 0 bits 15:0: the device ID whose cached DTE is dropped.
[[nodiscard]] constexpr Command make_invalidate_device_table_entry(uint16_t device_id) {
    Command command;
    command.qwords[0] = command_detail::opcode_bits(CommandOpcode::invalidate_devtab_entry) | device_id;
    return command;
}

// --- INVALIDATE_IOMMU_PAGES (2.4.3) ---------------------------------------------------
// Word 0: PASID in bits 19:0, DomainID in bits 47:32. Word 1: S (size) bit
// 0, PDE bit 1 (also drop cached page directory entries), GN bit 2 (guest
// addresses; 0 here), the address in bits 63:12.
//
// With S=0 the address names one 4 KiB page. With S=1 the range is a
// naturally aligned power of two of at least 8 KiB whose size is given by
// the lowest clear address bit from bit 12 up: bit 12 clear -> 8 KiB, bits
// 13:12 = 01b -> 16 KiB, bits 20:12 = 0_1111_1111b -> 2 MiB, and
// 7FFF_FFFF_FFFF_F000h (bit 63 clear, 62:12 set) -> all 2^64 bytes.
namespace invalidate_pages {
inline constexpr uint64_t size = uint64_t{1} << 0;                     // S
inline constexpr uint64_t page_directory_entries = uint64_t{1} << 1;  // PDE
inline constexpr uint64_t guest = uint64_t{1} << 2;                    // GN
inline constexpr uint64_t address_mask = ~uint64_t{0xfff};
inline constexpr unsigned domain_id_shift = 32;
// The encoded address that covers every address of a domain (with S=1).
inline constexpr uint64_t all_addresses = 0x7fff'ffff'ffff'f000ull;
// An order this large (2^52 pages = 2^64 bytes) covers everything.
inline constexpr unsigned all_addresses_order = 52;
}  // namespace invalidate_pages

struct InvalidationRange {
    uint64_t address = 0;  // bits 63:12 as the command takes them (low 12 bits zero)
    bool size = false;     // the S bit
};

// Encodes the naturally aligned block of 2^order 4 KiB pages that contains
// address. An address not aligned to the block is rounded down to it, so
// the encoded range always covers the requested one (a larger flush is
// safe, a smaller one is not). Orders of 52 and more encode "everything".
[[nodiscard]] constexpr InvalidationRange encode_invalidation_range(uint64_t address, unsigned order) {
    if (order == 0) return InvalidationRange{address & invalidate_pages::address_mask, false};
    if (order >= invalidate_pages::all_addresses_order) return InvalidationRange{invalidate_pages::all_addresses, true};
    const unsigned size_shift = page_shift + order;  // the block is 2^size_shift bytes
    const uint64_t base = align_down(address, uint64_t{1} << size_shift);
    // Bits 12 .. size_shift-2 set, bit size_shift-1 clear (the base is aligned).
    const uint64_t ones = ((uint64_t{1} << (size_shift - 1)) - 1) & invalidate_pages::address_mask;
    return InvalidationRange{base | ones, true};
}

// The inverse: the first byte and the size in bytes (0 meaning 2^64) of the
// range an encoded address covers.
struct DecodedInvalidationRange {
    uint64_t base = 0;
    uint64_t length = 0;  // 0: the whole 64-bit space
};
[[nodiscard]] constexpr DecodedInvalidationRange decode_invalidation_range(InvalidationRange range) {
    const uint64_t address = range.address & invalidate_pages::address_mask;
    if (!range.size) return DecodedInvalidationRange{address, page_size};
    // The lowest clear bit at or above 12 sets the size 2^(bit + 1).
    const uint64_t ones_from_12 = ~(address | 0xfff);
    if (ones_from_12 == 0) return DecodedInvalidationRange{0, 0};  // no clear bit: treat as everything
    const unsigned clear_bit = count_trailing_zeros(ones_from_12);
    if (clear_bit >= 63) return DecodedInvalidationRange{0, 0};
    const uint64_t length = uint64_t{1} << (clear_bit + 1);
    return DecodedInvalidationRange{address & ~(length - 1), length};
}

[[nodiscard]] constexpr Command make_invalidate_iommu_pages(uint16_t domain_id, InvalidationRange range,
                                                            bool page_directory_entries) {
    Command command;
    command.qwords[0] = command_detail::opcode_bits(CommandOpcode::invalidate_iommu_pages) |
                        (uint64_t{domain_id} << invalidate_pages::domain_id_shift);
    command.qwords[1] = (range.address & invalidate_pages::address_mask) |
                        (range.size ? invalidate_pages::size : 0) |
                        (page_directory_entries ? invalidate_pages::page_directory_entries : 0);
    return command;
}

// Every cached translation and page directory entry of one domain.
[[nodiscard]] constexpr Command make_invalidate_domain(uint16_t domain_id) {
    return make_invalidate_iommu_pages(domain_id, InvalidationRange{invalidate_pages::all_addresses, true}, true);
}

// --- INVALIDATE_INTERRUPT_TABLE (2.4.5) ------------------------------------------------
[[nodiscard]] constexpr Command make_invalidate_interrupt_table(uint16_t device_id) {
    Command command;
    command.qwords[0] = command_detail::opcode_bits(CommandOpcode::invalidate_interrupt_table) | device_id;
    return command;
}

// --- INVALIDATE_IOMMU_ALL (2.4.8) ------------------------------------------------------
// Drops every cached DTE, translation and interrupt remapping entry; only
// for units whose EFR reports IASup.
[[nodiscard]] constexpr Command make_invalidate_iommu_all() {
    Command command;
    command.qwords[0] = command_detail::opcode_bits(CommandOpcode::invalidate_iommu_all);
    return command;
}

}  // namespace sluice::amd
