#include "ftproxy/node/node.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "ftproxy/arbiter/auth.hpp"
#include "ftproxy/arbiter/embedded_client.hpp"
#include "ftproxy/arbiter/etcd_arbiter.hpp"
#include "ftproxy/common/time.hpp"
#include "ftproxy/control/http_server.hpp"
#include "ftproxy/control/logging.hpp"
#include "ftproxy/control/metrics.hpp"
#include "ftproxy/control/stat_table.hpp"
#include "ftproxy/failover/garp_schedule.hpp"
#include "ftproxy/failover/role_machine.hpp"
#include "ftproxy/io/offload.hpp"
#include "ftproxy/node/neighbours.hpp"
#include "ftproxy/node/output_replay.hpp"
#include "ftproxy/packet/builder.hpp"
#include "ftproxy/packet/checksum.hpp"
#include "ftproxy/packet/serial.hpp"
#include "ftproxy/replication/channel.hpp"
#include "ftproxy/replication/flow_meta.hpp"
#include "ftproxy/replication/output_digest.hpp"
#include "ftproxy/replication/output_gate.hpp"
#include "ftproxy/tcp/seq_translator.hpp"

extern char** environ;

namespace ftproxy::node {

namespace asio = boost::asio;
using control::fields;
using failover::State;

namespace {

constexpr std::size_t kMaxBurst = 1024;
// Bursts handled per readiness event before yielding to other handlers (control port,
// log channel, timers): bounds the latency one busy port can add to everything else.
constexpr int kBurstsPerTurn = 8;
constexpr std::size_t kSlotBytes = 9216 + 22;  // one jumbo frame with two VLAN tags
constexpr std::size_t kInjectBatch = 64;       // backup: frames injected per tx_burst
constexpr MonoTime kTick = milliseconds(1);

const char* link_name(io::LinkState s) {
  switch (s) {
    case io::LinkState::up:
      return "up";
    case io::LinkState::down:
      return "down";
    default:
      return "unknown";
  }
}

bool is_tcp_synack(const packet::ParsedFrame& f) {
  return f.l4 == packet::L4Kind::tcp &&
         (f.tcp.flags & (packet::kTcpSyn | packet::kTcpAck)) == (packet::kTcpSyn | packet::kTcpAck);
}

replication::FlowMeta to_wire(const packet::ParsedFrame& synack) {
  // The SYN-ACK travels server → client; the flow key is client → server.
  replication::FlowMeta m;
  m.family = synack.src_ip.family == packet::IpAddr::Family::v6 ? 6 : 4;
  m.proto = packet::kIpProtoTcp;
  m.vlan = synack.vlan_count > 0 ? static_cast<std::uint16_t>(synack.vlan_tci[0] & 0x0FFF) : 0;
  const std::size_t n = m.family == 6 ? 16 : 4;
  std::copy_n(synack.dst_ip.b.begin(), n, m.client_ip.begin());
  std::copy_n(synack.src_ip.b.begin(), n, m.server_ip.begin());
  m.client_port = synack.tcp.dst_port;
  m.server_port = synack.tcp.src_port;
  m.server_isn = synack.tcp.seq;
  m.client_isn = synack.tcp.ack - 1;
  if (synack.tcp.opt.has_timestamp) {
    m.flags |= replication::FlowMeta::kHasTimestamp;
    m.server_tsval = synack.tcp.opt.tsval;
  }
  if (synack.tcp.opt.has_wscale) {
    m.flags |= replication::FlowMeta::kHasWscale;
    m.server_wscale = synack.tcp.opt.wscale;
  }
  if (synack.tcp.opt.has_mss) {
    m.flags |= replication::FlowMeta::kHasMss;
    m.server_mss = synack.tcp.opt.mss;
  }
  return m;
}

tcp::FlowMeta from_wire(const replication::FlowMeta& m) {
  tcp::FlowMeta t;
  const bool v6 = m.family == 6;
  t.key.src_ip = v6 ? packet::IpAddr::from_v6_bytes(m.client_ip.data())
                    : packet::IpAddr::from_v4_bytes(m.client_ip.data());
  t.key.dst_ip = v6 ? packet::IpAddr::from_v6_bytes(m.server_ip.data())
                    : packet::IpAddr::from_v4_bytes(m.server_ip.data());
  t.key.src_port = m.client_port;
  t.key.dst_port = m.server_port;
  t.key.proto = m.proto;
  t.key.vlan = m.vlan;
  t.primary_isn = m.server_isn;
  t.has_ts = m.has_timestamp();
  t.primary_tsval = m.server_tsval;
  t.wscale = (m.flags & replication::FlowMeta::kHasWscale) ? m.server_wscale : tcp::kNoWscale;
  t.mss = (m.flags & replication::FlowMeta::kHasMss) ? m.server_mss : 0;
  return t;
}

std::optional<asio::ip::tcp::endpoint> to_asio(const control::Endpoint& e, std::string& error) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(e.host, ec);
  if (ec) {
    error = "'" + e.host + "' is not a numeric IP address";
    return std::nullopt;
  }
  return asio::ip::tcp::endpoint(addr, e.port);
}

}  // namespace

// One packet port and its readiness wait on the io_context.
struct PortSlot {
  const char* label = "";
  std::unique_ptr<io::PacketIo> port;
  std::optional<asio::posix::stream_descriptor> readiness;  // wraps port->wait_fd(), not owned
  std::optional<asio::steady_timer> poll_timer;             // for ports without a wait fd
  bool waiting = false;
  bool paused = false;           // backpressure: not read until resumed
  std::uint32_t idle_polls = 0;  // consecutive empty polls of a port without a wait fd
};

// A batch of frames copied into node-owned slots, sent with one tx_burst.
struct TxBatch {
  explicit TxBatch(std::size_t capacity) : storage(capacity * kSlotBytes), views(capacity) {}
  std::vector<std::uint8_t> storage;
  std::vector<io::ConstPacketView> views;
  std::size_t count = 0;
  bool full() const noexcept { return count == views.size(); }
  // Copies a frame in; returns its writable bytes.
  std::span<std::uint8_t> add(std::span<const std::uint8_t> frame) noexcept {
    std::uint8_t* slot = storage.data() + count * kSlotBytes;
    const std::size_t len = std::min(frame.size(), kSlotBytes);
    std::memcpy(slot, frame.data(), len);
    views[count++] = io::ConstPacketView(slot, static_cast<std::uint32_t>(len));
    return {slot, len};
  }
  void drop_last() noexcept { --count; }
};

// (seq, time logged) samples of the primary's log, oldest first, fixed capacity: the age
// of the oldest unacked sample is the log lag in time.
struct LagSamples {
  static constexpr std::size_t kCapacity = 4096;
  std::array<std::pair<std::uint64_t, MonoTime>, kCapacity> ring{};
  std::size_t head = 0;
  std::size_t count = 0;
  bool empty() const noexcept { return count == 0; }
  std::size_t size() const noexcept { return count; }
  const std::pair<std::uint64_t, MonoTime>& front() const noexcept { return ring[head]; }
  void pop_front() noexcept {
    head = (head + 1) % kCapacity;
    --count;
  }
  void emplace_back(std::uint64_t seq, MonoTime t) noexcept {
    if (count == kCapacity) pop_front();
    ring[(head + count) % kCapacity] = {seq, t};
    ++count;
  }
};

// The optional local health probe: a shell command run every probe_interval; exit 0 is
// healthy, anything else or running past probe_timeout is a failure.
struct HealthProbe {
  pid_t pid = -1;
  MonoTime started{0};
  MonoTime next_run{0};
};

struct Node::Impl {
  static control::ControlServerOptions control_options(const control::ProxyConfig& c, std::string& error) {
    control::ControlServerOptions o;
    if (!c.control.token_file.empty()) {
      auto token = control::load_token_file(c.control.token_file, error);
      if (token) o.token = *token;
    }
    return o;
  }

  Impl(asio::io_context& io_ctx, control::ProxyConfig config)
      : io(io_ctx),
        cfg(std::move(config)),
        control(io_ctx, control_options(cfg, control_error)),
        tick_timer(io_ctx),
        inject(kInjectBatch),
        garp(cfg.garp.count, milliseconds(cfg.garp.interval_ms), seconds(cfg.garp.refresh_s)) {
    ext.label = "ext";
    int_.label = "int";
  }

  asio::io_context& io;
  control::ProxyConfig cfg;
  std::string control_error;  // token file problem found while constructing `control`
  control::ControlServer control;
  asio::steady_timer tick_timer;
  PortSlot ext;
  PortSlot int_;
  ForwardCounters counters;
  std::size_t burst = 64;
  bool running = false;
  MonoTime started{0};

