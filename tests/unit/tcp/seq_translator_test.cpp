#include "ftproxy/tcp/seq_translator.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "ftproxy/packet/builder.hpp"
#include "ftproxy/packet/checksum.hpp"
#include "tcp_frame_builder.hpp"

namespace ftproxy::tcp {
namespace {

using test::build_tcp;
using test::TcpSpec;
using Frame = std::vector<std::uint8_t>;
using TsPair = std::pair<std::uint32_t, std::uint32_t>;

constexpr std::uint8_t kSyn = packet::kTcpSyn, kAck = packet::kTcpAck, kFin = packet::kTcpFin,
                       kRst = packet::kTcpRst, kPsh = packet::kTcpPsh;

packet::ParsedFrame parse(const Frame& f) {
  packet::ParsedFrame p;
  EXPECT_EQ(packet::parse_frame(f, p), packet::ParseStatus::ok);
  return p;
}

bool checksum_ok(const Frame& f) {
  return packet::l4_checksum_ok(f, parse(f));
}

Frame payload(std::size_t n, std::uint8_t seed = 1) {
  Frame p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(seed + i * 7);
  return p;
}

struct Handshake {
  std::uint32_t client_isn = 0x11111111;
  std::uint32_t primary_isn = 1000;
  std::uint32_t backup_isn = 5000;
  std::optional<std::uint32_t> primary_ts = 100;
  std::optional<std::uint32_t> backup_ts = 700;
  std::uint8_t primary_wscale = 7, backup_wscale = 7;
  std::uint16_t primary_mss = 1460, backup_mss = 1460;
};

class SeqTranslatorTest : public ::testing::Test {
 protected:
  static TranslatorLimits default_limits() {
    TranslatorLimits l;
    l.flows.max_flows = 256;
    l.queue_frames_per_flow = 8;
    l.queue_pool_frames = 64;
    l.queue_slot_bytes = 2048;
    l.hold_timeout = milliseconds(2000);
    l.wait_timeout = milliseconds(2000);
    return l;
  }
  void SetUp() override { tr = std::make_unique<SeqTranslator>(default_limits()); }
  void reset(const TranslatorLimits& l) { tr = std::make_unique<SeqTranslator>(l); }

  InboundDecision in(Frame& f) {
    const auto p = parse(f);
    return tr->translate_in(f, p, clock.now());
  }
  bool server(const Frame& f) {
    const auto p = parse(f);
    return tr->on_server_output(f, p, clock.now());
  }
  OutboundDecision out(Frame& f) {
    const auto p = parse(f);
    tr->on_server_output(f, p, clock.now());
    return tr->translate_out(f, p, clock.now());
  }
  std::vector<Frame> drain() {
    std::vector<Frame> got;
    tr->drain_ready(clock.now(),
                    [&got](std::span<std::uint8_t> fr) { got.emplace_back(fr.begin(), fr.end()); });
    return got;
  }
  static packet::FlowKey key_of(const TcpSpec& c2s) { return packet::flow_key(parse(build_tcp(c2s))); }

  FlowMeta meta_for(const TcpSpec& c2s, const Handshake& h) {
    FlowMeta m;
    m.key = key_of(c2s);
    m.primary_isn = h.primary_isn;
    m.has_ts = h.primary_ts.has_value();
    m.primary_tsval = h.primary_ts.value_or(0);
    m.wscale = h.primary_wscale;
    m.mss = h.primary_mss;
    return m;
  }
  Frame client_syn(const TcpSpec& c2s, const Handshake& h) {
    TcpSpec s = c2s;
    s.flags = kSyn;
    s.seq = h.client_isn;
    s.ack = 0;
    s.mss = 1460;
    s.wscale = 7;
    s.sack_permitted = true;
    if (h.primary_ts) s.ts = TsPair{77, 0};
    s.sack.clear();
    s.payload.clear();
    return build_tcp(s);
  }
  Frame backup_synack(const TcpSpec& c2s, const Handshake& h) {
    TcpSpec s = c2s.reply();
    s.flags = kSyn | kAck;
    s.seq = h.backup_isn;
    s.ack = h.client_isn + 1;
    s.mss = h.backup_mss;
    s.wscale = h.backup_wscale;
    s.sack_permitted = true;
    s.ts.reset();
    if (h.backup_ts) s.ts = TsPair{*h.backup_ts, 77};
    s.sack.clear();
    s.payload.clear();
    return build_tcp(s);
  }
  // Client SYN, FLOW_META and the backup server's SYN-ACK: the deltas become known.
  void handshake(const TcpSpec& c2s, const Handshake& h) {
    Frame syn = client_syn(c2s, h);
    const Frame before = syn;
    ASSERT_EQ(in(syn), InboundDecision::passthrough);
    EXPECT_EQ(syn, before);
    tr->on_flow_meta(meta_for(c2s, h), clock.now());
    server(backup_synack(c2s, h));
  }
  // The backup server sends `n` bytes starting right after its SYN.
  void backup_sends(const TcpSpec& c2s, std::uint32_t seq, std::size_t n, std::uint32_t ack) {
    TcpSpec s = c2s.reply();
    s.flags = kAck | kPsh;
    s.seq = seq;
    s.ack = ack;
    s.ts.reset();
    s.sack.clear();
    s.payload = payload(n);
    server(build_tcp(s));
  }
  // handshake(), 10 bytes from the backup server, then the client's first request (5
  // bytes acking the primary's SYN-ACK only), forwarded: returns that request.
  TcpSpec first_request(const TcpSpec& c, const Handshake& h) {
    handshake(c, h);
    backup_sends(c, h.backup_isn + 1, 10, h.client_isn + 1);
    TcpSpec a = c;
    a.seq = h.client_isn + 1;
    a.ack = h.primary_isn + 1;
    a.payload = payload(5, 1);
    Frame fa = build_tcp(a);
    EXPECT_EQ(in(fa), InboundDecision::forward);
    return a;
  }

  ManualClock clock;
  std::unique_ptr<SeqTranslator> tr;
};

// --- golden translation -------------------------------------------------------------

TEST_F(SeqTranslatorTest, GoldenInboundIpv4TimestampsAndSack) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 100, h.client_isn + 1);

  TcpSpec s = c;
  s.seq = h.client_isn + 1;
  s.ack = h.primary_isn + 1 + 10;
  s.ts = TsPair{55555, 150};
  s.sack = {{1041, 1051}, {1061, 1071}};
  s.payload = payload(33);
  Frame f = build_tcp(s);
  ASSERT_EQ(in(f), InboundDecision::forward);

  TcpSpec want = s;
  want.ack = 5011;                           // + (5000 − 1000)
  want.sack = {{5041, 5051}, {5061, 5071}};  // every edge + 4000
  want.ts = TsPair{55555, 750};              // TSecr + (700 − 100); TSval is the client's
  EXPECT_EQ(f, build_tcp(want));
  EXPECT_TRUE(checksum_ok(f));
  EXPECT_EQ(tr->counters().translated_in, 1u);
}

TEST_F(SeqTranslatorTest, GoldenInboundIpv6VlanUnalignedTimestamp) {
  TcpSpec c;
  c.v6 = true;
  c.vlan = 0x2064;  // PCP 1, VID 100
  c.src_ip = test::v6addr(1);
  c.dst_ip = test::v6addr(2);
  const Handshake h;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 100, h.client_isn + 1);

  TcpSpec s = c;
  s.seq = h.client_isn + 1;
  s.ack = h.primary_isn + 1 + 100;
  s.ts = TsPair{0xABCDEF01, 0x00000123};
  s.ts_unaligned = true;  // TSecr at an odd offset: the checksum update must still hold
  s.sack = {{1201, 1301}};
  Frame f = build_tcp(s);
  ASSERT_EQ(in(f), InboundDecision::forward);

  TcpSpec want = s;
  want.ack = 5101;
  want.sack = {{5201, 5301}};
  want.ts = TsPair{0xABCDEF01, 0x00000123 + 600};
  EXPECT_EQ(f, build_tcp(want));
  EXPECT_TRUE(checksum_ok(f));
}

TEST_F(SeqTranslatorTest, GoldenOutboundSeqAndTsval) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);

  TcpSpec s = c.reply();
  s.seq = 5011;
  s.ack = h.client_isn + 1 + 33;
  s.ts = TsPair{800, 55555};
  s.sack = {{h.client_isn + 100, h.client_isn + 200}};  // client space: unchanged
  s.payload = payload(20);
  Frame f = build_tcp(s);
  ASSERT_EQ(out(f), OutboundDecision::forward);

  TcpSpec want = s;
  want.seq = 1011;
  want.ts = TsPair{200, 55555};
  EXPECT_EQ(f, build_tcp(want));
  EXPECT_TRUE(checksum_ok(f));
  EXPECT_EQ(tr->counters().translated_out, 1u);
}

