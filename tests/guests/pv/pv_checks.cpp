// pv_checks: a PV dom0 that checks the hypervisor's 64-bit PV ABI, one line
// per check (see runtime.hpp for the line format). Which groups run is chosen
// by dom0's command line (start_info.cmd_line):
//   tests=all                 start_info, hypercalls, traps, privileged, bad-input
//   tests=<group>[,<group>]   any of those, and:
//   tests=dma                 strict-IOMMU DMA with edu (needs dom0-iommu=strict)
//   tests=types k=<K>         K frames become L1 tables in one mmuext_op
// Each group is written from the ABI (xen/include/public/) and the SDM, not
// from the hypervisor's code.
#include "runtime.hpp"

using namespace guest;
using namespace guest::xen;

extern "C" uint8_t guest_image_end[];

namespace {

// Pages whose mappings the checks change; each is restored afterwards.
constexpr unsigned window_count = 8;
alignas(4096) uint8_t windows[window_count][4096];
uint8_t* const shared_info_window = windows[0];
alignas(4096) uint64_t gdt_frame[512];
alignas(4096) uint64_t ldt_frame[512];
volatile uint64_t fs_cell = 0x5eed00f5f5f5f5f5ull;
volatile uint64_t gs_cell = 0x5eed009595959595ull;

constexpr uint64_t pattern_a = 0xa5a5000011112222ull;
constexpr uint64_t pattern_b = 0x5a5a333344445555ull;

// --- Command line ---------------------------------------------------------------------
struct Options {
    bool start_info = false, hypercalls = false, traps = false, privileged = false, bad_input = false;
    bool dma = false, types = false;
    unsigned k = 1;
};

bool word_equals(const char* word, size_t length, const char* name) {
    return string_length(name) == length && equal(word, name, length);
}

Options parse_command_line(const char* line) {
    Options options;
    bool any_tests = false;
    for (size_t position = 0; position < 1024 && line[position] != '\0';) {
        while (line[position] == ' ') ++position;
        size_t start = position;
        while (position < 1024 && line[position] != '\0' && line[position] != ' ') ++position;
        const char* word = line + start;
        size_t length = position - start;
        if (length > 6 && equal(word, "tests=", 6)) {
            any_tests = true;
            for (size_t item = 6; item < length;) {
                size_t item_start = item;
                while (item < length && word[item] != ',') ++item;
                const char* name = word + item_start;
                size_t name_length = item - item_start;
                if (word_equals(name, name_length, "all")) {
                    options.start_info = options.hypercalls = options.traps = options.privileged =
                        options.bad_input = true;
                } else if (word_equals(name, name_length, "start_info")) options.start_info = true;
                else if (word_equals(name, name_length, "hypercalls")) options.hypercalls = true;
                else if (word_equals(name, name_length, "traps")) options.traps = true;
                else if (word_equals(name, name_length, "privileged")) options.privileged = true;
                else if (word_equals(name, name_length, "bad-input")) options.bad_input = true;
                else if (word_equals(name, name_length, "dma")) options.dma = true;
                else if (word_equals(name, name_length, "types")) options.types = true;
                else {
                    char copy_of_name[64];
                    size_t kept = name_length < sizeof copy_of_name - 1 ? name_length : sizeof copy_of_name - 1;
                    copy(copy_of_name, name, kept);
                    copy_of_name[kept] = '\0';
                    CHECK("command line", false, "unknown test group \"%s\" in tests= (start_info, hypercalls, "
                          "traps, privileged, bad-input, dma, types, all)", copy_of_name);
                }
                ++item;
            }
        } else if (length > 2 && equal(word, "k=", 2)) {
            unsigned value = 0;
            bool digits = true;
            for (size_t index = 2; index < length; ++index) {
                if (word[index] < '0' || word[index] > '9') digits = false;
                else value = value * 10 + static_cast<unsigned>(word[index] - '0');
            }
            if (digits && value > 0) options.k = value;
            else CHECK("command line", false, "k= wants a positive decimal number");
        }
    }
    if (!any_tests) {
        options.start_info = options.hypercalls = options.traps = options.privileged = options.bad_input = true;
    }
    return options;
}

// --- Helpers ----------------------------------------------------------------------------
uint64_t next_free_pfn = 0;
// A frame dom0 owns that nothing maps (past the initial mapping), or 0 when none is left.
uint64_t take_free_frame() {
    if (next_free_pfn < domain.mapped_pfns) next_free_pfn = domain.mapped_pfns;
    if (next_free_pfn >= domain.start_info->nr_pages) return 0;
    return domain.p2m[next_free_pfn++];
}

uint64_t machine_entry(uint64_t mfn, uint64_t flags) { return mfn * page_size | flags; }

long restore_window(unsigned index) {
    return update_va_mapping(windows[index], machine_entry(mfn_of(windows[index]), kernel_page), UVMF_INVLPG);
}

// Maps `mfn` writable at window `index` and zeroes it; 0 or the hypercall's error.
long zero_frame_through(unsigned index, uint64_t mfn) {
    long result = update_va_mapping(windows[index], machine_entry(mfn, kernel_page), UVMF_INVLPG);
    if (result == 0) fill(windows[index], 0, page_size);
    return result;
}

bool trapped(uint64_t vector) { return last_trap.count == 1 && last_trap.vector == vector; }

// A check whose note (an error code, a value) is printed in both outcomes.
#define CHECK_NOTE(name, condition, ...) report_with_note((name), (condition), __VA_ARGS__)
[[gnu::format(printf, 3, 4)]] void report_with_note(const char* name, bool passed, const char* pattern, ...) {
    char note[256];
    va_list arguments;
    va_start(arguments, pattern);
    format(note, sizeof note, pattern, arguments);
    va_end(arguments);
    if (passed) {
        ++checks_passed;
        print("pv-test: %s ... ok (%s)", name, note);
    } else {
        ++checks_failed;
        print("pv-test: %s ... FAILED (%s)", name, note);
    }
}

long event_channel(unsigned command, void* argument) {
    return hypercall(HYPERVISOR_event_channel_op, command, address(argument));
}

// --- start_info ------------------------------------------------------------------------------
void check_start_info(const start_info* start, long shared_info_result) {
    const uint64_t virt_base = domain.virt_base;
    const uint64_t mapped_end = virt_base + domain.mapped_pfns * page_size;
    auto in_mapping = [&](uint64_t address) { return address >= virt_base && address < mapped_end; };

    CHECK("start_info: magic", starts_with(start->magic, "xen-3.0-x86_64"), "magic \"%.32s\"", start->magic);
    CHECK("start_info: entry selectors", entry_code_selector == FLAT_RING3_CS64 && entry_stack_selector == FLAT_RING3_SS64,
          "cs 0x%x ss 0x%x at entry, expected 0xe033 and 0xe02b", entry_code_selector, entry_stack_selector);
    CHECK("start_info: rsi points at start_info", entry_start_info == address(start) && in_mapping(address(start)) &&
                                                      address(start) % page_size == 0,
          "rsi 0x%lx, initial mapping 0x%lx-0x%lx", entry_start_info, virt_base, mapped_end);
    CHECK("start_info: flags", (start->flags & (SIF_INITDOMAIN | SIF_PRIVILEGED)) == (SIF_INITDOMAIN | SIF_PRIVILEGED),
          "flags 0x%x, expected SIF_INITDOMAIN|SIF_PRIVILEGED (0x3)", start->flags);
    CHECK("start_info: nr_pages", start->nr_pages >= domain.mapped_pfns && domain.mapped_pfns > 0,
          "nr_pages %lu, initial mapping %lu pages", start->nr_pages, domain.mapped_pfns);
    // xen.h, start of day: kernel, [initrd], p2m list, start_info, page tables, boot stack.
    uint64_t p2m_end = start->mfn_list + start->nr_pages * 8;
    uint64_t tables_end = start->pt_base + start->nr_pt_frames * page_size;
    CHECK("start_info: layout", address(guest_image_end) <= start->mfn_list && p2m_end <= address(start) &&
                                    address(start) < start->pt_base && in_mapping(start->mfn_list) &&
                                    in_mapping(start->pt_base) && tables_end <= mapped_end && start->nr_pt_frames >= 4,
          "image end 0x%lx, mfn_list 0x%lx-0x%lx, start_info 0x%lx, pt_base 0x%lx (%lu frames), mapped to 0x%lx",
          address(guest_image_end), start->mfn_list, p2m_end, address(start), start->pt_base, start->nr_pt_frames,
          mapped_end);
    CHECK("start_info: boot stack", entry_stack_pointer > tables_end && entry_stack_pointer <= mapped_end,
          "rsp 0x%lx at entry, page tables end 0x%lx, mapping ends 0x%lx", entry_stack_pointer, tables_end, mapped_end);
    bool terminated = false;
    for (char character : start->cmd_line) terminated |= character == '\0';
    CHECK("start_info: cmd_line terminated", terminated, "no NUL in 1024 bytes");

    unsigned writable_tables = 0, missing_tables = 0;
    for (uint64_t frame = 0; frame < start->nr_pt_frames; ++frame) {
        uint64_t entry = l1_entry(start->pt_base + frame * page_size);
        if ((entry & page_present) == 0) ++missing_tables;
        else if ((entry & page_writable) != 0) ++writable_tables;
    }
    CHECK("start_info: bootstrap tables mapped read-only", writable_tables == 0 && missing_tables == 0,
          "%u of %lu table frames writable, %u unmapped", writable_tables, start->nr_pt_frames, missing_tables);

    // The machine-to-physical table (read-only at MACH2PHYS_VIRT_START) inverts mfn_list.
    const uint64_t pfns[] = {0, pfn_of(start), pfn_of(reinterpret_cast<const void*>(start->pt_base)),
                             domain.mapped_pfns - 1, start->nr_pages - 1};
    bool m2p_agrees = true;
    uint64_t bad_pfn = 0, seen = 0;
    forget_trap();
    for (uint64_t pfn : pfns) {
        auto* slot = reinterpret_cast<const volatile uint64_t*>(MACH2PHYS_VIRT_START + domain.p2m[pfn] * 8);
        uint64_t value = probe_read64(slot);
        if (last_trap.count != 0 || value != pfn) {
            m2p_agrees = false;
            bad_pfn = pfn;
            seen = value;
            break;
        }
    }
    CHECK("start_info: machine-to-physical table inverts mfn_list", m2p_agrees,
          "pfn 0x%lx (mfn 0x%lx): m2p gives 0x%lx%s", bad_pfn, domain.p2m[bad_pfn], seen,
          last_trap.count != 0 ? ", the read faulted" : "");

    CHECK("start_info: hypercall page filled", hypercall_page[0] != 0xcc && hypercall_page[23 * 32] != 0xcc,
          "slot 0 starts 0x%x, slot 23 0x%x (0xcc = untouched)", hypercall_page[0], hypercall_page[23 * 32]);
    CHECK("start_info: shared_info mapped", shared_info_result == 0, "update_va_mapping of shared_info 0x%lx: %ld",
          start->shared_info, shared_info_result);
    if (domain.shared_info != nullptr) {
        uint8_t mask = domain.shared_info->vcpu_info[0].evtchn_upcall_mask;
        CHECK("start_info: events masked at entry", mask == 1, "vcpu_info[0].evtchn_upcall_mask %u", mask);
    }

    // A write to the bootstrap L4 (read-only) is a #PF bounced to us, CR2 in vcpu_info.arch.cr2.
    auto* l4 = reinterpret_cast<volatile uint64_t*>(start->pt_base);
    uint64_t before = l4[0];
    forget_trap();
    probe_write64(l4, before);
    // The error code is the one a native kernel would see: U clear for a guest-kernel access
    // (measured on Xen 4.17: 0x3 = present, write).
    CHECK("start_info: write to the L4 faults", trapped(14) && (last_trap.error_code & 7) == 3 &&
                                                    last_trap.cr2 == start->pt_base && l4[0] == before,
          "trap count %lu vector %lu error 0x%lx cr2 0x%lx, expected #PF error 0x3 cr2 0x%lx", last_trap.count,
          last_trap.vector, last_trap.error_code, last_trap.cr2, start->pt_base);
}

// --- Hypercalls --------------------------------------------------------------------------------
void check_memory_mappings() {
    volatile uint64_t* first = reinterpret_cast<volatile uint64_t*>(windows[1]);
    volatile uint64_t* second = reinterpret_cast<volatile uint64_t*>(windows[2]);
    uint64_t frame_x = take_free_frame(), frame_y = take_free_frame();
    if (frame_x == 0 || frame_y == 0) {
        CHECK("hypercalls: free frames", false, "nr_pages %lu leaves no frame past the initial mapping",
              domain.start_info->nr_pages);
        return;
    }
    long result = update_va_mapping(first, machine_entry(frame_x, kernel_page), UVMF_INVLPG);
    if (result == 0) {
        for (unsigned index = 0; index < 512; ++index) first[index] = pattern_a + index;
    }
    CHECK("hypercalls: update_va_mapping UVMF_INVLPG maps a new page", result == 0, "returned %ld", result);

    uint64_t second_entry = l1_entry_machine_address(address(windows[2]));
    long mmu_result = mmu_update_one(second_entry | MMU_NORMAL_PT_UPDATE, machine_entry(frame_x, kernel_read_only_page));
    long invlpg_result = mmuext(MMUEXT_INVLPG_LOCAL, address(windows[2]));
    bool same = true;
    for (unsigned index = 0; index < 512 && mmu_result == 0; ++index) same &= second[index] == pattern_a + index;
    CHECK("hypercalls: mmu_update maps a second view of the page", mmu_result == 0 && invlpg_result == 0 && same,
          "mmu_update %ld, INVLPG_LOCAL %ld, contents %s", mmu_result, invlpg_result, same ? "same" : "differ");

    uint64_t stale = second[0];  // the old translation is now in the TLB
    result = update_va_mapping(first, machine_entry(frame_y, kernel_page), UVMF_INVLPG);
    if (result == 0) first[0] = pattern_b;
    long flush_result = update_va_mapping(second, machine_entry(frame_y, kernel_read_only_page), UVMF_TLB_FLUSH);
    uint64_t seen = second[0];
    CHECK("hypercalls: update_va_mapping UVMF_TLB_FLUSH", result == 0 && flush_result == 0 && seen == pattern_b,
          "remap %ld, flush %ld, read 0x%lx (old 0x%lx), expected 0x%lx", result, flush_result, seen, stale, pattern_b);

    long flushes[4] = {mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0), mmuext(MMUEXT_INVLPG_LOCAL, address(first)),
                       mmuext(MMUEXT_TLB_FLUSH_ALL, 0), mmuext(MMUEXT_INVLPG_ALL, address(first))};
    CHECK("hypercalls: mmuext_op flushes", flushes[0] == 0 && flushes[1] == 0 && flushes[2] == 0 && flushes[3] == 0,
          "TLB_FLUSH_LOCAL %ld, INVLPG_LOCAL %ld, TLB_FLUSH_ALL %ld, INVLPG_ALL %ld", flushes[0], flushes[1],
          flushes[2], flushes[3]);

