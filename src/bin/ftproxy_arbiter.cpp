// ftproxy-arbiter: the embedded test-and-set arbiter. Runs in the foreground until
// SIGINT/SIGTERM (exit 0). Exit 2: bad command line or configuration; exit 1: cannot
// start (data directory unusable or locked, cannot listen).
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>

#include "daemon_command_line.hpp"
#include "ftproxy/arbiter/auth.hpp"
#include "ftproxy/arbiter/embedded_server.hpp"
#include "ftproxy/arbiter/flag_store.hpp"
#include "ftproxy/common/time.hpp"
#include "ftproxy/control/config.hpp"
#include "ftproxy/control/http_server.hpp"
#include "ftproxy/control/logging.hpp"
#include "ftproxy/control/metrics.hpp"
#include "ftproxy/control/stat_table.hpp"
#include "ftproxy_build_config.hpp"

using namespace ftproxy;
using bin::kExitConfig;
using bin::kExitOk;
using bin::kExitRuntime;

namespace {

// The key files named by the config, read and mode-checked (auth::load_key_file).
std::optional<arbiter::auth::KeyRing> load_keys(const control::ArbiterServerConfig& cfg,
                                                std::vector<std::string>& errors) {
  arbiter::auth::KeyRing ring;
  ring.allow_unauthenticated = cfg.allow_unauthenticated;
  const std::size_t before = errors.size();
  std::string err;
  if (!cfg.key_file.empty()) {
    if (auto keys = arbiter::auth::load_key_file(cfg.key_file, err)) {
      ring.default_keys = std::move(*keys);
    } else {
      errors.push_back("arbiter.key_file: " + err);
    }
  }
  for (const auto& [cluster, file] : cfg.cluster_keys) {
    if (auto keys = arbiter::auth::load_key_file(file, err)) {
      ring.per_cluster[cluster] = std::move(*keys);
    } else {
      errors.push_back("cluster_keys." + cluster + ": " + err);
    }
  }
  if (errors.size() != before) return std::nullopt;
  return ring;
}

struct Loaded {
  control::ArbiterServerConfig cfg;
  arbiter::auth::KeyRing keys;
};

std::optional<Loaded> load(const std::string& path) {
  std::vector<std::string> errors;
  auto cfg = control::load_arbiter_config(path, errors);
  std::optional<arbiter::auth::KeyRing> keys;
  if (cfg) keys = load_keys(*cfg, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << path << ": " << e << "\n";
    return std::nullopt;
  }
  return Loaded{std::move(*cfg), std::move(*keys)};
}

// Refused requests come from the network: a scanner must not flood the log. At most
// `burst` lines per `window`; the rest are counted and reported with the next line.
class LogRateLimit {
 public:
  bool allow(MonoTime now) {
    if (now - window_start_ >= window_) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      ++suppressed_;
      return false;
    }
    ++in_window_;
    return true;
  }
  std::uint64_t take_suppressed() { return std::exchange(suppressed_, 0); }

