// The AMD SVM virtual machine control block (AMD APM Vol. 2, Appendix B,
// "Layout of VMCB"): the control area (Table B-1) at offset 0 and the state
// save area (Table B-2) at offset 0x400, with the intercept vectors, exit
// codes (Appendix C, "SVM Intercept Exit Codes") and the event-injection
// format (15.20) named as the APM names them.
//
// Core code: plain layout and constants, so host tests decode exits with the
// same names the hypervisor prints.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86::svm {

// --- Control area (Table B-1) ---------------------------------------------------------------

// Intercept vector 3 (offset 0x00c) bits.
namespace intercept3 {
inline constexpr uint32_t intr = 1u << 0;
inline constexpr uint32_t nmi = 1u << 1;
inline constexpr uint32_t smi = 1u << 2;
inline constexpr uint32_t init = 1u << 3;
inline constexpr uint32_t vintr = 1u << 4;
inline constexpr uint32_t rdtsc = 1u << 14;
inline constexpr uint32_t rdpmc = 1u << 15;
inline constexpr uint32_t cpuid = 1u << 18;
inline constexpr uint32_t rsm = 1u << 19;
inline constexpr uint32_t invd = 1u << 22;
inline constexpr uint32_t pause = 1u << 23;
inline constexpr uint32_t hlt = 1u << 24;
inline constexpr uint32_t invlpga = 1u << 26;
inline constexpr uint32_t ioio_prot = 1u << 27;
inline constexpr uint32_t msr_prot = 1u << 28;
inline constexpr uint32_t task_switch = 1u << 29;
inline constexpr uint32_t ferr_freeze = 1u << 30;
inline constexpr uint32_t shutdown = 1u << 31;
}  // namespace intercept3

// Intercept vector 4 (offset 0x010) bits.
namespace intercept4 {
inline constexpr uint32_t vmrun = 1u << 0;  // must be set, or VMRUN fails (15.5.1)
inline constexpr uint32_t vmmcall = 1u << 1;
inline constexpr uint32_t vmload = 1u << 2;
inline constexpr uint32_t vmsave = 1u << 3;
inline constexpr uint32_t stgi = 1u << 4;
inline constexpr uint32_t clgi = 1u << 5;
inline constexpr uint32_t skinit = 1u << 6;
inline constexpr uint32_t rdtscp = 1u << 7;
inline constexpr uint32_t icebp = 1u << 8;
inline constexpr uint32_t wbinvd = 1u << 9;
inline constexpr uint32_t monitor = 1u << 10;
inline constexpr uint32_t mwait = 1u << 11;
inline constexpr uint32_t mwait_conditional = 1u << 12;
inline constexpr uint32_t xsetbv = 1u << 13;
}  // namespace intercept4

// TLB_CONTROL (offset 0x05c, 15.16.1).
enum class TlbControl : uint8_t {
    do_nothing = 0,
    flush_all = 1,          // every ASID; the only value QEMU TCG acts on (docs/pvh.md)
    flush_guest = 3,        // this guest's ASID (needs FlushByAsid)
    flush_guest_non_global = 7,
};

// V_INTR fields (offset 0x060, 15.21.1).
inline constexpr uint64_t vintr_masking = uint64_t{1} << 24;  // V_INTR_MASKING: host IF is not the guest's

// NP_ENABLE (offset 0x090).
inline constexpr uint64_t np_enable = uint64_t{1} << 0;

