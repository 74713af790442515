#include "ftproxy/replication/channel.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "log_stream.hpp"

namespace ftproxy::replication {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

const char* to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::none:
      return "none";
    case CloseReason::peer_closed:
      return "peer_closed";
    case CloseReason::io_error:
      return "io_error";
    case CloseReason::decode_error:
      return "decode_error";
    case CloseReason::protocol_error:
      return "protocol_error";
    case CloseReason::connect_timeout:
      return "connect_timeout";
    case CloseReason::hello_timeout:
      return "hello_timeout";
    case CloseReason::replaced:
      return "replaced";
    case CloseReason::dropped:
      return "dropped";
    case CloseReason::stopped:
      return "stopped";
    case CloseReason::auth_failed:
      return "auth_failed";
  }
  return "unknown";
}

const char* to_string(AuthFailure f) noexcept {
  switch (f) {
    case AuthFailure::none:
      return "none";
    case AuthFailure::peer_without_key:
      return "peer_without_key";
    case AuthFailure::peer_with_key:
      return "peer_with_key";
    case AuthFailure::bad_proof:
      return "bad_proof";
    case AuthFailure::missing_proof:
      return "missing_proof";
    case AuthFailure::bad_record_mac:
      return "bad_record_mac";
    case AuthFailure::no_randomness:
      return "no_randomness";
    case AuthFailure::no_answer:
      return "no_answer";
    case AuthFailure::tls_handshake:
      return "tls_handshake";
  }
  return "unknown";
}

const char* explain(AuthFailure f) noexcept {
  switch (f) {
    case AuthFailure::none:
      return "";
    case AuthFailure::peer_without_key:
      return "this proxy has log.key_file set and the peer announced no key: set the same key_file on both";
    case AuthFailure::peer_with_key:
      return "the peer announced a key and this proxy has no log.key_file: set the same key_file on both";
    case AuthFailure::bad_proof:
      return "the peer does not hold this proxy's log key (different key_file contents, or a replayed or "
             "tampered handshake)";
    case AuthFailure::missing_proof:
      return "the peer sent records before proving it holds the log key";
    case AuthFailure::bad_record_mac:
      return "a record failed its integrity check (tampered, replayed, reordered or dropped)";
    case AuthFailure::no_randomness:
      return "the system random generator returned no nonce";
    case AuthFailure::no_answer:
      return "the peer left after this proxy's challenge without proving it holds the log key (a primary "
             "with another key_file does this: see its log)";
    case AuthFailure::tls_handshake:
      return "the TLS handshake failed: set log.tls = true on both proxies, with certificates issued by the "
             "CA in the other proxy's log.tls_ca_file";
  }
  return "";
}

const char* to_string(ProtocolError e) noexcept {
  switch (e) {
    case ProtocolError::none:
      return "none";
    case ProtocolError::seq_gap:
      return "seq_gap";
    case ProtocolError::ack_beyond_sent:
      return "ack_beyond_sent";
    case ProtocolError::resume_gap:
      return "resume_gap";
    case ProtocolError::resume_ahead:
      return "resume_ahead";
    case ProtocolError::unexpected_record:
      return "unexpected_record";
  }
  return "unknown";
}

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
  error_code ec;
  return ep.address().to_string(ec) + ":" + std::to_string(ep.port());
}

std::uint64_t to_ns(MonoTime t) noexcept {
  return t.count() > 0 ? static_cast<std::uint64_t>(t.count()) : 0;
}

// A plain end's decoder met a TLS record (handshake or alert, version 3.x) where a
// HELLO belongs: the peer has log.tls = true and this side not. Names the mismatch in
// the refusal instead of a bare bad_magic.
bool looks_like_tls(std::span<const std::uint8_t> first) noexcept {
  return first.size() >= 2 && (first[0] == 0x15 || first[0] == 0x16) && first[1] == 0x03;
}
constexpr std::string_view kPeerSpeaksTls = "the peer speaks TLS and this proxy has log.tls = false";

// How a connection is protected, for the "connected" log lines of both sides.
const char* protection(bool keyed, bool tls) noexcept {
  if (keyed) return tls ? "authenticated with log.key_file, over TLS" : "authenticated with log.key_file";
  return tls ? "over TLS, certificates verified, no log.key_file" : "unauthenticated";
}

}  // namespace

// ===================================================================== LogSender ====

struct LogSender::Impl : std::enable_shared_from_this<LogSender::Impl> {
  enum class State : std::uint8_t { idle, waiting, connecting, handshake, active, stopped };

  // Buffers live with the connection so a cancelled operation of an old connection can
  // never touch memory a new connection writes into.
  struct Conn {
    Conn(asio::io_context& io, std::size_t wbuf_bytes)
        : stream(io), rbuf(4096), wbuf(wbuf_bytes), dec(DecoderLimits{kHelloMaxPayload}) {}
    ~Conn() { clear_secrets(secrets); }
    LogStream stream;
    std::vector<std::uint8_t> rbuf;
    std::vector<std::uint8_t> wbuf;
    LogDecoder dec;
    bool writing = false;
    // Authentication (psk only): our HELLO payload for the transcript, the session's
    // secrets until AUTH is written, and the per-direction record MACs.
    std::array<std::uint8_t, kHelloMaxPayload> hello_sent{};
    std::size_t hello_sent_len = 0;
    SessionSecrets secrets;
    bool auth_due = false;  // AUTH goes first in the next write
    bool sealed = false;    // records written from now on carry a tag
    RecordMac tx_mac;
    RecordMac rx_mac;
  };

