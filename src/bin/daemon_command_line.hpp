// The command line the two daemons share (ftproxy, ftproxy-arbiter):
//   --help/-h, --version, --config/-c FILE, --check-config FILE
// and their exit codes. Start-up only (allocates, prints to stdout/stderr).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace ftproxy::bin {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;  // cannot start or failed while running
inline constexpr int kExitConfig = 2;   // bad command line or configuration

struct DaemonCommandLine {
  std::string program;            // names the usage line and prefixes errors: "ftproxy"
  std::string version;            // the line --version prints (without the newline)
  std::string check_config_help;  // the --check-config line of --help
  // Loads and validates the configuration at `path`; prints its problems to stderr and
  // returns false if there are any. Used by --check-config.
  std::function<bool(const std::string& path)> check;
};

// What main() does next: return `exit_code` when it is set (--help, --version and
// --check-config were answered, or the command line was wrong: usage on stderr, exit
// kExitConfig), else run with the configuration at `config_path`.
struct DaemonStart {
  std::optional<int> exit_code;
  std::string config_path;
};

DaemonStart parse_daemon_command_line(int argc, char** argv, const DaemonCommandLine& cli);

}  // namespace ftproxy::bin
