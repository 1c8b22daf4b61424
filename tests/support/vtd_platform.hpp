// A whole simulated Intel platform for host tests of the hardware-domain
// set-up and the DMA self-test: memory with an e820 map, an ACPI directory
// holding a DMAR table built here, PCI configuration space with a host
// bridge, an edu device and an ISA bridge, a VT-d unit
// (vtd_register_model.hpp) and an edu model whose DMA goes through that
// unit's translation and caches, as QEMU's does.
#pragma once

#include "support/advancing_clock.hpp"
#include "support/dmar_builder.hpp"
#include "support/simulated_machine.hpp"
#include "support/vtd_register_model.hpp"

#include <common/domain.hpp>
#include <drivers/acpi/table_directory.hpp>
#include <drivers/passthrough/iommu_options.hpp>
#include <drivers/passthrough/iommu_setup.hpp>
#include <drivers/passthrough/iommu_unit.hpp>
#include <drivers/pci/configuration.hpp>
#include <drivers/pci/edu.hpp>
#include <drivers/pci/enumeration.hpp>
#include <drivers/pci/mmio.hpp>

#include <sluice/memory_map.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

namespace sluice::testing {

// QEMU's edu (docs/specs/edu.rst), registers and DMA engine. A transfer
// happens when it is started; the command register then reads "running"
// for a few reads, as the real device takes its time.
class EduModel final : public pci::MmioRegion {
public:
    using Dma = std::function<VtdRegisterModel::DmaResult(uint16_t source_id, uint64_t address, bool write)>;

    EduModel(PhysicalMemory& memory, Dma dma, uint16_t source_id, std::function<bool()> bus_master)
        : memory_(memory), dma_(std::move(dma)), source_id_(source_id), bus_master_(std::move(bus_master)) {}

    uint64_t size() const override { return 1 << 20; }
    uint8_t read8(uint64_t) override { throw std::logic_error("edu: byte access"); }
    uint16_t read16(uint64_t) override { throw std::logic_error("edu: word access"); }
    void write8(uint64_t, uint8_t) override { throw std::logic_error("edu: byte access"); }
    void write16(uint64_t, uint16_t) override { throw std::logic_error("edu: word access"); }
    uint32_t read32(uint64_t offset) override {
        if (offset == 0x00) return 0x010000ed;
        if (offset == 0x04) return ~liveness_;
        if (offset >= 0x80) throw std::logic_error("edu: DMA registers are read as 64 bits here");
        return 0;
    }
    void write32(uint64_t offset, uint32_t value) override {
        if (offset == 0x04) liveness_ = value;
    }
    uint64_t read64(uint64_t offset) override {
        switch (offset) {
        case 0x80: return source_;
        case 0x88: return destination_;
        case 0x90: return count_;
        case 0x98:
            if (!stuck && busy_reads_ > 0 && --busy_reads_ == 0) command_ &= ~uint64_t{1};
            return command_;
        }
        throw std::logic_error("edu: 64-bit read of an unknown register");
    }
    void write64(uint64_t offset, uint64_t value) override {
        if ((command_ & 1) != 0) return;  // edu ignores writes while a transfer runs
        switch (offset) {
        case 0x80: source_ = value; return;
        case 0x88: destination_ = value; return;
        case 0x90: count_ = value; return;
        case 0x98:
            if ((value & 1) == 0) return;
            command_ = value;
            run();
            busy_reads_ = 3;
            return;
        }
        throw std::logic_error("edu: 64-bit write of an unknown register");
    }

