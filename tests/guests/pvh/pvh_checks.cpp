// The PVH test kernel's checks (docs/pvh.md, docs/testing.md). It runs as the
// hardware domain, entered through XEN_ELFNOTE_PHYS32_ENTRY, and checks what
// Xen's PVH ABI promises: the entry state and hvm_start_info, the CPUID
// leaves at 0x40000000, the hypercall page written on the MSR write, direct
// VMMCALL, console_io, xen_version, -ENOSYS for the rest, the MSRs the
// hypervisor emulates (RDTSCP's TSC_AUX, #GP for an unknown MSR). Then it
// powers off through sched_op. With "tests=dma" it also programs edu to DMA
// between guest-physical pages (the IOMMU must follow the p2m) and to an
// unbacked guest-physical address; with "tests=npf" it reads a
// guest-physical address dom0 has no memory at, which must crash it.
//
// Freestanding; the ABI values are written out here from Xen's public headers
// (start_info.h, xen.h, sched.h, version.h, features.h, cpuid.h).
#include "console_runtime.hpp"

extern "C" {
extern uint8_t hypercall_page[4096];
extern uint32_t entry_cr0;
extern uint32_t entry_cr4;
extern uint32_t entry_code_selector;
extern uint32_t entry_version32;
uint64_t port_in_raw(uint16_t port, unsigned size);
void port_out(uint16_t port, uint32_t value);
extern uint64_t probe_recovery;
extern uint64_t probe_fault_flag;
long hypercall_raw(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long hypercall_vmmcall(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3);
uint64_t rdtscp_aux();
uint64_t probe_rdmsr(uint32_t msr, bool* faulted);
uint8_t probe_read8(uint64_t address);
}

namespace {

using namespace guest;

// IN of 1, 2 or 4 bytes; only the access's own bits.
uint32_t port_in(uint16_t port, unsigned size) {
    const uint64_t value = port_in_raw(port, size);
    return static_cast<uint32_t>(size == 4 ? value : value & ((uint64_t{1} << (size * 8)) - 1));
}

// xen.h
constexpr uint64_t hypercall_xen_version = 17;
constexpr uint64_t hypercall_console_io = 18;
constexpr uint64_t hypercall_grant_table_op = 20;
constexpr uint64_t hypercall_sched_op = 29;
constexpr uint64_t consoleio_write = 0;
constexpr uint64_t schedop_shutdown = 2;
constexpr uint32_t sif_privileged = 1u << 0;
constexpr uint32_t sif_initdomain = 1u << 1;
constexpr long enosys = 38;
// version.h
constexpr uint64_t xenver_version = 0;
constexpr uint64_t xenver_get_features = 6;
// features.h
constexpr uint32_t xenfeat_auto_translated_physmap = 2;

// hvm/start_info.h
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
constexpr uint32_t start_magic = 0x336ec578;
constexpr uint32_t memmap_ram = 1;
constexpr uint32_t memmap_unusable = 5;

struct xen_feature_info {
    uint32_t submap_idx;
    uint32_t submap;
};

long hypercall(uint64_t number, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
    return hypercall_raw(number, a1, a2, a3, 0, 0);
}

void cpuid(uint32_t leaf, uint32_t* eax, uint32_t* ebx, uint32_t* ecx, uint32_t* edx) {
    asm volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "a"(leaf), "c"(0));
}

void write_msr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" : : "c"(msr), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32)));
}

bool hypercall_page_ready = false;

void check_entry_state(const hvm_start_info* start) {
    CHECK("entry: 32-bit protected mode, paging off, CR4 0", (entry_cr0 & 0x80000001) == 1 && entry_cr4 == 0,
          "cr0 %x cr4 %x", entry_cr0, entry_cr4);
    CHECK("start info: magic and version 1", start->magic == start_magic && start->version >= 1,
          "magic %x version %u", start->magic, start->version);
    CHECK("start info: SIF_INITDOMAIN | SIF_PRIVILEGED",
          (start->flags & (sif_initdomain | sif_privileged)) == (sif_initdomain | sif_privileged), "flags %x",
          start->flags);
    const auto* map = reinterpret_cast<const hvm_memmap_table_entry*>(start->memmap_paddr);
    uint64_t ram = 0;
    for (uint32_t index = 0; index < start->memmap_entries; ++index)
        if (map[index].type == memmap_ram) ram += map[index].size;
    CHECK("start info: memory map with RAM at 0", start->memmap_entries > 0 && map[0].addr == 0 &&
          map[0].type == memmap_ram && ram >= 16 * 1024 * 1024, "%u entries, %lu bytes of RAM", start->memmap_entries, ram);
    // rsdp_paddr: the host's RSDP in the identity-mapped BIOS area, or 0 when
    // the hypervisor had only a boot loader's copy.
    const char* rsdp = reinterpret_cast<const char*>(start->rsdp_paddr);
    CHECK("start info: rsdp_paddr is 0 or an RSDP", start->rsdp_paddr == 0 || equal(rsdp, "RSD PTR ", 8),
          "rsdp_paddr 0x%lx", start->rsdp_paddr);
    if (start->rsdp_paddr != 0) print("pvh-test: RSDP at 0x%lx", start->rsdp_paddr);
    const char* command_line = reinterpret_cast<const char*>(start->cmdline_paddr);
    CHECK("start info: command line", start->cmdline_paddr != 0 && contains(command_line, 1024, "pvh-checks"),
          "\"%s\"", start->cmdline_paddr != 0 ? command_line : "");
}

