#include "ftproxy/io/dpdk_vdev.hpp"

#include <algorithm>

namespace ftproxy::io {
namespace {

std::uint32_t round_up_pow2(std::uint32_t v) {
  std::uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

std::string_view vdev_driver_name(VdevDriver d) noexcept {
  return d == VdevDriver::af_xdp ? "af_xdp" : "af_packet";
}

std::optional<std::vector<VdevAttempt>> plan_vdev_attempts(std::string_view choice,
                                                           const AttachFacts& facts) {
  if (choice == "af_xdp") return std::vector<VdevAttempt>{{VdevDriver::af_xdp, ""}};
  if (choice == "af_packet") return std::vector<VdevAttempt>{{VdevDriver::af_packet, ""}};
  if (choice != "auto") return std::nullopt;
  VdevAttempt xdp{VdevDriver::af_xdp, ""};
  if (facts.mtu > kAfXdpMaxMtu) {
    xdp.skip_reason = "MTU " + std::to_string(facts.mtu) + " is above " + std::to_string(kAfXdpMaxMtu) +
                      " (af_xdp has no multi-buffer frames in DPDK 22.11)";
  } else if (facts.mbufs < kAfXdpMinMbufs) {
    xdp.skip_reason = "mbufs = " + std::to_string(facts.mbufs) + " is below " +
                      std::to_string(kAfXdpMinMbufs) + " (af_xdp fills its ring with 2048 at start)";
  } else if (facts.rx_queues != 1) {
    // The socket sits on queue 0; frames the NIC hashes to the other queues would bypass us.
    xdp.skip_reason = "the interface has " + std::to_string(facts.rx_queues) +
                      " rx queues and an XDP socket reads only one";
  }
  return std::vector<VdevAttempt>{xdp, {VdevDriver::af_packet, ""}};
}

VdevSpec vdev_spec(VdevDriver d, std::string_view iface, std::uint32_t mtu, unsigned serial) {
  VdevSpec s;
  const std::string ifname(iface);
  if (d == VdevDriver::af_xdp) {
    // Copy mode (veth and most drivers without zero-copy): the kernel copies each frame
    // into an mbuf of this pool; 22 = Ethernet header + two VLAN tags.
    s.name = "net_af_xdp_ftp" + std::to_string(serial);
    s.args = "iface=" + ifname + ",start_queue=0,queue_count=1";
    s.frame_room = std::max<std::uint32_t>(2048, mtu + 22);
    return s;
  }
  // One af_packet frame holds the TPACKET2 header and sockaddr_ll before the data.
  const std::uint32_t framesz = std::max<std::uint32_t>(2048, round_up_pow2(mtu + 22 + 128));
  const std::uint32_t framecnt = std::max<std::uint32_t>(256, (8u << 20) / framesz);
  s.name = "net_af_packet_ftp" + std::to_string(serial);
  s.args = "iface=" + ifname + ",qpairs=1,qdisc_bypass=1,framesz=" + std::to_string(framesz) +
           ",blocksz=" + std::to_string(std::max<std::uint32_t>(4096, framesz)) +
           ",framecnt=" + std::to_string(framecnt);
  s.frame_room = framesz;
  return s;
}

std::vector<std::string> default_eal_args(int cpu, long pid) {
  return {"-l",
          std::to_string(cpu),
          "--no-huge",
          "--no-pci",
          "-m",
          "256",
          "--no-telemetry",
          "--log-level=warning",
          "--file-prefix=ftproxy-" + std::to_string(pid)};
}

}  // namespace ftproxy::io
