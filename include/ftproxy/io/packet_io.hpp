// Packet I/O at burst granularity: one virtual call per burst, never per packet.
// Backends: "pcap" (live libpcap capture + AF_PACKET injection), "pcap-file" (read a
// capture as rx, write tx to a capture), "memory" (tests), "dpdk" (when built with DPDK). This header
// includes neither pcap nor DPDK headers.
//
// Threading: a port is used by one thread. Ownership: rx_burst() hands out views into
// buffers the port owns; they stay valid (and writable, so the caller may rewrite
// headers in place) until the next rx_burst() on the same port. tx_burst() copies the
// frames before returning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ftproxy/packet/addr.hpp"

namespace ftproxy::io {

struct PacketView {
  std::uint8_t* data = nullptr;
  std::uint32_t len = 0;
  std::span<std::uint8_t> bytes() const noexcept { return {data, len}; }
};

struct ConstPacketView {
  const std::uint8_t* data = nullptr;
  std::uint32_t len = 0;
  ConstPacketView() = default;
  ConstPacketView(const std::uint8_t* d, std::uint32_t l) : data(d), len(l) {}
  ConstPacketView(const PacketView& v) : data(v.data), len(v.len) {}  // NOLINT implicit
  std::span<const std::uint8_t> bytes() const noexcept { return {data, len}; }
};

enum class LinkState : std::uint8_t { unknown, down, up };

// Monotonic counters of one port. Updated only by the port's own thread.
struct PortStats {
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_dropped = 0;   // dropped by the kernel/NIC ring before we read them
  std::uint64_t rx_oversize = 0;  // longer than the port's snap length: dropped, never cut
  std::uint64_t rx_errors = 0;    // read errors
  std::uint64_t tx_frames = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_errors = 0;    // frames the backend failed to send
  std::uint64_t tx_oversize = 0;  // longer than MTU + link header: refused, counted
};

struct PortInfo {
  std::string name;  // interface name, file path or memory port name
  packet::MacAddr mac;
  std::uint32_t mtu = 1500;
  std::string driver;       // dpdk: the ethdev driver ("net_af_xdp", "net_af_packet", ...)
  std::string driver_note;  // dpdk "auto": why the preferred vdev was not used ("" = it was)
};

class PacketIo {
 public:
  virtual ~PacketIo() = default;
  PacketIo() = default;
  PacketIo(const PacketIo&) = delete;
  PacketIo& operator=(const PacketIo&) = delete;

  // Receives up to out.size() frames without blocking; returns how many were written.
  virtual std::size_t rx_burst(std::span<PacketView> out) noexcept = 0;
  // Sends the frames in order; returns how many were accepted (the rest were not sent
  // and are the caller's to count or retry). Never blocks for long.
  virtual std::size_t tx_burst(std::span<const ConstPacketView> frames) noexcept = 0;
  // A file descriptor that becomes readable when rx_burst() may return frames, or -1
  // when the port must be polled (memory, pcap-file, dpdk).
  virtual int wait_fd() const noexcept = 0;
  // True when a pcap-file port has delivered every frame (end of input); false for live ports.
  virtual bool exhausted() const noexcept { return false; }
  virtual LinkState link_state() noexcept = 0;
  virtual const PortInfo& info() const noexcept = 0;
  // Refreshes kernel-side counters (e.g. ring drops) into stats(); control-plane rate.
  virtual void refresh_stats() noexcept {}
  virtual const PortStats& stats() const noexcept = 0;
};

enum class OffloadPolicy : std::uint8_t {
  disable,  // turn GRO/LRO/GSO/TSO (and tx checksum offload) off at start-up
  refuse,   // refuse to start if any is on, naming the interface and the fix
  ignore,   // leave them (only for tests that want to see the failure)
};

struct PortOptions {
  std::string backend = "pcap";  // pcap | pcap-file | memory | dpdk
  std::string name;              // interface name (pcap, dpdk) or memory port name
  std::string rx_file;           // pcap-file: capture to read as rx ("" = none)
  std::string tx_file;           // pcap-file: capture to write tx into ("" = discard)
  std::uint32_t snaplen = 9216 + 22;
  std::uint32_t ring_bytes = 32u << 20;  // pcap kernel ring (2 MiB drops under load)
  std::uint32_t burst = 64;
  OffloadPolicy offloads = OffloadPolicy::disable;
  // dpdk only. The EAL is process-wide: the first dpdk port opened initialises it with
  // `eal_args` (argv without the program name); later ports must pass the same list or an
  // empty one. Empty = safe defaults for a machine without hugepages or a DPDK NIC:
  // -l <first allowed cpu> --no-huge --no-pci -m 256 --file-prefix=ftproxy-<pid>.
  std::vector<std::string> eal_args;
  // dpdk only: the ethdev to drive, by DPDK name (PCI address "0000:01:00.0" or a vdev
  // declared in eal_args). Empty = attach a vdev to the interface `name` (dpdk_vdev).
  std::string dpdk_device;
  // dpdk, no dpdk_device: the vdev driver to attach. "auto" = net_af_xdp when it attaches
  // and starts on this interface, else net_af_packet (PortInfo::driver_note says why);
  // "af_xdp" / "af_packet" = that one only (ftproxy/io/dpdk_vdev.hpp).
  std::string dpdk_vdev = "auto";
  std::uint32_t mbufs = 4095;    // dpdk: mbufs in this port's pool (2^n - 1 is best)
  std::uint16_t rx_desc = 1024;  // dpdk: rx ring descriptors (adjusted to the device limits)
  std::uint16_t tx_desc = 1024;  // dpdk: tx ring descriptors
};

// Opens a port. Control plane only: on failure returns nullptr and a message in `error`
// that names the interface and what to do.
std::unique_ptr<PacketIo> open_port(const PortOptions& opts, std::string& error);

}  // namespace ftproxy::io