  Impl(asio::io_context& io_, SenderConfig c)
      : io(io_), cfg(std::move(c)), log(cfg.unacked, cfg.first_seq), backoff(cfg.reconnect_min) {
    acked = cfg.first_seq - 1;
    next_send = cfg.first_seq;
    max_sent = cfg.first_seq - 1;
    wbuf_bytes =
        std::max(cfg.batch_bytes, entry_record_size(cfg.max_entry_data) + kHeartbeatRecordSize +
                                      2 * kTagSize + kAuthRecordSize + kHeaderSize + kHelloMaxPayload);
  }

  asio::io_context& io;
  SenderConfig cfg;
  UnackedLog log;
  ChannelStats stats;
  State state = State::idle;
  std::shared_ptr<Conn> conn;
  std::size_t wbuf_bytes = 0;
  MonoTime since{0};  // when the current state began
  MonoTime next_attempt{0};
  MonoTime backoff;
  MonoTime last_tx{0};
  MonoTime heard{0};
  std::uint64_t acked = 0;
  std::uint64_t next_send = 1;
  std::uint64_t max_sent = 0;  // highest seq ever written (to count resends)
  bool hb_due = false;
  std::string peer_node;
  CloseReason close_reason = CloseReason::none;
  DecodeError decode_error = DecodeError::none;
  ProtocolError protocol_error = ProtocolError::none;
  AuthFailure auth_failure = AuthFailure::none;

  MonoTime now() const { return cfg.clock(); }
  bool keyed() const { return !cfg.psk.empty(); }

  void begin_connect() {
    conn = std::make_shared<Conn>(io, wbuf_bytes);
    HelloExpectation e;
    e.cluster = cfg.cluster;
    e.epoch = cfg.epoch;
    e.role = PeerRole::backup;
    conn->dec.expect_hello(e);
    state = State::connecting;
    since = now();
    ++stats.connect_attempts;
    conn->stream.socket().async_connect(cfg.peer, [self = shared_from_this(),
                                                   c = conn](const error_code& ec) {
      if (self->conn != c) return;
      if (ec) {
        ++self->stats.connect_failures;
        SPDLOG_DEBUG("log channel: connect to {} failed: {}", endpoint_text(self->cfg.peer), ec.message());
        self->close(CloseReason::io_error);
        return;
      }
      self->on_connected();
    });
  }

  // TCP is up: the TLS handshake (if configured), then HELLO, all within hello_timeout.
  void on_connected() {
    error_code ec;
    conn->stream.socket().set_option(tcp::no_delay(true), ec);
    state = State::handshake;
    since = now();
    if (!cfg.tls) {
      send_hello();
      return;
    }
    conn->stream.use_tls(*cfg.tls);
    conn->stream.async_handshake(true, [self = shared_from_this(), c = conn](const error_code& hec) {
      if (self->conn != c) return;
      if (hec) {
        self->fail_auth(AuthFailure::tls_handshake, c->stream.handshake_error(hec));
        return;
      }
      self->send_hello();
    });
  }

  void send_hello() {
    Hello h;
    h.role = PeerRole::primary;
    h.epoch = cfg.epoch;
    h.seq = acked;
    h.cluster = cfg.cluster;
    h.node = cfg.node_name;
    std::array<std::uint8_t, kNonceSize> nonce{};
    if (keyed()) {
      if (!fill_random(nonce)) {
        fail_auth(AuthFailure::no_randomness);
        return;
      }
      h.auth = AuthMode::psk;
      h.nonce = nonce;
    }
    const std::size_t n = encode_hello(conn->wbuf, h);
    if (n == 0) {  // names validated by the config loader; refuse rather than send garbage
      spdlog::error("log channel: cannot encode HELLO (cluster/node name length)");
      close(CloseReason::protocol_error);
      return;
    }
    conn->hello_sent_len = n - kHeaderSize;
    std::copy_n(conn->wbuf.begin() + kHeaderSize, conn->hello_sent_len, conn->hello_sent.begin());
    start_write(n, 1);
    start_read();
  }

  void start_read() {
    auto c = conn;
    c->stream.async_read_some(
        asio::buffer(c->rbuf), [self = shared_from_this(), c](const error_code& ec, std::size_t n) {
          if (self->conn != c) return;
          if (ec) {
            // A TLS alert before the backup's HELLO: it refused our certificate (in TLS
            // 1.3 that comes after our side of the handshake completed).
            if (self->state == State::handshake && c->stream.tls() && !LogStream::peer_closed(ec) &&
                ec.category() == asio::error::get_ssl_category()) {
              self->fail_auth(AuthFailure::tls_handshake, ec.message());
              return;
            }
            self->close(LogStream::peer_closed(ec) ? CloseReason::peer_closed : CloseReason::io_error);
            return;
          }
          self->on_read(n);
        });
  }

