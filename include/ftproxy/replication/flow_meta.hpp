// FLOW_META entry payload: what the backup needs to translate one TCP flow (DESIGN.md
// §5). A plain struct with raw arrays so this module does not depend on packet/; the
// node converts from/to its flow key types.
//
// Wire layout (kFlowMetaSize bytes, big-endian):
//   version u8 (1), family u8 (4|6), proto u8, flags u8 (FlowMeta::kHas*),
//   vlan u16, client_port u16, server_port u16,
//   client_ip[16], server_ip[16]  (IPv4 in the first 4 bytes, the rest zero),
//   server_isn u32, client_isn u32, server_tsval u32, server_mss u16, server_wscale u8,
//   reserved u8 (0)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ftproxy::replication {

struct FlowMeta {
  static constexpr std::uint8_t kHasTimestamp = 0x01;  // server_tsval is meaningful
  static constexpr std::uint8_t kHasWscale = 0x02;     // server_wscale is meaningful
  static constexpr std::uint8_t kHasMss = 0x04;        // server_mss is meaningful

  // Flow key, in the client → server direction.
  std::uint8_t family = 4;  // 4 or 6
  std::uint8_t proto = 6;   // IP protocol number (6 = TCP)
  std::uint16_t vlan = 0;   // 0 = untagged
  std::array<std::uint8_t, 16> client_ip{};
  std::array<std::uint8_t, 16> server_ip{};
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
  // From the primary server's SYN-ACK and the client's SYN.
  std::uint32_t server_isn = 0;  // primary server's ISN
  std::uint32_t client_isn = 0;
  std::uint32_t server_tsval = 0;  // primary server's TSval in its SYN-ACK
  std::uint16_t server_mss = 0;
  std::uint8_t server_wscale = 0;
  std::uint8_t flags = 0;  // kHas*

  bool has_timestamp() const noexcept { return (flags & kHasTimestamp) != 0; }
  friend bool operator==(const FlowMeta&, const FlowMeta&) = default;
};

inline constexpr std::uint8_t kFlowMetaVersion = 1;
inline constexpr std::size_t kFlowMetaSize = 4 + 6 + 32 + 16;

// Writes kFlowMetaSize bytes; returns kFlowMetaSize, or 0 if `out` is too small or
// `m` is invalid (family not 4/6, unknown flag bits, IPv4 with non-zero tail bytes).
std::size_t encode_flow_meta(std::span<std::uint8_t> out, const FlowMeta& m) noexcept;

// Parses an ENTRY(kind = flow_meta) payload; false on wrong size, version, family,
// unknown flags or non-zero reserved bytes (out is then unspecified).
bool decode_flow_meta(std::span<const std::uint8_t> in, FlowMeta& out) noexcept;

}  // namespace ftproxy::replication
