// Log channel over real loopback TCP (127.0.0.1, port 0) on one io_context. Time for
// heartbeats, back-off and timeouts comes from a ManualClock moved by the pump loop;
// the loop only blocks waiting for socket I/O, never for a timeout.
#include "ftproxy/replication/channel.hpp"

#include "channel_loop.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <vector>

namespace ftproxy::replication {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Bytes = std::vector<std::uint8_t>;

Bytes payload_for(std::uint64_t seq) {
  Bytes b(20 + seq % 200);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(seq + i);
  return b;
}

struct Channel : ::testing::Test {
  asio::io_context io;
  ManualClock clock;
  std::vector<std::uint64_t> delivered;
  bool sink_ok = true;
  bool data_ok = true;
  std::optional<LogReceiver> rx;
  std::optional<LogSender> tx;

  MonoClockFn clock_fn() {
    return [this] { return clock.now(); };
  }

  ReceiverConfig receiver_config() {
    ReceiverConfig c;
    c.cluster = "prod";
    c.epoch = 3;
    c.node_name = "backup-1";
    c.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    c.clock = clock_fn();
    return c;
  }

  SenderConfig sender_config(tcp::endpoint peer) {
    SenderConfig c;
    c.cluster = "prod";
    c.epoch = 3;
    c.node_name = "primary-1";
    c.peer = peer;
    c.clock = clock_fn();
    return c;
  }

  void start_receiver(ReceiverConfig c) {
    rx.emplace(io, std::move(c), [this](const EntryView& e) {
      if (!sink_ok) return false;
      if (Bytes(e.data.begin(), e.data.end()) != payload_for(e.seq) || e.kind != EntryKind::inbound_frame ||
          e.time_ns != e.seq * 10) {
        data_ok = false;
      }
      delivered.push_back(e.seq);
      return true;
    });
    std::string err;
    ASSERT_TRUE(rx->listen(err)) << err;
  }

  void start_pair(SenderConfig* override_cfg = nullptr) {
    start_receiver(receiver_config());
    tx.emplace(io, override_cfg ? *override_cfg : sender_config(rx->local_endpoint()));
    tx->start(clock.now());
    ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
  }

  // One packet-loop iteration: flush, tick, run ready handlers (or wait for I/O).
  void iterate() {
    test::loop_iteration(io, clock, [&](MonoTime now) {
      if (tx) {
        tx->flush();
        tx->tick(now);
      }
      if (rx) rx->tick(now);
    });
  }

  template <class Pred>
  bool pump(Pred done, int max_iterations = 20000) {
    return test::pump_until([&] { iterate(); }, done, max_iterations);
  }

  std::uint64_t queue(std::uint64_t seq_expected) {
    const Bytes p = payload_for(seq_expected);
    return tx->queue_entry(EntryKind::inbound_frame, seq_expected * 10, p);
  }