  void on_read(std::size_t n) {
    ++stats.reads;
    stats.bytes_received += n;
    heard = now();
    auto c = conn;
    c->dec.feed(std::span<const std::uint8_t>(c->rbuf.data(), n));
    const std::uint64_t acked_before = acked;
    Record rec;
    for (;;) {
      const DecodeStatus st = c->dec.next(rec);
      if (st == DecodeStatus::need_more) break;
      if (st == DecodeStatus::error) {
        decode_error = c->dec.error();
        ++stats.decode_errors[static_cast<std::size_t>(decode_error)];
        if (decode_error == DecodeError::bad_mac) {
          fail_auth(AuthFailure::bad_record_mac);
          return;
        }
        if (decode_error == DecodeError::bad_magic && state == State::handshake && !c->stream.tls() &&
            looks_like_tls(std::span<const std::uint8_t>(c->rbuf.data(), n))) {
          fail_auth(AuthFailure::tls_handshake, kPeerSpeaksTls);
          return;
        }
        spdlog::warn("log channel: closing connection to {}: decode error {}", endpoint_text(cfg.peer),
                     to_string(decode_error));
        close(CloseReason::decode_error);
        return;
      }
      ++stats.records_received;
      if (!handle(rec)) return;  // closed
    }
    // Once per read, not per ACK record: the owner releases held outputs in one burst.
    if (acked != acked_before && cfg.on_ack) cfg.on_ack(acked);
    start_read();
  }

  // False when the record closed the connection.
  bool handle(const Record& rec) {
    switch (rec.type) {
      case RecordType::hello:
        return on_hello(rec);
      case RecordType::ack:
        ++stats.acks_received;
        if (rec.ack_seq > log.last_seq()) return fail(ProtocolError::ack_beyond_sent);
        if (rec.ack_seq > acked) {
          log.ack(rec.ack_seq);
          acked = rec.ack_seq;
        }
        return true;
      case RecordType::heartbeat:
        ++stats.heartbeats_received;
        return true;
      case RecordType::entry:
      case RecordType::auth:
        return fail(ProtocolError::unexpected_record);
    }
    return true;
  }

  bool on_hello(const Record& rec) {
    const Hello& h = rec.hello;
    // Authentication before anything the HELLO says is acted upon.
    if (keyed() && h.auth != AuthMode::psk) return fail_auth(AuthFailure::peer_without_key);
    if (!keyed() && h.auth != AuthMode::none) return fail_auth(AuthFailure::peer_with_key);
    if (keyed()) {
      derive_session(cfg.psk, std::span<const std::uint8_t>(conn->hello_sent.data(), conn->hello_sent_len),
                     rec.payload.first(rec.payload.size() - kProofSize), conn->secrets);
      if (!equal_secret(conn->secrets.backup_proof, h.proof)) return fail_auth(AuthFailure::bad_proof);
      conn->tx_mac.start(conn->secrets.primary_to_backup);
      conn->rx_mac.start(conn->secrets.backup_to_primary);
      conn->dec.set_authenticator(&conn->rx_mac);
      conn->auth_due = true;
      ++stats.authenticated;
    }
    // The backup reports the highest seq it holds; resend from the one after.
    if (h.seq > log.last_seq()) return fail(ProtocolError::resume_ahead);
    if (h.seq + 1 < log.front_seq()) return fail(ProtocolError::resume_gap);
    if (h.seq > acked) {
      log.ack(h.seq);
      acked = h.seq;
    }
    next_send = h.seq + 1;
    peer_node.assign(h.node);
    state = State::active;
    backoff = cfg.reconnect_min;
    if (stats.connects++ > 0) ++stats.reconnects;
    spdlog::info("log channel: connected to backup '{}' at {} (epoch {}, resuming after seq {}, {})",
                 peer_node, endpoint_text(cfg.peer), cfg.epoch, h.seq,
                 protection(keyed(), conn->stream.tls()));
    flush();
    return true;
  }

  // `detail`: what the library said (the TLS handshake's error), or empty.
  bool fail_auth(AuthFailure f, std::string_view detail = {}) {
    auth_failure = f;
    ++stats.auth_failures[static_cast<std::size_t>(f)];
    spdlog::warn("log channel: closing connection to backup at {}: authentication failed: {}{}{} ({})",
                 endpoint_text(cfg.peer), to_string(f), detail.empty() ? "" : ": ", detail, explain(f));
    close(CloseReason::auth_failed);
    return false;
  }

  // Appends one encoded record, and its tag once the session is sealed. False (nothing
  // written) when the batch buffer lacks room.
  bool put(LogEncoder& enc, std::span<const std::uint8_t> rec) noexcept {
    const std::size_t tag = conn->sealed ? kTagSize : 0;
    if (enc.free_bytes() < rec.size() + tag) return false;
    enc.append_raw(rec);
    if (tag != 0) {
      std::array<std::uint8_t, kTagSize> t;
      conn->tx_mac.seal(rec, t);
      enc.append_raw(t);
    }
    return true;
  }

  bool fail(ProtocolError e) {
    protocol_error = e;
    ++stats.protocol_errors[static_cast<std::size_t>(e)];
    spdlog::warn("log channel: closing connection to {}: protocol error {}", endpoint_text(cfg.peer),
                 to_string(e));
    close(CloseReason::protocol_error);
    return false;
  }

