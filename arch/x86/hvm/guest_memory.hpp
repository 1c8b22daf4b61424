// An HVM guest's memory as the hypervisor reaches it: guest-linear addresses
// through the guest's own paging (walked in software, each table read through
// the p2m), then guest-physical addresses through the p2m to machine
// addresses. The hypervisor never dereferences a guest address: every step
// is a lookup that can fail, and a failure is a value (-EFAULT for a
// hypercall, a refused instruction fetch for the decoder).
//
// Paging modes (AMD APM Vol. 2, 5.1): paging off (linear = physical),
// 32-bit legacy paging (2 levels, 4 MiB pages with CR4.PSE), PAE (the four
// PDPTEs at CR3) and 4-level long-mode paging (1 GiB and 2 MiB pages);
// 5-level paging (CR4.LA57) is refused. The walk checks present at every
// level and R/W for writes (as with CR0.WP set: the hypervisor never writes
// through a read-only guest mapping); it does not set accessed or dirty bits.
//
// Only RAM of the guest resolves: a guest-physical address the p2m maps as
// direct MMIO (or not at all) is refused, so a hypercall argument can never
// make the hypervisor touch a device.
//
// Core code: host tests run it over a simulated machine.
#pragma once

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::hvm {

// The guest-physical to machine view (the domain's p2m).
class GuestPhysicalMap {
public:
    // The machine address of guest-physical `address` when it is RAM the
    // guest may access that way (`write`); nothing otherwise.
    [[nodiscard]] virtual Optional<PhysicalAddress> ram(uint64_t address, bool write) const = 0;

protected:
    ~GuestPhysicalMap() = default;
};

// The vCPU's paging controls (from the VMCB or VMCS).
struct PagingState {
    uint64_t cr0 = 0;
    uint64_t cr3 = 0;
    uint64_t cr4 = 0;
    uint64_t efer = 0;
};

enum class GuestAccess : uint8_t { read, write };

// Why a translation failed, for the caller's message.
struct GuestFault {
    uint64_t address = 0;  // the linear (or guest-physical) address
    unsigned level = 0;    // where the walk stopped (0: the final frame)
    const char* reason = "";
};

class HvmGuestMemory {
public:
    HvmGuestMemory(PhysicalMemory& memory, const GuestPhysicalMap& map, const PagingState& paging)
        : memory_(&memory), map_(&map), paging_(paging) {}

    // Guest-linear to guest-physical through the guest's paging.
    [[nodiscard]] Result<uint64_t> linear_to_physical(uint64_t linear, GuestAccess access,
                                                      GuestFault* fault = nullptr) const;
    // Guest-linear to machine.
    [[nodiscard]] Result<PhysicalAddress> translate(uint64_t linear, GuestAccess access,
                                                    GuestFault* fault = nullptr) const;

    // Copies page by page; copy_to writes nothing unless every page
    // translates.
    [[nodiscard]] Status copy_from(void* destination, uint64_t linear, size_t length, GuestFault* fault = nullptr) const;
    [[nodiscard]] Status copy_to(uint64_t linear, const void* source, size_t length, GuestFault* fault = nullptr) const;
    // Copies up to `length` bytes, stopping at the first page that does not
    // translate: how many were copied (the instruction fetch uses it, since an
    // instruction may end before an unmapped page).
    [[nodiscard]] size_t copy_available(void* destination, uint64_t linear, size_t length) const;

    // Guest-physical writes (the hypercall page, start-of-day structures).
    [[nodiscard]] Status write_physical(uint64_t address, const void* source, size_t length) const;

private:
    [[nodiscard]] Result<uint64_t> read_table_entry(uint64_t table_address, unsigned index, unsigned entry_size,
                                                    unsigned level, uint64_t linear, GuestFault* fault) const;

    PhysicalMemory* memory_;
    const GuestPhysicalMap* map_;
    PagingState paging_;
};

}  // namespace sluice::x86::hvm
