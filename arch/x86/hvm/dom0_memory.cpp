#include "arch/x86/hvm/dom0_memory.hpp"

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::x86::hvm {
namespace {

constexpr Logger logger{"dom0"};

}  // namespace

Optional<PhysicalAddress> DomainPhysicalMap::ram(uint64_t address, bool write) const {
    const Optional<paging::Mapping<p2m::P2mAttributes>> mapping = domain_->p2m()->lookup(address);
    if (!mapping.has_value()) return {};
    const p2m::P2mAttributes& attributes = mapping.value().attributes;
    if (attributes.type != p2m::P2mType::ram) return {};
    if (write ? !paging::allows_write(attributes.access) : !paging::allows_read(attributes.access)) return {};
    return mapping.value().output + (address - mapping.value().input);
}

Status DomainPhysicalMap::map_io(uint64_t address, uint64_t length, paging::Batch& batch) {
    passthrough::IommuContext& context = *domain_->iommu();
    return domain_->p2m()->map(address, length, address,
                               p2m::P2mAttributes{paging::Access::read_write, p2m::P2mType::mmio_direct},
                               context.allocator(), batch);
}

Status DomainPhysicalMap::map_ram(uint64_t guest, uint64_t length, PhysicalAddress machine, paging::Batch& batch) {
    // A PVH dom0 is always strict, and its devices see exactly what its
    // vCPUs see: the same translation in both tables, in one batch.
    passthrough::IommuContext& context = *domain_->iommu();
    SLUICE_TRY(domain_->p2m()->map(guest, length, machine,
                                   p2m::P2mAttributes{paging::Access::read_write, p2m::P2mType::ram},
                                   context.allocator(), batch));
    if (context.shares_p2m_with_iommu()) return success();
    return context.iommu_map(guest, length, machine, paging::Access::read_write, context.allocator(), batch);
}

namespace {

constexpr uint64_t large_page = 2 * MiB;

// Machine frames handed out in order, except that a run may be started a
// little further on so that machine and guest-physical addresses agree
// modulo 2 MiB and the walker can use 2 MiB leaves; the frames passed over
// are remembered and handed out last.
class MachineCursor {
public:
    explicit MachineCursor(const passthrough::RangeSet& machine) : next_(machine.begin()), end_(machine.end()) {}

    // The next run for guest-physical `guest`, at most `wanted` bytes.
    [[nodiscard]] Optional<passthrough::AddressRange> take(uint64_t guest, uint64_t wanted) {
        while (next_ != end_) {
            const uint64_t available = next_->length() - offset_;
            const PhysicalAddress here = next_->start + offset_;
            const uint64_t skip = (guest - here) & (large_page - 1);
            if (skip != 0 && wanted >= large_page && skip < available && skipped_count_ < skipped_capacity) {
                skipped_[skipped_count_++] = passthrough::AddressRange{here, here + skip};
                offset_ += skip;
                continue;
            }
            const uint64_t length = min(wanted, available);
            offset_ += length;
            if (offset_ == next_->length()) {
                ++next_;
                offset_ = 0;
            }
            return passthrough::AddressRange{here, here + length};
        }
        // The frames passed over, in order.
        while (skipped_used_ < skipped_count_) {
            passthrough::AddressRange& piece = skipped_[skipped_used_];
            const uint64_t length = min(wanted, piece.length());
            const passthrough::AddressRange run{piece.start, piece.start + length};
            piece.start += length;
            if (piece.length() == 0) ++skipped_used_;
            return run;
        }
        return {};
    }

private:
    static constexpr size_t skipped_capacity = 16;
    const passthrough::AddressRange* next_;
    const passthrough::AddressRange* end_;
    uint64_t offset_ = 0;
    passthrough::AddressRange skipped_[skipped_capacity] = {};
    size_t skipped_count_ = 0;
    size_t skipped_used_ = 0;
};

}  // namespace

Result<uint64_t> back_guest_ram(DomainPhysicalMap& map, const MemoryMap& guest_map,
                                const passthrough::RangeSet& machine, paging::Batch& batch) {
    MachineCursor cursor(machine);
    uint64_t identical = 0;
    for (const MemoryRegion& region : guest_map.regions()) {
        if (region.type != MemoryType::ram) continue;
        for (uint64_t done = 0; done < region.length;) {
            const uint64_t guest = region.base + done;
            const Optional<passthrough::AddressRange> run = cursor.take(guest, region.length - done);
            if (!run.has_value()) {
                logger.error("fewer machine frames than guest RAM: guest-physical 0x%llx onwards has none",
                             static_cast<unsigned long long>(guest));
                return Error::capacity;
            }
            const uint64_t length = run.value().length();
            const Status mapped = map.map_ram(guest, length, run.value().start, batch);
            if (!mapped.ok()) {
                logger.error("cannot map guest-physical 0x%llx-0x%llx to machine 0x%llx: %s",
                             static_cast<unsigned long long>(guest), static_cast<unsigned long long>(guest + length - 1),
                             static_cast<unsigned long long>(run.value().start), describe(mapped.error()));
                return mapped.error();
            }
            if (guest == run.value().start) identical += length / page_size;
            done += length;
        }
    }
    return identical;
}

uint64_t map_device_holes(DomainPhysicalMap& map, const MemoryMap& host, const passthrough::RangeSet& excluded,
                          paging::Batch& batch) {
    passthrough::FixedRangeSet<256> holes;
    bool complete = holes.add({0, uint64_t{1} << 32}).ok();
    for (const MemoryRegion& region : host.regions())
        complete = holes.remove({align_down(region.base, page_size), align_up(region.end(), page_size)}).ok() && complete;
    complete = holes.remove(excluded).ok() && complete;
    if (!complete) logger.warning("too many device-memory ranges: some holes below 4 GiB stay unmapped");
    uint64_t mapped = 0;
    for (const passthrough::AddressRange& range : holes) {
        const Status status = map.map_io(range.start, range.length(), batch);
        if (!status.ok()) {
            logger.warning("device memory 0x%llx-0x%llx could not be mapped for dom0: %s",
                           static_cast<unsigned long long>(range.start), static_cast<unsigned long long>(range.end - 1),
                           describe(status.error()));
            continue;
        }
        mapped += range.length();
    }
    return mapped;
}

}  // namespace sluice::x86::hvm
