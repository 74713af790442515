// The backup's memory of what its server sent while suppressed (DESIGN.md §7, takeover).
// At takeover the client may still lack replies that the backup server produced but
// the dead primary never released; the backup server would only resend them on its
// retransmission timer (>= 200 ms on Linux). Replaying the suppressed segments the
// client has not acknowledged, translated, makes the first byte after a takeover leave
// at once; a duplicate is harmless to TCP.
//
// Fixed memory: `slots` frames of at most `slot_bytes` each, oldest overwritten first
// (counted). Only segments carrying payload or FIN are kept. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace ftproxy::node {

class OutputReplay {
 public:
  OutputReplay(std::size_t slots = 4096, std::size_t slot_bytes = 2048)
      : slot_bytes_(slot_bytes), buf_(slots * slot_bytes), len_(slots, 0) {}

  // Keeps a copy of one suppressed output frame. False (counted) when it is too long.
  bool remember(std::span<const std::uint8_t> frame) noexcept {
    if (frame.size() > slot_bytes_) {
      ++too_long_;
      return false;
    }
    const std::size_t slot = (head_ + count_) % len_.size();
    if (count_ == len_.size()) {
      head_ = (head_ + 1) % len_.size();
      ++overwritten_;
    } else {
      ++count_;
    }
    std::memcpy(buf_.data() + slot * slot_bytes_, frame.data(), frame.size());
    len_[slot] = static_cast<std::uint32_t>(frame.size());
    return true;
  }

  // Visits every kept frame, oldest first, as writable bytes (the visitor may translate
  // in place), then forgets them all.
  template <class Visit>
  void replay_and_clear(Visit&& visit) {
    for (std::size_t i = 0; i < count_; ++i) {
      const std::size_t slot = (head_ + i) % len_.size();
      visit(std::span<std::uint8_t>(buf_.data() + slot * slot_bytes_, len_[slot]));
    }
    head_ = 0;
    count_ = 0;
  }

  std::size_t size() const noexcept { return count_; }
  std::uint64_t overwritten() const noexcept { return overwritten_; }
  std::uint64_t too_long() const noexcept { return too_long_; }

 private:
  std::size_t slot_bytes_;
  std::vector<std::uint8_t> buf_;
  std::vector<std::uint32_t> len_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint64_t overwritten_ = 0;
  std::uint64_t too_long_ = 0;
};

}  // namespace ftproxy::node
