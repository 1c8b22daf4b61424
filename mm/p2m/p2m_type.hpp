// What a p2m (guest-physical to machine) entry of a translated (HVM or PVH)
// domain means, independent of whether EPT or NPT holds it.
#pragma once

#include <mm/paging/paging.hpp>

#include <sluice/types.hpp>

namespace sluice::p2m {

// Kept in entry bits 55:52, which both EPT (Intel SDM Vol. 3C, "EPT
// Translation Mechanism": bits 62:52 ignored) and NPT (AMD APM Vol. 2,
// 5.4.1: bits 62:52 available to software) leave to software, and which the
// VT-d second-level format also ignores (bits 61:52), so a p2m shared with
// VT-d carries them harmlessly.
enum class P2mType : uint8_t {
    ram = 1,          // guest memory, write-back
    mmio_direct = 2,  // direct MMIO / identity region (RMRR, reserved range): uncached
};

struct P2mAttributes {
    paging::Access access = paging::Access::none;
    P2mType type = P2mType::ram;
    friend constexpr bool operator==(const P2mAttributes&, const P2mAttributes&) = default;
};

inline constexpr unsigned p2m_type_shift = 52;
inline constexpr uint64_t p2m_type_mask = uint64_t{0xf} << p2m_type_shift;

[[nodiscard]] constexpr bool valid_p2m_type(uint64_t value) {
    return value == static_cast<uint64_t>(P2mType::ram) || value == static_cast<uint64_t>(P2mType::mmio_direct);
}

}  // namespace sluice::p2m