    // Pin a zeroed frame as an L1: then it may not be mapped writable; unpinned, it may.
    uint64_t table = take_free_frame();
    long zero = zero_frame_through(1, table);
    long read_only = update_va_mapping(first, machine_entry(table, kernel_read_only_page), UVMF_INVLPG);
    long pin = mmuext(MMUEXT_PIN_L1_TABLE, table);
    long writable_while_pinned = update_va_mapping(windows[3], machine_entry(table, kernel_page), UVMF_INVLPG);
    long unpin = mmuext(MMUEXT_UNPIN_TABLE, table);
    long writable_after = update_va_mapping(windows[3], machine_entry(table, kernel_page), UVMF_INVLPG);
    CHECK("hypercalls: mmuext_op pin and unpin an L1", zero == 0 && read_only == 0 && pin == 0 &&
                                                          writable_while_pinned < 0 && unpin == 0 && writable_after == 0,
          "zero %ld, read-only view %ld, PIN_L1_TABLE %ld, writable while pinned %ld (must fail), UNPIN %ld, "
          "writable after %ld", zero, read_only, pin, writable_while_pinned, unpin, writable_after);
    (void)restore_window(3);

    // Writable page tables (the ABI Xen gives 64-bit PV guests): a plain store to an entry of a pinned
    // L1, through the table's read-only mapping, is carried out as the mmu_update it stands for; a store
    // that mmu_update would refuse (a writable mapping of a page table) is the guest's page fault.
    {
        uint64_t l1 = take_free_frame();
        uint64_t data = take_free_frame();
        long zeroed = zero_frame_through(1, l1);
        long viewed = update_va_mapping(first, machine_entry(l1, kernel_read_only_page), UVMF_INVLPG);
        long pinned = mmuext(MMUEXT_PIN_L1_TABLE, l1);
        volatile uint64_t* entries = first;
        forget_trap();
        probe_write64(&entries[5], machine_entry(data, kernel_page));
        bool emulated = last_trap.count == 0 && (probe_read64(&entries[5]) & ~0xfffull) == data * page_size;
        forget_trap();
        probe_write64(&entries[6], machine_entry(l1, kernel_page));
        bool refused = last_trap.count == 1 && last_trap.vector == 14 && probe_read64(&entries[6]) == 0;
        forget_trap();
        probe_write64(&entries[5], 0);
        bool cleared = last_trap.count == 0 && probe_read64(&entries[5]) == 0;
        long unpinned = mmuext(MMUEXT_UNPIN_TABLE, l1);
        CHECK("hypercalls: a direct store to a pinned L1 entry is emulated, a bad one faults",
              zeroed == 0 && viewed == 0 && pinned == 0 && emulated && refused && cleared && unpinned == 0,
              "zero %ld, view %ld, pin %ld, store emulated %d, bad store refused %d (trap %lu vector %lu), "
              "cleared %d, unpin %ld",
              zeroed, viewed, pinned, emulated, refused, (unsigned long)last_trap.count,
              (unsigned long)last_trap.vector, cleared, unpinned);
    }

