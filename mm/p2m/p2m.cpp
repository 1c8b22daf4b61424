#include <mm/p2m/p2m.hpp>

#include <sluice/log.hpp>
#include <sluice/utility.hpp>

namespace sluice::p2m {

namespace {
constexpr Logger logger{"p2m"};

using EptWalker = paging::PageTableWalker<EptFormat, PhysicalMemory>;
using NptWalker = paging::PageTableWalker<NptFormat, PhysicalMemory>;
}  // namespace

const char* describe(P2mTableKind kind) {
    switch (kind) {
    case P2mTableKind::none: return "none";
    case P2mTableKind::ept: return "EPT";
    case P2mTableKind::npt: return "NPT";
    }
    return "unknown";
}

Result<P2m> P2m::create(const P2mConfiguration& configuration, PhysicalMemory& memory, PageAllocator& allocator) {
    if (configuration.kind == P2mTableKind::none) {
        logger.error("a p2m needs a table format (EPT or NPT)");
        return Error::invalid_argument;
    }
    P2m p2m(configuration, memory, allocator);
    p2m.root_ = configuration.kind == P2mTableKind::ept ? SLUICE_TRY(EptWalker::create_root(memory, allocator))
                                                        : SLUICE_TRY(NptWalker::create_root(memory, allocator));
    return sluice::move(p2m);
}

template <typename Function> decltype(auto) P2m::with_walker(Function&& function) const {
    if (configuration_.kind == P2mTableKind::ept) {
        EptWalker walker(configuration_.ept, *memory_, root_, *allocator_);
        return function(walker);
    }
    NptWalker walker(configuration_.npt, *memory_, root_, *allocator_);
    return function(walker);
}

Status P2m::map(uint64_t address, uint64_t length, PhysicalAddress output, P2mAttributes attributes,
                PageAllocator& allocator, paging::Batch& batch) {
    return with_walker([&](auto& walker) { return walker.map(address, length, output, attributes, allocator, batch); });
}

Status P2m::unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch) {
    return with_walker([&](auto& walker) { return walker.unmap(address, length, allocator, batch); });
}

Optional<paging::Mapping<P2mAttributes>> P2m::lookup(uint64_t address) const {
    return with_walker([&](auto& walker) { return walker.lookup(address); });
}

bool P2m::has_mappings(uint64_t address, uint64_t length) const {
    return with_walker([&](auto& walker) {
        return !walker.for_each_mapping(address, length, [](const auto&) { return false; });
    });
}

uint64_t P2m::table_pages() const {
    if (root_ == 0) return 0;
    return with_walker([](auto& walker) { return walker.count_tables(); });
}

void P2m::release(paging::Batch& batch) {
    if (root_ != 0) with_walker([&](auto& walker) { walker.release_all(batch); });
    root_ = 0;
}

}  // namespace sluice::p2m
