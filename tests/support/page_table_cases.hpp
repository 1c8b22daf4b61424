// The four formats as the page-table tests drive them: a format value for
// the code under test, the matching reference walker, random attributes and
// how a reference translation must look for given attributes.
#pragma once

#include "support/reference_walkers.hpp"

#include <drivers/passthrough/page_table_amd.hpp>
#include <drivers/passthrough/page_table_vtd.hpp>
#include <mm/p2m/ept.hpp>
#include <mm/p2m/npt.hpp>

#include <memory>
#include <random>
#include <string>

namespace sluice::testing {

inline paging::Access random_iommu_access(std::mt19937_64& random) {
    static constexpr paging::Access choices[] = {paging::Access::read_write, paging::Access::read_write,
                                                 paging::Access::read, paging::Access::write};
    return choices[random() % 4];
}

struct IommuCaseBase {
    using Attributes = passthrough::IommuAttributes;
    static Attributes random_attributes(std::mt19937_64& random) { return Attributes{random_iommu_access(random)}; }
    static bool matches(const ReferenceTranslation& translation, Attributes attributes) {
        return translation.read == paging::allows_read(attributes.access) &&
               translation.write == paging::allows_write(attributes.access);
    }
    static std::string describe(Attributes attributes) { return paging::describe(attributes.access); }
};

struct VtdCase : IommuCaseBase {
    using Format = passthrough::VtdSecondLevelFormat;
    static constexpr const char* name = "vtd";
    static constexpr unsigned host_address_width = 46;
    static Format format() { return Format(4, true, true, false, 48, host_address_width); }
    static std::unique_ptr<ReferenceWalker> reference() {
        return std::make_unique<VtdReference>(4, true, true, host_address_width);
    }
};

struct AmdCase : IommuCaseBase {
    using Format = passthrough::AmdV1Format;
    static constexpr const char* name = "amd";
    static Format format() { return Format(4, 3, 48); }
    static std::unique_ptr<ReferenceWalker> reference() { return std::make_unique<AmdReference>(4); }
};

struct P2mCaseBase {
    using Attributes = p2m::P2mAttributes;
    static Attributes random_attributes(std::mt19937_64& random) {
        return Attributes{random() % 3 == 0 ? paging::Access::read : paging::Access::read_write,
                          random() % 2 == 0 ? p2m::P2mType::ram : p2m::P2mType::mmio_direct};
    }
    static bool matches(const ReferenceTranslation& translation, Attributes attributes) {
        return translation.read && translation.write == paging::allows_write(attributes.access) &&
               translation.software_type == static_cast<unsigned>(attributes.type) &&
               translation.uncached == (attributes.type == p2m::P2mType::mmio_direct);
    }
    static std::string describe(Attributes attributes) {
        return std::string(paging::describe(attributes.access)) +
               (attributes.type == p2m::P2mType::ram ? " ram" : " mmio_direct");
    }
};

struct EptCase : P2mCaseBase {
    using Format = p2m::EptFormat;
    static constexpr const char* name = "ept";
    static Format format() { return Format(4, true, true, 46); }
    static std::unique_ptr<ReferenceWalker> reference() { return std::make_unique<EptReference>(4, true, true, 46); }
};

struct NptCase : P2mCaseBase {
    using Format = p2m::NptFormat;
    static constexpr const char* name = "npt";
    static Format format() { return Format(true, 48); }
    static std::unique_ptr<ReferenceWalker> reference() { return std::make_unique<NptReference>(true, 48); }
};

}  // namespace sluice::testing
