#include "ftproxy/replication/codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/replication/flow_meta.hpp"

namespace ftproxy::replication {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A decoded record copied out of the decoder's views, for comparisons.
struct Decoded {
  RecordType type{};
  std::uint64_t a = 0, b = 0;  // seq/epoch, time/seq...
  std::uint32_t kind = 0;
  std::string s1, s2;
  Bytes data;
  bool operator==(const Decoded&) const = default;
};

Decoded copy(const Record& r) {
  Decoded d;
  d.type = r.type;
  switch (r.type) {
    case RecordType::hello:
      d.a = r.hello.epoch;
      d.b = r.hello.seq;
      d.kind = static_cast<std::uint32_t>(r.hello.role) * 1000 + r.hello.version;
      d.s1 = std::string(r.hello.cluster);
      d.s2 = std::string(r.hello.node);
      break;
    case RecordType::entry:
      d.a = r.entry.seq;
      d.b = r.entry.time_ns;
      d.kind = static_cast<std::uint32_t>(r.entry.kind);
      d.data.assign(r.entry.data.begin(), r.entry.data.end());
      break;
    case RecordType::ack:
      d.a = r.ack_seq;
      break;
    case RecordType::heartbeat:
      d.a = r.heartbeat.time_ns;
      d.b = r.heartbeat.last_seq;
      break;
    case RecordType::auth:
      d.data.assign(r.auth_proof.begin(), r.auth_proof.end());
      break;
  }
  return d;
}

// Feeds `stream` cut at the given chunk sizes (cycled) and collects the records.
std::vector<Decoded> decode_chunks(const Bytes& stream, const std::vector<std::size_t>& cuts,
                                   DecoderLimits limits = {}) {
  LogDecoder dec(limits);
  std::vector<Decoded> out;
  std::size_t pos = 0, i = 0;
  while (pos < stream.size()) {
    const std::size_t n = std::min(cuts[i++ % cuts.size()], stream.size() - pos);
    // A copy per chunk: views must not depend on the caller keeping older chunks.
    Bytes chunk(stream.begin() + static_cast<long>(pos), stream.begin() + static_cast<long>(pos + n));
    EXPECT_TRUE(dec.feed(chunk));
    Record r;
    DecodeStatus st;
    while ((st = dec.next(r)) == DecodeStatus::record) out.push_back(copy(r));
    EXPECT_EQ(st, DecodeStatus::need_more) << to_string(dec.error());
    EXPECT_LE(dec.buffered(), dec.capacity());
    pos += n;
  }
  EXPECT_EQ(dec.buffered(), 0u);
  return out;
}

Bytes sample_stream(std::mt19937& rng, std::size_t records, std::vector<Decoded>* expected) {
  Bytes buf(records * (kHeaderSize + kEntryFixedSize + 2000) + 1024);
  LogEncoder enc(buf);
  Hello h;
  h.role = PeerRole::primary;
  h.epoch = 42;
  h.seq = 7;
  h.cluster = "cluster-a";
  h.node = "node-1";
  EXPECT_TRUE(enc.append_hello(h));
  if (expected)
    expected->push_back({RecordType::hello, 42, 7, 1000u + kProtocolVersion, "cluster-a", "node-1", {}});
  for (std::size_t i = 0; i < records; ++i) {
    const auto pick = rng() % 4;
    if (pick == 0) {
      const std::uint64_t seq = rng();
      EXPECT_TRUE(enc.append_ack(seq));
      if (expected) expected->push_back({RecordType::ack, seq, 0, 0, {}, {}, {}});
    } else if (pick == 1) {
      const Heartbeat hb{rng(), rng()};
      EXPECT_TRUE(enc.append_heartbeat(hb));
      if (expected) expected->push_back({RecordType::heartbeat, hb.time_ns, hb.last_seq, 0, {}, {}, {}});
    } else {
      Bytes data(rng() % 2000);
      for (auto& b : data) b = static_cast<std::uint8_t>(rng());
      const auto kind = static_cast<EntryKind>(1 + rng() % 3);
      const std::uint64_t seq = i + 1, t = rng();
      EXPECT_TRUE(enc.append_entry(seq, kind, t, data));
      if (expected) {
        expected->push_back({RecordType::entry, seq, t, static_cast<std::uint32_t>(kind), {}, {}, data});
      }
    }
  }
  buf.resize(enc.size());
  return buf;
}

TEST(Codec, RoundTripEveryRecordType) {
  Bytes buf(4096);
  LogEncoder enc(buf);
  Hello h;
  h.role = PeerRole::backup;
  h.epoch = 0xfedcba9876543210ull;
  h.seq = 123456789;
  const std::string cluster64(64, 'c');
  h.cluster = cluster64;
  h.node = "";
  ASSERT_TRUE(enc.append_hello(h));
  const Bytes frame = {1, 2, 3, 4, 5};
  ASSERT_TRUE(enc.append_entry(1, EntryKind::inbound_frame, 111, frame));
  ASSERT_TRUE(enc.append_entry(2, EntryKind::flow_meta, 222, frame));
  ASSERT_TRUE(enc.append_entry(3, EntryKind::output_digest, 333, {}));
  ASSERT_TRUE(enc.append_ack(~0ull));
  ASSERT_TRUE(enc.append_heartbeat({99, 3}));
  EXPECT_EQ(enc.size(), hello_record_size(h) + 2 * entry_record_size(5) + entry_record_size(0) +
                            kAckRecordSize + kHeartbeatRecordSize);

  LogDecoder dec;
  ASSERT_TRUE(dec.feed(enc.written()));
  Record r;
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.type, RecordType::hello);
  EXPECT_EQ(r.hello.version, kProtocolVersion);
  EXPECT_EQ(r.hello.role, PeerRole::backup);
  EXPECT_EQ(r.hello.epoch, h.epoch);
  EXPECT_EQ(r.hello.seq, h.seq);
  EXPECT_EQ(r.hello.cluster, h.cluster);
  EXPECT_EQ(r.hello.node, "");
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_EQ(dec.next(r), DecodeStatus::record);
    EXPECT_EQ(r.type, RecordType::entry);
    EXPECT_EQ(r.entry.seq, seq);
    EXPECT_EQ(r.entry.time_ns, seq * 111);
    EXPECT_EQ(r.entry.kind, static_cast<EntryKind>(seq));
    EXPECT_EQ(Bytes(r.entry.data.begin(), r.entry.data.end()), seq < 3 ? frame : Bytes{});
    // A record lying whole in the chunk is not copied.
    EXPECT_GE(r.payload.data(), enc.written().data());
    EXPECT_LT(r.payload.data(), enc.written().data() + enc.size());
  }
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.type, RecordType::ack);
  EXPECT_EQ(r.ack_seq, ~0ull);
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.type, RecordType::heartbeat);
  EXPECT_EQ(r.heartbeat.time_ns, 99u);
  EXPECT_EQ(r.heartbeat.last_seq, 3u);
  EXPECT_EQ(dec.next(r), DecodeStatus::need_more);
}

