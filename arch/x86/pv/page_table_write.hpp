// Writes a PV guest's kernel makes straight to one of its L1 page tables.
//
// The tables are mapped read-only, so such a write faults (#PF, present and
// write). Xen's PV ABI carries it out all the same ("writable page tables":
// the store is emulated as the equivalent mmu_update, with the same
// validation), and kernels built for Xen declare they rely on it
// (XEN_ELFNOTE_FEATURES "!writable_page_tables"). Only 8-byte, aligned
// stores to a validated L1 table are emulated, as for Xen's 64-bit guests;
// anything else is the guest's page fault.
//
// The decoder is core code: it recognises the store instructions a kernel
// uses for page-table entries and says how long they are; the faulting
// address itself comes from CR2, so no effective address is computed.
#pragma once

#include <sluice/types.hpp>

namespace sluice::x86::pv {

enum class PageTableStore : uint8_t {
    none,
    move_register,      // mov %r64, m64          REX.W 89 /r
    move_immediate,     // mov $imm32, m64         REX.W c7 /0 (sign-extended)
    exchange,           // xchg %r64, m64          REX.W 87 /r (locked by definition)
    compare_exchange,   // lock cmpxchg %r64, m64  (lock) REX.W 0f b1 /r
};

struct DecodedStore {
    PageTableStore kind = PageTableStore::none;
    uint8_t length = 0;
    uint8_t source_register = 0;  // 0 = rax ... 15 = r15 (not for move_immediate)
    int64_t immediate = 0;        // move_immediate, sign-extended
};

// Decodes the instruction at bytes[0..available). A register destination
// (ModRM.mod = 3), a missing REX.W, or a truncated instruction is `none`.
[[nodiscard]] DecodedStore decode_page_table_store(const uint8_t* bytes, unsigned available);

}  // namespace sluice::x86::pv
