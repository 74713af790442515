// Link and network addresses as small value types (no allocation).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ftproxy::packet {

struct MacAddr {
  std::array<std::uint8_t, 6> b{};
  bool is_broadcast() const noexcept;
  bool is_multicast() const noexcept { return (b[0] & 1) != 0; }
  bool is_zero() const noexcept;
  auto operator<=>(const MacAddr&) const = default;
};

// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes, the rest zero.
struct IpAddr {
  enum class Family : std::uint8_t { none, v4, v6 };
  Family family = Family::none;
  std::array<std::uint8_t, 16> b{};
  static IpAddr v4(std::uint32_t host_order) noexcept;
  static IpAddr from_v4_bytes(const std::uint8_t* p) noexcept;
  static IpAddr from_v6_bytes(const std::uint8_t* p) noexcept;
  std::uint32_t v4_host_order() const noexcept;
  auto operator<=>(const IpAddr&) const = default;
};

// Control-plane parsing/formatting (may allocate; never on the data path).
std::optional<MacAddr> parse_mac(std::string_view text);
std::optional<IpAddr> parse_ip(std::string_view text);
std::string to_string(const MacAddr& mac);
std::string to_string(const IpAddr& ip);

}  // namespace ftproxy::packet