  // Replication (absent in standalone).
  std::unique_ptr<failover::RoleMachine> role;
  std::unique_ptr<arbiter::Arbiter> arbiter;
  std::unique_ptr<replication::LogSender> sender;      // primary
  std::unique_ptr<replication::LogReceiver> receiver;  // backup
  std::unique_ptr<replication::OutputGate> gate;       // primary
  std::unique_ptr<tcp::SeqTranslator> translator;      // backup
  // Divergence detection (replication.output_digests): the primary emits checkpoints of
  // its server's output, the backup compares them with its own server's.
  // Burst scratch, one array per use. Members, not stack arrays: a value-initialised
  // kMaxBurst-entry array on the stack is a 16 KiB memset per call, paid on every poll
  // (measured: 8.6 % of the pcap proxy's CPU forwarding 64-byte frames).
  std::array<io::PacketView, kMaxBurst> rx_ext_views;
  std::array<io::PacketView, kMaxBurst> rx_int_views;
  std::array<io::ConstPacketView, kMaxBurst> to_int_views;  // forward_plain, log_and_forward
  std::array<io::ConstPacketView, kMaxBurst> to_ext_views;  // forward_plain, hold_outputs, translate_outputs
  std::array<io::ConstPacketView, replication::OutputGate::kMaxReleaseBurst> released_views;
  std::unique_ptr<replication::OutputDigest> digest;
  std::array<std::uint8_t, 8192> digest_buf{};  // primary: one OUTPUT_DIGEST entry's data
  std::uint64_t digest_seq_last = 0;            // primary: seq of the last digest entry logged
  std::uint64_t digest_seq_before = 0;          // primary: last seq logged before that run of digests
  std::uint64_t digest_log_refused = 0;         // primary: digest entries deferred, log full
  std::uint64_t digest_reports_suppressed = 0;  // backup: divergence log lines over the rate limit
  MonoTime digest_log_window{0};                // backup: start of the current rate-limit second
  std::uint32_t digest_log_lines = 0;           // backup: lines logged in that second
  bool digest_chunk_warned = false;
  NeighbourTable neighbours;
  OutputReplay replay;  // backup: suppressed server outputs, replayed at takeover
  TxBatch inject;       // backup: frames bound for int
  bool resume_posted = false;
  failover::GarpSchedule garp;
  LagSamples lag_samples;  // primary: (seq, queued at)
  MonoTime last_lag_sample{0};
  HealthProbe probe;
  MonoTime last_tick_at{0};
  MonoTime next_link_check{0};
  std::string fencing_owner;
  std::uint64_t fencing_token = 0;

  State state() const noexcept { return role ? role->state() : State::standalone; }
  bool from_backup() const noexcept { return role && role->was_backup(); }

  // ---- set-up ----------------------------------------------------------------------

  bool open_port(PortSlot& slot, const std::string& name, const std::string& rx_file,
                 const std::string& tx_file, std::string& error) {
    io::PortOptions opts;
    opts.backend = cfg.ports.backend;
    opts.name = name;
    opts.rx_file = rx_file;
    opts.tx_file = tx_file;
    opts.ring_bytes = cfg.ports.ring_mb << 20;
    opts.burst = cfg.ports.burst;
    opts.offloads = cfg.ports.offloads;
    opts.eal_args = cfg.dpdk.eal_args;
    opts.dpdk_device = (&slot == &ext) ? cfg.dpdk.ext_device : cfg.dpdk.int_device;
    opts.dpdk_vdev = cfg.dpdk.vdev_driver;
    opts.mbufs = cfg.dpdk.mbufs;
    opts.rx_desc = static_cast<std::uint16_t>(cfg.dpdk.rx_desc);
    opts.tx_desc = static_cast<std::uint16_t>(cfg.dpdk.tx_desc);
    io::OffloadReport report;
    std::string err;
    slot.port = io::open_port(opts, err, report);
    if (!slot.port) {
      error = std::string("ports.") + slot.label + ": " + err;
      return false;
    }
    const io::PortInfo& pinfo = slot.port->info();
    const std::string driver = pinfo.driver.empty() ? cfg.ports.backend : pinfo.driver;
    if (!report.interface.empty()) {
      spdlog::info("port opened {}", fields({{"port", slot.label},
                                             {"interface", name},
                                             {"backend", cfg.ports.backend},
                                             {"driver", driver},
                                             {"offloads", report.summary()}}));
      for (const auto& w : report.warnings)
        spdlog::warn("offload {}", fields({{"port", slot.label}, {"warning", w}}));
    } else {
      spdlog::info(
          "port opened {}",
          fields({{"port", slot.label}, {"name", name}, {"backend", cfg.ports.backend}, {"driver", driver}}));
    }
    // [dpdk] vdev_driver = "auto" fell back from af_xdp: the operator sees why, once.
    if (!pinfo.driver_note.empty())
      spdlog::warn("dpdk vdev fallback {}", fields({{"port", slot.label},
                                                    {"interface", name},
                                                    {"driver", driver},
                                                    {"reason", pinfo.driver_note}}));
    const int fd = slot.port->wait_fd();
    if (fd >= 0) {
      slot.readiness.emplace(io, fd);
    } else {
      slot.poll_timer.emplace(io);
    }
    return true;
  }

  void release_fd(PortSlot& slot) {
    if (slot.readiness) {
      boost::system::error_code ec;
      slot.readiness->cancel(ec);
      slot.readiness->release();  // the port owns the fd
      slot.readiness.reset();
    }
    if (slot.poll_timer) slot.poll_timer->cancel();
  }

  bool start_replication(std::string& error) {
    const bool primary = cfg.node.role == control::Role::primary;
    failover::RoleMachineConfig rc;
    rc.initial = primary ? State::primary : State::backup;
    rc.epoch = cfg.node.epoch;
    rc.failure_timeout = milliseconds(cfg.failover.timeout_ms);
    rc.retry_initial = milliseconds(cfg.arbiter.retry_ms);
    rc.join_timeout = milliseconds(cfg.failover.join_timeout_ms);
    const MonoTime now = mono_now();
    role = std::make_unique<failover::RoleMachine>(rc, now);

    arbiter::EmbeddedClientOptions ao;
    for (const auto& e : cfg.arbiter.endpoints) ao.endpoints.push_back({e.host, e.port});
    ao.timeout = std::chrono::milliseconds(cfg.arbiter.timeout_ms);
    if (cfg.arbiter.backend == "etcd") {
      arbiter::EtcdArbiterOptions eo;
      for (const auto& e : cfg.arbiter.endpoints) eo.endpoints.push_back({e.host, e.port});
      eo.timeout = std::chrono::milliseconds(cfg.arbiter.timeout_ms);
      if (!cfg.arbiter.username.empty()) {
        auto pw = arbiter::load_etcd_password_file(cfg.arbiter.password_file, error);
        if (!pw) {
          error = "arbiter.password_file: " + error;
          return false;
        }
        eo.username = cfg.arbiter.username;
        eo.password = std::move(*pw);
      }
      eo.tls = {cfg.arbiter.tls, cfg.arbiter.tls_ca_file, cfg.arbiter.tls_cert_file, cfg.arbiter.tls_key_file,
                cfg.arbiter.tls_server_name};
      if (std::string tls_error = arbiter::check_etcd_tls(eo.tls); !tls_error.empty()) {
        error = "arbiter: " + tls_error;
        return false;
      }
      arbiter = std::make_unique<arbiter::EtcdArbiter>(io, std::move(eo));
    } else if (cfg.arbiter.backend == "embedded") {
      if (!cfg.arbiter.key_file.empty()) {
        auto keys = arbiter::auth::load_key_file(cfg.arbiter.key_file, error);
        if (!keys) {
          error = "arbiter.key_file: " + error;
          return false;
        }
        ao.key = keys->front();  // the current key; further lines are for the arbiter's rotation
      } else {
        spdlog::warn("arbiter.key_file not set: arbiter requests are unauthenticated {}",
                     fields({{"cluster", cfg.node.cluster}}));
      }
      arbiter = std::make_unique<arbiter::EmbeddedClient>(io, std::move(ao));
    } else {
      error = "arbiter.backend: '" + cfg.arbiter.backend + "' is not available in this build";
      return false;
    }

    std::vector<std::uint8_t> log_key;  // empty = unauthenticated log channel
    if (!cfg.log.key_file.empty()) {
      auto k = replication::load_log_key(cfg.log.key_file, error);
      if (!k) {
        error = "log.key_file: " + error;
        return false;
      }
      log_key = std::move(*k);
      spdlog::info("log channel: authenticated with the key in {} (HMAC-SHA256 handshake and record tags)",
                   cfg.log.key_file);
    } else {
      spdlog::warn("log channel: no log.key_file, the channel is unauthenticated (isolated log links only)");
    }
    std::shared_ptr<replication::LogTls> log_tls;  // null = plain TCP
    if (cfg.log.tls) {
      log_tls = replication::make_log_tls({cfg.log.tls_cert_file, cfg.log.tls_key_file, cfg.log.tls_ca_file},
                                          error);
      if (!log_tls) {
        error = "log." + error;
        return false;
      }
      spdlog::info("log channel: TLS 1.3 with certificate {}, peers verified against {}",
                   cfg.log.tls_cert_file, cfg.log.tls_ca_file);
    }

    if (cfg.replication.output_digests) {
      replication::DigestConfig dc;
      dc.chunk_bytes = cfg.replication.digest_chunk_bytes;
      dc.idle = milliseconds(cfg.replication.digest_idle_ms);
      dc.max_flows = cfg.replication.digest_max_flows;
      dc.flow_timeout = seconds(cfg.tcp.idle_timeout_s);
      digest = std::make_unique<replication::OutputDigest>(
          dc, primary ? replication::OutputDigest::Mode::emit : replication::OutputDigest::Mode::compare);
    }

    if (primary) {
      replication::OutputGateConfig gc;
      gate = std::make_unique<replication::OutputGate>(gc, 0);
      replication::SenderConfig sc;
      sc.cluster = cfg.node.cluster;
      sc.epoch = cfg.node.epoch;
      sc.node_name = cfg.node.name;
      sc.psk = log_key;
      sc.tls = log_tls;
      auto ep = to_asio(*cfg.log.peer, error);
      if (!ep) {
        error = "log.peer: " + error;
        return false;
      }
      sc.peer = *ep;
      sc.unacked.max_entries = cfg.log.max_unacked_entries;
      sc.unacked.max_bytes = cfg.log.max_unacked_bytes;
      sc.batch_bytes = cfg.log.batch_bytes;
      sc.heartbeat_interval = milliseconds(cfg.failover.heartbeat_ms);
      sc.on_ack = [this](std::uint64_t acked) { on_ack(acked); };
      sender = std::make_unique<replication::LogSender>(io, std::move(sc));
      sender->start(now);
    } else {
      tcp::TranslatorLimits tl;
      tl.flows.max_flows = cfg.tcp.max_flows;
      tl.flows.idle_timeout = seconds(cfg.tcp.idle_timeout_s);
      tl.flows.closed_linger = seconds(cfg.tcp.closed_linger_s);
      tl.queue_frames_per_flow = cfg.tcp.wait_queue_frames;
      tl.hold_timeout = milliseconds(cfg.tcp.hold_ms);
      tl.wait_timeout = milliseconds(cfg.tcp.hold_ms);
      translator = std::make_unique<tcp::SeqTranslator>(tl);
      replication::ReceiverConfig rcfg;
      rcfg.cluster = cfg.node.cluster;
      rcfg.epoch = cfg.node.epoch;
      rcfg.node_name = cfg.node.name;
      rcfg.psk = std::move(log_key);
      rcfg.tls = log_tls;
      auto ep = to_asio(*cfg.log.listen, error);
      if (!ep) {
        error = "log.listen: " + error;
        return false;
      }
      rcfg.listen = *ep;
      rcfg.heartbeat_interval = milliseconds(cfg.failover.heartbeat_ms);
      rcfg.on_batch_end = [this] { flush_inject(); };
      receiver = std::make_unique<replication::LogReceiver>(
          io, std::move(rcfg), [this](const replication::EntryView& e) { return on_entry(e); });
      std::string err;
      if (!receiver->listen(err)) {
        error = "log.listen: " + err;
        return false;
      }
    }
    return true;
  }