  bool delivered_in_order(std::uint64_t upto) const {
    if (delivered.size() != upto) return false;
    for (std::uint64_t i = 0; i < upto; ++i) {
      if (delivered[i] != i + 1) return false;
    }
    return true;
  }
};

TEST_F(Channel, TenThousandEntriesDeliveredInOrderAckedAndBatched) {
  start_pair();
  EXPECT_EQ(tx->peer_node(), "backup-1");
  EXPECT_EQ(rx->peer_node(), "primary-1");
  constexpr std::uint64_t kTotal = 10000;
  std::uint64_t next = 1;
  ASSERT_TRUE(pump([&] {
    // Up to 100 new entries per loop iteration, as an rx burst would produce.
    for (int i = 0; i < 100 && next <= kTotal; ++i) {
      if (!tx->can_queue(256)) break;
      EXPECT_EQ(queue(next), next);
      ++next;
    }
    return next > kTotal && tx->acked_seq() == kTotal;
  }));
  EXPECT_TRUE(delivered_in_order(kTotal));
  EXPECT_TRUE(data_ok);
  EXPECT_EQ(tx->unacked_entries(), 0u);
  EXPECT_EQ(tx->unacked_bytes(), 0u);
  EXPECT_EQ(rx->last_delivered_seq(), kTotal);
  const ChannelStats& ts = tx->stats();
  const ChannelStats& rs = rx->stats();
  EXPECT_EQ(ts.entries_sent, kTotal);
  EXPECT_EQ(ts.entries_resent, 0u);
  EXPECT_EQ(rs.entries_delivered, kTotal);
  EXPECT_EQ(rs.duplicates, 0u);
  // Batching: far fewer writes than entries, and acks coalesced per read.
  EXPECT_LT(ts.writes, kTotal / 10) << ts.writes;
  EXPECT_LT(rs.acks_sent, kTotal / 10) << rs.acks_sent;
  EXPECT_GT(rs.acks_sent, 0u);
  EXPECT_EQ(ts.bytes_sent, rs.bytes_received);
  EXPECT_EQ(ts.disconnects + rs.disconnects, 0u);
  std::printf("10k entries: %llu writes, %llu acks, %llu reads at the backup\n",
              static_cast<unsigned long long>(ts.writes), static_cast<unsigned long long>(rs.acks_sent),
              static_cast<unsigned long long>(rs.reads));
}

TEST_F(Channel, ReconnectMidStreamResendsWithoutLossOrDuplicates) {
  start_pair();
  constexpr std::uint64_t kTotal = 6000;
  std::uint64_t next = 1;
  bool dropped = false;
  ASSERT_TRUE(pump([&] {
    for (int i = 0; i < 50 && next <= kTotal; ++i) {
      if (queue(next) != next) break;  // backpressure: retry next iteration
      ++next;
    }
    if (!dropped && delivered.size() >= 2000) {
      rx->drop_connection();  // the backup side kills the connection mid-stream
      dropped = true;
    }
    return next > kTotal && tx->acked_seq() == kTotal;
  }));
  ASSERT_TRUE(dropped);
  EXPECT_TRUE(delivered_in_order(kTotal));  // each seq exactly once, in order
  EXPECT_TRUE(data_ok);
  EXPECT_EQ(rx->last_close_reason(), CloseReason::dropped);
  EXPECT_EQ(tx->stats().disconnects, 1u);
  EXPECT_EQ(tx->stats().reconnects, 1u);
  EXPECT_EQ(rx->stats().reconnects, 1u);
  EXPECT_GE(tx->stats().entries_sent, kTotal);
  EXPECT_EQ(tx->stats().entries_sent - tx->stats().entries_resent, kTotal);
}

TEST_F(Channel, EntriesQueuedWhileDisconnectedAreSentAfterReconnect) {
  start_pair();
  for (std::uint64_t s = 1; s <= 10; ++s) ASSERT_EQ(queue(s), s);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 10; }));
  tx->drop_connection();
  EXPECT_FALSE(tx->connected());
  for (std::uint64_t s = 11; s <= 20; ++s) ASSERT_EQ(queue(s), s);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 20; }));
  EXPECT_TRUE(delivered_in_order(20));
  EXPECT_EQ(tx->last_close_reason(), CloseReason::dropped);
  EXPECT_EQ(tx->stats().reconnects, 1u);
}

TEST_F(Channel, BackpressureWhenBackupSinkIsFullAndUnackedLogBounded) {
  start_receiver(receiver_config());
  SenderConfig c = sender_config(rx->local_endpoint());
  c.unacked.max_entries = 32;
  tx.emplace(io, c);
  tx->start(clock.now());
  ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
  sink_ok = false;
  std::uint64_t next = 1;
  while (queue(next) == next) ++next;
  EXPECT_EQ(next, 33u);  // the 33rd entry is refused: log full
  EXPECT_EQ(tx->stats().queue_full, 1u);
  EXPECT_FALSE(tx->can_queue(10));
  ASSERT_TRUE(pump([&] { return rx->paused(); }));
  for (int i = 0; i < 200; ++i) iterate();
  EXPECT_EQ(tx->acked_seq(), 0u);  // nothing acked while the backup cannot take entries
  EXPECT_TRUE(delivered.empty());
  EXPECT_GE(rx->stats().delivery_stalls, 1u);
  EXPECT_TRUE(tx->connected());  // heartbeats keep flowing
  sink_ok = true;
  rx->resume();
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 32; }));
  EXPECT_TRUE(delivered_in_order(32));
  EXPECT_TRUE(tx->can_queue(10));
  EXPECT_EQ(queue(33), 33u);
}

