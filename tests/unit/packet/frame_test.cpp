#include "ftproxy/packet/frame.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_set>

#include "test_frames.hpp"

namespace ftproxy::packet {
namespace {

using test::append16;
using test::append32;
using test::Bytes;
using test::cat;
using test::eth;
using test::get16;
using test::get32;
using test::ipv4;
using test::ipv6;
using test::tcp;
using test::udp;

constexpr std::uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kAh = 51, kNoNext = 59, kDestOpts = 60;

ParseStatus parse(const Bytes& b, ParsedFrame& f) {
  return parse_frame(b, f);
}

Bytes tcp_v4_frame(Bytes options, Bytes payload = {}) {
  return cat(
      {eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, cat({tcp(1, 2, kTcpAck, std::move(options)), payload}))});
}

Bytes all_options() {
  Bytes o = {2, 4, 0x05, 0xB4,  // MSS 1460
             4, 2,              // SACK permitted
             8, 10};            // timestamp
  append32(o, 0x11223344);
  append32(o, 0x55667788);
  o.insert(o.end(), {1, 3, 3, 7});         // NOP, wscale 7
  o.insert(o.end(), {30, 4, 0xAA, 0xBB});  // unknown kind 30, skipped by length
  o.push_back(0);                          // EOL; what follows is ignored
  o.insert(o.end(), {0xFF, 0xFF, 0xFF});
  return o;
}

TEST(ParseFrame, Ipv4TcpWithAllOptions) {
  const Bytes payload = {'a', 'b', 'c'};
  const Bytes b = tcp_v4_frame(all_options(), payload);
  ParsedFrame f;
  ASSERT_EQ(parse(b, f), ParseStatus::ok);
  EXPECT_EQ(f.length, b.size());
  EXPECT_EQ(f.l3, L3Kind::ipv4);
  EXPECT_EQ(f.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(f.l3_offset, 14);
  EXPECT_EQ(to_string(f.src_ip), "10.0.0.2");
  EXPECT_EQ(to_string(f.dst_ip), "10.0.0.1");
  EXPECT_EQ(to_string(f.src_mac), "02:00:00:00:02:00");
  EXPECT_EQ(f.ttl, 64);
  EXPECT_FALSE(f.is_fragment);
  EXPECT_EQ(f.ip_end, b.size());
  ASSERT_EQ(f.l4, L4Kind::tcp);
  EXPECT_EQ(f.l4_offset, 34);
  EXPECT_EQ(f.tcp.seq, 1u);
  EXPECT_EQ(f.tcp.ack, 2u);
  EXPECT_EQ(f.tcp.flags, kTcpAck);
  EXPECT_EQ(f.tcp.window, 8192);
  EXPECT_EQ(f.tcp.header_len, 20 + 28);
  EXPECT_TRUE(f.tcp.opt.has_mss);
  EXPECT_EQ(f.tcp.opt.mss, 1460);
  EXPECT_TRUE(f.tcp.opt.sack_permitted);
  EXPECT_TRUE(f.tcp.opt.has_timestamp);
  EXPECT_EQ(f.tcp.opt.tsval, 0x11223344u);
  EXPECT_EQ(f.tcp.opt.tsecr, 0x55667788u);
  EXPECT_EQ(f.tcp.opt.ts_offset, 34 + 20 + 8);
  EXPECT_EQ(get32(b, f.tcp.opt.ts_offset + 4), 0x55667788u);
  EXPECT_TRUE(f.tcp.opt.has_wscale);
  EXPECT_EQ(f.tcp.opt.wscale, 7);
  EXPECT_EQ(f.tcp.opt.sack_blocks, 0);
  EXPECT_EQ(f.payload_offset, 34 + 48);
  EXPECT_EQ(f.payload_len, 3u);
  EXPECT_EQ(b[f.payload_offset], 'a');
}

TEST(ParseFrame, NoOptionsLeavesDefaults) {
  ParsedFrame f;
  ASSERT_EQ(parse(tcp_v4_frame({}), f), ParseStatus::ok);
  EXPECT_FALSE(f.tcp.opt.has_mss);
  EXPECT_FALSE(f.tcp.opt.has_timestamp);
  EXPECT_FALSE(f.tcp.opt.sack_permitted);
  EXPECT_EQ(f.tcp.header_len, 20);
  EXPECT_EQ(f.payload_len, 0u);
}

TEST(ParseFrame, SackBlocksOneToFour) {
  for (std::uint8_t n = 1; n <= 4; ++n) {
    Bytes o = {1, 1, 5, static_cast<std::uint8_t>(2 + 8 * n)};
    for (std::uint32_t i = 0; i < n; ++i) {
      append32(o, 0xFFFFFF00u + 16 * i);
      append32(o, 0xFFFFFF08u + 16 * i);
    }
    const Bytes b = tcp_v4_frame(o);
    ParsedFrame f;
    ASSERT_EQ(parse(b, f), ParseStatus::ok) << int{n};
    ASSERT_EQ(f.tcp.opt.sack_blocks, n);
    EXPECT_EQ(f.tcp.opt.sack_offset, 34 + 20 + 4);
    for (std::uint32_t i = 0; i < n; ++i) {
      EXPECT_EQ(get32(b, f.tcp.opt.sack_offset + 8 * i), 0xFFFFFF00u + 16 * i);
      EXPECT_EQ(get32(b, f.tcp.opt.sack_offset + 8 * i + 4), 0xFFFFFF08u + 16 * i);
    }
  }
}

TEST(ParseFrame, MalformedTcpOptions) {
  const std::vector<Bytes> bad = {
      {2, 3, 5},                           // MSS length 3
      {3, 4, 7, 0},                        // wscale length 4
      {4, 3, 0},                           // SACK permitted length 3
      {5, 2},                              // SACK without blocks
      {5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0},  // SACK length not 2 + 8n
      {8, 9, 0, 0, 0, 0, 0, 0, 0},         // timestamp length 9
      {30, 0},                             // unknown option, length 0
      {30, 1},                             // unknown option, length 1
      {1, 1, 1, 30},                       // kind in the last byte, no length byte
      {30, 8, 0, 0},                       // runs past the header end
  };
  for (const auto& o : bad) {
    ParsedFrame f;
    EXPECT_EQ(parse(tcp_v4_frame(o), f), ParseStatus::bad_tcp_option)
        << "option kind " << int{o[0]} << " len " << (o.size() > 1 ? int{o[1]} : -1);
  }
  // Five SACK blocks (42 bytes) cannot fit in 40 bytes of options: caught as overrun.
  Bytes five = {5, 42};
  five.resize(40, 0);
  ParsedFrame f;
  EXPECT_EQ(parse(tcp_v4_frame(five), f), ParseStatus::bad_tcp_option);
}

TEST(ParseFrame, VlanAndQinq) {
  const Bytes l3 = ipv4(kIpProtoTcp, tcp(5, 6, kTcpSyn));
  ParsedFrame f;
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4, {{kEtherTypeVlan, 0x2064}}), l3}), f), ParseStatus::ok);
  EXPECT_EQ(f.vlan_count, 1);
  EXPECT_EQ(f.vlan_tci[0], 0x2064);
  EXPECT_EQ(f.l3_offset, 18);
  EXPECT_EQ(f.l4_offset, 38);
  EXPECT_EQ(flow_key(f).vlan, 100);

  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4, {{kEtherTypeQinQ, 0xE12C}, {kEtherTypeVlan, 0x0064}}), l3}), f),
            ParseStatus::ok);
  EXPECT_EQ(f.vlan_count, 2);
  EXPECT_EQ(f.vlan_tci[0], 0xE12C);
  EXPECT_EQ(f.vlan_tci[1], 0x0064);
  EXPECT_EQ(f.l3_offset, 22);
  EXPECT_EQ(f.l4, L4Kind::tcp);
  EXPECT_EQ(f.tcp.seq, 5u);
  EXPECT_EQ(flow_key(f).vlan, 300);  // outer tag, priority bits masked

  EXPECT_EQ(
      parse(cat({eth(kEtherTypeIpv4, {{kEtherTypeVlan, 1}, {kEtherTypeVlan, 2}, {kEtherTypeVlan, 3}}), l3}),
            f),
      ParseStatus::too_many_vlan_tags);
}

