#include "ftproxy/packet/serial.hpp"

#include <gtest/gtest.h>

#include <random>

namespace ftproxy::packet {
namespace {

static_assert(seq_lt(0xFFFFFFF0u, 0x10u));
static_assert(seq_diff(0x10u, 0xFFFFFFF0u) == 0x20);

TEST(Serial, WrapAround) {
  EXPECT_TRUE(seq_lt(0xFFFFFFF0u, 0x10u));
  EXPECT_FALSE(seq_lt(0x10u, 0xFFFFFFF0u));
  EXPECT_TRUE(seq_gt(0x10u, 0xFFFFFFF0u));
  EXPECT_TRUE(seq_le(0xFFFFFFFFu, 0u));
  EXPECT_TRUE(seq_ge(0u, 0xFFFFFFFFu));
  EXPECT_EQ(seq_max(0xFFFFFFF0u, 0x10u), 0x10u);
  EXPECT_EQ(seq_min(0xFFFFFFF0u, 0x10u), 0xFFFFFFF0u);
  EXPECT_EQ(seq_diff(0x10u, 0xFFFFFFF0u), 0x20);
  EXPECT_EQ(seq_diff(0xFFFFFFF0u, 0x10u), -0x20);
}

TEST(Serial, EqualValues) {
  EXPECT_FALSE(seq_lt(5u, 5u));
  EXPECT_FALSE(seq_gt(5u, 5u));
  EXPECT_TRUE(seq_le(5u, 5u));
  EXPECT_TRUE(seq_ge(5u, 5u));
  EXPECT_EQ(seq_diff(5u, 5u), 0);
  EXPECT_EQ(seq_max(5u, 5u), 5u);
}

TEST(Serial, HalfRangeBoundary) {
  // Within 2^31 - 1 the order is unambiguous, in both directions.
  EXPECT_TRUE(seq_lt(0u, 0x7FFFFFFFu));
  EXPECT_FALSE(seq_lt(0x7FFFFFFFu, 0u));
  EXPECT_TRUE(seq_lt(0x80000000u, 0xFFFFFFFFu));
  // At exactly 2^31 apart RFC 1982 leaves the order undefined; here both read as "before".
  EXPECT_TRUE(seq_lt(0u, 0x80000000u));
  EXPECT_TRUE(seq_lt(0x80000000u, 0u));
}

TEST(Serial, AgreesWithUnwrappedOrderNearAnyBase) {
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t base = static_cast<std::uint32_t>(rng());
    const std::int64_t da = static_cast<std::int64_t>(rng() % 0x40000000u);
    const std::int64_t db = static_cast<std::int64_t>(rng() % 0x40000000u);
    const std::uint32_t a = base + static_cast<std::uint32_t>(da);
    const std::uint32_t b = base + static_cast<std::uint32_t>(db);
    ASSERT_EQ(seq_lt(a, b), da < db);
    ASSERT_EQ(seq_le(a, b), da <= db);
    ASSERT_EQ(seq_diff(b, a), db - da);
    ASSERT_EQ(seq_max(a, b), da >= db ? a : b);
  }
}

}  // namespace
}  // namespace ftproxy::packet
