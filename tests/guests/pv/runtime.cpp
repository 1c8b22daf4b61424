// The PV test kernels' runtime (see runtime.hpp).
#include "runtime.hpp"

using namespace guest::xen;

namespace guest {

const char* const test_prefix = "pv-test";

TrapRecord last_trap;
volatile uint64_t events_seen[64];
volatile uint64_t event_callbacks;
Domain domain;

long console_write(const char* text, size_t length) {
    return hypercall(HYPERVISOR_console_io, CONSOLEIO_write, length, address(text));
}

void shutdown(unsigned reason) {
    sched_shutdown argument{reason};
    for (;;) {
        hypercall(HYPERVISOR_sched_op, SCHEDOP_shutdown, address(&argument));
        // Still here: the hypervisor did not stop us. Nothing else is safe to do.
        asm volatile("ud2");
    }
}

// --- Traps ------------------------------------------------------------------------
void forget_trap() {
    last_trap.count = 0;
    last_trap.vector = ~0ull;
    last_trap.error_code = ~0ull;
    last_trap.rip = 0;
    last_trap.cs = 0;
    last_trap.cr2 = ~0ull;
}

namespace {

void handle_events() {
    event_callbacks = event_callbacks + 1;
    if (domain.shared_info == nullptr) return;
    vcpu_info& vcpu = domain.shared_info->vcpu_info[0];
    vcpu.evtchn_upcall_pending = 0;
    uint64_t selector = __atomic_exchange_n(&vcpu.evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
    while (selector != 0) {
        unsigned word = static_cast<unsigned>(__builtin_ctzll(selector));
        selector &= selector - 1;
        uint64_t pending = domain.shared_info->evtchn_pending[word] & ~domain.shared_info->evtchn_mask[word];
        while (pending != 0) {
            unsigned bit = static_cast<unsigned>(__builtin_ctzll(pending));
            pending &= pending - 1;
            __atomic_fetch_and(&domain.shared_info->evtchn_pending[word], ~(1ull << bit), __ATOMIC_SEQ_CST);
            unsigned port = word * 64 + bit;
            if (port < 64) events_seen[port] = events_seen[port] + 1;
        }
    }
}

const char* vector_name(uint64_t vector) {
    switch (vector) {
    case 0: return "#DE";
    case 1: return "#DB";
    case 3: return "#BP";
    case 4: return "#OF";
    case 5: return "#BR";
    case 6: return "#UD";
    case 7: return "#NM";
    case 10: return "#TS";
    case 11: return "#NP";
    case 12: return "#SS";
    case 13: return "#GP";
    case 14: return "#PF";
    case 16: return "#MF";
    case 17: return "#AC";
    case 19: return "#XM";
    case vector_failsafe: return "failsafe callback";
    case vector_syscall: return "syscall callback";
    default: return "?";
    }
}

}  // namespace

extern "C" void guest_trap(TrapFrame* frame) {
    if (frame->vector == vector_event) {
        handle_events();
        return;
    }
    // A single-step #DB: stop stepping before returning (SDM vol. 3, 17.3.1.4).
    if (frame->vector == 1) frame->rflags &= ~0x100ull;
    uint64_t cr2 = (frame->vector == 14 && domain.shared_info != nullptr)
                       ? domain.shared_info->vcpu_info[0].arch.cr2
                       : ~0ull;
    if (trap_recovery != 0 && frame->vector < 32) {
        last_trap.count = last_trap.count + 1;
        last_trap.vector = frame->vector;
        last_trap.error_code = frame->error_code;
        last_trap.rip = frame->rip;
        last_trap.cs = frame->cs;
        last_trap.cr2 = cr2;
        frame->rip = trap_recovery;
        trap_recovery = 0;
        return;
    }
    ++checks_failed;
    print("pv-test: unexpected %s (vector %lu) error 0x%lx at rip 0x%lx cs 0x%lx rflags 0x%lx rsp 0x%lx ss 0x%lx "
          "cr2 0x%lx",
          vector_name(frame->vector), frame->vector, frame->error_code, frame->rip, frame->cs, frame->rflags,
          frame->rsp, frame->ss, cr2);
    finish();
}

namespace {
trap_info installed_traps[17];
}

long install_trap_table() {
    struct Entry {
        uint8_t vector;
        uint8_t privilege;
        void (*handler)();
    };
    // #BP and #OF come from `int3`/`into`, so every ring may raise them (DPL 3).
    const Entry entries[] = {
        {0, 0, trap_entry_0},   {1, 0, trap_entry_1},   {3, 3, trap_entry_3},   {4, 3, trap_entry_4},
        {5, 0, trap_entry_5},   {6, 0, trap_entry_6},   {7, 0, trap_entry_7},   {10, 0, trap_entry_10},
        {11, 0, trap_entry_11}, {12, 0, trap_entry_12}, {13, 0, trap_entry_13}, {14, 0, trap_entry_14},
        {16, 0, trap_entry_16}, {17, 0, trap_entry_17}, {19, 0, trap_entry_19},
    };
    size_t count = 0;
    for (const Entry& entry : entries) {
        trap_info& slot = installed_traps[count++];
        slot.vector = entry.vector;
        // Handlers run with events masked, like interrupt gates; the iret restores the mask from rflags.IF.
        slot.flags = static_cast<uint8_t>(entry.privilege | trap_info_mask_events);
        slot.cs = FLAT_KERNEL_CS64;
        slot.address = reinterpret_cast<uint64_t>(entry.handler);
    }
    installed_traps[count] = trap_info{};  // address 0 ends the table
    return hypercall(HYPERVISOR_set_trap_table, address(installed_traps));
}

long register_callbacks() {
    struct Registration {
        uint16_t type;
        uint16_t flags;
        void (*handler)();
    };
    const Registration registrations[] = {
        {CALLBACKTYPE_event, 0, event_callback_entry},
        {CALLBACKTYPE_failsafe, CALLBACKF_mask_events, failsafe_callback_entry},
        {CALLBACKTYPE_syscall, CALLBACKF_mask_events, syscall_callback_entry},
        {CALLBACKTYPE_syscall32, CALLBACKF_mask_events, syscall_callback_entry},
    };
    for (const Registration& registration : registrations) {
        callback_register argument{};
        argument.type = registration.type;
        argument.flags = registration.flags;
        argument.address = reinterpret_cast<uint64_t>(registration.handler);
        long result = hypercall(HYPERVISOR_callback_op, CALLBACKOP_register, address(&argument));
        if (result != 0) return result;
    }
    return 0;
}

// --- Memory ------------------------------------------------------------------------
void set_up_domain(const start_info* start_info, uint64_t virt_base) {
    domain.start_info = start_info;
    domain.virt_base = virt_base;
    domain.p2m = reinterpret_cast<const uint64_t*>(start_info->mfn_list);
    // The initial mapping is contiguous from virt_base (xen.h, start of day):
    // find where it ends, starting past the page tables.
    uint64_t pfn = pfn_of(reinterpret_cast<const void*>(start_info->pt_base)) + start_info->nr_pt_frames;
    while (pfn < start_info->nr_pages && (l1_entry(virt_base + pfn * page_size) & page_present) != 0) ++pfn;
    domain.mapped_pfns = pfn;
}

uint64_t pfn_of(const volatile void* virtual_address) {
    return (reinterpret_cast<uint64_t>(virtual_address) - domain.virt_base) / page_size;
}

uint64_t mfn_of(const volatile void* virtual_address) { return domain.p2m[pfn_of(virtual_address)]; }

uint64_t virtual_of_mfn(uint64_t mfn) {
    // Page tables are the frames we look up: search them first, then the rest of the initial mapping.
    uint64_t first_table = pfn_of(reinterpret_cast<const void*>(domain.start_info->pt_base));
    for (uint64_t pfn = first_table; pfn < first_table + domain.start_info->nr_pt_frames; ++pfn) {
        if (domain.p2m[pfn] == mfn) return domain.virt_base + pfn * page_size;
    }
    for (uint64_t pfn = 0; pfn < domain.mapped_pfns; ++pfn) {
        if (domain.p2m[pfn] == mfn) return domain.virt_base + pfn * page_size;
    }
    return 0;
}

namespace {

// Walks to va's L1 entry (SDM vol. 3, 4.5.4); nullptr when a level is absent or a large page.
const uint64_t* find_l1_entry(uint64_t virtual_address, uint64_t* l1_mfn) {
    const uint64_t* table = reinterpret_cast<const uint64_t*>(domain.start_info->pt_base);
    for (int level = 4; level >= 2; --level) {
        unsigned index = (virtual_address >> (12 + 9 * (level - 1))) & 511;
        uint64_t entry = table[index];
        if ((entry & page_present) == 0 || (level < 4 && (entry & page_large) != 0)) return nullptr;
        uint64_t next = virtual_of_mfn((entry & page_frame_mask) / page_size);
        if (next == 0) return nullptr;
        if (level == 2 && l1_mfn != nullptr) *l1_mfn = (entry & page_frame_mask) / page_size;
        table = reinterpret_cast<const uint64_t*>(next);
    }
    return &table[(virtual_address >> 12) & 511];
}

}  // namespace

uint64_t l1_entry_machine_address(uint64_t virtual_address) {
    uint64_t l1_mfn = 0;
    if (find_l1_entry(virtual_address, &l1_mfn) == nullptr) return 0;
    return l1_mfn * page_size + ((virtual_address >> 12) & 511) * 8;
}

uint64_t l1_entry(uint64_t virtual_address) {
    const uint64_t* entry = find_l1_entry(virtual_address, nullptr);
    return entry == nullptr ? 0 : *entry;
}

uint64_t l4_machine_address() { return mfn_of(reinterpret_cast<const void*>(domain.start_info->pt_base)) * page_size; }

long update_va_mapping(const volatile void* virtual_address, uint64_t entry, uint64_t flags) {
    return hypercall(HYPERVISOR_update_va_mapping, reinterpret_cast<uint64_t>(virtual_address), entry, flags);
}

long mmu_update_one(uint64_t pointer, uint64_t value) {
    xen::mmu_update request{pointer, value};
    unsigned done = 0;
    long result = hypercall(HYPERVISOR_mmu_update, address(&request), 1, address(&done), DOMID_SELF);
    if (result == 0 && done != 1) return -1000;  // success without the one update done: reported as such
    return result;
}

long mmuext(uint32_t command, uint64_t argument1, uint64_t argument2) {
    xen::mmuext_op operation{command, 0, argument1, argument2};
    unsigned done = 0;
    long result = hypercall(HYPERVISOR_mmuext_op, address(&operation), 1, address(&done), DOMID_SELF);
    if (result == 0 && done != 1) return -1000;
    return result;
}

long map_shared_info(void* window_page) {
    long result = update_va_mapping(window_page, (domain.start_info->shared_info & page_frame_mask) | kernel_page,
                                    UVMF_INVLPG);
    if (result == 0) domain.shared_info = static_cast<shared_info*>(window_page);
    return result;
}

}  // namespace guest