TEST(ParseFrame, Arp) {
  Bytes a;
  append16(a, 1);
  append16(a, kEtherTypeIpv4);
  a.insert(a.end(), {6, 4, 0, 2, 2, 0, 0, 0, 1, 0, 10, 0, 0, 1, 2, 0, 0, 0, 2, 0, 10, 0, 0, 2});
  ParsedFrame f;
  ASSERT_EQ(parse(cat({eth(kEtherTypeArp), a}), f), ParseStatus::ok);
  EXPECT_EQ(f.l3, L3Kind::arp);
  EXPECT_EQ(f.l4, L4Kind::none);
  EXPECT_EQ(f.arp.op, 2);
  EXPECT_EQ(to_string(f.arp.sender_mac), "02:00:00:00:01:00");
  EXPECT_EQ(to_string(f.arp.sender_ip), "10.0.0.1");
  EXPECT_EQ(to_string(f.arp.target_mac), "02:00:00:00:02:00");
  EXPECT_EQ(to_string(f.arp.target_ip), "10.0.0.2");
}

TEST(ParseFrame, Ipv4OptionsAndEthernetPadding) {
  Bytes b = cat({eth(kEtherTypeIpv4), ipv4(kIpProtoUdp, udp({1, 2, 3}), {148, 4, 0, 0})});
  const std::size_t ip_end = b.size();
  b.resize(ip_end + 9, 0xEE);  // Ethernet padding / trailer
  ParsedFrame f;
  ASSERT_EQ(parse(b, f), ParseStatus::ok);
  EXPECT_EQ(f.length, b.size());
  EXPECT_EQ(f.ip_end, ip_end);
  EXPECT_EQ(f.l4_offset, 14 + 24);
  EXPECT_EQ(f.l4, L4Kind::udp);
  EXPECT_EQ(f.l4_length, 11u);
  EXPECT_EQ(f.udp.length, 11);
  EXPECT_EQ(f.payload_offset, 14 + 24 + 8);
  EXPECT_EQ(f.payload_len, 3u);
}