TEST(Codec, WireLayoutIsBigEndianWithMagic) {
  Bytes buf(64);
  ASSERT_EQ(encode_ack(buf, 0x0102030405060708ull), 16u);
  const Bytes expect = {0x46, 0x54, 3, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 16), expect);
}

TEST(Codec, EncoderRefusesWhatDoesNotFitAndInvalidHello) {
  Bytes buf(kAckRecordSize + 3);
  LogEncoder enc(buf);
  EXPECT_TRUE(enc.append_ack(1));
  EXPECT_FALSE(enc.append_ack(2));
  EXPECT_EQ(enc.size(), kAckRecordSize);  // nothing partial was written
  EXPECT_FALSE(enc.append_raw(Bytes(4)));
  EXPECT_TRUE(enc.append_raw(Bytes(3)));

  Bytes big(512);
  Hello h;
  h.cluster = "";
  EXPECT_EQ(encode_hello(big, h), 0u);
  const std::string name65(65, 'x');
  h.cluster = name65;
  EXPECT_EQ(encode_hello(big, h), 0u);
  h.cluster = "ok";
  h.node = name65;
  EXPECT_EQ(encode_hello(big, h), 0u);
  h.node = "n";
  EXPECT_EQ(encode_hello(std::span<std::uint8_t>(big).first(10), h), 0u);
  EXPECT_EQ(encode_hello(big, h), hello_record_size(h));
  EXPECT_EQ(encode_entry(std::span<std::uint8_t>(big).first(entry_record_size(4) - 1), 1,
                         EntryKind::inbound_frame, 0, Bytes(4)),
            0u);
}

