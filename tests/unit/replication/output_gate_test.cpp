#include "ftproxy/replication/output_gate.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

namespace ftproxy::replication {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes frame(std::uint8_t tag, std::size_t len = 60) {
  return Bytes(len, tag);
}

// A sink that records what it was given and sends at most `limit` frames per call.
struct Tx {
  std::vector<Bytes> sent;
  std::size_t limit = SIZE_MAX;
  std::size_t calls = 0;
  std::size_t operator()(std::span<const FrameBytes> frames) {
    ++calls;
    const std::size_t n = std::min(limit, frames.size());
    for (std::size_t i = 0; i < n; ++i) sent.emplace_back(frames[i].begin(), frames[i].end());
    return n;
  }
};

TEST(OutputGate, MustHoldOnlyWhileSomethingIsUnackedOrHeld) {
  OutputGate gate({}, 10);
  EXPECT_FALSE(gate.must_hold(9));
  EXPECT_FALSE(gate.must_hold(10));
  EXPECT_TRUE(gate.must_hold(11));
  ManualClock clock;
  ASSERT_TRUE(gate.push(11, frame(1), clock.now()));
  // Even an output stamped with an acked seq waits behind a held one (capture order).
  EXPECT_TRUE(gate.must_hold(10));
}

TEST(OutputGate, ReleasesInCaptureOrderUpToTheAck) {
  ManualClock clock;
  OutputGate gate;
  for (std::uint8_t i = 1; i <= 6; ++i)
    ASSERT_TRUE(gate.push(i / 2, frame(i), clock.now()));  // stamps 0,1,1,2,2,3
  Tx tx;
  EXPECT_EQ(gate.release(1, clock.now(), tx), 3u);
  ASSERT_EQ(tx.sent.size(), 3u);
  for (std::uint8_t i = 0; i < 3; ++i) EXPECT_EQ(tx.sent[i], frame(i + 1));
  EXPECT_EQ(gate.held(), 3u);
  EXPECT_EQ(gate.oldest_stamp(), 2u);
  // The ack never moves back.
  EXPECT_EQ(gate.release(0, clock.now(), tx), 0u);
  EXPECT_EQ(gate.acked_seq(), 1u);
  EXPECT_EQ(gate.release(3, clock.now(), tx), 3u);
  ASSERT_EQ(tx.sent.size(), 6u);
  EXPECT_EQ(tx.sent[5], frame(6));
  EXPECT_EQ(gate.held(), 0u);
  EXPECT_EQ(gate.stats().released, 6u);
  EXPECT_EQ(gate.stats().pushed, 6u);
  EXPECT_EQ(gate.stats().held_max, 6u);
  EXPECT_FALSE(gate.must_hold(3));
}

TEST(OutputGate, ShortTxKeepsTheRestHeldInOrder) {
  ManualClock clock;
  OutputGate gate;
  for (std::uint8_t i = 0; i < 200; ++i) ASSERT_TRUE(gate.push(1, frame(i), clock.now()));
  Tx tx;
  tx.limit = 10;
  EXPECT_EQ(gate.release(1, clock.now(), tx), 10u);
  EXPECT_EQ(gate.held(), 190u);
  tx.limit = SIZE_MAX;
  EXPECT_EQ(gate.release(1, clock.now(), tx), 190u);
  EXPECT_GE(tx.calls, 4u);  // bursts of at most 64
  ASSERT_EQ(tx.sent.size(), 200u);
  for (std::size_t i = 0; i < 200; ++i) EXPECT_EQ(tx.sent[i][0], static_cast<std::uint8_t>(i));
}

TEST(OutputGate, FullAndOversizeAreRefusedAndCounted) {
  ManualClock clock;
  OutputGateConfig cfg;
  cfg.capacity_frames = 4;
  cfg.capacity_bytes = 1000;
  cfg.max_frame_bytes = 300;
  OutputGate gate(cfg);
  EXPECT_TRUE(gate.has_room(3));
  EXPECT_FALSE(gate.has_room(4));  // 4 x 300 > 1000 bytes
  EXPECT_FALSE(gate.push(1, frame(0, 301), clock.now()));
  EXPECT_EQ(gate.stats().dropped_oversize, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(gate.push(1, frame(0, 100), clock.now()));
  EXPECT_FALSE(gate.has_room(1));
  EXPECT_FALSE(gate.push(1, frame(0, 10), clock.now()));  // slots exhausted
  EXPECT_EQ(gate.stats().dropped_full, 1u);
  Tx tx;
  EXPECT_EQ(gate.release(1, clock.now(), tx), 4u);
  // Bytes exhausted with free slots.
  EXPECT_TRUE(gate.push(2, frame(0, 300), clock.now()));
  EXPECT_TRUE(gate.push(2, frame(0, 300), clock.now()));
  EXPECT_TRUE(gate.push(2, frame(0, 300), clock.now()));
  EXPECT_FALSE(gate.push(2, frame(0, 300), clock.now()));
  EXPECT_EQ(gate.stats().dropped_full, 2u);
  EXPECT_EQ(gate.stats().held_bytes_now, 900u);
}

TEST(OutputGate, ReleaseAllIgnoresStampsAndStopsHolding) {
  ManualClock clock;
  OutputGate gate;
  for (std::uint8_t i = 1; i <= 5; ++i) ASSERT_TRUE(gate.push(100 + i, frame(i), clock.now()));
  Tx tx;
  EXPECT_EQ(gate.release(0, clock.now(), tx), 0u);
  EXPECT_EQ(gate.release_all(clock.now(), tx), 5u);
  ASSERT_EQ(tx.sent.size(), 5u);
  EXPECT_EQ(tx.sent[4], frame(5));
  EXPECT_FALSE(gate.must_hold(1'000'000));
  gate.reopen(200);
  EXPECT_TRUE(gate.must_hold(201));
  EXPECT_FALSE(gate.must_hold(200));
}

TEST(OutputGate, HoldTimeStatistics) {
  ManualClock clock;
  OutputGate gate;
  ASSERT_TRUE(gate.push(1, frame(1), clock.now()));
  clock.advance(microseconds(30));
  ASSERT_TRUE(gate.push(2, frame(2), clock.now()));
  clock.advance(microseconds(70));  // frame 1 held 100 us, frame 2 held 70 us
  Tx tx;
  ASSERT_EQ(gate.release(2, clock.now(), tx), 2u);
  const auto& s = gate.stats();
  EXPECT_EQ(s.hold_ns_sum, 170'000u);
  EXPECT_EQ(s.hold_ns_max, 100'000u);
  EXPECT_EQ(s.hold_buckets[3], 2u);  // (50 us, 100 us]
  clock.advance(seconds(2));
  ASSERT_TRUE(gate.push(3, frame(3), clock.now() - seconds(2)));
  ASSERT_EQ(gate.release(3, clock.now(), tx), 1u);
  EXPECT_EQ(gate.stats().hold_buckets.back(), 1u);  // +Inf
  EXPECT_EQ(gate.stats().hold_ns_max, 2'000'000'000u);
}

TEST(OutputGate, ByteRingWrapAroundKeepsContentAndOrder) {
  ManualClock clock;
  OutputGateConfig cfg;
  cfg.capacity_frames = 16;
  cfg.capacity_bytes = 5000;
  cfg.max_frame_bytes = 1500;
  OutputGate gate(cfg);
  std::mt19937 rng(7);
  std::deque<Bytes> model;
  std::uint64_t seq = 0;
  Tx tx;
  for (int step = 0; step < 5000; ++step) {
    if (rng() % 2) {
      Bytes f(1 + rng() % 1500);
      for (auto& b : f) b = static_cast<std::uint8_t>(rng());
      const bool room = gate.has_room(1);
      const bool ok = gate.push(++seq, f, clock.now());
      if (room) {
        EXPECT_TRUE(ok);  // has_room is a guarantee
      }
      if (ok) model.push_back(f);
    } else {
      tx.sent.clear();
      const std::size_t n = gate.release(seq - rng() % 3, clock.now(), tx);
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(tx.sent[i], model.front());
        model.pop_front();
      }
    }
    ASSERT_EQ(gate.held(), model.size());
  }
  EXPECT_GT(gate.stats().released, 1000u);
}

}  // namespace
}  // namespace ftproxy::replication
