// The log channel over TCP (DESIGN.md §3): LogSender on the primary, LogReceiver on the
// backup, both on a caller-provided io_context that runs on the packet loop's thread.
//
// Driving model (no internal timers, so tests control time):
//   each loop iteration: queue_entry()... ; sender.flush(); sender.tick(now) (or
//   receiver.tick(now)); io.poll();
// tick(now) sends heartbeats when nothing was written for heartbeat_interval, retries
// connects with back-off, and enforces connect/hello timeouts; call it at least every
// heartbeat interval. `now` must come from the same clock as Config::clock, which
// stamps last_heard() when bytes arrive.
//
// Memory is bounded on both sides: the sender's UnackedLog (full → queue_entry()
// returns 0: backpressure) and fixed read/write buffers; the receiver pauses reading
// (and acking) while its sink refuses entries. Nothing is dropped silently.
//
// Authentication: with a pre-shared key (`psk` in both configs) the HELLO exchange is a
// mutual HMAC-SHA256 challenge-response and every later record carries a tag bound to
// the connection, the direction and its position (log_auth.hpp). A peer without the
// key, with a key where this side has none, with a wrong key, or a tampered, replayed,
// reordered or dropped record ends the connection: CloseReason::auth_failed, the reason
// in last_auth_failure(), counted in ChannelStats::auth_failures. Without a psk the
// channel is unauthenticated (isolated links only).
//
// TLS: with `tls` set (log_tls.hpp) in both configs, each connection is wrapped in TLS
// 1.3 with mutual certificate verification before HELLO, within the connect/hello
// timeouts; a failed handshake ends the connection (CloseReason::auth_failed,
// AuthFailure::tls_handshake, OpenSSL's reason in the log). The psk, if any, is checked
// inside the TLS stream as without TLS.
//
// Thread-safety: everything, including callbacks, runs on the io_context's single
// thread. Destroying a sender/receiver closes its sockets; pending handlers then
// complete as no-ops (the io_context must outlive the object or be stopped first).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ftproxy/common/time.hpp"
#include "ftproxy/replication/codec.hpp"
#include "ftproxy/replication/log_auth.hpp"
#include "ftproxy/replication/log_tls.hpp"
#include "ftproxy/replication/unacked_log.hpp"

