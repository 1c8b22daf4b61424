// The ivmd= option: memory regions to identity-map for devices behind AMD-Vi
// IOMMUs that the firmware's IVRS table forgot, in Xen's syntax:
//
//   ivmd=<start>[-<end>][=<bdf>[-<bdf>][,<bdf>[-<bdf>]...]][;<start>...]
//
// <start> and <end> are page frame numbers in hex, <end> inclusive; a <bdf>
// is [seg:]bus:dev.fn in hex; <bdf>-<bdf> is an inclusive range of device IDs
// (same segment). Without a device list the region is for every device of
// segment 0. Every region is a read/write unity mapping, as an IVMD with the
// Unity, IR and IW flags set.
//
// Each malformed part is reported once (naming the option and the offending
// text) and left out; the other parts are kept. Repeated ivmd= options add
// to the list.
#pragma once

#include <drivers/passthrough/amd/ivmd.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/span.hpp>
#include <sluice/string_view.hpp>

namespace sluice::amd {

class IvmdOptionRegions {
public:
    // One region per range and device item; Xen allows 10 ranges of up to 20
    // devices, which real use never approaches.
    static constexpr size_t capacity = 32;

    [[nodiscard]] Span<const IvmdRegion> regions() const { return {regions_, count_}; }
    [[nodiscard]] size_t size() const { return count_; }
    [[nodiscard]] bool full() const { return count_ == capacity; }
    // The 1-based number of the next ivmd= range (for IvmdRegion::origin_offset).
    [[nodiscard]] uint32_t next_range_number() const { return ranges_seen_ + 1; }
    void clear() {
        count_ = 0;
        ranges_seen_ = 0;
    }

private:
    friend void parse_ivmd_option(StringView value, cmdline::Reporter& reporter, IvmdOptionRegions& into);

    IvmdRegion regions_[capacity];
    size_t count_ = 0;
    uint32_t ranges_seen_ = 0;
};

// Parses one ivmd= value into `into`, reporting problems as option "ivmd".
void parse_ivmd_option(StringView value, cmdline::Reporter& reporter, IvmdOptionRegions& into);

// The regions of every ivmd= on the hypervisor's command line (filled by the
// registered option handler; the AMD-Vi set-up reads them).
[[nodiscard]] const IvmdOptionRegions& ivmd_option_regions();

// The registered handler itself (SLUICE_CUSTOM_PARAMETER("ivmd", ...)).
void handle_ivmd_option(StringView option, StringView value, cmdline::Reporter& reporter);

// Forgets every ivmd= region (host tests run many command lines in one
// process; the image parses its line once).
void clear_ivmd_option_regions();

}  // namespace sluice::amd