TEST_F(SeqTranslatorTest, BackupSynAckTranslatesToThePrimarysSynAck) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  Frame f = backup_synack(c, h);  // a retransmission once live
  ASSERT_EQ(out(f), OutboundDecision::forward);
  TcpSpec want = c.reply();
  want.flags = kSyn | kAck;
  want.seq = h.primary_isn;
  want.ack = h.client_isn + 1;
  want.mss = h.backup_mss;
  want.wscale = h.backup_wscale;
  want.sack_permitted = true;
  want.ts = TsPair{*h.primary_ts, 77};
  EXPECT_EQ(f, build_tcp(want));
}

// --- wrap-around and property tests -------------------------------------------------

TEST_F(SeqTranslatorTest, DeltasAcrossTheWrap) {
  TcpSpec c;
  Handshake h;
  h.primary_isn = 0xFFFFFF00;
  h.backup_isn = 0x00000100;
  h.primary_ts = 0x7FFFFFF0;  // ts_delta = 0x80000020: as large as serial arithmetic allows
  h.backup_ts = 0x00000010;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 1000, h.client_isn + 1);

  TcpSpec s = c;
  s.seq = h.client_isn + 1;
  s.ack = 0x00000010;  // primary space, past the wrap: 0x111 bytes after the SYN-ACK
  s.ts = TsPair{1, 0x7FFFFFF5};
  s.sack = {{0xFFFFFFF0, 0x00000008}};  // a block straddling the wrap
  Frame f = build_tcp(s);
  ASSERT_EQ(in(f), InboundDecision::forward);
  TcpSpec want = s;
  want.ack = 0x00000210;
  want.sack = {{0x000001F0, 0x00000208}};
  want.ts = TsPair{1, 0x00000015};
  EXPECT_EQ(f, build_tcp(want));
  EXPECT_TRUE(checksum_ok(f));

  TcpSpec o = c.reply();
  o.seq = 0x00000210;
  o.ack = h.client_isn + 1;
  o.ts = TsPair{0x00000015, 1};
  Frame g = build_tcp(o);
  ASSERT_EQ(out(g), OutboundDecision::forward);
  TcpSpec want_out = o;
  want_out.seq = 0x00000010;
  want_out.ts = TsPair{0x7FFFFFF5, 1};
  EXPECT_EQ(g, build_tcp(want_out));
  EXPECT_EQ(tr->counters().paws_clamped, 0u);
}

// Compares two frames except the TCP checksum field (verified separately): the
// incremental update may legitimately yield 0xFFFF where a full sum yields 0x0000.
void expect_equal_but_checksum(const Frame& got, const Frame& want) {
  ASSERT_EQ(got.size(), want.size());
  const std::size_t csum = packet::l4_checksum_offset(parse(want));
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (i == csum || i == csum + 1) continue;
    ASSERT_EQ(got[i], want[i]) << "byte " << i;
  }
}

TEST_F(SeqTranslatorTest, PropertyRoundTripKeepsFieldsAndChecksums) {
  std::mt19937 rng(20240611);
  TranslatorLimits l = default_limits();
  l.flows.max_flows = 1024;
  reset(l);
  for (int iter = 0; iter < 600; ++iter) {
    TcpSpec c;
    c.v6 = (rng() & 1) != 0;
    if (c.v6) {
      c.src_ip = test::v6addr(static_cast<std::uint8_t>(rng()));
      c.dst_ip = test::v6addr(2);
    }
    if ((rng() & 3) == 0) c.vlan = static_cast<std::uint16_t>(rng() & 0xFFFF);
    c.src_port = static_cast<std::uint16_t>(1024 + iter);
    Handshake h;
    h.client_isn = static_cast<std::uint32_t>(rng());
    h.primary_isn = static_cast<std::uint32_t>(rng());
    h.backup_isn = (iter % 5 == 0) ? h.primary_isn + static_cast<std::uint32_t>(rng() % 512) - 256
                                   : static_cast<std::uint32_t>(rng());
    const bool ts = (rng() % 4) != 0;
    h.primary_ts = ts ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(rng())) : std::nullopt;
    h.backup_ts = ts ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(rng())) : std::nullopt;
    handshake(c, h);
    const std::uint32_t sent = 1 + rng() % 1400;
    backup_sends(c, h.backup_isn + 1, sent, h.client_isn + 1);

    TcpSpec s = c;
    s.seq = h.client_isn + 1;
    const std::uint32_t acked = rng() % (sent + 1);
    s.ack = h.primary_isn + 1 + acked;
    const std::uint32_t ts_age = rng() % 100000;
    if (ts) {
      s.ts = TsPair{static_cast<std::uint32_t>(rng()), *h.primary_ts + ts_age};
      s.ts_unaligned = (rng() & 1) != 0;
    }
    const std::size_t blocks = rng() % (ts ? 4 : 5);
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::uint32_t left = h.primary_isn + static_cast<std::uint32_t>(rng());
      s.sack.emplace_back(left, left + rng() % 5000);
    }
    s.payload = payload(rng() % 300, static_cast<std::uint8_t>(iter));
    Frame f = build_tcp(s);
    ASSERT_EQ(in(f), InboundDecision::forward) << iter;
    ASSERT_TRUE(checksum_ok(f)) << iter;
    TcpSpec want = s;
    const std::uint32_t seq_delta = h.backup_isn - h.primary_isn;
    want.ack = s.ack + seq_delta;
    for (auto& [left, right] : want.sack) {
      left += seq_delta;
      right += seq_delta;
    }
    if (ts) want.ts->second = s.ts->second + (*h.backup_ts - *h.primary_ts);
    expect_equal_but_checksum(f, build_tcp(want));

    // The backup server answers with the translated ack as its seq and the translated
    // TSecr as its TSval: translating out must give back the client's original values.
    const auto pin = parse(f);
    TcpSpec o = c.reply();
    o.seq = pin.tcp.ack;
    o.ack = h.client_isn + 1;
    if (ts) {
      o.ts = TsPair{pin.tcp.opt.tsecr, s.ts->first};
      o.ts_unaligned = (rng() & 1) != 0;
    }
    o.sack = {{h.client_isn + 5, h.client_isn + 9}};
    o.payload = payload(rng() % 200);
    Frame g = build_tcp(o);
    ASSERT_EQ(out(g), OutboundDecision::forward) << iter;
    ASSERT_TRUE(checksum_ok(g)) << iter;
    TcpSpec want_out = o;
    want_out.seq = s.ack;
    if (ts) want_out.ts->first = s.ts->second;
    expect_equal_but_checksum(g, build_tcp(want_out));
  }
  EXPECT_EQ(tr->counters().paws_clamped, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// --- wait queue -----------------------------------------------------------------------

TEST_F(SeqTranslatorTest, FramesBeforeTheDeltasWaitAndLeaveInOrder) {
  TcpSpec c;
  const Handshake h;
  Frame syn = client_syn(c, h);
  ASSERT_EQ(in(syn), InboundDecision::passthrough);

  std::vector<TcpSpec> sent;
  for (std::uint32_t i = 0; i < 3; ++i) {
    TcpSpec s = c;
    s.seq = h.client_isn + 1 + 10 * i;
    s.ack = h.primary_isn + 1;
    s.ts = TsPair{200 + i, 100};
    s.payload = payload(10, static_cast<std::uint8_t>(i));
    Frame f = build_tcp(s);
    ASSERT_EQ(in(f), InboundDecision::wait);
    sent.push_back(s);
  }
  EXPECT_EQ(tr->counters().waiting_now, 3u);
  EXPECT_FALSE(tr->on_flow_meta(meta_for(c, h), clock.now()));  // backup SYN-ACK still missing
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().waiting_now, 3u);

  // A later frame must queue behind the others even once it could be translated.
  EXPECT_TRUE(server(backup_synack(c, h)));
  TcpSpec late = c;
  late.seq = h.client_isn + 31;
  late.ack = h.primary_isn + 1;
  late.ts = TsPair{203, 100};
  Frame lf = build_tcp(late);
  ASSERT_EQ(in(lf), InboundDecision::hold);
  sent.push_back(late);

  const auto got = drain();
  ASSERT_EQ(got.size(), 4u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    TcpSpec want = sent[i];
    want.ack = 5001;
    want.ts = TsPair{want.ts->first, 700};
    EXPECT_EQ(got[i], build_tcp(want)) << i;
    EXPECT_TRUE(checksum_ok(got[i]));
  }
  EXPECT_EQ(tr->counters().waiting_now, 0u);
  EXPECT_EQ(tr->counters().held_now, 0u);
  EXPECT_EQ(tr->counters().translated_in, 4u);
  EXPECT_FALSE(tr->has_queued());
}

TEST_F(SeqTranslatorTest, FlowMetaAfterBackupSynAckReleasesTheWaiters) {
  TcpSpec c;
  const Handshake h;
  Frame syn = client_syn(c, h);
  ASSERT_EQ(in(syn), InboundDecision::passthrough);
  EXPECT_FALSE(server(backup_synack(c, h)));  // nothing queued yet
  TcpSpec s = c;
  s.seq = h.client_isn + 1;
  s.ack = h.primary_isn + 1;
  Frame f = build_tcp(s);
  ASSERT_EQ(in(f), InboundDecision::wait);
  EXPECT_TRUE(tr->on_flow_meta(meta_for(c, h), clock.now()));
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.ack, 5001u);
}

