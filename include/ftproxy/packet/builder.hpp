// Builders for the few frames ftproxy originates itself (gratuitous ARP, unsolicited
// neighbour advertisements, ARP replies on behalf of learned neighbours). Each writes
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

}  // namespace ftproxy::packet
