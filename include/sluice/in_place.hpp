// Storage for one object that is constructed later, in place, and never
// moves: for objects other objects point into (a domain's IOMMU context
// points at its p2m, units point at the context), where Result<T> and a move
// would leave those pointers behind. No allocation, and no destructor of
// its own (the image has no static destructors): reset() ends the object.
#pragma once

#include <sluice/new.hpp>
#include <sluice/types.hpp>
#include <sluice/utility.hpp>

namespace sluice {

template <typename T> class InPlace {
public:
    constexpr InPlace() = default;
    InPlace(const InPlace&) = delete;
    InPlace& operator=(const InPlace&) = delete;

    // Destroys what was there, then constructs T from arguments.
    template <typename... Arguments> T& construct(Arguments&&... arguments) {
        reset();
        object_ = new (storage_) T(static_cast<Arguments&&>(arguments)...);
        return *object_;
    }
    void reset() {
        if (object_ != nullptr) object_->~T();
        object_ = nullptr;
    }

    [[nodiscard]] bool has_value() const { return object_ != nullptr; }
    [[nodiscard]] explicit operator bool() const { return object_ != nullptr; }
    [[nodiscard]] T* get() const { return object_; }
    [[nodiscard]] T& operator*() const { return *object_; }
    [[nodiscard]] T* operator->() const { return object_; }

private:
    alignas(T) unsigned char storage_[sizeof(T)] = {};
    T* object_ = nullptr;
};

}  // namespace sluice