void check_cpuid() {
    uint32_t eax, ebx, ecx, edx;
    cpuid(0x40000000, &eax, &ebx, &ecx, &edx);
    char signature[13] = {};
    copy(signature, &ebx, 4);
    copy(signature + 4, &ecx, 4);
    copy(signature + 8, &edx, 4);
    CHECK("cpuid 0x40000000: XenVMMXenVMM", equal(signature, "XenVMMXenVMM", 12) && eax >= 0x40000002,
          "\"%s\", last leaf %x", signature, eax);
    cpuid(0x40000001, &eax, &ebx, &ecx, &edx);
    CHECK("cpuid 0x40000001: version 4.17", eax == ((4u << 16) | 17u), "eax %x", eax);
    cpuid(0x40000002, &eax, &ebx, &ecx, &edx);
    CHECK("cpuid 0x40000002: one hypercall page, MSR 0x40000000", eax == 1 && ebx == 0x40000000, "eax %x ebx %x",
          eax, ebx);
    cpuid(1, &eax, &ebx, &ecx, &edx);
    CHECK("cpuid 1: hypervisor bit set", (ecx & (1u << 31)) != 0, "ecx %x", ecx);
    cpuid(0x80000001, &eax, &ebx, &ecx, &edx);
    CHECK("cpuid 0x80000001: no SVM for the guest", (ecx & (1u << 2)) == 0, "ecx %x", ecx);
}

void check_hypercall_page() {
    write_msr(0x40000000, reinterpret_cast<uint64_t>(hypercall_page));
    // Slot 18: mov $18, %eax (b8 12 00 00 00); vmmcall (0f 01 d9); ret (c3).
    const uint8_t expected[] = {0xb8, 0x12, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xd9, 0xc3};
    const bool filled = equal(hypercall_page + 18 * 32, expected, sizeof expected);
    hypercall_page_ready = filled;
    CHECK("hypercall page written on the MSR write", filled, "slot 18 starts %x %x %x", hypercall_page[18 * 32],
          hypercall_page[18 * 32 + 1], hypercall_page[18 * 32 + 5]);
}

void check_hypercalls() {
    CHECK("32-bit vmmcall from the entry code: xen_version 4.17", entry_version32 == ((4u << 16) | 17u), "0x%x",
          entry_version32);
    const long version = hypercall_vmmcall(hypercall_xen_version, xenver_version, 0, 0);
    CHECK("direct vmmcall: xen_version 4.17", version == ((4 << 16) | 17), "%ld", version);
    const long through_page = hypercall(hypercall_xen_version, xenver_version);
    CHECK("hypercall page: xen_version 4.17", through_page == ((4 << 16) | 17), "%ld", through_page);
    xen_feature_info features{0, 0};
    const long got = hypercall(hypercall_xen_version, xenver_get_features, reinterpret_cast<uint64_t>(&features));
    CHECK("xen_version get_features: auto-translated physmap", got == 0 &&
          (features.submap & (1u << xenfeat_auto_translated_physmap)) != 0, "%ld, submap %x", got, features.submap);
    const long unknown = hypercall(hypercall_grant_table_op, 0, 0, 0);
    CHECK("grant_table_op: -ENOSYS", unknown == -enosys, "%ld", unknown);
}

