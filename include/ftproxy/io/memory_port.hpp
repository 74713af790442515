// In-memory packet port for tests (the "memory" backend): a bounded rx queue fed by the
// test or by a wired peer, a bounded tx log read back by the test, a settable link state
// and one-shot fault injection in the style of DPDK's virtual PMDs.
//
// Memory: every buffer is allocated in the constructor (capacity x max_frame bytes for rx
// and for tx); rx_burst(), tx_burst() and inject_rx() never allocate.
//
// Threading: the PacketIo calls (rx_burst, tx_burst, link_state, stats) come from the
// port's one user thread. inject_rx() may come from one other thread at a time (a test
// thread, or the thread of the wired peer that calls tx_burst() on it): the rx queue is a
// single-producer single-consumer ring. Fault injection, set_link_state(), connect() and
// the tx log accessors are for the test thread while the port is idle or from the user
// thread itself.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io {

struct MemoryPortConfig {
  std::string name;                     // registry key; must be unique among live memory ports ("" = unnamed)
  std::uint32_t rx_capacity = 512;      // frames the rx queue holds (excess is counted rx_dropped)
  std::uint32_t tx_capacity = 512;      // frames the tx log holds (excess is refused by tx_burst)
  std::uint32_t max_frame = 9216 + 22;  // longest frame stored, bytes (the snap length)
  std::uint32_t mtu = 1500;             // tx refuses frames longer than mtu + 14 (+4 per VLAN tag)
  packet::MacAddr mac{};                // zero = derived from the name (locally administered)
};

class MemoryPort final : public PacketIo {
 public:
  explicit MemoryPort(MemoryPortConfig cfg);
  ~MemoryPort() override;

  // PacketIo. rx_burst returns frames in injection order; the views stay valid until the
  // next rx_burst(). tx_burst: oversize frames are consumed and counted tx_oversize; when
  // wired, frames go to the peer's rx queue (a full peer queue drops them there, as a
  // wire would); otherwise they are appended to the tx log, and a full log, a link that
  // is down or an injected fault stops the burst and counts one tx_error.
  std::size_t rx_burst(std::span<PacketView> out) noexcept override;
  std::size_t tx_burst(std::span<const ConstPacketView> frames) noexcept override;
  int wait_fd() const noexcept override { return -1; }
  LinkState link_state() noexcept override { return link_; }
  const PortInfo& info() const noexcept override { return info_; }
  void refresh_stats() noexcept override;
  const PortStats& stats() const noexcept override { return stats_; }

  // Queues one frame for rx_burst(). Returns false (and counts it) when the frame is
  // longer than max_frame (rx_oversize) or the queue is full (rx_dropped).
  bool inject_rx(std::span<const std::uint8_t> frame) noexcept;
  // Frames queued and not yet handed out by rx_burst().
  std::size_t rx_pending() const noexcept;

  // The tx log (frames sent while not wired), oldest first. tx_frames() copies it,
  // take_tx() copies and clears it. Test-side helpers: they allocate.
  std::vector<std::vector<std::uint8_t>> tx_frames() const;
  std::vector<std::vector<std::uint8_t>> take_tx();
  std::size_t tx_pending() const noexcept { return tx_count_; }

  // Fault injection, one-shot, counted from the moment of the call (1 = the next one):
  // the n-th frame offered to tx_burst() is refused (the burst stops there, one tx_error);
  // the n-th rx_burst() call returns 0 and counts one rx_error (queued frames stay).
  // n = 0 cancels.
  void fail_tx_at(std::uint64_t n) noexcept { tx_fail_countdown_ = n; }
  void fail_rx_at(std::uint64_t n) noexcept { rx_fail_countdown_ = n; }
  // down: tx_burst() refuses everything; rx keeps delivering what was already queued.
  void set_link_state(LinkState s) noexcept { link_ = s; }

  // Wires this port's tx to `peer`'s rx (one direction). nullptr unwires.
  void set_peer(MemoryPort* peer) noexcept { peer_ = peer; }
  MemoryPort* peer() const noexcept { return peer_; }

 private:
  std::size_t slot_offset(std::uint64_t index, std::uint32_t capacity) const noexcept {
    return static_cast<std::size_t>(index % capacity) * max_frame_;
  }

  PortInfo info_;
  PortStats stats_;
  std::uint32_t max_frame_;
  LinkState link_ = LinkState::up;
  MemoryPort* peer_ = nullptr;
  bool registered_ = false;

  // rx: single-producer (inject_rx) single-consumer (rx_burst) ring. Slots handed out by
  // the last rx_burst() stay reserved (head is advanced past them only at the next call).
  std::vector<std::uint8_t> rx_buf_;
  std::vector<std::uint32_t> rx_len_;
  std::uint32_t rx_capacity_;
  std::atomic<std::uint64_t> rx_head_{0};  // written by the consumer
  std::atomic<std::uint64_t> rx_tail_{0};  // written by the producer
  std::uint64_t rx_handed_ = 0;            // consumer-only: slots handed out last time
  std::atomic<std::uint64_t> rx_dropped_{0};
  std::atomic<std::uint64_t> rx_oversize_{0};

  // tx log ring (user thread only).
  std::vector<std::uint8_t> tx_buf_;
  std::vector<std::uint32_t> tx_len_;
  std::uint32_t tx_capacity_;
  std::uint64_t tx_first_ = 0;
  std::size_t tx_count_ = 0;

  std::uint64_t tx_fail_countdown_ = 0;
  std::uint64_t rx_fail_countdown_ = 0;
};

// Wires two ports both ways: tx of one becomes rx of the other.
void connect(MemoryPort& a, MemoryPort& b) noexcept;

// Process-wide registry of live named memory ports (open_port with backend "memory"
// creates one; the test finds it by name to inject frames or wire it). Thread-safe.
// Returns nullptr when no live port has that name.
MemoryPort* find_memory_port(std::string_view name);

}  // namespace ftproxy::io
