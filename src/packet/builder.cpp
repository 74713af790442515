#include "ftproxy/packet/builder.hpp"

#include <cstring>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/packet/checksum.hpp"
#include "ftproxy/packet/frame.hpp"

namespace ftproxy::packet {

namespace {

constexpr std::size_t kArpLen = 28;
constexpr std::size_t kIpv6HeaderLen = 40;
constexpr std::size_t kIpv4HeaderLen = 20;
constexpr std::size_t kTcpHeaderLen = 20;
constexpr std::size_t kTsBlockLen = 12;  // NOP NOP kind len TSval TSecr
constexpr std::size_t kNaLen = 32;       // ICMPv6 header 4 + flags 4 + target 16 + TLLA option 8
constexpr std::uint16_t kArpRequest = 1;
constexpr std::uint16_t kArpReply = 2;
constexpr std::uint8_t kIcmpv6NeighbourAdvert = 136;
constexpr std::uint8_t kNaFlagOverride = 0x20;
constexpr std::uint8_t kNdOptTargetLinkAddr = 2;
constexpr MacAddr kBroadcast{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};
constexpr MacAddr kAllNodesMac{{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}};
constexpr std::uint8_t kAllNodesIp[16] = {0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

std::size_t header_len(const std::optional<std::uint16_t>& vlan_tci) noexcept {
  return kEthHeaderLen + (vlan_tci ? 4 : 0);
}

// Writes the Ethernet (+ optional 802.1Q) header and returns the L3 offset.
std::size_t write_ethernet(std::uint8_t* p, const MacAddr& dst, const MacAddr& src, std::uint16_t ethertype,
                           const std::optional<std::uint16_t>& vlan_tci) noexcept {
  std::memcpy(p, dst.b.data(), 6);
  std::memcpy(p + 6, src.b.data(), 6);
  std::size_t off = 12;
  if (vlan_tci) {
    store_be16(p + off, kEtherTypeVlan);
    store_be16(p + off + 2, *vlan_tci);
    off += 4;
  }
  store_be16(p + off, ethertype);
  return off + 2;
}

// Zero-pads to the Ethernet minimum; `out` was checked to hold the padded length.
std::size_t pad_frame(std::span<std::uint8_t> out, std::size_t len) noexcept {
  if (len >= kMinFrameLen) return len;
  std::memset(out.data() + len, 0, kMinFrameLen - len);
  return kMinFrameLen;
}

std::size_t padded_len(std::size_t len) noexcept {
  return len < kMinFrameLen ? kMinFrameLen : len;
}

std::size_t build_arp(std::span<std::uint8_t> out, const MacAddr& eth_dst, std::uint16_t op,
                      const MacAddr& sender_mac, const IpAddr& sender_ip, const MacAddr& target_mac,
                      const IpAddr& target_ip, const std::optional<std::uint16_t>& vlan_tci) noexcept {
  if (sender_ip.family != IpAddr::Family::v4 || target_ip.family != IpAddr::Family::v4) return 0;
  const std::size_t len = header_len(vlan_tci) + kArpLen;
  if (out.size() < padded_len(len)) return 0;
  std::uint8_t* p = out.data();
  std::uint8_t* a = p + write_ethernet(p, eth_dst, sender_mac, kEtherTypeArp, vlan_tci);
  store_be16(a, 1);  // Ethernet
  store_be16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  store_be16(a + 6, op);
  std::memcpy(a + 8, sender_mac.b.data(), 6);
  std::memcpy(a + 14, sender_ip.b.data(), 4);
  std::memcpy(a + 18, target_mac.b.data(), 6);
  std::memcpy(a + 24, target_ip.b.data(), 4);
  return pad_frame(out, len);
}

}  // namespace

std::size_t build_garp_request(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                               std::optional<std::uint16_t> vlan_tci) noexcept {
  return build_arp(out, kBroadcast, kArpRequest, mac, ip, MacAddr{}, ip, vlan_tci);
}

std::size_t build_garp_reply(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                             std::optional<std::uint16_t> vlan_tci) noexcept {
  return build_arp(out, kBroadcast, kArpReply, mac, ip, mac, ip, vlan_tci);
}

std::size_t build_arp_reply(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                            const MacAddr& requester_mac, const IpAddr& requester_ip,
                            std::optional<std::uint16_t> vlan_tci) noexcept {
  return build_arp(out, requester_mac, kArpReply, mac, ip, requester_mac, requester_ip, vlan_tci);
}

std::size_t build_unsolicited_na(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip6,
                                 std::optional<std::uint16_t> vlan_tci) noexcept {
  if (ip6.family != IpAddr::Family::v6) return 0;
  const std::size_t len = header_len(vlan_tci) + kIpv6HeaderLen + kNaLen;
  if (out.size() < padded_len(len)) return 0;
  std::uint8_t* p = out.data();
  std::uint8_t* ip = p + write_ethernet(p, kAllNodesMac, mac, kEtherTypeIpv6, vlan_tci);
  store_be32(ip, 0x60000000u);  // version 6, traffic class 0, flow label 0
  store_be16(ip + 4, static_cast<std::uint16_t>(kNaLen));
  ip[6] = kIpProtoIcmpv6;
  ip[7] = 255;  // RFC 4861 7.1.2: receivers drop ND with a hop limit below 255
  std::memcpy(ip + 8, ip6.b.data(), 16);
  std::memcpy(ip + 24, kAllNodesIp, 16);

  std::uint8_t* icmp = ip + kIpv6HeaderLen;
  icmp[0] = kIcmpv6NeighbourAdvert;
  icmp[1] = 0;
  store_be16(icmp + 2, 0);
  icmp[4] = kNaFlagOverride;  // router=0, solicited=0, override=1
  icmp[5] = icmp[6] = icmp[7] = 0;
  std::memcpy(icmp + 8, ip6.b.data(), 16);
  icmp[24] = kNdOptTargetLinkAddr;
  icmp[25] = 1;  // length in units of 8 bytes
  std::memcpy(icmp + 26, mac.b.data(), 6);

  std::uint32_t sum = checksum_add(std::span<const std::uint8_t>(ip + 8, 32));
  sum += kNaLen;
  sum += kIpProtoIcmpv6;
  sum = checksum_add(std::span<const std::uint8_t>(icmp, kNaLen), sum);
  store_be16(icmp + 2, checksum_finish(sum));
  return pad_frame(out, len);
}

std::size_t build_tcp_segment(std::span<std::uint8_t> out, const TcpSegmentSpec& spec) noexcept {
  const bool v4 = spec.src_ip.family == IpAddr::Family::v4;
  if (spec.src_ip.family == IpAddr::Family::none || spec.src_ip.family != spec.dst_ip.family) return 0;
  const std::size_t ip_len = v4 ? kIpv4HeaderLen : kIpv6HeaderLen;
  const std::size_t tcp_len = kTcpHeaderLen + (spec.has_timestamp ? kTsBlockLen : 0);
  const std::size_t len = header_len(spec.vlan_tci) + ip_len + tcp_len;
  if (out.size() < padded_len(len)) return 0;
  std::uint8_t* p = out.data();
  std::uint8_t* ip =
      p + write_ethernet(p, spec.dst_mac, spec.src_mac, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6, spec.vlan_tci);
  const std::size_t addr_len = v4 ? 4 : 16;
  std::uint8_t* tcp = ip + ip_len;
  if (v4) {
    ip[0] = 0x45;
    ip[1] = spec.tos;
    store_be16(ip + 2, static_cast<std::uint16_t>(ip_len + tcp_len));
    store_be16(ip + 4, 0);       // id: DF set, never fragmented
    store_be16(ip + 6, 0x4000);  // DF
    ip[8] = spec.ttl;
    ip[9] = kIpProtoTcp;
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, spec.src_ip.b.data(), 4);
    std::memcpy(ip + 16, spec.dst_ip.b.data(), 4);
    store_be16(ip + 10, internet_checksum(std::span<const std::uint8_t>(ip, kIpv4HeaderLen)));
  } else {
    store_be32(ip, 0x60000000u | (std::uint32_t{spec.tos} << 20));
    store_be16(ip + 4, static_cast<std::uint16_t>(tcp_len));
    ip[6] = kIpProtoTcp;
    ip[7] = spec.ttl;
    std::memcpy(ip + 8, spec.src_ip.b.data(), 16);
    std::memcpy(ip + 24, spec.dst_ip.b.data(), 16);
  }
  store_be16(tcp, spec.src_port);
  store_be16(tcp + 2, spec.dst_port);
  store_be32(tcp + 4, spec.seq);
  store_be32(tcp + 8, spec.ack);
  tcp[12] = static_cast<std::uint8_t>((tcp_len / 4) << 4);
  tcp[13] = spec.flags;
  store_be16(tcp + 14, spec.window);
  store_be16(tcp + 16, 0);  // checksum, below
  store_be16(tcp + 18, 0);  // urgent pointer
  if (spec.has_timestamp) {
    tcp[20] = 1;  // NOP
    tcp[21] = 1;  // NOP
    tcp[22] = 8;  // kind: timestamps
    tcp[23] = 10;
    store_be32(tcp + 24, spec.tsval);
    store_be32(tcp + 28, spec.tsecr);
  }
  // Pseudo-header: both addresses (they sit next to each other in either IP header).
  std::uint32_t sum = checksum_add(std::span<const std::uint8_t>(v4 ? ip + 12 : ip + 8, 2 * addr_len));
  sum += static_cast<std::uint32_t>(tcp_len);
  sum += kIpProtoTcp;
  sum = checksum_add(std::span<const std::uint8_t>(tcp, tcp_len), sum);
  store_be16(tcp + 16, checksum_finish(sum));
  return pad_frame(out, len);
}

}  // namespace ftproxy::packet