TEST_F(Channel, HeartbeatsBothWaysKeepLastHeardFresh) {
  start_pair();
  const MonoTime t0 = clock.now();
  ASSERT_TRUE(
      pump([&] { return tx->stats().heartbeats_received >= 3 && rx->stats().heartbeats_received >= 3; }));
  EXPECT_GT(tx->last_heard(), t0);
  EXPECT_GT(rx->last_heard(), t0);
  // At most one heartbeat per interval while idle (5 ms at 50 us per iteration).
  EXPECT_LE(clock.now() - t0, milliseconds(40));
}

TEST_F(Channel, SenderRetriesWithBackoffUntilTheBackupListens) {
  start_receiver(receiver_config());
  const tcp::endpoint ep = rx->local_endpoint();
  rx.reset();  // nobody listens on ep now
  SenderConfig c = sender_config(ep);
  tx.emplace(io, c);
  tx->start(clock.now());
  ASSERT_TRUE(pump([&] { return tx->stats().connect_failures >= 3; }));
  EXPECT_FALSE(tx->connected());
  const auto attempts = tx->stats().connect_attempts;
  for (int i = 0; i < 20; ++i) iterate();  // 1 ms: less than the grown back-off
  EXPECT_LE(tx->stats().connect_attempts, attempts + 1);
  ReceiverConfig rc = receiver_config();
  rc.listen = ep;
  start_receiver(rc);
  ASSERT_TRUE(pump([&] { return tx->connected(); }));
  ASSERT_EQ(queue(1), 1u);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 1; }));
}

// A client that speaks the wire format by hand.
struct RawPeer {
  explicit RawPeer(asio::io_context& io) : sock(io) {}
  tcp::socket sock;
  void connect(const tcp::endpoint& ep) { sock.connect(ep); }
  void send(const Bytes& b) { asio::write(sock, asio::buffer(b)); }
  Bytes hello(PeerRole role, std::string_view cluster, std::uint64_t epoch, std::uint64_t seq = 0) {
    Hello h;
    h.role = role;
    h.cluster = cluster;
    h.epoch = epoch;
    h.seq = seq;
    h.node = "raw";
    Bytes b(hello_record_size(h));
    encode_hello(b, h);
    return b;
  }
  Bytes entry(std::uint64_t seq) {
    const Bytes p = payload_for(seq);
    Bytes b(entry_record_size(p.size()));
    encode_entry(b, seq, EntryKind::inbound_frame, seq * 10, p);
    return b;
  }
  Bytes ack(std::uint64_t seq) {
    Bytes b(kAckRecordSize);
    encode_ack(b, seq);
    return b;
  }
};

TEST_F(Channel, WrongClusterWrongEpochAndGarbageRefusedWhileTheLegitPairKeepsReplicating) {
  start_pair();
  std::uint64_t next = 1;
  for (; next <= 100; ++next) ASSERT_EQ(queue(next), next);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 100; }));

  // A sender of another cluster, one of an old epoch, a garbage client.
  SenderConfig other = sender_config(rx->local_endpoint());
  other.cluster = "staging";
  LogSender wrong_cluster(io, other);
  other.cluster = "prod";
  other.epoch = 2;
  LogSender wrong_epoch(io, other);
  wrong_cluster.start(clock.now());
  wrong_epoch.start(clock.now());
  RawPeer garbage(io);
  garbage.connect(rx->local_endpoint());
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  garbage.send(Bytes(http.begin(), http.end()));

  ASSERT_TRUE(pump([&] {
    wrong_cluster.tick(clock.now());
    wrong_epoch.tick(clock.now());
    for (int i = 0; i < 10; ++i, ++next) EXPECT_EQ(queue(next), next);
    const auto& e = rx->stats().decode_errors;
    return e[static_cast<std::size_t>(DecodeError::wrong_cluster)] >= 1 &&
           e[static_cast<std::size_t>(DecodeError::wrong_epoch)] >= 1 &&
           e[static_cast<std::size_t>(DecodeError::bad_magic)] >= 1;
  }));
  EXPECT_GE(rx->stats().refused_hellos, 3u);
  EXPECT_FALSE(wrong_cluster.connected());
  EXPECT_FALSE(wrong_epoch.connected());
  wrong_cluster.stop();
  wrong_epoch.stop();
  const std::uint64_t last = next - 1;
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == last; }));
  EXPECT_TRUE(delivered_in_order(last));
  EXPECT_EQ(tx->stats().disconnects, 0u);
  EXPECT_EQ(rx->stats().disconnects, 0u);
  EXPECT_EQ(rx->peer_node(), "primary-1");
}

