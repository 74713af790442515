#include "ftproxy/packet/checksum.hpp"

#include <gtest/gtest.h>

#include <random>

#include "test_frames.hpp"

namespace ftproxy::packet {
namespace {

using test::append32;
using test::Bytes;
using test::cat;
using test::eth;
using test::get16;
using test::get32;
using test::ipv4;
using test::ipv6;
using test::put16;
using test::tcp;
using test::udp;

std::uint16_t fold(std::uint32_t s) {
  while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: the one's complement sum of these bytes is ddf2.
  const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(fold(checksum_add(b)), 0xddf2);
  EXPECT_EQ(internet_checksum(b), 0x220d);
  EXPECT_EQ(checksum_finish(0x1ddf1), 0x220d);  // folds before complementing
  // Summing in two even-length chunks gives the same result.
  EXPECT_EQ(checksum_finish(checksum_add(std::span(b).subspan(4), checksum_add(std::span(b).first(4)))),
            0x220d);
}

TEST(Checksum, OddLengthIsZeroPadded) {
  EXPECT_EQ(fold(checksum_add(Bytes{0x01})), 0x0100);
  EXPECT_EQ(fold(checksum_add(Bytes{0x12, 0x34, 0x56})), 0x1234 + 0x5600);
  EXPECT_EQ(internet_checksum(Bytes{}), 0xFFFF);
}

TEST(Checksum, Ipv4HeaderVector) {
  // A well-known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) with checksum b861.
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(internet_checksum(h), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  EXPECT_EQ(internet_checksum(h), 0);
}

TEST(Checksum, Rfc1624Example) {
  // RFC 1624 section 4: eqn. 3 yields 0x0000 where eqn. 2 would give 0xFFFF.
  EXPECT_EQ(checksum_update16(0xDD2F, 0x5555, 0x3285), 0x0000);
  EXPECT_EQ(checksum_update32(0xDD2F, 0x55550000, 0x32850000), 0x0000);
  EXPECT_EQ(checksum_update16(0x1234, 0xABCD, 0xABCD), 0x1234);
}

TEST(Checksum, UpdateMatchesRecomputeOnRandomData) {
  std::mt19937 rng(1);
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b(2 + 2 * (rng() % 40));
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    const std::uint16_t before = internet_checksum(b);
    const std::size_t w = 2 * (rng() % (b.size() / 2));
    const std::uint16_t old16 = get16(b, w);
    const std::uint16_t new16 = static_cast<std::uint16_t>(rng());
    put16(b, w, new16);
    ASSERT_EQ(checksum_update16(before, old16, new16), internet_checksum(b)) << iter;
    if (b.size() >= 4 && w + 4 <= b.size()) {
      const std::uint16_t c = internet_checksum(b);
      const std::uint32_t old32 = get32(b, w);
      const std::uint32_t new32 = static_cast<std::uint32_t>(rng());
      put16(b, w, static_cast<std::uint16_t>(new32 >> 16));
      put16(b, w + 2, static_cast<std::uint16_t>(new32));
      ASSERT_EQ(checksum_update32(c, old32, new32), internet_checksum(b)) << iter;
    }
  }
}

struct TcpCase {
  Bytes frame;
  std::size_t l3, l4, l4_len;
};

// A random TCP frame (IPv4 or IPv6, optional VLAN, random options and payload) with a
// correct checksum from the reference implementation.
TcpCase random_tcp(std::mt19937& rng) {
  Bytes opts;
  switch (rng() % 3) {
    case 0:
      opts = {1, 1, 8, 10};
      break;  // aligned timestamp
    case 1:
      opts = {3, 3, 7, 8, 10};
      break;  // odd-aligned timestamp after wscale
    default:
      opts = {8, 10};
      break;
  }
  for (int i = 0; i < 8; ++i) opts.push_back(static_cast<std::uint8_t>(rng()));
  opts.insert(opts.end(), {1, 1, 5, 18});
  for (int i = 0; i < 16; ++i) opts.push_back(static_cast<std::uint8_t>(rng()));
  Bytes seg = tcp(static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng()), kTcpAck, opts,
                  static_cast<std::uint16_t>(rng()), static_cast<std::uint16_t>(rng()));
  const std::size_t payload = rng() % 64;
  for (std::size_t i = 0; i < payload; ++i) seg.push_back(static_cast<std::uint8_t>(rng()));
  const bool vlan = rng() % 2 == 0;
  const bool v6 = rng() % 2 == 0;
  Bytes l2 = vlan ? eth(v6 ? kEtherTypeIpv6 : kEtherTypeIpv4, {{kEtherTypeVlan, 42}})
                  : eth(v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
  Bytes l3 = v6 ? ipv6(kIpProtoTcp, seg) : ipv4(kIpProtoTcp, seg);
  if (!v6) {
    for (std::size_t i = 12; i < 20; ++i) l3[i] = static_cast<std::uint8_t>(rng());
    put16(l3, 10, 0);
    put16(l3, 10, internet_checksum(std::span(l3).first(20)));
  } else {
    for (std::size_t i = 8; i < 40; ++i) l3[i] = static_cast<std::uint8_t>(rng());
  }
  TcpCase c{cat({l2, l3}), l2.size(), l2.size() + (v6 ? 40 : 20), seg.size()};
  put16(c.frame, c.l4 + 16,
        test::reference_l4_checksum(c.frame, c.l3, c.l4, c.l4_len, c.l4 + 16, kIpProtoTcp));
  return c;
}

// Property: after any sequence of in-place 32-bit rewrites (seq, ack, TSval, TSecr, SACK
// edges) with incremental checksum updates, the checksum equals a full recomputation.
TEST(Checksum, IncrementalRewriteEqualsRecomputation) {
  std::mt19937 rng(20240601);
  for (int iter = 0; iter < 3000; ++iter) {
    TcpCase c = random_tcp(rng);
    ParsedFrame f;
    ASSERT_EQ(parse_frame(c.frame, f), ParseStatus::ok);
    ASSERT_EQ(f.l4, L4Kind::tcp);
    ASSERT_TRUE(f.tcp.opt.has_timestamp);
    ASSERT_EQ(f.tcp.opt.sack_blocks, 2);
    ASSERT_TRUE(l4_checksum_ok(c.frame, f));
    ASSERT_EQ(compute_l4_checksum(c.frame, f), get16(c.frame, c.l4 + 16));
    const std::size_t csum = l4_checksum_offset(f);
    ASSERT_EQ(csum, c.l4 + 16);
    const std::size_t fields[] = {c.l4 + 4u,
                                  c.l4 + 8u,
                                  f.tcp.opt.ts_offset,
                                  f.tcp.opt.ts_offset + 4u,
                                  f.tcp.opt.sack_offset,
                                  f.tcp.opt.sack_offset + 4u,
                                  f.tcp.opt.sack_offset + 8u,
                                  f.tcp.opt.sack_offset + 12u};
    const int rewrites = 1 + static_cast<int>(rng() % 6);
    for (int r = 0; r < rewrites; ++r) {
      const std::size_t off = fields[rng() % std::size(fields)];
      const std::uint32_t v = get32(c.frame, off) + static_cast<std::uint32_t>(rng());
      rewrite32_with_checksum(c.frame, off, csum, v);
      ASSERT_EQ(get32(c.frame, off), v);
    }
    const std::uint16_t want =
        test::reference_l4_checksum(c.frame, c.l3, c.l4, c.l4_len, c.l4 + 16, kIpProtoTcp);
    ASSERT_EQ(get16(c.frame, csum), want) << "iteration " << iter;
    ASSERT_TRUE(l4_checksum_ok(c.frame, f));
  }
}

TEST(Checksum, OddAlignedFieldAtFrameEnd) {
  // A 32-bit field ending on the last byte of an odd-aligned region: the pad byte after
  // it is outside the frame and must not be read.
  Bytes b = {0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
  put16(b, 0, internet_checksum(b));
  rewrite32_with_checksum(b, 3, 0, 0xCAFEBABE);
  EXPECT_EQ(get32(b, 3), 0xCAFEBABEu);
  EXPECT_EQ(internet_checksum(b), 0);
}

TEST(Checksum, Ipv4HeaderIncrementalUpdate) {
  Bytes b = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoUdp, udp({1, 2, 3}))});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
  ASSERT_TRUE(ipv4_checksum_ok(b, f));
  // Rewrite the destination address (NAT-like) with the header checksum at l3 + 10.
  rewrite32_with_checksum(b, f.l3_offset + 16u, f.l3_offset + 10u, 0xC0A80A0B);
  EXPECT_TRUE(ipv4_checksum_ok(b, f));
  b[f.l3_offset + 8] ^= 1;  // TTL changed without updating the checksum
  EXPECT_FALSE(ipv4_checksum_ok(b, f));
}

