// A handful of pages taken from an allocator before a change starts, so that
// undoing the change can never run out of memory.
#pragma once

#include <sluice/physical_memory.hpp>
#include <sluice/result.hpp>
#include <sluice/types.hpp>

namespace sluice::paging {

class PageReserve final : public PageAllocator {
public:
    static constexpr size_t capacity = 32;

    explicit PageReserve(PageAllocator& source) : source_(source) {}
    PageReserve(const PageReserve&) = delete;
    PageReserve& operator=(const PageReserve&) = delete;
    ~PageReserve() { release(); }

    // Takes `count` pages from the source; on failure gives back what it
    // took and returns the error.
    [[nodiscard]] Status fill(size_t count) {
        if (count > capacity) return Error::capacity;
        while (count_ < count) {
            const Result<PhysicalAddress> page = source_.allocate_page();
            if (!page.ok()) {
                release();
                return page.error();
            }
            pages_[count_++] = page.value();
        }
        return success();
    }

    // Hands out reserved pages only; never touches the source.
    [[nodiscard]] Result<PhysicalAddress> allocate_page() override {
        if (count_ == 0) return Error::out_of_memory;
        return pages_[--count_];
    }
    // Takes back a page it handed out (a table that was never linked).
    void free_page(PhysicalAddress page) override {
        if (count_ < capacity) pages_[count_++] = page;
        else source_.free_page(page);
    }

    // Returns every page still held to the source.
    void release() {
        while (count_ != 0) source_.free_page(pages_[--count_]);
    }
    [[nodiscard]] size_t available() const { return count_; }

private:
    PageAllocator& source_;
    PhysicalAddress pages_[capacity];
    size_t count_ = 0;
};

}  // namespace sluice::paging
