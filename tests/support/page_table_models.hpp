// Plain models the page-table tests compare against: an interval map of what
// should be mapped, a memory that records every store, and a model IOMMU
// whose IOTLB and paging-structure cache apply each invalidation exactly as
// its scope is defined.
#pragma once

#include "support/test_effort.hpp"

#include "support/reference_walkers.hpp"
#include "support/simulated_machine.hpp"

#include <mm/paging/batch.hpp>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::testing {

// What should be mapped: disjoint intervals of input addresses, each with
// the output of its first byte and attributes. Overwrites split neighbours.
template <typename Attributes> class IntervalModel {
public:
    struct Interval {
        uint64_t last;
        uint64_t output;
        Attributes attributes;
    };
    struct Hit {
        uint64_t output;  // for the queried address
        Attributes attributes;
    };

    void assign(uint64_t start, uint64_t last, uint64_t output, Attributes attributes) {
        erase(start, last);
        intervals_[start] = Interval{last, output, attributes};
    }

    void erase(uint64_t start, uint64_t last) {
        split_at(start);
        if (last != ~uint64_t{0}) split_at(last + 1);
        auto it = intervals_.lower_bound(start);
        while (it != intervals_.end() && it->first <= last) it = intervals_.erase(it);
    }

    [[nodiscard]] std::optional<Hit> lookup(uint64_t address) const {
        auto it = intervals_.upper_bound(address);
        if (it == intervals_.begin()) return std::nullopt;
        --it;
        if (address > it->second.last) return std::nullopt;
        return Hit{it->second.output + (address - it->first), it->second.attributes};
    }

    [[nodiscard]] const std::map<uint64_t, Interval>& intervals() const { return intervals_; }
    [[nodiscard]] bool empty() const { return intervals_.empty(); }

private:
    void split_at(uint64_t address) {
        auto it = intervals_.upper_bound(address);
        if (it == intervals_.begin()) return;
        --it;
        if (it->first == address || address > it->second.last) return;
        const Interval tail{it->second.last, it->second.output + (address - it->first), it->second.attributes};
        it->second.last = address - 1;
        intervals_[address] = tail;
    }

    std::map<uint64_t, Interval> intervals_;
};

// A PhysicalMemory over a SimulatedMemory that logs every 64-bit store (and
// a zeroed page as 512 stores) while recording is on, so a test can rewind
// an operation and replay it store by store.
class RecordingMemory final : public PhysicalMemory {
public:
    struct Store {
        PhysicalAddress address;
        uint64_t old_value;
        uint64_t new_value;
    };

    explicit RecordingMemory(SimulatedMemory& memory) : memory_(memory) {}

    uint64_t read64(PhysicalAddress address) const override { return memory_.read64(address); }
    void write64(PhysicalAddress address, uint64_t value) override {
        if (address % 8 != 0) throw std::logic_error("unaligned entry store");
        if (recording_) stores_.push_back({address, memory_.read64(address), value});
        memory_.write64(address, value);
        ++store_count_;
    }
    void zero_page(PhysicalAddress page) override {
        if (recording_)
            for (uint64_t offset = 0; offset < page_size; offset += 8)
                stores_.push_back({page + offset, memory_.read64(page + offset), 0});
        memory_.zero_page(page);
    }
    Status read_bytes(PhysicalAddress address, void* destination, size_t length) const override {
        return memory_.read_bytes(address, destination, length);
    }
    Status write_bytes(PhysicalAddress address, const void* source, size_t length) override {
        if (recording_) throw std::logic_error("page tables must be written one entry at a time");
        return memory_.write_bytes(address, source, length);
    }

    void start_recording() {
        stores_.clear();
        recording_ = true;
    }
    std::vector<Store> stop_recording() {
        recording_ = false;
        return std::move(stores_);
    }
    [[nodiscard]] uint64_t store_count() const { return store_count_; }
    SimulatedMemory& simulated() { return memory_; }

private:
    SimulatedMemory& memory_;
    bool recording_ = false;
    std::vector<Store> stores_;
    uint64_t store_count_ = 0;
};