TEST(Checksum, UdpZeroAndRepair) {
  Bytes v4 = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoUdp, udp({9, 8, 7, 6, 5}))});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(v4, f), ParseStatus::ok);
  EXPECT_EQ(l4_checksum_offset(f), 34u + 6u);
  EXPECT_TRUE(l4_checksum_ok(v4, f));  // zero: no checksum over IPv4
  fix_l4_checksum(v4, f);
  EXPECT_NE(get16(v4, 40), 0);
  EXPECT_EQ(get16(v4, 40), test::reference_l4_checksum(v4, 14, 34, f.l4_length, 40, kIpProtoUdp));
  EXPECT_TRUE(l4_checksum_ok(v4, f));
  v4[f.payload_offset] ^= 0x40;
  EXPECT_FALSE(l4_checksum_ok(v4, f));

  Bytes v6 = cat({eth(kEtherTypeIpv6), ipv6(kIpProtoUdp, udp({1}))});
  ASSERT_EQ(parse_frame(v6, f), ParseStatus::ok);
  EXPECT_FALSE(l4_checksum_ok(v6, f));  // mandatory over IPv6
  fix_l4_checksum(v6, f);
  EXPECT_TRUE(l4_checksum_ok(v6, f));
  EXPECT_EQ(get16(v6, l4_checksum_offset(f)),
            test::reference_l4_checksum(v6, 14, 54, f.l4_length, 60, kIpProtoUdp));
}

