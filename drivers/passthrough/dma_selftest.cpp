#include <drivers/passthrough/dma_selftest.hpp>
#include <drivers/passthrough/interrupt_remapping.hpp>
#include <drivers/pci/msi.hpp>
#include <drivers/pci/edu.hpp>

#include <sluice/cmdline.hpp>
#include <sluice/format.hpp>
#include <sluice/log.hpp>

namespace sluice::passthrough {
namespace {

constexpr Logger logger{"dma-selftest"};

bool requested = false;
SLUICE_BOOLEAN_PARAMETER("dma-selftest", requested);

unsigned long long printable(uint64_t value) { return static_cast<unsigned long long>(value); }

// Bytes per transfer, and at each end of a reserved region.
constexpr uint32_t transfer_length = 256;
constexpr uint32_t edge_length = 64;
// Where in the hardware domain's page data comes back to be compared.
constexpr uint64_t readback_offset = 2048;

enum class Expect : uint8_t { success, fault };

void fill_pattern(uint8_t* bytes, size_t length, uint8_t seed) {
    for (size_t index = 0; index < length; ++index) bytes[index] = static_cast<uint8_t>(seed + index * 7 + (index >> 8));
}

bool equal(const uint8_t* first, const uint8_t* second, size_t length) {
    for (size_t index = 0; index < length; ++index)
        if (first[index] != second[index]) return false;
    return true;
}

class Selftest {
public:
    Selftest(const Platform& platform, IommuSetup& setup, PhysicalAddress hypervisor_page, InterruptSink* interrupts)
        : platform_(platform), setup_(setup), hypervisor_page_(hypervisor_page), interrupts_(interrupts) {}

    SelftestResult run() {
        bool found = false;
        for (const pci::Device& device : platform_.devices.devices()) {
            if (!pci::EduDevice::matches(device)) continue;
            found = true;
            test_device(device);
        }
        if (!found) report("an edu device (PCI 1234:11e8) to drive", false, "none found");
        if (result_.skipped != 0)
            logger.info("%u passed, %u failed, %u not checked on this platform", result_.passed, result_.failed,
                        result_.skipped);
        else
            logger.info("%u passed, %u failed", result_.passed, result_.failed);
        return result_;
    }

private:
    // --- Reporting ---

    // Records the outcome of one check; on failure why_ (or the given text) says why.
    void report(const char* what, bool ok, const char* why = nullptr) {
        if (ok) {
            ++result_.passed;
            logger.info("%s ... ok", what);
        } else {
            ++result_.failed;
            logger.info("%s ... FAIL (%s)", what, why != nullptr ? why : why_);
        }
    }
    // A check this platform cannot show, said plainly; counted apart.
    void skip(const char* what, const char* why) {
        ++result_.skipped;
        logger.info("%s ... not checked (%s)", what, why);
    }
    bool fail(const char* pattern, ...) __attribute__((format(printf, 2, 3))) {
        __builtin_va_list arguments;
        __builtin_va_start(arguments, pattern);
        format_arguments(why_, sizeof why_, pattern, arguments);
        __builtin_va_end(arguments);
        return false;
    }

    // --- Faults ---