TEST(ParseFrame, Ipv4Fragments) {
  const Bytes seg = tcp(7, 8, kTcpAck, {}, 1234, 80);
  ParsedFrame f;
  // First fragment (MF set, offset 0): the L4 header is there and parsed.
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, seg, {}, 0x2000)}), f), ParseStatus::ok);
  EXPECT_TRUE(f.is_fragment);
  EXPECT_TRUE(f.is_first_fragment);
  EXPECT_EQ(f.l4, L4Kind::tcp);
  EXPECT_EQ(f.tcp.src_port, 1234);
  // Later fragment: bytes that would be a broken TCP header are not parsed.
  Bytes garbage(20, 0);
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, garbage, {}, 185)}), f), ParseStatus::ok);
  EXPECT_TRUE(f.is_fragment);
  EXPECT_FALSE(f.is_first_fragment);
  EXPECT_EQ(f.l4, L4Kind::none);
  EXPECT_EQ(f.ip_proto, kIpProtoTcp);
  // Last fragment: MF clear, offset != 0.
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, garbage, {}, 0x0001)}), f), ParseStatus::ok);
  EXPECT_TRUE(f.is_fragment);
  EXPECT_FALSE(f.is_first_fragment);
  // DF alone is not a fragment.
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(kIpProtoTcp, seg, {}, 0x4000)}), f), ParseStatus::ok);
  EXPECT_FALSE(f.is_fragment);
}