struct VmcbControlArea {
    uint32_t intercept_cr;          // 0x000: bits 15:0 reads of CR0-15, 31:16 writes
    uint32_t intercept_dr;          // 0x004: bits 15:0 reads of DR0-15, 31:16 writes
    uint32_t intercept_exceptions;  // 0x008: one bit per vector
    uint32_t intercept_vector3;     // 0x00c: intercept3::
    uint32_t intercept_vector4;     // 0x010: intercept4::
    uint32_t intercept_vector5;     // 0x014: INVLPGB, INVPCID, MCOMMIT, TLBSYNC
    uint8_t reserved_018[0x03c - 0x018];
    uint16_t pause_filter_threshold;  // 0x03c
    uint16_t pause_filter_count;      // 0x03e
    uint64_t iopm_base_pa;            // 0x040: I/O permission map, 12 KiB, 4 KiB aligned
    uint64_t msrpm_base_pa;           // 0x048: MSR permission map, 8 KiB, 4 KiB aligned
    uint64_t tsc_offset;              // 0x050
    uint32_t guest_asid;              // 0x058
    uint8_t tlb_control;              // 0x05c: TlbControl
    uint8_t reserved_05d[3];
    uint64_t vintr;                   // 0x060: V_TPR, V_IRQ, V_INTR_PRIO, V_INTR_MASKING, V_INTR_VECTOR
    uint64_t interrupt_shadow;        // 0x068: bit 0 INTERRUPT_SHADOW, bit 1 GUEST_INTERRUPT_MASK
    uint64_t exitcode;                // 0x070
    uint64_t exitinfo1;               // 0x078
    uint64_t exitinfo2;               // 0x080
    uint64_t exitintinfo;             // 0x088: EventInjection format
    uint64_t np_enable;               // 0x090: bit 0 NP_ENABLE, bit 1 SEV, bit 2 SEV-ES
    uint64_t avic_apic_bar;           // 0x098
    uint64_t ghcb_pa;                 // 0x0a0
    uint64_t eventinj;                // 0x0a8: EventInjection format
    uint64_t n_cr3;                   // 0x0b0: nested page table root
    uint64_t lbr_virtualization;      // 0x0b8: bit 0 LBR virtualization, bit 1 virtual VMSAVE/VMLOAD
    uint32_t vmcb_clean;              // 0x0c0: 0 = reload everything (15.15.3)
    uint32_t reserved_0c4;
    uint64_t nrip;                    // 0x0c8: next RIP, with NRIPS only
    uint8_t number_of_bytes_fetched;  // 0x0d0: with decode assists only
    uint8_t guest_instruction_bytes[15];  // 0x0d1
    uint64_t avic_apic_backing_page;  // 0x0e0
    uint64_t reserved_0e8;
    uint64_t avic_logical_table;      // 0x0f0
    uint64_t avic_physical_table;     // 0x0f8
    uint64_t reserved_100;
    uint64_t vmsa_pointer;            // 0x108
    uint8_t reserved_110[0x400 - 0x110];
};
static_assert(sizeof(VmcbControlArea) == 0x400);
static_assert(__builtin_offsetof(VmcbControlArea, intercept_vector3) == 0x00c);
static_assert(__builtin_offsetof(VmcbControlArea, intercept_vector4) == 0x010);
static_assert(__builtin_offsetof(VmcbControlArea, pause_filter_threshold) == 0x03c);
static_assert(__builtin_offsetof(VmcbControlArea, iopm_base_pa) == 0x040);
static_assert(__builtin_offsetof(VmcbControlArea, msrpm_base_pa) == 0x048);
static_assert(__builtin_offsetof(VmcbControlArea, tsc_offset) == 0x050);
static_assert(__builtin_offsetof(VmcbControlArea, guest_asid) == 0x058);
static_assert(__builtin_offsetof(VmcbControlArea, tlb_control) == 0x05c);
static_assert(__builtin_offsetof(VmcbControlArea, vintr) == 0x060);
static_assert(__builtin_offsetof(VmcbControlArea, exitcode) == 0x070);
static_assert(__builtin_offsetof(VmcbControlArea, exitinfo1) == 0x078);
static_assert(__builtin_offsetof(VmcbControlArea, exitinfo2) == 0x080);
static_assert(__builtin_offsetof(VmcbControlArea, exitintinfo) == 0x088);
static_assert(__builtin_offsetof(VmcbControlArea, np_enable) == 0x090);
static_assert(__builtin_offsetof(VmcbControlArea, eventinj) == 0x0a8);
static_assert(__builtin_offsetof(VmcbControlArea, n_cr3) == 0x0b0);
static_assert(__builtin_offsetof(VmcbControlArea, vmcb_clean) == 0x0c0);
static_assert(__builtin_offsetof(VmcbControlArea, nrip) == 0x0c8);
static_assert(__builtin_offsetof(VmcbControlArea, number_of_bytes_fetched) == 0x0d0);
static_assert(__builtin_offsetof(VmcbControlArea, avic_apic_backing_page) == 0x0e0);
static_assert(__builtin_offsetof(VmcbControlArea, vmsa_pointer) == 0x108);

