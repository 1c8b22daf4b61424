// The 64-bit PV dom0 builder. See dom0_build.hpp for the layout; the rules cited below are Xen's public
// ABI (xen/include/public/xen.h "Start-of-day memory layout", elfnote.h, features.h) and the behaviour
// of Xen's own dom0 builder and libelf, which every PV kernel is written against.
#include <arch/x86/pv/dom0_build.hpp>

#include <common/elf.hpp>
#include <common/xen_elf_notes.hpp>
#include <public/arch_x86_64.hpp>
#include <public/features.hpp>
#include <public/xen.hpp>

#include <sluice/format.hpp>
#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::pv {
namespace {

constexpr Logger logger{"dom0"};

// Intel SDM Vol. 3A, 4.5 "4-Level Paging": the bits of a paging-structure entry the builder sets.
namespace entry_bit {
constexpr uint64_t present = uint64_t{1} << 0;
constexpr uint64_t writable = uint64_t{1} << 1;
constexpr uint64_t user = uint64_t{1} << 2;
constexpr uint64_t accessed = uint64_t{1} << 5;
constexpr uint64_t dirty = uint64_t{1} << 6;
}  // namespace entry_bit

// Every level is present, user and writable (the ABI maps the whole region for the kernel, which runs
// at CPL 3); leaves come accessed and dirty so the processor never has to write them back. No G (bit 8:
// the page-type engine refuses it, docs/pv.md), no NX (bit 63: never on the kernel).
constexpr uint64_t table_entry_flags = entry_bit::present | entry_bit::writable | entry_bit::user | entry_bit::accessed;
constexpr uint64_t leaf_entry_flags = table_entry_flags | entry_bit::dirty;
// The page-table frames themselves are mapped read-only: a PV guest never writes its tables directly.
constexpr uint64_t read_only_leaf_flags = leaf_entry_flags & ~entry_bit::writable;

constexpr unsigned l1_shift = 12, l2_shift = 21, l3_shift = 30, l4_shift = 39;
constexpr uint64_t entries_per_table = 512;

// The start-of-day region ends on a 4 MiB boundary with at least 512 KiB after the boot stack
// (public/xen.h, "Start-of-day memory layout").
constexpr uint64_t region_alignment = 4 * MiB;
constexpr uint64_t minimum_padding = 512 * KiB;

// x86-64 addresses a 64-bit PV guest may use (arch-x86/xen-x86_64.h): canonical, and outside
// [HYPERVISOR_VIRT_START, HYPERVISOR_VIRT_END), the hypervisor's L4 slots 256-271. Together: nothing in
// [first non-canonical, HYPERVISOR_VIRT_END).
constexpr uint64_t lower_half_end = uint64_t{1} << 47;
constexpr uint64_t hypervisor_virt_end = 0xffff880000000000;

// start_info.cmd_line holds MAX_GUEST_CMDLINE (1024) bytes including the terminating NUL.
constexpr size_t command_line_capacity = sizeof(xen::start_info{}.cmd_line);

Error refuse(Dom0BuildDiagnostic& diagnostic, Error error, const char* pattern, ...) __attribute__((format(printf, 3, 4)));
Error refuse(Dom0BuildDiagnostic& diagnostic, Error error, const char* pattern, ...) {
    __builtin_va_list arguments;
    __builtin_va_start(arguments, pattern);
    format_arguments(diagnostic.message, sizeof diagnostic.message, pattern, arguments);
    __builtin_va_end(arguments);
    return error;
}

using ull = unsigned long long;

[[nodiscard]] bool add_overflows(uint64_t first, uint64_t second, uint64_t& sum) {
    return __builtin_add_overflow(first, second, &sum);
}

// Rounds up to a power-of-two alignment; false when that passes 2^64.
[[nodiscard]] bool align_up_checked(uint64_t value, uint64_t alignment, uint64_t& result) {
    uint64_t sum;
    if (add_overflows(value, alignment - 1, sum)) return false;
    result = sum & ~(alignment - 1);
    return true;
}

// How many naturally aligned 2^shift blocks [start, end) touches (end > start).
constexpr uint64_t blocks_spanned(uint64_t start, uint64_t end, unsigned shift) {
    return ((end - 1) >> shift) - (start >> shift) + 1;
}

constexpr uint64_t table_frames_for(uint64_t start, uint64_t end) {
    return 1 + blocks_spanned(start, end, l4_shift) + blocks_spanned(start, end, l3_shift) +
           blocks_spanned(start, end, l2_shift);
}

// The one feature check Xen's loader leaves to the builder: every feature the kernel requires ("!name"
// in XEN_ELFNOTE_FEATURES, elfnote.h) must be one the hypervisor implements. compute_pv_layout() has
// already applied Xen's own checks (XENFEAT_dom0 supported, supervisor_mode_kernel not required).
Status check_required_features(const xen_elf::XenNotes& notes, uint32_t offered, Dom0BuildDiagnostic& diagnostic) {
    const uint32_t missing = notes.required_features & ~offered;
    if (missing == 0) return success();
    const unsigned bit = count_trailing_zeros(missing);
    const char* name = xen_elf::feature_name(bit);
    return refuse(diagnostic, Error::unsupported,
                  "dom0 kernel: XEN_ELFNOTE_FEATURES at offset %#llx: requires \"!%s\" (XENFEAT bit %u), which this "
                  "hypervisor does not offer (required %#x, offered %#x)",
                  static_cast<ull>(notes.note_offset(xen_elf::XEN_ELFNOTE_FEATURES)), name ? name : "?", bit,
                  notes.required_features, offered);
}

// Sequential pseudo-physical to machine frames, for the passes over every frame.
class FrameCursor {
public:
    explicit FrameCursor(const passthrough::RangeSet& memory) : memory_(memory) { settle(); }
    [[nodiscard]] uint64_t machine_frame() const { return (memory_[range_].start >> page_shift) + offset_; }
    void advance() {
        ++offset_;
        settle();
    }

private:
    void settle() {
        while (range_ < memory_.count() && offset_ >= (memory_[range_].length() >> page_shift)) {
            offset_ = 0;
            ++range_;
        }
    }
    const passthrough::RangeSet& memory_;
    size_t range_ = 0;
    uint64_t offset_ = 0;
};

// Writes bytes at pseudo-physical addresses.
class PseudoPhysicalWriter {
public:
    PseudoPhysicalWriter(const PseudoPhysicalMap& map, PhysicalMemory& memory, Dom0BuildDiagnostic& diagnostic)
        : map_(map), memory_(memory), diagnostic_(diagnostic) {}