  // ---- common data path helpers ----------------------------------------------------

  // Parses a frame; counts a parse error. Returns false when it does not parse.
  bool parse(std::span<const std::uint8_t> bytes, packet::ParsedFrame& f) noexcept {
    const auto st = packet::parse_frame(bytes, f);
    if (st == packet::ParseStatus::ok) return true;
    ++counters.parse_errors[static_cast<std::size_t>(st)];
    return false;
  }

  // A server behind a veth with tx checksum offload hands us partial checksums; fix them
  // (counted) so the client's stack does not drop the segment.
  void repair_checksum(std::span<std::uint8_t> bytes, const packet::ParsedFrame& f) noexcept {
    if (f.l4 == packet::L4Kind::none || f.l4 == packet::L4Kind::other || f.is_fragment) return;
    if (packet::l4_checksum_ok(bytes, f)) return;
    ++counters.int_checksum_bad;
    packet::fix_l4_checksum(bytes, f);
    ++counters.int_checksum_repaired;
  }

  std::size_t send(PortSlot& to, std::span<const io::ConstPacketView> frames) noexcept {
    if (frames.empty()) return 0;
    const std::size_t sent = to.port->tx_burst(frames);
    counters.tx_refused += frames.size() - sent;
    return sent;
  }

  // ---- ext: frames from the LAN ----------------------------------------------------

  // True when a whole burst of maximum-size frames can be logged now.
  bool log_has_room() const noexcept {
    return sender->unacked_entries() + burst <= cfg.log.max_unacked_entries &&
           sender->unacked_bytes() + burst * (kSlotBytes + 64) <= cfg.log.max_unacked_bytes;
  }

  std::size_t pump_ext() noexcept {
    const State s = state();
    const bool logging = sender && (s == State::primary || (s == State::arbitrating && !from_backup()));
    if (logging && !log_has_room()) {
      // Backpressure: the backup is behind; leave frames in the kernel ring.
      ext.paused = true;
      return 0;
    }
    ext.paused = false;
    auto& views = rx_ext_views;
    const std::size_t n = ext.port->rx_burst(std::span<io::PacketView>(views.data(), burst));
    if (n == 0) return 0;
    const MonoTime now = mono_now();
    switch (s) {
      case State::standalone:
        forward_plain(views.data(), n, ext, int_, false);
        break;
      case State::primary:
      case State::arbitrating:
        if (from_backup()) {
          counters.ext_ignored += n;  // a backup transmits nothing and processes nothing from ext
        } else {
          log_and_forward(views.data(), n, now);
        }
        break;
      case State::backup:
        counters.ext_ignored += n;
        break;
      case State::live:
        if (from_backup()) {
          translate_inbound(views.data(), n, now);
        } else {
          forward_plain(views.data(), n, ext, int_, false);
        }
        break;
      case State::fenced:
        counters.fenced_drops += n;
        break;
    }
    return n;
  }