  void flush() {
    if (state != State::active || conn->writing) return;
    LogEncoder enc(conn->wbuf);
    std::size_t records = 0;
    if (conn->auth_due) {  // the first bytes after the backup's HELLO; never tagged
      enc.append_auth(conn->secrets.primary_proof);
      ++records;
      conn->auth_due = false;
      conn->sealed = true;
      clear_secrets(conn->secrets);
    }
    if (hb_due) {
      std::array<std::uint8_t, kHeartbeatRecordSize> hb;
      encode_heartbeat(hb, Heartbeat{to_ns(now()), next_send - 1});
      if (put(enc, hb)) {
        ++records;
        ++stats.heartbeats_sent;
      }
      hb_due = false;
    }
    while (next_send <= log.last_seq()) {
      if (!put(enc, log.get(next_send))) break;
      ++records;
      ++stats.entries_sent;
      if (next_send <= max_sent) ++stats.entries_resent;
      ++next_send;
    }
    max_sent = std::max(max_sent, next_send - 1);
    if (enc.size() != 0) start_write(enc.size(), records);
  }

  void start_write(std::size_t len, std::size_t records) {
    auto c = conn;
    c->writing = true;
    ++stats.writes;
    stats.records_sent += records;
    last_tx = now();
    c->stream.async_write(asio::buffer(c->wbuf.data(), len),
                          [self = shared_from_this(), c](const error_code& ec, std::size_t n) {
                            if (self->conn != c) return;
                            c->writing = false;
                            if (ec) {
                              self->close(CloseReason::io_error);
                              return;
                            }
                            self->stats.bytes_sent += n;
                            self->flush();
                          });
  }

  void tick(MonoTime t) {
    switch (state) {
      case State::waiting:
        if (t >= next_attempt) begin_connect();
        break;
      case State::connecting:
        if (t - since >= cfg.connect_timeout) {
          ++stats.connect_failures;
          close(CloseReason::connect_timeout);
        }
        break;
      case State::handshake:
        if (t - since >= cfg.hello_timeout) {
          ++stats.hello_timeouts;
          close(CloseReason::hello_timeout);
        }
        break;
      case State::active:
        if (t - last_tx >= cfg.heartbeat_interval) {
          hb_due = true;
          flush();
        }
        break;
      case State::idle:
      case State::stopped:
        break;
    }
  }

  void close(CloseReason why) {
    if (conn) {
      conn->stream.close();
      conn.reset();
    }
    if (state == State::active) {
      ++stats.disconnects;
      spdlog::log(why == CloseReason::stopped ? spdlog::level::info : spdlog::level::warn,
                  "log channel: connection to backup at {} ended: {}", endpoint_text(cfg.peer),
                  to_string(why));
    }
    close_reason = why;
    hb_due = false;
    if (state == State::stopped || why == CloseReason::stopped) {
      state = State::stopped;
      return;
    }
    state = State::waiting;
    next_attempt = now() + backoff;
    backoff = std::min(backoff * 2, cfg.reconnect_max);
  }
};

LogSender::LogSender(asio::io_context& io, SenderConfig cfg)
    : impl_(std::make_shared<Impl>(io, std::move(cfg))) {}

LogSender::~LogSender() {
  stop();
}

void LogSender::start(MonoTime now) {
  if (impl_->state != Impl::State::idle) return;
  impl_->state = Impl::State::waiting;
  impl_->next_attempt = now;
  impl_->tick(now);
}

void LogSender::stop() {
  impl_->close(CloseReason::stopped);
}

std::uint64_t LogSender::queue_entry(EntryKind kind, std::uint64_t time_ns,
                                     std::span<const std::uint8_t> data) noexcept {
  Impl& s = *impl_;
  if (data.size() > s.cfg.max_entry_data) {
    ++s.stats.queue_oversize;
    return 0;
  }
  const std::size_t len = entry_record_size(data.size());
  const std::uint64_t seq = s.log.next_seq();
  std::uint8_t* p = s.log.append_slot(seq, len);
  if (p == nullptr) {
    ++s.stats.queue_full;
    return 0;
  }
  encode_entry(std::span<std::uint8_t>(p, len), seq, kind, time_ns, data);
  ++s.stats.entries_queued;
  return seq;
}

bool LogSender::can_queue(std::size_t data_len) const noexcept {
  return data_len <= impl_->cfg.max_entry_data && impl_->log.fits(entry_record_size(data_len));
}

