// ftproxyctl's command line: what the operator asked for, where to send it, and the
// exit codes scripts rely on. Pure logic (no I/O): the binary (src/bin/ftproxyctl.cpp)
// parses, merges a proxy config in, then performs the request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/arbiter/arbiter.hpp"
#include "ftproxy/control/config.hpp"

namespace ftproxy::ctl {

// Process exit codes (documented in docs/ftproxyctl.md; never renumber).
enum class ExitCode : int {
  ok = 0,
  refused = 1,         // the proxy or arbiter answered, but with a refusal (HTTP >= 300, e.g. 401/409)
  usage = 2,           // bad arguments, unreadable config or token file, missing cluster/arbiter
  unreachable = 3,     // could not connect, timed out, no usable answer, or the arbiter was unavailable
  state_mismatch = 4,  // status --expect-state: the proxy is in another state
};
constexpr int to_int(ExitCode c) noexcept {
  return static_cast<int>(c);
}

enum class Command : std::uint8_t { help, version, status, flows, promote, fence, epoch_show, epoch_new };
const char* to_string(Command c) noexcept;  // "status", "epoch show", ...

// What the command line says. Empty / nullopt fields were not given.
struct CtlOptions {
  Command command = Command::help;
  bool json = false;                         // --json: raw JSON instead of a table
  std::optional<control::Endpoint> control;  // --control ADDR:PORT
  std::vector<control::Endpoint> arbiters;   // --arbiter ADDR:PORT (repeatable)
  std::string config_path;                   // --config FILE (a proxy config)
  std::string token_file;                    // --token-file FILE
  std::string arbiter_key_file;              // --arbiter-key-file FILE (embedded arbiter key)
  std::string expect_state;                  // status --expect-state STATE
  std::string cluster;                       // --cluster NAME (epoch commands)
  std::optional<std::uint64_t> epoch;        // --epoch N (epoch show)
  std::chrono::milliseconds timeout{3000};   // --timeout-ms: whole request
};

struct ParseOutcome {
  std::optional<CtlOptions> options;  // set on success
  std::string error;                  // set on failure (exit with ExitCode::usage)
};

// Parses the arguments after argv[0]. Options may appear before or after the command.
// Never throws.
ParseOutcome parse_arguments(std::span<const std::string> args);
std::string usage_text();

// Where and what to ask, after merging the proxy config (if any): the command line wins
// over the config, the config over the built-in defaults.
struct Target {
  control::Endpoint control{"127.0.0.1", 9100};
  std::string token_file;                    // "" = send no Authorization header
  std::string cluster;                       // "" = unknown (ask the proxy's /status)
  std::optional<std::uint64_t> epoch;        // the pair's current epoch; nullopt = unknown
  std::vector<control::Endpoint> arbiters;   // embedded arbiter endpoints
  std::string arbiter_backend = "embedded";  // from the config: "embedded" or "etcd"
  std::string etcd_username;                 // from the config (etcd auth), "" = none
  std::string etcd_password_file;
  std::string arbiter_key_file;            // embedded arbiter key ("" = unsigned requests)
  control::ArbiterClientSection etcd_tls;  // from the config: tls, tls_* (etcd)
};
Target resolve_target(const CtlOptions& options, const control::ProxyConfig* config);

// The HTTP request a control-port command maps to; nullopt for the epoch commands.
struct HttpCall {
  std::string method;       // "GET" | "POST"
  std::string target;       // "/status", ...
  bool authorized = false;  // sends "Authorization: Bearer <token>" when a token is known
};
std::optional<HttpCall> http_call_for(Command c);

// HTTP status of an answer -> exit code: 2xx ok, anything else refused.
ExitCode exit_code_for_http_status(unsigned status) noexcept;
// Arbiter read -> exit code: decided/undecided ok, unavailable unreachable.
ExitCode exit_code_for_arbiter(arbiter::ArbiterRead::Kind kind) noexcept;

// The epoch to use when re-protecting: latest decided + 1, or configured + 1 if higher.
// `latest` must not be unavailable (the caller stops before that).
std::uint64_t next_epoch(const arbiter::ArbiterRead& latest,
                         std::optional<std::uint64_t> configured) noexcept;

// Recognised states of /status "state" (failover::to_string spellings).
bool valid_state_name(std::string_view s) noexcept;

}  // namespace ftproxy::ctl
