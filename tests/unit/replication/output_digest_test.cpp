#include "ftproxy/replication/output_digest.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ftproxy::replication {
namespace {

using packet::kTcpAck;
using packet::kTcpFin;
using packet::kTcpSyn;

// Server→client key (what a captured output frame carries).
packet::FlowKey s2c(std::uint16_t client_port, std::uint8_t proto = packet::kIpProtoTcp) {
  packet::FlowKey k;
  k.src_ip = packet::IpAddr::v4(0x0A000002);
  k.dst_ip = packet::IpAddr::v4(0x0A000001);
  k.src_port = 6379;
  k.dst_port = client_port;
  k.proto = proto;
  return k;
}

std::vector<std::uint8_t> stream(std::size_t n, std::uint32_t seed = 1) {
  std::vector<std::uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

DigestConfig config() {
  DigestConfig c;
  c.chunk_bytes = 4096;
  c.idle = milliseconds(50);
  c.max_flows = 64;
  c.pending_timeout = seconds(5);
  return c;
}

// One server's TCP output of one flow.
struct TcpSender {
  OutputDigest& d;
  packet::FlowKey key;
  std::uint32_t isn;
  void synack(MonoTime now) { d.on_tcp(key, isn, kTcpSyn | kTcpAck, {}, now); }
  // Sends bytes [from, from+len) of `data` as one segment.
  void seg(const std::vector<std::uint8_t>& data, std::size_t from, std::size_t len, MonoTime now,
           std::uint8_t flags = kTcpAck) {
    d.on_tcp(key, isn + 1 + static_cast<std::uint32_t>(from), flags,
             std::span<const std::uint8_t>(data.data() + from, len), now);
  }
  void send_all(const std::vector<std::uint8_t>& data, std::size_t mss, MonoTime now) {
    for (std::size_t off = 0; off < data.size(); off += mss)
      seg(data, off, std::min(mss, data.size() - off), now);
  }
  void fin(std::size_t at, MonoTime now) {
    d.on_tcp(key, isn + 1 + static_cast<std::uint32_t>(at), kTcpFin | kTcpAck, {}, now);
  }
};

// Moves every checkpoint the primary has ready to the backup through the wire format.
void ship(OutputDigest& primary, OutputDigest& backup, MonoTime now) {
  std::array<std::uint8_t, 16 * 1024> buf{};
  while (primary.ready() > 0) {
    std::size_t taken = 0;
    const std::size_t n = primary.encode_batch(buf, taken);
    ASSERT_GT(n, 0u);
    ASSERT_TRUE(backup.on_peer_entry(std::span<const std::uint8_t>(buf.data(), n), now));
    primary.commit_batch(taken);
  }
}

struct Pair {
  ManualClock clock;
  OutputDigest p{config(), OutputDigest::Mode::emit};
  OutputDigest b{config(), OutputDigest::Mode::compare};
  void idle() {
    clock.advance(milliseconds(60));
    p.tick(clock.now());
    b.tick(clock.now());
  }
  void ship_now() { ship(p, b, clock.now()); }
};

// The running hash is XXH64 with seed 0 whatever the pieces: cut anywhere, read
// mid-stream, it equals the one-shot hash of the concatenation.
TEST(StreamHashTest, IsXxh64OfTheConcatenationHoweverCut) {
  StreamHash h;
  EXPECT_EQ(h.value(), 0xef46db3751d8e999ull);  // XXH64 of no bytes, seed 0
  std::vector<std::uint8_t> bytes(5000);
  std::mt19937 rng(7);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  const std::uint64_t whole = StreamHash::of(bytes);
  for (int trial = 0; trial < 20; ++trial) {
    StreamHash s;
    std::size_t off = 0;
    while (off < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(bytes.size() - off, rng() % 100);
      s.update(std::span<const std::uint8_t>(bytes).subspan(off, n));
      off += n;
      if (trial == 0) {  // read mid-stream: the hash so far, and the stream goes on
        EXPECT_EQ(s.value(), StreamHash::of(std::span<const std::uint8_t>(bytes).first(off)));
      }
    }
    EXPECT_EQ(s.value(), whole);
  }
  bytes[4321] ^= 1;
  EXPECT_NE(StreamHash::of(bytes), whole);
  h.update(bytes);
  h.reset();
  EXPECT_EQ(h.value(), 0xef46db3751d8e999ull);
}

TEST(OutputDigest, SameStreamDifferentSegmentationIsEqual) {
  Pair t;
  const auto data = stream(10000);
  TcpSender ps{t.p, s2c(40000), 1000};
  TcpSender bs{t.b, s2c(40000), 777777};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  // The backup's server cuts the same bytes at other places.
  std::mt19937 rng(7);
  for (std::size_t off = 0; off < data.size();) {
    const std::size_t len = std::min<std::size_t>(1 + rng() % 3000, data.size() - off);
    bs.seg(data, off, len, t.clock.now());
    off += len;
  }
  EXPECT_EQ(t.p.ready(), 2u);  // [0,4096) [4096,8192)
  t.ship_now();
  t.idle();  // primary: idle [8192,10000)
  EXPECT_EQ(t.p.ready(), 1u);
  EXPECT_EQ(t.p.peek().kind, CheckpointKind::idle);
  EXPECT_EQ(t.p.peek().start, 8192u);
  EXPECT_EQ(t.p.peek().end, 10000u);
  t.ship_now();
  ps.fin(data.size(), t.clock.now());
  bs.fin(data.size(), t.clock.now());
  t.ship_now();
  const auto& c = t.b.counters();
  EXPECT_EQ(c.checked, 4u);  // two chunks, the idle position, the end
  EXPECT_EQ(c.mismatches, 0u);
  EXPECT_EQ(c.flows_diverged, 0u);
  EXPECT_EQ(c.uncomparable, 0u);
}

TEST(OutputDigest, BackupAheadStillPairsChunks) {
  Pair t;
  const auto data = stream(9000);
  TcpSender ps{t.p, s2c(40001), 5};
  TcpSender bs{t.b, s2c(40001), 99};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  bs.send_all(data, 500, t.clock.now());  // the backup's server is first this time
  bs.fin(data.size(), t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  ps.fin(data.size(), t.clock.now());
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 3u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
  EXPECT_EQ(t.b.counters().uncomparable, 0u);
  t.idle();
  EXPECT_EQ(t.b.counters().flows, 0u);  // both ends paired: the flow is forgotten
}

TEST(OutputDigest, OneChangedByteIsReportedAtItsRange) {
  Pair t;
  const auto data = stream(12288);
  auto changed = data;
  changed[5000] ^= 0x01;
  TcpSender ps{t.p, s2c(40002), 1};
  TcpSender bs{t.b, s2c(40002), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  t.ship_now();
  bs.send_all(changed, 1000, t.clock.now());
  const auto& c = t.b.counters();
  EXPECT_EQ(c.checked, 3u);
  EXPECT_EQ(c.mismatches, 1u);
  EXPECT_EQ(c.flows_diverged, 1u);
  Divergence d;
  ASSERT_TRUE(t.b.pop_divergence(d));
  EXPECT_EQ(d.start, 4096u);
  EXPECT_EQ(d.end, 8192u);
  EXPECT_STREQ(d.reason, "hash");
  EXPECT_EQ(d.key, s2c(40002).reversed());
  EXPECT_FALSE(t.b.pop_divergence(d));
}

TEST(OutputDigest, RetransmissionsAreIgnored) {
  Pair t;
  const auto data = stream(8192);
  TcpSender ps{t.p, s2c(40003), 10};
  TcpSender bs{t.b, s2c(40003), 20};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  // The backup's server retransmits whole and partly overlapping segments.
  bs.seg(data, 0, 1000, t.clock.now());
  bs.seg(data, 0, 1000, t.clock.now());    // full duplicate
  bs.seg(data, 500, 1500, t.clock.now());  // overlaps [500,1000)
  bs.seg(data, 2000, 3000, t.clock.now());
  bs.seg(data, 1000, 1000, t.clock.now());  // old data again
  bs.seg(data, 4500, 3692, t.clock.now());
  bs.synack(t.clock.now());  // a retransmitted SYN-ACK does not restart the stream
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 2u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
  EXPECT_EQ(t.b.counters().gaps, 0u);
}

TEST(OutputDigest, SequenceWrapAround) {
  Pair t;
  const auto data = stream(10000);
  TcpSender ps{t.p, s2c(40004), 0xFFFFF000u};  // wraps inside the first chunk
  TcpSender bs{t.b, s2c(40004), 0xFFFFFFFFu};  // first data byte at seq 0
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  bs.send_all(data, 1200, t.clock.now());
  ps.fin(data.size(), t.clock.now());
  bs.fin(data.size(), t.clock.now());
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 3u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
}

TEST(OutputDigest, IdleCheckpointComparedWhereTheBackupStands) {
  Pair t;
  const auto data = stream(300);
  TcpSender ps{t.p, s2c(40005), 1};
  TcpSender bs{t.b, s2c(40005), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  // Response 1 (100 bytes), quiet, response 2 (100 bytes), quiet, response 3.
  ps.seg(data, 0, 100, t.clock.now());
  t.idle();  // idle [0,100)
  ps.seg(data, 100, 100, t.clock.now());
  t.idle();  // idle [0,200)
  ps.seg(data, 200, 100, t.clock.now());
  t.idle();  // idle [0,300)
  ASSERT_EQ(t.p.ready(), 3u);
  // The backup: exactly at 100 when the first arrives (compared at once), behind for
  // the second (waits, compared when its stream crosses 200 inside one segment).
  bs.seg(data, 0, 100, t.clock.now());
  std::array<std::uint8_t, 1024> buf{};
  std::size_t taken = 0;
  // Ship the first checkpoint alone.
  {
    const Checkpoint c = t.p.peek(0);
    t.b.on_peer_checkpoint(c, t.clock.now());
    t.p.commit_batch(1);
  }
  EXPECT_EQ(t.b.counters().checked, 1u);
  {
    const Checkpoint c = t.p.peek(0);
    t.b.on_peer_checkpoint(c, t.clock.now());
    t.p.commit_batch(1);
  }
  EXPECT_EQ(t.b.counters().checked, 1u);  // pending: the backup is at 100
  bs.seg(data, 100, 150, t.clock.now());  // crosses 200
  EXPECT_EQ(t.b.counters().checked, 2u);
  // The third arrives after the backup passed 300 inside one segment (no hash there).
  std::vector<std::uint8_t> tail(data.begin() + 250, data.end());
  const auto more = stream(10, 99);
  tail.insert(tail.end(), more.begin(), more.end());
  t.b.on_tcp(s2c(40005), 2 + 1 + 250, kTcpAck, tail, t.clock.now());
  const std::size_t n = t.p.encode_batch(buf, taken);
  ASSERT_TRUE(t.b.on_peer_entry(std::span<const std::uint8_t>(buf.data(), n), t.clock.now()));
  EXPECT_EQ(t.b.counters().checked, 2u);
  EXPECT_EQ(t.b.counters().uncomparable, 1u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
}

TEST(OutputDigest, BackupAheadComparesIdleAtItsSegmentEnds) {
  Pair t;
  const auto data = stream(300);
  TcpSender ps{t.p, s2c(40007), 1};
  TcpSender bs{t.b, s2c(40007), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.seg(data, 0, 120, t.clock.now());
  t.idle();  // idle [0,120)
  // The backup's server already answered the next request too before the primary's
  // idle checkpoint arrives; its reply ended at 120 (a segment end).
  bs.seg(data, 0, 60, t.clock.now());
  bs.seg(data, 60, 60, t.clock.now());
  bs.seg(data, 120, 100, t.clock.now());
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 1u);
  EXPECT_EQ(t.b.counters().uncomparable, 0u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
}

TEST(OutputDigest, NondeterministicRepliesDivergeOnceReportedOnce) {
  Pair t;
  TcpSender ps{t.p, s2c(40006), 1};
  TcpSender bs{t.b, s2c(40006), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  std::size_t at = 0;
  for (int i = 0; i < 5; ++i) {
    // A server replying with its clock: same length, other digits.
    const std::string a = std::to_string(1733230000000000000ull + i * 1000) + "\n";
    const std::string b = std::to_string(1733230000000000000ull + i * 1000 + 37) + "\n";
    const std::vector<std::uint8_t> va(a.begin(), a.end()), vb(b.begin(), b.end());
    t.p.on_tcp(ps.key, ps.isn + 1 + static_cast<std::uint32_t>(at), kTcpAck, va, t.clock.now());
    t.b.on_tcp(bs.key, bs.isn + 1 + static_cast<std::uint32_t>(at), kTcpAck, vb, t.clock.now());
    at += a.size();
    t.idle();
    t.ship_now();
  }
  const auto& c = t.b.counters();
  EXPECT_EQ(c.checked, 5u);
  EXPECT_EQ(c.mismatches, 5u);
  EXPECT_EQ(c.flows_diverged, 1u);
  Divergence d;
  ASSERT_TRUE(t.b.pop_divergence(d));
  EXPECT_EQ(d.kind, CheckpointKind::idle);
  EXPECT_EQ(d.start, 0u);
  EXPECT_EQ(d.end, 20u);
  EXPECT_FALSE(t.b.pop_divergence(d));  // one report per flow
}

TEST(OutputDigest, UdpDatagrams) {
  Pair t;
  const auto k = s2c(5353, packet::kIpProtoUdp);
  const std::string r1 = "reply one", r2 = "reply two, longer";
  const std::vector<std::uint8_t> d1(r1.begin(), r1.end()), d2(r2.begin(), r2.end());
  t.p.on_udp(k, d1, t.clock.now());
  t.p.on_udp(k, d2, t.clock.now());
  t.b.on_udp(k, d1, t.clock.now());
  t.b.on_udp(k, d2, t.clock.now());
  t.idle();
  ASSERT_EQ(t.p.ready(), 1u);
  EXPECT_EQ(t.p.peek().end, 2u + d1.size() + 2u + d2.size());  // length-framed datagrams
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 1u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);

  // Another flow whose datagrams carry the same bytes cut differently: framing differs.
  const auto k2 = s2c(5354, packet::kIpProtoUdp);
  std::vector<std::uint8_t> both = d1;
  both.insert(both.end(), d2.begin(), d2.end());
  t.p.on_udp(k2, d1, t.clock.now());
  t.p.on_udp(k2, d2, t.clock.now());
  t.b.on_udp(k2, both, t.clock.now());
  t.b.on_udp(k2, {}, t.clock.now());  // an empty datagram keeps the lengths equal
  t.idle();
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 2u);
  EXPECT_EQ(t.b.counters().mismatches, 1u);
  EXPECT_EQ(t.b.counters().flows_diverged, 1u);

  // Replies of other lengths (a random number), the backup ahead of the primary's idle
  // position: no datagram of ours ends there, so the datagrams differ.
  const auto k3 = s2c(5355, packet::kIpProtoUdp);
  const std::string a = "12345", b = "1234567";
  const std::vector<std::uint8_t> va(a.begin(), a.end()), vb(b.begin(), b.end());
  for (int i = 0; i < 3; ++i) t.p.on_udp(k3, va, t.clock.now());
  t.idle();                                                       // idle at 3 * 7 = 21
  for (int i = 0; i < 4; ++i) t.b.on_udp(k3, vb, t.clock.now());  // ends at 9, 18, 27, 36
  t.ship_now();
  EXPECT_EQ(t.b.counters().mismatches, 2u);
  EXPECT_EQ(t.b.counters().flows_diverged, 2u);
  Divergence d;
  ASSERT_TRUE(t.b.pop_divergence(d));  // the first flow's
  ASSERT_TRUE(t.b.pop_divergence(d));
  EXPECT_STREQ(d.reason, "datagrams");
  EXPECT_EQ(d.end, 21u);
}

TEST(OutputDigest, StreamLengthDifferences) {
  Pair t;
  const auto data = stream(1000);
  // Backup shorter: its FIN comes at 600, the primary's at 1000.
  TcpSender ps{t.p, s2c(40010), 1};
  TcpSender bs{t.b, s2c(40010), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  ps.fin(1000, t.clock.now());
  t.ship_now();
  bs.send_all(std::vector<std::uint8_t>(data.begin(), data.begin() + 600), 1448, t.clock.now());
  bs.fin(600, t.clock.now());
  EXPECT_EQ(t.b.counters().mismatches, 1u);
  Divergence d;
  ASSERT_TRUE(t.b.pop_divergence(d));
  EXPECT_STREQ(d.reason, "backup_shorter");

  // Backup longer: the primary ended at 600, the backup sends on.
  TcpSender ps2{t.p, s2c(40011), 1};
  TcpSender bs2{t.b, s2c(40011), 2};
  ps2.synack(t.clock.now());
  bs2.synack(t.clock.now());
  ps2.send_all(std::vector<std::uint8_t>(data.begin(), data.begin() + 600), 1448, t.clock.now());
  ps2.fin(600, t.clock.now());
  t.ship_now();
  bs2.send_all(data, 700, t.clock.now());
  EXPECT_EQ(t.b.counters().mismatches, 2u);
  ASSERT_TRUE(t.b.pop_divergence(d));
  EXPECT_STREQ(d.reason, "backup_longer");
  EXPECT_EQ(t.b.counters().flows_diverged, 2u);
}

TEST(OutputDigest, PendingTimesOutAsShorter) {
  Pair t;
  const auto data = stream(500);
  TcpSender ps{t.p, s2c(40012), 1};
  TcpSender bs{t.b, s2c(40012), 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  t.idle();
  t.ship_now();
  bs.seg(data, 0, 200, t.clock.now());     // the backup's server stops short
  for (int i = 0; i < 100; ++i) t.idle();  // 6 s
  EXPECT_EQ(t.b.counters().mismatches, 1u);
  EXPECT_EQ(t.b.counters().checked, 1u);
}

TEST(OutputDigest, PeerCheckpointBeforeTheBackupSynAck) {
  Pair t;
  const auto data = stream(5000);
  TcpSender ps{t.p, s2c(40013), 1};
  TcpSender bs{t.b, s2c(40013), 2};
  ps.synack(t.clock.now());
  ps.send_all(data, 1448, t.clock.now());
  t.ship_now();  // arrives before the backup's server even answered the SYN
  bs.synack(t.clock.now());
  bs.send_all(data, 1000, t.clock.now());
  EXPECT_EQ(t.b.counters().checked, 1u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
  EXPECT_EQ(t.b.counters().untracked, 0u);
}

TEST(OutputDigest, GapStopsTheFlow) {
  Pair t;
  const auto data = stream(9000);
  TcpSender ps{t.p, s2c(40014), 1};
  ps.synack(t.clock.now());
  ps.seg(data, 0, 1000, t.clock.now());
  ps.seg(data, 2000, 1000, t.clock.now());  // [1000,2000) never captured
  ps.seg(data, 3000, 6000, t.clock.now());
  EXPECT_EQ(t.p.counters().gaps, 1u);
  EXPECT_EQ(t.p.ready(), 0u);
  t.idle();
  EXPECT_EQ(t.p.ready(), 0u);
  // Segments of a flow whose SYN-ACK was never seen are counted, not digested.
  t.p.on_tcp(s2c(40015), 12345, kTcpAck, data, t.clock.now());
  EXPECT_EQ(t.p.counters().untracked, 1u);
}

TEST(OutputDigest, BoundedTablesCountOverflow) {
  ManualClock clock;
  DigestConfig c = config();
  c.max_flows = 2;
  OutputDigest b(c, OutputDigest::Mode::compare);
  const auto data = stream(10);
  b.on_udp(s2c(1, packet::kIpProtoUdp), data, clock.now());
  b.on_udp(s2c(2, packet::kIpProtoUdp), data, clock.now());
  b.on_udp(s2c(3, packet::kIpProtoUdp), data, clock.now());  // both others active: refused
  EXPECT_EQ(b.counters().flows_refused, 1u);
  EXPECT_EQ(b.counters().flows, 2u);
  clock.advance(milliseconds(60));
  b.tick(clock.now());  // both quiet now: evictable
  b.on_udp(s2c(3, packet::kIpProtoUdp), data, clock.now());
  EXPECT_EQ(b.counters().flows_evicted, 1u);
  EXPECT_EQ(b.counters().flows, 2u);

  // Per-flow pending slots are bounded: idle checkpoints far ahead of a flow that has
  // not started on the backup overflow, counted.
  OutputDigest b2(config(), OutputDigest::Mode::compare);
  for (std::uint64_t i = 1; i <= 12; ++i) {
    Checkpoint cp;
    cp.key = s2c(40020).reversed();
    cp.start = 0;
    cp.end = i * 10;
    cp.kind = CheckpointKind::idle;
    b2.on_peer_checkpoint(cp, clock.now());
  }
  EXPECT_EQ(b2.counters().overflow, 4u);
  EXPECT_EQ(b2.counters().uncomparable, 4u);
  // The rest become uncomparable when they time out on a flow that never started.
  for (int i = 0; i < 120; ++i) {
    clock.advance(milliseconds(60));
    b2.tick(clock.now());
  }
  EXPECT_EQ(b2.counters().uncomparable, 12u);
  EXPECT_EQ(b2.counters().mismatches, 0u);

  // The backup's own checkpoints kept while it runs ahead are bounded: its server sent
  // 20 chunks before the first of the primary's digests arrived.
  {
    Pair t;
    const auto big = stream(20 * 4096);
    TcpSender ps{t.p, s2c(40021), 1};
    TcpSender bs{t.b, s2c(40021), 2};
    ps.synack(t.clock.now());
    bs.synack(t.clock.now());
    bs.send_all(big, 1448, t.clock.now());
    ps.send_all(big, 1448, t.clock.now());
    t.ship_now();
    EXPECT_EQ(t.b.counters().overflow, 4u);
    EXPECT_EQ(t.b.counters().uncomparable, 4u);  // counted once, when the pair arrives
    EXPECT_EQ(t.b.counters().checked, 16u);
    EXPECT_EQ(t.b.counters().mismatches, 0u);
  }

  // The primary's outbox is bounded too.
  c.outbox = 2;
  c.chunk_bytes = 16;
  OutputDigest p(c, OutputDigest::Mode::emit);
  p.on_udp(s2c(9, packet::kIpProtoUdp), stream(100), clock.now());  // 102 bytes: 6 chunks
  EXPECT_EQ(p.ready(), 2u);
  EXPECT_EQ(p.counters().outbox_dropped, 4u);
}

TEST(OutputDigest, WireFormatIsChecked) {
  ManualClock clock;
  OutputDigest b(config(), OutputDigest::Mode::compare);
  const std::array<std::uint8_t, 3> short_entry{1, 1, 0};
  EXPECT_FALSE(b.on_peer_entry(short_entry, clock.now()));
  // A whole record with a bad family.
  OutputDigest p(config(), OutputDigest::Mode::emit);
  p.on_udp(s2c(7, packet::kIpProtoUdp), stream(5000), clock.now());
  std::array<std::uint8_t, 4096> buf{};
  std::size_t taken = 0;
  std::size_t n = p.encode_batch(buf, taken);
  ASSERT_EQ(taken, 1u);
  ASSERT_EQ(n, kDigestHeaderSize + kDigestRecordV4);
  auto bad = buf;
  bad[kDigestHeaderSize + 1] = 5;
  EXPECT_FALSE(b.on_peer_entry(std::span<const std::uint8_t>(bad.data(), n), clock.now()));
  EXPECT_FALSE(b.on_peer_entry(std::span<const std::uint8_t>(buf.data(), n - 1), clock.now()));
  EXPECT_EQ(b.counters().bad_entries, 3u);
  EXPECT_EQ(b.counters().peer_checkpoints, 0u);
  // Another chunk size: not pairable, counted.
  DigestConfig other = config();
  other.chunk_bytes = 1024;
  OutputDigest b3(other, OutputDigest::Mode::compare);
  EXPECT_TRUE(b3.on_peer_entry(std::span<const std::uint8_t>(buf.data(), n), clock.now()));
  EXPECT_EQ(b3.counters().chunk_mismatch, 1u);
  EXPECT_EQ(b3.counters().uncomparable, 1u);
  // The good one decodes into the same checkpoint.
  EXPECT_TRUE(b.on_peer_entry(std::span<const std::uint8_t>(buf.data(), n), clock.now()));
  EXPECT_EQ(b.counters().peer_checkpoints, 1u);
}

TEST(OutputDigest, Ipv6KeysRoundTrip) {
  Pair t;
  packet::FlowKey k;
  std::array<std::uint8_t, 16> a{}, c{};
  a[0] = 0x20;
  a[15] = 2;
  c[0] = 0x20;
  c[15] = 1;
  k.src_ip = packet::IpAddr::from_v6_bytes(a.data());
  k.dst_ip = packet::IpAddr::from_v6_bytes(c.data());
  k.src_port = 80;
  k.dst_port = 50000;
  k.proto = packet::kIpProtoTcp;
  k.vlan = 42;
  const auto data = stream(4096);
  TcpSender ps{t.p, k, 1};
  TcpSender bs{t.b, k, 2};
  ps.synack(t.clock.now());
  bs.synack(t.clock.now());
  ps.send_all(data, 1400, t.clock.now());
  bs.send_all(data, 1000, t.clock.now());
  t.ship_now();
  EXPECT_EQ(t.b.counters().checked, 1u);
  EXPECT_EQ(t.b.counters().mismatches, 0u);
  EXPECT_EQ(t.b.counters().uncomparable, 0u);
}

}  // namespace
}  // namespace ftproxy::replication