    // Copies bytes to pseudo-physical address, page by page (consecutive pfns need not be consecutive
    // machine frames).
    Status write_pseudo_physical(uint64_t address, const uint8_t* source, uint64_t length, const char* what) {
        while (length > 0) {
            const uint64_t chunk = min(length, page_size - (address & page_mask));
            const Optional<uint64_t> frame = map_.machine_frame(address >> page_shift);
            if (!frame.has_value() ||
                !memory_.write_bytes((frame.value() << page_shift) | (address & page_mask), source, chunk).ok())
                return refuse(diagnostic_, Error::out_of_range,
                              "dom0 memory: writing the %s at pseudo-physical %#llx failed: the page is not accessible",
                              what, static_cast<ull>(address));
            address += chunk;
            source += chunk;
            length -= chunk;
        }
        return success();
    }

private:
    const PseudoPhysicalMap& map_;
    PhysicalMemory& memory_;
    Dom0BuildDiagnostic& diagnostic_;
};

Status check_inputs(const Dom0BuildInputs& inputs, Dom0BuildDiagnostic& diagnostic) {
    if (inputs.memory == nullptr || inputs.memory->empty())
        return refuse(diagnostic, Error::invalid_argument, "dom0 memory: no memory given to dom0");
    for (const passthrough::AddressRange& range : *inputs.memory)
        if (!is_aligned(range.start, page_size) || !is_aligned(range.end, page_size))
            return refuse(diagnostic, Error::invalid_argument,
                          "dom0 memory: range %#llx-%#llx is not page aligned", static_cast<ull>(range.start),
                          static_cast<ull>(range.end));
    if (!is_aligned(inputs.shared_info, page_size) || inputs.memory->contains(inputs.shared_info))
        return refuse(diagnostic, Error::invalid_argument,
                      "dom0 shared_info: page %#llx is not page aligned or lies in dom0's own memory",
                      static_cast<ull>(inputs.shared_info));
    if (inputs.initrd_length != 0) {
        uint64_t end;
        if (add_overflows(inputs.initrd, inputs.initrd_length, end))
            return refuse(diagnostic, Error::invalid_argument, "dom0 initrd: %#llx + length %#llx wraps",
                          static_cast<ull>(inputs.initrd), static_cast<ull>(inputs.initrd_length));
        if (inputs.memory->intersects(passthrough::AddressRange{inputs.initrd, end}))
            return refuse(diagnostic, Error::invalid_argument,
                          "dom0 initrd: module %#llx-%#llx overlaps dom0's memory, so copying it would overwrite it",
                          static_cast<ull>(inputs.initrd), static_cast<ull>(end));
    }
    return success();
}

}  // namespace

