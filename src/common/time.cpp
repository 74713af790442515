#include "ftproxy/common/time.hpp"

#include <ctime>

namespace ftproxy {

MonoTime mono_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return MonoTime{std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec};
}

std::int64_t wall_now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace ftproxy