    // A copy of the L4 (guest slots only: the hypervisor fills slots 256-271 itself) as the new base.
    uint64_t new_l4 = take_free_frame();
    const auto* l4 = reinterpret_cast<const uint64_t*>(domain.start_info->pt_base);
    zero = zero_frame_through(1, new_l4);
    auto* copy_of_l4 = reinterpret_cast<uint64_t*>(windows[1]);
    for (unsigned slot = 0; slot < 512 && zero == 0; ++slot) {
        bool hypervisor_slot = slot >= first_hypervisor_l4_slot && slot <= last_hypervisor_l4_slot;
        copy_of_l4[slot] = hypervisor_slot ? 0 : l4[slot];
    }
    read_only = update_va_mapping(first, machine_entry(new_l4, kernel_read_only_page), UVMF_INVLPG);
    pin = mmuext(MMUEXT_PIN_L4_TABLE, new_l4);
    long switched = mmuext(MMUEXT_NEW_BASEPTR, new_l4);
    uint64_t cr3_on_copy = probe_read_cr3();
    volatile uint64_t survived = fs_cell;  // still running, still reading our data
    long back = mmuext(MMUEXT_NEW_BASEPTR, l4_machine_address() / page_size);
    uint64_t cr3_back = probe_read_cr3();
    unpin = mmuext(MMUEXT_UNPIN_TABLE, new_l4);
    CHECK("hypercalls: mmuext_op NEW_BASEPTR to a pinned copy of the L4 and back",
          zero == 0 && read_only == 0 && pin == 0 && switched == 0 && back == 0 && unpin == 0 &&
              survived == fs_cell && (cr3_on_copy & page_frame_mask) == new_l4 * page_size &&
              (cr3_back & page_frame_mask) == l4_machine_address(),
          "zero %ld, read-only %ld, PIN_L4 %ld, NEW_BASEPTR %ld (cr3 0x%lx, expected 0x%lx), back %ld (cr3 0x%lx), "
          "UNPIN %ld", zero, read_only, pin, switched, cr3_on_copy, new_l4 * page_size, back, cr3_back, unpin);
    long user_base = mmuext(MMUEXT_NEW_USER_BASEPTR, l4_machine_address() / page_size);
    CHECK("hypercalls: mmuext_op NEW_USER_BASEPTR", user_base == 0, "returned %ld", user_base);
    for (unsigned index = 1; index <= 3; ++index) (void)restore_window(index);
}

