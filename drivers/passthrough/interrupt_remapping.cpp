#include <drivers/passthrough/interrupt_remapping.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::passthrough {

namespace {
constexpr Logger logger{"intremap"};
}  // namespace

Status InterruptBatch::record(InterruptRemapper& unit, uint32_t index) {
    for (size_t slot = 0; slot < count_; ++slot) {
        Pending& pending = pending_[slot];
        if (pending.unit != &unit) continue;
        pending.first = min(pending.first, index);
        pending.last = max(pending.last, index);
        return success();
    }
    if (count_ == unit_capacity) {
        // Cannot be deferred: make this unit's change visible now.
        logger.warning("more than %zu units in one interrupt batch; %s invalidated at once", unit_capacity,
                       unit.name());
        ++invalidations_;
        return unit.invalidate_entries(index, index);
    }
    pending_[count_++] = Pending{&unit, index, index};
    return success();
}

Result<RemappedInterrupt> InterruptBatch::allocate(InterruptRemapper& unit, uint16_t requester_id,
                                                   const InterruptTarget& target) {
    const uint32_t index = SLUICE_TRY(unit.write_new_entry(requester_id, target));
    SLUICE_TRY(record(unit, index));
    return RemappedInterrupt{&unit, index};
}

Status InterruptBatch::free(const RemappedInterrupt& interrupt) {
    if (interrupt.unit == nullptr) return Error::invalid_argument;
    SLUICE_TRY(interrupt.unit->clear_entry(interrupt.index));
    return record(*interrupt.unit, interrupt.index);
}

Status InterruptBatch::commit() {
    Status result = success();
    for (size_t slot = 0; slot < count_; ++slot) {
        const Pending& pending = pending_[slot];
        ++invalidations_;
        const Status invalidated = pending.unit->invalidate_entries(pending.first, pending.last);
        if (!invalidated.ok()) {
            logger.error("%s: interrupt entries %u-%u could not be invalidated: %s", pending.unit->name(),
                         pending.first, pending.last, describe(invalidated.error()));
            if (result.ok()) result = invalidated;
        }
    }
    count_ = 0;
    return result;
}

}  // namespace sluice::passthrough
