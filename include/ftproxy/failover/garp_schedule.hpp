// When to announce the service identity after a takeover (DESIGN.md §7), in the manner
// of keepalived and Pacemaker: a burst of `count` announcements `interval` apart, the
// first at once, then one refresh every `refresh` while live. Pure: time is passed in.
#pragma once

#include <cstdint>

#include "ftproxy/common/time.hpp"

namespace ftproxy::failover {

class GarpSchedule {
 public:
  GarpSchedule(std::uint32_t count, MonoTime interval, MonoTime refresh) noexcept
      : count_(count == 0 ? 1 : count), interval_(interval), refresh_(refresh) {}

  // Starts (or restarts) a burst now.
  void start(MonoTime now) noexcept {
    active_ = true;
    sent_in_burst_ = 0;
    next_ = now;
  }
  void stop() noexcept { active_ = false; }
  bool active() const noexcept { return active_; }

  // True when one announcement is due at `now`; the caller sends it and the schedule
  // moves on. Call repeatedly until false (a late tick catches up one frame at a time).
  bool due(MonoTime now) noexcept {
    if (!active_ || now < next_) return false;
    ++sent_total_;
    if (sent_in_burst_ < count_) ++sent_in_burst_;
    if (sent_in_burst_ < count_) {
      next_ = now + interval_;
    } else if (refresh_ > MonoTime::zero()) {
      next_ = now + refresh_;
    } else {
      active_ = false;
    }
    return true;
  }

  MonoTime next_due() const noexcept { return active_ ? next_ : MonoTime::max(); }
  std::uint64_t sent_total() const noexcept { return sent_total_; }

 private:
  std::uint32_t count_;
  MonoTime interval_;
  MonoTime refresh_;
  bool active_ = false;
  std::uint32_t sent_in_burst_ = 0;
  MonoTime next_{0};
  std::uint64_t sent_total_ = 0;
};

}  // namespace ftproxy::failover