TEST(Codec, ByteByByteAndRandomSplitsGiveTheSameRecords) {
  std::mt19937 rng(12345);
  std::vector<Decoded> expected;
  const Bytes stream = sample_stream(rng, 300, &expected);
  EXPECT_EQ(decode_chunks(stream, {stream.size()}), expected);
  EXPECT_EQ(decode_chunks(stream, {1}), expected);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::size_t> cuts(50);
    for (auto& c : cuts) c = 1 + rng() % (round % 2 ? 64 : 5000);
    EXPECT_EQ(decode_chunks(stream, cuts), expected) << "round " << round;
  }
}

TEST(Codec, FeedRefusedUntilPreviousChunkConsumed) {
  Bytes buf(64);
  LogEncoder enc(buf);
  ASSERT_TRUE(enc.append_ack(1));
  ASSERT_TRUE(enc.append_ack(2));
  LogDecoder dec;
  ASSERT_TRUE(dec.feed(enc.written()));
  Record r;
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_FALSE(dec.feed(enc.written()));  // one record still unread
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.ack_seq, 2u);
  EXPECT_EQ(dec.next(r), DecodeStatus::need_more);
  EXPECT_TRUE(dec.feed(enc.written()));
}

Bytes header(std::uint16_t magic, std::uint8_t type, std::uint8_t flags, std::uint32_t len) {
  Bytes h(kHeaderSize);
  store_be16(h.data(), magic);
  h[2] = type;
  h[3] = flags;
  store_be32(h.data() + 4, len);
  return h;
}

Bytes record(RecordType type, const Bytes& payload) {
  Bytes r = header(kMagic, static_cast<std::uint8_t>(type), 0, static_cast<std::uint32_t>(payload.size()));
  r.insert(r.end(), payload.begin(), payload.end());
  return r;
}