// --- State save area (Table B-2) -------------------------------------------------------------

// A segment register in the VMCB (15.5.1): the hidden state. attrib packs
// the descriptor's type, S, DPL, P (bits 7:0) and AVL, L, D/B, G (bits 11:8).
struct VmcbSegment {
    uint16_t selector;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};
static_assert(sizeof(VmcbSegment) == 16);

// attrib bits.
namespace segment_attribute {
inline constexpr uint16_t accessed = 1u << 0;
inline constexpr uint16_t code = 1u << 3;
inline constexpr uint16_t descriptor = 1u << 4;  // S: code or data (not system)
inline constexpr uint16_t present = 1u << 7;
inline constexpr uint16_t long_mode = 1u << 9;   // L
inline constexpr uint16_t default_big = 1u << 10;  // D/B
inline constexpr uint16_t granularity = 1u << 11;  // G
}  // namespace segment_attribute

struct VmcbStateSaveArea {
    VmcbSegment es;    // 0x000
    VmcbSegment cs;    // 0x010
    VmcbSegment ss;    // 0x020
    VmcbSegment ds;    // 0x030
    VmcbSegment fs;    // 0x040
    VmcbSegment gs;    // 0x050
    VmcbSegment gdtr;  // 0x060: only limit and base
    VmcbSegment ldtr;  // 0x070
    VmcbSegment idtr;  // 0x080: only limit and base
    VmcbSegment tr;    // 0x090
    uint8_t reserved_0a0[0x0cb - 0x0a0];
    uint8_t cpl;       // 0x0cb
    uint32_t reserved_0cc;
    uint64_t efer;     // 0x0d0
    uint8_t reserved_0d8[0x148 - 0x0d8];
    uint64_t cr4;      // 0x148
    uint64_t cr3;      // 0x150
    uint64_t cr0;      // 0x158
    uint64_t dr7;      // 0x160
    uint64_t dr6;      // 0x168
    uint64_t rflags;   // 0x170
    uint64_t rip;      // 0x178
    uint8_t reserved_180[0x1d8 - 0x180];
    uint64_t rsp;      // 0x1d8
    uint64_t s_cet;    // 0x1e0
    uint64_t ssp;      // 0x1e8
    uint64_t isst_addr;  // 0x1f0
    uint64_t rax;      // 0x1f8
    uint64_t star;     // 0x200
    uint64_t lstar;    // 0x208
    uint64_t cstar;    // 0x210
    uint64_t sfmask;   // 0x218
    uint64_t kernel_gs_base;  // 0x220
    uint64_t sysenter_cs;     // 0x228
    uint64_t sysenter_esp;    // 0x230
    uint64_t sysenter_eip;    // 0x238
    uint64_t cr2;      // 0x240
    uint8_t reserved_248[0x268 - 0x248];
    uint64_t g_pat;    // 0x268: the guest's PAT under nested paging
    uint64_t dbgctl;   // 0x270
    uint64_t br_from;  // 0x278
    uint64_t br_to;    // 0x280
    uint64_t lastexcpfrom;  // 0x288
    uint64_t lastexcpto;    // 0x290
    uint8_t reserved_298[0xc00 - 0x298];
};
static_assert(sizeof(VmcbStateSaveArea) == 0xc00);
static_assert(__builtin_offsetof(VmcbStateSaveArea, cs) == 0x010);
static_assert(__builtin_offsetof(VmcbStateSaveArea, tr) == 0x090);
static_assert(__builtin_offsetof(VmcbStateSaveArea, cpl) == 0x0cb);
static_assert(__builtin_offsetof(VmcbStateSaveArea, efer) == 0x0d0);
static_assert(__builtin_offsetof(VmcbStateSaveArea, cr4) == 0x148);
static_assert(__builtin_offsetof(VmcbStateSaveArea, cr0) == 0x158);
static_assert(__builtin_offsetof(VmcbStateSaveArea, rflags) == 0x170);
static_assert(__builtin_offsetof(VmcbStateSaveArea, rip) == 0x178);
static_assert(__builtin_offsetof(VmcbStateSaveArea, rsp) == 0x1d8);
static_assert(__builtin_offsetof(VmcbStateSaveArea, rax) == 0x1f8);
static_assert(__builtin_offsetof(VmcbStateSaveArea, star) == 0x200);
static_assert(__builtin_offsetof(VmcbStateSaveArea, kernel_gs_base) == 0x220);
static_assert(__builtin_offsetof(VmcbStateSaveArea, cr2) == 0x240);
static_assert(__builtin_offsetof(VmcbStateSaveArea, g_pat) == 0x268);
static_assert(__builtin_offsetof(VmcbStateSaveArea, lastexcpto) == 0x290);

