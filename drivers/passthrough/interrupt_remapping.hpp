// Interrupt remapping, whatever the vendor (VT-d chapter 5, AMD IOMMU 2.2.5):
// with it on, a device's MSI write no longer names a vector and a CPU. It
// names an entry of a table the hypervisor owns, and the unit delivers only
// what that entry says, and only for the requester the entry was made for.
// Without it, a device (or dom0 driving one) could raise any vector on any
// CPU by writing to 0xfeexxxxx.
//
// Like DMA maps, entry changes are batched: an InterruptBatch records every
// entry it changes per unit and its commit() issues one interrupt-entry-cache
// invalidation (and one wait) per unit, whatever the number of entries.
#pragma once

#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

// Where an interrupt goes: one vector on one CPU (fixed delivery, physical
// destination mode, edge triggered: what an MSI of the hypervisor's needs).
struct InterruptTarget {
    uint8_t vector = 0;
    uint32_t destination = 0;  // local APIC ID (x2APIC ID in extended mode)
};

// What a device's MSI capability is programmed with.
struct MsiMessage {
    uint64_t address = 0;
    uint32_t data = 0;
};

// What the unit's hardware (or emulation) really enforces once remapping is
// on. Real VT-d and AMD-Vi units enforce all of it; an emulation may not, and
// the driver says so (with the measurement) rather than a test pretending.
struct InterruptEnforcement {
    bool compatibility_format_blocked = true;  // VT-d CFI clear stops them
    bool requester_validated = true;           // device writes carry their requester ID
    bool faults_recorded = true;               // refused requests land in the fault log
    const char* why_not = nullptr;             // the platform and what was measured
};

// Implemented by each vendor's unit.
class InterruptRemapper {
public:
    [[nodiscard]] virtual const char* name() const = 0;
    // Whether remapping is on for this unit (its table is live).
    [[nodiscard]] virtual bool remaps_interrupts() const = 0;
    // Writes a free entry that delivers target for requester_id only.
    // Error::capacity when the table is full, Error::unsupported when
    // remapping is off. The entry is live only after the batch's commit.
    [[nodiscard]] virtual Result<uint32_t> write_new_entry(uint16_t requester_id, const InterruptTarget& target) = 0;
    // Makes entry `index` not present and free. Error::not_found when it is
    // not in use.
    [[nodiscard]] virtual Status clear_entry(uint32_t index) = 0;
    // The remappable-format message that names entry `index`.
    [[nodiscard]] virtual MsiMessage message_for(uint32_t index) const = 0;
    // Invalidates whatever the unit caches of entries first..last (one
    // invalidation: a covering aligned block, or all) and waits for it.
    [[nodiscard]] virtual Status invalidate_entries(uint32_t first, uint32_t last) = 0;
    [[nodiscard]] virtual InterruptEnforcement enforcement() const { return {}; }

protected:
    ~InterruptRemapper() = default;
};

// A remapped interrupt: the unit that holds its entry and the entry's index.
struct RemappedInterrupt {
    InterruptRemapper* unit = nullptr;
    uint32_t index = 0;
};

class InterruptBatch {
public:
    static constexpr size_t unit_capacity = 16;

    InterruptBatch() = default;
    InterruptBatch(const InterruptBatch&) = delete;
    InterruptBatch& operator=(const InterruptBatch&) = delete;

    [[nodiscard]] Result<RemappedInterrupt> allocate(InterruptRemapper& unit, uint16_t requester_id,
                                                     const InterruptTarget& target);
    [[nodiscard]] Status free(const RemappedInterrupt& interrupt);
    // One invalidation and wait per unit touched since the last commit. The
    // first error is returned; every unit is still tried.
    [[nodiscard]] Status commit();

    [[nodiscard]] uint64_t invalidations() const { return invalidations_; }

private:
    struct Pending {
        InterruptRemapper* unit = nullptr;
        uint32_t first = 0;
        uint32_t last = 0;
    };
    [[nodiscard]] Status record(InterruptRemapper& unit, uint32_t index);

    Pending pending_[unit_capacity] = {};
    size_t count_ = 0;
    uint64_t invalidations_ = 0;
};

}  // namespace sluice::passthrough