void LogSender::flush() {
  impl_->flush();
}
void LogSender::tick(MonoTime now) {
  impl_->tick(now);
}
void LogSender::drop_connection() {
  if (impl_->conn) impl_->close(CloseReason::dropped);
}
bool LogSender::connected() const noexcept {
  return impl_->state == Impl::State::active;
}
std::uint64_t LogSender::acked_seq() const noexcept {
  return impl_->acked;
}
std::uint64_t LogSender::last_queued_seq() const noexcept {
  return impl_->log.last_seq();
}
std::uint64_t LogSender::last_sent_seq() const noexcept {
  return impl_->next_send - 1;
}
MonoTime LogSender::last_heard() const noexcept {
  return impl_->heard;
}
std::size_t LogSender::unacked_entries() const noexcept {
  return impl_->log.entries();
}
std::size_t LogSender::unacked_bytes() const noexcept {
  return impl_->log.bytes();
}
std::string_view LogSender::peer_node() const noexcept {
  return impl_->peer_node;
}
CloseReason LogSender::last_close_reason() const noexcept {
  return impl_->close_reason;
}
DecodeError LogSender::last_decode_error() const noexcept {
  return impl_->decode_error;
}
ProtocolError LogSender::last_protocol_error() const noexcept {
  return impl_->protocol_error;
}
AuthFailure LogSender::last_auth_failure() const noexcept {
  return impl_->auth_failure;
}
const ChannelStats& LogSender::stats() const noexcept {
  return impl_->stats;
}

// =================================================================== LogReceiver ====

struct LogReceiver::Impl : std::enable_shared_from_this<LogReceiver::Impl> {
  struct Session {
    Session(asio::io_context& io, const ReceiverConfig& cfg)
        : stream(io), rbuf(cfg.read_buffer_bytes), dec(DecoderLimits{kEntryFixedSize + cfg.max_entry_data}) {}
    ~Session() { clear_secrets(secrets); }
    LogStream stream;
    tcp::endpoint remote;
    std::vector<std::uint8_t> rbuf;
    LogDecoder dec;
    std::array<std::uint8_t,
               kHeaderSize + kHelloMaxPayload + kAckRecordSize + kHeartbeatRecordSize + 2 * kTagSize>
        wbuf{};
    bool writing = false;
    bool validated = false;
    bool hello_reply_due = false;
    bool paused = false;
    Record pending;  // the entry the sink refused; views rbuf or dec's buffer
    MonoTime accepted_at{0};
    // From the primary's HELLO (kept for promotion, which waits for AUTH with a key).
    std::uint64_t hello_epoch = 0;
    std::uint64_t hello_peer_seq = 0;
    std::string hello_node;
    std::uint64_t hello_seq = 0;  // the seq our HELLO reply announced
    // Authentication (psk only).
    bool awaiting_proof = false;     // our HELLO with its challenge went out; AUTH is next
    bool close_after_write = false;  // refused: the reply tells the peer why, then close
    bool sealed = false;
    SessionSecrets secrets;
    RecordMac tx_mac;
    RecordMac rx_mac;
  };
  using SessionPtr = std::shared_ptr<Session>;

  Impl(asio::io_context& io_, ReceiverConfig c, EntrySink s)
      : io(io_),
        cfg(std::move(c)),
        sink(std::move(s)),
        acceptor(io_),
        last_delivered(cfg.last_delivered_seq),
        last_acked_sent(cfg.last_delivered_seq) {}

  asio::io_context& io;
  ReceiverConfig cfg;
  EntrySink sink;
  tcp::acceptor acceptor;
  ChannelStats stats;
  SessionPtr active;
  std::vector<SessionPtr> pending;  // awaiting a valid HELLO, bounded by max_pending
  std::uint64_t last_delivered;
  std::uint64_t last_acked_sent;
  bool hb_due = false;
  bool stopped = false;
  MonoTime last_tx{0};
  MonoTime heard{0};
  MonoTime last_refusal_log{0};
  std::uint64_t refusals_unlogged = 0;
  std::string peer_node;
  CloseReason close_reason = CloseReason::none;
  AuthFailure auth_failure = AuthFailure::none;

  MonoTime now() const { return cfg.clock(); }
  bool keyed() const { return !cfg.psk.empty(); }

