// Xen's HVM hypercall ABI for PVH guests (xen/include/public/arch-x86/xen.h,
// docs/pvh.md): the number in RAX; arguments in RDI, RSI, RDX, R10, R8 from
// 64-bit code or EBX, ECX, EDX, ESI, EDI from 32-bit code; the result in RAX.
// The guest traps with VMMCALL (AMD) or VMCALL (Intel), either directly or
// through the hypercall page the hypervisor writes when the guest writes the
// MSR named by CPUID leaf 0x40000002 (slot n: `mov $n, %eax; vmmcall; ret`).
// A call from CPL > 0 gets -EPERM.
//
// Implemented: console_io, xen_version, sched_op (yield, block, shutdown,
// shutdown_code), through the code every kind of guest shares
// (common/hypercalls.hpp); everything else is -ENOSYS, said once.
//
// Core code: the run loop (arch/x86/hvm/svm/run.cpp) decodes the exit and
// hands over the registers; host tests drive the same dispatcher.
#pragma once

#include "arch/x86/hvm/registers.hpp"

#include <common/hypercalls.hpp>

#include <sluice/string_view.hpp>
#include <sluice/types.hpp>

namespace sluice::x86::hvm {

class HvmServices : public hypercall::ConsoleSink {
public:
    // SCHEDOP_shutdown: the run loop ends the domain after the call.
    virtual void shutdown(uint16_t domain_id, unsigned reason) = 0;

protected:
    ~HvmServices() = default;
};

struct HvmDomainContext {
    uint16_t domain_id = 0;
    HvmServices* services = nullptr;
    StringView hypervisor_command_line;
    hypercall::GuestConsole console;
    hypercall::UnknownReports unknown_reports;
    uint64_t hypercalls = 0;
};

// How the vCPU called.
struct HypercallMode {
    bool long_mode = false;  // 64-bit code (EFER.LMA and CS.L)
    unsigned cpl = 0;
};

enum class HypercallOutcome : uint8_t {
    done,    // the result is in RAX; the caller moves RIP past the instruction
    repeat,  // a continuation: the registers hold the rest, RIP stays on the instruction
};

// Runs the hypercall in `registers` and writes its result (or its
// continuation) back into them.
[[nodiscard]] HypercallOutcome dispatch_hvm_hypercall(HvmDomainContext& domain, GuestRegisters& registers,
                                                      const HypercallMode& mode, const hypercall::GuestBuffers& memory);

// The XENFEAT_* bits a PVH dom0 is told about (XENVER_get_features).
[[nodiscard]] uint32_t pvh_features();

// The hypercall page: 128 slots of 32 bytes, slot n `mov $n, %eax` then the
// trapping instruction (VMMCALL 0f 01 d9 on AMD, VMCALL 0f 01 c1 on Intel)
// then `ret`; the rest of each slot is int3.
enum class HypercallInstruction : uint8_t { vmmcall, vmcall };
void fill_hypercall_page(uint8_t (&page)[4096], HypercallInstruction instruction);

}  // namespace sluice::x86::hvm