struct alignas(4096) Vmcb {
    VmcbControlArea control;
    VmcbStateSaveArea save;  // at 0x400
};
static_assert(sizeof(Vmcb) == 4096);
static_assert(__builtin_offsetof(Vmcb, save) == 0x400);

// --- Event injection (15.20, EVENTINJ and EXITINTINFO) --------------------------------------

namespace event {
inline constexpr uint64_t vector_mask = 0xff;
inline constexpr unsigned type_shift = 8;
inline constexpr uint64_t type_mask = uint64_t{7} << type_shift;
inline constexpr uint64_t type_external_interrupt = uint64_t{0} << type_shift;
inline constexpr uint64_t type_nmi = uint64_t{2} << type_shift;
inline constexpr uint64_t type_exception = uint64_t{3} << type_shift;
inline constexpr uint64_t type_software_interrupt = uint64_t{4} << type_shift;
inline constexpr uint64_t error_code_valid = uint64_t{1} << 11;  // EV
inline constexpr uint64_t valid = uint64_t{1} << 31;             // V
inline constexpr unsigned error_code_shift = 32;
}  // namespace event

// An exception to inject, in EVENTINJ format.
[[nodiscard]] constexpr uint64_t exception_event(unsigned vector, bool has_error_code = false, uint32_t error_code = 0) {
    return (vector & event::vector_mask) | event::type_exception | event::valid |
           (has_error_code ? event::error_code_valid | (uint64_t{error_code} << event::error_code_shift) : 0);
}

// --- Exit information --------------------------------------------------------------------

// EXITCODE values (Appendix C). Exits 0x00-0x3f are CR/DR accesses and
// 0x40-0x5f exceptions, named by range in exit_code_name().
enum class ExitCode : uint64_t {
    excp_base = 0x40,
    excp18 = 0x52,  // #MC
    intr = 0x60,
    nmi = 0x61,
    smi = 0x62,
    init = 0x63,
    vintr = 0x64,
    rdtsc = 0x6e,
    rdpmc = 0x6f,
    cpuid = 0x72,
    rsm = 0x73,
    iret = 0x74,
    swint = 0x75,
    invd = 0x76,
    pause = 0x77,
    hlt = 0x78,
    invlpg = 0x79,
    invlpga = 0x7a,
    ioio = 0x7b,
    msr = 0x7c,
    task_switch = 0x7d,
    ferr_freeze = 0x7e,
    shutdown = 0x7f,
    vmrun = 0x80,
    vmmcall = 0x81,
    vmload = 0x82,
    vmsave = 0x83,
    stgi = 0x84,
    clgi = 0x85,
    skinit = 0x86,
    rdtscp = 0x87,
    icebp = 0x88,
    wbinvd = 0x89,
    monitor = 0x8a,
    mwait = 0x8b,
    mwait_conditional = 0x8c,
    xsetbv = 0x8d,
    rdpru = 0x8e,
    efer_write_trap = 0x8f,
    npf = 0x400,
    avic_incomplete_ipi = 0x401,
    avic_noaccel = 0x402,
    vmgexit = 0x403,
    invalid = ~uint64_t{0},      // VMRUN refused the VMCB's state (15.5.1)
    busy = ~uint64_t{0} - 1,
};

