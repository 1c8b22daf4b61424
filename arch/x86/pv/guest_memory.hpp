// A PV guest's virtual memory, as the hypervisor reaches it: by a software
// walk of the guest's own 4-level tables, never by dereferencing a guest
// pointer (docs/pv.md, "Address space").
//
// The walk checks, at every level, what the processor would check for a
// ring-3 access (Intel SDM Vol. 3A, "Access Rights"): present, user, and
// writable for a write. A superpage bit in an L3 or L2 entry ends the walk
// with a failure: PV guests get no superpages, so such an entry cannot have
// passed validation. The final frame must also be one the caller accepts
// (the domain's RAM): a pointer that resolves to I/O memory is refused, so a
// hypercall argument can never make the hypervisor touch a device.
//
// Every failure is a value (the hypercall gives -EFAULT), so a bad pointer
// can never fault the hypervisor.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::pv {

enum class GuestAccess : uint8_t { read, write };

// Which machine frames a guest pointer may resolve to.
class GuestFramePolicy {
public:
    [[nodiscard]] virtual bool is_guest_ram(uint64_t machine_frame) const = 0;

protected:
    ~GuestFramePolicy() = default;
};

// Why a translation failed, for the message the caller prints.
struct GuestFault {
    uint64_t address = 0;  // the guest virtual address that failed
    unsigned level = 0;    // 4..1 where the walk stopped, 0 for the frame check
    const char* reason = "";
};

class GuestMemory {
public:
    // root: machine address of the L4 the guest runs on (its kernel base for
    // hypercalls).
    GuestMemory(PhysicalMemory& memory, const GuestFramePolicy& policy, PhysicalAddress root)
        : memory_(&memory), policy_(&policy), root_(root) {}

    [[nodiscard]] PhysicalAddress root() const { return root_; }
    void set_root(PhysicalAddress root) { root_ = root; }

    // The machine address backing guest virtual `address`.
    [[nodiscard]] Result<PhysicalAddress> translate(uint64_t address, GuestAccess access,
                                                    GuestFault* fault = nullptr) const;

    // Copies between guest virtual memory and the hypervisor, page by page;
    // nothing is written to the guest unless every page of the range
    // translates (a failed copy_to changes nothing).
    [[nodiscard]] Status copy_from(void* destination, uint64_t address, size_t length,
                                   GuestFault* fault = nullptr) const;
    [[nodiscard]] Status copy_to(uint64_t address, const void* source, size_t length,
                                 GuestFault* fault = nullptr) const;

    template <typename T> [[nodiscard]] Status read(uint64_t address, T& value, GuestFault* fault = nullptr) const {
        return copy_from(&value, address, sizeof(T), fault);
    }
    template <typename T>
    [[nodiscard]] Status write(uint64_t address, const T& value, GuestFault* fault = nullptr) const {
        return copy_to(address, &value, sizeof(T), fault);
    }

private:
    PhysicalMemory* memory_;
    const GuestFramePolicy* policy_;
    PhysicalAddress root_;
};

// Canonical form (Intel SDM Vol. 1, "Canonical Addressing"): bits 63:47 all
// equal, for 48-bit linear addresses.
[[nodiscard]] constexpr bool is_canonical(uint64_t address) {
    const uint64_t upper = address >> 47;
    return upper == 0 || upper == 0x1ffff;
}

}  // namespace sluice::x86::pv
