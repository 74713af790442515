// Private to the io module: backend factories and helpers shared by the backends.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io::detail {

// Longest frame that may leave a port of this MTU: mtu + Ethernet header + 4 per VLAN tag
// (802.1Q, 802.1ad and the old 0x9100 QinQ tag are counted).
std::uint32_t max_tx_len(const std::uint8_t* frame, std::uint32_t len, std::uint32_t mtu) noexcept;

// A stable locally administered unicast MAC derived from a port name.
packet::MacAddr mac_from_name(std::string_view name) noexcept;

std::unique_ptr<PacketIo> open_memory_port(const PortOptions& opts, std::string& error);
std::unique_ptr<PacketIo> open_pcap_file_port(const PortOptions& opts, std::string& error);
// Live capture; offloads are the caller's (open_port applies the policy first).
std::unique_ptr<PacketIo> open_pcap_live_port(const PortOptions& opts, std::string& error);

}  // namespace ftproxy::io::detail