namespace ftproxy::replication {

// Why the last connection ended.
enum class CloseReason : std::uint8_t {
  none,
  peer_closed,     // EOF from the peer
  io_error,        // read/write/connect error
  decode_error,    // the peer sent bytes the decoder rejected (see last_decode_error)
  protocol_error,  // well-formed but wrong (see last_protocol_error)
  connect_timeout,
  hello_timeout,  // no valid HELLO in time
  replaced,       // receiver: a newer, valid primary connection took over
  dropped,        // the owner called drop_connection()
  stopped,        // the owner called stop() or destroyed the object
  auth_failed,    // authentication failed (see last_auth_failure)
};
const char* to_string(CloseReason r) noexcept;

enum class ProtocolError : std::uint8_t {
  none,
  seq_gap,            // receiver: entry seq skips ahead of last delivered + 1
  ack_beyond_sent,    // sender: ack for a seq never logged
  resume_gap,         // sender: backup's HELLO seq is older than the oldest held entry
  resume_ahead,       // sender: backup's HELLO seq is newer than anything logged
  unexpected_record,  // a record type the side never receives (ENTRY at the primary...)
};
inline constexpr std::size_t kProtocolErrorCount = 6;
const char* to_string(ProtocolError e) noexcept;

// Why authentication failed (the label of ftproxy_log_auth_failures_total).
enum class AuthFailure : std::uint8_t {
  none,
  peer_without_key,  // this side has a key, the peer's HELLO announces none
  peer_with_key,     // the peer's HELLO announces a key, this side has none
  bad_proof,         // handshake proof wrong: another key, or a replayed/tampered handshake
  missing_proof,     // receiver: a record other than AUTH before the primary proved itself
  bad_record_mac,    // a record's tag did not verify (tampered, replayed, reordered, dropped)
  no_randomness,     // the CSPRNG gave no nonce (this side's problem; nothing was sent)
  no_answer,         // receiver: the peer left (or timed out) after our challenge without
                     // answering, as a primary with another key does once our proof fails
  tls_handshake,     // the TLS handshake failed: a peer without TLS, or whose certificate
                     // does not verify against our CA (or ours against its CA)
};
inline constexpr std::size_t kAuthFailureCount = 9;
const char* to_string(AuthFailure f) noexcept;
// One sentence for the log: what the operator should look at.
const char* explain(AuthFailure f) noexcept;

// Monotonic counters (read on the loop thread, e.g. for /metrics).
struct ChannelStats {
  std::uint64_t records_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t writes = 0;  // write batches (async_write calls)
  std::uint64_t records_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t reads = 0;
  std::uint64_t entries_queued = 0;     // sender
  std::uint64_t entries_sent = 0;       // sender, resends included
  std::uint64_t entries_resent = 0;     // sender, after a reconnect
  std::uint64_t queue_full = 0;         // sender: queue_entry refused (backpressure)
  std::uint64_t queue_oversize = 0;     // sender: entry data above max_entry_data
  std::uint64_t entries_delivered = 0;  // receiver: handed to the sink
  std::uint64_t duplicates = 0;         // receiver: seq <= last delivered, ignored
  std::uint64_t delivery_stalls = 0;    // receiver: sink refused an entry (paused)
  std::uint64_t acks_sent = 0;
  std::uint64_t acks_received = 0;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t heartbeats_received = 0;
  std::uint64_t connect_attempts = 0;  // sender
  std::uint64_t connect_failures = 0;  // sender (errors and timeouts)
  std::uint64_t connects = 0;          // handshakes completed
  std::uint64_t reconnects = 0;        // handshakes completed after the first
  std::uint64_t disconnects = 0;       // established connections that ended
  std::uint64_t refused_hellos = 0;    // receiver: connections refused during HELLO
  std::uint64_t refused_busy = 0;      // receiver: too many connections awaiting HELLO
  std::uint64_t hello_timeouts = 0;
  std::uint64_t authenticated = 0;                                   // handshakes completed with the key
  std::array<std::uint64_t, kAuthFailureCount> auth_failures{};      // by AuthFailure
  std::array<std::uint64_t, kDecodeErrorCount> decode_errors{};      // by DecodeError
  std::array<std::uint64_t, kProtocolErrorCount> protocol_errors{};  // by ProtocolError
};

using MonoClockFn = std::function<MonoTime()>;

struct SenderConfig {
  std::string cluster;  // 1..64 bytes
  std::uint64_t epoch = 0;
  std::string node_name;          // 0..64 bytes, sent in HELLO
  std::vector<std::uint8_t> psk;  // kLogKeyMinBytes..kLogKeyMaxBytes; empty = no authentication
  std::shared_ptr<LogTls> tls;    // make_log_tls(); null = plain TCP
  boost::asio::ip::tcp::endpoint peer;
  UnackedLogLimits unacked{};
  std::size_t batch_bytes = 64 * 1024;  // records coalesced per write
  std::size_t max_entry_data = kDefaultMaxEntryData;
  MonoTime heartbeat_interval = milliseconds(5);
  MonoTime connect_timeout = milliseconds(200);
  MonoTime hello_timeout = milliseconds(500);
  MonoTime reconnect_min = milliseconds(5);  // back-off doubles up to reconnect_max
  MonoTime reconnect_max = milliseconds(500);
  std::uint64_t first_seq = 1;  // seq of the first entry queued
  MonoClockFn clock = mono_now;
  // Called on the loop thread after a read that advanced the cumulative ack (HELLO or
  // ACK records), once per read, with the new ack. Optional; must not destroy the sender.
  std::function<void(std::uint64_t acked)> on_ack;
};

// Primary side. Entries are encoded once into the UnackedLog at queue_entry() and
// written from there, so a reconnect resends exactly what the backup lacks (from the
// seq in the backup's HELLO). A backup that lacks entries already acked (it restarted:
// last_protocol_error() == resume_gap) cannot be resumed: the owner starts a new epoch.
class LogSender {
 public:
  LogSender(boost::asio::io_context& io, SenderConfig cfg);
  ~LogSender();
  LogSender(const LogSender&) = delete;
  LogSender& operator=(const LogSender&) = delete;

  // Starts connecting (now, then with back-off until stop()).
  void start(MonoTime now);
  // Closes the connection for good (no reconnect); state and counters stay readable.
  void stop();

