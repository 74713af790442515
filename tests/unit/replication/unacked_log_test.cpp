#include "ftproxy/replication/unacked_log.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

#include "ftproxy/replication/record_ring.hpp"

namespace ftproxy::replication {
namespace {

using Bytes = std::vector<std::uint8_t>;
using R = UnackedLog::AppendResult;

Bytes entry(std::uint64_t seq, std::size_t len) {
  Bytes b(len);
  for (std::size_t i = 0; i < len; ++i) b[i] = static_cast<std::uint8_t>(seq * 31 + i);
  return b;
}

TEST(UnackedLog, AppendAckGetForEach) {
  UnackedLog log({8, 1000}, 5);
  EXPECT_EQ(log.append(6, entry(6, 10)), R::out_of_order);
  for (std::uint64_t s = 5; s < 10; ++s) EXPECT_EQ(log.append(s, entry(s, 10)), R::ok);
  EXPECT_EQ(log.entries(), 5u);
  EXPECT_EQ(log.bytes(), 50u);
  EXPECT_EQ(log.front_seq(), 5u);
  EXPECT_EQ(log.last_seq(), 9u);
  EXPECT_EQ(Bytes(log.get(7).begin(), log.get(7).end()), entry(7, 10));
  EXPECT_TRUE(log.get(4).empty());
  EXPECT_TRUE(log.get(10).empty());

  std::vector<std::uint64_t> seen;
  log.for_each_from(7, [&](std::uint64_t s, std::span<const std::uint8_t> b) {
    EXPECT_EQ(Bytes(b.begin(), b.end()), entry(s, 10));
    seen.push_back(s);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{7, 8, 9}));
  seen.clear();
  log.for_each_from(0, [&](std::uint64_t s, std::span<const std::uint8_t>) {
    seen.push_back(s);
    return s < 6;  // stop after 6
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{5, 6}));

  EXPECT_EQ(log.ack(4), 0u);
  EXPECT_EQ(log.ack(6), 2u);
  EXPECT_EQ(log.front_seq(), 7u);
  EXPECT_EQ(log.ack(6), 0u);
  EXPECT_EQ(log.ack(100), 3u);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(log.front_seq(), 10u);
  EXPECT_EQ(log.append(10, entry(10, 1)), R::ok);
  EXPECT_EQ(log.front_seq(), 10u);
}

TEST(UnackedLog, BoundedByEntriesAndBytes) {
  UnackedLog by_entries({3, 1000}, 1);
  for (std::uint64_t s = 1; s <= 3; ++s) EXPECT_EQ(by_entries.append(s, entry(s, 1)), R::ok);
  EXPECT_FALSE(by_entries.fits(1));
  EXPECT_EQ(by_entries.append(4, entry(4, 1)), R::full);
  EXPECT_EQ(by_entries.next_seq(), 4u);  // a refused append does not consume a seq
  by_entries.ack(1);
  EXPECT_EQ(by_entries.append(4, entry(4, 1)), R::ok);

  UnackedLog by_bytes({100, 100}, 1);
  EXPECT_EQ(by_bytes.append(1, entry(1, 101)), R::too_large);
  EXPECT_EQ(by_bytes.append(1, entry(1, 60)), R::ok);
  EXPECT_TRUE(by_bytes.fits(40));
  EXPECT_FALSE(by_bytes.fits(41));
  EXPECT_EQ(by_bytes.append(2, entry(2, 41)), R::full);
  EXPECT_EQ(by_bytes.append(2, entry(2, 40)), R::ok);
}

TEST(UnackedLog, WrapAroundKeepsEveryEntryIntact) {
  UnackedLog log({64, 4096}, 1);
  std::mt19937 rng(99);
  std::deque<std::pair<std::uint64_t, std::size_t>> model;
  std::uint64_t next = 1;
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 3 != 0) {
      const std::size_t len = 1 + rng() % 700;
      const bool fits = log.fits(len);
      const R r = log.append(next, entry(next, len));
      EXPECT_EQ(r == R::ok, fits);
      if (r == R::ok) model.emplace_back(next++, len);
    } else if (!model.empty()) {
      const std::size_t n = rng() % (model.size() + 1);
      const std::uint64_t upto = n == 0 ? model.front().first - 1 : model[n - 1].first;
      EXPECT_EQ(log.ack(upto), n);
      model.erase(model.begin(), model.begin() + static_cast<long>(n));
    }
    ASSERT_EQ(log.entries(), model.size());
    if (!model.empty() && step % 50 == 0) {
      for (const auto& [s, len] : model) {
        const auto b = log.get(s);
        ASSERT_EQ(Bytes(b.begin(), b.end()), entry(s, len)) << "seq " << s;
      }
    }
  }
  EXPECT_GT(next, 5000u);
}

TEST(RecordRing, FitsCountIsExact) {
  std::mt19937 rng(3);
  for (int round = 0; round < 300; ++round) {
    RecordRing<int> ring(1000, 20);
    for (int i = 0, n = static_cast<int>(rng() % 30); i < n; ++i) {
      if (rng() % 3) {
        ring.push(1 + rng() % 300, 0);
      } else {
        ring.pop_front(rng() % 3);
      }
    }
    const std::size_t len = 1 + rng() % 400;
    const std::size_t predicted = ring.fits_count(len);
    std::size_t actual = 0;
    while (ring.push(len, 0) != nullptr) ++actual;
    EXPECT_EQ(predicted, actual) << "round " << round;
  }
}

}  // namespace
}  // namespace ftproxy::replication