void check_descriptor_tables() {
    // Descriptors (SDM vol. 3, 3.4.5): 64-bit code and flat data, DPL 3 (the kernel runs in ring 3).
    constexpr uint64_t code64_ring3 = 0x00affa000000ffffull;
    constexpr uint64_t data_ring3 = 0x00cff2000000ffffull;
    gdt_frame[1] = code64_ring3;
    gdt_frame[2] = data_ring3;
    uint64_t gdt_mfn = mfn_of(gdt_frame);
    long read_only = update_va_mapping(gdt_frame, machine_entry(gdt_mfn, kernel_read_only_page), UVMF_INVLPG);
    uint64_t frames[1] = {gdt_mfn};
    long set = hypercall(HYPERVISOR_set_gdt, address(frames), 512);
    forget_trap();
    probe_load_es(2 << 3 | 3);
    uint16_t loaded = read_es();
    bool load_trapped = last_trap.count != 0;
    CHECK("hypercalls: set_gdt with our own frame mapped read-only", read_only == 0 && set == 0 && !load_trapped &&
                                                                         loaded == (2 << 3 | 3),
          "read-only mapping %ld, set_gdt %ld, loading 0x13 into es %s (es 0x%x)", read_only, set,
          load_trapped ? "trapped" : "worked", loaded);
    long update = hypercall(HYPERVISOR_update_descriptor, gdt_mfn * page_size + 3 * 8, data_ring3);
    uint64_t written = gdt_frame[3];  // before the load below sets its accessed bit
    forget_trap();
    probe_load_es(3 << 3 | 3);
    loaded = read_es();
    load_trapped = last_trap.count != 0;
    CHECK("hypercalls: update_descriptor", update == 0 && written == data_ring3 && !load_trapped,
          "returned %ld, entry 3 reads 0x%lx, loading 0x1b %s", update, written,
          load_trapped ? "trapped" : "worked");
    probe_load_es(0);

    // The LDT (MMUEXT_SET_LDT: linear_addr, nr_ents): our own frame, mapped read-only, with a flat data
    // descriptor at entry 1; selector 0x0f (index 1, TI = 1, RPL 3) then loads, and a writable mapping
    // of the frame is refused while it is the LDT.
    ldt_frame[1] = data_ring3;
    uint64_t ldt_mfn = mfn_of(ldt_frame);
    long ldt_read_only = update_va_mapping(ldt_frame, machine_entry(ldt_mfn, kernel_read_only_page), UVMF_INVLPG);
    xen::mmuext_op set_ldt{};
    set_ldt.cmd = MMUEXT_SET_LDT;
    set_ldt.arg1 = address(ldt_frame);
    set_ldt.arg2 = 2;
    long ldt_set = hypercall(HYPERVISOR_mmuext_op, address(&set_ldt), 1, 0, DOMID_SELF);
    forget_trap();
    probe_load_es(1 << 3 | 4 | 3);
    uint16_t ldt_loaded = read_es();
    bool ldt_trapped = last_trap.count != 0;
    probe_load_es(0);
    long writable_while_ldt = update_va_mapping(ldt_frame, machine_entry(ldt_mfn, kernel_page), UVMF_INVLPG);
    set_ldt.arg1 = 0;
    set_ldt.arg2 = 0;
    long ldt_cleared = hypercall(HYPERVISOR_mmuext_op, address(&set_ldt), 1, 0, DOMID_SELF);
    long writable_after = update_va_mapping(ldt_frame, machine_entry(ldt_mfn, kernel_page), UVMF_INVLPG);
    CHECK("hypercalls: mmuext_op SET_LDT with our own frame", ldt_read_only == 0 && ldt_set == 0 && !ldt_trapped &&
                                                                 ldt_loaded == (1 << 3 | 4 | 3) && writable_while_ldt < 0 &&
                                                                 ldt_cleared == 0 && writable_after == 0,
          "read-only %ld, SET_LDT %ld, loading 0x0f %s (es 0x%x), writable while the LDT %ld (must fail), "
          "cleared %ld, writable after %ld",
          ldt_read_only, ldt_set, ldt_trapped ? "trapped" : "worked", ldt_loaded, writable_while_ldt, ldt_cleared,
          writable_after);
}

void check_callbacks_and_modes() {
    long stack = hypercall(HYPERVISOR_stack_switch, FLAT_KERNEL_SS64, address(kernel_stack_top));
    CHECK("hypercalls: stack_switch", stack == 0, "returned %ld", stack);
    long callbacks = hypercall(HYPERVISOR_set_callbacks, reinterpret_cast<uint64_t>(event_callback_entry),
                               reinterpret_cast<uint64_t>(failsafe_callback_entry),
                               reinterpret_cast<uint64_t>(syscall_callback_entry));
    CHECK("hypercalls: set_callbacks", callbacks == 0, "returned %ld", callbacks);

    long ts_on = hypercall(HYPERVISOR_fpu_taskswitch, 1);
    forget_trap();
    probe_fnop();
    bool nm = trapped(7);
    long ts_off = hypercall(HYPERVISOR_fpu_taskswitch, 0);
    forget_trap();
    probe_fnop();
    bool clean = last_trap.count == 0;
    CHECK("hypercalls: fpu_taskswitch", ts_on == 0 && nm && ts_off == 0 && clean,
          "set %ld, x87 with TS %s, clear %ld, x87 without TS %s", ts_on, nm ? "gave #NM" : "gave no #NM", ts_off,
          clean ? "ran" : "trapped");

    long fs = hypercall(HYPERVISOR_set_segment_base, SEGBASE_FS, address(&fs_cell));
    forget_trap();
    uint64_t fs_value = probe_fs_read64();
    CHECK("hypercalls: set_segment_base FS", fs == 0 && last_trap.count == 0 && fs_value == fs_cell,
          "returned %ld, %%fs:0 reads 0x%lx, expected 0x%lx", fs, fs_value, fs_cell);
    long gs = hypercall(HYPERVISOR_set_segment_base, SEGBASE_GS_KERNEL, address(&gs_cell));
    forget_trap();
    uint64_t gs_value = probe_gs_read64();
    long gs_user = hypercall(HYPERVISOR_set_segment_base, SEGBASE_GS_USER, 0);
    CHECK("hypercalls: set_segment_base GS", gs == 0 && gs_user == 0 && last_trap.count == 0 && gs_value == gs_cell,
          "GS_KERNEL %ld, %%gs:0 reads 0x%lx (expected 0x%lx), GS_USER %ld", gs, gs_value, gs_cell, gs_user);

    long assist = hypercall(HYPERVISOR_vm_assist, VMASST_CMD_enable, VMASST_TYPE_pae_extended_cr3);
    CHECK("hypercalls: vm_assist", assist == 0, "enable pae_extended_cr3 returned %ld", assist);

    constexpr uint64_t marker = 0x1badc0de5eed1e55ull;
    uint64_t after_iret = iret_to_self(marker);
    CHECK("hypercalls: iret", after_iret == marker, "rax 0x%lx after iret, expected 0x%lx", after_iret, marker);
    long yield = hypercall(HYPERVISOR_sched_op, SCHEDOP_yield, 0);
    CHECK("hypercalls: sched_op yield", yield == 0, "returned %ld", yield);
    long up = hypercall(HYPERVISOR_vcpu_op, VCPUOP_is_up, 0, 0);
    CHECK("hypercalls: vcpu_op is_up", up == 1, "VCPUOP_is_up for vCPU 0 returned %ld, expected 1", up);
}

void check_multicall() {
    multicall_entry entries[4] = {};
    entries[0].op = HYPERVISOR_xen_version;
    entries[0].args[0] = XENVER_version;
    entries[1].op = HYPERVISOR_update_va_mapping;
    entries[1].args[0] = address(windows[4]);
    entries[1].args[1] = machine_entry(mfn_of(windows[4]), kernel_page);
    entries[1].args[2] = UVMF_INVLPG;
    entries[2].op = 63;  // no such hypercall
    entries[3].op = HYPERVISOR_vcpu_op;
    entries[3].args[0] = VCPUOP_is_up;
    for (auto& entry : entries) entry.result = 0x7777;
    long result = hypercall(HYPERVISOR_multicall, address(entries), 4);
    long version = hypercall(HYPERVISOR_xen_version, XENVER_version, 0);
    CHECK("hypercalls: multicall", result == 0 && static_cast<long>(entries[0].result) == version &&
                                       entries[1].result == 0 && static_cast<long>(entries[2].result) == -ENOSYS &&
                                       entries[3].result == 1,
          "returned %ld; results %ld (xen_version, expected %ld), %ld (update_va_mapping), %ld (unknown, expected "
          "-38), %ld (vcpu_op is_up, expected 1)", result, static_cast<long>(entries[0].result), version,
          static_cast<long>(entries[1].result), static_cast<long>(entries[2].result),
          static_cast<long>(entries[3].result));
}

