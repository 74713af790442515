#include "ftproxy/packet/addr.hpp"

#include <gtest/gtest.h>

namespace ftproxy::packet {
namespace {

TEST(MacAddr, ParseAndFormat) {
  const auto m = parse_mac("02:00:00:00:01:00");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->b, (std::array<std::uint8_t, 6>{2, 0, 0, 0, 1, 0}));
  EXPECT_EQ(to_string(*m), "02:00:00:00:01:00");
  const auto upper = parse_mac("AA:bb:Cc:0F:f0:9E");
  ASSERT_TRUE(upper);
  EXPECT_EQ(to_string(*upper), "aa:bb:cc:0f:f0:9e");
}

TEST(MacAddr, RejectsMalformed) {
  for (const char* bad : {"", "02:00:00:00:01", "02:00:00:00:01:00:00", "02:00:00:00:01:0g",
                          "02-00-00-00-01-00", "2:0:0:0:1:0", "02:00:00:00:01:00 ", " 02:00:00:00:01:00",
                          "0200.0000.0100", "02:00:00:00:01::0", "02:00:00:00:01:000"}) {
    EXPECT_FALSE(parse_mac(bad)) << '"' << bad << '"';
  }
}

TEST(MacAddr, Predicates) {
  EXPECT_TRUE(parse_mac("ff:ff:ff:ff:ff:ff")->is_broadcast());
  EXPECT_TRUE(parse_mac("ff:ff:ff:ff:ff:ff")->is_multicast());
  EXPECT_TRUE(parse_mac("33:33:00:00:00:01")->is_multicast());
  EXPECT_FALSE(parse_mac("33:33:00:00:00:01")->is_broadcast());
  EXPECT_FALSE(parse_mac("02:00:00:00:01:00")->is_multicast());
  EXPECT_TRUE(MacAddr{}.is_zero());
  EXPECT_FALSE(parse_mac("00:00:00:00:00:01")->is_zero());
  EXPECT_LT(*parse_mac("00:00:00:00:00:01"), *parse_mac("00:00:00:00:01:00"));
}

TEST(IpAddr, ParseV4) {
  const auto a = parse_ip("10.0.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, IpAddr::Family::v4);
  EXPECT_EQ(a->v4_host_order(), 0x0A000001u);
  EXPECT_EQ(*a, IpAddr::v4(0x0A000001u));
  EXPECT_EQ(to_string(*a), "10.0.0.1");
  for (std::size_t i = 4; i < 16; ++i) EXPECT_EQ(a->b[i], 0);
  const std::uint8_t raw[4] = {192, 168, 1, 254};
  EXPECT_EQ(to_string(IpAddr::from_v4_bytes(raw)), "192.168.1.254");
}

TEST(IpAddr, ParseV6) {
  const auto a = parse_ip("2001:DB8::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, IpAddr::Family::v6);
  EXPECT_EQ(a->b[0], 0x20);
  EXPECT_EQ(a->b[1], 0x01);
  EXPECT_EQ(a->b[15], 0x01);
  EXPECT_EQ(to_string(*a), "2001:db8::1");
  EXPECT_EQ(to_string(*parse_ip("::ffff:10.0.0.1")), "::ffff:10.0.0.1");
  EXPECT_EQ(to_string(*parse_ip("fe80::1:2:3:4")), "fe80::1:2:3:4");
}

TEST(IpAddr, RejectsMalformed) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "10.0.0.1.2", "2001:db8:::1", "gggg::1", "10.0.0.1/24",
                          "localhost", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc"}) {
    EXPECT_FALSE(parse_ip(bad)) << '"' << bad << '"';
  }
  EXPECT_EQ(to_string(IpAddr{}), "none");
}

TEST(IpAddr, FamiliesDoNotCompareEqual) {
  // 0.0.0.0 and :: share bytes but differ in family.
  EXPECT_NE(*parse_ip("0.0.0.0"), *parse_ip("::"));
  EXPECT_NE(IpAddr{}, *parse_ip("0.0.0.0"));
}

}  // namespace
}  // namespace ftproxy::packet
