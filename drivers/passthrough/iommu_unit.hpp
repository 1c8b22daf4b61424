// What the vendor-neutral passthrough code (hardware-domain set-up, the DMA
// self-test) needs from one IOMMU unit, whatever its vendor: a VT-d DMA
// remapping hardware unit (one DRHD) or an AMD-Vi IOMMU (one IVHD).
//
// Vendor drivers find their units at boot with a probe function of the
// shape
//     Status probe(const Platform&, UnitRegistry&, ReservedRegionList&);
// (vtd::probe, amd::probe): they parse their ACPI tables, create and
// initialise a unit object per IOMMU (translation still off), register it,
// and add the reserved regions (RMRR, IVMD, rmrr=, ivmd=) with their device
// scopes.
#pragma once

#include <drivers/passthrough/interrupt_remapping.hpp>
#include <drivers/pci/address.hpp>
#include <mm/paging/batch.hpp>

#include <sluice/clock.hpp>
#include <sluice/memory_map.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/span.hpp>

namespace sluice::acpi {
class TableDirectory;
}
namespace sluice::pci {
class ConfigurationAccess;
class DeviceList;
class MmioMapper;
}  // namespace sluice::pci

namespace sluice::passthrough {

class IommuContext;
struct IommuOptions;

// How a device's DMA is handled once translation is on.
enum class AttachMode : uint8_t {
    translated,   // through the domain's IOMMU tables
    passthrough,  // untranslated (VT-d translation type 10b, AMD DTE with TV = 0)
    blocked,      // every request faults
};

// A DMA fault as a unit recorded it (VT-d fault recording register, AMD
// IO_PAGE_FAULT event), decoded.
struct DmaFault {
    pci::PciAddress source;
    uint64_t address = 0;  // the DMA (input) address
    bool write = false;
    uint16_t reason = 0;   // the vendor's fault reason or event code
    const char* description = "";  // static text for reason
};

// Writes cached lines back to memory, for units whose table walks do not
// snoop the processor caches (VT-d ECAP.C = 0, VT-d spec 11.4.3 "Page-walk
// Coherency"; Xen advisory XSA-321 was a missing write-back). The image
// uses CLFLUSH; host memory needs nothing.
class CacheMaintenance {
public:
    virtual void write_back(PhysicalAddress address, uint64_t length) = 0;

protected:
    ~CacheMaintenance() = default;
};

// PhysicalMemory that writes every store back to memory at once, for the
// tables of a domain whose devices sit behind a non-coherent unit: the
// walker then needs no knowledge of coherency, and every entry has reached
// memory before the batch's invalidation tells the unit to re-read it.
class WriteBackMemory final : public PhysicalMemory {
public:
    WriteBackMemory(PhysicalMemory& memory, CacheMaintenance& cache) : memory_(&memory), cache_(&cache) {}

    [[nodiscard]] uint64_t read64(PhysicalAddress address) const override { return memory_->read64(address); }
    void write64(PhysicalAddress address, uint64_t value) override {
        memory_->write64(address, value);
        cache_->write_back(address, sizeof value);
    }
    void zero_page(PhysicalAddress page) override {
        memory_->zero_page(page);
        cache_->write_back(page, page_size);
    }
    [[nodiscard]] Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override {
        return memory_->read_bytes(address, destination, length);
    }
    [[nodiscard]] Status write_bytes(PhysicalAddress address, const void* source, size_t length) override {
        SLUICE_TRY(memory_->write_bytes(address, source, length));
        cache_->write_back(address, length);
        return success();
    }

private:
    PhysicalMemory* memory_;
    CacheMaintenance* cache_;
};

class IommuUnit : public paging::InvalidationUnit {
public:
    // For messages: "vtd0 at 0xfed90000".
    [[nodiscard]] virtual const char* name() const = 0;
    [[nodiscard]] virtual PhysicalAddress register_base() const = 0;
    // Whether requests from device are translated by this unit.
    [[nodiscard]] virtual bool translates(const pci::PciAddress& device) const = 0;
    // Points the device's context entry / device-table entry at the domain
    // (or makes it pass-through or blocked), invalidates the old entry as
    // the specification requires, and attaches the unit to the domain's
    // invalidation targets.
    [[nodiscard]] virtual Status attach(IommuContext& domain, const pci::PciAddress& device, AttachMode mode) = 0;
    [[nodiscard]] virtual Status enable_translation() = 0;
    [[nodiscard]] virtual Status disable_translation() = 0;
    // Whether the platform lets this unit report faults to software (QEMU
    // 7.2's AMD event log never receives events).
    [[nodiscard]] virtual bool reports_faults() const = 0;
    // Moves recorded faults, oldest first, into the span and clears them in
    // the hardware; returns how many were written.
    virtual size_t take_faults(Span<DmaFault> faults) = 0;