void check_version_and_memory() {
    long version = hypercall(HYPERVISOR_xen_version, XENVER_version, 0);
    CHECK("hypercalls: xen_version version", version >= 0x30000, "returned 0x%lx, expected major >= 3", version);
    char extraversion[16];
    fill(extraversion, 0x7f, sizeof extraversion);
    long extra = hypercall(HYPERVISOR_xen_version, XENVER_extraversion, address(extraversion));
    bool terminated = false;
    for (char character : extraversion) terminated |= character == '\0';
    CHECK("hypercalls: xen_version extraversion", extra == 0 && terminated, "returned %ld, %s", extra,
          terminated ? "terminated" : "no NUL in 16 bytes");
    static char capabilities[1024];
    long caps = hypercall(HYPERVISOR_xen_version, XENVER_capabilities, address(capabilities));
    CHECK("hypercalls: xen_version capabilities", caps == 0 && contains(capabilities, sizeof capabilities, "xen-3.0-x86_64"),
          "returned %ld, \"%.100s\"", caps, capabilities);
    xen_feature_info features{0, 0};
    long feature_result = hypercall(HYPERVISOR_xen_version, XENVER_get_features, address(&features));
    CHECK("hypercalls: xen_version get_features",
          feature_result == 0 && (features.submap & (1u << XENFEAT_mmu_pt_update_preserve_ad)) != 0 &&
              (features.submap & (1u << XENFEAT_auto_translated_physmap)) == 0,
          "returned %ld, submap 0 = 0x%x (want mmu_pt_update_preserve_ad, not auto_translated_physmap)", feature_result,
          features.submap);
    xen_platform_parameters parameters{0};
    long platform = hypercall(HYPERVISOR_xen_version, XENVER_platform_parameters, address(&parameters));
    CHECK("hypercalls: xen_version platform_parameters", platform == 0 && parameters.virt_start == HYPERVISOR_VIRT_START,
          "returned %ld, virt_start 0x%lx, expected 0xffff800000000000", platform, parameters.virt_start);
    const char line[] = "pv-test: console_io: a direct write\n";
    long console = console_write(line, sizeof line - 1);
    CHECK("hypercalls: console_io", console == 0, "CONSOLEIO_write returned %ld", console);

    uint16_t self = DOMID_SELF;
    long current = hypercall(HYPERVISOR_memory_op, XENMEM_current_reservation, address(&self));
    CHECK("hypercalls: memory_op current_reservation", current == static_cast<long>(domain.start_info->nr_pages),
          "returned %ld, nr_pages %lu", current, domain.start_info->nr_pages);
    long maximum = hypercall(HYPERVISOR_memory_op, XENMEM_maximum_reservation, address(&self));
    CHECK("hypercalls: memory_op maximum_reservation", maximum >= current && maximum > 0,
          "returned %ld, current %ld", maximum, current);
    uint64_t highest_mfn = 0;
    for (uint64_t pfn = 0; pfn < domain.start_info->nr_pages; ++pfn) {
        if (domain.p2m[pfn] > highest_mfn) highest_mfn = domain.p2m[pfn];
    }
    long ram_page = hypercall(HYPERVISOR_memory_op, XENMEM_maximum_ram_page, 0);
    CHECK("hypercalls: memory_op maximum_ram_page", ram_page > 0 && static_cast<uint64_t>(ram_page) >= highest_mfn,
          "returned %ld, dom0's highest mfn 0x%lx", ram_page, highest_mfn);

    static e820_entry entries[64];
    for (unsigned kind = 0; kind < 2; ++kind) {
        xen_memory_map map{64, 0, address(entries)};
        long result = hypercall(HYPERVISOR_memory_op, kind == 0 ? XENMEM_memory_map : XENMEM_machine_memory_map,
                                address(&map));
        uint64_t ram_bytes = 0;
        bool kernel_in_ram = false;
        uint64_t kernel_machine = mfn_of(&fs_cell) * page_size;
        for (uint32_t index = 0; result == 0 && index < map.nr_entries && index < 64; ++index) {
            if (entries[index].type != 1) continue;
            ram_bytes += entries[index].size;
            kernel_in_ram |= kernel_machine >= entries[index].address &&
                             kernel_machine < entries[index].address + entries[index].size;
        }
        if (kind == 0) {
            // A PV dom0 has no pseudo-physical map unless one was set: Xen 4.17 answers -ENOSYS
            // (Linux then makes its own from nr_pages). A map, when given, must hold RAM.
            CHECK_NOTE("hypercalls: memory_op memory_map",
                       result == -ENOSYS || (result == 0 && map.nr_entries >= 1 && ram_bytes > 0),
                       "returned %ld, %u entries, %lu bytes of RAM", result, result == 0 ? map.nr_entries : 0,
                       ram_bytes);
        } else {
            CHECK("hypercalls: memory_op machine_memory_map", result == 0 && map.nr_entries >= 1 && kernel_in_ram,
                  "returned %ld, %u entries, machine address 0x%lx of the kernel %s RAM", result, map.nr_entries,
                  kernel_machine, kernel_in_ram ? "in" : "not in");
        }
    }
}

void check_event_channels() {
    shared_info* shared = domain.shared_info;
    if (shared == nullptr) return;
    evtchn_bind_ipi ipi{0, 0};
    long bound = event_channel(EVTCHNOP_bind_ipi, &ipi);
    long sent = -1;
    bool pending = false;
    if (bound == 0) {
        evtchn_port_argument send{ipi.port};
        sent = event_channel(EVTCHNOP_send, &send);
        pending = (shared->evtchn_pending[ipi.port / 64] >> (ipi.port % 64)) & 1;
        __atomic_fetch_and(&shared->evtchn_pending[ipi.port / 64], ~(1ull << (ipi.port % 64)), __ATOMIC_SEQ_CST);
    }
    evtchn_port_argument close{ipi.port};
    long closed = bound == 0 ? event_channel(EVTCHNOP_close, &close) : -1;
    CHECK("hypercalls: event_channel_op bind_ipi, send, close", bound == 0 && ipi.port != 0 && sent == 0 && pending &&
                                                                  closed == 0,
          "bind_ipi %ld (port %u), send %ld, pending bit %s, close %ld", bound, ipi.port, sent,
          pending ? "set" : "clear", closed);
    evtchn_alloc_unbound unbound{DOMID_SELF, 0, 0};
    long allocated = event_channel(EVTCHNOP_alloc_unbound, &unbound);
    close.port = unbound.port;
    closed = allocated == 0 ? event_channel(EVTCHNOP_close, &close) : -1;
    CHECK("hypercalls: event_channel_op alloc_unbound", allocated == 0 && unbound.port != 0 && closed == 0,
          "alloc_unbound %ld (port %u), close %ld", allocated, unbound.port, closed);

    // The timer: VIRQ_TIMER bound and unmasked, set_timer_op, then SCHEDOP_block (which
    // unmasks event delivery, sched.h) until the event callback has seen the port.
    evtchn_bind_virq virq{VIRQ_TIMER, 0, 0};
    long virq_bound = event_channel(EVTCHNOP_bind_virq, &virq);
    if (virq_bound != 0 || virq.port >= 64) {
        CHECK("hypercalls: set_timer_op fires VIRQ_TIMER", false, "bind_virq returned %ld (port %u)", virq_bound,
              virq.port);
        return;
    }
    evtchn_port_argument unmask{virq.port};
    long unmasked = event_channel(EVTCHNOP_unmask, &unmask);
    uint64_t callbacks_before = event_callbacks;
    uint64_t now = shared->vcpu_info[0].time.system_time;
    long timer = hypercall(HYPERVISOR_set_timer_op, now + 1000000);  // 1 ms of system time
    unsigned blocks = 0;
    while (events_seen[virq.port] == 0 && blocks < 50 && timer == 0) {
        hypercall(HYPERVISOR_sched_op, SCHEDOP_block, 0);
        ++blocks;
        if (events_seen[virq.port] == 0) {
            now = shared->vcpu_info[0].time.system_time;
            (void)hypercall(HYPERVISOR_set_timer_op, now + 1000000);
        }
    }
    shared->vcpu_info[0].evtchn_upcall_mask = 1;
    asm volatile("" ::: "memory");
    close.port = virq.port;
    long virq_closed = event_channel(EVTCHNOP_close, &close);
    CHECK("hypercalls: set_timer_op fires VIRQ_TIMER",
          unmasked == 0 && timer == 0 && events_seen[virq.port] > 0 && event_callbacks > callbacks_before &&
              virq_closed == 0,
          "unmask %ld, set_timer_op %ld, %u blocks, %lu events on port %u, %lu callbacks, close %ld", unmasked, timer,
          blocks, events_seen[virq.port], virq.port, event_callbacks - callbacks_before, virq_closed);
}