TEST_F(SeqTranslatorTest, WaitIsBoundedInTimeAndSpace) {
  TranslatorLimits l = default_limits();
  l.queue_frames_per_flow = 3;
  reset(l);
  TcpSpec c;
  const Handshake h;
  Frame syn = client_syn(c, h);
  in(syn);
  for (std::uint32_t i = 0; i < 4; ++i) {
    TcpSpec s = c;
    s.seq = h.client_isn + 1 + i;
    s.ack = h.primary_isn + 1;
    s.payload = payload(1);
    Frame f = build_tcp(s);
    EXPECT_EQ(in(f), i < 3 ? InboundDecision::wait : InboundDecision::drop_full) << i;
  }
  EXPECT_EQ(tr->counters().queue_full_drops, 1u);
  clock.advance(milliseconds(1999));
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().wait_drops, 0u);
  clock.advance(milliseconds(1));
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().wait_drops, 3u);
  EXPECT_EQ(tr->counters().waiting_now, 0u);
  EXPECT_EQ(tr->counters().divergence(), 4u);
}

TEST_F(SeqTranslatorTest, SharedPoolExhaustionIsCounted) {
  TranslatorLimits l = default_limits();
  l.queue_pool_frames = 2;
  l.global_order = false;  // per-flow queues: each flow's first ACK waits on its own
  reset(l);
  const Handshake h;
  for (std::uint16_t port = 1; port <= 3; ++port) {
    TcpSpec c;
    c.src_port = port;
    Frame syn = client_syn(c, h);
    in(syn);
    TcpSpec s = c;
    s.seq = h.client_isn + 1;
    s.ack = h.primary_isn + 1;
    Frame f = build_tcp(s);
    EXPECT_EQ(in(f), port <= 2 ? InboundDecision::wait : InboundDecision::drop_full);
  }
  EXPECT_EQ(tr->counters().waiting_now, 2u);
  EXPECT_EQ(tr->counters().queue_full_drops, 1u);
}

// --- hold -------------------------------------------------------------------------------

TEST_F(SeqTranslatorTest, AckBeyondBackupSndNxtIsHeldUntilTheServerCatchesUp) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);

  // The primary's server already sent 100 bytes; the backup's has sent nothing yet.
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 100;
  a.payload = payload(5, 1);
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  TcpSpec b = a;  // would be fine on its own, but must not overtake `a`
  b.seq = a.seq + 5;
  b.ack = h.primary_isn + 1;
  b.payload = payload(5, 2);
  Frame fb = build_tcp(b);
  ASSERT_EQ(in(fb), InboundDecision::hold);
  EXPECT_EQ(tr->counters().held_now, 2u);
  EXPECT_EQ(tr->counters().held_total, 1u);
  EXPECT_TRUE(drain().empty());

  backup_sends(c, h.backup_isn + 1, 60, h.client_isn + 1);
  EXPECT_TRUE(drain().empty());  // 60 of 100: still beyond
  TcpSpec more = c.reply();
  more.flags = kAck | kPsh;
  more.seq = h.backup_isn + 61;
  more.ack = h.client_isn + 1;
  more.payload = payload(40);
  EXPECT_TRUE(server(build_tcp(more)));

  const auto got = drain();
  ASSERT_EQ(got.size(), 2u);
  TcpSpec wa = a;
  wa.ack = 5101;
  TcpSpec wb = b;
  wb.ack = 5001;
  EXPECT_EQ(got[0], build_tcp(wa));
  EXPECT_EQ(got[1], build_tcp(wb));
  EXPECT_EQ(tr->counters().held_now, 0u);
  EXPECT_EQ(tr->counters().hold_timeouts, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);

  // Caught up: the next frame goes straight through.
  TcpSpec n = b;
  n.seq = b.seq + 5;
  n.ack = h.primary_isn + 101;
  Frame fn = build_tcp(n);
  EXPECT_EQ(in(fn), InboundDecision::forward);
}

// Found end to end under load: the client's tail-loss probe re-sent request 1 (already
// delivered) carrying an ack for the reply to request 2. Held, it blocked request 2 behind
// it in the flow's FIFO, and the backup server could never produce that reply.
TEST_F(SeqTranslatorTest, StaleRetransmissionIsForwardedWithLoweredAckNotHeld) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec r1 = c;  // request 1, forwarded
  r1.seq = h.client_isn + 1;
  r1.ack = h.primary_isn + 1;
  r1.payload = payload(10, 1);
  Frame f1 = build_tcp(r1);
  ASSERT_EQ(in(f1), InboundDecision::forward);
  backup_sends(c, h.backup_isn + 1, 5, h.client_isn + 11);  // reply 1

  TcpSpec again = r1;  // the probe: old payload, ack covers replies 1 and 2 (10 bytes)
  again.ack = h.primary_isn + 1 + 10;
  Frame fa = build_tcp(again);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  EXPECT_EQ(parse(fa).tcp.ack, h.backup_isn + 6);  // lowered to what the backup sent
  EXPECT_TRUE(checksum_ok(fa));
  EXPECT_EQ(tr->counters().stale_retransmits, 1u);

  TcpSpec r2 = c;  // request 2 goes through, not stuck behind the probe
  r2.seq = h.client_isn + 11;
  r2.ack = h.primary_isn + 6;
  r2.payload = payload(10, 2);
  Frame f2 = build_tcp(r2);
  EXPECT_EQ(in(f2), InboundDecision::forward);
  EXPECT_EQ(tr->counters().held_now, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// A bulk sender (the server) only opens its window on acks. A client's pure ACK for
// bytes the backup server has not sent yet is forwarded at once with the ack lowered to
// what it has sent; holding it would stall the backup server until the hold timeout.
TEST_F(SeqTranslatorTest, PureAckBeyondBackupSndNxtIsClampedNotHeld) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 1000, h.client_isn + 1);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 3000;  // the primary's server is 2000 bytes ahead
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  EXPECT_EQ(parse(fa).tcp.ack, h.backup_isn + 1001);
  EXPECT_TRUE(checksum_ok(fa));
  EXPECT_EQ(tr->counters().acks_clamped, 1u);
  EXPECT_EQ(tr->counters().held_now, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// After the client's FIN, its pure ACK is the ACK of the server's FIN. Beyond the
// backup's output it is forwarded lowered (it must not block the log behind it), and once
// the backup server has sent its FIN a synthesized ACK carries the rest, or the backup
// server would stay in LAST-ACK.
TEST_F(SeqTranslatorTest, AckOfTheServersFinIsCompletedBySynthesis) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec fin = c;
  fin.flags = kFin | kAck;
  fin.seq = h.client_isn + 1;
  fin.ack = h.primary_isn + 1;
  Frame ff = build_tcp(fin);
  ASSERT_EQ(in(ff), InboundDecision::forward);
  TcpSpec last = c;  // acks the primary server's FIN (one sequence number)
  last.seq = h.client_isn + 2;
  last.ack = h.primary_isn + 2;
  Frame fl = build_tcp(last);
  ASSERT_EQ(in(fl), InboundDecision::forward);
  EXPECT_EQ(parse(fl).tcp.ack, h.backup_isn + 1);
  EXPECT_TRUE(drain().empty());
  TcpSpec sfin = c.reply();  // the backup server's FIN arrives
  sfin.flags = kFin | kAck;
  sfin.seq = h.backup_isn + 1;
  sfin.ack = h.client_isn + 2;
  sfin.ts.reset();
  EXPECT_TRUE(server(build_tcp(sfin)));
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  const auto p = parse(got[0]);
  EXPECT_EQ(p.tcp.flags, kAck);
  EXPECT_EQ(p.tcp.seq, h.client_isn + 2);
  EXPECT_EQ(p.tcp.ack, h.backup_isn + 2);
  EXPECT_EQ(p.payload_len, 0u);
  EXPECT_TRUE(checksum_ok(got[0]));
  EXPECT_EQ(tr->counters().acks_clamped, 1u);
  EXPECT_EQ(tr->counters().acks_synthesized, 1u);
  EXPECT_EQ(tr->flows().find(key_of(c))->state, FlowState::closed);
  EXPECT_FALSE(tr->has_queued());
}

