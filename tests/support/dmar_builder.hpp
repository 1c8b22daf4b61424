// DMAR tables (VT-d spec chapter 8) built byte by byte, as firmware lays them
// out: free functions for every structure (dmar::drhd(), dmar::rmrr(), ...),
// composed by dmar::table(), and DmarBuilder, a short form for a table of
// units and reserved regions whose scopes are endpoints on bus 0.
#pragma once

#include "support/little_endian_bytes.hpp"

#include <drivers/pci/address.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {
namespace dmar {

using sluice::testing::Bytes;

using sluice::testing::put16;
using sluice::testing::put32;
using sluice::testing::put64;

// 8.3.1 device scope entry; length is 6 + 2 * hops unless overridden.
inline Bytes scope(uint8_t type, uint8_t start_bus, std::vector<std::pair<uint8_t, uint8_t>> path,
                   uint8_t enumeration_id = 0, uint8_t flags = 0, int length = -1) {
    Bytes bytes;
    bytes.push_back(type);
    bytes.push_back(static_cast<uint8_t>(length >= 0 ? length : 6 + 2 * static_cast<int>(path.size())));
    bytes.push_back(flags);
    bytes.push_back(0);
    bytes.push_back(enumeration_id);
    bytes.push_back(start_bus);
    for (const auto& [device, function] : path) {
        bytes.push_back(device);
        bytes.push_back(function);
    }
    return bytes;
}

inline Bytes endpoint(uint8_t bus, uint8_t device, uint8_t function) { return scope(1, bus, {{device, function}}); }

inline Bytes join(const std::vector<Bytes>& parts) {
    Bytes bytes;
    for (const Bytes& part : parts) bytes.insert(bytes.end(), part.begin(), part.end());
    return bytes;
}

// A structure: type, length (computed unless given), then body.
inline Bytes structure(uint16_t type, const Bytes& body, int length = -1) {
    Bytes bytes;
    put16(bytes, type);
    put16(bytes, static_cast<uint16_t>(length >= 0 ? length : 4 + static_cast<int>(body.size())));
    bytes.insert(bytes.end(), body.begin(), body.end());
    return bytes;
}

inline Bytes drhd(uint8_t flags, uint16_t segment, uint64_t base, const std::vector<Bytes>& scopes, uint8_t size = 0,
                  int length = -1) {
    Bytes body;
    body.push_back(flags);
    body.push_back(size);
    put16(body, segment);
    put64(body, base);
    const Bytes scope_bytes = join(scopes);
    body.insert(body.end(), scope_bytes.begin(), scope_bytes.end());
    return structure(0, body, length);
}

inline Bytes rmrr(uint16_t segment, uint64_t base, uint64_t limit, const std::vector<Bytes>& scopes, int length = -1) {
    Bytes body;
    put16(body, 0);
    put16(body, segment);
    put64(body, base);
    put64(body, limit);
    const Bytes scope_bytes = join(scopes);
    body.insert(body.end(), scope_bytes.begin(), scope_bytes.end());
    return structure(1, body, length);
}

// ATSR (8.5) and SATC (8.8) share one layout: flags, reserved, segment, scopes.
inline Bytes flags_segment_scopes(uint16_t type, uint8_t flags, uint16_t segment, const std::vector<Bytes>& scopes) {
    Bytes body;
    body.push_back(flags);
    body.push_back(0);
    put16(body, segment);
    const Bytes scope_bytes = join(scopes);
    body.insert(body.end(), scope_bytes.begin(), scope_bytes.end());
    return structure(type, body);
}

inline Bytes atsr(uint8_t flags, uint16_t segment, const std::vector<Bytes>& scopes) {
    return flags_segment_scopes(2, flags, segment, scopes);
}

inline Bytes rhsa(uint64_t base, uint32_t proximity_domain) {
    Bytes body;
    put32(body, 0);
    put64(body, base);
    put32(body, proximity_domain);
    return structure(3, body);
}

inline Bytes andd(uint8_t number, const std::string& name, bool terminate = true) {
    Bytes body = {0, 0, 0, number};
    body.insert(body.end(), name.begin(), name.end());
    if (terminate) body.push_back(0);
    return structure(4, body);
}

inline Bytes satc(uint8_t flags, uint16_t segment, const std::vector<Bytes>& scopes) {
    return flags_segment_scopes(5, flags, segment, scopes);
}

inline Bytes sidp(uint16_t segment, const std::vector<Bytes>& scopes) {
    Bytes body;
    put16(body, 0);
    put16(body, segment);
    const Bytes scope_bytes = join(scopes);
    body.insert(body.end(), scope_bytes.begin(), scope_bytes.end());
    return structure(6, body);
}

// 8.1: the 48-byte header (ACPI header, HAW - 1, flags, 10 reserved), the
// structures, then length and checksum filled in.
inline Bytes table(uint8_t host_address_width_minus_one, uint8_t flags, const std::vector<Bytes>& structures,
                   const char* oem_id = "BOCHS ") {
    Bytes bytes;
    const char* signature = "DMAR";
    bytes.insert(bytes.end(), signature, signature + 4);
    put32(bytes, 0);   // length, below
    bytes.push_back(1);  // revision
    bytes.push_back(0);  // checksum, below
    bytes.insert(bytes.end(), oem_id, oem_id + 6);
    const char* oem_table_id = "BXPC    ";
    bytes.insert(bytes.end(), oem_table_id, oem_table_id + 8);
    put32(bytes, 1);
    const char* creator = "BXPC";
    bytes.insert(bytes.end(), creator, creator + 4);
    put32(bytes, 1);
    bytes.push_back(host_address_width_minus_one);
    bytes.push_back(flags);
    bytes.insert(bytes.end(), 10, 0);
    const Bytes body = join(structures);
    bytes.insert(bytes.end(), body.begin(), body.end());
    const uint32_t length = static_cast<uint32_t>(bytes.size());
    std::memcpy(bytes.data() + 4, &length, 4);
    uint8_t sum = 0;
    for (uint8_t byte : bytes) sum = static_cast<uint8_t>(sum + byte);
    bytes[9] = static_cast<uint8_t>(-sum);
    return bytes;
}

}  // namespace dmar

class DmarBuilder {
public:
    explicit DmarBuilder(unsigned host_address_width = 39, uint8_t flags = 1)
        : host_address_width_minus_one_(static_cast<uint8_t>(host_address_width - 1)), flags_(flags) {}
    // A DRHD with one endpoint scope per device.
    DmarBuilder& unit(uint64_t base, const std::vector<pci::PciAddress>& devices, bool include_all = false) {
        structures_.push_back(dmar::drhd(include_all ? 1 : 0, 0, base, endpoints(devices)));
        return *this;
    }
    // An RMRR with one endpoint scope per device.
    DmarBuilder& reserved(uint64_t base, uint64_t limit, const std::vector<pci::PciAddress>& devices) {
        structures_.push_back(dmar::rmrr(0, base, limit, endpoints(devices)));
        return *this;
    }
    [[nodiscard]] std::vector<uint8_t> build() const {
        return dmar::table(host_address_width_minus_one_, flags_, structures_, "SLUICE");
    }

private:
    static std::vector<dmar::Bytes> endpoints(const std::vector<pci::PciAddress>& devices) {
        std::vector<dmar::Bytes> scopes;
        for (const pci::PciAddress& device : devices)
            scopes.push_back(dmar::endpoint(device.bus, device.device, device.function));
        return scopes;
    }

    uint8_t host_address_width_minus_one_;
    uint8_t flags_;
    std::vector<dmar::Bytes> structures_;
};

}  // namespace sluice::testing