TEST(ParseFrame, Ipv6ExtensionHeaders) {
  const Bytes seg = tcp(0xFFFFFFF0, 0x10, kTcpAck | kTcpPsh, {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2});
  const Bytes chain = cat({test::ext_header(kRouting, 1), test::ext_header(kAh),
                           test::ah_header(kDestOpts, 4), test::ext_header(kIpProtoTcp, 2), seg, Bytes{'z'}});
  // hop-by-hop(16) -> routing(8) -> AH(24) -> dest opts(24) -> TCP
  const Bytes b = cat({eth(kEtherTypeIpv6), ipv6(kHopByHop, chain)});
  ParsedFrame f;
  ASSERT_EQ(parse(b, f), ParseStatus::ok);
  EXPECT_EQ(f.l3, L3Kind::ipv6);
  EXPECT_EQ(to_string(f.src_ip), "2001:db8::2");
  EXPECT_EQ(to_string(f.dst_ip), "2001:db8::1");
  EXPECT_EQ(f.ip_proto, kIpProtoTcp);
  EXPECT_EQ(f.l4, L4Kind::tcp);
  EXPECT_EQ(f.l4_offset, 14 + 40 + 16 + 8 + 24 + 24);
  EXPECT_EQ(f.tcp.seq, 0xFFFFFFF0u);
  EXPECT_EQ(f.tcp.opt.tsval, 1u);
  EXPECT_EQ(f.tcp.opt.tsecr, 2u);
  EXPECT_EQ(f.payload_len, 1u);
  EXPECT_EQ(b[f.payload_offset], 'z');
  EXPECT_FALSE(f.is_fragment);
}

TEST(ParseFrame, Ipv6FragmentAndNoNextHeader) {
  ParsedFrame f;
  const Bytes seg = tcp(1, 2, kTcpSyn);
  ASSERT_EQ(
      parse(cat({eth(kEtherTypeIpv6), ipv6(kFragment, cat({test::frag_header(kIpProtoTcp, 0, true), seg}))}),
            f),
      ParseStatus::ok);
  EXPECT_TRUE(f.is_fragment);
  EXPECT_TRUE(f.is_first_fragment);
  EXPECT_EQ(f.l4, L4Kind::tcp);

  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv6),
                       ipv6(kFragment, cat({test::frag_header(kIpProtoTcp, 5, false), Bytes(8, 0)}))}),
                  f),
            ParseStatus::ok);
  EXPECT_TRUE(f.is_fragment);
  EXPECT_FALSE(f.is_first_fragment);
  EXPECT_EQ(f.l4, L4Kind::none);

  ASSERT_EQ(
      parse(cat({eth(kEtherTypeIpv6), ipv6(kDestOpts, cat({test::ext_header(kNoNext), Bytes(4, 0xAB)}))}), f),
      ParseStatus::ok);
  EXPECT_EQ(f.ip_proto, kNoNext);
  EXPECT_EQ(f.l4, L4Kind::other);
  EXPECT_EQ(f.l4_offset, 14 + 40 + 8);
  EXPECT_EQ(f.l4_length, 4u);
}

TEST(ParseFrame, IcmpAndOtherProtocols) {
  ParsedFrame f;
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(kIpProtoIcmp, {3, 4, 0, 0, 0, 0, 0, 0})}), f),
            ParseStatus::ok);
  EXPECT_EQ(f.l4, L4Kind::icmp);
  EXPECT_EQ(f.icmp.type, 3);
  EXPECT_EQ(f.icmp.code, 4);
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv6), ipv6(kIpProtoIcmpv6, {135, 0, 0, 0, 0, 0, 0, 0})}), f),
            ParseStatus::ok);
  EXPECT_EQ(f.l4, L4Kind::icmpv6);
  EXPECT_EQ(f.icmp.type, 135);
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4), ipv4(47, {0, 0, 0x08, 0})}), f), ParseStatus::ok);  // GRE
  EXPECT_EQ(f.l4, L4Kind::other);
  EXPECT_EQ(f.ip_proto, 47);
  ASSERT_EQ(parse(cat({eth(0x88CC), Bytes(46, 0)}), f), ParseStatus::ok);  // LLDP
  EXPECT_EQ(f.l3, L3Kind::other);
  EXPECT_EQ(f.ethertype, 0x88CC);
}

