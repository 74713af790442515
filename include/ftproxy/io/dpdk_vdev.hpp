// How the "dpdk" backend attaches to a kernel interface when no DPDK device is named
// (PortOptions::dpdk_device empty): which virtual devices it tries, in which order, and
// with which device arguments; and the EAL arguments it starts DPDK with when none are
// configured. Pure functions (no DPDK headers, no I/O): the plan is decided here, the
// attaching is done by the backend, which falls back to the next driver when one fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ftproxy::io {

enum class VdevDriver : std::uint8_t {
  af_xdp,     // net_af_xdp: an XDP socket on rx queue 0 (copy mode on veth); fastest here
  af_packet,  // net_af_packet: a TPACKET_V2 ring; works on any interface
};

// "af_xdp" / "af_packet".
std::string_view vdev_driver_name(VdevDriver d) noexcept;

// What is known before attaching: the kernel interface and the port's mbuf pool.
struct AttachFacts {
  std::uint32_t mtu = 1500;
  std::uint32_t rx_queues = 1;  // rx + combined channels (ethtool -l): an XDP socket serves one
  std::uint32_t mbufs = 4095;   // PortOptions::mbufs
};

// The largest MTU an af_xdp vdev is tried on: DPDK 22.11's af_xdp has no multi-buffer
// frames, so one frame, its mbuf header and XDP's 256-byte headroom must fit a 4 KiB page.
inline constexpr std::uint32_t kAfXdpMaxMtu = 3000;

// DPDK 22.11's af_xdp fills its ring with 2048 mbufs of the port's pool when it starts;
// with fewer than this many the pool would run dry (rx and tx need mbufs too).
inline constexpr std::uint32_t kAfXdpMinMbufs = 4095;

// One driver to try, or the reason it is not tried on this interface.
struct VdevAttempt {
  VdevDriver driver = VdevDriver::af_packet;
  std::string skip_reason;  // non-empty: not tried, and why (logged when falling back)
};

// The drivers to try for the `[dpdk] vdev_driver` choice "auto" (af_xdp, then af_packet),
// "af_xdp" or "af_packet" (only that one; never skipped: its own error is reported).
// nullopt for an unknown choice.
std::optional<std::vector<VdevAttempt>> plan_vdev_attempts(std::string_view choice, const AttachFacts& facts);

// One virtual device to hot-plug: its DPDK name, its device arguments, and the mbuf data
// room its frames need.
struct VdevSpec {
  std::string name;  // unique in the process: net_af_xdp_ftpN / net_af_packet_ftpN
  std::string args;  // "iface=...,..."
  std::uint32_t frame_room = 2048;
};

// The device for driver `d` on interface `iface` of MTU `mtu`; `serial` makes the name unique.
VdevSpec vdev_spec(VdevDriver d, std::string_view iface, std::uint32_t mtu, unsigned serial);

// The EAL arguments used when none are configured (argv without the program name):
// main lcore `cpu`, no hugepages, no PCI scan, 256 MB, no telemetry, warnings only, and a
// file prefix unique to process `pid` (two proxies on one host must not share one).
std::vector<std::string> default_eal_args(int cpu, long pid);

}  // namespace ftproxy::io
