// Parser, checksums and builders against frames written by scapy
// (tests/data/make_frames.py; expectations.txt holds scapy's view of each frame).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/packet/builder.hpp"
#include "ftproxy/packet/checksum.hpp"
#include "ftproxy/packet/frame.hpp"

namespace ftproxy::packet {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string data_dir() {
  if (const char* env = std::getenv("FTPROXY_TEST_DATA")) return env;
  return FTPROXY_TEST_DATA_DIR;
}

Bytes load_frame(const std::string& name) {
  std::ifstream in(data_dir() + "/frames/" + name + ".bin", std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Expectation {
  std::string name;
  std::map<std::string, std::string> kv;
  bool has(const std::string& k) const { return kv.count(k) != 0; }
  const std::string& str(const std::string& k) const { return kv.at(k); }
  unsigned long long num(const std::string& k) const { return std::stoull(kv.at(k)); }
};

std::vector<Expectation> load_expectations() {
  std::vector<Expectation> out;
  std::ifstream in(data_dir() + "/frames/expectations.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    Expectation e;
    words >> e.name;
    std::string kv;
    while (words >> kv) {
      const auto eq = kv.find('=');
      e.kv[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    out.push_back(std::move(e));
  }
  return out;
}

const char* l3_name(L3Kind k) {
  switch (k) {
    case L3Kind::arp:
      return "arp";
    case L3Kind::ipv4:
      return "ipv4";
    case L3Kind::ipv6:
      return "ipv6";
    case L3Kind::other:
      break;
  }
  return "other";
}

const char* l4_name(L4Kind k) {
  switch (k) {
    case L4Kind::tcp:
      return "tcp";
    case L4Kind::udp:
      return "udp";
    case L4Kind::icmp:
      return "icmp";
    case L4Kind::icmpv6:
      return "icmpv6";
    case L4Kind::other:
      return "other";
    case L4Kind::none:
      break;
  }
  return "none";
}

TEST(Golden, ExpectationsCoverAllFixtures) {
  const auto all = load_expectations();
  ASSERT_GE(all.size(), 25u) << "missing " << data_dir() << "/frames/expectations.txt?";
  for (const auto& e : all) EXPECT_FALSE(load_frame(e.name).empty()) << e.name;
}

TEST(Golden, ParsedFieldsMatchScapy) {
  for (const auto& e : load_expectations()) {
    SCOPED_TRACE(e.name);
    const Bytes b = load_frame(e.name);
    ParsedFrame f;
    ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
    EXPECT_EQ(f.length, e.num("len"));
    EXPECT_EQ(f.vlan_count, e.num("vlan_count"));
    for (unsigned i = 0; i < f.vlan_count; ++i) EXPECT_EQ(f.vlan_tci[i], e.num("vlan" + std::to_string(i)));
    EXPECT_EQ(f.l3_offset, e.num("l3_offset"));
    EXPECT_STREQ(l3_name(f.l3), e.str("l3").c_str());
    if (f.l3 == L3Kind::arp) {
      EXPECT_EQ(f.arp.op, e.num("arp_op"));
      EXPECT_EQ(to_string(f.arp.sender_mac), e.str("arp_sha"));
      EXPECT_EQ(to_string(f.arp.sender_ip), e.str("arp_spa"));
      EXPECT_EQ(to_string(f.arp.target_mac), e.str("arp_tha"));
      EXPECT_EQ(to_string(f.arp.target_ip), e.str("arp_tpa"));
      continue;
    }
    EXPECT_EQ(to_string(f.src_ip), e.str("src"));
    EXPECT_EQ(to_string(f.dst_ip), e.str("dst"));
    EXPECT_EQ(f.ip_proto, e.num("proto"));
    EXPECT_EQ(f.ttl, e.num("ttl"));
    EXPECT_EQ(f.ip_end, e.num("ip_end"));
    EXPECT_EQ(f.is_fragment, e.num("frag") == 1);
    EXPECT_EQ(f.is_first_fragment, e.num("first_frag") == 1);
    if (f.l3 == L3Kind::ipv4) {
      EXPECT_TRUE(ipv4_checksum_ok(b, f));
      EXPECT_EQ(load_be16(b.data() + f.l3_offset + 10), e.num("ip_csum"));
    }
    EXPECT_STREQ(l4_name(f.l4), e.str("l4").c_str());
    if (f.l4 == L4Kind::none) continue;
    EXPECT_EQ(f.l4_offset, e.num("l4_offset"));
    EXPECT_EQ(f.l4_length, e.num("l4_len"));
    EXPECT_EQ(f.payload_len, e.num("payload_len"));
    EXPECT_EQ(f.payload_offset + f.payload_len, f.ip_end);
    // scapy's checksum covers the whole datagram, so only unfragmented ones compare.
    const std::size_t csum_off = l4_checksum_offset(f);
    EXPECT_EQ(load_be16(b.data() + csum_off), e.num("l4_csum"));
    if (!f.is_fragment) {
      EXPECT_EQ(compute_l4_checksum(b, f), e.num("l4_csum"));
      EXPECT_TRUE(l4_checksum_ok(b, f));
    }
    if (f.l4 == L4Kind::tcp) {
      const TcpView& t = f.tcp;
      EXPECT_EQ(t.src_port, e.num("sport"));
      EXPECT_EQ(t.dst_port, e.num("dport"));
      EXPECT_EQ(t.seq, e.num("seq"));
      EXPECT_EQ(t.ack, e.num("ack"));
      EXPECT_EQ(t.flags, e.num("flags"));
      EXPECT_EQ(t.window, e.num("window"));
      EXPECT_EQ(t.header_len, e.num("hlen"));
      EXPECT_EQ(t.opt.has_mss, e.has("mss"));
      if (e.has("mss")) {
        EXPECT_EQ(t.opt.mss, e.num("mss"));
      }
      EXPECT_EQ(t.opt.has_wscale, e.has("wscale"));
      if (e.has("wscale")) {
        EXPECT_EQ(t.opt.wscale, e.num("wscale"));
      }
      EXPECT_EQ(t.opt.sack_permitted, e.has("sackok"));
      EXPECT_EQ(t.opt.has_timestamp, e.has("tsval"));
      if (e.has("tsval")) {
        EXPECT_EQ(t.opt.tsval, e.num("tsval"));
        EXPECT_EQ(t.opt.tsecr, e.num("tsecr"));
        EXPECT_EQ(load_be32(b.data() + t.opt.ts_offset), e.num("tsval"));
        EXPECT_EQ(load_be32(b.data() + t.opt.ts_offset + 4), e.num("tsecr"));
      }
      std::string sack;
      for (unsigned i = 0; i < 2u * t.opt.sack_blocks; ++i) {
        if (i) sack += ',';
        sack += std::to_string(load_be32(b.data() + t.opt.sack_offset + 4 * i));
      }
      EXPECT_EQ(sack, e.has("sack") ? e.str("sack") : "");
    } else if (f.l4 == L4Kind::udp) {
      EXPECT_EQ(f.udp.src_port, e.num("sport"));
      EXPECT_EQ(f.udp.dst_port, e.num("dport"));
      EXPECT_EQ(f.udp.length, e.num("ulen"));
    } else {
      EXPECT_EQ(f.icmp.type, e.num("type"));
      EXPECT_EQ(f.icmp.code, e.num("code"));
    }
  }
}

TEST(Golden, RewriteOddAlignedTimestampKeepsChecksumValid) {
  Bytes b = load_frame("tcp_odd_timestamp");
  ParsedFrame f;
  ASSERT_EQ(parse_frame(b, f), ParseStatus::ok);
  ASSERT_TRUE(f.tcp.opt.has_timestamp);
  ASSERT_EQ((f.tcp.opt.ts_offset - f.l4_offset) % 2, 1);  // the point of this fixture
  const std::size_t csum = l4_checksum_offset(f);
  rewrite32_with_checksum(b, f.tcp.opt.ts_offset, csum, 0x01020304);
  rewrite32_with_checksum(b, f.tcp.opt.ts_offset + 4u, csum, 0xFFFFFFFF);
  rewrite32_with_checksum(b, f.l4_offset + 4u, csum, 0x80000000);
  EXPECT_TRUE(l4_checksum_ok(b, f));
  ParsedFrame g;
  ASSERT_EQ(parse_frame(b, g), ParseStatus::ok);
  EXPECT_EQ(g.tcp.opt.tsval, 0x01020304u);
  EXPECT_EQ(g.tcp.opt.tsecr, 0xFFFFFFFFu);
  EXPECT_EQ(g.tcp.seq, 0x80000000u);
  EXPECT_EQ(load_be16(b.data() + csum), compute_l4_checksum(b, g));
}

// Parameters shared with make_frames.py (GARP_MAC, GARP_IP, GARP_IP6, REQUESTER_*, VLAN).
struct BuilderParams {
  MacAddr mac = *parse_mac("02:00:00:00:01:00");
  IpAddr ip = *parse_ip("10.0.0.1");
  IpAddr ip6 = *parse_ip("2001:db8::1");
  MacAddr requester_mac = *parse_mac("02:00:00:00:02:00");
  IpAddr requester_ip = *parse_ip("10.0.0.2");
  std::uint16_t tci = (1 << 13) | 100;
};

void expect_same_bytes(const std::string& fixture, const std::uint8_t* data, std::size_t len) {
  const Bytes want = load_frame(fixture);
  ASSERT_FALSE(want.empty()) << fixture;
  EXPECT_EQ(Bytes(data, data + len), want) << fixture;
}

TEST(Golden, BuildersMatchScapyByteForByte) {
  const BuilderParams p;
  std::uint8_t buf[128];
  std::fill(std::begin(buf), std::end(buf), 0xA5);  // padding must be written, not inherited
  expect_same_bytes("garp_request", buf, build_garp_request(buf, p.mac, p.ip));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("garp_request_vlan", buf, build_garp_request(buf, p.mac, p.ip, p.tci));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("garp_reply", buf, build_garp_reply(buf, p.mac, p.ip));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("arp_reply", buf, build_arp_reply(buf, p.mac, p.ip, p.requester_mac, p.requester_ip));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("arp_reply_vlan", buf,
                    build_arp_reply(buf, p.mac, p.ip, p.requester_mac, p.requester_ip, p.tci));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("unsolicited_na", buf, build_unsolicited_na(buf, p.mac, p.ip6));
  std::fill(std::begin(buf), std::end(buf), 0xA5);
  expect_same_bytes("unsolicited_na_vlan", buf, build_unsolicited_na(buf, p.mac, p.ip6, p.tci));
}

TEST(Golden, BuiltNeighbourAdvertisementParses) {
  const BuilderParams p;
  std::uint8_t buf[128];
  const std::size_t n = build_unsolicited_na(buf, p.mac, p.ip6);
  ASSERT_EQ(n, 86u);
  ParsedFrame f;
  ASSERT_EQ(parse_frame(std::span<const std::uint8_t>(buf, n), f), ParseStatus::ok);
  EXPECT_EQ(f.l4, L4Kind::icmpv6);
  EXPECT_EQ(f.icmp.type, 136);
  EXPECT_EQ(f.ttl, 255);
  EXPECT_EQ(to_string(f.dst_ip), "ff02::1");
  EXPECT_EQ(to_string(f.dst_mac), "33:33:00:00:00:01");
  EXPECT_EQ(buf[f.l4_offset + 4], 0x20);  // override only
  EXPECT_TRUE(l4_checksum_ok(std::span<const std::uint8_t>(buf, n), f));
}

TEST(Builders, RefuseSmallBuffersAndWrongFamilies) {
  const BuilderParams p;
  std::uint8_t buf[128];
  EXPECT_EQ(build_garp_request(std::span(buf, 59), p.mac, p.ip), 0u);
  EXPECT_EQ(build_garp_request(std::span(buf, 60), p.mac, p.ip), 60u);
  EXPECT_EQ(build_garp_reply(std::span(buf, 59), p.mac, p.ip, p.tci), 0u);
  EXPECT_EQ(build_unsolicited_na(std::span(buf, 85), p.mac, p.ip6), 0u);
  EXPECT_EQ(build_unsolicited_na(std::span(buf, 89), p.mac, p.ip6, p.tci), 0u);
  EXPECT_EQ(build_unsolicited_na(std::span(buf, 90), p.mac, p.ip6, p.tci), 90u);
  EXPECT_EQ(build_garp_request(buf, p.mac, p.ip6), 0u);
  EXPECT_EQ(build_arp_reply(buf, p.mac, p.ip, p.requester_mac, p.ip6), 0u);
  EXPECT_EQ(build_unsolicited_na(buf, p.mac, p.ip), 0u);
  EXPECT_EQ(build_garp_request(buf, p.mac, IpAddr{}), 0u);
}

}  // namespace
}  // namespace ftproxy::packet