TEST_F(Channel, SilentClientTimesOutWithoutDisturbingThePair) {
  start_pair();
  RawPeer silent(io);
  silent.connect(rx->local_endpoint());
  for (int i = 0; i < 5; ++i) iterate();  // the accept completes
  EXPECT_EQ(rx->stats().hello_timeouts, 0u);
  clock.advance(milliseconds(500));  // the receiver's hello_timeout
  ASSERT_TRUE(pump([&] { return rx->stats().hello_timeouts == 1; }));
  EXPECT_EQ(rx->stats().refused_hellos, 1u);
  EXPECT_TRUE(tx->connected());
  EXPECT_EQ(queue(1), 1u);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 1; }));
}

TEST_F(Channel, ReceiverDedupsAndClosesOnSeqGap) {
  start_receiver(receiver_config());
  RawPeer p(io);
  p.connect(rx->local_endpoint());
  p.send(p.hello(PeerRole::primary, "prod", 3));
  Bytes reply(hello_record_size(Hello{1, PeerRole::backup, 3, 0, "prod", "backup-1"}));
  std::size_t got = 0;
  p.sock.async_read_some(asio::buffer(reply), [&](boost::system::error_code, std::size_t n) { got = n; });
  ASSERT_TRUE(pump([&] { return got > 0; }));
  LogDecoder dec;
  ASSERT_TRUE(dec.feed(std::span<const std::uint8_t>(reply.data(), got)));
  Record r;
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.type, RecordType::hello);
  EXPECT_EQ(r.hello.role, PeerRole::backup);
  EXPECT_EQ(r.hello.seq, 0u);

  Bytes stream;
  for (std::uint64_t s : {1, 2, 3, 4, 5, 3, 4, 5, 6, 7}) {
    const Bytes e = p.entry(s);
    stream.insert(stream.end(), e.begin(), e.end());
  }
  p.send(stream);
  ASSERT_TRUE(pump([&] { return rx->last_delivered_seq() == 7; }));
  EXPECT_TRUE(delivered_in_order(7));
  EXPECT_EQ(rx->stats().duplicates, 3u);
  // The backup acks cumulatively.
  Bytes ack(64);
  got = 0;
  std::uint64_t acked = 0;
  while (acked < 7) {
    p.sock.async_read_some(asio::buffer(ack), [&](boost::system::error_code, std::size_t n) { got = n; });
    ASSERT_TRUE(pump([&] { return got > 0; }));
    LogDecoder d2;
    d2.feed(std::span<const std::uint8_t>(ack.data(), got));
    while (d2.next(r) == DecodeStatus::record) {
      if (r.type == RecordType::ack) acked = r.ack_seq;
    }
    got = 0;
  }
  EXPECT_EQ(acked, 7u);

  p.send(p.entry(9));  // 8 is missing
  ASSERT_TRUE(pump([&] { return !rx->connected(); }));
  EXPECT_EQ(rx->last_close_reason(), CloseReason::protocol_error);
  EXPECT_EQ(rx->stats().protocol_errors[static_cast<std::size_t>(ProtocolError::seq_gap)], 1u);
  EXPECT_EQ(rx->last_delivered_seq(), 7u);
}

// A fake backup: accepts, reads the primary's HELLO, answers with `reply`.
struct FakeBackup {
  explicit FakeBackup(asio::io_context& io)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), sock(io) {}
  tcp::acceptor acceptor;
  tcp::socket sock;
  bool accepted = false;
  void accept() {
    acceptor.async_accept(sock, [this](boost::system::error_code ec) { accepted = !ec; });
  }
};