  void forward_plain(io::PacketView* views, std::size_t n, PortSlot& from, PortSlot& to,
                     bool from_int) noexcept {
    (void)from;
    auto& out = from_int ? to_ext_views : to_int_views;
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (from_int && cfg.ports.repair_checksums) {
        packet::ParsedFrame f;
        if (parse(views[i].bytes(), f)) repair_checksum(views[i].bytes(), f);
      }
      out[i] = views[i];
      bytes += views[i].len;
    }
    const std::size_t sent = send(to, std::span<const io::ConstPacketView>(out.data(), n));
    if (from_int) {
      counters.int_to_ext_frames += sent;
      counters.int_to_ext_bytes += bytes;
    } else {
      counters.ext_to_int_frames += sent;
      counters.ext_to_int_bytes += bytes;
    }
  }

  // Primary: every frame is logged before it reaches the server.
  void log_and_forward(io::PacketView* views, std::size_t n, MonoTime now) noexcept {
    auto& out = to_int_views;
    std::size_t m = 0;
    std::uint64_t bytes = 0;
    const auto now_ns = static_cast<std::uint64_t>(now.count());
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t seq =
          sender->queue_entry(replication::EntryKind::inbound_frame, now_ns, views[i].bytes());
      if (seq == 0) {
        ++counters.log_refused;  // not logged, so not forwarded: the client retransmits
        continue;
      }
      out[m++] = views[i];
      bytes += views[i].len;
    }
    note_lag_sample(now);
    const std::size_t sent = send(int_, std::span<const io::ConstPacketView>(out.data(), m));
    counters.ext_to_int_frames += sent;
    counters.ext_to_int_bytes += bytes;
    sender->flush();
  }

  void note_lag_sample(MonoTime now) {
    // One (seq, time) sample per 100 µs is enough to report the log lag in time.
    if (!lag_samples.empty() && now - last_lag_sample < microseconds(100)) return;
    lag_samples.emplace_back(sender->last_queued_seq(), now);
    last_lag_sample = now;
  }

  // Backup live: client frames translated into the backup server's sequence space.
  void translate_inbound(io::PacketView* views, std::size_t n, MonoTime now) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      packet::ParsedFrame f;
      const bool ok = parse(views[i].bytes(), f);
      inject_frame(views[i].bytes(), ok ? &f : nullptr, now);
      counters.ext_to_int_bytes += views[i].len;
    }
    flush_inject();
  }

  // Backup: one client frame (from the log, or from ext once live) towards the server.
  // `parsed` is the caller's parse of `bytes` (nullptr when it did not parse): the copy
  // is byte-identical, so its offsets apply to the copy and nothing is parsed twice.
  void inject_frame(std::span<const std::uint8_t> bytes, const packet::ParsedFrame* parsed,
                    MonoTime now) noexcept {
    if (inject.full()) flush_inject();
    if (inject.full()) {
      ++counters.tx_refused;
      return;
    }
    std::span<std::uint8_t> copy = inject.add(bytes);
    // Unparsed frames go unchanged: the server's stack judges them as the primary's did.
    if (parsed == nullptr || copy.size() != bytes.size()) return;
    const packet::ParsedFrame& f = *parsed;
    learn_neighbour(f, now);
    switch (translator->translate_in(copy, f, now)) {
      case tcp::InboundDecision::forward:
      case tcp::InboundDecision::passthrough:
        break;
      case tcp::InboundDecision::wait:
      case tcp::InboundDecision::hold:
        inject.drop_last();  // the translator keeps its own copy
        break;
      case tcp::InboundDecision::drop_full:
      case tcp::InboundDecision::drop_untracked:
      case tcp::InboundDecision::drop_invalid:
        inject.drop_last();
        ++counters.translate_drops;
        break;
    }
  }

  void flush_inject() noexcept {
    if (translator && translator->has_queued()) {
      drain_translator(mono_now());
      // Room was freed: offer a refused entry again, outside this call stack.
      if (receiver && receiver->paused() && !resume_posted) {
        resume_posted = true;
        asio::post(io, [this] {
          resume_posted = false;
          if (running && receiver && receiver->paused()) receiver->resume();
        });
      }
    }
    if (inject.count == 0) return;
    const std::size_t sent =
        send(int_, std::span<const io::ConstPacketView>(inject.views.data(), inject.count));
    counters.entries_injected += sent;
    counters.ext_to_int_frames += sent;
    inject.count = 0;
  }

  // Log entries injected: frames sent to the server on int, minus the ACKs the
  // translator synthesized itself (they share the injection batch).
  std::uint64_t injected_entries() const noexcept {
    const std::uint64_t synth = translator ? translator->counters().acks_synthesized : 0;
    return counters.entries_injected > synth ? counters.entries_injected - synth : 0;
  }

  void drain_translator(MonoTime now) noexcept {
    translator->drain_ready(now, [this](std::span<std::uint8_t> frame) {
      if (inject.full()) {
        const std::size_t sent =
            send(int_, std::span<const io::ConstPacketView>(inject.views.data(), inject.count));
        counters.entries_injected += sent;
        counters.ext_to_int_frames += sent;
        inject.count = 0;
      }
      inject.add(frame);
    });
  }

  void learn_neighbour(const packet::ParsedFrame& f, MonoTime now) noexcept {
    const std::uint16_t vlan = f.vlan_count ? static_cast<std::uint16_t>(f.vlan_tci[0] & 0x0FFF) : 0;
    if (f.l3 == packet::L3Kind::arp) {
      neighbours.learn(f.arp.sender_ip, f.arp.sender_mac, vlan, now);
    } else if (f.l3 == packet::L3Kind::ipv4 || f.l3 == packet::L3Kind::ipv6) {
      neighbours.learn(f.src_ip, f.src_mac, vlan, now);
    }
  }

  // ---- log entries (backup) --------------------------------------------------------

  bool on_entry(const replication::EntryView& e) noexcept {
    const MonoTime now = mono_now();
    switch (e.kind) {
      case replication::EntryKind::inbound_frame: {
        // Backpressure, never a drop: while the translator has no room for this frame,
        // the entry is refused, the receiver stops reading and acking, and the primary
        // in turn stops releasing outputs and reading clients.
        packet::ParsedFrame f;
        const bool ok = parse(e.data, f);
        if (ok && !translator->can_take(f)) {
          ++counters.inject_backpressure;
          return false;
        }
        inject_frame(e.data, ok ? &f : nullptr, now);
        break;
      }
      case replication::EntryKind::flow_meta: {
        replication::FlowMeta m;
        if (!replication::decode_flow_meta(e.data, m)) {
          ++counters.entries_bad;
          break;
        }
        if (translator->on_flow_meta(from_wire(m), now)) drain_translator(now);
        break;
      }
      case replication::EntryKind::output_digest:
        // Never refused: a digest only feeds the comparison (replication.output_digests
        // off here: ignored).
        if (digest && !digest->on_peer_entry(e.data, now)) ++counters.entries_bad;
        break;
    }
    return true;
  }

  // ---- int: frames from this proxy's server ----------------------------------------

  std::size_t pump_int() noexcept {
    const State s = state();
    const bool holding = gate && (s == State::primary || (s == State::arbitrating && !from_backup()));
    if (holding && !gate->has_room(burst)) {
      int_.paused = true;  // the server's TCP flow control pushes back while the backup catches up
      return 0;
    }
    int_.paused = false;
    auto& views = rx_int_views;
    const std::size_t n = int_.port->rx_burst(std::span<io::PacketView>(views.data(), burst));
    if (n == 0) return 0;
    const MonoTime now = mono_now();
    switch (s) {
      case State::standalone:
        forward_plain(views.data(), n, int_, ext, true);
        break;
      case State::primary:
      case State::arbitrating:
        if (from_backup()) {
          suppress_outputs(views.data(), n, now);
        } else {
          hold_outputs(views.data(), n, now);
        }
        break;
      case State::backup:
        suppress_outputs(views.data(), n, now);
        break;
      case State::live:
        if (from_backup()) {
          translate_outputs(views.data(), n, now);
        } else {
          forward_plain(views.data(), n, int_, ext, true);
        }
        break;
      case State::fenced:
        counters.fenced_drops += n;
        break;
    }
    return n;
  }

  // Primary: the output rule.
  void hold_outputs(io::PacketView* views, std::size_t n, MonoTime now) noexcept {
    auto& out = to_ext_views;
    std::size_t m = 0;
    std::uint64_t bytes = 0;
    bool logged = false;
    for (std::size_t i = 0; i < n; ++i) {
      packet::ParsedFrame f;
      const bool parsed = parse(views[i].bytes(), f);
      if (parsed && cfg.ports.repair_checksums) repair_checksum(views[i].bytes(), f);
      if (parsed && digest) digest->on_output(f, views[i].bytes(), now);
      if (parsed && is_tcp_synack(f)) {
        std::array<std::uint8_t, replication::kFlowMetaSize> meta{};
        replication::encode_flow_meta(meta, to_wire(f));
        if (sender->queue_entry(replication::EntryKind::flow_meta, static_cast<std::uint64_t>(now.count()),
                                meta) == 0) {
          ++counters.log_refused;  // the server retransmits its SYN-ACK
          continue;
        }
        ++counters.flow_meta_logged;
        logged = true;
      }
      const std::uint64_t stamp = output_stamp();
      if (gate->must_hold(stamp)) {
        if (!gate->push(stamp, views[i].bytes(), now)) ++counters.gate_refused;
      } else {
        out[m++] = views[i];
        bytes += views[i].len;
      }
    }
    if (logged) {
      note_lag_sample(now);
      sender->flush();
    }
    const std::size_t sent = send(ext, std::span<const io::ConstPacketView>(out.data(), m));
    counters.int_to_ext_frames += sent;
    counters.int_to_ext_bytes += bytes;
  }

  // The output rule's stamp: the last entry logged before this output, not counting
  // OUTPUT_DIGEST entries (they carry nothing the backup's server consumes, so an output
  // never waits for a digest's ack).
  std::uint64_t output_stamp() const noexcept {
    const std::uint64_t s = sender->last_queued_seq();
    return s == digest_seq_last ? digest_seq_before : s;
  }

  // Primary: the ready checkpoints as OUTPUT_DIGEST entries. A full log defers them to
  // the next tick (they stay in the digester's bounded outbox).
  void flush_digests(MonoTime now) noexcept {
    bool queued = false;
    while (digest->ready() > 0) {
      std::size_t taken = 0;
      const std::size_t n = digest->encode_batch(digest_buf, taken);
      if (n == 0) break;
      const std::uint64_t before = sender->last_queued_seq();
      const std::uint64_t seq =
          sender->queue_entry(replication::EntryKind::output_digest, static_cast<std::uint64_t>(now.count()),
                              std::span<const std::uint8_t>(digest_buf.data(), n));
      if (seq == 0) {
        ++digest_log_refused;
        break;
      }
      if (before != digest_seq_last) digest_seq_before = before;
      digest_seq_last = seq;
      digest->commit_batch(taken);
      queued = true;
    }
    if (queued) sender->flush();
  }

  // Backup: one log line per diverged flow, at most 10 a second (the rest counted).
  void log_divergences(MonoTime now) {
    if (digest->counters().chunk_mismatch > 0 && !digest_chunk_warned) {
      digest_chunk_warned = true;
      spdlog::warn("output digests cut with another chunk size than replication.digest_chunk_bytes {}",
                   fields({{"chunk_bytes", std::to_string(cfg.replication.digest_chunk_bytes)}}));
    }
    replication::Divergence d;
    while (digest->pop_divergence(d)) {
      if (now - digest_log_window >= seconds(1)) {
        digest_log_window = now;
        digest_log_lines = 0;
      }
      if (digest_log_lines >= 10) {
        ++digest_reports_suppressed;
        continue;
      }
      ++digest_log_lines;
      spdlog::warn("output divergence {}",
                   fields({{"proto", d.key.proto == packet::kIpProtoUdp ? "udp" : "tcp"},
                           {"client", packet::to_string(d.key.src_ip) + ":" + std::to_string(d.key.src_port)},
                           {"server", packet::to_string(d.key.dst_ip) + ":" + std::to_string(d.key.dst_port)},
                           {"vlan", std::to_string(d.key.vlan)},
                           {"bytes", "[" + std::to_string(d.start) + "," + std::to_string(d.end) + ")"},
                           {"checkpoint", replication::to_string(d.kind)},
                           {"reason", d.reason}}));
    }
  }

  void release_gate(std::uint64_t acked, MonoTime now) noexcept {
    gate->release(acked, now, [this](std::span<const replication::FrameBytes> frames) {
      auto& out = released_views;
      std::uint64_t bytes = 0;
      for (std::size_t i = 0; i < frames.size(); ++i) {
        out[i] = io::ConstPacketView(frames[i].data(), static_cast<std::uint32_t>(frames[i].size()));
        bytes += frames[i].size();
      }
      const std::size_t sent =
          ext.port->tx_burst(std::span<const io::ConstPacketView>(out.data(), frames.size()));
      counters.int_to_ext_frames += sent;
      counters.int_to_ext_bytes += bytes;
      return sent;
    });
    if (int_.paused && gate->has_room(burst)) resume(int_);
  }

  void on_ack(std::uint64_t acked) noexcept {
    const MonoTime now = mono_now();
    if (role) role->peer_heard(now);
    while (!lag_samples.empty() && lag_samples.front().first <= acked) lag_samples.pop_front();
    const State s = state();
    if (gate && (s == State::primary || s == State::arbitrating)) release_gate(acked, now);
    if (ext.paused && log_has_room()) resume(ext);
  }

  // Backup: learn from the server's outputs, answer its ARP requests, drop the rest.
  void suppress_outputs(io::PacketView* views, std::size_t n, MonoTime now) noexcept {
    bool releasable = false;
    for (std::size_t i = 0; i < n; ++i) {
      packet::ParsedFrame f;
      if (!parse(views[i].bytes(), f)) {
        ++counters.outputs_suppressed;
        continue;
      }
      if (f.l3 == packet::L3Kind::arp && f.arp.op == 1) {
        answer_arp(f);
        continue;
      }
      if (digest) digest->on_output(f, views[i].bytes(), now);
      if (f.l4 == packet::L4Kind::tcp) {
        releasable |= translator->on_server_output(views[i].bytes(), f, now);
        // Bytes the client already acknowledged (from the primary) never need a replay:
        // not copying them saves the backup a memcpy per output under bulk transfer.
        if ((f.payload_len > 0 || (f.tcp.flags & packet::kTcpFin)) && !translator->client_has(f)) {
          replay.remember(views[i].bytes());
        }
      }
      ++counters.outputs_suppressed;
    }
    if (releasable || translator->has_queued()) flush_inject();
  }

  void answer_arp(const packet::ParsedFrame& f) noexcept {
    const std::uint16_t vlan = f.vlan_count ? static_cast<std::uint16_t>(f.vlan_tci[0] & 0x0FFF) : 0;
    auto mac = neighbours.find(f.arp.target_ip, vlan);
    if (!mac) {
      ++counters.arp_unanswered;
      return;
    }
    std::array<std::uint8_t, 64> reply{};
    std::optional<std::uint16_t> tci;
    if (f.vlan_count) tci = f.vlan_tci[0];
    const std::size_t len =
        packet::build_arp_reply(reply, *mac, f.arp.target_ip, f.arp.sender_mac, f.arp.sender_ip, tci);
    if (len == 0) return;
    io::ConstPacketView v(reply.data(), static_cast<std::uint32_t>(len));
    if (send(int_, std::span<const io::ConstPacketView>(&v, 1)) == 1) ++counters.arp_answered;
  }

  // A flow opened after the takeover never had a primary: its sequence space is the
  // backup server's own, so it is its own "primary" (deltas zero).
  void adopt_new_flow(const packet::ParsedFrame& synack, MonoTime now) noexcept {
    const packet::FlowKey c2s = packet::flow_key(synack).reversed();
    const tcp::Flow* flow = translator->flows().find(c2s);
    if (flow == nullptr || flow->primary.seen) return;
    if (translator->on_flow_meta(from_wire(to_wire(synack)), now)) drain_translator(now);
  }

  // Backup live: the server's outputs translated into the primary's sequence space.
  void translate_outputs(io::PacketView* views, std::size_t n, MonoTime now) noexcept {
    auto& out = to_ext_views;
    std::uint64_t bytes = 0;
    bool releasable = false;
    for (std::size_t i = 0; i < n; ++i) {
      packet::ParsedFrame f;
      if (parse(views[i].bytes(), f)) {
        if (cfg.ports.repair_checksums) repair_checksum(views[i].bytes(), f);
        if (f.l4 == packet::L4Kind::tcp) {
          if (is_tcp_synack(f)) adopt_new_flow(f, now);
          releasable |= translator->on_server_output(views[i].bytes(), f, now);
          translator->translate_out(views[i].bytes(), f, now);
        }
      }
      out[i] = views[i];
      bytes += views[i].len;
    }
    const std::size_t sent = send(ext, std::span<const io::ConstPacketView>(out.data(), n));
    counters.int_to_ext_frames += sent;
    counters.int_to_ext_bytes += bytes;
    if (releasable || translator->has_queued()) flush_inject();
  }

  // ---- failover ----------------------------------------------------------------------

  void run_actions(MonoTime now) {
    failover::Action a;
    while (role && role->pop_action(a)) {
      switch (a.kind) {
        case failover::ActionKind::ask_arbiter:
          ask_arbiter(a);
          break;
        case failover::ActionKind::start_takeover:
          takeover(now);
          break;
        case failover::ActionKind::go_live:
          go_live_alone(now);
          break;
        case failover::ActionKind::stop_heartbeats:
          if (sender) sender->stop();
          if (receiver) receiver->stop();
          break;
        case failover::ActionKind::fence:
          if (sender) sender->stop();
          if (receiver) receiver->stop();
          garp.stop();
          break;
      }
      log_transition();
    }
    log_transition();
  }

  std::uint64_t transitions_logged = 0;
  void log_transition() {
    if (!role) return;
    while (transitions_logged < role->transitions_total()) {
      const std::uint64_t back = role->transitions_total() - transitions_logged;
      ++transitions_logged;
      if (back > role->history_size()) continue;
      const auto& t = role->history(role->history_size() - back);
      std::string answer = t.answer ? arbiter::to_string(*t.answer) : "";
      spdlog::info("state transition {}", fields({{"from", failover::to_string(t.from)},
                                                  {"to", failover::to_string(t.to)},
                                                  {"reason", t.reason},
                                                  {"detail", t.detail},
                                                  {"epoch", std::to_string(t.epoch)},
                                                  {"arbiter", answer},
                                                  {"owner", t.owner},
                                                  {"fencing_token", std::to_string(t.fencing_token)}}));
      if (t.to == State::live) ++counters.failovers;
    }
  }

  void ask_arbiter(const failover::Action& a) {
    spdlog::info("asking arbiter {}", fields({{"cluster", cfg.node.cluster},
                                              {"epoch", std::to_string(a.epoch)},
                                              {"candidate", cfg.node.name},
                                              {"request", std::to_string(a.request)}}));
    arbiter->test_and_set(cfg.node.cluster, a.epoch, cfg.node.name,
                          [this, request = a.request](arbiter::ArbiterResult r) {
                            if (!running) return;
                            if (r.kind == arbiter::ArbiterResult::Kind::unavailable) {
                              spdlog::warn("arbiter unavailable {}", fields({{"message", r.message}}));
                            } else {
                              fencing_owner = r.owner;
                              fencing_token = r.fencing_token;
                            }
                            const MonoTime now = mono_now();
                            role->arbiter_answer(request, r, now);
                            run_actions(now);
                          });
  }

  // LIVE from BACKUP (DESIGN.md §7): every received entry was injected on receipt (or sits
  // in the translator's per-flow queues, released as the server catches up); now forward
  // both ways translated and announce the service identity.
  void takeover(MonoTime now) {
    if (receiver) receiver->stop();
    flush_inject();
    replay_unacknowledged(now);
    garp.start(now);
    send_due_garps(now);
    resume(ext);
  }

  // Sends the suppressed outputs the client has not acknowledged, translated (see
  // output_replay.hpp). Frames of flows the translator no longer tracks are skipped.
  void replay_unacknowledged(MonoTime now) noexcept {
    replay.replay_and_clear([&](std::span<std::uint8_t> frame) {
      packet::ParsedFrame f;
      if (packet::parse_frame(frame, f) != packet::ParseStatus::ok || f.l4 != packet::L4Kind::tcp) return;
      const tcp::Flow* flow = translator->flows().find(packet::flow_key(f).reversed());
      if (flow == nullptr || !flow->delta_known) return;
      const std::uint32_t end = f.tcp.seq + f.payload_len + ((f.tcp.flags & packet::kTcpFin) ? 1u : 0u);
      if (flow->client_acked_set && packet::seq_le(end, flow->client_acked)) return;  // the client has it
      if (translator->translate_out(frame, f, now) != tcp::OutboundDecision::forward) return;
      io::ConstPacketView v(frame.data(), static_cast<std::uint32_t>(frame.size()));
      if (send(ext, std::span<const io::ConstPacketView>(&v, 1)) == 1) ++counters.takeover_replayed;
    });
  }

  // LIVE from PRIMARY: release what is held, stop logging.
  void go_live_alone(MonoTime now) {
    if (gate) {
      gate->release_all(now, [this](std::span<const replication::FrameBytes> frames) {
        auto& out = released_views;
        for (std::size_t i = 0; i < frames.size(); ++i)
          out[i] = io::ConstPacketView(frames[i].data(), static_cast<std::uint32_t>(frames[i].size()));
        const std::size_t sent =
            ext.port->tx_burst(std::span<const io::ConstPacketView>(out.data(), frames.size()));
        counters.int_to_ext_frames += sent;
        return sent;
      });
    }
    if (sender) sender->stop();
    resume(ext);
    resume(int_);
  }

  void send_due_garps(MonoTime now) {
    while (garp.due(now)) {
      for (const auto& ip : cfg.service.ips) {
        std::array<std::uint8_t, 128> buf{};
        std::optional<std::uint16_t> tci;
        if (cfg.service.vlan != 0) tci = cfg.service.vlan;
        const packet::MacAddr mac = *cfg.service.mac;
        auto send_one = [&](std::size_t len) {
          if (len == 0) return;
          io::ConstPacketView v(buf.data(), static_cast<std::uint32_t>(len));
          if (send(ext, std::span<const io::ConstPacketView>(&v, 1)) == 1) ++counters.garps_sent;
        };
        if (ip.family == packet::IpAddr::Family::v6) {
          send_one(packet::build_unsolicited_na(buf, mac, ip, tci));
        } else {
          send_one(packet::build_garp_request(buf, mac, ip, tci));
          if (cfg.garp.reply_form) send_one(packet::build_garp_reply(buf, mac, ip, tci));
        }
      }
    }
  }

  void check_health(MonoTime now) {
    if (!role) return;
    const State s = state();
    const bool watching = s == State::primary || s == State::backup;
    if (now >= next_link_check) {
      next_link_check = now + milliseconds(100);
      if (watching && int_.port->link_state() == io::LinkState::down) {
        role->local_health_failed("int link down", now);
        run_actions(now);
        return;
      }
    }
    if (cfg.failover.probe_command.empty()) return;
    if (probe.pid > 0) {
      int status = 0;
      const pid_t r = waitpid(probe.pid, &status, WNOHANG);
      if (r == probe.pid) {
        probe.pid = -1;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && watching) {
          role->local_health_failed("probe command failed", now);
          run_actions(now);
        }
      } else if (now - probe.started > milliseconds(cfg.failover.probe_timeout_ms)) {
        kill(probe.pid, SIGKILL);
        waitpid(probe.pid, &status, 0);
        probe.pid = -1;
        if (watching) {
          role->local_health_failed("probe command timed out", now);
          run_actions(now);
        }
      }
      return;
    }
    if (now >= probe.next_run) {
      probe.next_run = now + milliseconds(cfg.failover.probe_interval_ms);
      const char* argv[] = {"/bin/sh", "-c", cfg.failover.probe_command.c_str(), nullptr};
      pid_t pid = -1;
      if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) == 0) {
        probe.pid = pid;
        probe.started = now;
      } else if (watching) {
        role->local_health_failed("probe command could not be started", now);
        run_actions(now);
      }
    }
  }

  // Periodic work: failure detection, channel heartbeats, translator timeouts, GARP.
  void tick(MonoTime now) {
    if (sender) {
      sender->tick(now);
      if (role && sender->last_heard() > MonoTime::zero()) role->peer_heard(sender->last_heard());
    }
    if (receiver) {
      receiver->tick(now);
      if (role && receiver->last_heard() > MonoTime::zero()) role->peer_heard(receiver->last_heard());
      // Paused by our own backpressure, the receiver leaves the primary's records unread
      // in the socket: the primary is sending, we are the slow side. Its silence only
      // counts once we read again and nothing more comes.
      if (role && receiver->paused()) role->peer_heard(now);
    }
    // After a stall of this process (the tick itself came late) heartbeats that arrived in
    // time may still sit unread in the log socket: let the loop read them before judging
    // the peer silent, so our own stall never looks like the peer's death.
    const bool stalled = last_tick_at > MonoTime::zero() && now - last_tick_at > 4 * kTick;
    last_tick_at = now;
    if (role && !stalled) {
      role->tick(now);
      run_actions(now);
    } else if (stalled) {
      ++counters.stalled_ticks;
    }
    if (translator) {
      if (translator->has_queued()) flush_inject();
      translator->expire(now);
    }
    if (garp.active()) send_due_garps(now);
    tick_digests(now);
    check_health(now);
  }

  // Only while replicating: once live (or fenced) there is no peer stream to compare
  // with, and the counters stay as they were.
  void tick_digests(MonoTime now) {
    if (!digest) return;
    const State s = state();
    if (s != State::primary && s != State::backup && s != State::arbitrating) return;
    digest->tick(now);
    if (sender && !from_backup()) {
      flush_digests(now);
    } else if (receiver) {
      log_divergences(now);
    }
  }

  void arm_tick() {
    if (!running) return;
    tick_timer.expires_after(kTick);
    tick_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !running) return;
      tick(mono_now());
      arm_tick();
    });
  }

  // ---- event loop ------------------------------------------------------------------

  std::size_t pump(PortSlot& slot) noexcept { return &slot == &ext ? pump_ext() : pump_int(); }

  void resume(PortSlot& slot) {
    slot.paused = false;
    asio::post(io, [this, &slot] {
      if (running) on_ready(slot);
    });
  }

  void arm(PortSlot& slot) {
    if (!running || slot.paused) return;
    if (slot.readiness) {
      if (!slot.waiting) {
        slot.waiting = true;
        slot.readiness->async_wait(asio::posix::stream_descriptor::wait_read,
                                   [this, &slot](const boost::system::error_code& ec) {
                                     slot.waiting = false;
                                     if (ec || !running) return;
                                     on_ready(slot);
                                   });
      }
      // A frame that arrived between the last empty read and the arming above raised no
      // new readiness edge: look once more, and keep draining if there was one.
      if (pump(slot) > 0) {
        asio::post(io, [this, &slot] {
          if (running) on_ready(slot);
        });
      }
    } else if (cfg.dpdk.busy_poll) {
      // [dpdk] busy_poll: poll again as soon as the loop has run its other handlers (one
      // core spent on polling, no timer latency).
      asio::post(io, [this, &slot] {
        if (running) on_ready(slot);
      });
    } else {
      // Polled backends (dpdk, memory, pcap-file): 50 us while frames come, backing off to
      // 800 us after idle polls, so an idle proxy does not spin a core.
      const int shift = std::min<int>(static_cast<int>(slot.idle_polls / 32), 4);
      slot.poll_timer->expires_after(std::chrono::microseconds(50 << shift));
      slot.poll_timer->async_wait([this, &slot](const boost::system::error_code& ec) {
        if (ec || !running) return;
        on_ready(slot);
      });
    }
  }

  void on_ready(PortSlot& slot) {
    for (int i = 0; i < kBurstsPerTurn; ++i) {
      const std::size_t n = pump(slot);
      slot.idle_polls = n == 0 ? slot.idle_polls + 1 : 0;
      if (n < burst) {
        if (!slot.paused) arm(slot);
        return;
      }
    }
    // Still busy: yield to other handlers, then continue.
    asio::post(io, [this, &slot] {
      if (running) on_ready(slot);
    });
  }

  // ---- observation -----------------------------------------------------------------

  // A port's section of the stat table ("ports.ext", "ports.int"; metrics labelled port=).
  void port_stats(control::StatTable& t, const PortSlot& slot) const {
    const auto& s = slot.port->stats();
    const control::MetricLabel port{"port", slot.label};
    t.section(std::string("ports.") + slot.label);
    t.add("name", slot.port->info().name);
    t.add("link", link_name(slot.port->link_state()));
    t.add("rx_frames", s.rx_frames)
        .counter("ftproxy_port_rx_frames_total", "Frames received on a port.", port);
    t.add("rx_bytes", s.rx_bytes).counter("ftproxy_port_rx_bytes_total", "Bytes received on a port.", port);
    t.add("rx_dropped", s.rx_dropped)
        .counter("ftproxy_port_rx_dropped_total",
                 "Frames dropped by the kernel ring before the proxy read them.", port);
    t.add("rx_oversize", s.rx_oversize)
        .counter("ftproxy_port_rx_oversize_total", "Frames longer than the snap length, dropped.", port);
    t.add("rx_errors", s.rx_errors).counter("ftproxy_port_rx_errors_total", "Receive errors.", port);
    t.add("tx_frames", s.tx_frames).counter("ftproxy_port_tx_frames_total", "Frames sent on a port.", port);
    t.add("tx_bytes", s.tx_bytes).counter("ftproxy_port_tx_bytes_total", "Bytes sent on a port.", port);
    t.add("tx_errors", s.tx_errors)
        .counter("ftproxy_port_tx_errors_total", "Frames the port failed to send.", port);
    t.add("tx_oversize", s.tx_oversize)
        .counter("ftproxy_port_tx_oversize_total", "Frames longer than the MTU, refused.", port);
    t.add("paused", slot.paused);
  }

  double log_lag_seconds(MonoTime now) const {
    if (lag_samples.empty() || !sender || sender->unacked_entries() == 0) return 0.0;
    return static_cast<double>((now - lag_samples.front().second).count()) / 1e9;
  }

  // Everything /status and /metrics report, one row per value (control/stat_table.hpp): a
  // /status key, a metric or both, named once. Only the failover transitions (/status) and
  // ftproxy_up (/metrics) are added by the endpoints themselves.
  control::StatTable stat_table(MonoTime now) {
    for (PortSlot* p : {&ext, &int_})
      if (p->port) p->port->refresh_stats();
    control::StatTable t;
    t.add("node", cfg.node.name);
    t.add("cluster", cfg.node.cluster);
    t.add("role", control::to_string(cfg.node.role));
    t.add("state", failover::to_string(state()));
    for (State s :
         {State::standalone, State::primary, State::backup, State::arbitrating, State::live, State::fenced}) {
      t.metric(state() == s ? 1 : 0)
          .gauge("ftproxy_state", "1 for the state the proxy is in.", {"state", failover::to_string(s)});
    }
    t.add("epoch", cfg.node.epoch).gauge("ftproxy_epoch", "The arbitration epoch of the pair.");
    t.add("uptime_s", static_cast<double>((now - started).count()) / 1e9);
    t.metric(control.unauthorized())
        .counter("ftproxy_control_unauthorized_total",
                 "Control-port actions refused for a missing (401) or wrong (403) token.");

    t.section("ports");
    for (const PortSlot* p : {&ext, &int_})
      if (p->port) port_stats(t, *p);

    t.section("forward");
    const char* frames_help = "Frames forwarded between the ports.";
    const char* bytes_help = "Bytes forwarded between the ports.";
    t.add("ext_to_int_frames", counters.ext_to_int_frames)
        .counter("ftproxy_forwarded_frames_total", frames_help, {"direction", "ext_to_int"});
    t.add("ext_to_int_bytes", counters.ext_to_int_bytes)
        .counter("ftproxy_forwarded_bytes_total", bytes_help, {"direction", "ext_to_int"});
    t.add("int_to_ext_frames", counters.int_to_ext_frames)
        .counter("ftproxy_forwarded_frames_total", frames_help, {"direction", "int_to_ext"});
    t.add("int_to_ext_bytes", counters.int_to_ext_bytes)
        .counter("ftproxy_forwarded_bytes_total", bytes_help, {"direction", "int_to_ext"});
    t.add("tx_refused", counters.tx_refused)
        .counter("ftproxy_tx_refused_total", "Frames a port did not accept, dropped.");
    t.add("int_checksum_bad", counters.int_checksum_bad)
        .counter("ftproxy_int_checksum_bad_total", "Frames from the server with a wrong L4 checksum.");
    t.add("int_checksum_repaired", counters.int_checksum_repaired)
        .counter("ftproxy_int_checksum_repaired_total",
                 "Frames from the server whose L4 checksum was repaired.");
    t.add("ext_ignored", counters.ext_ignored)
        .counter("ftproxy_ext_ignored_total", "Frames seen on ext while backup, dropped.");
    t.add("outputs_suppressed", counters.outputs_suppressed)
        .counter("ftproxy_outputs_suppressed_total", "Backup server outputs suppressed.");
    t.add("fenced_drops", counters.fenced_drops)
        .counter("ftproxy_fenced_drops_total", "Frames dropped while fenced.");
    t.add("garps_sent", counters.garps_sent)
        .counter("ftproxy_garps_sent_total",
                 "Gratuitous ARPs and unsolicited neighbour advertisements sent.");
    // A metric without a role too; /status shows it as failover.failovers (with a role).
    t.metric(counters.failovers).counter("ftproxy_failovers_total", "Transitions to live.");
    t.add("takeover_replayed", counters.takeover_replayed);
    t.add("stalled_ticks", counters.stalled_ticks);
    t.add("arp_answered", counters.arp_answered)
        .counter("ftproxy_arp_answered_total", "Backup server ARP requests answered by the proxy.");
    t.add("arp_unanswered", counters.arp_unanswered);
    t.section("forward.parse_errors");
    for (std::size_t i = 1; i < std::size(counters.parse_errors); ++i) {
      const char* reason = packet::to_string(static_cast<packet::ParseStatus>(i));
      t.add(reason, counters.parse_errors[i])
          .omit_zero()
          .counter("ftproxy_parse_errors_total", "Frames that failed to parse, by reason.",
                   {"reason", reason});
    }

    if (role) {
      t.section("failover");
      t.add("failovers", counters.failovers);
      t.add("arbiter_asks", role->arbiter_asks())
          .counter("ftproxy_arbiter_requests_total", "Test-and-set requests sent to the arbiter.");
      t.add("arbiter_unavailable", role->arbiter_unavailable())
          .counter("ftproxy_arbiter_unavailable_total", "Arbiter requests that found no arbiter.");
      t.add("last_arbiter_message", role->last_arbiter_message());
      t.add("fence_cause", failover::to_string(role->fence_cause()));
      t.add("owner", fencing_owner);
      t.add("fencing_token", fencing_token);
      t.add("peer_seen", role->peer_seen());
      // The same silence in two units: ms (-1: never heard) in /status, s (0) in /metrics.
      const auto silence = now - role->last_heard();
      t.add("ms_since_peer_heard", role->peer_seen() ? static_cast<double>(silence.count()) / 1e6 : -1.0);
      t.metric(role->peer_seen() ? static_cast<double>(silence.count()) / 1e9 : 0.0)
          .gauge("ftproxy_peer_silence_seconds", "Time since the peer was last heard from.");
    }

    if (sender || receiver) {
      const auto& cs = sender ? sender->stats() : receiver->stats();
      const bool is_sender = sender != nullptr;
      t.section("log");
      t.add("connected", sender ? sender->connected() : receiver->connected())
          .gauge("ftproxy_log_connected", "1 while the log channel is up.");
      if (sender) {
        t.add("seq_sent", sender->last_sent_seq());
        t.add("seq_logged", sender->last_queued_seq());
        t.add("seq_acked", sender->acked_seq());
        t.add("lag_entries", sender->unacked_entries())
            .gauge("ftproxy_log_lag_entries", "Log entries not yet acknowledged by the backup.");
        t.add("lag_bytes", sender->unacked_bytes())
            .gauge("ftproxy_log_lag_bytes", "Encoded log bytes not yet acknowledged by the backup.");
        t.add("lag_seconds", log_lag_seconds(now))
            .gauge("ftproxy_log_lag_seconds", "Age of the oldest unacknowledged log entry.");
        t.metric(cs.entries_sent).counter("ftproxy_log_entries_total", "Log entries sent.");
      } else {
        t.add("seq_received", receiver->last_delivered_seq());
        t.add("seq_injected", injected_entries())
            .counter("ftproxy_log_injected_total", "Logged frames injected into the backup server.");
        t.metric(cs.entries_delivered).counter("ftproxy_log_entries_received_total", "Log entries received.");
      }
      // /status shows both directions' channel counters; /metrics the sender's or the receiver's.
      t.add("bytes_sent", cs.bytes_sent)
          .counter("ftproxy_log_bytes_sent_total", "Bytes written to the log channel.")
          .metric_when(is_sender);
      t.add("bytes_received", cs.bytes_received)
          .counter("ftproxy_log_bytes_received_total", "Bytes read from the log channel.")
          .metric_when(!is_sender);
      t.add("writes", cs.writes)
          .counter("ftproxy_log_writes_total", "Write batches on the log channel.")
          .metric_when(is_sender);
      t.add("reconnects", cs.reconnects)
          .counter("ftproxy_log_reconnects_total", "Log channel reconnects.")
          .metric_when(is_sender);
      t.add("refused_hellos", cs.refused_hellos)
          .counter("ftproxy_log_refused_hellos_total", "Log channel connections refused at HELLO.")
          .metric_when(!is_sender);
      t.section("log.auth");
      t.add("mode", cfg.log.key_file.empty() ? "none" : "psk");
      t.add("tls", cfg.log.tls);
      t.add("authenticated", cs.authenticated)
          .counter("ftproxy_log_authenticated_total", "Log channel handshakes completed with the key.");
      t.section("log.auth.failures");
      for (std::size_t i = 1; i < replication::kAuthFailureCount; ++i) {
        const char* reason = replication::to_string(static_cast<replication::AuthFailure>(i));
        t.add(reason, cs.auth_failures[i])
            .counter("ftproxy_log_auth_failures_total",
                     "Log channel connections closed or refused because authentication failed, by reason.",
                     {"reason", reason});
      }
      t.section("log");
      t.add("log_refused", counters.log_refused)
          .counter("ftproxy_log_refused_total", "Inbound frames dropped because the log was full.")
          .metric_when(is_sender);
    }

    if (gate) {
      const auto& g = gate->stats();
      t.section("output_gate");
      t.add("held", g.held_now).gauge("ftproxy_outputs_held", "Outputs held by the output rule now.");
      t.add("held_bytes", g.held_bytes_now);
      t.add("held_max", g.held_max);
      t.add("released", g.released)
          .counter("ftproxy_outputs_released_total", "Outputs released by the output rule.");
      t.add("dropped_full", g.dropped_full + counters.gate_refused)
          .counter("ftproxy_outputs_dropped_total", "Outputs dropped because the gate was full.");
      t.add("hold_seconds_max", static_cast<double>(g.hold_ns_max) / 1e9);
      t.add("hold_seconds_avg", g.released ? static_cast<double>(g.hold_ns_sum) / 1e9 / g.released : 0.0);
      std::array<double, replication::OutputGateStats::kHoldBucketBoundsNs.size()> bounds{};
      for (std::size_t i = 0; i < bounds.size(); ++i) {
        bounds[i] = static_cast<double>(replication::OutputGateStats::kHoldBucketBoundsNs[i]) / 1e9;
      }
      t.histogram("ftproxy_output_hold_seconds", "Time outputs were held by the output rule.", bounds,
                  g.hold_buckets, static_cast<double>(g.hold_ns_sum) / 1e9);
    }

    if (translator) {
      const auto c = translator->counters();
      t.section("tcp");
      t.add("flows", c.flows_tracked).gauge("ftproxy_tcp_flows", "TCP flows tracked by the translator.");
      t.add("flows_created", c.flows_created);
      t.add("evictions", c.evictions)
          .counter("ftproxy_tcp_evictions_total", "Flows evicted from the full flow table.");
      t.add("translated_in", c.translated_in)
          .counter("ftproxy_tcp_translated_total", "Segments translated.", {"direction", "in"});
      t.add("translated_out", c.translated_out)
          .counter("ftproxy_tcp_translated_total", "Segments translated.", {"direction", "out"});
      t.add("waiting", c.waiting_now)
          .gauge("ftproxy_tcp_segments_waiting", "Segments waiting for their flow's deltas.");
      t.add("held", c.held_now)
          .gauge("ftproxy_tcp_segments_held", "Segments held until the backup server catches up.");
      t.add("held_total", c.held_total);
      t.add("window_holds", c.window_holds)
          .counter("ftproxy_tcp_window_holds_total",
                   "Client segments held because they ended beyond the backup server's receive window.");
      t.add("divergence", c.divergence())
          .counter("ftproxy_divergence_total", "Events where the backup may have diverged from the primary.");
      t.add("hold_timeouts", c.hold_timeouts);
      t.add("wait_drops", c.wait_drops);
      t.add("queue_full_drops", c.queue_full_drops);
      t.add("untracked_in", c.untracked_in);
      t.add("wscale_mismatch", c.wscale_mismatch);
      t.add("mss_mismatch", c.mss_mismatch);
      t.add("paws_clamped", c.paws_clamped);
      t.add("stale_retransmits", c.stale_retransmits);
      t.add("acks_clamped", c.acks_clamped);
      t.add("gaps_clamped", c.gaps_clamped);
      t.add("blind_dropped", c.blind_dropped);
      t.add("out_of_window", c.out_of_window);
      t.add("acks_lowered", c.acks_lowered);
      t.add("acks_synthesized", c.acks_synthesized)
          .counter("ftproxy_tcp_acks_synthesized_total", "Pure ACKs the backup synthesized for its server.");
      t.add("synth_unusable", c.synth_unusable);
      t.add("flows_diverged", c.flows_diverged);
      t.add("inject_backpressure", counters.inject_backpressure);
      t.add("neighbours", neighbours.size());
    }

    // Divergence detection (output digests): /status all zeros when off or standalone,
    // /metrics only while on.
    replication::DigestCounters dc;
    if (digest) dc = digest->counters();
    const bool digests = digest != nullptr;
    t.section("digest");
    t.add("checked", dc.checked)
        .counter("ftproxy_digest_checked_total",
                 "Output digest checkpoints compared with the backup server's output (equal or not).")
        .metric_when(digests);
    t.add("mismatches", dc.mismatches)
        .counter("ftproxy_digest_mismatches_total",
                 "Output digest checkpoints where the backup server's output differed from the primary's.")
        .metric_when(digests);
    t.add("flows_diverged", dc.flows_diverged)
        .counter("ftproxy_digest_flows_diverged_total", "Flows with at least one output digest mismatch.")
        .metric_when(digests);
    t.add("uncomparable", dc.uncomparable)
        .counter("ftproxy_digest_uncomparable_total",
                 "Output digest checkpoints that could not be compared (position passed, state lost).")
        .metric_when(digests);
    t.add("enabled", digests);
    t.add("chunk_bytes", cfg.replication.digest_chunk_bytes);
    t.add("checkpoints", dc.checkpoints)
        .counter("ftproxy_digest_checkpoints_total",
                 "Output digest checkpoints cut from this server's output.")
        .metric_when(digests);
    t.add("peer_checkpoints", dc.peer_checkpoints);
    t.add("flows", dc.flows)
        .gauge("ftproxy_digest_flows", "Flows tracked by the output digester.")
        .metric_when(digests);
    t.add("overflow", dc.overflow + dc.outbox_dropped)
        .counter("ftproxy_digest_overflow_total",
                 "Output digest checkpoints dropped from a full table (pending slots or outbox).")
        .metric_when(digests);
    t.add("flows_refused", dc.flows_refused);
    t.add("flows_evicted", dc.flows_evicted);
    t.add("gaps", dc.gaps);
    t.add("untracked_segments", dc.untracked);
    t.add("bad_entries", dc.bad_entries);
    t.add("chunk_mismatch", dc.chunk_mismatch);
    t.add("log_deferred", digest_log_refused);
    t.add("reports_suppressed", digest_reports_suppressed + (digest ? digest->reports_lost() : 0));
    return t;
  }

  std::string status_json() {
    const MonoTime now = mono_now();
    boost::json::object o = stat_table(now).json();
    if (role) {
      boost::json::array hist;
      for (std::size_t i = 0; i < role->history_size(); ++i) {
        const auto& t = role->history(i);
        boost::json::object h;
        h["from"] = failover::to_string(t.from);
        h["to"] = failover::to_string(t.to);
        h["reason"] = t.reason;
        h["detail"] = t.detail;
        h["epoch"] = t.epoch;
        h["answer"] = t.answer ? arbiter::to_string(*t.answer) : "";
        h["owner"] = t.owner;
        h["fencing_token"] = t.fencing_token;
        h["seconds_ago"] = static_cast<double>((now - t.at).count()) / 1e9;
        hist.push_back(std::move(h));
      }
      o["failover"].as_object()["transitions"] = std::move(hist);
    }
    return boost::json::serialize(o);
  }

  // The TCP translation table, for `ftproxyctl flows` and operators.
  std::string flows_json() {
    boost::json::array arr;
    if (translator) {
      translator->flows().for_each([&](const tcp::Flow& fl) {
        boost::json::object o;
        o["client"] = packet::to_string(fl.key.src_ip) + ":" + std::to_string(fl.key.src_port);
        o["server"] = packet::to_string(fl.key.dst_ip) + ":" + std::to_string(fl.key.dst_port);
        o["vlan"] = fl.key.vlan;
        o["state"] = tcp::to_string(fl.state);
        o["delta_known"] = fl.delta_known;
        o["seq_delta"] = fl.seq_delta;
        o["ts_known"] = fl.ts_known;
        o["ts_delta"] = fl.ts_delta;
        o["primary_isn"] = fl.primary.isn;
        o["backup_isn"] = fl.backup.isn;
        o["backup_snd_nxt"] = fl.snd_nxt_backup;
        o["queued"] = fl.q_len;
        if (auto head = translator->queue_head(fl); !head.empty()) {
          packet::ParsedFrame hf;
          if (packet::parse_frame(head, hf) == packet::ParseStatus::ok && hf.l4 == packet::L4Kind::tcp) {
            o["queue_head_seq"] = hf.tcp.seq;
            o["queue_head_ack_translated"] = static_cast<std::uint32_t>(hf.tcp.ack + fl.seq_delta);
            o["queue_head_payload"] = hf.payload_len;
          }
        }
        o["paws_floor"] = fl.paws_floor;
        o["wscale_mismatch"] = fl.wscale_mismatch;
        o["mss_mismatch"] = fl.mss_mismatch;
        o["idle_seconds"] = static_cast<double>((mono_now() - fl.last_activity).count()) / 1e9;
        arr.push_back(std::move(o));
      });
    }
    boost::json::object o;
    o["flows"] = std::move(arr);
    return boost::json::serialize(o);
  }

  std::string metrics_text() {
    const control::StatTable t = stat_table(mono_now());
    std::string out;
    control::MetricsWriter w(out);
    w.gauge("ftproxy_up", "1 while the proxy runs.", 1,
            {{"node", cfg.node.name},
             {"cluster", cfg.node.cluster},
             {"role", control::to_string(cfg.node.role)}});
    t.write(w);
    return out;
  }
};

