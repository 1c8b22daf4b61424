#include <arch/x86/apic/local_apic.hpp>

namespace sluice::x86::apic {

void LocalApic::enable(uint8_t spurious_vector) {
    const unsigned entries = version().lvt_entries();
    const uint32_t masked = LocalVectorTableEntry::masked_entry().value;
    // Section 11.5.1: LVT entries exist by the Max LVT Entry count (timer,
    // LINT0, LINT1 and error always; performance monitoring from 5, thermal
    // sensor from 6, CMCI from 7). A missing one is not written: in x2APIC
    // mode its MSR does not exist and the write would fault.
    registers_->write(LocalApicRegister32::lvt_timer, masked);
    registers_->write(LocalApicRegister32::lvt_lint0, masked);
    registers_->write(LocalApicRegister32::lvt_error, masked);
    if (entries >= 5) registers_->write(LocalApicRegister32::lvt_performance_monitoring, masked);
    if (entries >= 6) registers_->write(LocalApicRegister32::lvt_thermal_sensor, masked);
    if (entries >= 7) registers_->write(LocalApicRegister32::lvt_corrected_machine_check, masked);
    // Section 11.5.3: the ESR is updated by a write; the write clears it.
    registers_->write(LocalApicRegister32::error_status, 0);
    registers_->write(LocalApicRegister32::task_priority, 0);
    const SpuriousInterruptVector current{registers_->read(LocalApicRegister32::spurious_interrupt_vector)};
    registers_->write(LocalApicRegister32::spurious_interrupt_vector, current.enabled_with(spurious_vector).value);
}

}  // namespace sluice::x86::apic
