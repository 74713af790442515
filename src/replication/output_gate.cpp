#include "ftproxy/replication/output_gate.hpp"

#include <algorithm>
#include <cstring>

namespace ftproxy::replication {

OutputGate::OutputGate(const OutputGateConfig& cfg, std::uint64_t acked_seq)
    : cfg_(cfg),
      max_frame_(std::max<std::size_t>(cfg.max_frame_bytes, 1)),
      ring_(cfg.capacity_bytes, cfg.capacity_frames),
      acked_(acked_seq) {}

bool OutputGate::push(std::uint64_t stamp, std::span<const std::uint8_t> frame, MonoTime now) noexcept {
  if (frame.size() > cfg_.max_frame_bytes) {
    ++stats_.dropped_oversize;
    return false;
  }
  std::uint8_t* dst = ring_.push(frame.size(), Meta{stamp, now});
  if (dst == nullptr) {
    ++stats_.dropped_full;
    return false;
  }
  if (!frame.empty()) std::memcpy(dst, frame.data(), frame.size());
  ++stats_.pushed;
  stats_.held_now = ring_.size();
  stats_.held_bytes_now = ring_.bytes();
  stats_.held_max = std::max(stats_.held_max, stats_.held_now);
  return true;
}

std::size_t OutputGate::peek_releasable(std::uint64_t acked_seq, std::span<FrameBytes> out) noexcept {
  acked_ = std::max(acked_, acked_seq);
  std::size_t n = 0;
  // Stamps never decrease in capture order, so the first unreleasable frame ends the run.
  while (n < out.size() && n < ring_.size() && ring_.meta_at(n).stamp <= acked_) {
    out[n] = ring_.bytes_at(n);
    ++n;
  }
  return n;
}

std::size_t OutputGate::peek_all(std::span<FrameBytes> out) const noexcept {
  const std::size_t n = std::min(out.size(), ring_.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = ring_.bytes_at(i);
  return n;
}

void OutputGate::pop(std::size_t n, MonoTime now) noexcept {
  n = std::min(n, ring_.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto held = now - ring_.meta_at(i).captured;
    const std::uint64_t ns = held.count() > 0 ? static_cast<std::uint64_t>(held.count()) : 0;
    stats_.hold_ns_sum += ns;
    stats_.hold_ns_max = std::max(stats_.hold_ns_max, ns);
    const auto& bounds = OutputGateStats::kHoldBucketBoundsNs;
    const auto it = std::lower_bound(bounds.begin(), bounds.end(), ns);
    ++stats_.hold_buckets[static_cast<std::size_t>(it - bounds.begin())];
  }
  ring_.pop_front(n);
  stats_.released += n;
  stats_.held_now = ring_.size();
  stats_.held_bytes_now = ring_.bytes();
}

}  // namespace ftproxy::replication