void check_hypercalls() {
    check_memory_mappings();
    check_descriptor_tables();
    check_callbacks_and_modes();
    check_multicall();
    check_version_and_memory();
    check_event_channels();
}

// --- Traps -----------------------------------------------------------------------------
void check_traps() {
    struct Probe {
        const char* name;
        void (*run)();
        uint64_t vector;
    };
    const Probe probes[] = {
        {"traps: #DE from div by zero", probe_divide_error, 0},
        {"traps: #DB from single step", probe_single_step, 1},
        {"traps: #BP from int3", probe_breakpoint, 3},
        {"traps: #UD from ud2", probe_invalid_opcode, 6},
        {"traps: #GP from a non-canonical read", probe_non_canonical_read, 13},
    };
    for (const Probe& probe : probes) {
        forget_trap();
        probe.run();
        bool error_ok = probe.vector != 13 || last_trap.error_code == 0;
        CHECK(probe.name, trapped(probe.vector) && error_ok, "%lu traps, vector %lu error 0x%lx at rip 0x%lx",
              last_trap.count, last_trap.vector, last_trap.error_code, last_trap.rip);
    }
    forget_trap();
    probe_invalid_opcode();
    CHECK("traps: bounce frame cs is the kernel's", (last_trap.cs & 0xffff) == (FLAT_RING3_CS64 & 0xfffc),
          "cs 0x%lx in the frame (low 16 bits 0x%lx)", last_trap.cs, last_trap.cs & 0xffff);

    volatile uint64_t* window = reinterpret_cast<volatile uint64_t*>(windows[5]);
    long unmapped = update_va_mapping(window, 0, UVMF_INVLPG);
    forget_trap();
    (void)probe_read64(window);
    CHECK("traps: #PF from a read of an unmapped page, CR2 from vcpu_info",
          unmapped == 0 && trapped(14) && (last_trap.error_code & 7) == 0 && last_trap.cr2 == address(window),
          "unmap %ld; %lu traps, vector %lu error 0x%lx cr2 0x%lx, expected #PF error 0x0 cr2 0x%lx", unmapped,
          last_trap.count, last_trap.vector, last_trap.error_code, last_trap.cr2, address(window));
    (void)restore_window(5);
    forget_trap();
    uint64_t back = probe_read64(window);
    (void)back;
    CHECK("traps: the page is readable again after restoring it", last_trap.count == 0, "read trapped (vector %lu)",
          last_trap.vector);
}

// --- Privileged operations at CPL 3 ------------------------------------------------------
uint32_t pci_read(unsigned device, unsigned offset) {
    probe_out32(0xcf8, 0x80000000u | device << 11 | offset);
    return probe_in32(0xcfc);
}
void pci_write(unsigned device, unsigned offset, uint32_t value) {
    probe_out32(0xcf8, 0x80000000u | device << 11 | offset);
    probe_out32(0xcfc, value);
}
// The bus-0 device number of the first edu (1234:11e8), or -1.
int find_edu() {
    for (unsigned device = 0; device < 32; ++device) {
        if (pci_read(device, 0) == 0x11e81234u) return static_cast<int>(device);
    }
    return -1;
}

void check_privileged() {
    uint32_t leaf[4] = {0, 0, 0, 0};
    forget_trap();
    probe_forced_cpuid(0x40000000, 0, leaf);
    bool signature = leaf[1] == 0x566e6558 && leaf[2] == 0x65584d4d && leaf[3] == 0x4d4d566e;  // "XenVMMXenVMM"
    CHECK("privileged: forced-emulation CPUID 0x40000000", last_trap.count == 0 && signature && leaf[0] >= 0x40000002,
          "%s; eax 0x%x ebx 0x%x ecx 0x%x edx 0x%x, expected \"XenVMMXenVMM\" and eax >= 0x40000002",
          last_trap.count ? "trapped" : "ran", leaf[0], leaf[1], leaf[2], leaf[3]);
    forget_trap();
    probe_forced_cpuid(0x40000001, 0, leaf);
    CHECK("privileged: forced-emulation CPUID 0x40000001", last_trap.count == 0 && (leaf[0] >> 16) >= 3,
          "eax 0x%x (version, expected major >= 3)%s", leaf[0], last_trap.count ? ", trapped" : "");

    // A PV guest gets no superpages and cannot turn on global pages, so the
    // CPUID it sees leaves out PSE and PGE (leaf 1 EDX bits 3 and 13) and 1 GiB
    // pages (leaf 0x80000001 EDX bit 26): a kernel that believed them would
    // build page tables validation refuses.
    uint32_t basic[4] = {0, 0, 0, 0};
    uint32_t extended[4] = {0, 0, 0, 0};
    forget_trap();
    probe_forced_cpuid(1, 0, basic);
    probe_forced_cpuid(0x80000001, 0, extended);
    CHECK_NOTE("privileged: forced-emulation CPUID hides PSE, PGE and 1 GiB pages",
               last_trap.count == 0 && (basic[3] & ((1u << 3) | (1u << 13))) == 0 && (extended[3] & (1u << 26)) == 0,
               "leaf 1 edx 0x%x, leaf 0x80000001 edx 0x%x%s", basic[3], extended[3], last_trap.count ? ", trapped" : "");

    forget_trap();
    probe_write_cr3(l4_machine_address());
    bool write_trapped = last_trap.count != 0;
    uint64_t cr3 = probe_read_cr3();
    CHECK("privileged: mov to and from CR3", !write_trapped && last_trap.count == 0 &&
                                                 (cr3 & page_frame_mask) == l4_machine_address(),
          "write %s, cr3 reads 0x%lx, expected 0x%lx", write_trapped ? "trapped" : "ran", cr3, l4_machine_address());
    forget_trap();
    uint64_t cr0 = probe_read_cr0();
    CHECK("privileged: mov from CR0", last_trap.count == 0 && (cr0 & 0x80000001) == 0x80000001,
          "cr0 0x%lx (want PG|PE)%s", cr0, last_trap.count ? ", trapped" : "");
    forget_trap();
    uint64_t cr4 = probe_read_cr4();
    CHECK("privileged: mov from CR4", last_trap.count == 0 && (cr4 & 0x20) != 0, "cr4 0x%lx (want PAE)%s", cr4,
          last_trap.count ? ", trapped" : "");
    forget_trap();
    uint64_t efer = probe_rdmsr(0xc0000080);
    CHECK("privileged: rdmsr EFER", last_trap.count == 0 && (efer & 0x500) == 0x500, "EFER 0x%lx (want LME|LMA)%s",
          efer, last_trap.count ? ", trapped" : "");

    physdev_set_iopl iopl{1};
    long iopl_result = hypercall(HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, address(&iopl));
    CHECK("privileged: physdev_op set_iopl 1", iopl_result == 0, "returned %ld", iopl_result);
    forget_trap();
    probe_out8(0x70, 0x0d);
    uint8_t status_d = probe_in8(0x71);
    CHECK("privileged: CMOS ports 0x70/0x71", last_trap.count == 0 && (status_d & 0x80) != 0,
          "RTC status register D 0x%x (want VRT set)%s", status_d, last_trap.count ? ", trapped" : "");
    forget_trap();
    int edu = find_edu();
    CHECK("privileged: PCI configuration ports find edu 1234:11e8", last_trap.count == 0 && edu >= 0,
          "%s on bus 0%s", edu >= 0 ? "found" : "no 1234:11e8", last_trap.count ? ", a port access trapped" : "");
}