// Global order (the default): a frame of another flow never overtakes a held one, so the
// backup server sees the flows interleaved exactly as the primary's server did.
TEST_F(SeqTranslatorTest, GlobalOrderKeepsTheLogsInterleavingAcrossFlows) {
  const Handshake h;
  TcpSpec a, b;
  a.src_port = 1;
  b.src_port = 2;
  handshake(a, h);
  handshake(b, h);
  TcpSpec ra = a;  // flow a: acks 5 bytes the backup server has not sent yet -> held
  ra.seq = h.client_isn + 1;
  ra.ack = h.primary_isn + 6;
  ra.payload = payload(7, 1);
  Frame fa = build_tcp(ra);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  TcpSpec rb = b;  // flow b: fine on its own, but logged after a's frame
  rb.seq = h.client_isn + 1;
  rb.ack = h.primary_isn + 1;
  rb.payload = payload(7, 2);
  Frame fb = build_tcp(rb);
  ASSERT_EQ(in(fb), InboundDecision::hold);
  TcpSpec c;  // a new connection's SYN queues too: accept order is part of the state
  c.src_port = 3;
  Frame sc = client_syn(c, h);
  ASSERT_EQ(in(sc), InboundDecision::wait);
  EXPECT_TRUE(drain().empty());
  backup_sends(a, h.backup_isn + 1, 5, h.client_isn + 1);
  const auto got = drain();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(parse(got[0]).tcp.src_port, 1);
  EXPECT_EQ(parse(got[1]).tcp.src_port, 2);
  EXPECT_EQ(parse(got[2]).tcp.src_port, 3);
  EXPECT_EQ(parse(got[2]).tcp.flags & kSyn, kSyn);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

TEST_F(SeqTranslatorTest, AHeldFlowDoesNotBlockOtherFlows) {
  TranslatorLimits per_flow = default_limits();
  per_flow.global_order = false;  // this test is about per-flow queues
  reset(per_flow);
  const Handshake h;
  TcpSpec a, b;
  a.src_port = 1111;
  b.src_port = 2222;
  handshake(a, h);
  handshake(b, h);
  TcpSpec fa = a;
  fa.seq = h.client_isn + 1;
  fa.ack = h.primary_isn + 50;
  fa.payload = payload(5, 1);
  Frame x = build_tcp(fa);
  ASSERT_EQ(in(x), InboundDecision::hold);
  TcpSpec fb = b;
  fb.seq = h.client_isn + 1;
  fb.ack = h.primary_isn + 1;
  fb.payload = payload(5, 2);
  Frame y = build_tcp(fb);
  EXPECT_EQ(in(y), InboundDecision::forward);
  TcpSpec fb2 = fb;
  fb2.seq = fb.seq + 5;
  fb2.ack = h.primary_isn + 20;
  fb2.payload = payload(5, 3);
  Frame z = build_tcp(fb2);
  ASSERT_EQ(in(z), InboundDecision::hold);
  backup_sends(b, h.backup_isn + 1, 19, h.client_isn + 1);  // only flow b catches up
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.dst_port, 6379);
  EXPECT_EQ(parse(got[0]).tcp.src_port, 2222);
  EXPECT_EQ(tr->counters().held_now, 1u);
  EXPECT_EQ(tr->counters().held_total, 2u);
}

TEST_F(SeqTranslatorTest, FinFromTheBackupServerCountsInSndNxt) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 2;  // acks the primary server's FIN
  a.flags = kAck | kFin;
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  TcpSpec fin = c.reply();
  fin.flags = kAck | kFin;
  fin.seq = h.backup_isn + 1;
  fin.ack = h.client_isn + 1;
  EXPECT_TRUE(server(build_tcp(fin)));
  ASSERT_EQ(drain().size(), 1u);
  EXPECT_EQ(tr->flows().find(key_of(c))->state, FlowState::closed);
}

TEST_F(SeqTranslatorTest, HoldTimeoutReleasesWithClampedAckAndCountsDivergence) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 30, h.client_isn + 1);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 100;
  a.ts = TsPair{9, 150};
  a.payload = payload(12);
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  clock.advance(milliseconds(1999));
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().hold_timeouts, 0u);
  clock.advance(milliseconds(1));
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = a;
  want.ack = h.backup_isn + 31;  // what the backup server has sent, so the payload is kept
  want.ts = TsPair{9, 750};
  EXPECT_EQ(got[0], build_tcp(want));
  EXPECT_TRUE(checksum_ok(got[0]));
  EXPECT_EQ(tr->counters().hold_timeouts, 1u);
  EXPECT_EQ(tr->counters().divergence(), 1u);
}

TEST_F(SeqTranslatorTest, ResetIsNeverHeld) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec r = c;
  r.flags = kRst | kAck;
  r.seq = h.client_isn + 1;
  r.ack = h.primary_isn + 500;
  Frame f = build_tcp(r);
  ASSERT_EQ(in(f), InboundDecision::forward);
  EXPECT_EQ(parse(f).tcp.ack, h.backup_isn + 500);
  EXPECT_EQ(tr->flows().find(key_of(c))->state, FlowState::closed);
}

// --- PAWS ---------------------------------------------------------------------------

TEST_F(SeqTranslatorTest, OutboundTsvalNeverGoesBelowWhatThePrimaryReleased) {
  TcpSpec c;
  const Handshake h;  // ts_delta = 600, floor starts at the primary SYN-ACK's 100
  handshake(c, h);
  tr->note_primary_tsval(key_of(c).reversed(), 5000);  // either direction is accepted

  auto send = [&](std::uint32_t tsval) {
    TcpSpec o = c.reply();
    o.seq = h.backup_isn + 1;
    o.ack = h.client_isn + 1;
    o.ts = TsPair{tsval, 1};
    Frame g = build_tcp(o);
    EXPECT_EQ(out(g), OutboundDecision::forward);
    EXPECT_TRUE(checksum_ok(g));
    return parse(g).tcp.opt.tsval;
  };
  EXPECT_EQ(send(4600), 5000u);  // 4000 < floor 5000
  EXPECT_EQ(tr->counters().paws_clamped, 1u);
  EXPECT_EQ(send(6600), 6000u);  // above: unchanged
  EXPECT_EQ(send(6500), 6000u);  // floor follows what was sent
  EXPECT_EQ(tr->counters().paws_clamped, 2u);
  tr->note_primary_tsval(key_of(c), 10);  // never lowers the floor
  EXPECT_EQ(send(6601), 6001u);

  // A repeated FLOW_META with the same ISN raises the floor too.
  FlowMeta m = meta_for(c, h);
  m.primary_tsval = 9000;
  tr->on_flow_meta(m, clock.now());
  EXPECT_EQ(send(6602), 9000u);
  EXPECT_EQ(tr->flows().find(key_of(c))->seq_delta, 4000u);
}

// --- mismatches, passthrough, lifecycle -----------------------------------------------

TEST_F(SeqTranslatorTest, WscaleAndMssMismatchReportedOncePerFlow) {
  TcpSpec c;
  Handshake h;
  h.backup_wscale = 9;
  h.backup_mss = 1400;
  handshake(c, h);
  server(backup_synack(c, h));  // retransmitted SYN-ACK: no second count
  const auto n = tr->counters();
  EXPECT_EQ(n.wscale_mismatch, 1u);
  EXPECT_EQ(n.mss_mismatch, 1u);
  EXPECT_EQ(n.ts_mismatch, 0u);
  const Flow* f = tr->flows().find(key_of(c));
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->wscale_mismatch);
  EXPECT_TRUE(f->mss_mismatch);

  TcpSpec c2;
  c2.src_port = 40001;
  handshake(c2, Handshake{});
  EXPECT_EQ(tr->counters().wscale_mismatch, 1u);
  EXPECT_FALSE(tr->flows().find(key_of(c2))->wscale_mismatch);

  TcpSpec c3;
  c3.src_port = 40002;
  Handshake h3;
  h3.backup_ts.reset();
  handshake(c3, h3);
  EXPECT_EQ(tr->counters().ts_mismatch, 1u);
  EXPECT_FALSE(tr->flows().find(key_of(c3))->ts_known);
}

TEST_F(SeqTranslatorTest, PassthroughAndUntracked) {
  Frame arp(64);
  const std::size_t n =
      packet::build_garp_request(arp, packet::MacAddr{{2, 0, 0, 0, 0, 2}}, packet::IpAddr::v4(0x0A000002));
  ASSERT_GT(n, 0u);
  arp.resize(n);
  const Frame before = arp;
  EXPECT_EQ(in(arp), InboundDecision::passthrough);
  EXPECT_EQ(out(arp), OutboundDecision::passthrough);
  EXPECT_EQ(arp, before);

  TcpSpec c;
  c.src_port = 50000;
  Frame stray = build_tcp(c);  // mid-stream segment of a flow never seen
  EXPECT_EQ(in(stray), InboundDecision::drop_untracked);
  EXPECT_EQ(tr->counters().untracked_in, 1u);
  Frame stray_out = build_tcp(c.reply());
  EXPECT_EQ(out(stray_out), OutboundDecision::untracked);
  EXPECT_EQ(stray_out, build_tcp(c.reply()));
}

TEST_F(SeqTranslatorTest, NewSynOnAClosedFlowStartsAFreshIncarnation) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec r = c;
  r.flags = kRst;
  r.seq = h.client_isn + 1;
  Frame fr = build_tcp(r);
  in(fr);
  ASSERT_EQ(tr->flows().find(key_of(c))->state, FlowState::closed);

  Handshake h2;
  h2.client_isn = 0x22222222;
  h2.primary_isn = 70000;
  h2.backup_isn = 90000;
  Frame syn = client_syn(c, h2);
  ASSERT_EQ(in(syn), InboundDecision::passthrough);
  const Flow* f = tr->flows().find(key_of(c));
  EXPECT_FALSE(f->delta_known);
  EXPECT_EQ(f->state, FlowState::syn_seen);
  tr->on_flow_meta(meta_for(c, h2), clock.now());
  server(backup_synack(c, h2));
  EXPECT_EQ(f->seq_delta, 20000u);
  EXPECT_EQ(tr->counters().flows_created, 1u);  // same record, reused
}