// One crafted frame per error status; every status except ok must be produced.
TEST(ParseFrame, EveryErrorStatusIsReachable) {
  struct Case {
    const char* what;
    Bytes frame;
    ParseStatus want;
  };
  const Bytes good_tcp = tcp(1, 2, kTcpAck);
  auto v4 = [](Bytes l3) { return cat({eth(kEtherTypeIpv4), std::move(l3)}); };
  auto v6 = [](Bytes l3) { return cat({eth(kEtherTypeIpv6), std::move(l3)}); };
  auto with = [](Bytes b, std::size_t off, std::uint8_t v) {
    b[off] = v;
    return b;
  };
  Bytes arp_ok;
  append16(arp_ok, 1);
  append16(arp_ok, kEtherTypeIpv4);
  arp_ok.insert(arp_ok.end(), {6, 4, 0, 1});
  arp_ok.resize(28, 0);
  Bytes arp_bad = arp_ok;
  arp_bad[5] = 16;
  Bytes deep_chain;
  for (int i = 0; i < 9; ++i) deep_chain = cat({deep_chain, test::ext_header(kHopByHop)});

  Bytes bad_udp = udp({1, 2, 3});
  test::put16(bad_udp, 4, 12);
  Bytes short_udp = udp({});
  short_udp.resize(6);

  const std::vector<Case> cases = {
      {"13-byte frame", Bytes(13, 0), ParseStatus::truncated_ethernet},
      {"tag cut", cat({eth(kEtherTypeVlan), Bytes{0x00, 0x64}}), ParseStatus::truncated_vlan},
      {"three tags",
       cat({eth(kEtherTypeVlan, {{kEtherTypeQinQ, 1}, {kEtherTypeVlan, 2}}), Bytes{0, 3, 8, 0}}),
       ParseStatus::too_many_vlan_tags},
      {"ARP cut", cat({eth(kEtherTypeArp), Bytes(27, 0)}), ParseStatus::truncated_arp},
      {"ARP plen 16", cat({eth(kEtherTypeArp), arp_bad}), ParseStatus::bad_arp},
      {"IPv4 cut", v4(Bytes(19, 0x45)), ParseStatus::truncated_ipv4},
      {"IPv4 version 6", v4(with(ipv4(kIpProtoTcp, good_tcp), 0, 0x65)), ParseStatus::bad_ipv4_version},
      {"IHL 4", v4(with(ipv4(kIpProtoTcp, good_tcp), 0, 0x44)), ParseStatus::bad_ipv4_header_length},
      {"IHL past frame", v4(with(ipv4(kIpProtoUdp, {}), 0, 0x46)), ParseStatus::bad_ipv4_header_length},
      {"total < IHL", v4(with(ipv4(kIpProtoTcp, good_tcp), 3, 19)), ParseStatus::bad_ipv4_total_length},
      {"total past frame", v4(with(ipv4(kIpProtoTcp, good_tcp), 3, 41)), ParseStatus::bad_ipv4_total_length},
      {"IPv6 cut", v6(Bytes(39, 0x60)), ParseStatus::truncated_ipv6},
      {"IPv6 version 4", v6(with(ipv6(kIpProtoTcp, good_tcp), 0, 0x40)), ParseStatus::bad_ipv6_version},
      {"IPv6 payload past frame", v6(with(ipv6(kIpProtoTcp, good_tcp), 5, 21)),
       ParseStatus::bad_ipv6_payload_length},
      {"ext header past packet", v6(ipv6(kHopByHop, with(test::ext_header(kIpProtoTcp), 1, 1))),
       ParseStatus::bad_ipv6_extension},
      {"ext header stub", v6(ipv6(kRouting, Bytes(4, 6))), ParseStatus::bad_ipv6_extension},
      {"nine ext headers", v6(ipv6(kHopByHop, deep_chain)), ParseStatus::bad_ipv6_extension},
      {"TCP cut", v4(ipv4(kIpProtoTcp, Bytes(19, 0))), ParseStatus::truncated_tcp},
      {"data offset 4", v4(ipv4(kIpProtoTcp, with(good_tcp, 12, 0x40))), ParseStatus::bad_tcp_data_offset},
      {"data offset past L4", v4(ipv4(kIpProtoTcp, with(good_tcp, 12, 0x60))),
       ParseStatus::bad_tcp_data_offset},
      {"option length 0", v4(ipv4(kIpProtoTcp, tcp(1, 2, kTcpAck, {30, 0}))), ParseStatus::bad_tcp_option},
      {"UDP cut", v4(ipv4(kIpProtoUdp, short_udp)), ParseStatus::truncated_udp},
      {"UDP length mismatch", v4(ipv4(kIpProtoUdp, bad_udp)), ParseStatus::bad_udp_length},
      {"UDP length < 8 (v6)", v6(ipv6(kIpProtoUdp, with(udp({}), 5, 4))), ParseStatus::bad_udp_length},
      {"ICMP cut", v4(ipv4(kIpProtoIcmp, Bytes(3, 8))), ParseStatus::truncated_icmp},
      {"ICMPv6 cut", v6(ipv6(kIpProtoIcmpv6, Bytes(2, 128))), ParseStatus::truncated_icmp},
  };
  std::set<ParseStatus> seen;
  for (const auto& c : cases) {
    ParsedFrame f;
    EXPECT_EQ(parse(c.frame, f), c.want) << c.what << ": got " << to_string(parse(c.frame, f));
    seen.insert(c.want);
  }
  for (int s = 1; s < static_cast<int>(ParseStatus::count_); ++s) {
    EXPECT_TRUE(seen.count(static_cast<ParseStatus>(s)) == 1)
        << "no crafted frame for " << to_string(static_cast<ParseStatus>(s));
  }
}