void check_ports() {
    // The PIC is the hypervisor's: reads give all ones (writes are dropped).
    const uint32_t pic = port_in(0x21, 1);
    CHECK("in from the PIC (the hypervisor's port): all ones", pic == 0xff, "0x%x", pic);
    // PCI configuration through 0xcf8/0xcfc, carried out by the hypervisor:
    // 00:00.0 is q35's host bridge, 8086:29c0.
    port_out(0xcf8, 0x80000000);
    const uint64_t identity = port_in_raw(0xcfc, 4);
    CHECK("PCI configuration ports: 00:00.0 is 8086:29c0", identity == 0x29c08086, "rax 0x%lx", identity);
    const uint64_t merged = port_in_raw(0xcfc, 1);
    CHECK("PCI configuration ports: an 8-bit IN keeps RAX's other bits", merged == 0xdead000000001286,
          "rax 0x%lx", merged);
    const uint32_t vendor = port_in(0xcfc, 2);
    CHECK("PCI configuration ports: a 16-bit read", vendor == 0x8086, "0x%x", vendor);
    // An IOMMU's own function (class 08h subclass 06h, the AMD IOMMU): its
    // configuration writes are dropped. The interrupt-line byte (the low byte
    // at 0x3c) is a scratch register on any other function.
    for (unsigned slot = 0; slot < 32; ++slot) {
        port_out(0xcf8, 0x80000000u | slot << 11 | 0x08);
        if ((port_in(0xcfc, 4) >> 16) != 0x0806) continue;
        port_out(0xcf8, 0x80000000u | slot << 11 | 0x3c);
        const uint32_t before = port_in(0xcfc, 4);
        port_out(0xcf8, 0x80000000u | slot << 11 | 0x3c);
        port_out(0xcfc, before ^ 0x5a);
        port_out(0xcf8, 0x80000000u | slot << 11 | 0x3c);
        const uint32_t after = port_in(0xcfc, 4);
        CHECK("PCI configuration ports: a write to the IOMMU's function is dropped", after == before,
              "00:%02x.0 offset 0x3c was 0x%x, now 0x%x", slot, before, after);
        return;
    }
    print("pvh-test: no IOMMU function on bus 0");
}

void check_msrs() {
    write_msr(0xc0000103, 0x5a5a);
    const uint64_t aux = rdtscp_aux();
    CHECK("rdtscp returns TSC_AUX", aux == 0x5a5a, "ecx %lx", aux);
    bool faulted = false;
    (void)probe_rdmsr(0xc0011234, &faulted);
    CHECK("rdmsr of an unknown MSR: #GP", faulted, "no fault");
    faulted = false;
    const uint64_t efer = probe_rdmsr(0xc0000080, &faulted);
    CHECK("rdmsr EFER: LME and LMA, no SVME", !faulted && (efer & 0x500) == 0x500 && (efer & 0x1000) == 0,
          "efer %lx", efer);
}

// The first UNUSABLE range below 4 GiB (host RAM dom0 does not have): no
// p2m entry, no IOMMU entry. 0 when there is none.
uint64_t unbacked_address(const hvm_start_info* start) {
    const auto* map = reinterpret_cast<const hvm_memmap_table_entry*>(start->memmap_paddr);
    for (uint32_t index = 0; index < start->memmap_entries; ++index)
        if (map[index].type == memmap_unusable && map[index].addr + map[index].size <= (uint64_t{1} << 32))
            return map[index].addr;
    return 0;
}

// --- DMA with edu (QEMU's PCI test device, 1234:11e8) ---------------------------------------
uint32_t pci_read(unsigned device, unsigned offset) {
    port_out(0xcf8, 0x80000000u | device << 11 | offset);
    return port_in(0xcfc, 4);
}
void pci_write(unsigned device, unsigned offset, uint32_t value) {
    port_out(0xcf8, 0x80000000u | device << 11 | offset);
    port_out(0xcfc, value);
}

alignas(4096) volatile uint64_t dma_source[512];
alignas(4096) volatile uint64_t dma_destination[512];
constexpr uint64_t pattern = 0x5eed'0000'f00d'0000;

// edu's registers (BAR0): 0x04 liveness, 0x80 source, 0x88 destination, 0x90
// count, 0x98 command (bit 0 start, bit 1 device to RAM); the device's own
// buffer is at 0x40000 in its address space.
bool edu_transfer(volatile uint64_t* registers, uint64_t source, uint64_t destination, bool to_ram) {
    registers[0x80 / 8] = source;
    registers[0x88 / 8] = destination;
    registers[0x90 / 8] = 1024;
    registers[0x98 / 8] = 1 | (to_ram ? 2 : 0);
    for (unsigned poll = 0; poll < 10000000; ++poll)
        if ((registers[0x98 / 8] & 1) == 0) return true;
    return false;
}