TEST_F(SeqTranslatorTest, FullTableRefusesNewSynAndEvictionDropsQueuedFramesCounted) {
  TranslatorLimits l = default_limits();
  l.flows.max_flows = 2;
  l.global_order = false;  // per-flow queues, so each flow's queued frames are its own
  reset(l);
  const Handshake h;
  TcpSpec a, b, d;
  a.src_port = 1;
  b.src_port = 2;
  d.src_port = 3;
  Frame sa = client_syn(a, h), sb = client_syn(b, h), sd = client_syn(d, h);
  ASSERT_EQ(in(sa), InboundDecision::passthrough);
  ASSERT_EQ(in(sb), InboundDecision::passthrough);
  EXPECT_EQ(in(sd), InboundDecision::drop_full);
  EXPECT_EQ(tr->counters().refused_full, 1u);

  // Flow a has a waiting frame; after pressure_idle it is the oldest idle flow.
  TcpSpec w = a;
  w.seq = h.client_isn + 1;
  w.ack = h.primary_isn + 1;
  Frame fw = build_tcp(w);
  ASSERT_EQ(in(fw), InboundDecision::wait);
  clock.advance(seconds(31));
  Frame sb2 = client_syn(b, h);
  in(sb2);  // b is active again
  Frame sd2 = client_syn(d, h);
  ASSERT_EQ(in(sd2), InboundDecision::passthrough);
  const auto n = tr->counters();
  EXPECT_EQ(n.evicted_idle, 1u);
  EXPECT_EQ(n.wait_drops, 1u);
  EXPECT_EQ(n.waiting_now, 0u);
  EXPECT_EQ(n.flows_tracked, 2u);
  EXPECT_EQ(tr->flows().find(key_of(a)), nullptr);
  EXPECT_FALSE(tr->has_queued());
}

// A frame queued behind a held one starts its own hold only once it is the one blocked:
// after a long hold, the frames behind it must not all time out at once.
TEST_F(SeqTranslatorTest, HoldTimeStartsWhenAFrameIsBlockedOnItsOwnAck) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  TcpSpec a = c;  // request 1 acks 5 bytes the backup server has not sent
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 6;
  a.payload = payload(4, 1);
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  TcpSpec b = a;  // request 2 acks 5 more
  b.seq = a.seq + 4;
  b.ack = h.primary_isn + 11;
  b.payload = payload(4, 2);
  Frame fb = build_tcp(b);
  ASSERT_EQ(in(fb), InboundDecision::hold);
  clock.advance(milliseconds(1500));
  backup_sends(c, h.backup_isn + 1, 5, h.client_isn + 1);
  ASSERT_EQ(drain().size(), 1u);      // request 1; request 2 is blocked from now on
  clock.advance(milliseconds(1000));  // 2.5 s after it was queued, 1 s blocked
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().hold_timeouts, 0u);
  clock.advance(milliseconds(1000));
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.ack, h.backup_isn + 6);
  EXPECT_EQ(tr->counters().hold_timeouts, 1u);
  EXPECT_EQ(tr->counters().held_total, 2u);
}

// Likewise for a wait: the frames after a new flow's SYN, queued behind a long hold, wait
// for the deltas from when the SYN is released, not from when they were queued.
TEST_F(SeqTranslatorTest, WaitTimeStartsWhenAFrameIsBlockedOnTheDeltas) {
  const Handshake h;
  TcpSpec a, b;
  a.src_port = 1;
  b.src_port = 2;
  handshake(a, h);
  TcpSpec ra = a;  // flow a: held
  ra.seq = h.client_isn + 1;
  ra.ack = h.primary_isn + 6;
  ra.payload = payload(7, 1);
  Frame fa = build_tcp(ra);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  Frame sb = client_syn(b, h);  // flow b opens behind it
  ASSERT_EQ(in(sb), InboundDecision::wait);
  TcpSpec ab = b;
  ab.seq = h.client_isn + 1;
  ab.ack = h.primary_isn + 1;
  Frame fab = build_tcp(ab);
  ASSERT_EQ(in(fab), InboundDecision::wait);
  tr->on_flow_meta(meta_for(b, h), clock.now());
  clock.advance(milliseconds(1900));
  backup_sends(a, h.backup_isn + 1, 5, h.client_isn + 1);
  auto got = drain();
  ASSERT_EQ(got.size(), 2u);         // a's request and b's SYN; b's ACK waits for the deltas
  clock.advance(milliseconds(500));  // 2.4 s after it was queued
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().wait_drops, 0u);
  server(backup_synack(b, h));
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.ack, h.backup_isn + 1);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// --- ACK synthesis ------------------------------------------------------------------

class AckSynthesisTest : public SeqTranslatorTest {
 protected:
  void established(const TcpSpec& c, const Handshake& h) {
    handshake(c, h);
    TcpSpec a = c;
    a.seq = h.client_isn + 1;
    a.ack = h.primary_isn + 1;
    if (h.primary_ts) a.ts = TsPair{1000, *h.primary_ts};
    Frame f = build_tcp(a);
    ASSERT_EQ(in(f), InboundDecision::forward);
  }
  // Checks that `fr` is a pure ACK of flow `c` built from the client's last forwarded
  // segment, byte for byte at L4 (the test builder's independent checksum), and with a
  // valid IPv4 header checksum.
  void expect_synth(const Frame& fr, TcpSpec want) {
    want.flags = kAck;
    want.payload.clear();
    want.sack.clear();
    const auto p = parse(fr);
    const Frame ref = build_tcp(want);
    const auto rp = parse(ref);
    ASSERT_EQ(fr.size() - p.l4_offset >= ref.size() - rp.l4_offset, true);
    EXPECT_EQ(Frame(fr.begin() + p.l4_offset, fr.begin() + static_cast<long>(p.ip_end)),
              Frame(ref.begin() + rp.l4_offset, ref.end()));
    EXPECT_EQ(Frame(fr.begin(), fr.begin() + 14), Frame(ref.begin(), ref.begin() + 14));  // MACs
    EXPECT_TRUE(checksum_ok(fr));
    if (!want.v6) {
      EXPECT_TRUE(packet::ipv4_checksum_ok(fr, p));
    }
  }
};

// A pure ACK that had to be lowered (the primary's server was ahead) is completed by
// synthesized ACKs as the backup server sends those bytes, and never beyond them.
TEST_F(AckSynthesisTest, LoweredPureAckIsCompletedAsTheBackupServerSends) {
  TcpSpec c;
  const Handshake h;
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 100;  // the primary's server sent 100 bytes
  a.ts = TsPair{1010, 160};
  a.window = 777;
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  EXPECT_EQ(parse(fa).tcp.ack, h.backup_isn + 1);
  EXPECT_TRUE(drain().empty());  // nothing sent yet: nothing to acknowledge

  backup_sends(c, h.backup_isn + 1, 60, h.client_isn + 1);
  EXPECT_TRUE(tr->has_queued());
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = a;
  want.ack = h.backup_isn + 61;
  want.ts = TsPair{1010, 760};  // TSecr translated (+600)
  expect_synth(got[0], want);

  backup_sends(c, h.backup_isn + 61, 40, h.client_isn + 1);
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  want.ack = h.backup_isn + 101;
  expect_synth(got[0], want);

  backup_sends(c, h.backup_isn + 101, 50, h.client_isn + 1);  // beyond what the client acked
  EXPECT_FALSE(tr->has_queued());
  EXPECT_TRUE(drain().empty());
  const auto n = tr->counters();
  EXPECT_EQ(n.acks_synthesized, 2u);
  EXPECT_EQ(n.acks_clamped, 1u);
  EXPECT_EQ(n.acks_lowered, 1u);
  EXPECT_EQ(n.divergence(), 0u);
}

// The stall seen end to end: the backup server's earlier reply went unacknowledged (the
// client's ack for it reached the proxy first and was lowered), its congestion window is
// full, so it cannot send the reply the next request's ack covers; that request is held.
// The ack for the earlier reply is synthesized at once, the server sends, the held
// request is released with its own ack whole: no hold timeout.
TEST_F(AckSynthesisTest, HeldRequestDoesNotWaitForAnAckItCarries) {
  TcpSpec c;
  const Handshake h;
  established(c, h);
  backup_sends(c, h.backup_isn + 1, 5, h.client_isn + 1);  // reply 1, not acked yet
  TcpSpec r2 = c;  // request 2 acks reply 1 and reply 2 of the primary (10 bytes)
  r2.seq = h.client_isn + 1;
  r2.ack = h.primary_isn + 11;
  r2.ts = TsPair{1020, 170};
  r2.payload = payload(10);
  Frame f2 = build_tcp(r2);
  ASSERT_EQ(in(f2), InboundDecision::hold);
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);  // the synthesized ACK for reply 1; request 2 still held
  TcpSpec want = c;
  want.seq = h.client_isn + 1;
  want.ack = h.backup_isn + 6;
  want.ts = TsPair{1000, 700};  // the last FORWARDED segment's TSval (PAWS), TSecr translated
  expect_synth(got[0], want);
  EXPECT_EQ(tr->counters().held_now, 1u);

  backup_sends(c, h.backup_isn + 6, 5, h.client_isn + 1);  // reply 2
  got = drain();
  ASSERT_EQ(got.size(), 1u);  // the request itself, carrying the whole ack
  TcpSpec wr = r2;
  wr.ack = h.backup_isn + 11;
  wr.ts = TsPair{1020, 770};
  EXPECT_EQ(got[0], build_tcp(wr));
  const auto n = tr->counters();
  EXPECT_EQ(n.acks_synthesized, 1u);
  EXPECT_EQ(n.held_now, 0u);
  EXPECT_EQ(n.hold_timeouts, 0u);
  EXPECT_EQ(n.divergence(), 0u);
}

