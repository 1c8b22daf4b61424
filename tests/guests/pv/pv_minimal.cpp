// The minimal PV64 kernel, of the kind Xen's own test framework builds for its
// pv64 environment (VIRT_BASE 0, linked at 1 MiB). It makes exactly this
// hypercall sequence (/work/shared/notes/xen-reference.md, "Guest ABI facts"):
//   set_trap_table, callback_op x4 (event, failsafe, syscall, syscall32),
//   update_va_mapping of its GDT frame read-only, set_gdt, stack_switch,
//   mmuext_op NEW_USER_BASEPTR, update_va_mapping of NULL (unmapped) and of
//   shared_info, console_io (one per line), iret, console_io (the summary),
//   sched_op shutdown.
// Every result is kept and printed once the console is used, so the console
// writes do not interleave with the sequence.
#include "runtime.hpp"

using namespace guest;
using namespace guest::xen;

namespace {

alignas(4096) uint64_t gdt_frame[512];
alignas(4096) uint8_t shared_info_window[4096];

// Descriptors (SDM vol. 3, 3.4.5): index 1 a 64-bit code segment, index 2 a
// flat data segment, both DPL 3 (the guest kernel runs in ring 3).
constexpr uint64_t code64_ring3 = 0x00affa000000ffffull;
constexpr uint64_t data_ring3 = 0x00cff2000000ffffull;

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info* start) {
    domain.start_info = start;
    domain.virt_base = 0;
    domain.p2m = reinterpret_cast<const uint64_t*>(start->mfn_list);
    // Everything the sequence needs is computed before the first hypercall.
    gdt_frame[1] = code64_ring3;
    gdt_frame[2] = data_ring3;
    uint64_t gdt_mfn = mfn_of(gdt_frame);
    uint64_t l4_mfn = mfn_of(reinterpret_cast<const void*>(start->pt_base));

    long trap_table_result = install_trap_table();
    long callbacks_result = register_callbacks();
    long gdt_read_only_result = update_va_mapping(gdt_frame, gdt_mfn * page_size | kernel_read_only_page, UVMF_INVLPG);
    uint64_t frames[1] = {gdt_mfn};
    long set_gdt_result = hypercall(HYPERVISOR_set_gdt, address(frames), 512);
    long stack_switch_result = hypercall(HYPERVISOR_stack_switch, FLAT_KERNEL_SS64, address(kernel_stack_top));
    long user_base_result = mmuext(MMUEXT_NEW_USER_BASEPTR, l4_mfn);
    long null_result = update_va_mapping(nullptr, 0, UVMF_INVLPG);
    long shared_info_result = map_shared_info(shared_info_window);

    CHECK("minimal: start_info magic", starts_with(start->magic, "xen-3.0-x86_64"), "magic \"%.32s\"", start->magic);
    CHECK("minimal: entry selectors", entry_code_selector == FLAT_RING3_CS64 && entry_stack_selector == FLAT_RING3_SS64,
          "cs 0x%x ss 0x%x, expected 0xe033 0xe02b", entry_code_selector, entry_stack_selector);
    CHECK("minimal: set_trap_table", trap_table_result == 0, "returned %ld", trap_table_result);
    CHECK("minimal: callback_op register x4", callbacks_result == 0, "returned %ld", callbacks_result);
    CHECK("minimal: update_va_mapping gdt read-only", gdt_read_only_result == 0, "returned %ld", gdt_read_only_result);
    CHECK("minimal: set_gdt", set_gdt_result == 0, "returned %ld", set_gdt_result);
    CHECK("minimal: stack_switch", stack_switch_result == 0, "returned %ld", stack_switch_result);
    CHECK("minimal: mmuext_op NEW_USER_BASEPTR", user_base_result == 0, "returned %ld", user_base_result);
    CHECK("minimal: update_va_mapping NULL", null_result == 0, "returned %ld", null_result);
    CHECK("minimal: update_va_mapping shared_info", shared_info_result == 0, "returned %ld (shared_info 0x%lx)",
          shared_info_result, start->shared_info);
    if (shared_info_result == 0) {
        uint8_t mask = domain.shared_info->vcpu_info[0].evtchn_upcall_mask;
        CHECK("minimal: events masked at entry", mask == 1, "vcpu_info[0].evtchn_upcall_mask %u", mask);
    }
    constexpr uint64_t marker = 0x1badc0de5eed1e55ull;
    uint64_t after_iret = iret_to_self(marker);
    CHECK("minimal: iret", after_iret == marker, "rax 0x%lx after iret, expected 0x%lx", after_iret, marker);
    finish();
}
