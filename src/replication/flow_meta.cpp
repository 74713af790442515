#include "ftproxy/replication/flow_meta.hpp"

#include <algorithm>
#include <cstring>

#include "ftproxy/common/bytes.hpp"

namespace ftproxy::replication {

namespace {

constexpr std::uint8_t kKnownFlags = FlowMeta::kHasTimestamp | FlowMeta::kHasWscale | FlowMeta::kHasMss;

bool valid_address(std::uint8_t family, const std::array<std::uint8_t, 16>& ip) noexcept {
  if (family == 6) return true;
  if (family != 4) return false;
  return std::all_of(ip.begin() + 4, ip.end(), [](std::uint8_t b) { return b == 0; });
}

bool valid(const FlowMeta& m) noexcept {
  return (m.flags & ~kKnownFlags) == 0 && valid_address(m.family, m.client_ip) &&
         valid_address(m.family, m.server_ip);
}

}  // namespace

std::size_t encode_flow_meta(std::span<std::uint8_t> out, const FlowMeta& m) noexcept {
  if (out.size() < kFlowMetaSize || !valid(m)) return 0;
  std::uint8_t* p = out.data();
  p[0] = kFlowMetaVersion;
  p[1] = m.family;
  p[2] = m.proto;
  p[3] = m.flags;
  store_be16(p + 4, m.vlan);
  store_be16(p + 6, m.client_port);
  store_be16(p + 8, m.server_port);
  std::memcpy(p + 10, m.client_ip.data(), 16);
  std::memcpy(p + 26, m.server_ip.data(), 16);
  store_be32(p + 42, m.server_isn);
  store_be32(p + 46, m.client_isn);
  store_be32(p + 50, m.server_tsval);
  store_be16(p + 54, m.server_mss);
  p[56] = m.server_wscale;
  p[57] = 0;
  return kFlowMetaSize;
}

bool decode_flow_meta(std::span<const std::uint8_t> in, FlowMeta& out) noexcept {
  if (in.size() != kFlowMetaSize) return false;
  const std::uint8_t* p = in.data();
  if (p[0] != kFlowMetaVersion || p[57] != 0) return false;
  out.family = p[1];
  out.proto = p[2];
  out.flags = p[3];
  out.vlan = load_be16(p + 4);
  out.client_port = load_be16(p + 6);
  out.server_port = load_be16(p + 8);
  std::memcpy(out.client_ip.data(), p + 10, 16);
  std::memcpy(out.server_ip.data(), p + 26, 16);
  out.server_isn = load_be32(p + 42);
  out.client_isn = load_be32(p + 46);
  out.server_tsval = load_be32(p + 50);
  out.server_mss = load_be16(p + 54);
  out.server_wscale = p[56];
  return valid(out);
}

}  // namespace ftproxy::replication