// A model IOMMU unit: an IOTLB of leaf translations (and, when it caches
// not-present entries, of faults), a paging-structure cache of table
// pointers, and invalidations applied exactly to their scope.
class ModelIommu final : public paging::InvalidationUnit {
public:
    struct Invalidation {
        bool domain;  // domain-selective
        uint16_t domain_id;
        uint64_t address;
        unsigned order;
        bool leaf_only;
    };

    ModelIommu(const PhysicalMemory& memory, const ReferenceWalker& walker, paging::InvalidationCapabilities capabilities)
        : memory_(memory), walker_(walker), capabilities_(capabilities) {}

    void set_root(uint16_t domain_id, uint64_t root) { roots_[domain_id] = root; }
    // A deliberately faulty unit for negative controls: it keeps its
    // paging-structure cache whatever the invalidation says.
    void keep_paging_structures_always(bool keep) { keep_paging_structures_ = keep; }
    // The next wait() fails with `error` (a unit that timed out).
    void fail_next_wait(Error error) { wait_failure_ = error; }

    paging::InvalidationCapabilities invalidation_capabilities() const override { return capabilities_; }
    Status invalidate_pages(uint16_t domain_id, uint64_t address, unsigned order, bool leaf_only) override {
        log_.push_back({false, domain_id, address, order, leaf_only});
        if (address % (uint64_t{4096} << order) != 0) throw std::logic_error("unaligned page-selective invalidation");
        if (order > capabilities_.max_page_order || !capabilities_.page_selective)
            throw std::logic_error("page-selective invalidation beyond the unit's capability");
        const uint64_t last = address + ((uint64_t{4096} << order) - 1);
        // A cached leaf goes only when the block covers all of it: for a
        // superpage, software must give a mask at least as large as the page
        // (VT-d spec, Invalidate Address Register, AM field: "at least 9" for
        // 2 MiB), and hardware may keep it after a smaller one.
        for (auto it = translations_.begin(); it != translations_.end();) {
            const Cached& cached = it->second;
            const bool hit = cached.domain_id == domain_id && address <= cached.base &&
                             cached.base + (cached.size - 1) <= last;
            it = hit ? translations_.erase(it) : std::next(it);
        }
        if (!leaf_only && !keep_paging_structures_) {
            for (auto it = structures_.begin(); it != structures_.end();) {
                const CachedTable& cached = it->second;
                const bool hit = it->first.domain_id == domain_id && cached.base <= last &&
                                 address <= cached.base + (cached.span - 1);
                it = hit ? structures_.erase(it) : std::next(it);
            }
        }
        pending_ = true;
        return success();
    }
    Status invalidate_domain(uint16_t domain_id) override {
        log_.push_back({true, domain_id, 0, 0, false});
        for (auto it = translations_.begin(); it != translations_.end();)
            it = it->second.domain_id == domain_id ? translations_.erase(it) : std::next(it);
        for (auto it = structures_.begin(); it != structures_.end();)
            it = it->first.domain_id == domain_id ? structures_.erase(it) : std::next(it);
        pending_ = true;
        return success();
    }
    Status wait() override {
        ++waits_;
        pending_ = false;
        if (wait_failure_) {
            const Error error = *wait_failure_;
            wait_failure_.reset();
            return error;
        }
        return success();
    }