Optional<uint64_t> PseudoPhysicalMap::machine_frame(uint64_t pfn) const {
    for (const passthrough::AddressRange& range : memory_) {
        const uint64_t frames = range.length() >> page_shift;
        if (pfn < frames) return (range.start >> page_shift) + pfn;
        pfn -= frames;
    }
    return {};
}

BootstrapTableFrame Dom0InitialState::page_table_frame(const PseudoPhysicalMap& map, uint64_t index) const {
    PageTableLevel level = PageTableLevel::l1;
    if (index == 0) level = PageTableLevel::l4;
    else if (index < 1 + layout.l3_tables) level = PageTableLevel::l3;
    else if (index < 1 + layout.l3_tables + layout.l2_tables) level = PageTableLevel::l2;
    return BootstrapTableFrame{map.machine_frame(first_table_pfn + index).value_or(0), level};
}

void hypercall_slot(uint32_t number, uint8_t (&slot)[hypercall_slot_size]) {
    for (uint8_t& byte : slot) byte = 0xcc;  // int3
    size_t length = 0;
    auto put = [&](uint8_t byte) { slot[length++] = byte; };
    put(0x51);        // push %rcx
    put(0x41);        // push %r11 (REX.B + 0x53)
    put(0x53);
    if (number == xen::HYPERVISOR_iret) put(0x50);  // push %rax: iret's frame starts with rax
    put(0xb8);        // mov $number, %eax
    for (unsigned shift = 0; shift < 32; shift += 8) put(static_cast<uint8_t>(number >> shift));
    put(0x0f);        // syscall
    put(0x05);
    if (number == xen::HYPERVISOR_iret) return;  // iret never returns to its slot
    put(0x41);        // pop %r11
    put(0x5b);
    put(0x59);        // pop %rcx
    put(0xc3);        // ret
}