Bytes hello_bytes(PeerRole role, std::string_view cluster, std::uint64_t epoch,
                  std::uint16_t version = kProtocolVersion) {
  Hello h;
  h.role = role;
  h.cluster = cluster;
  h.epoch = epoch;
  h.node = "n";
  Bytes b(hello_record_size(h));
  EXPECT_EQ(encode_hello(b, h), b.size());
  store_be16(b.data() + kHeaderSize, version);
  return b;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

DecodeError decode_error_of(const Bytes& stream, const HelloExpectation* expect = nullptr) {
  LogDecoder dec(DecoderLimits{1024});
  if (expect) {
    EXPECT_TRUE(dec.expect_hello(*expect));
  }
  EXPECT_TRUE(dec.feed(stream));
  Record r;
  DecodeStatus st;
  while ((st = dec.next(r)) == DecodeStatus::record) {
  }
  if (st == DecodeStatus::error) {
    // The error is sticky: nothing more is accepted.
    EXPECT_FALSE(dec.feed(stream));
    EXPECT_EQ(dec.next(r), DecodeStatus::error);
    EXPECT_EQ(dec.buffered(), 0u);
  }
  return dec.error();
}

TEST(Codec, EveryDecodeErrorIsReachable) {
  HelloExpectation want;
  want.cluster = "prod";
  want.epoch = 5;
  want.role = PeerRole::primary;
  const Bytes good_hello = hello_bytes(PeerRole::primary, "prod", 5);
  Bytes bad_role = good_hello;
  bad_role[kHeaderSize + 2] = 9;
  Bytes zero_cluster = good_hello;
  zero_cluster[kHeaderSize + kHelloFixedSize] = 0;
  Bytes hello_trailing = good_hello;
  hello_trailing.push_back(0);
  store_be32(hello_trailing.data() + 4, static_cast<std::uint32_t>(hello_trailing.size() - kHeaderSize));

  struct Case {
    DecodeError want;
    Bytes stream;
    bool with_expectation;
  };
  Bytes entry_payload(kEntryFixedSize);
  entry_payload[16] = 9;
  const std::vector<Case> cases = {
      {DecodeError::bad_magic, header(0x1234, 2, 0, 0), false},
      {DecodeError::bad_type, header(kMagic, 0, 0, 0), false},
      {DecodeError::bad_type, header(kMagic, 6, 0, 0), false},
      {DecodeError::bad_flags, header(kMagic, 3, 0x80, 8), false},
      {DecodeError::oversize_length, header(kMagic, 2, 0, 1025), false},
      {DecodeError::truncated_field, record(RecordType::entry, Bytes(16)), false},
      {DecodeError::truncated_field, record(RecordType::ack, Bytes(7)), false},
      {DecodeError::truncated_field, record(RecordType::heartbeat, Bytes(15)), false},
      {DecodeError::truncated_field,
       record(RecordType::hello, Bytes(good_hello.begin() + kHeaderSize, good_hello.end() - 2)), false},
      {DecodeError::truncated_field, record(RecordType::hello, Bytes(kHelloFixedSize - 1)), false},
      {DecodeError::bad_length, record(RecordType::ack, Bytes(9)), false},
      {DecodeError::bad_length, record(RecordType::heartbeat, Bytes(17)), false},
      {DecodeError::bad_length, hello_trailing, false},
      {DecodeError::bad_hello, bad_role, false},
      {DecodeError::bad_hello, zero_cluster, false},
      {DecodeError::unsupported_version, hello_bytes(PeerRole::primary, "prod", 5, 1), false},  // v1 peer
      {DecodeError::unsupported_version, hello_bytes(PeerRole::primary, "prod", 5, 2),
       false},  // v2: HMAC tags
      {DecodeError::unsupported_version, hello_bytes(PeerRole::primary, "prod", 5, kProtocolVersion + 1),
       false},
      {DecodeError::wrong_cluster, hello_bytes(PeerRole::primary, "test", 5), true},
      {DecodeError::wrong_epoch, hello_bytes(PeerRole::primary, "prod", 4), true},
      {DecodeError::wrong_role, hello_bytes(PeerRole::backup, "prod", 5), true},
      {DecodeError::bad_entry_kind, record(RecordType::entry, entry_payload), false},
      {DecodeError::missing_hello, record(RecordType::ack, Bytes(8)), true},
      {DecodeError::unexpected_hello, concat(good_hello, good_hello), true},
      {DecodeError::unexpected_hello, concat(good_hello, good_hello), false},
  };
  std::set<DecodeError> seen;
  for (const auto& c : cases) {
    EXPECT_EQ(decode_error_of(c.stream, c.with_expectation ? &want : nullptr), c.want) << to_string(c.want);
    seen.insert(c.want);
  }
  seen.insert(DecodeError::bad_mac);  // needs an authenticator: Codec.TaggedRecords*
  for (std::size_t e = 1; e < kDecodeErrorCount; ++e) {
    EXPECT_TRUE(seen.count(static_cast<DecodeError>(e))) << to_string(static_cast<DecodeError>(e));
  }
  // The good HELLO passes the expectation, and an epoch-agnostic expectation accepts any.
  EXPECT_EQ(decode_error_of(good_hello, &want), DecodeError::none);
  want.check_epoch = false;
  EXPECT_EQ(decode_error_of(hello_bytes(PeerRole::primary, "prod", 77), &want), DecodeError::none);
}

TEST(Codec, DecodeErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (std::size_t e = 0; e < kDecodeErrorCount; ++e) {
    const std::string n = to_string(static_cast<DecodeError>(e));
    EXPECT_NE(n, "unknown");
    names.insert(n);
  }
  EXPECT_EQ(names.size(), kDecodeErrorCount);
  EXPECT_STREQ(to_string(static_cast<DecodeError>(kDecodeErrorCount)), "unknown");
}

TEST(Codec, HugeLengthNeverGrowsMemory) {
  LogDecoder dec;  // default limit
  const std::size_t cap = dec.capacity();
  EXPECT_EQ(cap, kHeaderSize + kEntryFixedSize + kDefaultMaxEntryData + kTagSize);
  // A length just at the limit is buffered (within capacity) until complete.
  Bytes ok = header(kMagic, 2, 0, static_cast<std::uint32_t>(kEntryFixedSize + kDefaultMaxEntryData));
  ok.resize(ok.size() + kEntryFixedSize + kDefaultMaxEntryData, 0);
  ok[kHeaderSize + 16] = 1;
  Record r;
  for (std::size_t pos = 0; pos < ok.size(); pos += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, ok.size() - pos);
    ASSERT_TRUE(dec.feed(std::span<const std::uint8_t>(ok).subspan(pos, n)));
    const auto st = dec.next(r);
    if (pos + n < ok.size()) {
      ASSERT_EQ(st, DecodeStatus::need_more);
      EXPECT_LE(dec.buffered(), cap);
    } else {
      ASSERT_EQ(st, DecodeStatus::record);
      EXPECT_EQ(r.entry.data.size(), kDefaultMaxEntryData);
    }
  }
  // One byte more is refused from the header alone, before any payload is taken.
  LogDecoder dec2;
  Bytes huge = header(kMagic, 2, 0, 0xffffffffu);
  huge.resize(64 * 1024, 0xab);
  ASSERT_TRUE(dec2.feed(std::span<const std::uint8_t>(huge).first(4)));
  EXPECT_EQ(dec2.next(r), DecodeStatus::need_more);
  ASSERT_TRUE(dec2.feed(std::span<const std::uint8_t>(huge).subspan(4)));
  EXPECT_EQ(dec2.next(r), DecodeStatus::error);
  EXPECT_EQ(dec2.error(), DecodeError::oversize_length);
  EXPECT_EQ(dec2.buffered(), 0u);
  EXPECT_EQ(dec2.capacity(), cap);
}