// EXITCODE as the processor wrote it, made canonical: QEMU 7.2's TCG stores
// VMEXIT_INVALID as 0x00000000ffffffff, the 32-bit -1, not the APM's 64-bit
// -1 (measured: a VMCB with EFER.SVME clear; docs/pvh.md). No real exit code
// lies in between, so the 32-bit forms of INVALID and BUSY are read as them.
[[nodiscard]] constexpr uint64_t canonical_exit_code(uint64_t exit_code) {
    return exit_code == 0xffffffff || exit_code == 0xfffffffe ? exit_code | 0xffffffff00000000 : exit_code;
}

// "VMEXIT_CPUID", "VMEXIT_CR3_WRITE", "VMEXIT_EXCP14", ... as Appendix C
// spells them (the text lives in static storage); "VMEXIT_UNKNOWN" otherwise.
// For CR/DR and exception exits the number is written into `buffer`.
[[nodiscard]] const char* exit_code_name(uint64_t exit_code, char (&buffer)[24]);

// EXITINFO1 of an IOIO intercept (15.10.2).
struct IoioExitInformation {
    bool in;          // TYPE: 1 = IN
    bool string;      // STR
    bool repeat;      // REP
    unsigned size;    // bytes: 1, 2 or 4 (SZ8, SZ16, SZ32)
    unsigned address_size;  // bits: 16, 32 or 64 (A16, A32, A64); 0 when none is set
    uint16_t port;
};
[[nodiscard]] constexpr IoioExitInformation decode_ioio(uint64_t exitinfo1) {
    IoioExitInformation information{};
    information.in = (exitinfo1 & 1) != 0;
    information.string = (exitinfo1 & (1u << 2)) != 0;
    information.repeat = (exitinfo1 & (1u << 3)) != 0;
    information.size = (exitinfo1 & (1u << 4)) ? 1 : (exitinfo1 & (1u << 5)) ? 2 : (exitinfo1 & (1u << 6)) ? 4 : 0;
    information.address_size = (exitinfo1 & (1u << 7)) ? 16 : (exitinfo1 & (1u << 8)) ? 32 : (exitinfo1 & (1u << 9)) ? 64 : 0;
    information.port = static_cast<uint16_t>(exitinfo1 >> 16);
    return information;
}

// EXITINFO1 of a #NPF (15.25.6): a page-fault error code, with bit 32 set
// when the fault was on the final guest-physical address and bit 33 when it
// was on a guest page-table access.
struct NestedPageFault {
    bool present;      // P: a protection violation, not a missing entry
    bool write;        // RW
    bool user;         // US
    bool reserved_bit; // RSV
    bool fetch;        // ID: instruction fetch
    bool final_address;     // bit 32
    bool page_table_access; // bit 33
};
[[nodiscard]] constexpr NestedPageFault decode_npf(uint64_t exitinfo1) {
    return NestedPageFault{(exitinfo1 & 1) != 0,          (exitinfo1 & 2) != 0,
                           (exitinfo1 & 4) != 0,          (exitinfo1 & 8) != 0,
                           (exitinfo1 & 0x10) != 0,       (exitinfo1 & (uint64_t{1} << 32)) != 0,
                           (exitinfo1 & (uint64_t{1} << 33)) != 0};
}

// --- Permission maps (15.10.1, 15.11) ------------------------------------------------------

inline constexpr uint64_t iopm_size = 12 * 1024;
inline constexpr uint64_t msrpm_size = 8 * 1024;

// Where the two intercept bits of an MSR live in the MSR permission map
// (15.11, "MSR Intercepts"): the read bit is at bit_offset, the write bit
// right after it. MSRs outside the three ranges are always intercepted:
// found = false.
struct MsrpmPosition {
    bool found;
    uint32_t byte;
    unsigned bit;
};
[[nodiscard]] constexpr MsrpmPosition msrpm_position(uint32_t msr) {
    uint32_t base = 0;
    if (msr <= 0x1fff) {
        base = 0;
    } else if (msr >= 0xc0000000 && msr <= 0xc0001fff) {
        base = 0x800;
        msr -= 0xc0000000;
    } else if (msr >= 0xc0010000 && msr <= 0xc0011fff) {
        base = 0x1000;
        msr -= 0xc0010000;
    } else {
        return MsrpmPosition{false, 0, 0};
    }
    return MsrpmPosition{true, base + msr / 4, (msr % 4) * 2};
}

}  // namespace sluice::x86::svm
