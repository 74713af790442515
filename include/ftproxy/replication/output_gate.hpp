// The output rule (DESIGN.md §4) on the primary: every frame the server sends is stamped
// with the last log seq at capture time and held until the backup's cumulative ack
// reaches that stamp; frames leave in capture order.
//
// Frames are copied into fixed storage (bytes + slots sized at construction); nothing
// allocates afterwards. Pure: time is passed in. Not thread-safe.
//
// Backpressure: push() returns false when the gate is full; the frame is then the
// caller's to drop and count. The proxy avoids that by asking has_room(burst) before
// each rx_burst on `int` and reading no more frames than fit, so a slow backup stalls
// the server's output (TCP flow control pushes back on it) instead of losing frames.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "ftproxy/common/time.hpp"
#include "ftproxy/replication/record_ring.hpp"

namespace ftproxy::replication {

struct OutputGateConfig {
  std::size_t capacity_frames = 8192;
  std::size_t capacity_bytes = 8u << 20;
  std::size_t max_frame_bytes = 9216 + 22;  // jumbo payload + Ethernet/VLAN header
};

struct OutputGateStats {
  // Upper bounds (ns) of the hold-time histogram buckets; the last bucket is +Inf.
  static constexpr std::array<std::uint64_t, 15> kHoldBucketBoundsNs = {
      10'000,    25'000,     50'000,     100'000,    250'000,     500'000,     1'000'000,    2'500'000,
      5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 1'000'000'000};

  std::uint64_t held_now = 0;  // frames held at this moment
  std::uint64_t held_bytes_now = 0;
  std::uint64_t held_max = 0;          // high-water mark of held_now
  std::uint64_t pushed = 0;            // frames accepted by push()
  std::uint64_t released = 0;          // frames handed out and popped
  std::uint64_t dropped_full = 0;      // push() refused: no room
  std::uint64_t dropped_oversize = 0;  // push() refused: longer than max_frame_bytes
  std::uint64_t hold_ns_sum = 0;       // capture → release, over released frames
  std::uint64_t hold_ns_max = 0;
  // Per-bucket counts (not cumulative): bucket i counts holds <= kHoldBucketBoundsNs[i]
  // and > the previous bound; the last counts the rest.
  std::array<std::uint64_t, kHoldBucketBoundsNs.size() + 1> hold_buckets{};
};

// A released frame as handed to the caller: a view into the gate's storage, valid until
// the pop() that frees it.
using FrameBytes = std::span<const std::uint8_t>;

class OutputGate {
 public:
  // Allocates the storage. `acked_seq` is the cumulative ack at start (usually 0).
  explicit OutputGate(const OutputGateConfig& cfg = {}, std::uint64_t acked_seq = 0);

  // True if a frame stamped `stamp` must be pushed (not sent at once): something it
  // may depend on is unacked, or earlier frames are still held (capture order).
  bool must_hold(std::uint64_t stamp) const noexcept { return stamp > acked_ || !ring_.empty(); }

  // Copies `frame` in, stamped with the last logged seq. False when full or oversize
  // (counted in stats; the frame is not kept).
  bool push(std::uint64_t stamp, std::span<const std::uint8_t> frame, MonoTime now) noexcept;

  // True if `frames` more frames of max_frame_bytes each would be accepted now.
  bool has_room(std::size_t frames) const noexcept { return ring_.fits_count(max_frame_) >= frames; }

  // Records the cumulative ack (it never moves back) and fills `out` with views of the
  // oldest held frames whose stamp <= the ack, in capture order; returns how many.
  // Nothing is freed until pop(), so a partial tx_burst keeps the rest held.
  std::size_t peek_releasable(std::uint64_t acked_seq, std::span<FrameBytes> out) noexcept;
  // Like peek_releasable() but ignores stamps (going live without a backup).
  std::size_t peek_all(std::span<FrameBytes> out) const noexcept;
  // Frees the `n` oldest frames (after the caller sent them) and records their hold time.
  void pop(std::size_t n, MonoTime now) noexcept;

  static constexpr std::size_t kMaxReleaseBurst = 64;

  // Loop of peek + sink + pop in bursts of up to kMaxReleaseBurst frames. `sink(std::span<const
  // FrameBytes>)` returns how many of the frames it sent (in order); a short count stops
  // the release and keeps the rest held. Returns the number released.
  template <class Sink>
  std::size_t release(std::uint64_t acked_seq, MonoTime now, Sink&& sink) {
    return drain(now, sink, [&](std::span<FrameBytes> out) { return peek_releasable(acked_seq, out); });
  }
  // Releases everything held regardless of stamps, and stops holding from now on
  // (must_hold() is false for every stamp until reopen()). For going LIVE alone.
  template <class Sink>
  std::size_t release_all(MonoTime now, Sink&& sink) {
    acked_ = std::numeric_limits<std::uint64_t>::max();
    return drain(now, sink, [&](std::span<FrameBytes> out) { return peek_all(out); });
  }
  // Starts holding again with a new cumulative ack (a new backup joined, new epoch).
  void reopen(std::uint64_t acked_seq) noexcept { acked_ = acked_seq; }

  std::uint64_t acked_seq() const noexcept { return acked_; }
  // Stamp of the oldest held frame (meaningful when held() > 0).
  std::uint64_t oldest_stamp() const noexcept { return ring_.empty() ? 0 : ring_.meta_at(0).stamp; }
  // Capture time of the oldest held frame (for a "longest hold" gauge), 0 when empty.
  MonoTime oldest_capture() const noexcept { return ring_.empty() ? MonoTime{0} : ring_.meta_at(0).captured; }
  std::size_t held() const noexcept { return ring_.size(); }
  const OutputGateStats& stats() const noexcept { return stats_; }
  const OutputGateConfig& config() const noexcept { return cfg_; }

 private:
  struct Meta {
    std::uint64_t stamp = 0;
    MonoTime captured{0};
  };
  template <class Sink, class Peek>
  std::size_t drain(MonoTime now, Sink& sink, Peek&& peek) {
    std::array<FrameBytes, kMaxReleaseBurst> batch{};
    std::size_t total = 0;
    for (;;) {
      const std::size_t n = peek(std::span<FrameBytes>(batch));
      if (n == 0) break;
      std::size_t sent = sink(std::span<const FrameBytes>(batch.data(), n));
      if (sent > n) sent = n;
      pop(sent, now);
      total += sent;
      if (sent < n) break;
    }
    return total;
  }

  OutputGateConfig cfg_;
  std::size_t max_frame_;
  RecordRing<Meta> ring_;
  std::uint64_t acked_;
  OutputGateStats stats_;
};

}  // namespace ftproxy::replication
