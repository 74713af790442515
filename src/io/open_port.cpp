#include <string>

#include "backends.hpp"
#include "ftproxy_build_config.hpp"
#if FTPROXY_HAVE_DPDK
#include "dpdk_port.hpp"
#endif
#include "ftproxy/io/offload.hpp"
#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io {
namespace detail {

std::uint32_t max_tx_len(const std::uint8_t* frame, std::uint32_t len, std::uint32_t mtu) noexcept {
  std::uint32_t limit = mtu + 14;
  std::uint32_t off = 12;
  while (off + 2 <= len) {
    const unsigned type = (static_cast<unsigned>(frame[off]) << 8) | frame[off + 1];
    if (type != 0x8100 && type != 0x88a8 && type != 0x9100) break;
    limit += 4;
    off += 4;
  }
  return limit;
}

packet::MacAddr mac_from_name(std::string_view name) noexcept {
  // FNV-1a: stable across runs, so tests can predict it.
  std::uint64_t h = 1469598103934665603ull;
  for (char c : name) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ull;
  }
  packet::MacAddr mac;
  for (std::size_t i = 0; i < 6; ++i) mac.b[i] = static_cast<std::uint8_t>(h >> (8 * i));
  mac.b[0] = static_cast<std::uint8_t>((mac.b[0] & 0xfe) | 0x02);  // unicast, locally administered
  return mac;
}

}  // namespace detail

std::unique_ptr<PacketIo> open_port(const PortOptions& opts, std::string& error, OffloadReport& report) {
  report = OffloadReport{};
  if (opts.burst == 0) {
    error = "port '" + opts.name + "': burst must be at least 1";
    return nullptr;
  }
  if (opts.snaplen < 64) {
    error = "port '" + opts.name + "': snaplen " + std::to_string(opts.snaplen) + " is below 64 bytes";
    return nullptr;
  }
  if (opts.backend == "memory") return detail::open_memory_port(opts, error);
  if (opts.backend == "pcap-file") return detail::open_pcap_file_port(opts, error);
  if (opts.backend == "pcap") {
    if (opts.name.empty()) {
      error = "pcap port needs an interface name";
      return nullptr;
    }
    if (!apply_offload_policy(opts.name, opts.offloads, report, error)) return nullptr;
    return detail::open_pcap_live_port(opts, error);
  }
  if (opts.backend == "dpdk") {
#if FTPROXY_HAVE_DPDK
    // An af_packet vdev reads the kernel interface: GRO/LRO there would hand it merged frames.
    if (opts.dpdk_device.empty() && !opts.name.empty() &&
        !apply_offload_policy(opts.name, opts.offloads, report, error)) {
      return nullptr;
    }
    return detail::open_dpdk_port(opts, error);
#else
    error = "port '" + opts.name + "': the dpdk backend is not available in this build";
    return nullptr;
#endif
  }
  error = "port '" + opts.name + "': unknown backend '" + opts.backend +
          "' (expected pcap, pcap-file, memory or dpdk)";
  return nullptr;
}

std::unique_ptr<PacketIo> open_port(const PortOptions& opts, std::string& error) {
  OffloadReport report;
  return open_port(opts, error, report);
}

}  // namespace ftproxy::io