    void drain_faults() {
        if (unit_ == nullptr || !unit_->reports_faults()) return;
        DmaFault faults[8];
        while (unit_->take_faults(Span<DmaFault>(faults, 8)) != 0) {
        }
    }
    // The faults recorded since the last look.
    struct Recorded {
        size_t count = 0;
        DmaFault first{};
    };
    Recorded take_recorded() {
        Recorded recorded;
        if (unit_ == nullptr || !unit_->reports_faults()) return recorded;
        DmaFault faults[4];
        recorded.count = unit_->take_faults(Span<DmaFault>(faults, 4));
        if (recorded.count != 0) recorded.first = faults[0];
        return recorded;
    }
    bool expect_no_fault(const Recorded& recorded) {
        if (recorded.count == 0) return true;
        return fail("unexpected %s fault at 0x%llx from %s: %s", recorded.first.write ? "write" : "read",
                    printable(recorded.first.address), pci::describe(recorded.first.source).c_str(),
                    recorded.first.description);
    }
    bool expect_no_fault() { return expect_no_fault(take_recorded()); }
    // Exactly one fault, from the device, at the page of address, in the
    // direction given. Units that cannot report faults were judged by the
    // data alone.
    bool expect_fault(const Recorded& recorded, PhysicalAddress address, bool write) {
        if (unit_ == nullptr || !unit_->reports_faults()) return true;
        if (recorded.count == 0) return fail("blocked, but no fault was recorded");
        const DmaFault& fault = recorded.first;
        if (!(fault.source == device_)) return fail("fault recorded for %s", pci::describe(fault.source).c_str());
        if ((fault.address & ~page_mask) != (address & ~page_mask))
            return fail("fault recorded at 0x%llx, DMA was at 0x%llx", printable(fault.address), printable(address));
        if (fault.write != write) return fail("fault recorded as a %s", fault.write ? "write" : "read");
        if (recorded.count != 1) return fail("%zu faults recorded, one expected", recorded.count);
        return true;
    }

    // --- Memory as the processor sees it ---

    bool cpu_read(PhysicalAddress address, uint8_t* bytes, size_t length) {
        if (platform_.memory.read_bytes(address, bytes, length).ok()) return true;
        return fail("processor cannot read 0x%llx", printable(address));
    }
    bool cpu_write(PhysicalAddress address, const uint8_t* bytes, size_t length) {
        if (platform_.memory.write_bytes(address, bytes, length).ok()) return true;
        return fail("processor cannot write 0x%llx", printable(address));
    }

    // --- DMA through the device ---

    bool dma_in(PhysicalAddress address, uint32_t offset, uint32_t length) {
        const Status status = edu_->copy_from_memory(address, offset, length);
        if (status.ok()) return true;
        return fail("DMA from 0x%llx did not complete: %s", printable(address), describe(status.error()));
    }
    bool dma_out(uint32_t offset, PhysicalAddress address, uint32_t length) {
        const Status status = edu_->copy_to_memory(offset, address, length);
        if (status.ok()) return true;
        return fail("DMA to 0x%llx did not complete: %s", printable(address), describe(status.error()));
    }
    // Puts bytes into the device's buffer at offset 0 through the hardware
    // domain's page (which every mode maps), checking that worked.
    bool load_buffer(const uint8_t* bytes, uint32_t length) {
        return cpu_write(bounce_, bytes, length) && dma_in(bounce_, 0, length) && expect_no_fault();
    }
    // Copies the buffer's first length bytes out through the hardware
    // domain's page and returns them.
    bool unload_buffer(uint8_t* bytes, uint32_t length) {
        return dma_out(0, bounce_ + readback_offset, length) && expect_no_fault() &&
               cpu_read(bounce_ + readback_offset, bytes, length);
    }

    // The device reads target: the buffer holds poison first, then either
    // target's pattern (reached) or not (blocked). The data decides first,
    // then the fault record must agree.
    bool check_read(PhysicalAddress target, Expect expect, uint8_t seed) {
        uint8_t pattern[transfer_length], poison[transfer_length], seen[transfer_length];
        fill_pattern(pattern, transfer_length, seed);
        fill_pattern(poison, transfer_length, static_cast<uint8_t>(seed ^ 0x5a));
        drain_faults();
        if (!cpu_write(target, pattern, transfer_length) || !load_buffer(poison, transfer_length)) return false;
        if (!dma_in(target, 0, transfer_length)) return false;
        const Recorded recorded = take_recorded();
        if (!unload_buffer(seen, transfer_length)) return false;
        const bool reached = equal(seen, pattern, transfer_length);
        if (expect == Expect::success) {
            if (!reached) return fail("the device did not read what the processor wrote");
            return expect_no_fault(recorded);
        }
        // A blocked read leaves the buffer as it was or, on QEMU, fills it
        // with what unassigned memory reads as; either way not the pattern.
        if (reached) return fail("the device read the memory: not blocked");
        return expect_fault(recorded, target, false);
    }