    // Bytes of the register window (what dom0's devices must never reach).
    [[nodiscard]] virtual uint64_t register_size() const { return page_size; }
    // Whether the unit's table walks snoop the processor caches; when not,
    // every table the unit reads must be written back after each change
    // (CacheMaintenance, WriteBackMemory).
    [[nodiscard]] virtual bool coherent() const { return true; }
    // The unit stopped answering or could not be set up: it was reported,
    // and every further request fails at once (Error::hardware_failure)
    // instead of waiting. The devices behind it are not protected.
    [[nodiscard]] virtual bool failed() const { return false; }
    // Whether attach(..., AttachMode::passthrough) can work (VT-d ECAP.PT).
    [[nodiscard]] virtual bool supports_passthrough() const { return true; }
    // The unit's interrupt remapping, when the driver implements it
    // (drivers/passthrough/interrupt_remapping.hpp); nullptr otherwise.
    [[nodiscard]] virtual InterruptRemapper* interrupt_remapper() { return nullptr; }
    // Turns interrupt remapping on (x2apic: destinations are x2APIC IDs).
    // Error::unsupported when the unit or its driver cannot.
    [[nodiscard]] virtual Status enable_interrupt_remapping(bool /*x2apic*/) { return Error::unsupported; }

protected:
    ~IommuUnit() = default;
};

// The units found at boot. Fixed capacity; units are owned by their vendor
// driver (static storage), the registry only lists them.
class UnitRegistry {
public:
    static constexpr size_t capacity = 16;

    [[nodiscard]] Status add(IommuUnit& unit) {
        if (count_ == capacity) return Error::capacity;
        units_[count_++] = &unit;
        return success();
    }
    [[nodiscard]] Span<IommuUnit* const> units() const { return Span<IommuUnit* const>(units_, count_); }
    // The unit that translates device, or nullptr.
    [[nodiscard]] IommuUnit* unit_for(const pci::PciAddress& device) const {
        for (size_t index = 0; index < count_; ++index)
            if (units_[index]->translates(device)) return units_[index];
        return nullptr;
    }

private:
    IommuUnit* units_[capacity] = {};
    size_t count_ = 0;
};

// What a vendor probe receives: the platform as boot discovered it and the
// services a driver may use.
struct Platform {
    const acpi::TableDirectory& tables;
    const MemoryMap& memory_map;
    const pci::DeviceList& devices;
    pci::ConfigurationAccess& configuration;
    pci::MmioMapper& mmio;
    PhysicalMemory& memory;
    PageAllocator& allocator;
    const Clock& clock;
    const IommuOptions& options;
    // For units that are not coherent; nullptr where no write-back is ever
    // needed (host tests of coherent units).
    CacheMaintenance* cache = nullptr;
};

// Takes the DMA faults every unit recorded (each driver decodes and reports
// what it takes), at most 32 per unit: a unit holds a fixed number of
// records, so a device that keeps faulting cannot hold the caller.
inline void take_recorded_faults(UnitRegistry& units) {
    for (IommuUnit* unit : units.units()) {
        if (!unit->reports_faults()) continue;
        DmaFault faults[8];
        for (unsigned round = 0; round < 4 && unit->take_faults(Span<DmaFault>(faults, 8)) != 0; ++round) {
        }
    }
}

}  // namespace sluice::passthrough