TEST_F(Channel, SenderRejectsImpossibleResumeAndBadAcks) {
  FakeBackup fake(io);
  fake.accept();
  tx.emplace(io, sender_config(fake.acceptor.local_endpoint()));
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_EQ(queue(s), s);
  tx->start(clock.now());
  ASSERT_TRUE(pump([&] { return fake.accepted; }));
  RawPeer p(io);
  p.sock = std::move(fake.sock);
  // The backup claims seq 100 although only 5 were logged.
  p.send(p.hello(PeerRole::backup, "prod", 3, 100));
  ASSERT_TRUE(pump([&] { return tx->last_protocol_error() == ProtocolError::resume_ahead; }));
  EXPECT_EQ(tx->last_close_reason(), CloseReason::protocol_error);
  EXPECT_FALSE(tx->connected());

  // Next attempt: a valid HELLO, then an ack for a seq never logged.
  fake.sock = tcp::socket(io);
  fake.accepted = false;
  fake.accept();
  ASSERT_TRUE(pump([&] { return fake.accepted; }));
  RawPeer p2(io);
  p2.sock = std::move(fake.sock);
  Bytes both = p2.hello(PeerRole::backup, "prod", 3, 2);
  ASSERT_TRUE(pump([&] { return tx->stats().connect_attempts >= 2; }));
  p2.send(both);
  ASSERT_TRUE(pump([&] { return tx->connected(); }));
  EXPECT_EQ(tx->acked_seq(), 2u);  // the backup's HELLO acks what it holds
  EXPECT_EQ(tx->unacked_entries(), 3u);
  p2.send(p2.ack(6));
  ASSERT_TRUE(pump([&] { return tx->last_protocol_error() == ProtocolError::ack_beyond_sent; }));
  EXPECT_EQ(tx->stats().protocol_errors[static_cast<std::size_t>(ProtocolError::resume_ahead)], 1u);
  EXPECT_EQ(tx->stats().protocol_errors[static_cast<std::size_t>(ProtocolError::ack_beyond_sent)], 1u);

  // Third attempt: a backup with the wrong cluster is refused by the sender too.
  fake.sock = tcp::socket(io);
  fake.accepted = false;
  fake.accept();
  ASSERT_TRUE(pump([&] { return fake.accepted; }));
  RawPeer p3(io);
  p3.sock = std::move(fake.sock);
  p3.send(p3.hello(PeerRole::backup, "staging", 3, 2));
  ASSERT_TRUE(pump([&] { return tx->last_decode_error() == DecodeError::wrong_cluster; }));
  EXPECT_EQ(tx->last_close_reason(), CloseReason::decode_error);
}

// ---- authenticated channel (log.key_file) --------------------------------------------

const Bytes kKey(32, 0x5a);
const Bytes kOtherKey(32, 0xa5);

std::uint64_t auth_count(const ChannelStats& st, AuthFailure f) {
  return st.auth_failures[static_cast<std::size_t>(f)];
}
std::uint64_t auth_total(const ChannelStats& st) {
  std::uint64_t n = 0;
  for (auto v : st.auth_failures) n += v;
  return n;
}

struct KeyedChannel : Channel {
  void start_keyed_pair(const Bytes& rx_key, const Bytes& tx_key) {
    ReceiverConfig rc = receiver_config();
    rc.psk = rx_key;
    start_receiver(rc);
    SenderConfig sc = sender_config(rx->local_endpoint());
    sc.psk = tx_key;
    tx.emplace(io, sc);
    tx->start(clock.now());
  }

  // Reads from `sock` until a whole HELLO arrived; returns its payload (copied).
  std::optional<Bytes> read_hello(tcp::socket& sock) {
    LogDecoder dec;
    Bytes buf(4096);
    for (int tries = 0; tries < 50; ++tries) {
      std::size_t got = 0;
      bool done = false;
      boost::system::error_code err;
      sock.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t n) {
        err = ec;
        got = n;
        done = true;
      });
      if (!pump([&] { return done; }) || err) return std::nullopt;
      dec.feed(std::span<const std::uint8_t>(buf.data(), got));
      Record r;
      const auto st = dec.next(r);
      if (st == DecodeStatus::record && r.type == RecordType::hello)
        return Bytes(r.payload.begin(), r.payload.end());
      if (st != DecodeStatus::need_more) return std::nullopt;
    }
    return std::nullopt;
  }

  // A primary speaking the keyed handshake by hand, so a test can tamper with what
  // follows. `sent` collects every byte written (to replay them). To the pair's backup
  // unless `to` names another receiver.
  bool raw_handshake(RawPeer& p, const Bytes& key, RecordMac& tx_mac, Bytes& sent,
                     std::optional<tcp::endpoint> to = std::nullopt, const std::string& node = "raw") {
    p.connect(to ? *to : rx->local_endpoint());
    std::array<std::uint8_t, kNonceSize> nonce{};
    if (!fill_random(nonce)) return false;
    Hello h;
    h.role = PeerRole::primary;
    h.cluster = "prod";
    h.epoch = 3;
    h.node = node;
    h.auth = AuthMode::psk;
    h.nonce = nonce;
    Bytes hello(hello_record_size(h));
    encode_hello(hello, h);
    p.send(hello);
    sent.insert(sent.end(), hello.begin(), hello.end());
    const auto hb = read_hello(p.sock);
    if (!hb) return false;
    SessionSecrets sec;
    derive_session(key, std::span<const std::uint8_t>(hello).subspan(kHeaderSize),
                   std::span<const std::uint8_t>(*hb).first(hb->size() - kProofSize), sec);
    Bytes auth(kAuthRecordSize);
    encode_auth(auth, sec.primary_proof);
    p.send(auth);
    sent.insert(sent.end(), auth.begin(), auth.end());
    tx_mac.start(sec.primary_to_backup);
    return true;
  }

  Bytes sealed_entry(RawPeer& p, RecordMac& mac, std::uint64_t seq) {
    Bytes e = p.entry(seq);
    Bytes tag(kTagSize);
    mac.seal(e, tag);
    e.insert(e.end(), tag.begin(), tag.end());
    return e;
  }
};

