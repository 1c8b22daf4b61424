// The p2m of a translated (HVM or PVH) domain: guest-physical to machine
// frames, held in EPT or NPT tables written by the one walker
// (mm/paging/page_table.hpp). The p2m knows nothing of IOMMUs: the identity
// map (drivers/passthrough/identity_map.hpp) writes it beside the IOMMU
// tables, and a VT-d unit that shares it only reads its root.
#pragma once

#include <mm/p2m/ept.hpp>
#include <mm/p2m/npt.hpp>
#include <mm/p2m/p2m_type.hpp>
#include <mm/paging/batch.hpp>
#include <mm/paging/page_table.hpp>
#include <mm/paging/paging.hpp>

#include <sluice/optional.hpp>
#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::p2m {

enum class P2mTableKind : uint8_t { none, ept, npt };
[[nodiscard]] const char* describe(P2mTableKind kind);

struct P2mConfiguration {
    P2mTableKind kind = P2mTableKind::none;
    EptFormat ept{4, true, true, 46};
    NptFormat npt{true, 48};

    [[nodiscard]] constexpr uint64_t last_input() const {
        return kind == P2mTableKind::ept ? ept.last_input() : npt.last_input();
    }
};

class P2m {
public:
    // Allocates the root. Error::invalid_argument for kind none,
    // Error::out_of_memory when no page is left.
    [[nodiscard]] static Result<P2m> create(const P2mConfiguration& configuration, PhysicalMemory& memory,
                                            PageAllocator& allocator);

    P2m(P2m&& other) = default;
    P2m(const P2m&) = delete;
    P2m& operator=(const P2m&) = delete;

    [[nodiscard]] P2mTableKind kind() const { return configuration_.kind; }
    [[nodiscard]] const P2mConfiguration& configuration() const { return configuration_; }
    [[nodiscard]] PhysicalAddress root() const { return root_; }
    [[nodiscard]] uint64_t last_input() const { return configuration_.last_input(); }

    // Every change goes into batch; the caller commits it once.
    [[nodiscard]] Status map(uint64_t address, uint64_t length, PhysicalAddress output, P2mAttributes attributes,
                             PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Status unmap(uint64_t address, uint64_t length, PageAllocator& allocator, paging::Batch& batch);
    [[nodiscard]] Optional<paging::Mapping<P2mAttributes>> lookup(uint64_t address) const;
    // True when any leaf lies in [address, address + length).
    [[nodiscard]] bool has_mappings(uint64_t address, uint64_t length) const;
    // Table pages reachable from the root.
    [[nodiscard]] uint64_t table_pages() const;
    // Hands every table page to the batch; the p2m is empty (no root) after.
    void release(paging::Batch& batch);

private:
    P2m(const P2mConfiguration& configuration, PhysicalMemory& memory, PageAllocator& allocator)
        : configuration_(configuration), memory_(&memory), allocator_(&allocator) {}

    template <typename Function> decltype(auto) with_walker(Function&& function) const;

    P2mConfiguration configuration_;
    PhysicalMemory* memory_;
    PageAllocator* allocator_;
    PhysicalAddress root_ = 0;
};

}  // namespace sluice::p2m