TEST(ParseFrame, StatusNamesAreDistinct) {
  std::set<std::string> names;
  for (int s = 0; s < static_cast<int>(ParseStatus::count_); ++s) {
    const std::string n = to_string(static_cast<ParseStatus>(s));
    EXPECT_NE(n, "unknown");
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(ParseStatus::count_));
  EXPECT_STREQ(to_string(ParseStatus::bad_tcp_option), "bad_tcp_option");
}

// Parses every prefix of `full` from an exactly-sized heap copy (so a sanitizer sees any
// over-read). Prefixes shorter than the IP packet must fail; longer ones (only Ethernet
// padding cut) must parse exactly as the full frame.
void check_all_prefixes(const Bytes& full) {
  ParsedFrame whole;
  ASSERT_EQ(parse(full, whole), ParseStatus::ok);
  for (std::size_t len = 0; len <= full.size(); ++len) {
    auto copy = std::make_unique<std::uint8_t[]>(len == 0 ? 1 : len);
    std::copy(full.begin(), full.begin() + static_cast<long>(len), copy.get());
    ParsedFrame f;
    const ParseStatus s = parse_frame(std::span<const std::uint8_t>(copy.get(), len), f);
    if (len < whole.ip_end) {
      EXPECT_NE(s, ParseStatus::ok) << "prefix " << len << " of " << full.size();
    } else {
      ASSERT_EQ(s, ParseStatus::ok) << "prefix " << len;
      EXPECT_EQ(f.ip_end, whole.ip_end);
      EXPECT_EQ(f.l4, whole.l4);
      EXPECT_EQ(f.payload_len, whole.payload_len);
      EXPECT_EQ(f.tcp.seq, whole.tcp.seq);
      EXPECT_EQ(f.tcp.opt.tsval, whole.tcp.opt.tsval);
    }
  }
}

TEST(ParseFrame, EveryTruncationOfTcpV4) {
  check_all_prefixes(tcp_v4_frame(all_options(), {1, 2, 3, 4, 5}));
}

TEST(ParseFrame, EveryTruncationOfQinqTcpWithPadding) {
  Bytes b = cat({eth(kEtherTypeIpv4, {{kEtherTypeQinQ, 10}, {kEtherTypeVlan, 20}}),
                 ipv4(kIpProtoTcp, tcp(1, 2, kTcpSyn, {2, 4, 5, 0xB4, 1, 3, 3, 2}))});
  b.resize(b.size() + 6, 0);
  check_all_prefixes(b);
}

TEST(ParseFrame, EveryTruncationOfIpv6ExtTcp) {
  const Bytes seg = tcp(9, 10, kTcpAck, {1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4});
  check_all_prefixes(
      cat({eth(kEtherTypeIpv6, {{kEtherTypeVlan, 7}}),
           ipv6(kHopByHop, cat({test::ext_header(kFragment), test::frag_header(kIpProtoTcp, 0, false), seg,
                                Bytes{9, 9}}))}));
}

