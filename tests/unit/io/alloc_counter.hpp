// Counts the global allocations of a test binary that links alloc_counter.cpp.
#pragma once

#include <cstdint>

namespace ftproxy::io::test {
std::uint64_t allocation_count() noexcept;
}