  void accept() {
    acceptor.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket sock) {
      if (self->stopped) return;
      if (ec) {
        if (ec != asio::error::operation_aborted) {
          spdlog::warn("log channel: accept failed: {}", ec.message());
          self->accept();
        }
        return;
      }
      self->on_accept(std::move(sock));
      self->accept();
    });
  }

  void on_accept(tcp::socket sock) {
    error_code ec;
    if (pending.size() >= cfg.max_pending_connections) {
      ++stats.refused_busy;
      sock.close(ec);
      return;
    }
    auto s = std::make_shared<Session>(io, cfg);
    s->remote = sock.remote_endpoint(ec);
    s->stream.socket() = std::move(sock);
    s->stream.socket().set_option(tcp::no_delay(true), ec);
    HelloExpectation e;
    e.cluster = cfg.cluster;
    e.check_epoch = cfg.check_epoch;
    e.epoch = cfg.epoch;
    e.role = PeerRole::primary;
    s->dec.expect_hello(e);
    s->accepted_at = now();
    pending.push_back(s);
    if (!cfg.tls) {
      start_read(s);
      return;
    }
    // The handshake counts against hello_timeout and max_pending_connections like HELLO.
    s->stream.use_tls(*cfg.tls);
    s->stream.async_handshake(false, [self = shared_from_this(), s](const error_code& hec) {
      if (!self->live(s)) return;
      if (hec) {
        self->refuse(s, AuthFailure::tls_handshake, s->stream.handshake_error(hec));
        return;
      }
      self->start_read(s);
    });
  }

  void start_read(const SessionPtr& s) {
    s->stream.async_read_some(
        asio::buffer(s->rbuf), [self = shared_from_this(), s](const error_code& ec, std::size_t n) {
          if (!self->live(s)) return;
          if (ec) {
            self->close(s, LogStream::peer_closed(ec) ? CloseReason::peer_closed : CloseReason::io_error);
            return;
          }
          ++self->stats.reads;
          self->stats.bytes_received += n;
          if (s->validated) self->heard = self->now();
          s->dec.feed(std::span<const std::uint8_t>(s->rbuf.data(), n));
          self->process(s);
        });
  }

  bool live(const SessionPtr& s) const {
    return !stopped && (s == active || std::find(pending.begin(), pending.end(), s) != pending.end());
  }

  // Decodes and delivers what the session has buffered, then reads on unless paused.
  void process(SessionPtr s) {  // by value: `s` may be the `active` member it closes
    if (s->paused) {
      if (!deliver(s->pending.entry)) return;
      s->paused = false;
    }
    Record rec;
    while (!s->paused) {
      const DecodeStatus st = s->dec.next(rec);
      if (st == DecodeStatus::need_more) break;
      if (st == DecodeStatus::error) {
        on_decode_error(s);
        return;
      }
      ++stats.records_received;
      if (!handle(s, rec)) return;  // closed
    }
    send_control(s);
    // After the ACK went out: the owner injects what this read delivered in one burst.
    if (cfg.on_batch_end) cfg.on_batch_end();
    if (!s->paused) start_read(s);
  }

  bool handle(const SessionPtr& s, const Record& rec) {
    // Only HELLO and AUTH are looked at before the primary is validated.
    if (!s->validated && rec.type != RecordType::hello && rec.type != RecordType::auth) {
      return refuse(s, AuthFailure::missing_proof);
    }
    switch (rec.type) {
      case RecordType::hello:
        return on_hello(s, rec);
      case RecordType::auth:
        return on_auth(s, rec);
      case RecordType::entry: {
        const EntryView& e = rec.entry;
        if (e.seq <= last_delivered) {
          ++stats.duplicates;
          return true;
        }
        if (e.seq != last_delivered + 1) return fail(s, ProtocolError::seq_gap);
        if (!deliver(e)) {
          s->paused = true;
          s->pending = rec;
          ++stats.delivery_stalls;
        }
        return true;
      }
      case RecordType::heartbeat:
        ++stats.heartbeats_received;
        return true;
      case RecordType::ack:
        return fail(s, ProtocolError::unexpected_record);
    }
    return true;
  }

  bool deliver(const EntryView& e) {
    if (!sink(e)) return false;
    last_delivered = e.seq;
    ++stats.entries_delivered;
    return true;
  }

  bool on_hello(const SessionPtr& s, const Record& rec) {
    const Hello& h = rec.hello;
    s->hello_epoch = h.epoch;
    s->hello_peer_seq = h.seq;
    s->hello_node.assign(h.node);
    if (!keyed() && h.auth == AuthMode::none) {
      promote(s);
      s->hello_reply_due = true;  // send_control answers
      return true;
    }
    // A key on either side: answer now, before validation, so that a peer with a key
    // mismatch learns why it is refused (our HELLO says whether we hold a key), and a
    // peer with a key gets our challenge.
    Hello r;
    r.role = PeerRole::backup;
    r.epoch = h.epoch;
    r.seq = last_delivered;
    r.cluster = cfg.cluster;
    r.node = cfg.node_name;
    std::array<std::uint8_t, kNonceSize> nonce{};
    std::array<std::uint8_t, kProofSize> proof{};
    if (keyed()) {
      if (!fill_random(nonce)) return refuse(s, AuthFailure::no_randomness);
      r.auth = AuthMode::psk;
      r.nonce = nonce;
      r.proof = proof;  // zeros now; filled in below, the proof covers the payload encoded before it
    }
    const std::size_t n = encode_hello(s->wbuf, r);
    if (n == 0) {
      spdlog::error("log channel: cannot encode HELLO (cluster/node name length)");
      close(s, CloseReason::protocol_error);
      return false;
    }
    s->hello_seq = last_delivered;
    if (keyed()) {
      const auto payload = std::span<std::uint8_t>(s->wbuf).subspan(kHeaderSize, n - kHeaderSize);
      derive_session(cfg.psk, rec.payload, payload.first(payload.size() - kProofSize), s->secrets);
      std::copy(s->secrets.backup_proof.begin(), s->secrets.backup_proof.end(),
                payload.end() - static_cast<std::ptrdiff_t>(kProofSize));
    }
    if (keyed() != (h.auth == AuthMode::psk)) {
      // The reply goes out, then the connection closes (write_pending).
      note_refusal(s, keyed() ? AuthFailure::peer_without_key : AuthFailure::peer_with_key);
      s->close_after_write = true;
      start_write(s, n, 1);
      return false;
    }
    s->awaiting_proof = true;
    start_write(s, n, 1);
    return true;
  }

  bool on_auth(const SessionPtr& s, const Record& rec) {
    if (s->validated || !s->awaiting_proof) return fail(s, ProtocolError::unexpected_record);
    if (!equal_secret(s->secrets.primary_proof, rec.auth_proof)) return refuse(s, AuthFailure::bad_proof);
    s->rx_mac.start(s->secrets.primary_to_backup);
    s->tx_mac.start(s->secrets.backup_to_primary);
    clear_secrets(s->secrets);
    s->dec.set_authenticator(&s->rx_mac);
    s->sealed = true;
    s->awaiting_proof = false;
    ++stats.authenticated;
    promote(s);
    last_acked_sent = s->hello_seq;  // our HELLO acked this much; send_control acks the rest
    return true;
  }

  // The one write path of a session: the HELLO reply of a session not yet validated, or
  // the control records of the active one. When it completes, what became due meanwhile
  // goes out (send_control), unless the session was refused (close_after_write).
  void start_write(const SessionPtr& s, std::size_t len, std::size_t records) {
    s->writing = true;
    ++stats.writes;
    stats.records_sent += records;
    if (s == active) last_tx = now();
    s->stream.async_write(asio::buffer(s->wbuf.data(), len),
                          [self = shared_from_this(), s](const error_code& ec, std::size_t n) {
                            s->writing = false;
                            if (!self->live(s)) return;
                            if (ec) {
                              self->close(s, CloseReason::io_error);
                              return;
                            }
                            self->stats.bytes_sent += n;
                            if (s->close_after_write) {
                              self->close(s, CloseReason::auth_failed);
                              return;
                            }
                            self->send_control(s);
                          });
  }

  void promote(const SessionPtr& s) {
    pending.erase(std::remove(pending.begin(), pending.end(), s), pending.end());
    if (active) {
      spdlog::info("log channel: primary '{}' reconnected from {}, replacing the old connection",
                   s->hello_node, endpoint_text(s->remote));
      close(active, CloseReason::replaced);
    }
    active = s;
    s->validated = true;
    peer_node = s->hello_node;
    heard = now();
    if (stats.connects++ > 0) ++stats.reconnects;
    spdlog::info(
        "log channel: primary '{}' connected from {} (epoch {}, it holds acks up to {}, we hold {}, {})",
        peer_node, endpoint_text(s->remote), s->hello_epoch, s->hello_peer_seq, last_delivered,
        protection(s->sealed, s->stream.tls()));
  }

  // Counts and logs (at most once a second: a scanner or misconfigured peer may retry
  // fast) a connection refused before validation.
  // `detail`: what the library said (the TLS handshake's error), or empty.
  void note_refusal(const SessionPtr& s, AuthFailure f, std::string_view detail = {}) {
    auth_failure = f;
    ++stats.auth_failures[static_cast<std::size_t>(f)];
    ++stats.refused_hellos;
    log_refusal(s, fmt::format("authentication failed: {}{}{} ({})", to_string(f), detail.empty() ? "" : ": ",
                               detail, explain(f)));
  }

  void log_refusal(const SessionPtr& s, const std::string& why) {
    const MonoTime t = now();
    if (last_refusal_log.count() == 0 || t - last_refusal_log >= seconds(1)) {
      spdlog::warn("log channel: refused connection from {}: {} ({} more refused since the last report)",
                   endpoint_text(s->remote), why, refusals_unlogged);
      last_refusal_log = t;
      refusals_unlogged = 0;
    } else {
      ++refusals_unlogged;
    }
  }

  bool refuse(const SessionPtr& s, AuthFailure f, std::string_view detail = {}) {
    note_refusal(s, f, detail);
    close(s, CloseReason::auth_failed);
    return false;
  }

  void on_decode_error(const SessionPtr& s) {
    const DecodeError e = s->dec.error();
    ++stats.decode_errors[static_cast<std::size_t>(e)];
    if (e == DecodeError::bad_mac) {
      auth_failure = AuthFailure::bad_record_mac;
      ++stats.auth_failures[static_cast<std::size_t>(auth_failure)];
      spdlog::warn("log channel: closing primary connection from {}: authentication failed: {} ({})",
                   endpoint_text(s->remote), to_string(auth_failure), explain(auth_failure));
      close(s, CloseReason::auth_failed);
      return;
    }
    if (!s->validated && e == DecodeError::bad_magic && !s->stream.tls() && looks_like_tls(s->rbuf)) {
      refuse(s, AuthFailure::tls_handshake, kPeerSpeaksTls);
      return;
    }
    if (s->validated) {
      spdlog::warn("log channel: closing primary connection from {}: decode error {}",
                   endpoint_text(s->remote), to_string(e));
      close(s, CloseReason::decode_error);
      return;
    }
    ++stats.refused_hellos;
    log_refusal(s, to_string(e));
    close(s, CloseReason::decode_error);
  }

  bool fail(const SessionPtr& s, ProtocolError e) {
    ++stats.protocol_errors[static_cast<std::size_t>(e)];
    spdlog::warn("log channel: closing primary connection from {}: protocol error {}",
                 endpoint_text(s->remote), to_string(e));
    close(s, CloseReason::protocol_error);
    return false;
  }

  // One write carrying the HELLO reply, the cumulative ACK and a due heartbeat.
  void send_control(SessionPtr s) {
    if (s != active || s->writing) return;
    LogEncoder enc(s->wbuf);
    std::size_t records = 0;
    // Tags the record just appended (the buffer has room for every tag it can need).
    const auto seal = [&](std::size_t len) {
      if (!s->sealed) return;
      std::array<std::uint8_t, kTagSize> t;
      s->tx_mac.seal(enc.written().last(len), t);
      enc.append_raw(t);
    };
    if (s->hello_reply_due) {  // unauthenticated sessions only
      Hello h;
      h.role = PeerRole::backup;
      h.epoch = s->hello_epoch;
      h.seq = last_delivered;
      h.cluster = cfg.cluster;
      h.node = cfg.node_name;
      if (enc.append_hello(h)) ++records;
      s->hello_reply_due = false;
      last_acked_sent = last_delivered;
    }
    if (last_delivered > last_acked_sent && enc.append_ack(last_delivered)) {
      seal(kAckRecordSize);
      ++records;
      ++stats.acks_sent;
      last_acked_sent = last_delivered;
    }
    if (hb_due && enc.append_heartbeat(Heartbeat{to_ns(now()), last_delivered})) {
      seal(kHeartbeatRecordSize);
      ++records;
      ++stats.heartbeats_sent;
    }
    hb_due = false;
    if (enc.size() != 0) start_write(s, enc.size(), records);
  }

  void close(SessionPtr s, CloseReason why) {  // by value: callers pass members it resets
    s->stream.close();
    if (s == active) {
      active.reset();
      ++stats.disconnects;
      close_reason = why;
      if (why != CloseReason::replaced) {
        spdlog::log(why == CloseReason::stopped ? spdlog::level::info : spdlog::level::warn,
                    "log channel: primary connection from {} ended: {}", endpoint_text(s->remote),
                    to_string(why));
      }
    } else {
      pending.erase(std::remove(pending.begin(), pending.end(), s), pending.end());
      if (s->awaiting_proof && (why == CloseReason::peer_closed || why == CloseReason::io_error ||
                                why == CloseReason::hello_timeout)) {
        s->awaiting_proof = false;
        auth_failure = AuthFailure::no_answer;
        ++stats.auth_failures[static_cast<std::size_t>(auth_failure)];
        if (why != CloseReason::hello_timeout) ++stats.refused_hellos;  // tick() counted that one
        log_refusal(
            s, fmt::format("authentication failed: {} ({})", to_string(auth_failure), explain(auth_failure)));
      }
    }
  }

  void tick(MonoTime t) {
    for (std::size_t i = 0; i < pending.size();) {
      if (t - pending[i]->accepted_at >= cfg.hello_timeout) {
        ++stats.hello_timeouts;
        ++stats.refused_hellos;
        close(pending[i], CloseReason::hello_timeout);  // erases pending[i]
      } else {
        ++i;
      }
    }
    if (!active) return;
    if (active->paused) {
      process(active);
      if (!active) return;
    }
    if (t - last_tx >= cfg.heartbeat_interval) {
      hb_due = true;
      send_control(active);
    }
  }

  void stop() {
    if (stopped) return;
    if (active) close(active, CloseReason::stopped);
    while (!pending.empty()) close(pending.back(), CloseReason::stopped);
    error_code ec;
    acceptor.close(ec);
    stopped = true;
  }
};

