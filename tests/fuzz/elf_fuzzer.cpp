// Arbitrary bytes as a dom0 kernel: Image::parse, read_xen_notes and compute_pv_layout, checking the
// promises the domain builders rely on (every view inside the input, every refusal explained, every
// accepted placement inside the kernel). Seeds: tests/fuzz/corpus/elf/ (tests/fuzz/make_elf_corpus.py).
#include <common/elf.hpp>
#include <common/xen_elf_notes.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sluice;

void require(bool condition) {
    if (!condition) std::abort();
}

bool inside_input(const uint8_t* start, size_t length, const std::vector<uint8_t>& input) {
    const uint8_t* begin = input.data();
    const uint8_t* end = input.data() + input.size();
    return start >= begin && start <= end && length <= static_cast<size_t>(end - start);
}

void check_refusal(const elf::Diagnostic& diagnostic) {
    require(diagnostic.field != nullptr && diagnostic.field[0] != '\0');
    require(diagnostic.reason != nullptr && diagnostic.reason[0] != '\0');
    char message[256];
    require(elf::describe(diagnostic, message, sizeof message) < sizeof message);
}

bool inside_a_segment(const elf::Image& image, const xen_elf::PvLayout& layout, uint64_t start, uint64_t length) {
    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t base = layout.segment_virtual_address(segment);
        if (start >= base && start - base < segment.memory_size && length <= segment.memory_size - (start - base))
            return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A private copy, so a read outside it is caught by AddressSanitizer.
    const std::vector<uint8_t> input(data, data + size);
    elf::Diagnostic diagnostic;
    Result<elf::Image> parsed = elf::Image::parse(Span<const uint8_t>(input.data(), input.size()), diagnostic);
    if (!parsed.ok()) {
        require(parsed.error() == Error::malformed || parsed.error() == Error::unsupported);
        check_refusal(diagnostic);
        return 0;
    }
    const elf::Image& image = parsed.value();
    require(!image.segments().empty() && image.segments().size() <= elf::Image::segment_capacity);
    require(image.notes().size() <= elf::Image::note_capacity);
    for (const elf::LoadSegment& segment : image.segments()) {
        require(segment.file_size <= segment.memory_size);
        require(segment.file_offset <= input.size() && segment.file_size <= input.size() - segment.file_offset);
        require(segment.virtual_address >= image.lowest_virtual_address());
        require(segment.virtual_address + segment.memory_size <= image.highest_virtual_address());
        require(segment.physical_address + segment.memory_size >= segment.physical_address);
        require((segment.flags & (elf::PF_R | elf::PF_W | elf::PF_X)) != 0);
    }
    for (const elf::Note& note : image.notes()) {
        require(inside_input(reinterpret_cast<const uint8_t*>(note.name.data()), note.name.length(), input));
        require(inside_input(note.padded_descriptor.data(), note.padded_descriptor.size(), input));
        require(note.descriptor.data() == note.padded_descriptor.data());
        require(note.descriptor.size() <= note.padded_descriptor.size());
        require(note.offset + 12 <= input.size());
    }

    diagnostic = {};
    Result<xen_elf::XenNotes> notes = xen_elf::read_xen_notes(image, diagnostic);
    if (!notes.ok()) {
        require(notes.error() == Error::malformed);
        check_refusal(diagnostic);
        return 0;
    }
    const xen_elf::XenNotes& xen = notes.value();
    require((xen.required_features & ~xen.supported_features) == 0);
    for (const StringView text : {xen.xen_version, xen.guest_os, xen.guest_version, xen.loader, xen.pae_mode,
                                  xen.bsd_symtab, xen.first_ignored_feature})
        if (!text.empty()) require(inside_input(reinterpret_cast<const uint8_t*>(text.data()), text.length(), input));
    if (xen.phys32_entry) require(*xen.phys32_entry <= 0xffffffff);

    diagnostic = {};
    Result<xen_elf::PvLayout> layout = xen_elf::compute_pv_layout(image, xen, diagnostic);
    if (!layout.ok()) {
        require(layout.error() == Error::malformed || layout.error() == Error::unsupported);
        check_refusal(diagnostic);
        return 0;
    }
    const xen_elf::PvLayout& placed = layout.value();
    require(placed.kernel_start >= placed.virt_base && placed.kernel_start <= placed.kernel_end);
    require(inside_a_segment(image, placed, placed.entry, 1));
    if (placed.hypercall_page) {
        require((*placed.hypercall_page & 0xfff) == 0);
        require(inside_a_segment(image, placed, *placed.hypercall_page, 0x1000));
    }
    if (placed.p2m_base)
        require(*placed.p2m_base < placed.kernel_start || *placed.p2m_base >= placed.kernel_end);
    for (const elf::LoadSegment& segment : image.segments()) {
        const uint64_t start = placed.segment_virtual_address(segment);
        require(start >= placed.kernel_start && start + segment.memory_size <= placed.kernel_end);
        require(start + segment.memory_size <= xen_elf::hypervisor_virt_start || start >= xen_elf::hypervisor_virt_end);
    }
    return 0;
}