TEST_F(KeyedChannel, SameKeyReplicatesAcrossAReconnectWithResend) {
  start_keyed_pair(kKey, kKey);
  ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
  constexpr std::uint64_t kTotal = 4000;
  std::uint64_t next = 1;
  bool dropped = false;
  ASSERT_TRUE(pump([&] {
    for (int i = 0; i < 50 && next <= kTotal; ++i) {
      if (queue(next) != next) break;
      ++next;
    }
    if (!dropped && delivered.size() >= 1500) {
      rx->drop_connection();
      dropped = true;
    }
    return next > kTotal && tx->acked_seq() == kTotal;
  }));
  ASSERT_TRUE(dropped);
  EXPECT_TRUE(delivered_in_order(kTotal));
  EXPECT_TRUE(data_ok);
  EXPECT_EQ(tx->stats().reconnects, 1u);
  EXPECT_EQ(tx->stats().authenticated, 2u);
  EXPECT_EQ(rx->stats().authenticated, 2u);
  EXPECT_EQ(tx->stats().entries_sent - tx->stats().entries_resent, kTotal);
  EXPECT_EQ(auth_total(tx->stats()), 0u);
  EXPECT_EQ(auth_total(rx->stats()), 0u);
  // Heartbeats and acks flow tagged both ways.
  const auto hb_tx = tx->stats().heartbeats_received;
  clock.advance(milliseconds(20));
  ASSERT_TRUE(pump([&] { return tx->stats().heartbeats_received > hb_tx; }));
}

TEST_F(KeyedChannel, WrongKeyIsRefusedAndCountedOnBothSides) {
  start_keyed_pair(kKey, kOtherKey);
  for (std::uint64_t s = 1; s <= 5; ++s) ASSERT_EQ(queue(s), s);
  ASSERT_TRUE(pump([&] {
    return auth_count(tx->stats(), AuthFailure::bad_proof) >= 2 &&
           auth_count(rx->stats(), AuthFailure::no_answer) >= 2;
  }));
  EXPECT_EQ(tx->last_auth_failure(), AuthFailure::bad_proof);
  EXPECT_EQ(tx->last_close_reason(), CloseReason::auth_failed);
  EXPECT_EQ(rx->last_auth_failure(), AuthFailure::no_answer);
  EXPECT_FALSE(tx->connected());
  EXPECT_FALSE(rx->connected());
  EXPECT_EQ(rx->stats().connects, 0u);
  EXPECT_EQ(tx->stats().connects, 0u);
  EXPECT_TRUE(delivered.empty());
  EXPECT_GE(rx->stats().refused_hellos, 2u);
}

