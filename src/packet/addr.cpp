#include "ftproxy/packet/addr.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace ftproxy::packet {

bool MacAddr::is_broadcast() const noexcept {
  for (auto x : b) {
    if (x != 0xFF) return false;
  }
  return true;
}

bool MacAddr::is_zero() const noexcept {
  for (auto x : b) {
    if (x != 0) return false;
  }
  return true;
}

IpAddr IpAddr::v4(std::uint32_t host_order) noexcept {
  IpAddr a;
  a.family = Family::v4;
  a.b[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.b[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.b[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.b[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddr IpAddr::from_v4_bytes(const std::uint8_t* p) noexcept {
  IpAddr a;
  a.family = Family::v4;
  std::memcpy(a.b.data(), p, 4);
  return a;
}

IpAddr IpAddr::from_v6_bytes(const std::uint8_t* p) noexcept {
  IpAddr a;
  a.family = Family::v6;
  std::memcpy(a.b.data(), p, 16);
  return a;
}

std::uint32_t IpAddr::v4_host_order() const noexcept {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddr> parse_mac(std::string_view text) {
  // Exactly "xx:xx:xx:xx:xx:xx": two hex digits per octet, ':' separators.
  if (text.size() != 17) return std::nullopt;
  MacAddr mac;
  for (std::size_t i = 0; i < 6; ++i) {
    const std::size_t pos = i * 3;
    const int hi = hex_value(text[pos]);
    const int lo = hex_value(text[pos + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[pos + 2] != ':') return std::nullopt;
    mac.b[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return mac;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest textual IPv6 address fits in 46.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) return IpAddr::from_v4_bytes(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1) return IpAddr::from_v6_bytes(raw);
  return std::nullopt;
}

std::string to_string(const MacAddr& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac.b[0], mac.b[1], mac.b[2], mac.b[3],
                mac.b[4], mac.b[5]);
  return buf;
}

std::string to_string(const IpAddr& ip) {
  char buf[INET6_ADDRSTRLEN];
  switch (ip.family) {
    case IpAddr::Family::v4:
      if (inet_ntop(AF_INET, ip.b.data(), buf, sizeof(buf)) != nullptr) return buf;
      break;
    case IpAddr::Family::v6:
      if (inet_ntop(AF_INET6, ip.b.data(), buf, sizeof(buf)) != nullptr) return buf;
      break;
    case IpAddr::Family::none:
      break;
  }
  return "none";
}

}  // namespace ftproxy::packet