Result<Dom0Layout> compute_dom0_layout(const Dom0LayoutRequest& request, Dom0BuildDiagnostic& diagnostic) {
    Dom0Layout layout;
    layout.virt_base = request.virt_base;
    layout.nr_pages = request.nr_pages;
    layout.kernel = request.kernel;
    layout.entry = request.entry;
    layout.hypercall_page = request.hypercall_page;

    if (!is_aligned(request.virt_base, page_size))
        return refuse(diagnostic, Error::malformed,
                      "dom0 kernel: XEN_ELFNOTE_VIRT_BASE at offset %#llx: %#llx is not page aligned",
                      static_cast<ull>(request.virt_base_offset), static_cast<ull>(request.virt_base));
    if (request.kernel.start < request.virt_base)
        return refuse(diagnostic, Error::malformed,
                      "dom0 kernel: XEN_ELFNOTE_VIRT_BASE at offset %#llx: the image starts at %#llx, below "
                      "virt_base %#llx",
                      static_cast<ull>(request.virt_base_offset), static_cast<ull>(request.kernel.start),
                      static_cast<ull>(request.virt_base));
    if (request.kernel.empty())
        return refuse(diagnostic, Error::malformed, "dom0 kernel: the loadable image %#llx-%#llx is empty",
                      static_cast<ull>(request.kernel.start), static_cast<ull>(request.kernel.end));
    if (request.entry < request.kernel.start || request.entry >= request.kernel.end)
        return refuse(diagnostic, Error::malformed,
                      "dom0 kernel: %s at offset %#llx: entry %#llx lies outside the image %#llx-%#llx",
                      request.entry_field, static_cast<ull>(request.entry_offset), static_cast<ull>(request.entry), static_cast<ull>(request.kernel.start),
                      static_cast<ull>(request.kernel.end));

    const auto wrapped = [&](const char* what) {
        return refuse(diagnostic, Error::out_of_range,
                      "dom0 layout: the %s after the image at %#llx-%#llx would pass the top of the address space",
                      what, static_cast<ull>(request.kernel.start), static_cast<ull>(request.kernel.end));
    };
    uint64_t cursor;
    if (!align_up_checked(request.kernel.end, page_size, cursor)) return wrapped("initrd");

    if (request.hypercall_page.has_value()) {
        const uint64_t page = request.hypercall_page.value();
        if (!is_aligned(page, page_size) || page < request.kernel.start || page > cursor - page_size)
            return refuse(diagnostic, Error::malformed,
                          "dom0 kernel: XEN_ELFNOTE_HYPERCALL_PAGE at offset %#llx: %#llx is not a page-aligned "
                          "page inside the image %#llx-%#llx",
                          static_cast<ull>(request.hypercall_page_offset), static_cast<ull>(page), static_cast<ull>(request.kernel.start), static_cast<ull>(cursor));
    }

    layout.initrd_unmapped = request.initrd_unmapped && request.initrd_length != 0;
    layout.initrd_pages = align_up(request.initrd_length, page_size) >> page_shift;
    if (request.initrd_length > ~uint64_t{0} - page_size) return wrapped("initrd");
    if (request.initrd_length != 0 && !layout.initrd_unmapped) {
        layout.initrd.start = cursor;
        if (add_overflows(cursor, request.initrd_length, layout.initrd.end) ||
            !align_up_checked(layout.initrd.end, page_size, cursor))
            return wrapped("initrd");
    }

    // The p2m list: one 64-bit machine frame number per pseudo-physical frame.
    if (request.nr_pages > (~uint64_t{0} >> 3)) return wrapped("p2m list");
    layout.p2m_list.start = cursor;
    if (add_overflows(cursor, request.nr_pages * sizeof(uint64_t), layout.p2m_list.end) ||
        !align_up_checked(layout.p2m_list.end, page_size, cursor))
        return wrapped("p2m list");

    layout.start_info.start = cursor;
    if (add_overflows(cursor, sizeof(xen::start_info), layout.start_info.end) ||
        !align_up_checked(layout.start_info.end, page_size, cursor))
        return wrapped("start_info page");
    layout.page_tables.start = cursor;

    // The tables map [virt_base, virt_end), which holds the tables: the smallest count that covers
    // itself. table_frames_for() grows with the count, so iterating count = frames(count) from below
    // stops at the least fixed point, where the count is exact (no spare frames).
    // Each round adds only the tables the previous round's extra table pages need (a few L1s at most),
    // so the count settles in two or three rounds; the bound keeps a mistake from hanging the boot.
    uint64_t tables = 1;
    for (unsigned round = 0;; ++round) {
        if (round == 64)
            return refuse(diagnostic, Error::out_of_range, "dom0 layout: the page-table count did not settle at %llu",
                          static_cast<ull>(tables));
        uint64_t tables_end, stack_end, end;
        if (tables > (~uint64_t{0} >> page_shift) || add_overflows(cursor, tables << page_shift, tables_end) ||
            add_overflows(tables_end, page_size, stack_end) || !align_up_checked(stack_end, region_alignment, end))
            return wrapped("page tables and boot stack");
        if (end - stack_end < minimum_padding && add_overflows(end, region_alignment, end))
            return wrapped("padding");
        if (end == 0) return wrapped("padding");
        const uint64_t needed = table_frames_for(request.virt_base, end);
        if (needed <= tables) {
            layout.page_tables.end = tables_end;
            layout.boot_stack = VirtualRange{tables_end, stack_end};
            layout.virt_end = end;
            layout.nr_pt_frames = tables;
            layout.l3_tables = blocks_spanned(request.virt_base, end, l4_shift);
            layout.l2_tables = blocks_spanned(request.virt_base, end, l3_shift);
            layout.l1_tables = blocks_spanned(request.virt_base, end, l2_shift);
            break;
        }
        tables = needed;
    }

    // Canonical and clear of the hypervisor: [2^47, HYPERVISOR_VIRT_END) is out of bounds.
    if (layout.virt_base < hypervisor_virt_end && layout.virt_end > lower_half_end)
        return refuse(diagnostic, Error::out_of_range,
                      "dom0 layout: %#llx-%#llx overlaps the non-canonical hole or the hypervisor's area "
                      "%#llx-%#llx (L4 slots 256-271)",
                      static_cast<ull>(layout.virt_base), static_cast<ull>(layout.virt_end),
                      static_cast<ull>(lower_half_end), static_cast<ull>(hypervisor_virt_end));

    layout.mapped_pages = (layout.virt_end - layout.virt_base) >> page_shift;
    const uint64_t needed_pages = layout.mapped_pages + (layout.initrd_unmapped ? layout.initrd_pages : 0);
    if (needed_pages > request.nr_pages)
        return refuse(diagnostic, Error::out_of_memory,
                      "dom0 memory: %llu pages (%llu MiB) cannot hold the %llu pages the start-of-day layout "
                      "%#llx-%#llx needs%s",
                      static_cast<ull>(request.nr_pages), static_cast<ull>((request.nr_pages << page_shift) / MiB),
                      static_cast<ull>(needed_pages), static_cast<ull>(layout.virt_base),
                      static_cast<ull>(layout.virt_end), layout.initrd_unmapped ? " plus the unmapped initrd" : "");
    layout.initrd_first_pfn =
        layout.initrd_unmapped ? layout.mapped_pages : layout.pseudo_physical(layout.initrd.start) >> page_shift;
    return layout;
}

