// How much of its full length a long randomized test runs: SLUICE_TEST_EFFORT
// percent of it (1 to 100; 100 when unset or out of range), never less than a
// minimum. The ordinary build runs everything in full; the sanitizer pass of
// `tools/sluice test` (docs/testing.md) runs the unit tests at -O0 under
// AddressSanitizer and UBSan, where these tests take some twenty times
// longer, with a smaller share: every code path still runs under the
// sanitizers, only fewer random operations do.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace sluice::testing {

inline uint64_t test_effort_percent() {
    const char* text = std::getenv("SLUICE_TEST_EFFORT");
    if (text == nullptr) return 100;
    const unsigned long long percent = std::strtoull(text, nullptr, 10);
    return percent >= 1 && percent <= 100 ? percent : 100;
}

inline uint64_t scaled_by_effort(uint64_t full, uint64_t minimum = 1) {
    const uint64_t scaled = full * test_effort_percent() / 100;
    return scaled < minimum ? minimum : scaled;
}

}  // namespace sluice::testing
