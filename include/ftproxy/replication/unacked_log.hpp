// The primary's bounded resend buffer: encoded ENTRY records with consecutive sequence
// numbers, kept from the moment they are logged until the backup acks them, so they
// can be resent after a reconnect (DESIGN.md §3). Bounded by entries and bytes; a full
// log refuses the append, which is the backpressure signal (the caller stops taking
// input), never a silent drop.
//
// Pure, no allocation after construction, no exceptions. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "ftproxy/replication/record_ring.hpp"

namespace ftproxy::replication {

struct UnackedLogLimits {
  std::size_t max_entries = 65536;
  std::size_t max_bytes = 64u << 20;  // encoded bytes (storage is allocated up front)
};

class UnackedLog {
 public:
  enum class AppendResult : std::uint8_t { ok, full, out_of_order, too_large };

  // `next_seq` is the sequence number the first append must carry.
  explicit UnackedLog(const UnackedLogLimits& limits = {}, std::uint64_t next_seq = 1)
      : ring_(limits.max_bytes, limits.max_entries), next_seq_(next_seq), front_seq_(next_seq) {}

  // Reserves `len` bytes for entry `seq` (must be next_seq()) and returns where to
  // encode it, or nullptr (see append() for why). The caller writes exactly len bytes.
  std::uint8_t* append_slot(std::uint64_t seq, std::size_t len, AppendResult* why = nullptr) noexcept {
    AppendResult r = AppendResult::ok;
    std::uint8_t* p = nullptr;
    if (seq != next_seq_) {
      r = AppendResult::out_of_order;
    } else if (len > ring_.capacity_bytes()) {
      r = AppendResult::too_large;
    } else if ((p = ring_.push(len, Empty{})) == nullptr) {
      r = AppendResult::full;
    } else {
      if (ring_.size() == 1) front_seq_ = seq;
      ++next_seq_;
    }
    if (why != nullptr) *why = r;
    return p;
  }

  // Copies `bytes` as entry `seq`.
  AppendResult append(std::uint64_t seq, std::span<const std::uint8_t> bytes) noexcept {
    AppendResult r = AppendResult::ok;
    std::uint8_t* p = append_slot(seq, bytes.size(), &r);
    if (p != nullptr && !bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
    return r;
  }

  // Frees every entry with seq <= `seq` (cumulative ack); returns how many.
  std::size_t ack(std::uint64_t seq) noexcept {
    if (ring_.empty() || seq < front_seq_) return 0;
    std::size_t n = static_cast<std::size_t>(seq - front_seq_ + 1);
    if (n > ring_.size()) n = ring_.size();
    ring_.pop_front(n);
    front_seq_ += n;
    return n;
  }

  // The encoded entry `seq`, or an empty span if it is not held.
  std::span<const std::uint8_t> get(std::uint64_t seq) const noexcept {
    if (!contains(seq)) return {};
    return ring_.bytes_at(static_cast<std::size_t>(seq - front_seq_));
  }
  bool contains(std::uint64_t seq) const noexcept {
    return !ring_.empty() && seq >= front_seq_ && seq < next_seq_;
  }

  // Calls fn(seq, bytes) for held entries from `seq` on, oldest first; fn returns
  // false to stop. Returns how many entries fn was called for.
  template <class Fn>
  std::size_t for_each_from(std::uint64_t seq, Fn&& fn) const {
    if (ring_.empty()) return 0;
    if (seq < front_seq_) seq = front_seq_;
    std::size_t calls = 0;
    for (; seq < next_seq_; ++seq) {
      ++calls;
      if (!fn(seq, ring_.bytes_at(static_cast<std::size_t>(seq - front_seq_)))) break;
    }
    return calls;
  }

  // True when an entry of `len` encoded bytes could be appended now.
  bool fits(std::size_t len) const noexcept { return ring_.fits_count(len) > 0; }
  std::uint64_t next_seq() const noexcept { return next_seq_; }
  // Oldest held seq (== next_seq() when empty).
  std::uint64_t front_seq() const noexcept { return ring_.empty() ? next_seq_ : front_seq_; }
  std::uint64_t last_seq() const noexcept { return next_seq_ - 1; }
  std::size_t entries() const noexcept { return ring_.size(); }
  std::size_t bytes() const noexcept { return ring_.bytes(); }
  bool empty() const noexcept { return ring_.empty(); }
  std::size_t max_entries() const noexcept { return ring_.capacity_records(); }
  std::size_t max_bytes() const noexcept { return ring_.capacity_bytes(); }

 private:
  struct Empty {};
  RecordRing<Empty> ring_;
  std::uint64_t next_seq_;
  std::uint64_t front_seq_;
};

}  // namespace ftproxy::replication
