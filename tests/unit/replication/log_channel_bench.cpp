// Throughput of the log channel with and without authentication (docs/benchmarks.md,
// "Log channel authentication"). One process, one io_context: LogSender and LogReceiver
// over loopback TCP, so the figure is the CPU cost of both ends together (in a real pair
// each end pays its half on its own host). Also times RecordMac::seal alone.
//
// Usage: replication_log_channel_bench [ENTRIES_PER_RUN (200000)] [ROUNDS (3)]
// Prints a markdown table; each cell is the best of ROUNDS runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include "ftproxy/replication/channel.hpp"

using namespace ftproxy;
using namespace ftproxy::replication;
namespace asio = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

// Entries per second through a fresh sender/receiver pair.
double run_channel(std::size_t entries, std::size_t size, bool keyed) {
  asio::io_context io;
  const std::vector<std::uint8_t> key(32, 0x42);
  ReceiverConfig rc;
  rc.cluster = "bench";
  rc.epoch = 1;
  rc.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  if (keyed) rc.psk = key;
  std::uint64_t delivered = 0;
  LogReceiver rx(io, rc, [&](const EntryView&) {
    ++delivered;
    return true;
  });
  std::string err;
  if (!rx.listen(err)) {
    std::fprintf(stderr, "listen: %s\n", err.c_str());
    std::exit(1);
  }
  SenderConfig sc;
  sc.cluster = "bench";
  sc.epoch = 1;
  sc.peer = rx.local_endpoint();
  sc.heartbeat_interval = std::chrono::milliseconds(5);
  if (keyed) sc.psk = key;
  LogSender tx(io, sc);
  tx.start(mono_now());
  while (!(tx.connected() && rx.connected())) {
    tx.tick(mono_now());
    rx.tick(mono_now());
    io.run_one_for(std::chrono::milliseconds(1));
  }
  const std::vector<std::uint8_t> payload(size, 0xab);
  std::uint64_t queued = 0;
  const auto t0 = Clock::now();
  while (tx.acked_seq() < entries) {
    while (queued < entries && tx.can_queue(size)) {
      tx.queue_entry(EntryKind::inbound_frame, queued, payload);
      ++queued;
    }
    tx.flush();
    const MonoTime now = mono_now();
    tx.tick(now);
    rx.tick(now);
    if (io.poll() == 0) io.run_one_for(std::chrono::milliseconds(1));
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (delivered != entries || (keyed && (tx.stats().authenticated != 1 || rx.stats().authenticated != 1))) {
    std::fprintf(stderr, "bench run invalid: delivered %llu of %zu\n",
                 static_cast<unsigned long long>(delivered), entries);
    std::exit(1);
  }
  return static_cast<double>(entries) / secs;
}

double seal_ns(std::size_t size, std::size_t n) {
  RecordMac mac;
  mac.start(std::vector<std::uint8_t>(32, 1));
  std::vector<std::uint8_t> rec(size, 0x5a);
  std::array<std::uint8_t, kTagSize> tag{};
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    mac.seal(rec, tag);
    rec[i % size] ^= tag[0];  // keep the loop honest
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::size_t entries = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  std::printf(
      "| entry data (bytes) | unauthenticated (entries/s) | with log.key_file (entries/s) | "
      "authenticated / unauthenticated | RecordMac::seal (ns/record) |\n");
  std::printf("|---|---|---|---|---|\n");
  for (std::size_t size : {64, 512, 1500}) {
    double plain = 0;
    double keyed = 0;
    for (int r = 0; r < rounds; ++r) {  // interleaved, so load changes hit both alike
      plain = std::max(plain, run_channel(entries, size, false));
      keyed = std::max(keyed, run_channel(entries, size, true));
    }
    double seal = 1e18;
    for (int r = 0; r < rounds; ++r) seal = std::min(seal, seal_ns(entry_record_size(size), 200000));
    std::printf("| %zu | %.0f | %.0f | %.2f | %.0f |\n", size, plain, keyed, keyed / plain, seal);
    std::fflush(stdout);
  }
  return 0;
}