TEST(Codec, ResetClearsErrorAndHello) {
  HelloExpectation want;
  want.cluster = "prod";
  want.epoch = 5;
  LogDecoder dec;
  ASSERT_TRUE(dec.expect_hello(want));
  const Bytes bad = header(0, 0, 0, 0);
  ASSERT_TRUE(dec.feed(bad));
  Record r;
  EXPECT_EQ(dec.next(r), DecodeStatus::error);
  dec.reset();
  const Bytes hello = hello_bytes(PeerRole::primary, "prod", 5);
  ASSERT_TRUE(dec.feed(hello));
  EXPECT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_TRUE(dec.hello_seen());
  HelloExpectation too_long;
  const std::string name65(65, 'x');
  too_long.cluster = name65;
  EXPECT_FALSE(dec.expect_hello(too_long));
}

TEST(FlowMeta, RoundTripIpv4AndIpv6) {
  FlowMeta m4;
  m4.family = 4;
  m4.vlan = 100;
  m4.client_ip = {10, 0, 0, 1};
  m4.server_ip = {10, 0, 0, 2};
  m4.client_port = 40000;
  m4.server_port = 6379;
  m4.server_isn = 0xdeadbeef;
  m4.client_isn = 0x01020304;
  m4.server_tsval = 0xfffffff0;
  m4.server_mss = 1460;
  m4.server_wscale = 7;
  m4.flags = FlowMeta::kHasTimestamp | FlowMeta::kHasWscale | FlowMeta::kHasMss;
  FlowMeta m6 = m4;
  m6.family = 6;
  for (std::size_t i = 0; i < 16; ++i) {
    m6.client_ip[i] = static_cast<std::uint8_t>(0x20 + i);
    m6.server_ip[i] = static_cast<std::uint8_t>(0x80 + i);
  }
  m6.flags = 0;
  for (const FlowMeta& m : {m4, m6}) {
    Bytes buf(kFlowMetaSize + 10);
    ASSERT_EQ(encode_flow_meta(buf, m), kFlowMetaSize);
    FlowMeta back;
    ASSERT_TRUE(decode_flow_meta(std::span<const std::uint8_t>(buf).first(kFlowMetaSize), back));
    EXPECT_EQ(back, m);
    EXPECT_EQ(back.has_timestamp(), m.family == 4);
  }
}

TEST(FlowMeta, RejectsMalformed) {
  FlowMeta m;
  m.client_ip = {192, 168, 1, 1};
  Bytes buf(kFlowMetaSize);
  ASSERT_EQ(encode_flow_meta(buf, m), kFlowMetaSize);
  FlowMeta out;
  EXPECT_FALSE(decode_flow_meta(std::span<const std::uint8_t>(buf).first(kFlowMetaSize - 1), out));
  auto mutated = [&](std::size_t at, std::uint8_t v) {
    Bytes b = buf;
    b[at] = v;
    return decode_flow_meta(b, out);
  };
  EXPECT_TRUE(mutated(0, kFlowMetaVersion));
  EXPECT_FALSE(mutated(0, 2));       // version
  EXPECT_FALSE(mutated(1, 5));       // family
  EXPECT_FALSE(mutated(3, 0x08));    // unknown flag
  EXPECT_FALSE(mutated(57, 1));      // reserved
  EXPECT_FALSE(mutated(10 + 5, 1));  // IPv4 with bytes past the first four
  EXPECT_EQ(encode_flow_meta(std::span<std::uint8_t>(buf).first(kFlowMetaSize - 1), m), 0u);
  m.family = 7;
  EXPECT_EQ(encode_flow_meta(buf, m), 0u);
}

}  // namespace
}  // namespace ftproxy::replication