void check_dma(const hvm_start_info* start) {
    int device = -1;
    for (unsigned slot = 0; slot < 32 && device < 0; ++slot)
        if (pci_read(slot, 0) == 0x11e81234u) device = static_cast<int>(slot);
    if (!CHECK("dma: edu found on bus 0", device >= 0, "no 1234:11e8")) return;
    const unsigned slot = static_cast<unsigned>(device);
    const uint64_t bar0 = pci_read(slot, 0x10) & ~uint64_t{0xf};
    pci_write(slot, 4, (pci_read(slot, 4) & 0xffff) | 0x6);  // memory space, bus master
    auto* registers = reinterpret_cast<volatile uint32_t*>(bar0);
    registers[1] = 0x12345678;  // reads back inverted
    const uint32_t live = registers[1];
    if (!CHECK("dma: edu BAR0 reached through the p2m's identity map", live == ~0x12345678u, "BAR0 0x%lx reads 0x%x",
               bar0, live))
        return;
    auto* wide = reinterpret_cast<volatile uint64_t*>(bar0);
    for (unsigned index = 0; index < 128; ++index) {
        dma_source[index] = pattern ^ index;
        dma_destination[index] = 0;
    }
    // Guest-physical addresses (= this kernel's virtual ones); the IOMMU must
    // translate them to the machine frames the p2m gives, which differ.
    constexpr uint64_t device_buffer = 0x40000;
    const bool in = edu_transfer(wide, reinterpret_cast<uint64_t>(dma_source), device_buffer, false);
    const bool out = edu_transfer(wide, device_buffer, reinterpret_cast<uint64_t>(dma_destination), true);
    unsigned same = 0;
    for (unsigned index = 0; index < 128; ++index) same += dma_destination[index] == (pattern ^ index);
    CHECK("dma: edu copies between guest-physical pages through the IOMMU", in && out && same == 128,
          "transfers %s/%s, %u of 128 words arrived", in ? "done" : "timed out", out ? "done" : "timed out", same);
    // A guest-physical address with nothing behind it: the DMA is blocked
    // (edu ignores the error; VT-d records a fault the hypervisor reports).
    const uint64_t unbacked = unbacked_address(start);
    if (unbacked != 0) {
        print("pvh-test: dma: edu writes to guest-physical 0x%lx, which has no memory behind it", unbacked);
        const bool blocked = edu_transfer(wide, device_buffer, unbacked, true);
        CHECK("dma: a transfer to an unbacked guest-physical address completes (blocked)", blocked, "timed out");
    }
}

[[noreturn]] void touch_unmapped(const hvm_start_info* start) {
    const uint64_t target = unbacked_address(start) + 0x1234;
    print("pvh-test: reading guest-physical 0x%lx, which has no memory behind it", target);
    (void)probe_read8(target);
    print("pvh-test: the read returned: FAILED");
    shutdown(shutdown_crash);
}

}  // namespace

namespace guest {

const char* const test_prefix = "pvh-test";

long console_write(const char* text, size_t length) {
    const uint64_t buffer = reinterpret_cast<uint64_t>(text);
    // Before the page is filled (and to test it), VMMCALL directly.
    if (!hypercall_page_ready) return hypercall_vmmcall(hypercall_console_io, consoleio_write, length, buffer);
    return hypercall(hypercall_console_io, consoleio_write, length, buffer);
}

void shutdown(unsigned reason) {
    uint32_t argument = reason;
    for (;;) {
        hypercall_vmmcall(hypercall_sched_op, schedop_shutdown, reinterpret_cast<uint64_t>(&argument), 0);
        asm volatile("ud2");
    }
}

}  // namespace guest

// The saved registers and the exception (entry.S, exception_common).
struct ExceptionFrame {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

extern "C" void guest_exception(ExceptionFrame* frame) {
    if (probe_recovery != 0) {
        *reinterpret_cast<bool*>(probe_fault_flag) = true;
        frame->rip = probe_recovery;
        probe_recovery = 0;
        return;
    }
    guest::print("pvh-test: unexpected exception %lu (error code %lx) at rip %lx", frame->vector, frame->error_code,
                 frame->rip);
    guest::shutdown(guest::shutdown_crash);
}

extern "C" void pvh_main(uint32_t start_info_address) {
    const auto* start = reinterpret_cast<const hvm_start_info*>(static_cast<uint64_t>(start_info_address));
    guest::print("pvh-test: started at cs %x, start info at 0x%x", entry_code_selector, start_info_address);
    const char* command_line = start->cmdline_paddr != 0 ? reinterpret_cast<const char*>(start->cmdline_paddr) : "";
    check_entry_state(start);
    check_cpuid();
    check_hypercall_page();
    check_hypercalls();
    check_msrs();
    check_ports();
    if (guest::contains(command_line, 1024, "tests=dma")) check_dma(start);
    if (guest::contains(command_line, 1024, "tests=npf")) touch_unmapped(start);
    guest::finish();
}
