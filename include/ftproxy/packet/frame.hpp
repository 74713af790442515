// Bounds-checked views over one Ethernet frame. parse_frame() never reads outside the
// span it is given, never allocates and never throws; a malformed frame yields a
// ParseStatus naming the first problem found. Offsets are from the start of the frame,
// so a caller may rewrite fields in place (then fix checksums, see checksum.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ftproxy/packet/addr.hpp"

namespace ftproxy::packet {

inline constexpr std::size_t kEthHeaderLen = 14;
inline constexpr std::size_t kMaxVlanTags = 2;
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88A8;  // 802.1ad
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;

// TCP flag bits (the low byte of the flags field).
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

enum class ParseStatus : std::uint8_t {
  ok = 0,
  truncated_ethernet,
  truncated_vlan,
  too_many_vlan_tags,
  truncated_arp,
  bad_arp,  // not Ethernet/IPv4 ARP (htype/ptype/hlen/plen)
  truncated_ipv4,
  bad_ipv4_version,
  bad_ipv4_header_length,  // IHL < 5 or beyond the frame
  bad_ipv4_total_length,   // total length < IHL*4 or beyond the frame
  truncated_ipv6,
  bad_ipv6_version,
  bad_ipv6_payload_length,  // beyond the frame
  bad_ipv6_extension,       // extension header chain runs past the packet or is too long
  truncated_tcp,
  bad_tcp_data_offset,  // data offset < 5 or beyond the L4 length
  bad_tcp_option,       // option length 0/1 or beyond the header, malformed known option
  truncated_udp,
  bad_udp_length,  // length field != L4 length (or < L4 length in a first fragment)
  truncated_icmp,
  count_  // number of statuses (for counter arrays)
};
const char* to_string(ParseStatus s) noexcept;

enum class L3Kind : std::uint8_t { other, arp, ipv4, ipv6 };
enum class L4Kind : std::uint8_t { none, tcp, udp, icmp, icmpv6, other };

struct TcpOptions {
  bool has_mss = false;
  std::uint16_t mss = 0;
  bool has_wscale = false;
  std::uint8_t wscale = 0;
  bool sack_permitted = false;
  std::uint8_t sack_blocks = 0;   // number of SACK blocks (0..4)
  std::uint16_t sack_offset = 0;  // frame offset of the first block; block i at +8*i (left, right)
  bool has_timestamp = false;
  std::uint16_t ts_offset = 0;  // frame offset of TSval; TSecr at ts_offset + 4
  std::uint32_t tsval = 0;
  std::uint32_t tsecr = 0;
};

struct TcpView {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;        // kTcp* bits
  std::uint16_t window = 0;      // raw, unscaled
  std::uint16_t header_len = 0;  // data offset * 4
  TcpOptions opt;
};

struct UdpView {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint16_t length = 0;  // from the header
};

struct IcmpView {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
};

struct ArpView {
  std::uint16_t op = 0;  // 1 request, 2 reply
  MacAddr sender_mac;
  IpAddr sender_ip;
  MacAddr target_mac;
  IpAddr target_ip;
};

struct ParsedFrame {
  std::uint32_t length = 0;  // bytes in the frame as given
  MacAddr dst_mac;
  MacAddr src_mac;
  std::uint8_t vlan_count = 0;
  std::uint16_t vlan_tci[kMaxVlanTags] = {};  // outermost first
  std::uint16_t ethertype = 0;                // after the VLAN tags
  L3Kind l3 = L3Kind::other;
  std::uint16_t l3_offset = 0;

  // IPv4/IPv6 (l3 == ipv4/ipv6)
  IpAddr src_ip;
  IpAddr dst_ip;
  std::uint8_t ip_proto = 0;      // upper-layer protocol after IPv6 extension headers
  std::uint8_t ttl = 0;           // TTL or hop limit
  bool is_fragment = false;       // MF set or offset != 0 (or an IPv6 fragment header)
  bool is_first_fragment = true;  // offset == 0: L4 header present
  std::uint32_t ip_end = 0;       // frame offset one past the IP packet (excludes Ethernet padding)

  // L4 (l4 != none only when the L4 header is present and parsed). l4 == other for an
  // unknown protocol or IPv6 no-next-header: the whole L4 is payload. ICMP/ICMPv6 headers
  // count as 4 bytes (type, code, checksum).
  L4Kind l4 = L4Kind::none;
  std::uint16_t l4_offset = 0;
  std::uint32_t l4_length = 0;  // header + payload, up to ip_end
  std::uint16_t payload_offset = 0;
  std::uint32_t payload_len = 0;
  TcpView tcp;
  UdpView udp;
  IcmpView icmp;

  ArpView arp;  // l3 == arp
};

// Parses one frame. On a status other than ok, `out` holds what was parsed before the
// problem (e.g. MACs) and must not be used for L3/L4 decisions.
ParseStatus parse_frame(std::span<const std::uint8_t> frame, ParsedFrame& out) noexcept;

// A transport flow as seen in one direction: 5-tuple plus the outer VLAN ID.
struct FlowKey {
  IpAddr src_ip;
  IpAddr dst_ip;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t proto = 0;
  std::uint16_t vlan = 0;  // 12-bit VLAN ID of the outer tag, 0 if untagged
  FlowKey reversed() const noexcept;
  bool operator==(const FlowKey&) const = default;
};
// Only meaningful for a parsed TCP or UDP frame.
FlowKey flow_key(const ParsedFrame& f) noexcept;
struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept;
};

}  // namespace ftproxy::packet