    [[nodiscard]] const std::array<uint8_t, 4096>& buffer() const { return buffer_; }
    size_t transfers = 0;
    // A device that never finishes a transfer.
    bool stuck = false;

private:
    void run() {
        ++transfers;
        const bool to_memory = (command_ & 2) != 0;
        const uint64_t device_address = to_memory ? source_ : destination_;
        const uint64_t memory_address = to_memory ? destination_ : source_;
        if (device_address < 0x40000 || device_address + count_ > 0x41000)
            throw std::logic_error("edu: transfer outside the buffer (QEMU aborts)");
        if (device_address + count_ == 0x41000) throw std::logic_error("edu: transfer ending at 0x41000 (QEMU aborts)");
        if (!bus_master_()) return;  // no bus mastering: nothing reaches memory
        uint8_t* buffer = buffer_.data() + (device_address - 0x40000);
        for (uint64_t done = 0; done < count_;) {
            const uint64_t address = memory_address + done;
            const uint64_t chunk = std::min<uint64_t>(count_ - done, 0x1000 - (address & 0xfff));
            const VtdRegisterModel::DmaResult translated = dma_(source_id_, address, to_memory);
            if (translated.ok) {
                const Status moved = to_memory ? memory_.write_bytes(translated.output, buffer + done, chunk)
                                               : memory_.read_bytes(translated.output, buffer + done, chunk);
                if (!moved.ok()) throw std::logic_error("edu: DMA outside simulated memory");
            }
            // A blocked transfer leaves its destination alone (edu ignores errors).
            done += chunk;
        }
    }

    PhysicalMemory& memory_;
    Dma dma_;
    uint16_t source_id_;
    std::function<bool()> bus_master_;
    uint32_t liveness_ = 0;
    uint64_t source_ = 0, destination_ = 0, count_ = 0, command_ = 0;
    int busy_reads_ = 0;
    std::array<uint8_t, 4096> buffer_{};
};

// Configuration space of a few functions, 256 bytes each.
class SimulatedConfiguration final : public pci::ConfigurationAccess {
public:
    void add(const pci::PciAddress& address, uint16_t vendor, uint16_t device, uint32_t class_code, uint32_t bar0 = 0) {
        auto& space = functions_[address.requester_id()];
        space.fill(0);
        put(space, 0, vendor, 2);
        put(space, 2, device, 2);
        put(space, 8, class_code << 8, 4);
        put(space, 0x10, bar0, 4);
    }
    [[nodiscard]] uint16_t command(const pci::PciAddress& address) const {
        return static_cast<uint16_t>(functions_.at(address.requester_id())[4] |
                                     functions_.at(address.requester_id())[5] << 8);
    }

    bool reaches(const pci::PciAddress& address) const override { return address.segment == 0; }
    uint16_t space_size() const override { return 256; }
    const char* name() const override { return "simulated"; }

protected:
    uint32_t read_register(const pci::PciAddress& address, uint16_t offset, pci::AccessWidth width) override {
        const auto found = functions_.find(address.requester_id());
        if (found == functions_.end()) return ~uint32_t{0};
        uint32_t value = 0;
        std::memcpy(&value, found->second.data() + offset, static_cast<size_t>(width));
        return value;
    }
    void write_register(const pci::PciAddress& address, uint16_t offset, pci::AccessWidth width,
                        uint32_t value) override {
        const auto found = functions_.find(address.requester_id());
        if (found == functions_.end()) return;
        std::memcpy(found->second.data() + offset, &value, static_cast<size_t>(width));
    }

private:
    static void put(std::array<uint8_t, 256>& space, size_t offset, uint32_t value, size_t length) {
        std::memcpy(space.data() + offset, &value, length);
    }
    std::map<uint16_t, std::array<uint8_t, 256>> functions_;
};

// Register windows by base address.
class SimulatedMmio final : public pci::MmioMapper {
public:
    void add(PhysicalAddress base, pci::MmioRegion& region) { regions_[base] = &region; }
    Result<pci::MmioRegion*> map(PhysicalAddress base, uint64_t size) override {
        const auto found = regions_.find(base);
        if (found == regions_.end() || size > found->second->size()) return Error::unsupported;
        return found->second;
    }

private:
    std::map<PhysicalAddress, pci::MmioRegion*> regions_;
};

class VtdPlatform {
public:
    static constexpr PhysicalAddress ram_end = 0x2000000;             // 32 MiB
    static constexpr PhysicalAddress tables = 0x2000000;              // ACPI tables, in e820 reserved memory
    static constexpr PhysicalAddress reserved_end = 0x2100000;
    static constexpr PhysicalAddress image_start = 0x100000;          // "the hypervisor image"
    static constexpr PhysicalAddress image_end = 0x200000;
    static constexpr PhysicalAddress hypervisor_page = 0x180000;
    static constexpr PhysicalAddress unit_base = 0xfed90000;
    static constexpr PhysicalAddress edu_base = 0xfeb00000;
    static constexpr pci::PciAddress host_bridge{0, 0, 0, 0};
    static constexpr pci::PciAddress edu{0, 0, 1, 0};
    static constexpr pci::PciAddress isa_bridge{0, 0, 0x1f, 0};

