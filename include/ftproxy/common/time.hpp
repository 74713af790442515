// Monotonic time as an injected value: pure logic never reads a clock itself.
#pragma once

#include <chrono>
#include <cstdint>

namespace ftproxy {

// Monotonic nanoseconds since an arbitrary epoch (CLOCK_MONOTONIC in production).
using MonoTime = std::chrono::nanoseconds;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Reads CLOCK_MONOTONIC. Only the I/O shell (event loop, binaries) calls this.
MonoTime mono_now() noexcept;

// Reads CLOCK_REALTIME in nanoseconds since the Unix epoch (for log records only).
std::int64_t wall_now_ns() noexcept;

// A clock that only moves when a test moves it.
class ManualClock {
 public:
  explicit ManualClock(MonoTime start = MonoTime{1'000'000'000}) : now_(start) {}
  MonoTime now() const noexcept { return now_; }
  void advance(MonoTime d) noexcept { now_ += d; }
  void set(MonoTime t) noexcept { now_ = t; }

 private:
  MonoTime now_;
};

}  // namespace ftproxy
