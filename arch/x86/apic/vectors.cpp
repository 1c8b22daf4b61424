#include <arch/x86/apic/vectors.hpp>

namespace sluice::x86::apic {
namespace {

VectorAllocator the_allocator;
HandlerTable the_handlers;

constexpr uint64_t bit(uint8_t vector) { return uint64_t{1} << (vector % 64); }

}  // namespace

Result<uint8_t> VectorAllocator::allocate() {
    for (unsigned vector = first_allocatable_vector; vector <= last_allocatable_vector; ++vector) {
        const uint8_t candidate = static_cast<uint8_t>(vector);
        if (!is_allocated(candidate)) {
            taken_[candidate / 64] |= bit(candidate);
            return candidate;
        }
    }
    return Error::capacity;
}

Status VectorAllocator::reserve(uint8_t vector) {
    if (!is_allocatable_vector(vector)) return Error::invalid_argument;
    if (is_allocated(vector)) return Error::already_exists;
    taken_[vector / 64] |= bit(vector);
    return success();
}

Status VectorAllocator::release(uint8_t vector) {
    if (!is_allocated(vector)) return Error::not_found;
    taken_[vector / 64] &= ~bit(vector);
    return success();
}

bool VectorAllocator::is_allocated(uint8_t vector) const {
    return is_allocatable_vector(vector) && (taken_[vector / 64] & bit(vector)) != 0;
}

unsigned VectorAllocator::free_count() const {
    unsigned count = 0;
    for (unsigned vector = first_allocatable_vector; vector <= last_allocatable_vector; ++vector)
        if (!is_allocated(static_cast<uint8_t>(vector))) ++count;
    return count;
}

Status HandlerTable::register_handler(uint8_t vector, InterruptHandler handler, void* context) {
    if (!is_allocatable_vector(vector) || handler == nullptr) return Error::invalid_argument;
    Entry& entry = entries_[vector];
    if (entry.handler != nullptr) return Error::already_exists;
    // The context first: dispatch reads the handler, then its context.
    entry.context = context;
    entry.handler = handler;
    return success();
}

Status HandlerTable::unregister_handler(uint8_t vector) {
    Entry& entry = entries_[vector];
    if (!is_allocatable_vector(vector) || entry.handler == nullptr) return Error::not_found;
    entry.handler = nullptr;
    entry.context = nullptr;
    return success();
}

bool HandlerTable::has_handler(uint8_t vector) const { return entries_[vector].handler != nullptr; }

DispatchOutcome HandlerTable::dispatch(uint8_t vector) {
    ++counts_[vector];
    if (vector == spurious_interrupt_vector) return DispatchOutcome::spurious;
    const Entry& entry = entries_[vector];
    if (entry.handler == nullptr) return DispatchOutcome::unhandled;
    entry.handler(entry.context);
    return DispatchOutcome::handled;
}

VectorAllocator& vector_allocator() { return the_allocator; }
HandlerTable& interrupt_handlers() { return the_handlers; }

Result<uint8_t> allocate_vector() { return the_allocator.allocate(); }
Status release_vector(uint8_t vector) { return the_allocator.release(vector); }
Status register_handler(uint8_t vector, InterruptHandler handler, void* context) {
    return the_handlers.register_handler(vector, handler, context);
}
Status unregister_handler(uint8_t vector) { return the_handlers.unregister_handler(vector); }

}  // namespace sluice::x86::apic
