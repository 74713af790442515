// Test-only: the packet loop the log-channel tests drive by hand (the proxy's own loop
// does the same: flush, tick, run ready handlers or wait briefly for I/O).
#pragma once

#include <chrono>

#include <boost/asio/io_context.hpp>

#include "ftproxy/common/time.hpp"

namespace ftproxy::replication::test {

// One iteration: advance the manual clock by 50 µs, let `tick(now)` flush and tick the
// endpoints, then run the ready handlers, or wait up to 1 ms for one.
template <class Tick>
void loop_iteration(boost::asio::io_context& io, ManualClock& clock, Tick&& tick) {
  clock.advance(microseconds(50));
  tick(clock.now());
  if (io.stopped()) io.restart();
  if (io.poll() == 0) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(1));
  }
}

// Iterates until `done()` or `max_iterations` iterations; returns done().
template <class Iterate, class Pred>
bool pump_until(Iterate&& iterate, Pred&& done, int max_iterations) {
  for (int i = 0; i < max_iterations; ++i) {
    if (done()) return true;
    iterate();
  }
  return done();
}

}  // namespace ftproxy::replication::test
