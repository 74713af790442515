// Serial-number arithmetic (RFC 1982) for 32-bit TCP sequence numbers and timestamps:
// a is "before" b when (a - b) as a signed 32-bit value is negative.
#pragma once

#include <cstdint>

namespace ftproxy::packet {

constexpr bool seq_lt(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) < 0;
}
constexpr bool seq_le(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) <= 0;
}
constexpr bool seq_gt(std::uint32_t a, std::uint32_t b) noexcept {
  return seq_lt(b, a);
}
constexpr bool seq_ge(std::uint32_t a, std::uint32_t b) noexcept {
  return seq_le(b, a);
}
constexpr std::uint32_t seq_max(std::uint32_t a, std::uint32_t b) noexcept {
  return seq_ge(a, b) ? a : b;
}
constexpr std::uint32_t seq_min(std::uint32_t a, std::uint32_t b) noexcept {
  return seq_le(a, b) ? a : b;
}
// Signed distance b - a.
constexpr std::int32_t seq_diff(std::uint32_t b, std::uint32_t a) noexcept {
  return static_cast<std::int32_t>(b - a);
}

}  // namespace ftproxy::packet