 private:
  MonoTime window_ = seconds{10};
  MonoTime window_start_{};
  std::uint32_t burst_ = 10;
  std::uint32_t in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

// Every value of the arbiter, named once: /status renders the keys, /metrics the metrics.
control::StatTable stat_table(const arbiter::FlagStore& store, const arbiter::EmbeddedServerCounters& c) {
  control::StatTable t;
  t.add("service", "ftproxy-arbiter");
  t.add("version", FTPROXY_VERSION);
  t.add("data_dir", store.dir());
  t.add("flags", store.size()).gauge("ftproxy_arbiter_flags", "Flags on record.");
  t.add("last_token", store.last_token())
      .gauge("ftproxy_arbiter_last_token", "Highest fencing token handed out.");
  t.add("requests", c.requests)
      .counter("ftproxy_arbiter_requests_total", "Requests received, well-formed or not.");
  t.add("won", c.won)
      .counter("ftproxy_arbiter_answers_total", "test-and-set answers by result.", {"result", "won"});
  t.add("lost", c.lost)
      .counter("ftproxy_arbiter_answers_total", "test-and-set answers by result.", {"result", "lost"});
  t.add("errors", c.errors)
      .counter("ftproxy_arbiter_errors_total", "Error replies (garbage, refused, storage).");
  t.add("refused", c.refused)
      .counter("ftproxy_arbiter_refused_total",
               "Requests refused by authentication (no key, wrong key, replay).");
  t.add("connections", c.connections).counter("ftproxy_arbiter_connections_total", "Connections accepted.");
  t.add("rejected_connections", c.rejected_connections)
      .counter("ftproxy_arbiter_rejected_connections_total", "Connections closed at once (limit).");
  t.add("open_connections", c.open_connections)
      .gauge("ftproxy_arbiter_open_connections", "Connections open now.");
  return t;
}

std::string status_json(const control::StatTable& t) {
  return boost::json::serialize(t.json()) + "\n";
}

std::string metrics_text(const control::StatTable& t) {
  std::string out;
  control::MetricsWriter w(out);
  t.write(w);
  return out;
}

int run(const control::ArbiterServerConfig& cfg, arbiter::auth::KeyRing keys) {
  control::setup_logging(cfg.logging, "ftproxy-arbiter");

  arbiter::FlagStore::OpenReport report;
  auto store = arbiter::FlagStore::open(cfg.data_dir, report);
  for (const auto& note : report.notes) spdlog::warn("data_dir {}", control::fields({{"note", note}}));
  if (!store) {
    for (const auto& e : report.errors)
      spdlog::error("data_dir unusable {}", control::fields({{"error", e}}));
    return kExitRuntime;
  }

  boost::asio::io_context io(1);
  LogRateLimit limit;
  arbiter::EmbeddedServerOptions options;
  const std::string auth_mode =
      std::to_string(keys.per_cluster.size()) + " cluster key(s), default key " +
      (keys.default_keys.empty() ? "none" : "set") +
      (keys.allow_unauthenticated ? ", unauthenticated clusters allowed" : ", keyless clusters refused");
  if (keys.per_cluster.empty() && keys.default_keys.empty() && !keys.allow_unauthenticated) {
    spdlog::warn("no key configured and allow_unauthenticated = false: every request will be refused");
  }
  options.authenticate = [keys = std::move(keys)](const arbiter::ArbiterRequest& r) {
    return arbiter::auth::check_request(keys, r);
  };
  options.on_decision = [](const arbiter::Decision& d) {
    const std::string epoch = std::to_string(d.epoch);
    const std::string token = std::to_string(d.token);
    spdlog::info("decision {}", control::fields({{"cluster", d.cluster},
                                                 {"epoch", epoch},
                                                 {"winner", d.owner},
                                                 {"token", token},
                                                 {"peer", d.peer}}));
  };
  options.on_error = [&limit](std::string_view peer, std::string_view error) {
    if (!limit.allow(mono_now())) return;
    const std::string suppressed = std::to_string(limit.take_suppressed());
    spdlog::warn("request refused {}",
                 control::fields({{"peer", peer}, {"error", error}, {"suppressed_before", suppressed}}));
  };
  arbiter::EmbeddedServer server(io, *store, std::move(options));
  if (std::string err = server.listen(cfg.listen.host, cfg.listen.port); !err.empty()) {
    spdlog::error("start failed {}", control::fields({{"error", err}}));
    return kExitRuntime;
  }

  std::optional<control::ControlServer> http;
  if (cfg.control_listen.port != 0) {
    http.emplace(io);
    http->get("/status", [&] {
      return control::HttpResponse::json(status_json(stat_table(*store, server.counters())));
    });
    http->get("/metrics", [&] {
      return control::HttpResponse::metrics(metrics_text(stat_table(*store, server.counters())));
    });
    std::string err;
    if (!http->start(cfg.control_listen, err)) {
      spdlog::error("start failed {}", control::fields({{"error", err}}));
      return kExitRuntime;
    }
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("stopping {}", control::fields({{"signal", signo == SIGINT ? "SIGINT" : "SIGTERM"}}));
    server.stop();
    if (http) http->stop();
    io.stop();
  });

  const std::string port = std::to_string(server.port());
  const std::string flags = std::to_string(store->size());
  const std::string token = std::to_string(store->last_token());
  const std::string http_port = http ? std::to_string(http->local_port()) : "off";
  spdlog::info("arbiter started {}", control::fields({{"version", FTPROXY_VERSION},
                                                      {"listen", cfg.listen.host + ":" + port},
                                                      {"control_port", http_port},
                                                      {"data_dir", cfg.data_dir},
                                                      {"auth", auth_mode},
                                                      {"flags", flags},
                                                      {"last_token", token}}));
  io.run();
  spdlog::info("arbiter stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const bin::DaemonStart start = bin::parse_daemon_command_line(
      argc, argv,
      {"ftproxy-arbiter", std::string("ftproxy-arbiter ") + FTPROXY_VERSION,
       "validate a configuration and exit", [](const std::string& path) { return load(path).has_value(); }});
  if (start.exit_code) return *start.exit_code;
  auto loaded = load(start.config_path);
  if (!loaded) return kExitConfig;
  try {
    return run(loaded->cfg, std::move(loaded->keys));
  } catch (const std::exception& e) {
    // Start-up code may throw (allocation, spdlog set-up); never die without a word.
    std::cerr << "ftproxy-arbiter: " << e.what() << "\n";
    return kExitRuntime;
  }
}
