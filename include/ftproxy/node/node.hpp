// The proxy node: the I/O shell that owns the two packet ports (ext faces the LAN, int
// faces this proxy's own server), the control port and, per role, the replication
// machinery (log channel, output gate, TCP translator, role machine, arbiter client).
// Everything runs on one thread: the caller's io_context.
//
// Data path per state (DESIGN.md §2):
//   standalone   ext → int and int → ext forwarded as they are.
//   primary      ext → int forwarded, every frame logged first; int → ext held in the
//                OutputGate until the backup acked every entry logged before it; the
//                server's SYN-ACKs are logged as FLOW_META.
//   backup       ext ignored; log entries injected into int in order (TCP translated);
//                int outputs learned from and suppressed; the server's ARP requests
//                answered from neighbours learned from mirrored frames.
//   arbitrating  as before (nothing unacked is released).
//   live         primary origin: plain forwarding, no holding. Backup origin: ext → int
//                and int → ext translated, gratuitous ARP burst + refresh.
//   fenced       both directions dropped.
// In every state frames from int with a wrong L4 checksum are repaired (counted) when
// ports.repair_checksums is set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "ftproxy/control/config.hpp"
#include "ftproxy/io/packet_io.hpp"
#include "ftproxy/packet/frame.hpp"

namespace ftproxy::node {

// Data-path counters of the node (the ports, channel, gate and translator keep their own).
struct ForwardCounters {
  std::uint64_t ext_to_int_frames = 0;
  std::uint64_t ext_to_int_bytes = 0;
  std::uint64_t int_to_ext_frames = 0;
  std::uint64_t int_to_ext_bytes = 0;
  std::uint64_t tx_refused = 0;        // frames a port did not accept (dropped, counted)
  std::uint64_t int_checksum_bad = 0;  // frames from int with a wrong L4 checksum
  std::uint64_t int_checksum_repaired = 0;
  std::uint64_t ext_ignored = 0;          // backup: frames seen on ext and dropped
  std::uint64_t outputs_suppressed = 0;   // backup: server outputs dropped
  std::uint64_t fenced_drops = 0;         // fenced: frames dropped
  std::uint64_t log_refused = 0;          // primary: frames dropped because the log was full
  std::uint64_t gate_refused = 0;         // primary: outputs dropped because the gate was full
  std::uint64_t flow_meta_logged = 0;     // primary
  std::uint64_t entries_injected = 0;     // backup: log frames sent into int (incl. after queueing)
  std::uint64_t entries_bad = 0;          // backup: entries that could not be decoded
  std::uint64_t inject_backpressure = 0;  // backup: entries refused for lack of queue room (retried)
  std::uint64_t arp_answered = 0;         // backup: server ARP requests answered
  std::uint64_t arp_unanswered = 0;       // backup: server ARP requests for unknown neighbours
  std::uint64_t garps_sent = 0;
  std::uint64_t takeover_replayed = 0;  // suppressed outputs re-sent at takeover (unacked by the client)
  std::uint64_t translate_drops = 0;    // frames the translator dropped (see tcp counters)
  std::uint64_t failovers = 0;          // transitions to live
  std::uint64_t stalled_ticks = 0;      // late ticks (this process stalled): peer-silence check deferred
  std::uint64_t parse_errors[static_cast<std::size_t>(packet::ParseStatus::count_)] = {};
};

class Node {
 public:
  // `cfg` must have been validated (control::load_proxy_config).
  Node(boost::asio::io_context& io, control::ProxyConfig cfg);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Opens the ports (applying the offload policy), the log channel, the arbiter client
  // and the control port, and starts serving. Control plane: false + a message.
  bool start(std::string& error);
  // Stops everything; the io_context then runs out of this node's work.
  void stop();

  // Runs one receive/forward pass over both ports regardless of readiness plus one
  // timer tick; returns the number of frames read. For tests driving memory ports.
  std::size_t poll_once();

  // "standalone", "primary", "backup", "arbitrating", "live", "fenced".
  const char* state() const noexcept;
  std::string status_json() const;
  std::string metrics_text() const;
  std::uint16_t control_port() const noexcept;
  const ForwardCounters& counters() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftproxy::node
