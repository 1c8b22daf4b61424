#include "arch/x86/hvm/guest_memory.hpp"

#include <sluice/page_copy.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::hvm {
namespace {

// AMD APM Vol. 2, 3.1 (CR0, CR4) and 3.1.7 (EFER).
constexpr uint64_t cr0_paging = uint64_t{1} << 31;
constexpr uint64_t cr4_page_size_extensions = uint64_t{1} << 4;
constexpr uint64_t cr4_physical_address_extension = uint64_t{1} << 5;
constexpr uint64_t cr4_five_level_paging = uint64_t{1} << 12;
constexpr uint64_t efer_long_mode_active = uint64_t{1} << 10;

// Page-translation entry bits (5.3.3, 5.4.1).
constexpr uint64_t entry_present = uint64_t{1} << 0;
constexpr uint64_t entry_writable = uint64_t{1} << 1;
constexpr uint64_t entry_page_size = uint64_t{1} << 7;
constexpr uint64_t entry_address = 0x000f'ffff'ffff'f000;

Result<uint64_t> fail(GuestFault* fault, uint64_t address, unsigned level, const char* reason) {
    if (fault != nullptr) *fault = GuestFault{address, level, reason};
    return Error::not_found;
}

bool canonical(uint64_t address) {
    const uint64_t upper = address >> 47;
    return upper == 0 || upper == 0x1ffff;
}

}  // namespace

Result<uint64_t> HvmGuestMemory::read_table_entry(uint64_t table_address, unsigned index, unsigned entry_size,
                                                  unsigned level, uint64_t linear, GuestFault* fault) const {
    const uint64_t entry_address_physical = table_address + uint64_t{index} * entry_size;
    const Optional<PhysicalAddress> machine = map_->ram(entry_address_physical, false);
    if (!machine.has_value()) return fail(fault, linear, level, "a guest page table is not in the guest's RAM");
    uint64_t entry = 0;
    if (!memory_->read_bytes(machine.value(), &entry, entry_size).ok())
        return fail(fault, linear, level, "a guest page table could not be read");
    return entry;
}

Result<uint64_t> HvmGuestMemory::linear_to_physical(uint64_t linear, GuestAccess access, GuestFault* fault) const {
    const bool write = access == GuestAccess::write;
    if ((paging_.cr0 & cr0_paging) == 0) return linear & 0xffffffff;
    if ((paging_.cr4 & cr4_physical_address_extension) == 0) {
        // 32-bit legacy paging (5.3): a page directory of 1024 4-byte entries.
        const uint64_t address = linear & 0xffffffff;
        const uint64_t directory = SLUICE_TRY(
            read_table_entry(paging_.cr3 & 0xfffff000, static_cast<unsigned>(address >> 22), 4, 2, linear, fault));
        if ((directory & entry_present) == 0) return fail(fault, linear, 2, "not present");
        if (write && (directory & entry_writable) == 0) return fail(fault, linear, 2, "read-only");
        if ((directory & entry_page_size) != 0 && (paging_.cr4 & cr4_page_size_extensions) != 0) {
            // A 4 MiB page; PSE-36 puts address bits 39:32 in bits 20:13.
            const uint64_t base = (directory & 0xffc00000) | ((directory & 0x1fe000) << 19);
            return base | (address & 0x3fffff);
        }
        const uint64_t table = SLUICE_TRY(read_table_entry(directory & 0xfffff000,
                                                           static_cast<unsigned>((address >> 12) & 0x3ff), 4, 1,
                                                           linear, fault));
        if ((table & entry_present) == 0) return fail(fault, linear, 1, "not present");
        if (write && (table & entry_writable) == 0) return fail(fault, linear, 1, "read-only");
        return (table & 0xfffff000) | (address & 0xfff);
    }
    unsigned level = 0;
    uint64_t table = 0;
    if ((paging_.efer & efer_long_mode_active) != 0) {
        if ((paging_.cr4 & cr4_five_level_paging) != 0) return fail(fault, linear, 5, "5-level paging is not supported");
        if (!canonical(linear)) return fail(fault, linear, 4, "non-canonical address");
        level = 4;
        table = paging_.cr3 & entry_address;
    } else {
        // PAE (5.3.4): four PDPTEs at CR3[31:5], indexed by bits 31:30.
        const uint64_t address = linear & 0xffffffff;
        const uint64_t pointer = SLUICE_TRY(read_table_entry(paging_.cr3 & 0xffffffe0,
                                                             static_cast<unsigned>(address >> 30), 8, 3, linear, fault));
        if ((pointer & entry_present) == 0) return fail(fault, linear, 3, "not present");
        linear = address;
        level = 2;
        table = pointer & entry_address;
    }
    for (;; --level) {
        const unsigned shift = 12 + 9 * (level - 1);
        const uint64_t entry = SLUICE_TRY(
            read_table_entry(table, static_cast<unsigned>((linear >> shift) & 511), 8, level, linear, fault));
        if ((entry & entry_present) == 0) return fail(fault, linear, level, "not present");
        if (write && (entry & entry_writable) == 0) return fail(fault, linear, level, "read-only");
        const uint64_t page_mask = (uint64_t{1} << shift) - 1;
        if (level == 1 || ((level == 2 || level == 3) && (entry & entry_page_size) != 0))
            return (entry & entry_address & ~page_mask) | (linear & page_mask);
        if ((entry & entry_page_size) != 0) return fail(fault, linear, level, "a large page at a level that has none");
        table = entry & entry_address;
    }
}