// A hold timeout lowers the ack of the released segment; the rest follows synthesized.
TEST_F(AckSynthesisTest, HoldTimeoutAckIsCompletedLater) {
  TcpSpec c;
  const Handshake h;
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 21;
  a.ts = TsPair{1030, 180};
  a.payload = payload(8);
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  EXPECT_TRUE(drain().empty());
  clock.advance(milliseconds(2000));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.ack, h.backup_isn + 1);
  EXPECT_EQ(tr->counters().hold_timeouts, 1u);
  EXPECT_EQ(tr->counters().acks_lowered, 1u);
  backup_sends(c, h.backup_isn + 1, 20, h.client_isn + 9);
  got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = a;
  want.seq = h.client_isn + 9;  // after the released payload
  want.ack = h.backup_isn + 21;
  want.ts = TsPair{1030, 780};
  expect_synth(got[0], want);
}

// Serial arithmetic: every sequence space wraps during the exchange.
TEST_F(AckSynthesisTest, SynthesisAcrossTheWrap) {
  TcpSpec c;
  Handshake h;
  h.client_isn = 0xFFFFFFF0u;
  h.primary_isn = 0xFFFFFF00u;
  h.backup_isn = 0xFFFFFFFAu;  // seq_delta = 0xFA
  h.primary_ts = 0xFFFFFFFFu;
  h.backup_ts = 5;  // ts_delta = 6 across the wrap
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 300;  // wraps: 0x0000002D
  a.ts = TsPair{0xFFFFFFFEu, 0xFFFFFFFEu};
  a.payload = payload(0x20);  // client seq wraps too
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  EXPECT_TRUE(drain().empty());  // the backup server has sent nothing
  backup_sends(c, h.backup_isn + 1, 100, h.client_isn + 1);
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = c;
  want.seq = h.client_isn + 1;
  want.ack = h.backup_isn + 101;  // 0x0000005F
  want.ts = TsPair{1000, 0xFFFFFFFFu + 6};
  expect_synth(got[0], want);
  backup_sends(c, h.backup_isn + 101, 200, h.client_isn + 1);
  got = drain();
  ASSERT_EQ(got.size(), 1u);  // the held segment, with its whole ack
  EXPECT_EQ(parse(got[0]).tcp.ack, h.backup_isn + 301);
  EXPECT_EQ(parse(got[0]).tcp.opt.tsecr, 0xFFFFFFFEu + 6);
  EXPECT_EQ(tr->counters().acks_synthesized, 1u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// No synthesized ACK before the client's own ACK went through (it would complete the
// backup server's handshake on its own), nor after a RST.
TEST_F(AckSynthesisTest, NeverBeforeTheHandshakeAckNorAfterReset) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);  // no client ACK forwarded yet
  backup_sends(c, h.backup_isn + 1, 10, h.client_isn + 1);
  EXPECT_TRUE(drain().empty());

  TcpSpec d;
  d.src_port = 4242;
  established(d, h);
  TcpSpec a = d;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 51;
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);  // lowered
  TcpSpec r = d;
  r.flags = kRst;
  r.seq = h.client_isn + 1;
  r.ack = 0;
  Frame fr = build_tcp(r);
  ASSERT_EQ(in(fr), InboundDecision::forward);
  backup_sends(d, h.backup_isn + 1, 50, h.client_isn + 1);
  EXPECT_TRUE(drain().empty());
  EXPECT_EQ(tr->counters().acks_synthesized, 0u);
  EXPECT_FALSE(tr->has_queued());
}

// IPv6 with a VLAN tag: the synthesized ACK carries the tag, the addresses and a valid
// checksum; a flow evicted while owed an ACK leaves the list consistent.
TEST_F(AckSynthesisTest, Ipv6VlanAndEviction) {
  TcpSpec c;
  c.v6 = true;
  c.vlan = 0x2064;
  c.src_ip = test::v6addr(1);
  c.dst_ip = test::v6addr(2);
  const Handshake h;
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 31;
  a.ts = TsPair{1040, 190};
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  backup_sends(c, h.backup_isn + 1, 30, h.client_isn + 1);
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = a;
  want.ack = h.backup_isn + 31;
  want.ts = TsPair{1040, 790};
  expect_synth(got[0], want);
  const auto p = parse(got[0]);
  EXPECT_EQ(p.vlan_count, 1u);
  EXPECT_EQ(p.vlan_tci[0], 0x2064);

  TcpSpec b = a;  // owed again, then the flow goes away before the drain
  b.ack = h.primary_isn + 61;
  Frame fb = build_tcp(b);
  ASSERT_EQ(in(fb), InboundDecision::forward);
  backup_sends(c, h.backup_isn + 31, 30, h.client_isn + 1);
  EXPECT_TRUE(tr->has_queued());
  clock.advance(seconds(601));  // idle timeout
  EXPECT_EQ(tr->expire(clock.now()), 1u);
  EXPECT_FALSE(tr->has_queued());
  EXPECT_TRUE(drain().empty());
}

// --- diverged flows -----------------------------------------------------------------

// After a hold timeout the flow's byte streams no longer line up (the backup server sent
// fewer bytes than the primary's): its later segments are forwarded with the ack
// lowered instead of being held one hold timeout each, which would stall every flow.
TEST_F(AckSynthesisTest, DivergedFlowIsNotHeldAgain) {
  TcpSpec c;
  const Handshake h;
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 7;  // the primary's reply was 6 bytes
  a.payload = payload(10, 1);
  Frame fa = build_tcp(a);
  backup_sends(c, h.backup_isn + 1, 5, h.client_isn + 1);  // the backup's only 5
  ASSERT_EQ(in(fa), InboundDecision::hold);
  clock.advance(milliseconds(2000));
  ASSERT_EQ(drain().size(), 1u);
  EXPECT_EQ(tr->counters().flows_diverged, 1u);
  TcpSpec b = c;
  b.seq = h.client_isn + 11;
  b.ack = h.primary_isn + 13;
  b.payload = payload(10, 2);
  Frame fb = build_tcp(b);
  EXPECT_EQ(in(fb), InboundDecision::forward);
  EXPECT_EQ(parse(fb).tcp.ack, h.backup_isn + 6);
  const auto n = tr->counters();
  EXPECT_EQ(n.hold_timeouts, 1u);
  EXPECT_EQ(n.acks_lowered, 2u);
  EXPECT_EQ(n.divergence(), 1u);
}

// Found by tests/e2e/test_hostile_frames.sh: a blind sender's segment on a live 4-tuple
// (random seq and ack, a payload) was held as "ack beyond the backup's output"; in global
// order every flow waited behind it for hold_ms, the backup's queues filled, its log
// receiver stopped acking and the primary stopped releasing: one such segment every two
// seconds stalled the pair. A segment that starts past the client's stream is forwarded
// at once with the ack lowered (both servers drop it on its sequence number, or queue a
// real gap out of order).
// A guess past the client's stream whose ack is farther than a window (65535 << 7 here)
// from the client's own acks is one the primary's server refused (an ack of unsent data,
// or older than its window): the backup's server must not get it with an acceptable
// ack, or it would keep the made-up payload out of order. Dropped, counted, nothing
// learnt; the same guess with a plausible ack is still a gap (next test).
TEST_F(SeqTranslatorTest, GuessPastTheStreamWithAnAckNoServerTakesIsDropped) {
  TcpSpec c;
  const Handshake h;
  const TcpSpec a = first_request(c, h);  // client_nxt = isn + 1 + 5, acks primary_isn + 1
  // A guess 7000 bytes past the stream, its ack `off` from the client's own.
  const auto guess = [&](std::uint32_t off) {
    TcpSpec g = c;
    g.seq = h.client_isn + 1 + 5 + 7000;
    g.ack = h.primary_isn + 1 + off;
    g.payload = payload(10, 3);
    return build_tcp(g);
  };
  const std::uint32_t window = 65535u << 7;
  for (const std::uint32_t off : {window + 1, 0x40000000u, 0u - window - 1}) {
    Frame fb = guess(off);
    EXPECT_EQ(in(fb), InboundDecision::drop_invalid) << off;
  }
  EXPECT_EQ(tr->counters().blind_dropped, 3u);
  EXPECT_EQ(tr->counters().gaps_clamped, 0u);
  // At the edge of the window it is a gap, forwarded with the ack lowered.
  Frame fe = guess(window);
  EXPECT_EQ(in(fe), InboundDecision::forward);
  EXPECT_EQ(tr->counters().gaps_clamped, 1u);

  // Queued behind a hold, the guess is dropped when it reaches the head, and the flow
  // goes on: the client's next request is released in order.
  TcpSpec ahead = a;
  ahead.seq = a.seq + 5;
  ahead.ack = h.primary_isn + 1 + 50;
  Frame fh = build_tcp(ahead);
  EXPECT_EQ(in(fh), InboundDecision::hold);
  Frame fb = guess(0x40000000u);
  EXPECT_EQ(in(fb), InboundDecision::hold);
  backup_sends(c, h.backup_isn + 11, 40, h.client_isn + 6);
  const auto got = drain();  // the request, and maybe a synthesized ACK: never the guess
  std::size_t data = 0;
  for (const auto& g : got) {
    if (parse(g).payload_len == 0) continue;
    ++data;
    EXPECT_EQ(parse(g).tcp.seq, ahead.seq);
  }
  EXPECT_EQ(data, 1u);
  EXPECT_EQ(tr->counters().blind_dropped, 4u);
  EXPECT_FALSE(tr->has_queued());
}