namespace ftproxy::replication {
namespace {

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return b;
}

TEST(Codec, AuthenticatedHelloAndAuthRoundTrip) {
  const Bytes nonce = pattern(kNonceSize, 1);
  const Bytes proof = pattern(kProofSize, 2);
  Hello p;
  p.role = PeerRole::primary;
  p.cluster = "prod";
  p.node = "p1";
  p.auth = AuthMode::psk;
  p.nonce = nonce;
  Hello b = p;
  b.role = PeerRole::backup;
  b.proof = proof;
  Bytes buf(1024);
  LogEncoder enc(buf);
  ASSERT_TRUE(enc.append_hello(p));
  EXPECT_EQ(enc.size(), hello_record_size(p));
  ASSERT_TRUE(enc.append_auth(proof));
  LogEncoder enc_b(std::span<std::uint8_t>(buf).subspan(enc.size()));
  ASSERT_TRUE(enc_b.append_hello(b));

  // Each direction decoded on its own (one HELLO per stream).
  LogDecoder dec;
  ASSERT_TRUE(dec.feed(enc.written()));
  Record r;
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.hello.auth, AuthMode::psk);
  EXPECT_EQ(Bytes(r.hello.nonce.begin(), r.hello.nonce.end()), nonce);
  EXPECT_TRUE(r.hello.proof.empty());
  ASSERT_EQ(dec.next(r), DecodeStatus::record);
  EXPECT_EQ(r.type, RecordType::auth);
  EXPECT_EQ(Bytes(r.auth_proof.begin(), r.auth_proof.end()), proof);
  LogDecoder dec_b;
  ASSERT_TRUE(dec_b.feed(enc_b.written()));
  ASSERT_EQ(dec_b.next(r), DecodeStatus::record);
  EXPECT_EQ(r.hello.role, PeerRole::backup);
  EXPECT_EQ(Bytes(r.hello.proof.begin(), r.hello.proof.end()), proof);
  EXPECT_EQ(Bytes(r.hello.nonce.begin(), r.hello.nonce.end()), nonce);

  // The encoder refuses a HELLO whose nonce/proof do not match its auth mode and role.
  Hello bad = p;
  bad.proof = proof;  // a primary sends no proof
  EXPECT_EQ(encode_hello(buf, bad), 0u);
  bad = b;
  bad.proof = {};
  EXPECT_EQ(encode_hello(buf, bad), 0u);
  bad = p;
  bad.auth = AuthMode::none;  // a nonce without auth
  EXPECT_EQ(encode_hello(buf, bad), 0u);
  EXPECT_EQ(encode_auth(buf, Bytes(kProofSize - 1)), 0u);
}

TEST(Codec, MalformedAuthFieldsAreRefused) {
  const Bytes nonce = pattern(kNonceSize, 1);
  Hello p;
  p.role = PeerRole::primary;
  p.cluster = "prod";
  p.auth = AuthMode::psk;
  p.nonce = nonce;
  Bytes good(hello_record_size(p));
  ASSERT_EQ(encode_hello(good, p), good.size());
  Bytes unknown_mode = good;
  unknown_mode[kHeaderSize + 3] = 2;
  EXPECT_EQ(decode_error_of(unknown_mode), DecodeError::bad_hello);
  Bytes short_nonce(good.begin(), good.end() - 1);
  store_be32(short_nonce.data() + 4, static_cast<std::uint32_t>(short_nonce.size() - kHeaderSize));
  EXPECT_EQ(decode_error_of(short_nonce), DecodeError::truncated_field);
  Bytes no_auth_but_nonce = good;  // auth byte says none, nonce bytes follow
  no_auth_but_nonce[kHeaderSize + 3] = 0;
  EXPECT_EQ(decode_error_of(no_auth_but_nonce), DecodeError::bad_length);
  EXPECT_EQ(decode_error_of(record(RecordType::auth, Bytes(kProofSize - 1))), DecodeError::truncated_field);
  EXPECT_EQ(decode_error_of(record(RecordType::auth, Bytes(kProofSize + 1))), DecodeError::bad_length);
}