    // The device writes target: it either gets the buffer's pattern (reached)
    // or keeps what the processor put there (blocked).
    bool check_write(PhysicalAddress target, Expect expect, uint8_t seed) {
        uint8_t before[transfer_length], pattern[transfer_length], seen[transfer_length];
        fill_pattern(before, transfer_length, static_cast<uint8_t>(seed ^ 0x3c));
        fill_pattern(pattern, transfer_length, seed);
        drain_faults();
        if (!cpu_write(target, before, transfer_length) || !load_buffer(pattern, transfer_length)) return false;
        if (!dma_out(0, target, transfer_length)) return false;
        const Recorded recorded = take_recorded();
        if (!cpu_read(target, seen, transfer_length)) return false;
        if (expect == Expect::success) {
            if (!equal(seen, pattern, transfer_length)) return fail("the device's write did not arrive");
            return expect_no_fault(recorded);
        }
        if (!equal(seen, before, transfer_length)) return fail("the device wrote the memory: not blocked");
        return expect_fault(recorded, target, true);
    }

    // --- The checks ---

    bool round_trip() {
        uint8_t pattern[transfer_length], seen[transfer_length];
        fill_pattern(pattern, transfer_length, 0x11);
        drain_faults();
        uint8_t zeros[transfer_length] = {};
        if (!cpu_write(bounce_ + readback_offset, zeros, transfer_length)) return false;
        if (!load_buffer(pattern, transfer_length) || !unload_buffer(seen, transfer_length)) return false;
        if (!equal(seen, pattern, transfer_length)) return fail("data came back different");
        return true;
    }

    // First or last bytes of a reserved region: the device reads what the
    // processor reads, and writing them back changes nothing.
    bool reserved_edge(const ReservedRegion& region, PhysicalAddress address) {
        uint8_t original[edge_length], poison[edge_length], seen[edge_length];
        if (!cpu_read(address, original, edge_length)) return false;
        for (uint32_t index = 0; index < edge_length; ++index) poison[index] = static_cast<uint8_t>(original[index] ^ 0xa5);
        drain_faults();
        if (paging::allows_read(region.access)) {
            if (!load_buffer(poison, edge_length) || !dma_in(address, 0, edge_length) || !expect_no_fault()) return false;
            if (!unload_buffer(seen, edge_length)) return false;
            if (!equal(seen, original, edge_length)) return fail("the device read other data than the processor reads");
        } else if (!load_buffer(original, edge_length)) {
            return false;
        }
        if (paging::allows_write(region.access)) {
            if (!dma_out(0, address, edge_length) || !expect_no_fault()) return false;
            if (!cpu_read(address, seen, edge_length)) return false;
            if (!equal(seen, original, edge_length)) return fail("writing the same bytes back changed them");
        }
        return true;
    }

    bool unmap_faults() {
        IommuContext& domain = *setup_.hardware_domain();
        const PhysicalAddress page = hypervisor_page_;
        {
            paging::Batch batch(domain.invalidation_targets());
            const Status mapped = identity_map(domain, page, page + page_size, paging::Access::read_write, batch);
            const Status committed = batch.commit();
            if (!mapped.ok() || !committed.ok())
                return fail("mapping 0x%llx failed: %s", printable(page),
                            describe(mapped.ok() ? committed.error() : mapped.error()));
        }
        // Mapped: the device reaches it (and the unit caches the translation).
        const bool reached = check_write(page, Expect::success, 0x77);
        paging::Batch batch(domain.invalidation_targets());
        const Status unmapped = identity_unmap(domain, page, page + page_size, batch);
        const Status committed = batch.commit();
        if (!reached) return false;
        if (!unmapped.ok() || !committed.ok())
            return fail("unmapping 0x%llx failed: %s", printable(page),
                        describe(unmapped.ok() ? committed.error() : unmapped.error()));
        return check_write(page, Expect::fault, 0x99);
    }

