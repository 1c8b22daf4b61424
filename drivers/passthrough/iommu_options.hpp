// The IOMMU and hardware-domain command-line options, in Xen's syntax and with
// Xen's defaults (Xen's docs/misc/xen-command-line.pandoc, sections "iommu",
// "dom0-iommu", "dom0" and "dom0_mem"), and the hardware-domain IOMMU policy
// they resolve to.
//
//   iommu=      List of [ <bool>, force|required, verbose, debug,
//                         quarantine=<bool>|scratch-page, sharept, superpages,
//                         intremap, intpost, crash-disable, snoop, qinval, igfx,
//                         amd-iommu-perdev-intremap, dom0-passthrough, dom0-strict ]
//   dom0-iommu= List of [ passthrough=<bool>, strict=<bool>, map-inclusive=<bool>,
//                         map-reserved=<bool>, none ]
//   dom0=       List of [ pv | pvh, shadow=<bool>, verbose=<bool>,
//                         cpuid-faulting=<bool>, msr-relaxed=<bool> ]
//   dom0_mem=   List of ( min:<sz> | max:<sz> | <sz> ),
//               <sz> = [-]( <size> | <frac>% | <size>+<frac>% ), <frac> < 100
//
// Every boolean sub-option takes "name", "no-name" or "name=<bool>". A bare
// boolean item in iommu= ("iommu=0", "iommu=off,verbose") switches the IOMMU
// as a whole. Sub-options apply left to right, so a later one overrides an
// earlier one; iommu=dom0-strict and dom0-iommu=strict write the same setting
// and the later on the line wins (Xen leaves mixing them undefined). Each
// unknown or malformed sub-option costs one warning naming it, and parsing
// goes on with the next.
#pragma once

#include <sluice/cmdline.hpp>
#include <sluice/optional.hpp>
#include <sluice/result.hpp>
#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::passthrough {

// What happens to a device taken away from a domain (iommu=quarantine).
enum class Quarantine : uint8_t {
    none,          // quarantine=0: only devices the toolstack quarantines, and only in the basic form
    basic,         // quarantine=1 (Xen's build default): in-flight DMA faults
    scratch_page,  // quarantine=scratch-page: in-flight DMA lands on a scratch page
};

// dom0-iommu=. An empty Optional is "not given", so the resolution below
// can apply Xen's default and tell an explicit request it has to override
// from a default (and warn only about the former).
struct HardwareDomainIommuOptions {
    Optional<bool> passthrough;    // default off; PV only
    Optional<bool> strict;         // default off (relaxed) for PV; always on for PVH
    Optional<bool> map_inclusive;  // default off; PV only
    Optional<bool> map_reserved;   // default on
    // "none": skip the safety checks of the dom0 IOMMU set-up. Here: allows a
    // PVH hardware domain with the IOMMU disabled. Development only.
    bool none = false;
};

// iommu=, with Xen's defaults.
struct IommuOptions {
    bool enabled = true;                // <bool>
    bool required = false;              // force / required: refuse to run without a working IOMMU
    bool verbose = false;               // verbose (debug implies it)
    bool debug = false;                 // debug
    Quarantine quarantine = Quarantine::basic;
    bool share_page_tables = true;      // sharept: share the p2m with the IOMMU (Intel only)
    bool superpages = true;             // superpages
    bool interrupt_remapping = true;    // intremap
    bool interrupt_posting = false;     // intpost
    bool crash_disable = false;         // crash-disable: turn the IOMMUs off before kexec
    bool snoop_control = true;          // snoop (VT-d)
    bool queued_invalidation = true;    // qinval (VT-d)
    bool integrated_graphics = true;    // igfx (VT-d): enable units that only cover graphics
    bool amd_per_device_interrupt_remapping = true;  // amd-iommu-perdev-intremap
    // dom0-iommu=, also written by iommu=dom0-passthrough and iommu=dom0-strict.
    HardwareDomainIommuOptions hardware_domain;
};

// Parse one option's value into options, reporting problems through reporter
// (as "<option>: <reason>, ignored"). Only the sub-options named in value
// change. A bare "iommu" (empty value) means iommu=1; an empty dom0-iommu=
// value is reported.
void parse_iommu_option(StringView value, IommuOptions& options, cmdline::Reporter& reporter);
void parse_dom0_iommu_option(StringView value, IommuOptions& options, cmdline::Reporter& reporter);

// --- The hardware domain: dom0= and dom0_mem= -------------------------------

enum class HardwareDomainKind : uint8_t {
    pv,   // Xen's default when both kinds are built in
    pvh,
};
[[nodiscard]] const char* describe(HardwareDomainKind kind);