// --- Bad input ------------------------------------------------------------------------------
void check_bad_input() {
    const uint64_t l4_machine = l4_machine_address();
    const auto* l4 = reinterpret_cast<const uint64_t*>(domain.start_info->pt_base);
    volatile uint64_t* window = reinterpret_cast<volatile uint64_t*>(windows[6]);
    const uint64_t window_entry_before = l1_entry(address(window));

    uint64_t l1_mfn = l1_entry_machine_address(address(window)) / page_size;
    long result = update_va_mapping(window, machine_entry(l1_mfn, kernel_page), UVMF_INVLPG);
    CHECK_NOTE("bad-input: writable mapping of a page-table page refused", result < 0, "returned %ld", result);
    result = mmu_update_one(l1_entry_machine_address(address(window)), machine_entry(l1_mfn, kernel_page));
    CHECK_NOTE("bad-input: writable mapping of a page-table page through mmu_update refused", result < 0,
               "returned %ld", result);
    result = update_va_mapping(window, machine_entry(0x100, kernel_read_only_page), UVMF_INVLPG);
    CHECK_NOTE("bad-input: mapping machine frame 0x100 (the hypervisor) refused", result < 0, "returned %ld", result);
    result = update_va_mapping(reinterpret_cast<void*>(0xffff830000000000ull),
                               machine_entry(mfn_of(windows[6]), kernel_page), UVMF_INVLPG);
    CHECK_NOTE("bad-input: update_va_mapping inside the hypervisor's range refused", result < 0, "returned %ld", result);

    const uint64_t bad_pointers[] = {0, 0xffff828000000000ull, 0x8000000000000000ull};
    unsigned done = 0;
    for (unsigned index = 0; index < 3; ++index) {
        result = hypercall(HYPERVISOR_mmu_update, bad_pointers[index], 1, address(&done), DOMID_SELF);
        const char* where[] = {"NULL", "the hypervisor's alias", "a non-canonical address"};
        CHECK_NOTE(index == 0   ? "bad-input: mmu_update from NULL gives -EFAULT"
                   : index == 1 ? "bad-input: mmu_update from the hypervisor's alias gives -EFAULT"
                                : "bad-input: mmu_update from a non-canonical address gives -EFAULT",
                   result == -EFAULT, "returned %ld for %s 0x%lx", result, where[index], bad_pointers[index]);
    }
    char saved_l4[16];
    copy(saved_l4, l4, sizeof saved_l4);
    result = hypercall(HYPERVISOR_xen_version, XENVER_extraversion, domain.start_info->pt_base);
    CHECK_NOTE("bad-input: xen_version output into the read-only L4 gives -EFAULT",
               result == -EFAULT && equal(saved_l4, l4, sizeof saved_l4), "returned %ld, L4 %s", result,
               equal(saved_l4, l4, sizeof saved_l4) ? "unchanged" : "CHANGED");
    result = hypercall(HYPERVISOR_console_io, CONSOLEIO_write, 16, 0);
    CHECK_NOTE("bad-input: console_io from NULL gives -EFAULT", result == -EFAULT, "returned %ld", result);
    result = hypercall(HYPERVISOR_multicall, 0, 2);
    CHECK_NOTE("bad-input: multicall from NULL gives -EFAULT", result == -EFAULT, "returned %ld", result);
    // NULL is not bad input for set_trap_table: it clears the table (Xen 4.17 returns 0).
    result = hypercall(HYPERVISOR_set_trap_table, 0xffff828000000000ull);
    long reinstalled = install_trap_table();
    CHECK_NOTE("bad-input: set_trap_table from the hypervisor's alias gives -EFAULT",
               result == -EFAULT && reinstalled == 0, "returned %ld, reinstalling %ld", result, reinstalled);
    result = hypercall(HYPERVISOR_set_trap_table, 0);
    reinstalled = install_trap_table();
    CHECK_NOTE("hypercalls: set_trap_table(NULL) clears the table", result == 0 && reinstalled == 0,
               "returned %ld, reinstalling %ld", result, reinstalled);
    result = hypercall(63);
    CHECK_NOTE("bad-input: unknown hypercall 63 gives -ENOSYS", result == -ENOSYS, "returned %ld", result);
    result = hypercall_direct(1000, 0, 0);
    CHECK_NOTE("bad-input: hypercall number 1000 by SYSCALL gives -ENOSYS", result == -ENOSYS, "returned %ld", result);

    // Garbage requests (xorshift64, a fixed seed): random machine pointers and commands.
    uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&]() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    unsigned accepted = 0;
    long first_error = 0;
    for (unsigned index = 0; index < 64; ++index) {
        mmu_update request{next(), next()};
        done = 0;
        result = hypercall(HYPERVISOR_mmu_update, address(&request), 1, address(&done), DOMID_SELF);
        if (result == 0) ++accepted;
        else if (first_error == 0) first_error = result;
    }
    bool intact = l1_entry(address(window)) == window_entry_before;
    CHECK_NOTE("bad-input: 64 garbage mmu_update requests refused", accepted == 0 && intact,
               "%u accepted, first error %ld, our tables %s", accepted, first_error, intact ? "intact" : "CHANGED");

    uint64_t kernel_l3 = l4[511] & page_frame_mask;
    const unsigned slots[] = {first_hypervisor_l4_slot, 261, last_hypervisor_l4_slot};
    for (unsigned slot : slots) {
        uint64_t before = l4[slot];
        result = mmu_update_one(l4_machine + slot * 8, kernel_l3 | page_present | page_writable | page_user);
        CHECK_NOTE(slot == 256   ? "bad-input: L4 write into slot 256 refused"
                   : slot == 261 ? "bad-input: L4 write into slot 261 refused"
                                 : "bad-input: L4 write into slot 271 refused",
                   result < 0 && l4[slot] == before, "returned %ld, slot %u %s", result, slot,
                   l4[slot] == before ? "unchanged" : "CHANGED");
    }

    result = mmuext(MMUEXT_NEW_BASEPTR, mfn_of(windows[6]));
    CHECK_NOTE("bad-input: NEW_BASEPTR to a writable data page refused", result < 0, "returned %ld", result);
    result = mmuext(MMUEXT_PIN_L1_TABLE, 0x100);
    CHECK_NOTE("bad-input: pinning machine frame 0x100 refused", result < 0, "returned %ld", result);
    result = mmuext(99, 0);
    CHECK_NOTE("bad-input: mmuext_op command 99 refused", result < 0, "returned %ld", result);
    result = hypercall(HYPERVISOR_update_descriptor, mfn_of(gdt_frame) * page_size + 4, 0);
    CHECK_NOTE("bad-input: update_descriptor at a misaligned address refused", result < 0, "returned %ld", result);
    result = hypercall(HYPERVISOR_vm_assist, VMASST_CMD_enable, 30);
    CHECK_NOTE("bad-input: vm_assist of unknown type 30 refused", result < 0, "returned %ld", result);
    forget_trap();
    (void)probe_rdmsr(0x1234567);
    CHECK_NOTE("bad-input: rdmsr of MSR 0x1234567 bounces #GP", trapped(13) && last_trap.error_code == 0,
               "%lu traps, vector %lu error 0x%lx", last_trap.count, last_trap.vector, last_trap.error_code);
    (void)restore_window(6);
}

