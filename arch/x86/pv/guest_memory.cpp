#include "arch/x86/pv/guest_memory.hpp"

#include <sluice/page_copy.hpp>

#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {

// Paging-structure entry bits (Intel SDM Vol. 3A, "4-Level Paging and
// 5-Level Paging", tables "Format of a PML4 Entry" to "Format of a
// Page-Table Entry that Maps a 4-KByte Page").
constexpr uint64_t entry_present = uint64_t{1} << 0;
constexpr uint64_t entry_writable = uint64_t{1} << 1;
constexpr uint64_t entry_user = uint64_t{1} << 2;
constexpr uint64_t entry_large = uint64_t{1} << 7;
constexpr uint64_t entry_frame_mask = 0x000ffffffffff000;

void note(GuestFault* fault, uint64_t address, unsigned level, const char* reason) {
    if (fault != nullptr) *fault = GuestFault{address, level, reason};
}

}  // namespace

Result<PhysicalAddress> GuestMemory::translate(uint64_t address, GuestAccess access, GuestFault* fault) const {
    if (!is_canonical(address)) {
        note(fault, address, 4, "not canonical");
        return Error::out_of_range;
    }
    PhysicalAddress table = root_;
    for (unsigned level = 4; level >= 1; --level) {
        const unsigned index = static_cast<unsigned>((address >> (12 + 9 * (level - 1))) & 511);
        const uint64_t entry = memory_->read64(table + index * 8);
        if (!(entry & entry_present)) {
            note(fault, address, level, "not present");
            return Error::not_found;
        }
        if (!(entry & entry_user)) {
            note(fault, address, level, "not a user mapping");
            return Error::invalid_argument;
        }
        if (access == GuestAccess::write && !(entry & entry_writable)) {
            note(fault, address, level, "read-only");
            return Error::invalid_argument;
        }
        if (level > 1 && (entry & entry_large)) {
            note(fault, address, level, "superpage");
            return Error::unsupported;
        }
        table = entry & entry_frame_mask;
    }
    if (!policy_->is_guest_ram(table >> 12)) {
        note(fault, address, 0, "not the domain's memory");
        return Error::invalid_argument;
    }
    return table + (address & (page_size - 1));
}

Status GuestMemory::copy_from(void* destination, uint64_t address, size_t length, GuestFault* fault) const {
    if (length != 0 && address + length < address) {
        note(fault, address, 4, "wraps around");
        return Error::out_of_range;
    }
    return copy_from_page_by_page(*memory_, destination, address, length,
                                  [&](uint64_t at) { return translate(at, GuestAccess::read, fault); });
}

Status GuestMemory::copy_to(uint64_t address, const void* source, size_t length, GuestFault* fault) const {
    if (length != 0 && address + length < address) {
        note(fault, address, 4, "wraps around");
        return Error::out_of_range;
    }
    return copy_to_page_by_page(*memory_, address, source, length,
                                [&](uint64_t at) { return translate(at, GuestAccess::write, fault); });
}

}  // namespace sluice::x86::pv