  // Logs one entry and returns its seq, or 0 when refused: the UnackedLog is full
  // (backpressure: stop taking input until acks free room) or data exceeds
  // max_entry_data. Works while disconnected (sent after the reconnect). No allocation.
  std::uint64_t queue_entry(EntryKind kind, std::uint64_t time_ns,
                            std::span<const std::uint8_t> data) noexcept;
  // True if an entry with `data_len` bytes of data would be accepted now.
  bool can_queue(std::size_t data_len) const noexcept;
  // Writes everything queued (and a due heartbeat) in one batch if no write is in
  // flight; otherwise the batch follows when the current write completes.
  void flush();
  void tick(MonoTime now);
  // Closes the current connection (e.g. to test resend); reconnecting follows.
  void drop_connection();

  bool connected() const noexcept;           // handshake done, entries flowing
  std::uint64_t acked_seq() const noexcept;  // cumulative ack from the backup
  std::uint64_t last_queued_seq() const noexcept;
  std::uint64_t last_sent_seq() const noexcept;  // last seq handed to a write
  MonoTime last_heard() const noexcept;          // last bytes from the backup (0 = never)
  std::size_t unacked_entries() const noexcept;
  std::size_t unacked_bytes() const noexcept;
  std::string_view peer_node() const noexcept;  // node name from the backup's HELLO
  CloseReason last_close_reason() const noexcept;
  DecodeError last_decode_error() const noexcept;
  ProtocolError last_protocol_error() const noexcept;
  AuthFailure last_auth_failure() const noexcept;
  const ChannelStats& stats() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct ReceiverConfig {
  std::string cluster;  // a primary's HELLO must carry this cluster
  bool check_epoch = true;
  std::uint64_t epoch = 0;  // ... and this epoch when check_epoch
  std::string node_name;
  std::vector<std::uint8_t> psk;          // the same key as the primary's; empty = none
  std::shared_ptr<LogTls> tls;            // make_log_tls(); null = plain TCP
  boost::asio::ip::tcp::endpoint listen;  // port 0 = ephemeral (see local_endpoint())
  std::size_t max_entry_data = kDefaultMaxEntryData;
  std::size_t read_buffer_bytes = 64 * 1024;
  std::size_t max_pending_connections = 4;  // accepted, HELLO not yet validated
  MonoTime heartbeat_interval = milliseconds(5);
  MonoTime hello_timeout = milliseconds(500);
  std::uint64_t last_delivered_seq = 0;  // entries up to this one are already held
  MonoClockFn clock = mono_now;
  // Called on the loop thread after each read's entries were delivered to the sink and
  // its ACK was queued: the owner flushes what the sink batched. Optional.
  std::function<void()> on_batch_end;
};

// Called once per new entry, in seq order. Return true when taken (it will be acked) or
// false when there is no room: reading and acking pause and the same entry is offered
// again at the next tick()/resume(). `e.data` is valid only during the call. Must be
// cheap (copy and return).
using EntrySink = std::function<bool(const EntryView& e)>;

// Backup side: accepts on an endpoint, serves at most one validated primary; a new
// connection whose HELLO validates replaces the current one (a reconnecting primary),
// anything else is refused with a logged reason and a counter while the current
// primary keeps replicating.
class LogReceiver {
 public:
  LogReceiver(boost::asio::io_context& io, ReceiverConfig cfg, EntrySink sink);
  ~LogReceiver();
  LogReceiver(const LogReceiver&) = delete;
  LogReceiver& operator=(const LogReceiver&) = delete;

  // Binds and starts accepting. Control plane: false + message on failure.
  bool listen(std::string& error);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void stop();

  void tick(MonoTime now);
  // Offers a paused entry to the sink again now (call when room was freed).
  void resume();
  void drop_connection();

  bool connected() const noexcept;
  std::uint64_t last_delivered_seq() const noexcept;
  MonoTime last_heard() const noexcept;  // last bytes from the active primary (0 = never)
  bool paused() const noexcept;          // the sink refused an entry
  std::string_view peer_node() const noexcept;
  CloseReason last_close_reason() const noexcept;
  AuthFailure last_auth_failure() const noexcept;  // last refusal or closure for auth
  const ChannelStats& stats() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ftproxy::replication