    // A DMA translation as the device would get it: from the IOTLB when
    // cached, else walked (starting from the deepest cached table) and cached.
    ReferenceTranslation translate(uint16_t domain_id, uint64_t address) {
        const uint64_t page = address & ~uint64_t{4095};
        // Any cached leaf covering the page.
        for (uint64_t size = 4096; size != 0 && size <= (uint64_t{1} << 57); size <<= 9) {
            auto it = translations_.find(Key{domain_id, page & ~(size - 1), size});
            if (it == translations_.end()) continue;
            ReferenceTranslation result = it->second.translation;
            if (result.translated()) result.output = it->second.translation.output + (address - it->second.base);
            return result;
        }
        uint64_t table = roots_.at(domain_id);
        unsigned level = walker_.levels();
        bool read = true, write = true, user = true;
        for (unsigned candidate = 1; candidate < walker_.levels(); ++candidate) {
            const uint64_t span = uint64_t{1} << reference_shift(candidate + 1);
            auto it = structures_.find(TableKey{domain_id, candidate, address & ~(span - 1)});
            if (it == structures_.end()) continue;
            table = it->second.table;
            level = candidate;
            read = it->second.read;
            write = it->second.write;
            user = it->second.user;
            break;
        }
        if (address > walker_.last_input()) {
            ReferenceTranslation fault;
            fault.fault = ReferenceFault::address_too_wide;
            return fault;
        }
        const ReferenceWalker::TableVisitor visitor = [&](unsigned table_level, uint64_t next, bool r, bool w, bool u) {
            const uint64_t span = uint64_t{1} << reference_shift(table_level + 1);
            structures_[TableKey{domain_id, table_level, address & ~(span - 1)}] =
                CachedTable{next, address & ~(span - 1), span, r, w, u};
        };
        ReferenceTranslation result = walker_.translate_from(memory_, table, level, address, read, write, user, &visitor);
        if (result.translated()) {
            ReferenceTranslation stored = result;
            stored.output = result.output - (address - result.page_base);
            translations_[Key{domain_id, result.page_base, result.page_size}] =
                Cached{domain_id, result.page_base, result.page_size, stored};
        } else if (capabilities_.caches_not_present) {
            translations_[Key{domain_id, page, 4096}] = Cached{domain_id, page, 4096, result};
        }
        return result;
    }

    [[nodiscard]] const std::vector<Invalidation>& log() const { return log_; }
    void clear_log() { log_.clear(); }
    [[nodiscard]] uint64_t waits() const { return waits_; }
    [[nodiscard]] bool pending() const { return pending_; }
    [[nodiscard]] size_t cached_translations() const { return translations_.size(); }
    [[nodiscard]] size_t cached_tables() const { return structures_.size(); }

private:
    struct Key {
        uint16_t domain_id;
        uint64_t base;
        uint64_t size;
        bool operator<(const Key& other) const {
            return std::tie(domain_id, base, size) < std::tie(other.domain_id, other.base, other.size);
        }
    };
    struct Cached {
        uint16_t domain_id;
        uint64_t base;
        uint64_t size;
        ReferenceTranslation translation;  // output of `base`
    };
    struct TableKey {
        uint16_t domain_id;
        unsigned level;   // level of the cached table
        uint64_t prefix;  // input address of the span it translates
        bool operator<(const TableKey& other) const {
            return std::tie(domain_id, level, prefix) < std::tie(other.domain_id, other.level, other.prefix);
        }
    };
    struct CachedTable {
        uint64_t table;
        uint64_t base;
        uint64_t span;
        bool read, write, user;
    };

    const PhysicalMemory& memory_;
    const ReferenceWalker& walker_;
    paging::InvalidationCapabilities capabilities_;
    std::map<uint16_t, uint64_t> roots_;
    std::map<Key, Cached> translations_;
    std::map<TableKey, CachedTable> structures_;
    std::vector<Invalidation> log_;
    std::optional<Error> wait_failure_;
    uint64_t waits_ = 0;
    bool pending_ = false;
    bool keep_paging_structures_ = false;
};

// The seed for a randomized test: SLUICE_SEED when set, else a fixed one;
// printed on failure by the test so the run can be replayed.
inline uint64_t test_seed(uint64_t fallback) {
    if (const char* text = std::getenv("SLUICE_SEED")) return std::strtoull(text, nullptr, 0);
    return fallback;
}
// SLUICE_OPERATIONS when set, else the fallback scaled by SLUICE_TEST_EFFORT.
inline uint64_t test_operations(uint64_t fallback) {
    if (const char* text = std::getenv("SLUICE_OPERATIONS")) return std::strtoull(text, nullptr, 0);
    return scaled_by_effort(fallback);
}

}  // namespace sluice::testing
