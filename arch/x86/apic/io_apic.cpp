#include <arch/x86/apic/io_apic.hpp>

namespace sluice::x86::apic {

uint32_t IoApic::read(uint8_t index) {
    window_->write32(offset_of(IoApicWindowRegister32::register_select), index);
    return window_->read32(offset_of(IoApicWindowRegister32::window));
}

void IoApic::write(uint8_t index, uint32_t value) {
    window_->write32(offset_of(IoApicWindowRegister32::register_select), index);
    window_->write32(offset_of(IoApicWindowRegister32::window), value);
}

unsigned IoApic::pins() {
    const unsigned reported = version().pins();
    return reported > io_apic_max_pins ? io_apic_max_pins : reported;
}

RedirectionEntry IoApic::read_entry(unsigned pin) {
    const uint64_t low = read(redirection_entry_low_index(pin));
    const uint64_t high = read(redirection_entry_high_index(pin));
    return RedirectionEntry{high << 32 | low};
}

void IoApic::write_entry(unsigned pin, RedirectionEntry entry) {
    if (entry.is_masked()) {
        write(redirection_entry_low_index(pin), entry.low());
        write(redirection_entry_high_index(pin), entry.high());
    } else {
        write(redirection_entry_high_index(pin), entry.high());
        write(redirection_entry_low_index(pin), entry.low());
    }
}

unsigned IoApic::mask_all() {
    const unsigned count = pins();
    for (unsigned pin = 0; pin < count; ++pin) write_entry(pin, RedirectionEntry::masked_entry());
    return count;
}

}  // namespace sluice::x86::apic
