// ftproxy: the replication proxy. Runs in the foreground until SIGINT/SIGTERM.
#include <linux/capability.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon_command_line.hpp"
#include "ftproxy/control/config.hpp"
#include "ftproxy/control/logging.hpp"
#include "ftproxy/control/privileges.hpp"
#include "ftproxy/node/node.hpp"
#include "ftproxy/replication/log_auth.hpp"
#include "ftproxy/replication/log_tls.hpp"
#include "ftproxy_build_config.hpp"

using namespace ftproxy;
using bin::kExitConfig;
using bin::kExitOk;
using bin::kExitRuntime;

namespace {

std::optional<control::ProxyConfig> load(const std::string& path, bool check_env) {
  std::vector<std::string> errors;
  auto cfg = control::load_proxy_config(path, errors);
  if (cfg && check_env) control::check_proxy_environment(*cfg, errors);
  // The key's mode and format (its existence is reported by check_proxy_environment).
  if (cfg && check_env && !cfg->log.key_file.empty() && ::access(cfg->log.key_file.c_str(), F_OK) == 0) {
    std::string why;
    if (!replication::load_log_key(cfg->log.key_file, why)) errors.push_back("log.key_file: " + why);
  }
  // The TLS files as the start loads them: key mode, PEM contents, key matching the cert.
  if (cfg && check_env && cfg->log.tls && ::access(cfg->log.tls_cert_file.c_str(), F_OK) == 0 &&
      ::access(cfg->log.tls_key_file.c_str(), F_OK) == 0 &&
      ::access(cfg->log.tls_ca_file.c_str(), F_OK) == 0) {
    std::string why;
    if (!replication::make_log_tls({cfg->log.tls_cert_file, cfg->log.tls_key_file, cfg->log.tls_ca_file},
                                   why))
      errors.push_back("log." + why);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << path << ": " << e << "\n";
    return std::nullopt;
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const bin::DaemonStart start = bin::parse_daemon_command_line(
      argc, argv,
      {"ftproxy",
       std::string("ftproxy ") + FTPROXY_VERSION + " (backends: pcap pcap-file memory" +
           (FTPROXY_HAVE_DPDK ? " dpdk" : "") + ")",
       "validate a configuration (and its interfaces/files) and exit",
       [](const std::string& path) { return load(path, true).has_value(); }});
  if (start.exit_code) return *start.exit_code;
  auto cfg = load(start.config_path, true);
  if (!cfg) return kExitConfig;

  control::setup_logging(cfg->logging, "ftproxy[" + cfg->node.name + "]");
  // The user to become once everything privileged is open; looked up first to fail early.
  std::optional<control::UserIds> run_as;
  if (!cfg->node.user.empty()) {
    std::string err;
    run_as = control::resolve_user(cfg->node.user, err);
    if (!run_as) {
      spdlog::error("start failed {}", control::fields({{"error", "node.user: " + err}}));
      return kExitConfig;
    }
  }
  bool memory_locked = false;
  // Failure detection works in tens of milliseconds: like corosync and keepalived, run
  // with a real-time priority and locked memory so a busy machine or paging cannot make
  // the proxy look dead to its peer.
  if (cfg->node.realtime_priority > 0) {
    sched_param sp{};
    sp.sched_priority = static_cast<int>(cfg->node.realtime_priority);
    if (sched_setscheduler(0, SCHED_RR, &sp) != 0) {
      spdlog::warn("real-time scheduling not available {}",
                   control::fields(
                       {{"priority", std::to_string(sp.sched_priority)}, {"error", std::strerror(errno)}}));
    }
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
      spdlog::warn("memory not locked {}", control::fields({{"error", std::strerror(errno)}}));
    } else {
      memory_locked = true;
    }
  }
  boost::asio::io_context io(1);
  node::Node node(io, *cfg);
  std::string error;
  if (!node.start(error)) {
    spdlog::error("start failed {}", control::fields({{"error", error}}));
    return kExitRuntime;
  }
  // Ports, log listener, control port, scheduling and memory locking are set: root is
  // no longer needed (docs/security.md, "Privileges").
  if (run_as) {
    // MCL_FUTURE keeps locking every new allocation: an unprivileged process may do that
    // only up to RLIMIT_MEMLOCK, so the limit goes to unlimited (a hard limit already
    // unlimited, e.g. systemd's LimitMEMLOCK=infinity, needs no privilege), else
    // CAP_IPC_LOCK is kept: without either, allocations fail after the switch (measured:
    // std::bad_alloc, and OpenSSL finds no randomness).
    std::vector<int> keep;
    if (memory_locked) {
      rlimit lim{};
      getrlimit(RLIMIT_MEMLOCK, &lim);
      const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
      if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0 && lim.rlim_max == RLIM_INFINITY) {
        lim.rlim_cur = RLIM_INFINITY;
        setrlimit(RLIMIT_MEMLOCK, &lim);
      }
      getrlimit(RLIMIT_MEMLOCK, &lim);
      if (lim.rlim_cur != RLIM_INFINITY) {
        keep.push_back(CAP_IPC_LOCK);
        spdlog::info("keeping cap_ipc_lock {}",
                     control::fields({{"reason", "memory is locked and RLIMIT_MEMLOCK cannot be raised"},
                                      {"memlock_bytes", std::to_string(lim.rlim_cur)}}));
      }
    }
    control::DropReport report;
    if (!control::drop_privileges(*run_as, keep, report, error)) {
      spdlog::error("start failed {}", control::fields({{"error", "node.user: " + error}}));
      return kExitRuntime;
    }
    spdlog::info("privileges dropped {}",
                 control::fields({{"user", report.user.name},
                                  {"uid", std::to_string(report.user.uid)},
                                  {"gid", std::to_string(report.user.gid)},
                                  {"capabilities", control::capability_names(report.kept)}}));
  } else if (geteuid() == 0) {
    spdlog::warn("running as root: set node.user to drop privileges after start-up");
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("stopping {}", control::fields({{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}}));
    node.stop();
    io.stop();
  });
  io.run();
  spdlog::info("stopped");
  return kExitOk;
}