TEST_F(KeyedChannel, KeyOnOneSideOnlyIsRefusedWithTheReasonOnBothSides) {
  start_keyed_pair(kKey, {});  // backup has a key, primary none
  ASSERT_TRUE(pump([&] {
    return auth_count(tx->stats(), AuthFailure::peer_with_key) >= 1 &&
           auth_count(rx->stats(), AuthFailure::peer_without_key) >= 1;
  }));
  EXPECT_EQ(tx->last_close_reason(), CloseReason::auth_failed);
  EXPECT_EQ(rx->stats().connects, 0u);
  tx.reset();
  rx.reset();

  start_keyed_pair({}, kKey);  // primary has a key, backup none
  ASSERT_TRUE(pump([&] {
    return auth_count(tx->stats(), AuthFailure::peer_without_key) >= 1 &&
           auth_count(rx->stats(), AuthFailure::peer_with_key) >= 1;
  }));
  EXPECT_EQ(tx->last_auth_failure(), AuthFailure::peer_without_key);
  EXPECT_EQ(rx->last_auth_failure(), AuthFailure::peer_with_key);
  EXPECT_EQ(rx->stats().connects, 0u);
  EXPECT_EQ(tx->stats().connects, 0u);
}

TEST_F(KeyedChannel, TamperedReplayedReorderedDroppedOrForeignRecordsCloseTheConnection) {
  ReceiverConfig rc = receiver_config();
  rc.psk = kKey;
  start_receiver(rc);
  enum class Mode { tamper, replay, reorder, drop, foreign };
  std::uint64_t failures = 0;
  for (Mode mode : {Mode::tamper, Mode::replay, Mode::reorder, Mode::drop, Mode::foreign}) {
    SCOPED_TRACE(static_cast<int>(mode));
    RawPeer p(io);
    RecordMac mac;
    Bytes sent;
    ASSERT_TRUE(raw_handshake(p, kKey, mac, sent));
    ASSERT_TRUE(pump([&] { return rx->connected() && rx->stats().authenticated == failures + 1; }));
    const std::uint64_t base = rx->last_delivered_seq();
    Bytes e1 = sealed_entry(p, mac, base + 1);
    Bytes e2 = sealed_entry(p, mac, base + 2);
    Bytes stream;
    const auto add = [&](const Bytes& b) { stream.insert(stream.end(), b.begin(), b.end()); };
    std::uint64_t expect_delivered = base + 1;
    switch (mode) {
      case Mode::tamper:
        e2[kHeaderSize + kEntryFixedSize + 3] ^= 0x01;  // one data byte
        add(e1);
        add(e2);
        break;
      case Mode::replay:
        add(e1);
        add(e1);
        break;
      case Mode::reorder:
        add(e2);
        add(e1);
        expect_delivered = base;
        break;
      case Mode::drop:
        add(e2);
        expect_delivered = base;
        break;
      case Mode::foreign: {
        // A record sealed for another connection with the same key.
        RawPeer other(io);
        RecordMac other_mac;
        Bytes other_sent;
        ASSERT_TRUE(raw_handshake(other, kKey, other_mac, other_sent));
        ASSERT_TRUE(pump([&] { return rx->stats().authenticated == failures + 2; }));
        // The second connection replaced the first; it gets a record tagged for the first.
        p.sock = std::move(other.sock);
        add(sealed_entry(p, mac, base + 1));
        expect_delivered = base;
        break;
      }
    }
    p.send(stream);
    ++failures;
    ASSERT_TRUE(pump([&] { return auth_count(rx->stats(), AuthFailure::bad_record_mac) == failures; }));
    EXPECT_FALSE(rx->connected());
    EXPECT_EQ(rx->last_close_reason(), CloseReason::auth_failed);
    EXPECT_EQ(rx->last_auth_failure(), AuthFailure::bad_record_mac);
    EXPECT_EQ(rx->stats().decode_errors[static_cast<std::size_t>(DecodeError::bad_mac)], failures);
    EXPECT_EQ(rx->last_delivered_seq(), expect_delivered);
  }
}