TEST(Checksum, UdpComputedZeroIsSentAsOnes) {
  // Search a payload word that makes the UDP sum come out as zero; it must be sent as FFFF.
  Bytes b = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoUdp, udp({0, 0}))});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
  const std::size_t word = f.payload_offset;
  const std::uint16_t with_zero = test::reference_l4_checksum(b, 14, 34, f.l4_length, 40, kIpProtoUdp);
  // Adding `with_zero` to the sum makes it 0xFFFF, so the checksum becomes zero.
  put16(b, word, with_zero);
  ASSERT_EQ(test::reference_l4_checksum(b, 14, 34, f.l4_length, 40, kIpProtoUdp), 0);
  EXPECT_EQ(compute_l4_checksum(b, f), 0xFFFF);
  fix_l4_checksum(b, f);
  EXPECT_TRUE(l4_checksum_ok(b, f));
}

TEST(Checksum, IcmpHasNoPseudoHeaderIcmpv6Has) {
  Bytes v4 = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoIcmp, {8, 0, 0, 0, 0, 1, 0, 2, 'h', 'i'})});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(v4, f), ParseStatus::ok);
  EXPECT_EQ(compute_l4_checksum(v4, f), test::reference_l4_checksum(v4, 14, 34, 10, 36, 1, false));
  Bytes v6 = cat({eth(kEtherTypeIpv6), ipv6(kIpProtoIcmpv6, {128, 0, 0, 0, 0, 1, 0, 2, 'h'})});
  ASSERT_EQ(parse_frame(v6, f), ParseStatus::ok);
  EXPECT_EQ(compute_l4_checksum(v6, f), test::reference_l4_checksum(v6, 14, 54, 9, 56, kIpProtoIcmpv6));
}

TEST(Checksum, AllZeroIcmpMessage) {
  // Found by fuzz_frame: the sum of an all-zero message is +0, so the checksum is 0xFFFF.
  Bytes b = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoIcmp, Bytes(12, 0))});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
  EXPECT_EQ(compute_l4_checksum(b, f), 0xFFFF);
  EXPECT_FALSE(l4_checksum_ok(b, f));
  fix_l4_checksum(b, f);
  EXPECT_TRUE(l4_checksum_ok(b, f));
}

TEST(Checksum, NoL4ChecksumForLaterFragmentsOrOther) {
  Bytes b = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, Bytes(24, 1), {}, 100)});
  ParsedFrame f;
  ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
  EXPECT_EQ(l4_checksum_offset(f), 0u);
  EXPECT_FALSE(l4_checksum_ok(b, f));
  const Bytes before = b;
  fix_l4_checksum(b, f);
  EXPECT_EQ(b, before);
}

}  // namespace
}  // namespace ftproxy::packet
