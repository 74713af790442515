// Throughput of the log channel plain, with the pre-shared key, over TLS and with both
// (docs/benchmarks.md, "Log channel authentication" and "Log channel TLS"). One process,
// one io_context: LogSender and LogReceiver over loopback TCP, so the figure is the CPU
// cost of both ends together (in a real pair each end pays its half on its own host).
// Also times RecordMac::seal alone. The TLS certificates (EC P-256, one test CA) are made
// at start with the openssl CLI in a temporary directory.
//
// Usage: replication_log_channel_bench [ENTRIES_PER_RUN (200000)] [ROUNDS (3)]
// Prints a markdown table; each cell is the best of ROUNDS runs, the modes interleaved.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

struct Mode {
  bool keyed = false;
  std::shared_ptr<LogTls> tls;  // null = plain TCP
};

bool sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

// A CA and one certificate signed by it, both ends use it; nullptr if openssl failed.
std::shared_ptr<LogTls> make_bench_tls(const std::string& dir) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  if (!sh("openssl req -x509 " + ec + "-days 1 -keyout " + dir + "/ca.key -out " + dir +
          "/ca.pem -subj /CN=bench-ca") ||
      !sh("openssl req " + ec + "-keyout " + dir + "/n.key -out " + dir + "/n.csr -subj /CN=bench") ||
      !sh("openssl x509 -req -in " + dir + "/n.csr -CA " + dir + "/ca.pem -CAkey " + dir +
          "/ca.key -CAcreateserial -days 1 -out " + dir + "/n.pem") ||
      ::chmod((dir + "/n.key").c_str(), 0600) != 0) {
    return nullptr;
  }
  std::string err;
  auto t = make_log_tls({dir + "/n.pem", dir + "/n.key", dir + "/ca.pem"}, err);
  if (!t) std::fprintf(stderr, "make_log_tls: %s\n", err.c_str());
  return t;
}

// Entries per second through a fresh sender/receiver pair.
double run_channel(std::size_t entries, std::size_t size, const Mode& mode) {
  asio::io_context io;
  const bool keyed = mode.keyed;
  const std::vector<std::uint8_t> key(32, 0x42);
  ReceiverConfig rc;
  rc.cluster = "bench";
  rc.epoch = 1;
  rc.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  if (keyed) rc.psk = key;
  rc.tls = mode.tls;
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
  sc.tls = mode.tls;
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
  char tmpl[] = "/tmp/ftproxy-log-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  const auto tls = make_bench_tls(dir);
  std::filesystem::remove_all(dir);
  if (!tls) {
    std::fprintf(stderr, "cannot make the TLS test certificates (is the openssl CLI installed?)\n");
    return 1;
  }
  // plain, log.key_file, log.tls, both.
  const std::array<Mode, 4> modes = {Mode{false, nullptr}, Mode{true, nullptr}, Mode{false, tls},
                                     Mode{true, tls}};
  std::printf(
      "| entry data (bytes) | plain (entries/s) | log.key_file (entries/s) | log.tls (entries/s) | "
      "log.tls + log.key_file (entries/s) | key_file / plain | tls / plain | tls + key_file / plain | "
      "RecordMac::seal (ns/record) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (std::size_t size : {64, 512, 1500}) {
    std::array<double, 4> rate{};
    for (int r = 0; r < rounds; ++r) {  // interleaved, so load changes hit all alike
      for (std::size_t m = 0; m < modes.size(); ++m)
        rate[m] = std::max(rate[m], run_channel(entries, size, modes[m]));
    }
    double seal = 1e18;
    for (int r = 0; r < rounds; ++r) seal = std::min(seal, seal_ns(entry_record_size(size), 200000));
    std::printf("| %zu | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f |\n", size, rate[0], rate[1],
                rate[2], rate[3], rate[1] / rate[0], rate[2] / rate[0], rate[3] / rate[0], seal);
    std::fflush(stdout);
  }
  return 0;
}
