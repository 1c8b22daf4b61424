// Builds IVRS tables byte by byte, the way firmware (or QEMU's
// build_amd_iommu(), or tools/make-ivrs) lays them out: AMD IOMMU spec 5.2.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace sluice::testing {

class IvrsBuilder {
public:
    explicit IvrsBuilder(uint32_t iv_info = 40u << 8, const char* oem_id = "BOCHS ", uint8_t revision = 1) {
        append_bytes("IVRS", 4);
        append(0, 4);  // length, set by bytes()
        append(revision, 1);
        append(0, 1);  // checksum, set by bytes()
        append_bytes(oem_id, 6);
        append_bytes("BXPC    ", 8);
        append(1, 4);
        append_bytes("BXPC", 4);
        append(1, 4);
        append(iv_info, 4);
        append(0, 8);
    }

    void append(uint64_t value, size_t size) {
        for (size_t index = 0; index < size; ++index) bytes_.push_back(static_cast<uint8_t>(value >> (8 * index)));
    }
    void append_bytes(const char* text, size_t size) { bytes_.insert(bytes_.end(), text, text + size); }
    [[nodiscard]] size_t offset() const { return bytes_.size(); }

    // An IVHD of type 10h (24-byte header) or 11h/40h (40 bytes, with an EFR
    // image); close it with end_block().
    size_t begin_ivhd(uint8_t type, uint8_t flags, uint16_t iommu_device_id, uint64_t base, uint16_t segment = 0,
                      uint32_t feature_reporting = 0, uint64_t efr = 0, uint16_t capability_offset = 0x40) {
        const size_t start = offset();
        append(type, 1);
        append(flags, 1);
        append(0, 2);
        append(iommu_device_id, 2);
        append(capability_offset, 2);
        append(base, 8);
        append(segment, 2);
        append(0, 2);  // IOMMU info
        append(feature_reporting, 4);
        if (type != 0x10) {
            append(efr, 8);
            append(0, 8);
        }
        return start;
    }
    void end_block(size_t start) { patch16(start + 2, static_cast<uint16_t>(offset() - start)); }

    // Device entries (5.2.2.3).
    void entry4(uint8_t type, uint16_t device_id, uint8_t setting = 0) {
        append(type, 1);
        append(device_id, 2);
        append(setting, 1);
    }
    void entry8(uint8_t type, uint16_t device_id, uint8_t setting, uint32_t data) {
        entry4(type, device_id, setting);
        append(data, 4);
    }
    void select(uint16_t device_id, uint8_t setting = 0) { entry4(0x02, device_id, setting); }
    void range(uint16_t first, uint16_t last, uint8_t setting = 0) {
        entry4(0x03, first, setting);
        entry4(0x04, last, 0);
    }
    // Alias select (42h) or alias range start (43h): requests of device_id carry source.
    void alias(uint8_t type, uint16_t device_id, uint16_t source, uint8_t setting = 0) {
        entry8(type, device_id, setting, static_cast<uint32_t>(source) << 8);
    }
    void alias_select(uint16_t device_id, uint16_t source, uint8_t setting = 0) {
        alias(0x42, device_id, source, setting);
    }
    void special(uint8_t handle, uint16_t device_id, uint8_t variety, uint8_t setting = 0) {
        append(0x48, 1);
        append(0, 2);
        append(setting, 1);
        append(handle, 1);
        append(device_id, 2);
        append(variety, 1);
    }
    void acpi_hid(uint16_t device_id, const char* hid, const char* cid, uint8_t uid_format, const std::string& uid,
                  uint8_t setting = 0) {
        entry4(0xf0, device_id, setting);
        append_bytes(hid, 8);
        append_bytes(cid, 8);
        append(uid_format, 1);
        append(uid.size(), 1);
        append_bytes(uid.data(), uid.size());
    }

    // IVMD types 20h (all), 21h (one device), 22h (device..auxiliary); returns
    // where the block starts.
    size_t ivmd(uint8_t type, uint8_t flags, uint16_t device_id, uint16_t auxiliary, uint64_t start, uint64_t length,
                uint16_t segment = 0) {
        const size_t block = offset();
        append(type, 1);
        append(flags, 1);
        append(32, 2);
        append(device_id, 2);
        append(auxiliary, 2);
        append(segment, 2);
        append(0, 6);
        append(start, 8);
        append(length, 8);
        return block;
    }

    // Overwrites two bytes already appended (little-endian).
    void patch16(size_t at, uint16_t value) {
        bytes_[at] = static_cast<uint8_t>(value);
        bytes_[at + 1] = static_cast<uint8_t>(value >> 8);
    }

    // The table with its length and checksum filled in.
    [[nodiscard]] std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> table = bytes_;
        const auto length = static_cast<uint32_t>(table.size());
        std::memcpy(&table[4], &length, 4);
        uint8_t sum = 0;
        for (uint8_t byte : table) sum = static_cast<uint8_t>(sum + byte);
        table[9] = static_cast<uint8_t>(-sum);
        return table;
    }

private:
    std::vector<uint8_t> bytes_;
};

// The table QEMU 7.2 builds for `-M q35 -device amd-iommu` as the first
// device: the IOMMU at 00:01.0, registers at 0xfed80000, flags 0xd1, IOMMU
// feature reporting 0x44, one select entry per PCI function, and
// (intremap=on) the IOAPIC as 00:14.0.
inline std::vector<uint8_t> qemu_ivrs(bool with_ioapic = false) {
    IvrsBuilder builder;
    const size_t block = builder.begin_ivhd(0x10, 0xd1, 0x0008, 0xfed80000, 0, 0x44);
    for (uint16_t device : {0x0000, 0x0008, 0x0010, 0x00f8, 0x00fa, 0x00fb}) builder.select(device);
    if (with_ioapic) builder.append((uint64_t{1} << 56) | (uint64_t{0x00a0} << 40) | 0x48, 8);
    builder.end_block(block);
    return builder.bytes();
}

}  // namespace sluice::testing