Result<PhysicalAddress> HvmGuestMemory::translate(uint64_t linear, GuestAccess access, GuestFault* fault) const {
    const uint64_t physical = SLUICE_TRY(linear_to_physical(linear, access, fault));
    const Optional<PhysicalAddress> machine = map_->ram(physical, access == GuestAccess::write);
    if (!machine.has_value()) return fail(fault, physical, 0, "the guest-physical address is not the guest's RAM");
    return machine.value();
}

Status HvmGuestMemory::copy_from(void* destination, uint64_t linear, size_t length, GuestFault* fault) const {
    if (length != 0 && linear + length < linear) return Error::out_of_range;
    return copy_from_page_by_page(*memory_, destination, linear, length,
                                  [&](uint64_t at) { return translate(at, GuestAccess::read, fault); });
}

Status HvmGuestMemory::copy_to(uint64_t linear, const void* source, size_t length, GuestFault* fault) const {
    if (length != 0 && linear + length < linear) return Error::out_of_range;
    return copy_to_page_by_page(*memory_, linear, source, length,
                                [&](uint64_t at) { return translate(at, GuestAccess::write, fault); });
}

size_t HvmGuestMemory::copy_available(void* destination, uint64_t linear, size_t length) const {
    auto* bytes = static_cast<uint8_t*>(destination);
    size_t copied = 0;
    while (copied < length) {
        const size_t chunk = min<size_t>(length - copied, page_size - (linear & (page_size - 1)));
        const Result<PhysicalAddress> machine = translate(linear, GuestAccess::read);
        if (!machine.ok() || !memory_->read_bytes(machine.value(), bytes + copied, chunk).ok()) break;
        copied += chunk;
        linear += chunk;
    }
    return copied;
}

Status HvmGuestMemory::write_physical(uint64_t address, const void* source, size_t length) const {
    if (length != 0 && address + length < address) return Error::out_of_range;
    return copy_to_page_by_page(*memory_, address, source, length, [&](uint64_t at) -> Result<PhysicalAddress> {
        const Optional<PhysicalAddress> machine = map_->ram(at, true);
        if (!machine.has_value()) return Error::not_found;
        return machine.value();
    });
}

}  // namespace sluice::x86::hvm
