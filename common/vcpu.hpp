// What every virtual CPU has, whatever runs it (PV in ring 3, SVM, VMX):
// its number in its domain and the domain. The PV and HVM vCPUs extend it
// with their architectural state.
#pragma once

#include <sluice/types.hpp>

namespace sluice {

class Domain;

struct Vcpu {
    uint16_t vcpu_id = 0;
    Domain* domain = nullptr;  // set by Domain::add_vcpu
};

}  // namespace sluice