// Accepts a tag equal to (counter, first 15 header+payload bytes' sum...): a stand-in
// for RecordMac that lets the codec test stay free of crypto.
struct CountingAuthenticator final : RecordAuthenticator {
  std::uint64_t counter = 0;
  static Bytes tag_for(std::span<const std::uint8_t> rec, std::uint64_t ctr) {
    Bytes t(kTagSize, 0);
    store_be64(t.data(), ctr);
    std::uint64_t sum = 0;
    for (auto b : rec) sum = sum * 31 + b;
    store_be64(t.data() + 8, sum);
    return t;
  }
  bool verify(std::span<const std::uint8_t> rec, std::span<const std::uint8_t> tag) noexcept override {
    const Bytes want = tag_for(rec, counter++);
    return tag.size() == kTagSize && std::equal(want.begin(), want.end(), tag.begin());
  }
};

Bytes tagged(const Bytes& rec, std::uint64_t ctr) {
  return concat(rec, CountingAuthenticator::tag_for(rec, ctr));
}

Bytes ack_bytes(std::uint64_t seq) {
  Bytes b(kAckRecordSize);
  encode_ack(b, seq);
  return b;
}

TEST(Codec, TaggedRecordsDecodeInAnyChunkingAndForgeriesAreRefused) {
  // A stream: two untagged ACKs, then (authenticator set after the second) tagged ones.
  Bytes stream = concat(ack_bytes(1), ack_bytes(2));
  for (std::uint64_t i = 0; i < 5; ++i) stream = concat(stream, tagged(ack_bytes(10 + i), i));
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{16}, std::size_t{1000}}) {
    CountingAuthenticator a;
    LogDecoder dec(DecoderLimits{64});
    std::vector<std::uint64_t> acks;
    Record r;
    for (std::size_t pos = 0; pos < stream.size(); pos += cut) {
      ASSERT_TRUE(
          dec.feed(std::span<const std::uint8_t>(stream).subspan(pos, std::min(cut, stream.size() - pos))));
      while (dec.next(r) == DecodeStatus::record) {
        acks.push_back(r.ack_seq);
        if (r.ack_seq == 2) dec.set_authenticator(&a);
      }
      ASSERT_EQ(dec.error(), DecodeError::none) << "cut " << cut;
    }
    EXPECT_EQ(acks, (std::vector<std::uint64_t>{1, 2, 10, 11, 12, 13, 14})) << "cut " << cut;
  }

  const auto error_of = [](const Bytes& s) {
    CountingAuthenticator a;
    LogDecoder dec(DecoderLimits{64});
    dec.set_authenticator(&a);
    dec.feed(s);
    Record r;
    while (dec.next(r) == DecodeStatus::record) {
    }
    return dec.error();
  };
  const Bytes good = concat(tagged(ack_bytes(1), 0), tagged(ack_bytes(2), 1));
  EXPECT_EQ(error_of(good), DecodeError::none);
  Bytes flipped = good;
  flipped[kHeaderSize + 3] ^= 1;  // payload byte of the first record
  EXPECT_EQ(error_of(flipped), DecodeError::bad_mac);
  Bytes replayed = concat(good, tagged(ack_bytes(2), 1));  // record 1 again
  EXPECT_EQ(error_of(replayed), DecodeError::bad_mac);
  const Bytes reordered = concat(tagged(ack_bytes(2), 1), tagged(ack_bytes(1), 0));
  EXPECT_EQ(error_of(reordered), DecodeError::bad_mac);
  const Bytes untagged = ack_bytes(1);  // its 16 bytes are taken as the tag... of nothing
  EXPECT_EQ(error_of(concat(untagged, untagged)), DecodeError::bad_mac);
  // reset() (a new connection) turns tags off.
  CountingAuthenticator a;
  LogDecoder dec(DecoderLimits{64});
  dec.set_authenticator(&a);
  dec.reset();
  const Bytes plain = ack_bytes(5);
  dec.feed(plain);
  Record r;
  EXPECT_EQ(dec.next(r), DecodeStatus::record);
}

}  // namespace
}  // namespace ftproxy::replication