    explicit VtdPlatform(uint64_t capability = VtdRegisterModel::qemu_capability,
                         uint64_t extended = VtdRegisterModel::qemu_extended_capability)
        : memory(0, reserved_end), allocator(memory, image_end, (ram_end - image_end) / page_size),
          unit(memory, capability, extended),
          edu_model(memory, [this](uint16_t source, uint64_t address, bool write) { return unit.dma(source, address, write); },
                    edu.requester_id(), [this] { return (configuration.command(edu) & 4) != 0; }) {
        expect_ok(memory_map.add(0, 0x9fc00, MemoryType::ram));
        expect_ok(memory_map.add(0x9fc00, 0x400, MemoryType::reserved));
        expect_ok(memory_map.add(0xf0000, 0x10000, MemoryType::reserved));
        expect_ok(memory_map.add(0x100000, ram_end - 0x100000, MemoryType::ram));
        expect_ok(memory_map.add(tables, reserved_end - tables, MemoryType::reserved));
        memory_map.sanitize();
        configuration.add(host_bridge, 0x8086, 0x29c0, 0x060000);
        configuration.add(edu, 0x1234, 0x11e8, 0x00ff00, static_cast<uint32_t>(edu_base));
        configuration.add(isa_bridge, 0x8086, 0x2918, 0x060100);
        pci::enumerate(configuration, devices);
        mmio.add(unit_base, unit);
        mmio.add(edu_base, edu_model);
        expect_ok(hypervisor.add({image_start, image_end}));
    }

    // Puts the DMAR table at `tables` and lists it in the directory.
    void install(const std::vector<uint8_t>& dmar) {
        expect_ok(memory.write_bytes(tables, dmar.data(), dmar.size()));
        acpi::TableDescription description;
        description.signature = acpi::Signature("DMAR");
        description.address = tables;
        description.length = static_cast<uint32_t>(dmar.size());
        directory = acpi::TableDirectory{};
        expect_ok(directory.add(description));
    }
    // QEMU's DRHD: every bus-0 function as an endpoint.
    static DmarBuilder qemu_dmar() { return std::move(DmarBuilder().unit(unit_base, {host_bridge, edu, isa_bridge})); }

    passthrough::Platform platform() {
        return passthrough::Platform{directory, memory_map, devices, configuration, mmio, memory, allocator,
                                     clock,     options,    &cache};
    }
    // Each call makes a fresh hardware domain (PV, id 0) for one set-up run,
    // as boot does; the machine keeps them alive for the runs' lifetime.
    passthrough::SetupInputs inputs(uint64_t dom0_bytes = 8 * MiB) {
        domains.push_back(std::make_unique<Domain>());
        Domain& domain = *domains.back();
        if (!domain.initialize(DomainConfiguration{}, memory, allocator).ok())
            throw std::runtime_error("hardware domain");
        passthrough::SetupInputs result;
        result.domain.iommu = &domain.iommu_storage();
        result.domain.memory = &domain.memory();
        result.domain.id = domain.id();
        result.hypervisor_memory = &hypervisor;
        result.available_bytes = (ram_end - image_end);
        result.hardware_domain.memory.size.given = true;
        result.hardware_domain.memory.size.bytes = dom0_bytes;
        return result;
    }

    static void expect_ok(const Status& status) {
        if (!status.ok()) throw std::runtime_error("platform set-up failed");
    }

    SimulatedMemory memory;
    SimulatedPageAllocator allocator;
    std::vector<std::unique_ptr<Domain>> domains;
    MemoryMap memory_map;
    acpi::TableDirectory directory;
    SimulatedConfiguration configuration;
    pci::DeviceList devices;
    SimulatedMmio mmio;
    VtdRegisterModel unit;
    EduModel edu_model;
    AdvancingClock clock{1000};
    RecordingCache cache;
    passthrough::IommuOptions options;
    passthrough::AddressRange hypervisor_storage[8];
    passthrough::RangeSet hypervisor{Span<passthrough::AddressRange>(hypervisor_storage, 8)};
};

}  // namespace sluice::testing