LogReceiver::LogReceiver(asio::io_context& io, ReceiverConfig cfg, EntrySink sink)
    : impl_(std::make_shared<Impl>(io, std::move(cfg), std::move(sink))) {}

LogReceiver::~LogReceiver() {
  stop();
}

bool LogReceiver::listen(std::string& error) {
  Impl& s = *impl_;
  error_code ec;
  s.acceptor.open(s.cfg.listen.protocol(), ec);
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(s.cfg.listen, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "log.listen " + endpoint_text(s.cfg.listen) + ": " + ec.message();
    error_code ignored;
    s.acceptor.close(ignored);
    return false;
  }
  s.accept();
  return true;
}

tcp::endpoint LogReceiver::local_endpoint() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

void LogReceiver::stop() {
  impl_->stop();
}
void LogReceiver::tick(MonoTime now) {
  impl_->tick(now);
}
void LogReceiver::resume() {
  if (impl_->active && impl_->active->paused) impl_->process(impl_->active);
}
void LogReceiver::drop_connection() {
  if (impl_->active) impl_->close(impl_->active, CloseReason::dropped);
}
bool LogReceiver::connected() const noexcept {
  return impl_->active != nullptr;
}
std::uint64_t LogReceiver::last_delivered_seq() const noexcept {
  return impl_->last_delivered;
}
MonoTime LogReceiver::last_heard() const noexcept {
  return impl_->heard;
}
bool LogReceiver::paused() const noexcept {
  return impl_->active && impl_->active->paused;
}
std::string_view LogReceiver::peer_node() const noexcept {
  return impl_->peer_node;
}
CloseReason LogReceiver::last_close_reason() const noexcept {
  return impl_->close_reason;
}
AuthFailure LogReceiver::last_auth_failure() const noexcept {
  return impl_->auth_failure;
}
const ChannelStats& LogReceiver::stats() const noexcept {
  return impl_->stats;
}

}  // namespace ftproxy::replication
