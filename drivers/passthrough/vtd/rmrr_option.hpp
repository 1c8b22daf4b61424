// The rmrr= option: reserved memory regions the firmware forgot to report,
// in Xen's syntax (docs/vtd.md, "DMAR parsing and rmrr="):
//
//     rmrr=start[-end]=[seg:]bus:dev.fn[,[seg:]bus:dev.fn...][;start[-end]=...]
//
// start and end are page frame numbers in hex (0x optional), end inclusive
// and start when omitted. All devices of one range are on one segment (an
// RMRR names one segment, VT-d spec 8.4). Each malformed part gets one warning
// naming the offending text and is dropped; the valid ranges and devices are
// kept. Every rmrr= on the command line adds to the same list.
#pragma once

#include <drivers/pci/address.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::vtd {

struct RmrrOptionRange {
    // Xen allows 20 devices per range; a platform device list rarely needs more.
    static constexpr size_t max_devices = 32;

    uint64_t first_frame = 0;  // as written: page frame numbers, inclusive
    uint64_t last_frame = 0;
    uint16_t segment = 0;
    pci::PciAddress devices[max_devices] = {};
    size_t device_count = 0;

    [[nodiscard]] constexpr PhysicalAddress base() const { return first_frame << page_shift; }
    // One past the last byte.
    [[nodiscard]] constexpr PhysicalAddress end() const { return (last_frame + 1) << page_shift; }
    [[nodiscard]] Span<const pci::PciAddress> device_list() const {
        return Span<const pci::PciAddress>(devices, device_count);
    }
};

class RmrrOption {
public:
    // Xen allows 10 ranges; more are warned about and dropped.
    static constexpr size_t max_ranges = 16;
    // Frame numbers beyond the 52-bit physical address space are refused.
    static constexpr uint64_t frame_limit = uint64_t{1} << (52 - page_shift);

    // Parses one rmrr= value and appends its ranges; option is the name as
    // written, for the warnings.
    void parse(StringView option, StringView value, cmdline::Reporter& reporter);

    [[nodiscard]] Span<const RmrrOptionRange> ranges() const { return Span<const RmrrOptionRange>(ranges_, count_); }
    void clear() {
        count_ = 0;
        overflow_reported_ = false;
    }

private:
    void parse_range(StringView option, StringView item, cmdline::Reporter& reporter);

    RmrrOptionRange ranges_[max_ranges];
    size_t count_ = 0;
    bool overflow_reported_ = false;
};

// The ranges every rmrr= of the command line gave, for the VT-d set-up.
[[nodiscard]] const RmrrOption& rmrr_option();
// Forgets them (tests, or a set-up that parses the command line again).
void clear_rmrr_option();

// The handler registered for "rmrr" (SLUICE_CUSTOM_PARAMETER).
void parse_rmrr_option(StringView option, StringView value, cmdline::Reporter& reporter);

}  // namespace sluice::vtd
