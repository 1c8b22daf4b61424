// Printing of the AMD-Vi Extended Feature Register (see registers.hpp).
#include <drivers/passthrough/amd/registers.hpp>

#include <sluice/format.hpp>

namespace sluice::amd {

size_t describe_extended_features(ExtendedFeatures features, char* buffer, size_t capacity) {
    if (capacity == 0) return 0;
    size_t length = format(buffer, capacity, "EFR 0x%016llx:", static_cast<unsigned long long>(features.value));
    const auto append = [&](const char* text) {
        if (length < capacity) length += format(buffer + length, capacity - length, " %s", text);
    };
    struct Flag {
        bool present;
        const char* name;
    };
    const Flag flags[] = {
        {features.prefetch_supported(), "PreFSup"},
        {features.ppr_supported(), "PPRSup"},
        {features.x2apic_supported(), "XTSup"},
        {features.no_execute_supported(), "NXSup"},
        {features.guest_translation_supported(), "GTSup"},
        {features.invalidate_all_supported(), "IASup"},
        {features.guest_virtual_apic_supported(), "GASup"},
        {features.hardware_error_registers_supported(), "HESup"},
        {features.performance_counters_supported(), "PCSup"},
        {features.user_supervisor_supported(), "USSup"},
        {features.msi_capability_mmio_supported(), "MsiCapMmioSup"},
        {features.guest_io_protection_supported(), "GIoSup"},
        {features.host_access_supported(), "HASup"},
        {features.enhanced_ppr_supported(), "EPHSup"},
        {features.host_dirty_supported(), "HDSup"},
    };
    for (const Flag& flag : flags)
        if (flag.present) append(flag.name);
    if (length < capacity) {
        const uint8_t levels = features.maximum_host_levels();
        if (levels != 0)
            length += format(buffer + length, capacity - length, " HATS=%u (%u levels)",
                             features.host_address_translation_size(), levels);
        else
            length += format(buffer + length, capacity - length, " HATS=3 (reserved)");
    }
    if (length < capacity)
        length += format(buffer + length, capacity - length, " GATS=%u GLXSup=%u PASmax=%u",
                         features.guest_address_translation_size(), features.guest_cr3_levels_supported(),
                         features.pasid_max());
    return length < capacity ? length : capacity - 1;
}

void print_extended_features(const Logger& logger, PhysicalAddress unit_base, ExtendedFeatures features) {
    char line[200];
    describe_extended_features(features, line, sizeof line);
    logger.info("IOMMU at 0x%llx: %s", static_cast<unsigned long long>(unit_base), line);
}

}  // namespace sluice::amd