// One dom0_mem= amount: bytes + percent of the available memory, or, when
// negative, the available memory minus that.
struct MemoryAmount {
    bool given = false;
    bool negative = false;
    uint64_t bytes = 0;
    uint8_t percent = 0;  // < 100
};

struct HardwareDomainMemoryOptions {
    MemoryAmount size;     // <sz>
    MemoryAmount minimum;  // min:<sz>
    MemoryAmount maximum;  // max:<sz>
};

struct HardwareDomainOptions {
    HardwareDomainKind kind = HardwareDomainKind::pv;
    bool verbose = false;          // dom0=verbose
    bool cpuid_faulting = true;    // dom0=cpuid-faulting (PV only)
    bool msr_relaxed = false;      // dom0=msr-relaxed
    HardwareDomainMemoryOptions memory;
};

// dom0=: pv and pvh select the kind; shadow=1 is refused with a warning (there
// is no shadow paging here), shadow=0 accepted.
void parse_dom0_option(StringView value, HardwareDomainOptions& options, cmdline::Reporter& reporter);

// dom0_mem=. Sizes take Xen's suffixes: K, M, G, T (either case) and B for
// bytes; a number without a suffix is KiB, as in Xen (so dom0_mem=1048576 is
// 1 GiB). A hex number is read with a 0x prefix. Percentages are whole
// numbers below 100.
void parse_dom0_memory_option(StringView value, HardwareDomainMemoryOptions& options, cmdline::Reporter& reporter);

struct HardwareDomainMemory {
    uint64_t initial = 0;  // bytes, page aligned
    // The most dom0 may balloon up to: max:<sz> when given, else no limit
    // (~0). Never below initial.
    uint64_t maximum = ~uint64_t{0};
};

// dom0's memory from the options and the memory available for domains
// (the machine's RAM minus what the hypervisor keeps for itself), following
// Xen's documented rules:
// - an amount is bytes + percent% of available; a negative amount is
//   available minus that (0 if that is more than available);
// - without <sz> (or when it comes to 0), dom0 gets everything available
//   except a reserve of 1/16 of it, at most 128 MiB, kept for the
//   hypervisor's later needs (per-vCPU state, DMA buffers, IOMMU tables of
//   other domains). We keep Xen's documented figure unchanged;
// - the result is raised to min:, then lowered to max: (max wins over min),
//   then to what is available, and rounded down to whole pages.
[[nodiscard]] HardwareDomainMemory compute_hardware_domain_memory(const HardwareDomainMemoryOptions& options,
                                                                  uint64_t available_bytes);
[[nodiscard]] uint64_t evaluate(const MemoryAmount& amount, uint64_t available_bytes);

// --- The resolved policy ---------------------------------------------------

enum class HardwareDomainIommuMode : uint8_t {
    disabled,     // iommu=0: no IOMMU at all, nothing to map
    passthrough,  // the units let dom0's DMA through untranslated: nothing to map
    relaxed,      // identity-map all RAM but the hypervisor's
    strict,       // identity-map only dom0's own memory (PV); nothing of RAM for PVH,
                  // whose memory the IOMMU reaches through its p2m
};
[[nodiscard]] const char* describe(HardwareDomainIommuMode mode);

struct HardwareDomainPolicy {
    HardwareDomainKind kind = HardwareDomainKind::pv;
    HardwareDomainIommuMode mode = HardwareDomainIommuMode::relaxed;
    bool map_reserved = true;    // also identity-map e820 reserved memory
    bool map_inclusive = false;  // also identity-map everything below 4 GiB that is not RAM (PV only)
};

// Applies Xen's rules and defaults, warning once per request it overrides:
// - PV: strict wins over passthrough (as Xen's iommu_setup does); the
//   default is relaxed with map-reserved.
// - PVH: always strict, never passthrough, never map-inclusive (RAM of other
//   domains has no place in dom0's guest-physical space, and a PVH dom0's DMA
//   must be translated to reach its memory). An explicit passthrough=1,
//   strict=0 or map-inclusive=1 is overridden with a warning.
// - iommu=0: mode disabled. A PVH dom0 cannot work without the IOMMU, so that
//   combination is Error::unsupported (logged), unless dom0-iommu=none asks
//   to skip this check.
[[nodiscard]] Result<HardwareDomainPolicy> resolve_hardware_domain_policy(const IommuOptions& options,
                                                                          HardwareDomainKind kind);

// --- The options the command line wrote ------------------------------------

// Written by the iommu= / dom0-iommu= handlers (registered with the command
// line parser) and read once the line is parsed; boot is single-threaded.
[[nodiscard]] IommuOptions& iommu_options();
// Written by the dom0= / dom0_mem= handlers.
[[nodiscard]] HardwareDomainOptions& hardware_domain_options();

}  // namespace sluice::passthrough
