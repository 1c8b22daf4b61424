#include "arch/x86/hvm/hypercalls.hpp"

#include <public/errno.hpp>
#include <public/features.hpp>
#include <public/sched.hpp>
#include <public/xen.hpp>

namespace sluice::x86::hvm {
namespace {

using hypercall::error;

constexpr const char* subsystem = "hvm";
constexpr unsigned slot_size = 32;

hypercall::Arguments arguments_of(const GuestRegisters& registers, bool long_mode) {
    if (long_mode)
        return hypercall::Arguments{{registers.rdi, registers.rsi, registers.rdx, registers.r10, registers.r8,
                                     registers.r9}};
    const auto low = [](uint64_t value) { return value & 0xffffffff; };
    return hypercall::Arguments{{low(registers.rbx), low(registers.rcx), low(registers.rdx), low(registers.rsi),
                                 low(registers.rdi), low(registers.rbp)}};
}

void set_arguments(GuestRegisters& registers, const hypercall::Arguments& arguments, bool long_mode) {
    const uint64_t* value = arguments.values;
    if (long_mode) {
        registers.rdi = value[0];
        registers.rsi = value[1];
        registers.rdx = value[2];
        registers.r10 = value[3];
        registers.r8 = value[4];
        registers.r9 = value[5];
        return;
    }
    registers.rbx = value[0];
    registers.rcx = value[1];
    registers.rdx = value[2];
    registers.rsi = value[3];
    registers.rdi = value[4];
    registers.rbp = value[5];
}

int64_t sched_op(HvmDomainContext& domain, const hypercall::GuestBuffers& memory,
                 const hypercall::Arguments& arguments) {
    const uint64_t command = arguments.values[0];
    switch (command) {
    case xen::SCHEDOP_yield: return 0;
    // Nothing can wake a blocked vCPU yet (no event delivery to HVM guests):
    // the ABI allows a spurious wake-up, so blocking returns at once.
    case xen::SCHEDOP_block: return 0;
    case xen::SCHEDOP_shutdown:
    case xen::SCHEDOP_shutdown_code: {
        unsigned reason = 0;
        const int64_t read = hypercall::read_shutdown_reason(memory, arguments.values[1], &reason);
        if (read != 0 || command == xen::SCHEDOP_shutdown_code) return read;
        hypercall::console_flush(domain.console, *domain.services, domain.domain_id);
        domain.services->shutdown(domain.domain_id, reason);
        return 0;
    }
    default:
        return hypercall::unknown_subcommand(domain.unknown_reports, subsystem, domain.domain_id,
                                             xen::HYPERVISOR_sched_op, command);
    }
}

}  // namespace

uint32_t pvh_features() {
    // A PVH guest is translated (auto_translated_physmap) and this one is the
    // hardware domain.
    return (1u << xen::XENFEAT_auto_translated_physmap) | (1u << xen::XENFEAT_dom0);
}

HypercallOutcome dispatch_hvm_hypercall(HvmDomainContext& domain, GuestRegisters& registers,
                                        const HypercallMode& mode, const hypercall::GuestBuffers& memory) {
    ++domain.hypercalls;
    const uint64_t number = mode.long_mode ? registers.rax : registers.rax & 0xffffffff;
    const hypercall::Arguments arguments = arguments_of(registers, mode.long_mode);
    int64_t result = 0;
    hypercall::Continuation continuation;
    if (mode.cpl != 0) {
        // Xen's rule for HVM guests: only the guest kernel may call.
        result = error(xen::XEN_EPERM);
    } else {
        switch (number) {
        case xen::HYPERVISOR_console_io:
            result = hypercall::console_io(domain.console, *domain.services, domain.domain_id, memory, arguments,
                                           continuation);
            break;
        case xen::HYPERVISOR_xen_version: {
            hypercall::VersionPolicy policy;
            policy.features = pvh_features();
            policy.capabilities = "hvm-3.0-x86_64 ";
            policy.command_line = domain.hypervisor_command_line;
            result = hypercall::xen_version(memory, policy, arguments.values[0], arguments.values[1]);
            break;
        }
        case xen::HYPERVISOR_sched_op: result = sched_op(domain, memory, arguments); break;
        default:
            result = hypercall::unknown_hypercall(domain.unknown_reports, subsystem, domain.domain_id, number,
                                                  arguments);
            break;
        }
    }
    if (continuation.requested) {
        set_arguments(registers, continuation.arguments, mode.long_mode);
        return HypercallOutcome::repeat;
    }
    registers.rax = mode.long_mode ? static_cast<uint64_t>(result) : static_cast<uint32_t>(result);
    return HypercallOutcome::done;
}

void fill_hypercall_page(uint8_t (&page)[4096], HypercallInstruction instruction) {
    for (uint8_t& byte : page) byte = 0xcc;  // int3
    for (unsigned number = 0; number < sizeof page / slot_size; ++number) {
        uint8_t* slot = page + number * slot_size;
        slot[0] = 0xb8;  // mov $imm32, %eax
        slot[1] = static_cast<uint8_t>(number);
        slot[2] = static_cast<uint8_t>(number >> 8);
        slot[3] = 0;
        slot[4] = 0;
        slot[5] = 0x0f;
        slot[6] = 0x01;
        slot[7] = instruction == HypercallInstruction::vmmcall ? 0xd9 : 0xc1;
        slot[8] = 0xc3;  // ret
    }
}

}  // namespace sluice::x86::hvm