TEST_F(KeyedChannel, RecordsBeforeTheProofAreRefusedAndASilentChallengedPeerIsCounted) {
  ReceiverConfig rc = receiver_config();
  rc.psk = kKey;
  start_receiver(rc);
  // HELLO with a key, then an ENTRY instead of AUTH.
  RawPeer p(io);
  p.connect(rx->local_endpoint());
  std::array<std::uint8_t, kNonceSize> nonce{};
  ASSERT_TRUE(fill_random(nonce));
  Hello h;
  h.role = PeerRole::primary;
  h.cluster = "prod";
  h.epoch = 3;
  h.auth = AuthMode::psk;
  h.nonce = nonce;
  Bytes hello(hello_record_size(h));
  encode_hello(hello, h);
  p.send(hello);
  ASSERT_TRUE(read_hello(p.sock));
  p.send(p.entry(1));
  ASSERT_TRUE(pump([&] { return auth_count(rx->stats(), AuthFailure::missing_proof) == 1; }));
  EXPECT_TRUE(delivered.empty());
  EXPECT_EQ(rx->stats().connects, 0u);
  // HELLO with a key, then silence: after hello_timeout it counts as no_answer.
  RawPeer q(io);
  q.connect(rx->local_endpoint());
  q.send(hello);
  ASSERT_TRUE(read_hello(q.sock));
  clock.advance(milliseconds(500));
  ASSERT_TRUE(pump([&] { return auth_count(rx->stats(), AuthFailure::no_answer) == 1; }));
  EXPECT_EQ(rx->stats().hello_timeouts, 1u);
  EXPECT_EQ(rx->stats().refused_hellos, 2u);
  EXPECT_EQ(rx->stats().connects, 0u);
}

TEST_F(KeyedChannel, PairKeepsReplicatingWhileNoKeyWrongKeyAndReplayAreRefused) {
  start_keyed_pair(kKey, kKey);
  ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
  std::uint64_t next = 1;
  for (; next <= 100; ++next) ASSERT_EQ(queue(next), next);
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == 100; }));

  // A legitimate-looking session captured against another backup with the same key:
  // its bytes (HELLO, AUTH, tagged entries) are then replayed to the pair's backup.
  Bytes captured;
  {
    LogReceiver other_rx(
        io,
        [] {
          ReceiverConfig c;
          c.cluster = "prod";
          c.epoch = 3;
          c.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
          c.psk = kKey;
          return c;
        }(),
        [](const EntryView&) { return true; });
    std::string err;
    ASSERT_TRUE(other_rx.listen(err)) << err;
    RawPeer p(io);
    RecordMac mac;
    ASSERT_TRUE(raw_handshake(p, kKey, mac, captured, other_rx.local_endpoint(), "captured"));
    Bytes entries;
    for (std::uint64_t s = 1; s <= 3; ++s) {
      const Bytes e = sealed_entry(p, mac, s);
      entries.insert(entries.end(), e.begin(), e.end());
    }
    p.send(entries);
    captured.insert(captured.end(), entries.begin(), entries.end());
    ASSERT_TRUE(pump([&] { return other_rx.last_delivered_seq() == 3; }));  // it was valid there
  }

  SenderConfig intruder = sender_config(rx->local_endpoint());
  intruder.node_name = "no-key";
  LogSender no_key(io, intruder);
  intruder.node_name = "wrong-key";
  intruder.psk = kOtherKey;
  LogSender wrong_key(io, intruder);
  no_key.start(clock.now());
  wrong_key.start(clock.now());
  RawPeer replay(io);
  replay.connect(rx->local_endpoint());
  replay.send(captured);

  ASSERT_TRUE(pump([&] {
    no_key.tick(clock.now());
    wrong_key.tick(clock.now());
    for (int i = 0; i < 10; ++i, ++next) EXPECT_EQ(queue(next), next);
    const auto& st = rx->stats();
    return auth_count(st, AuthFailure::peer_without_key) >= 1 &&
           auth_count(st, AuthFailure::no_answer) >= 1 && auth_count(st, AuthFailure::bad_proof) >= 1;
  }));
  EXPECT_GE(auth_count(no_key.stats(), AuthFailure::peer_with_key), 1u);
  EXPECT_GE(auth_count(wrong_key.stats(), AuthFailure::bad_proof), 1u);
  EXPECT_FALSE(no_key.connected());
  EXPECT_FALSE(wrong_key.connected());
  no_key.stop();
  wrong_key.stop();
  const std::uint64_t last = next - 1;
  ASSERT_TRUE(pump([&] { return tx->acked_seq() == last; }));
  EXPECT_TRUE(delivered_in_order(last));
  EXPECT_TRUE(data_ok);
  EXPECT_EQ(tx->stats().disconnects, 0u);
  EXPECT_EQ(rx->stats().disconnects, 0u);
  EXPECT_EQ(rx->peer_node(), "primary-1");
  EXPECT_EQ(auth_total(tx->stats()), 0u);
}
}  // namespace
}  // namespace ftproxy::replication