Result<Dom0InitialState> build_pv_dom0(const Dom0BuildInputs& inputs, PhysicalMemory& memory,
                                       MachineToPhysicalWriter& machine_to_physical, Dom0BuildDiagnostic& diagnostic) {
    diagnostic.message[0] = '\0';
    SLUICE_TRY(check_inputs(inputs, diagnostic));

    // 1. The image and its notes.
    elf::Diagnostic elf_diagnostic;
    Result<elf::Image> parsed = elf::Image::parse(inputs.kernel, elf_diagnostic);
    if (!parsed.ok())
        return refuse(diagnostic, parsed.error(), "dom0 kernel: %s at offset %#llx: %s", elf_diagnostic.field,
                      static_cast<ull>(elf_diagnostic.offset), elf_diagnostic.reason);
    const elf::Image& image = parsed.value();
    Result<xen_elf::XenNotes> read = xen_elf::read_xen_notes(image, elf_diagnostic);
    if (!read.ok())
        return refuse(diagnostic, read.error(), "dom0 kernel: %s at offset %#llx: %s", elf_diagnostic.field,
                      static_cast<ull>(elf_diagnostic.offset), elf_diagnostic.reason);
    const xen_elf::XenNotes& notes = read.value();
    Result<xen_elf::PvLayout> placed = xen_elf::compute_pv_layout(image, notes, elf_diagnostic);
    if (!placed.ok())
        return refuse(diagnostic, placed.error(), "dom0 kernel: %s at offset %#llx: %s", elf_diagnostic.field,
                      static_cast<ull>(elf_diagnostic.offset), elf_diagnostic.reason);
    const xen_elf::PvLayout& placement = placed.value();
    SLUICE_TRY(check_required_features(notes, inputs.offered_features, diagnostic));
    if (placement.p2m_base.has_value())
        logger.info("XEN_ELFNOTE_INIT_P2M %#llx not used: the p2m list is part of the initial mapping",
                    static_cast<ull>(placement.p2m_base.value()));

    // 2. The layout.
    Dom0LayoutRequest request;
    request.virt_base = placement.virt_base;
    request.kernel = VirtualRange{placement.kernel_start, placement.kernel_end};
    request.entry = placement.entry;
    request.hypercall_page = placement.hypercall_page;
    request.initrd_length = inputs.initrd_length;
    request.initrd_unmapped = placement.unmapped_initrd;
    request.nr_pages = inputs.memory->total_length() >> page_shift;
    request.entry_field = notes.entry.has_value() ? "XEN_ELFNOTE_ENTRY" : "e_entry";
    if (notes.entry.has_value()) request.entry_offset = notes.note_offset(xen_elf::XEN_ELFNOTE_ENTRY);
    request.hypercall_page_offset = notes.note_offset(xen_elf::XEN_ELFNOTE_HYPERCALL_PAGE);
    request.virt_base_offset = notes.note_offset(xen_elf::XEN_ELFNOTE_VIRT_BASE);
    const Dom0Layout computed = SLUICE_TRY(compute_dom0_layout(request, diagnostic));
    Dom0InitialState state;
    state.layout = computed;
    const Dom0Layout& layout = state.layout;
    state.required_features = notes.required_features;
    state.supported_features = notes.supported_features;

    const PseudoPhysicalMap map(*inputs.memory);
    PseudoPhysicalWriter writer(map, memory, diagnostic);

    // 3. Every mapped page starts zeroed: bss, the gaps between segments, the tables, the stack, the
    //    padding. Pages beyond virt_end are dom0's free memory (the caller scrubs memory it hands out).
    map.for_each(0, layout.mapped_pages,
                 [&](uint64_t, uint64_t machine_frame) { memory.zero_page(machine_frame << page_shift); });

    // 4. The kernel: each PT_LOAD's file bytes at its place (virtual = p_paddr + virt_offset, as Xen's
    //    libelf places it; see xen_elf::PvLayout).
    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t virtual_address = placement.segment_virtual_address(segment);
        if (segment.file_size == 0) continue;
        SLUICE_TRY(writer.write_pseudo_physical(layout.pseudo_physical(virtual_address),
                                                image.bytes().data() + segment.file_offset, segment.file_size,
                                                "kernel"));
    }

    // 5. The initrd, copied page by page into its pseudo-physical frames.
    if (inputs.initrd_length != 0) {
        uint8_t buffer[512];
        for (uint64_t done = 0; done < inputs.initrd_length;) {
            const uint64_t chunk = min<uint64_t>(sizeof buffer, inputs.initrd_length - done);
            if (!memory.read_bytes(inputs.initrd + done, buffer, chunk).ok())
                return refuse(diagnostic, Error::out_of_range, "dom0 initrd: reading the module at %#llx failed",
                              static_cast<ull>(inputs.initrd + done));
            const uint64_t pfn = layout.initrd_first_pfn + (done >> page_shift);
            if (layout.initrd_unmapped && (done & page_mask) == 0) {
                // Unmapped initrd frames were not zeroed with the mapped region; the tail of the last
                // page must not show whatever the frame held.
                const Optional<uint64_t> frame = map.machine_frame(pfn);
                if (frame.has_value()) memory.zero_page(frame.value() << page_shift);
            }
            SLUICE_TRY(writer.write_pseudo_physical((pfn << page_shift) | (done & page_mask), buffer, chunk,
                                                    "initrd"));
            done += chunk;
        }
    }

    // 6. The hypercall page (written over the kernel's placeholder page, as Xen does).
    if (layout.hypercall_page.has_value()) {
        const uint64_t page = layout.pseudo_physical(layout.hypercall_page.value());
        for (uint32_t number = 0; number < page_size / hypercall_slot_size; ++number) {
            uint8_t slot[hypercall_slot_size];
            hypercall_slot(number, slot);
            SLUICE_TRY(writer.write_pseudo_physical(page + number * hypercall_slot_size, slot, sizeof slot,
                                                    "hypercall page"));
        }
    }

    // 7. The p2m list: entry pfn holds pfn's machine frame.
    {
        // A page of entries at a time: one write per page, not per entry.
        FrameCursor source(*inputs.memory);
        const uint64_t p2m_first_pfn = layout.pseudo_physical(layout.p2m_list.start) >> page_shift;
        uint64_t entries[entries_per_table];
        for (uint64_t first = 0; first < layout.nr_pages; first += entries_per_table) {
            const uint64_t count = min<uint64_t>(entries_per_table, layout.nr_pages - first);
            for (uint64_t index = 0; index < count; ++index, source.advance()) entries[index] = source.machine_frame();
            const PhysicalAddress destination = map.machine_frame(p2m_first_pfn + first / entries_per_table).value()
                                                << page_shift;
            SLUICE_TRY(memory.write_bytes(destination, entries, count * sizeof(uint64_t)));
        }
    }

    // 8. The bootstrap page tables: L4, then the L3s, L2s and L1s in address order.
    state.first_table_pfn = layout.pseudo_physical(layout.page_tables.start) >> page_shift;
    {
        const uint64_t start = layout.virt_base;
        const uint64_t first_l3 = 1, first_l2 = first_l3 + layout.l3_tables, first_l1 = first_l2 + layout.l2_tables;
        const auto table = [&](uint64_t index) -> PhysicalAddress {
            return map.machine_frame(state.first_table_pfn + index).value() << page_shift;
        };
        const auto entry_address = [&](uint64_t table_index, uint64_t address, unsigned shift) {
            return table(table_index) + ((address >> shift) % entries_per_table) * sizeof(uint64_t);
        };
        state.l4 = table(0);
        for (uint64_t index = 0; index < layout.l3_tables; ++index) {
            const uint64_t address = ((start >> l4_shift) + index) << l4_shift;
            memory.write64(entry_address(0, address, l4_shift), table(first_l3 + index) | table_entry_flags);
        }
        for (uint64_t index = 0; index < layout.l2_tables; ++index) {
            const uint64_t address = ((start >> l3_shift) + index) << l3_shift;
            const uint64_t parent = first_l3 + (address >> l4_shift) - (start >> l4_shift);
            memory.write64(entry_address(parent, address, l3_shift), table(first_l2 + index) | table_entry_flags);
        }
        for (uint64_t index = 0; index < layout.l1_tables; ++index) {
            const uint64_t address = ((start >> l2_shift) + index) << l2_shift;
            const uint64_t parent = first_l2 + (address >> l3_shift) - (start >> l3_shift);
            memory.write64(entry_address(parent, address, l2_shift), table(first_l1 + index) | table_entry_flags);
        }
        const uint64_t first_table_page = state.first_table_pfn, last_table_page = first_table_page + layout.nr_pt_frames;
        PhysicalAddress l1 = 0;
        map.for_each(0, layout.mapped_pages, [&](uint64_t frame, uint64_t machine_frame) {
            const uint64_t address = start + (frame << page_shift);
            if (frame == 0 || address % (uint64_t{1} << l2_shift) == 0)
                l1 = table(first_l1 + (address >> l2_shift) - (start >> l2_shift));
            const bool table_frame = frame >= first_table_page && frame < last_table_page;
            memory.write64(l1 + ((address >> l1_shift) % entries_per_table) * sizeof(uint64_t),
                           (machine_frame << page_shift) | (table_frame ? read_only_leaf_flags : leaf_entry_flags));
        });
    }

    // 9. start_info (public/xen.h, struct start_info).
    {
        xen::start_info info{};
        static constexpr char magic[] = "xen-3.0-x86_64";
        for (size_t index = 0; index < sizeof magic; ++index) info.magic[index] = magic[index];
        info.nr_pages = layout.nr_pages;
        info.shared_info = inputs.shared_info;
        info.flags = inputs.flags | (layout.initrd_unmapped ? xen::SIF_MOD_START_PFN : 0);
        info.pt_base = layout.page_tables.start;
        info.nr_pt_frames = layout.nr_pt_frames;
        info.mfn_list = layout.p2m_list.start;
        if (inputs.initrd_length != 0) {
            info.mod_start = layout.initrd_unmapped ? layout.initrd_first_pfn : layout.initrd.start;
            info.mod_len = inputs.initrd_length;
        }
        size_t length = inputs.command_line.length();
        if (length > command_line_capacity - 1) {
            logger.warning("command line of %zu bytes cut to the %zu start_info.cmd_line holds", length,
                           command_line_capacity - 1);
            length = command_line_capacity - 1;
        }
        for (size_t index = 0; index < length; ++index) info.cmd_line[index] = inputs.command_line[index];
        state.flags = info.flags;
        SLUICE_TRY(writer.write_pseudo_physical(layout.pseudo_physical(layout.start_info.start),
                                                reinterpret_cast<const uint8_t*>(&info), sizeof info, "start_info"));
    }

    // 10. shared_info: zero, every vCPU's events masked until the guest unmasks them (Xen's builder
    //     does the same for all XEN_LEGACY_MAX_VCPUS slots). arch.max_pfn and
    //     pfn_to_mfn_frame_list_list are the guest's to fill (arch-x86/xen.h), so they stay 0.
    memory.zero_page(inputs.shared_info);
    for (uint32_t vcpu = 0; vcpu < xen::XEN_LEGACY_MAX_VCPUS; ++vcpu) {
        const uint8_t masked = 1;
        const uint64_t offset = __builtin_offsetof(xen::shared_info, vcpu_info) + vcpu * sizeof(xen::vcpu_info) +
                                __builtin_offsetof(xen::vcpu_info, evtchn_upcall_mask);
        if (!memory.write_bytes(inputs.shared_info + offset, &masked, sizeof masked).ok())
            return refuse(diagnostic, Error::out_of_range, "dom0 shared_info: page %#llx is not accessible",
                          static_cast<ull>(inputs.shared_info));
    }

    // 11. The machine-to-physical entries, last, once nothing can fail.
    {
        // One call per contiguous range of dom0's memory.
        uint64_t pfn = 0;
        for (const passthrough::AddressRange& range : *inputs.memory) {
            if (pfn >= layout.nr_pages) break;
            const uint64_t count = min<uint64_t>(range.length() >> page_shift, layout.nr_pages - pfn);
            machine_to_physical.set_run(range.start >> page_shift, pfn, count);
            pfn += count;
        }
    }

    state.rip = layout.entry;
    state.rsp = layout.boot_stack.end;
    state.rsi = layout.start_info.start;
    state.hypercall_page = layout.hypercall_page;
    return state;
}