TEST_F(SeqTranslatorTest, SegmentPastTheClientsStreamIsNeverHeld) {
  TcpSpec c;
  const Handshake h;
  const TcpSpec a = first_request(c, h);  // client_nxt = isn + 1 + 5

  TcpSpec blind = c;
  blind.seq = h.client_isn + 1 + 5 + 700000;
  blind.ack = h.primary_isn + 1 + 123456;
  blind.payload = payload(10, 3);
  Frame fb = build_tcp(blind);
  EXPECT_EQ(in(fb), InboundDecision::forward);
  EXPECT_EQ(parse(fb).tcp.ack, h.backup_isn + 1 + 10);  // lowered to what the backup sent
  EXPECT_TRUE(checksum_ok(fb));
  EXPECT_EQ(tr->counters().gaps_clamped, 1u);
  EXPECT_EQ(tr->counters().held_total, 0u);

  // The client's own next request still goes through at once, and one that acks more
  // than the backup server sent is still held (the in-order case the hold exists for).
  TcpSpec next = a;
  next.seq = a.seq + 5;
  next.ack = h.primary_isn + 1 + 10;
  next.payload = payload(5, 4);
  Frame fn = build_tcp(next);
  EXPECT_EQ(in(fn), InboundDecision::forward);
  TcpSpec ahead = next;
  ahead.seq = next.seq + 5;
  ahead.ack = h.primary_isn + 1 + 50;
  Frame fh = build_tcp(ahead);
  EXPECT_EQ(in(fh), InboundDecision::hold);

  // A blind segment behind that hold waits for it (in order), but is not held again
  // when it reaches the head.
  Frame fb2 = build_tcp(blind);
  EXPECT_EQ(in(fb2), InboundDecision::hold);
  backup_sends(c, h.backup_isn + 11, 40, h.client_isn + 11);
  const auto got = drain();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(parse(got[0]).tcp.seq, ahead.seq);
  EXPECT_EQ(parse(got[1]).tcp.seq, blind.seq);
  EXPECT_EQ(parse(got[1]).tcp.ack, h.backup_isn + 1 + 50);
  EXPECT_EQ(tr->counters().gaps_clamped, 2u);

  // A gap teaches the flow no ack, TSval or close.
  const Flow* flow = tr->flows().find(key_of(c));
  ASSERT_NE(flow, nullptr);
  const std::uint32_t wanted = flow->ack_wanted, tsval = flow->client_tsval;
  TcpSpec rst = blind;
  rst.seq = flow->client_nxt + 1000;
  rst.ack = h.primary_isn + 1 + 90;
  rst.flags = kAck | kRst;
  rst.ts = TsPair{0x7FFFFFF0, 1};
  rst.payload.clear();
  Frame fr = build_tcp(rst);
  EXPECT_EQ(in(fr), InboundDecision::forward);
  EXPECT_EQ(tr->counters().gaps_clamped, 3u);
  EXPECT_EQ(flow->ack_wanted, wanted);
  EXPECT_EQ(flow->client_tsval, tsval);
  EXPECT_NE(flow->state, FlowState::closed);
  EXPECT_EQ(tr->counters().hold_timeouts, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// Also from tests/e2e/test_hostile_frames.sh: blind segments whose seq is nowhere near
// the client's stream were learnt from (the client's TSval that synthesized ACKs copy,
// its acks) and a blind RST closed the live flow. With the TSval of a guess in a
// synthesized ACK, the backup server dropped every later client segment by PAWS and
// stopped executing the client's writes. Such segments are forwarded with the ack
// lowered (both servers drop them on their seq) and teach the flow nothing.
TEST_F(SeqTranslatorTest, SegmentOutsideAnyWindowTeachesTheFlowNothing) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  backup_sends(c, h.backup_isn + 1, 10, h.client_isn + 1);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 10;
  a.ts = TsPair{1000, 100 + 10};
  a.payload = payload(5, 1);
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  const Flow* flow = tr->flows().find(key_of(c));
  ASSERT_NE(flow, nullptr);
  const std::uint32_t nxt = flow->client_nxt, tsval = flow->client_tsval, wanted = flow->ack_wanted;

  for (const std::uint8_t flags :
       {std::uint8_t(kAck | kPsh), std::uint8_t(kAck | kRst), std::uint8_t(kAck | kFin)}) {
    for (const std::uint32_t off : {0x40000000u, 0xC0000000u}) {  // far ahead, far behind
      TcpSpec blind = c;
      blind.flags = flags;
      blind.seq = nxt + off;
      blind.ack = h.primary_isn + 0x7000000;
      blind.ts = TsPair{0x7FFFFFF0, 5};
      blind.payload = payload(10, 3);
      Frame fb = build_tcp(blind);
      EXPECT_EQ(in(fb), InboundDecision::forward);
      EXPECT_EQ(parse(fb).tcp.ack, h.backup_isn + 1 + 10);
      EXPECT_TRUE(checksum_ok(fb));
    }
  }
  EXPECT_EQ(tr->counters().out_of_window, 6u);
  EXPECT_EQ(tr->counters().held_total, 0u);
  flow = tr->flows().find(key_of(c));
  ASSERT_NE(flow, nullptr);
  EXPECT_NE(flow->state, FlowState::closed);
  EXPECT_FALSE(flow->client_fin);
  EXPECT_EQ(flow->client_nxt, nxt);
  EXPECT_EQ(flow->client_tsval, tsval);
  EXPECT_EQ(flow->ack_wanted, wanted);

  // The client's next segment is treated as before: in order, forwarded.
  TcpSpec next = a;
  next.seq = nxt;
  next.ts = TsPair{1001, 110};
  Frame fn = build_tcp(next);
  EXPECT_EQ(in(fn), InboundDecision::forward);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

// The backup keeps its server's suppressed outputs for replay at a takeover, unless the
// client already acknowledged them (it got the primary's copy): those are never needed.
TEST_F(AckSynthesisTest, ClientHasOutputTheClientAcknowledged) {
  TcpSpec c;
  const Handshake h;
  established(c, h);
  TcpSpec a = c;
  a.seq = h.client_isn + 1;
  a.ack = h.primary_isn + 1 + 100;  // the client has 100 bytes from the primary
  Frame fa = build_tcp(a);
  ASSERT_EQ(in(fa), InboundDecision::forward);
  auto out = [&](std::uint32_t off, std::size_t n, std::uint8_t flags) {
    TcpSpec o = c.reply();
    o.flags = flags;
    o.seq = h.backup_isn + 1 + off;
    o.ack = h.client_isn + 1;
    o.payload = payload(n);
    return parse(build_tcp(o));
  };
  EXPECT_TRUE(tr->client_has(out(0, 60, kAck | kPsh)));
  EXPECT_TRUE(tr->client_has(out(60, 40, kAck | kPsh)));   // ends exactly at the ack
  EXPECT_FALSE(tr->client_has(out(60, 41, kAck | kPsh)));  // one byte beyond
  EXPECT_FALSE(tr->client_has(out(100, 0, kAck | kFin)));  // the FIN is not acked yet
  TcpSpec other;                                           // no record
  other.src_port = 999;
  EXPECT_FALSE(tr->client_has(parse(build_tcp(other.reply()))));
}

// Found end to end: the client's last ACK (of the server's FIN) was queued behind another
// flow's held frame when the backup server's FIN came; a synthesized ACK closed the
// backup server's socket first, and the real ACK, released later, drew a RST.
TEST_F(AckSynthesisTest, NoSynthesizedAckOfTheFinWhileTheFlowHasQueuedFrames) {
  const Handshake h;
  TcpSpec a, c;
  a.src_port = 1;
  c.src_port = 2;
  established(a, h);
  established(c, h);
  TcpSpec fin = c;  // flow c: the client closes
  fin.flags = kFin | kAck;
  fin.seq = h.client_isn + 1;
  fin.ack = h.primary_isn + 1;
  Frame ff = build_tcp(fin);
  ASSERT_EQ(in(ff), InboundDecision::forward);
  TcpSpec ra = a;  // flow a: a request held on its ack
  ra.seq = h.client_isn + 1;
  ra.ack = h.primary_isn + 6;
  ra.payload = payload(7, 1);
  Frame fa = build_tcp(ra);
  ASSERT_EQ(in(fa), InboundDecision::hold);
  TcpSpec last = c;  // flow c: the ACK of the server's FIN, queued behind a's request
  last.seq = h.client_isn + 2;
  last.ack = h.primary_isn + 2;
  Frame fl = build_tcp(last);
  ASSERT_EQ(in(fl), InboundDecision::hold);
  TcpSpec sfin = c.reply();  // the backup server's FIN
  sfin.flags = kFin | kAck;
  sfin.seq = h.backup_isn + 1;
  sfin.ack = h.client_isn + 2;
  sfin.ts.reset();
  server(build_tcp(sfin));
  EXPECT_TRUE(drain().empty());  // no synthesized ACK: c's own ACK is still queued
  backup_sends(a, h.backup_isn + 1, 5, h.client_isn + 1);
  const auto got = drain();
  ASSERT_EQ(got.size(), 2u);  // a's request, then c's real ACK; nothing synthesized
  EXPECT_EQ(parse(got[1]).tcp.src_port, 2);
  EXPECT_EQ(parse(got[1]).tcp.ack, h.backup_isn + 2);
  EXPECT_EQ(tr->counters().acks_synthesized, 0u);
}

// --- the backup server's receive window ----------------------------------------------

// The client obeys the primary server's window only. Bytes beyond the backup server's
// window would be dropped by its kernel (TcpExtBeyondWindow) and never resent (the
// primary acked them): such a segment is held until the backup server's window opens.
class ReceiveWindowTest : public SeqTranslatorTest {
 protected:
  // A pure ACK from the backup server (nothing sent yet beyond its SYN) with `window`
  // (scaled by its wscale, as on the wire). Returns on_server_output's verdict.
  bool backup_ack(const TcpSpec& c2s, const Handshake& h, std::uint32_t ack, std::uint16_t window) {
    TcpSpec s = c2s.reply();
    s.flags = kAck;
    s.seq = h.backup_isn + 1;
    s.ack = ack;
    s.window = window;
    s.ts.reset();
    s.sack.clear();
    s.payload.clear();
    return server(build_tcp(s));
  }
  Frame data(const TcpSpec& c2s, const Handshake& h, std::uint32_t seq, std::size_t n, std::uint8_t seed) {
    TcpSpec a = c2s;
    a.seq = seq;
    a.ack = h.primary_isn + 1;
    a.payload = payload(n, seed);
    return build_tcp(a);
  }
};

TEST_F(ReceiveWindowTest, SynAckWindowUnscaledLaterWindowsScaledAndReleaseOnWindowUpdate) {
  TcpSpec c;
  const Handshake h;  // backup wscale 7; its SYN-ACK advertises 502 (unscaled)
  handshake(c, h);
  const std::uint32_t s0 = h.client_isn + 1;

  Frame f1 = data(c, h, s0, 502, 1);  // exactly up to the SYN-ACK's edge
  EXPECT_EQ(in(f1), InboundDecision::forward);
  Frame f2 = data(c, h, s0 + 502, 1, 2);  // one byte beyond it
  ASSERT_EQ(in(f2), InboundDecision::hold);
  EXPECT_EQ(tr->counters().window_holds, 1u);
  EXPECT_EQ(tr->counters().held_total, 1u);
  EXPECT_EQ(tr->counters().held_now, 1u);
  EXPECT_TRUE(drain().empty());

  // Zero window: the edge does not move, nothing is released.
  EXPECT_FALSE(backup_ack(c, h, s0 + 502, 0));
  EXPECT_TRUE(drain().empty());
  // Window update (its application read): 1 << 7 = 128 bytes.
  EXPECT_TRUE(backup_ack(c, h, s0 + 502, 1));
  auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  TcpSpec want = c;
  want.seq = s0 + 502;
  want.ack = h.backup_isn + 1;
  want.payload = payload(1, 2);
  EXPECT_EQ(got[0], build_tcp(want));
  EXPECT_TRUE(checksum_ok(got[0]));
  EXPECT_EQ(tr->counters().held_now, 0u);

  // Another flow, whose frame will queue behind a held one (global order).
  TcpSpec o = c;
  o.src_port = 40001;
  Handshake ho;
  ho.client_isn = 0x22222222;
  handshake(o, ho);
  // Edge now s0 + 502 + 128: unscaled (s0 + 503) the next 127 bytes would be held.
  Frame f3 = data(c, h, s0 + 503, 127, 3);
  EXPECT_EQ(in(f3), InboundDecision::forward);
  Frame f4 = data(c, h, s0 + 630, 1, 4);
  EXPECT_EQ(in(f4), InboundDecision::hold);
  EXPECT_EQ(tr->counters().window_holds, 2u);
  Frame fo = data(o, ho, ho.client_isn + 1, 10, 5);
  EXPECT_EQ(in(fo), InboundDecision::hold);
  EXPECT_TRUE(drain().empty());
  EXPECT_TRUE(backup_ack(c, h, s0 + 503, 1));  // read one more byte: the edge moves by 1
  got = drain();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(parse(got[0]).tcp.seq, s0 + 630);
  EXPECT_EQ(parse(got[1]).tcp.seq, ho.client_isn + 1);
  EXPECT_EQ(tr->counters().window_holds, 2u);  // the other flow's frame only queued behind
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

TEST_F(ReceiveWindowTest, PureAcksAndStaleRetransmissionsAreNeverHeldForTheWindow) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  const std::uint32_t s0 = h.client_isn + 1;
  Frame f1 = data(c, h, s0, 502, 1);
  EXPECT_EQ(in(f1), InboundDecision::forward);
  EXPECT_FALSE(backup_ack(c, h, s0 + 502, 0));
  Frame pure = data(c, h, s0 + 502, 0, 0);
  EXPECT_EQ(in(pure), InboundDecision::forward);
  Frame again = data(c, h, s0, 502, 1);  // a retransmission: the backup server has it
  EXPECT_EQ(in(again), InboundDecision::forward);
  EXPECT_EQ(tr->counters().window_holds, 0u);
}

TEST_F(ReceiveWindowTest, HoldTimeoutStillCountsDivergence) {
  TcpSpec c;
  const Handshake h;
  handshake(c, h);
  const std::uint32_t s0 = h.client_isn + 1;
  Frame f1 = data(c, h, s0, 502, 1);
  EXPECT_EQ(in(f1), InboundDecision::forward);
  EXPECT_FALSE(backup_ack(c, h, s0 + 502, 0));  // its application stopped reading
  Frame f2 = data(c, h, s0 + 502, 100, 2);
  ASSERT_EQ(in(f2), InboundDecision::hold);
  clock.advance(milliseconds(1999));
  EXPECT_TRUE(drain().empty());
  clock.advance(milliseconds(1));
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.seq, s0 + 502);
  EXPECT_EQ(tr->counters().hold_timeouts, 1u);
  EXPECT_EQ(tr->counters().flows_diverged, 1u);
  EXPECT_EQ(tr->counters().divergence(), 1u);
  EXPECT_EQ(tr->counters().window_holds, 1u);
  // A diverged flow is not held again.
  Frame f3 = data(c, h, s0 + 602, 100, 3);
  EXPECT_EQ(in(f3), InboundDecision::forward);
  EXPECT_EQ(tr->counters().window_holds, 1u);
}

TEST_F(ReceiveWindowTest, RightEdgeAcrossTheWrap) {
  TcpSpec c;
  Handshake h;
  h.client_isn = 0xFFFFFF00u;  // the SYN-ACK's edge 0xFFFFFF01 + 502 wraps
  handshake(c, h);
  const std::uint32_t s0 = h.client_isn + 1;
  Frame f1 = data(c, h, s0, 300, 1);  // ends at 0x2D, past the wrap, inside the window
  EXPECT_EQ(in(f1), InboundDecision::forward);
  Frame f2 = data(c, h, s0 + 300, 300, 2);  // ends 98 bytes beyond the edge
  ASSERT_EQ(in(f2), InboundDecision::hold);
  EXPECT_EQ(tr->counters().window_holds, 1u);
  // An ack before the wrap with a window that does not reach past the old edge.
  EXPECT_FALSE(backup_ack(c, h, s0 + 100, 3));  // 0xFFFFFF65 + 384: below the edge
  EXPECT_TRUE(drain().empty());
  EXPECT_TRUE(backup_ack(c, h, s0 + 300, 4));  // 0x2D + 512
  const auto got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(parse(got[0]).tcp.seq, s0 + 300);
  EXPECT_EQ(tr->counters().held_now, 0u);
  EXPECT_EQ(tr->counters().divergence(), 0u);
}

}  // namespace
}  // namespace ftproxy::tcp