Node::Node(asio::io_context& io, control::ProxyConfig cfg)
    : impl_(std::make_unique<Impl>(io, std::move(cfg))) {}

Node::~Node() {
  stop();
}

bool Node::start(std::string& error) {
  Impl& m = *impl_;
  m.burst = std::min<std::size_t>(m.cfg.ports.burst, kMaxBurst);
  if (!m.control_error.empty()) {
    error = "control.token_file: " + m.control_error;
    return false;
  }
  if (m.cfg.control.token_file.empty()) {
    // Without a token, whoever reaches the control port can promote and fence.
    if (!control::ControlServer::is_loopback(m.cfg.control.listen.host)) {
      error = "control.token_file: required when control.listen (" + m.cfg.control.listen.to_string() +
              ") is not a loopback address";
      return false;
    }
    spdlog::warn("control.token_file not set: any local process can promote or fence this proxy");
  }
  if (!m.open_port(m.ext, m.cfg.ports.ext, m.cfg.ports.ext_rx_file, m.cfg.ports.ext_tx_file, error))
    return false;
  if (!m.open_port(m.int_, m.cfg.ports.int_, m.cfg.ports.int_rx_file, m.cfg.ports.int_tx_file, error))
    return false;
  if (m.cfg.node.role != control::Role::standalone && !m.start_replication(error)) return false;

  m.control.get("/status", [&m] { return control::HttpResponse::json(m.status_json()); });
  m.control.get("/metrics", [&m] { return control::HttpResponse::metrics(m.metrics_text()); });
  m.control.get("/flows", [&m] { return control::HttpResponse::json(m.flows_json()); });
  // Operator actions. Promote still goes through the arbiter; fence is immediate.
  m.control.post("/promote", [&m](const control::PostRequest&) {
    if (!m.role)
      return control::HttpResponse::json(R"({"ok":false,"message":"standalone: nothing to promote"})", 409);
    const MonoTime now = mono_now();
    const auto r = m.role->promote(now);
    spdlog::info("operator promote {}", fields({{"ok", r.ok ? "true" : "false"}, {"message", r.message}}));
    m.run_actions(now);
    boost::json::object o{{"ok", r.ok}, {"message", r.message}, {"state", failover::to_string(m.state())}};
    return control::HttpResponse::json(boost::json::serialize(o), r.ok ? 200 : 409);
  });
  m.control.post("/fence", [&m](const control::PostRequest&) {
    if (!m.role)
      return control::HttpResponse::json(R"({"ok":false,"message":"standalone: nothing to fence"})", 409);
    const MonoTime now = mono_now();
    const auto r = m.role->fence(now);
    spdlog::warn("operator fence {}", fields({{"ok", r.ok ? "true" : "false"}, {"message", r.message}}));
    m.run_actions(now);
    boost::json::object o{{"ok", r.ok}, {"message", r.message}, {"state", failover::to_string(m.state())}};
    return control::HttpResponse::json(boost::json::serialize(o), r.ok ? 200 : 409);
  });
  std::string err;
  if (!m.control.start(m.cfg.control.listen, err)) {
    error = "control.listen: " + err;
    return false;
  }
  m.started = mono_now();
  m.running = true;
  m.arm(m.ext);
  m.arm(m.int_);
  m.arm_tick();
  spdlog::info(
      "started {}",
      fields({{"node", m.cfg.node.name},
              {"role", control::to_string(m.cfg.node.role)},
              {"state", failover::to_string(m.state())},
              {"epoch", std::to_string(m.cfg.node.epoch)},
              {"ext", m.cfg.ports.ext},
              {"int", m.cfg.ports.int_},
              {"control", m.cfg.control.listen.host + ":" + std::to_string(m.control.local_port())}}));
  return true;
}

void Node::stop() {
  Impl& m = *impl_;
  if (!m.running) return;
  m.running = false;
  m.tick_timer.cancel();
  m.release_fd(m.ext);
  m.release_fd(m.int_);
  if (m.sender) m.sender->stop();
  if (m.receiver) m.receiver->stop();
  if (m.probe.pid > 0) {
    kill(m.probe.pid, SIGKILL);
    int status = 0;
    waitpid(m.probe.pid, &status, 0);
    m.probe.pid = -1;
  }
  m.control.stop();
}

std::size_t Node::poll_once() {
  Impl& m = *impl_;
  const std::size_t n = m.pump_ext() + m.pump_int();
  m.tick(mono_now());
  return n;
}

const char* Node::state() const noexcept {
  return failover::to_string(impl_->state());
}
std::string Node::status_json() const {
  return impl_->status_json();
}
std::string Node::metrics_text() const {
  return impl_->metrics_text();
}
std::uint16_t Node::control_port() const noexcept {
  return impl_->control.local_port();
}
const ForwardCounters& Node::counters() const noexcept {
  return impl_->counters;
}

}  // namespace ftproxy::node