// --- DMA with edu under the strict IOMMU ---------------------------------------------------
void check_dma() {
    physdev_set_iopl iopl{1};
    (void)hypercall(HYPERVISOR_physdev_op, PHYSDEVOP_set_iopl, address(&iopl));
    int device = find_edu();
    if (device < 0) {
        CHECK("dma: edu found", false, "no 1234:11e8 on bus 0");
        return;
    }
    uint64_t bar0 = pci_read(static_cast<unsigned>(device), 0x10) & ~0xfull;
    pci_write(static_cast<unsigned>(device), 4, (pci_read(static_cast<unsigned>(device), 4) & 0xffff) | 0x6);
    auto* registers = reinterpret_cast<volatile uint32_t*>(windows[7]);
    long mapped = mmu_update_one(l1_entry_machine_address(address(registers)),
                                 bar0 | page_present | page_writable | page_user | page_cache_disable |
                                     page_write_through | page_accessed | page_dirty);
    long flushed = mmuext(MMUEXT_INVLPG_LOCAL, address(registers));
    if (mapped != 0 || flushed != 0) {
        CHECK("dma: edu BAR0 mapped", false, "mmu_update of BAR0 0x%lx returned %ld, INVLPG %ld", bar0, mapped, flushed);
        return;
    }
    registers[1] = 0x12345678;  // liveness: reads back inverted
    uint32_t live = registers[1];
    CHECK("dma: edu BAR0 mapped through mmu_update", live == ~0x12345678u, "BAR0 0x%lx liveness 0x%x", bar0, live);
    auto* wide = reinterpret_cast<volatile uint64_t*>(windows[7]);
    auto transfer = [&](uint64_t source, uint64_t destination, bool to_ram) {
        wide[0x80 / 8] = source;
        wide[0x88 / 8] = destination;
        wide[0x90 / 8] = 1024;
        wide[0x98 / 8] = 1 | (to_ram ? 2 : 0);
        for (unsigned poll = 0; poll < 10000000; ++poll) {
            if ((wide[0x98 / 8] & 1) == 0) return true;
        }
        return false;
    };
    constexpr uint64_t device_buffer = 0x40000;
    uint64_t source = take_free_frame(), destination = take_free_frame(), table = take_free_frame();
    long setup = zero_frame_through(1, source) | zero_frame_through(2, destination) | zero_frame_through(3, table);
    auto* source_words = reinterpret_cast<volatile uint64_t*>(windows[1]);
    for (unsigned index = 0; index < 128; ++index) source_words[index] = pattern_a ^ index;
    bool done_in = transfer(source * page_size, device_buffer, false);
    bool done_out = transfer(device_buffer, destination * page_size, true);
    auto* destination_words = reinterpret_cast<volatile uint64_t*>(windows[2]);
    unsigned same = 0;
    for (unsigned index = 0; index < 128; ++index) same += destination_words[index] == (pattern_a ^ index);
    CHECK("dma: into a writable page works", setup == 0 && done_in && done_out && same == 128,
          "set-up %ld, transfers %s/%s, %u of 128 words arrived", setup, done_in ? "done" : "timed out",
          done_out ? "done" : "timed out", same);

    long read_only = update_va_mapping(windows[3], machine_entry(table, kernel_read_only_page), UVMF_INVLPG);
    long pin = mmuext(MMUEXT_PIN_L1_TABLE, table);
    bool done_table = transfer(device_buffer, table * page_size, true);
    auto* table_words = reinterpret_cast<volatile uint64_t*>(windows[3]);
    unsigned changed = 0;
    for (unsigned index = 0; index < 512; ++index) changed += table_words[index] != 0;
    long unpin = mmuext(MMUEXT_UNPIN_TABLE, table);
    CHECK("dma: into a page-table page refused, the page unchanged",
          read_only == 0 && pin == 0 && done_table && changed == 0 && unpin == 0,
          "read-only %ld, pin %ld, transfer %s, %u of 512 entries changed, unpin %ld", read_only, pin,
          done_table ? "done" : "timed out", changed, unpin);
    for (unsigned index = 1; index <= 3; ++index) (void)restore_window(index);
    (void)restore_window(7);
}

// --- K frames become L1 tables in one hypercall ---------------------------------------------
constexpr unsigned types_capacity = 4096;
mmuext_op type_operations[types_capacity];

void run_types(unsigned k) {
    if (k > types_capacity) {
        CHECK("types: k", false, "k=%u is more than %u", k, types_capacity);
        return;
    }
    for (unsigned index = 0; index < k; ++index) {
        uint64_t frame = take_free_frame();
        if (frame == 0 || zero_frame_through(1, frame) != 0) {
            CHECK("types: frames", false, "frame %u of %u: none free or not mappable", index, k);
            (void)restore_window(1);
            return;
        }
        type_operations[index] = mmuext_op{MMUEXT_PIN_L1_TABLE, 0, frame, 0};
    }
    long unmapped = update_va_mapping(windows[1], 0, UVMF_INVLPG);  // no mapping of any of them is left
    unsigned done = 0;
    print("pv-test: types: begin k=%u", k);
    long pinned = hypercall(HYPERVISOR_mmuext_op, address(type_operations), k, address(&done), DOMID_SELF);
    print("pv-test: types: end k=%u", k);
    CHECK("types: K frames pinned as L1 tables in one mmuext_op", unmapped == 0 && pinned == 0 && done == k,
          "unmap %ld, mmuext_op %ld, %u of %u done", unmapped, pinned, done, k);
    for (unsigned index = 0; index < k; ++index) type_operations[index].cmd = MMUEXT_UNPIN_TABLE;
    done = 0;
    long unpinned = hypercall(HYPERVISOR_mmuext_op, address(type_operations), k, address(&done), DOMID_SELF);
    print("pv-test: types: unpinned k=%u", k);
    CHECK("types: unpinned in one mmuext_op", unpinned == 0 && done == k, "mmuext_op %ld, %u of %u done", unpinned,
          done, k);
    (void)restore_window(1);
}

}  // namespace

extern "C" [[noreturn]] void guest_main(const start_info* start) {
    set_up_domain(start, GUEST_VIRT_BASE);
    print("pv-test: pv_checks: command line \"%.200s\"", start->cmd_line);
    long traps = install_trap_table();
    CHECK("set_trap_table", traps == 0, "returned %ld", traps);
    long callbacks = register_callbacks();
    CHECK("callback_op register event, failsafe, syscall, syscall32", callbacks == 0, "returned %ld", callbacks);
    long shared = map_shared_info(shared_info_window);
    Options options = parse_command_line(start->cmd_line);
    if (options.start_info) check_start_info(start, shared);
    if (options.hypercalls) check_hypercalls();
    if (options.traps) check_traps();
    if (options.privileged) check_privileged();
    if (options.bad_input) check_bad_input();
    if (options.dma) check_dma();
    if (options.types) run_types(options.k);
    finish();
}