// Random corruption of valid frames: never crashes, and an ok result is self-consistent.
TEST(ParseFrame, RandomMutationsKeepInvariants) {
  const std::vector<Bytes> seeds = {
      tcp_v4_frame(all_options(), {1, 2, 3}),
      cat({eth(kEtherTypeIpv6), ipv6(kHopByHop, cat({test::ext_header(kIpProtoUdp), udp({4, 5})}))}),
      cat({eth(kEtherTypeIpv4, {{kEtherTypeVlan, 5}}), ipv4(kIpProtoIcmp, {8, 0, 0, 0, 1, 2, 3, 4})}),
  };
  std::mt19937 rng(12345);
  int ok = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    Bytes b = seeds[static_cast<std::size_t>(iter) % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    auto copy = std::make_unique<std::uint8_t[]>(b.size() + 1);
    std::copy(b.begin(), b.end(), copy.get());
    ParsedFrame f;
    if (parse_frame(std::span<const std::uint8_t>(copy.get(), b.size()), f) != ParseStatus::ok) continue;
    ++ok;
    ASSERT_EQ(f.length, b.size());
    if (f.l3 == L3Kind::ipv4 || f.l3 == L3Kind::ipv6) {
      ASSERT_LE(f.ip_end, f.length);
      ASSERT_GT(f.ip_end, f.l3_offset);
    }
    if (f.l4 != L4Kind::none) {
      ASSERT_EQ(f.l4_offset + f.l4_length, f.ip_end);
      ASSERT_EQ(f.payload_offset + f.payload_len, f.ip_end);
      ASSERT_GE(f.payload_offset, f.l4_offset);
    }
    if (f.l4 == L4Kind::tcp) {
      ASSERT_LE(f.tcp.header_len, f.l4_length);
      if (f.tcp.opt.has_timestamp) {
        ASSERT_LE(f.tcp.opt.ts_offset + 8u, f.l4_offset + f.tcp.header_len);
      }
      if (f.tcp.opt.sack_blocks > 0) {
        ASSERT_LE(f.tcp.opt.sack_offset + 8u * f.tcp.opt.sack_blocks, f.l4_offset + f.tcp.header_len);
      }
    }
  }
  EXPECT_GT(ok, 1000);  // the mutations must not all be rejected early
}

TEST(FlowKey, DirectionAndHash) {
  ParsedFrame f;
  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv4, {{kEtherTypeVlan, 0xF00A}}),
                       ipv4(kIpProtoTcp, tcp(1, 2, kTcpSyn, {}, 40000, 80))}),
                  f),
            ParseStatus::ok);
  const FlowKey k = flow_key(f);
  EXPECT_EQ(to_string(k.src_ip), "10.0.0.2");
  EXPECT_EQ(k.src_port, 40000);
  EXPECT_EQ(k.dst_port, 80);
  EXPECT_EQ(k.proto, kIpProtoTcp);
  EXPECT_EQ(k.vlan, 10);
  const FlowKey r = k.reversed();
  EXPECT_EQ(to_string(r.src_ip), "10.0.0.1");
  EXPECT_EQ(r.src_port, 80);
  EXPECT_EQ(r.dst_port, 40000);
  EXPECT_EQ(r.vlan, 10);
  EXPECT_NE(r, k);
  EXPECT_EQ(r.reversed(), k);

  FlowKeyHash h;
  EXPECT_EQ(h(k), h(r.reversed()));
  EXPECT_NE(h(k), h(r));
  std::unordered_set<FlowKey, FlowKeyHash> set;
  for (std::uint16_t p = 0; p < 1000; ++p) {
    FlowKey x = k;
    x.src_port = p;
    set.insert(x);
  }
  EXPECT_EQ(set.size(), 1000u);

  ASSERT_EQ(parse(cat({eth(kEtherTypeIpv6), ipv6(kIpProtoUdp, udp({1}, 53, 5353))}), f), ParseStatus::ok);
  const FlowKey u = flow_key(f);
  EXPECT_EQ(u.proto, kIpProtoUdp);
  EXPECT_EQ(u.src_port, 53);
  EXPECT_EQ(u.dst_port, 5353);
  EXPECT_EQ(u.vlan, 0);
  EXPECT_EQ(u.src_ip.family, IpAddr::Family::v6);
}

}  // namespace
}  // namespace ftproxy::packet
