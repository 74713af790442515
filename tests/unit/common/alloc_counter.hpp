// Counts the global allocations of a test binary that links alloc_counter.cpp
// (`test_alloc_counter` in tests/unit/common/meson.build): for the checks that a hot
// path allocates nothing.
#pragma once

#include <cstdint>

namespace ftproxy::test {
std::uint64_t allocation_count() noexcept;
}
