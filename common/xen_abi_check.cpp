// Compiles every header of include/public/ in both builds (the host library
// and the freestanding image), and checks the relations between their
// constants that the ABI states in prose rather than in numbers.
#include <public/arch_x86_64.hpp>
#include <public/callback.hpp>
#include <public/elfnote.hpp>
#include <public/errno.hpp>
#include <public/event_channel.hpp>
#include <public/features.hpp>
#include <public/hvm.hpp>
#include <public/hvm_start_info.hpp>
#include <public/memory.hpp>
#include <public/physdev.hpp>
#include <public/sched.hpp>
#include <public/vcpu.hpp>
#include <public/version.hpp>
#include <public/xen.hpp>

namespace sluice::xen {
namespace {

// The flat selectors sit in the reserved GDT area (arch-x86/xen.h puts it at
// the far end of the 16-page GDT), with requested privilege level 3.
constexpr uint32_t selector_index(uint16_t selector) { return selector >> 3; }
static_assert(FIRST_RESERVED_GDT_ENTRY == 7168);
static_assert(selector_index(FLAT_RING3_CS32) == FIRST_RESERVED_GDT_ENTRY + 4);
static_assert(selector_index(FLAT_RING3_DS32) == FIRST_RESERVED_GDT_ENTRY + 5);
static_assert(selector_index(FLAT_RING3_CS64) == FIRST_RESERVED_GDT_ENTRY + 6);
static_assert((FLAT_RING3_CS32 & 3) == 3 && (FLAT_RING3_CS64 & 3) == 3 && (FLAT_RING3_SS64 & 3) == 3);

// The hypervisor hole is L4 slots 256-271 (16 slots of 512 GiB), the M2P
// table its first 256 GiB.
static_assert(HYPERVISOR_VIRT_END - HYPERVISOR_VIRT_START == 16 * (uint64_t{1} << 39));
static_assert(((HYPERVISOR_VIRT_START >> 39) & 511) == 256);
static_assert(MACH2PHYS_NR_ENTRIES == (uint64_t{1} << 35));

// One pending and one mask bit per 2-level port, one selector bit per word.
static_assert(sizeof(shared_info::evtchn_pending) * 8 == EVTCHN_2L_NR_CHANNELS);
static_assert(sizeof(vcpu_info::evtchn_pending_sel) * 8 ==
              sizeof(shared_info::evtchn_pending) / sizeof(shared_info::evtchn_pending[0]));

static_assert(XEN_ELFNOTE_MAX == 19);
static_assert(XENFEAT_dm_msix_all_writes < 32 * XENFEAT_NR_SUBMAPS);

}  // namespace
}  // namespace sluice::xen