    void test_device(const pci::Device& device) {
        device_ = device.address;
        const pci::PciAddressText name = pci::describe(device.address);
        char what[192];
        const Result<pci::EduDevice> opened =
            pci::EduDevice::open(device, platform_.configuration, platform_.mmio, platform_.clock);
        format(what, sizeof what, "%s: edu DMA engine answers", name.c_str());
        report(what, opened.ok(), "see the edu error above");
        if (!opened.ok()) return;
        pci::EduDevice edu = opened.value();
        edu_ = &edu;
        unit_ = setup_.units().unit_for(device.address);
        IommuContext* domain = setup_.hardware_domain();

        // What the IOMMU should do for this device.
        const bool translated = setup_.state() != ProtectionState::disabled &&
                                !(setup_.passthrough_active() && unit_ != nullptr && unit_->supports_passthrough());
        const bool strict = translated && setup_.policy().mode == HardwareDomainIommuMode::strict;
        const char* mode = !translated ? (setup_.state() == ProtectionState::disabled ? "no IOMMU" : "pass-through")
                                       : describe(setup_.policy().mode);

        if (domain == nullptr || setup_.hardware_domain_memory().empty()) {
            format(what, sizeof what, "%s: a page of the hardware domain", name.c_str());
            report(what, false, "the hardware domain has no memory");
            return;
        }
        bounce_ = setup_.hardware_domain_memory()[0].start;
        format(what, sizeof what, "%s: round trip through hardware-domain page 0x%llx (%s)", name.c_str(),
               printable(bounce_), mode);
        const bool bounce_works = round_trip();
        report(what, bounce_works);
        if (!bounce_works) {
            format(what, sizeof what, "%s: remaining checks", name.c_str());
            report(what, false, "they need the hardware domain's page");
            return;
        }

        for (const ReservedRegion& region : setup_.reserved_regions().regions()) {
            if (!region.devices.contains(device.address)) continue;
            char origin[96];
            format_origin(origin, sizeof origin, region);
            format(what, sizeof what, "%s: %s 0x%llx-0x%llx, first %u bytes", name.c_str(), origin,
                   printable(region.base), printable(region.end - 1), edge_length);
            report(what, reserved_edge(region, region.base));
            format(what, sizeof what, "%s: %s 0x%llx-0x%llx, last %u bytes", name.c_str(), origin,
                   printable(region.base), printable(region.end - 1), edge_length);
            report(what, reserved_edge(region, region.end - edge_length));
        }

        // RAM that is neither the hardware domain's nor in the hypervisor's use.
        const Result<PhysicalAddress> free_page = platform_.allocator.allocate_page();
        if (!free_page.ok()) {
            format(what, sizeof what, "%s: RAM the hardware domain does not own", name.c_str());
            report(what, false, "no free page to test with");
        } else {
            const Expect expect = strict ? Expect::fault : Expect::success;
            const char* expected = strict ? "must fault" : "must succeed";
            format(what, sizeof what, "%s: read of free RAM 0x%llx, not the hardware domain's (%s: %s)", name.c_str(),
                   printable(free_page.value()), mode, expected);
            report(what, check_read(free_page.value(), expect, 0x21));
            format(what, sizeof what, "%s: write to free RAM 0x%llx, not the hardware domain's (%s: %s)", name.c_str(),
                   printable(free_page.value()), mode, expected);
            report(what, check_write(free_page.value(), expect, 0x32));
            platform_.allocator.free_page(free_page.value());
        }

        // The hypervisor's own memory.
        const Expect expect = translated ? Expect::fault : Expect::success;
        const char* expected = translated ? "must fault" : "must succeed";
        format(what, sizeof what, "%s: read of hypervisor memory 0x%llx (%s: %s)", name.c_str(),
               printable(hypervisor_page_), mode, expected);
        report(what, check_read(hypervisor_page_, expect, 0x43));
        format(what, sizeof what, "%s: write to hypervisor memory 0x%llx (%s: %s)", name.c_str(),
               printable(hypervisor_page_), mode, expected);
        report(what, check_write(hypervisor_page_, expect, 0x54));

        if (translated) {
            format(what, sizeof what, "%s: 0x%llx mapped, reached, unmapped in one batch, then faults (%s)",
                   name.c_str(), printable(hypervisor_page_), mode);
            report(what, unmap_faults());
        }
        drain_faults();
        InterruptRemapper* remapper = unit_ != nullptr ? unit_->interrupt_remapper() : nullptr;
        if (interrupts_ != nullptr && remapper != nullptr && remapper->remaps_interrupts())
            test_interrupts(*remapper, name.c_str());
        drain_faults();
        edu_ = nullptr;
    }

