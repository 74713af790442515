// Builders for the few frames ftproxy originates itself (gratuitous ARP, unsolicited
// neighbour advertisements, ARP replies on behalf of learned neighbours, the pure ACKs
// the backup synthesizes for its server). Each writes
// into a caller-provided buffer and returns the frame length, or 0 if it does not fit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "ftproxy/packet/addr.hpp"

namespace ftproxy::packet {

inline constexpr std::size_t kMinFrameLen = 60;  // without FCS; shorter frames are padded

// Gratuitous ARP request: broadcast, sender IP = target IP = ip, sender MAC = mac,
// target MAC zero. `vlan_tci` adds one 802.1Q tag.
std::size_t build_garp_request(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                               std::optional<std::uint16_t> vlan_tci = std::nullopt) noexcept;
// Gratuitous ARP reply form: broadcast destination, target MAC = sender MAC.
std::size_t build_garp_reply(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                             std::optional<std::uint16_t> vlan_tci = std::nullopt) noexcept;
// ARP reply answering `requester` (mac/ip) that `ip` is at `mac`.
std::size_t build_arp_reply(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip,
                            const MacAddr& requester_mac, const IpAddr& requester_ip,
                            std::optional<std::uint16_t> vlan_tci = std::nullopt) noexcept;
// Unsolicited neighbour advertisement (override flag set) for an IPv6 address, sent to
// all-nodes (ff02::1), with the target link-layer address option.
std::size_t build_unsolicited_na(std::span<std::uint8_t> out, const MacAddr& mac, const IpAddr& ip6,
                                 std::optional<std::uint16_t> vlan_tci = std::nullopt) noexcept;

// A TCP segment without payload (e.g. the pure ACKs the backup proxy synthesizes for
// its server): Ethernet [+ one 802.1Q tag] + IPv4 (DF, id 0, no options) or IPv6 (no
// extension headers) + TCP with, when has_timestamp, the option block NOP NOP TS.
// src_ip and dst_ip must be of the same family. Checksums are complete (no offload).
struct TcpSegmentSpec {
  MacAddr src_mac;
  MacAddr dst_mac;
  std::optional<std::uint16_t> vlan_tci;
  IpAddr src_ip;
  IpAddr dst_ip;
  std::uint8_t ttl = 64;  // IPv4 TTL / IPv6 hop limit
  std::uint8_t tos = 0;   // IPv4 TOS / IPv6 traffic class
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;  // kTcp* bits
  std::uint16_t window = 0;
  bool has_timestamp = false;
  std::uint32_t tsval = 0;
  std::uint32_t tsecr = 0;
};
inline constexpr std::size_t kMaxTcpSegmentFrameLen = 14 + 4 + 40 + 32;  // VLAN, IPv6, TS option
std::size_t build_tcp_segment(std::span<std::uint8_t> out, const TcpSegmentSpec& spec) noexcept;

}  // namespace ftproxy::packet