Status pin_dom0_bootstrap_tables(const Dom0InitialState& state, mm::PageTypes& types, const mm::DomainContext& dom0,
                                 paging::Batch& batch, Dom0BuildDiagnostic& diagnostic) {
    const int32_t status = types.pin_table(dom0, state.l4 >> page_shift, mm::FrameType::l4, batch);
    if (status != 0)
        return refuse(diagnostic, Error::invalid_argument,
                      "dom0 page tables: pinning the bootstrap L4 at machine %#llx (%llu table frames) failed: Xen "
                      "errno %d",
                      static_cast<ull>(state.l4), static_cast<ull>(state.layout.nr_pt_frames), static_cast<int>(-status));
    return success();
}

void log_dom0_layout(const Dom0InitialState& state) {
    const Dom0Layout& layout = state.layout;
    const auto line = [](const char* name, VirtualRange range) {
        logger.info(" %-14s 0x%016llx->0x%016llx", name, static_cast<ull>(range.start), static_cast<ull>(range.end));
    };
    logger.info("virtual memory arrangement (%llu pages, %llu MiB):", static_cast<ull>(layout.nr_pages),
                static_cast<ull>((layout.nr_pages << page_shift) / MiB));
    line("loaded kernel:", layout.kernel);
    if (layout.initrd_unmapped)
        logger.info(" %-14s unmapped, pfn %#llx, %llu pages (SIF_MOD_START_PFN)", "init. ramdisk:",
                    static_cast<ull>(layout.initrd_first_pfn), static_cast<ull>(layout.initrd_pages));
    else line("init. ramdisk:", layout.initrd);
    line("phys-mach map:", layout.p2m_list);
    line("start info:", layout.start_info);
    line("page tables:", layout.page_tables);
    line("boot stack:", layout.boot_stack);
    line("total:", VirtualRange{layout.virt_base, layout.virt_end});
    logger.info(" %-14s 0x%016llx", "entry address:", static_cast<ull>(layout.entry));
    logger.info(" %-14s %llu (1 L4, %llu L3, %llu L2, %llu L1), L4 at machine %#llx", "table frames:",
                static_cast<ull>(layout.nr_pt_frames), static_cast<ull>(layout.l3_tables),
                static_cast<ull>(layout.l2_tables), static_cast<ull>(layout.l1_tables), static_cast<ull>(state.l4));
    if (layout.hypercall_page.has_value())
        logger.info(" %-14s 0x%016llx", "hypercall page:", static_cast<ull>(layout.hypercall_page.value()));
}

}  // namespace sluice::x86::pv