    // --- Interrupts (interrupt remapping) ---

    // Waits up to 100 ms for a new arrival on vector.
    bool arrived(uint8_t vector, uint64_t before) {
        return poll_until(platform_.clock, 100'000'000, [&] {
            interrupts_->take_pending_interrupts();
            return interrupts_->arrivals(vector) != before;
        });
    }
    // The device writes `data` to `address` (a DMA write into the interrupt
    // range, as a forged MSI is).
    bool forge(uint64_t address, uint32_t data) {
        uint8_t bytes[4];
        for (unsigned index = 0; index < 4; ++index) bytes[index] = static_cast<uint8_t>(data >> (8 * index));
        return load_buffer(bytes, 4) && dma_out(0, address, 4);
    }
    // Nothing arrived on vector and the unit recorded `reason` for the device.
    bool blocked(uint8_t vector, uint64_t before, uint8_t reason, bool faults_recorded) {
        if (arrived(vector, before)) return fail("vector 0x%x arrived", vector);
        if (!unit_->reports_faults() || !faults_recorded) return true;
        DmaFault faults[4];
        const size_t count = unit_->take_faults(Span<DmaFault>(faults, 4));
        for (size_t index = 0; index < count; ++index)
            if (faults[index].source == device_ && faults[index].reason == reason) return true;
        if (count == 0) return fail("blocked, but no fault was recorded");
        return fail("fault reason 0x%x recorded, 0x%x expected", faults[0].reason, reason);
    }

    void test_interrupts(InterruptRemapper& remapper, const char* name) {
        char what[192];
        const Result<uint8_t> vector = interrupts_->take_vector();
        const Result<uint8_t> other_vector = interrupts_->take_vector();
        if (!vector.ok() || !other_vector.ok()) {
            format(what, sizeof what, "%s: interrupt checks", name);
            report(what, false, "no free vector");
            return;
        }
        const InterruptTarget target{vector.value(), interrupts_->destination()};
        InterruptBatch batch;
        const Result<RemappedInterrupt> mine = batch.allocate(remapper, device_.requester_id(), target);
        // An entry for another requester (the host bridge, 00:00.0).
        const pci::PciAddress other{device_.segment, 0, 0, 0};
        // Two of its entries, the second used below: on AMD-Vi, where each
        // device has its own table, the second's index is one edu's table
        // does not hold, so the check is about the other device's entry.
        const Result<RemappedInterrupt> theirs_first =
            batch.allocate(remapper, other.requester_id(), InterruptTarget{other_vector.value(), target.destination});
        const Result<RemappedInterrupt> theirs =
            batch.allocate(remapper, other.requester_id(), InterruptTarget{other_vector.value(), target.destination});
        const Status committed = batch.commit();
        format(what, sizeof what, "%s: MSI through remapped entry 0x%x arrives on vector 0x%x", name,
               mine.ok() ? mine.value().index : 0, vector.value());
        if (!mine.ok() || !theirs_first.ok() || !theirs.ok() || !committed.ok()) {
            report(what, false, "the entries could not be written");
        } else {
            const MsiMessage message = remapper.message_for(mine.value().index);
            const Status enabled = pci::enable_msi(platform_.configuration, device_, message.address, message.data);
            uint64_t before = interrupts_->arrivals(vector.value());
            edu_->raise_interrupt(1);
            const bool ok = enabled.ok() && arrived(vector.value(), before);
            edu_->acknowledge_interrupt(1);
            report(what, ok && expect_no_fault(), enabled.ok() ? "it did not arrive" : "edu has no MSI capability");

            const InterruptEnforcement enforcement = remapper.enforcement();
            format(what, sizeof what, "%s: forged compatibility-format write to 0xfee00000 (vector 0x%x) is blocked",
                   name, vector.value());
            if (enforcement.compatibility_format_blocked) {
                before = interrupts_->arrivals(vector.value());
                report(what, forge(0xfee0'0000, vector.value()) &&
                                 blocked(vector.value(), before, 0x25, enforcement.faults_recorded));
            } else {
                skip(what, enforcement.why_not);
            }

            // The last entry of the table is never handed out here.
            const uint32_t unused = 255;
            format(what, sizeof what, "%s: remappable write naming unallocated entry %u is blocked", name, unused);
            const MsiMessage unallocated = remapper.message_for(unused);
            before = interrupts_->arrivals(vector.value());
            report(what, forge(unallocated.address, unallocated.data) &&
                             blocked(vector.value(), before, 0x22, enforcement.faults_recorded));

            format(what, sizeof what, "%s: remappable write naming entry 0x%x of %s is blocked", name,
                   theirs.value().index, pci::describe(other).c_str());
            if (enforcement.requester_validated) {
                const MsiMessage stolen = remapper.message_for(theirs.value().index);
                before = interrupts_->arrivals(other_vector.value());
                const uint64_t own_before = interrupts_->arrivals(vector.value());
                report(what, forge(stolen.address, stolen.data) &&
                                 blocked(other_vector.value(), before, 0x26, enforcement.faults_recorded) &&
                                 (interrupts_->arrivals(vector.value()) == own_before ||
                                  fail("vector 0x%x arrived", vector.value())));
            } else {
                skip(what, enforcement.why_not);
            }

            // Freed and invalidated in one batch: the device's own MSI no
            // longer arrives.
            format(what, sizeof what, "%s: MSI after entry 0x%x is freed (one batch) is blocked", name,
                   mine.value().index);
            const bool freed = batch.free(mine.value()).ok() && batch.free(theirs_first.value()).ok() &&
                               batch.free(theirs.value()).ok() && batch.commit().ok();
            before = interrupts_->arrivals(vector.value());
            edu_->raise_interrupt(1);
            const bool stopped = freed && blocked(vector.value(), before, 0x22, enforcement.faults_recorded);
            edu_->acknowledge_interrupt(1);
            report(what, stopped, freed ? nullptr : "the entries could not be freed");
            (void)pci::disable_msi(platform_.configuration, device_);
        }
        interrupts_->release_vector(vector.value());
        interrupts_->release_vector(other_vector.value());
    }

    const Platform& platform_;
    IommuSetup& setup_;
    PhysicalAddress hypervisor_page_;
    InterruptSink* interrupts_;
    SelftestResult result_{};
    pci::EduDevice* edu_ = nullptr;
    IommuUnit* unit_ = nullptr;
    pci::PciAddress device_{};
    PhysicalAddress bounce_ = 0;
    char why_[160] = {};
};

}  // namespace

bool dma_selftest_requested() { return requested; }

SelftestResult run_dma_selftest(const Platform& platform, IommuSetup& setup, PhysicalAddress hypervisor_page,
                                InterruptSink* interrupts) {
    logger.info("driving every edu device (IOMMU: %s, %s)", setup.vendor(), describe(setup.state()));
    Selftest test(platform, setup, hypervisor_page, interrupts);
    return test.run();
}

}  // namespace sluice::passthrough
