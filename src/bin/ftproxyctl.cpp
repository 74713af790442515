// ftproxyctl: the operator's command-line tool for a proxy's control port and the
// embedded arbiter. See docs/ftproxyctl.md; exit codes are ctl::ExitCode.
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ftproxy/arbiter/auth.hpp"
#include "ftproxy/arbiter/embedded_client.hpp"
#include "ftproxy/arbiter/etcd_arbiter.hpp"
#include "ftproxy/control/config.hpp"
#include "ftproxy/control/http_server.hpp"
#include "ftproxy/ctl/cli.hpp"
#include "ftproxy/ctl/http_client.hpp"
#include "ftproxy/ctl/render.hpp"
#include "ftproxy_build_config.hpp"

namespace {

using namespace ftproxy;
using ctl::ExitCode;

int fail(ExitCode code, const std::string& message) {
  fmt::print(stderr, "ftproxyctl: {}\n", message);
  return ctl::to_int(code);
}

void print_body(std::FILE* to, const std::string& body) {
  fmt::print(to, "{}", body);
  if (body.empty() || body.back() != '\n') fmt::print(to, "\n");
}

int run_control(const ctl::CtlOptions& opts, const ctl::Target& target) {
  const auto call = ctl::http_call_for(opts.command);
  std::string token;
  if (call->authorized && !target.token_file.empty()) {
    std::string error;
    auto t = control::load_token_file(target.token_file, error);
    if (!t) return fail(ExitCode::usage, error);
    token = std::move(*t);
  }
  ctl::HttpRequestOptions req;
  req.method = call->method;
  req.target = call->target;
  req.bearer_token = token;
  req.timeout = opts.timeout;
  const auto reply = ctl::http_request(target.control, req);
  if (reply.kind != ctl::HttpReply::Kind::answered)
    return fail(ExitCode::unreachable, "control port " + reply.message);

  const ExitCode code = ctl::exit_code_for_http_status(reply.status);
  if (opts.command == ctl::Command::promote || opts.command == ctl::Command::fence) {
    print_body(code == ExitCode::ok ? stdout : stderr, reply.body);
    if (reply.status == 401 && token.empty())
      fmt::print(
          stderr,
          "ftproxyctl: no token was sent: use --token-file FILE or --config with control.token_file\n");
    if (code != ExitCode::ok)
      return fail(code, fmt::format("{} refused by {} (HTTP {})", ctl::to_string(opts.command),
                                    target.control.to_string(), reply.status));
    return ctl::to_int(code);
  }
  if (code != ExitCode::ok) {
    print_body(stderr, reply.body);
    return fail(
        code, fmt::format("{} {} answered HTTP {}", call->target, target.control.to_string(), reply.status));
  }
  if (opts.json) {
    print_body(stdout, reply.body);
  } else {
    std::string out, error;
    const bool ok = opts.command == ctl::Command::status ? ctl::render_status(reply.body, out, error)
                                                         : ctl::render_flows(reply.body, out, error);
    if (!ok) return fail(ExitCode::unreachable, target.control.to_string() + call->target + ": " + error);
    fmt::print("{}", out);
  }
  if (!opts.expect_state.empty()) {
    const auto state = ctl::status_state(reply.body);
    if (!state) return fail(ExitCode::unreachable, "/status has no \"state\"");
    if (*state != opts.expect_state)
      return fail(ExitCode::state_mismatch,
                  fmt::format("state is {}, expected {}", *state, opts.expect_state));
  }
  return ctl::to_int(ExitCode::ok);
}

int run_epoch(const ctl::CtlOptions& opts, ctl::Target target) {
  if (target.arbiter_backend != "embedded" && target.arbiter_backend != "etcd")
    return fail(ExitCode::usage, "arbiter.backend = \"" + target.arbiter_backend + "\" is not supported");
  if (target.arbiters.empty())
    return fail(ExitCode::usage, "no arbiter: pass --arbiter ADDR:PORT or --config FILE");

  // What the command line and config left out, the proxy itself knows.
  const bool need_epoch = opts.command == ctl::Command::epoch_show;
  if (target.cluster.empty() || !target.epoch) {
    ctl::HttpRequestOptions req;
    req.timeout = opts.timeout;
    const auto reply = ctl::http_request(target.control, req);
    const bool ok = reply.kind == ctl::HttpReply::Kind::answered && reply.status == 200;
    if (ok && target.cluster.empty()) target.cluster = ctl::status_cluster(reply.body).value_or("");
    if (ok && !target.epoch) target.epoch = ctl::status_epoch(reply.body);
    const std::string why = ok ? std::string("the proxy's /status does not say")
                               : (reply.kind == ctl::HttpReply::Kind::answered
                                      ? fmt::format("/status answered HTTP {}", reply.status)
                                      : "control port " + reply.message);
    if (target.cluster.empty())
      return fail(ExitCode::usage, "cluster unknown (" + why + "): pass --cluster NAME or --config FILE");
    if (need_epoch && !target.epoch)
      return fail(ExitCode::usage, "epoch unknown (" + why + "): pass --epoch N or --config FILE");
  }

  // The same two questions for either arbiter backend.
  std::function<arbiter::ArbiterRead()> ask_latest;
  std::function<arbiter::ArbiterRead(std::uint64_t)> ask_read;
  if (target.arbiter_backend == "etcd") {
    arbiter::EtcdArbiterOptions eo;
    for (const auto& ep : target.arbiters) eo.endpoints.push_back({ep.host, ep.port});
    eo.timeout = opts.timeout;
    if (!target.etcd_username.empty()) {
      std::string err;
      auto pw = arbiter::load_etcd_password_file(target.etcd_password_file, err);
      if (!pw) return fail(ExitCode::usage, "arbiter.password_file: " + err);
      eo.username = target.etcd_username;
      eo.password = *pw;
    }
    const auto& t = target.etcd_tls;
    eo.tls = {t.tls, t.tls_ca_file, t.tls_cert_file, t.tls_key_file, t.tls_server_name};
    if (std::string err = arbiter::check_etcd_tls(eo.tls); !err.empty())
      return fail(ExitCode::usage, "arbiter: " + err);
    ask_latest = [eo, &target] { return arbiter::latest_blocking(eo, target.cluster); };
    ask_read = [eo, &target](std::uint64_t e) { return arbiter::read_blocking(eo, target.cluster, e); };
  } else {
    arbiter::EmbeddedClientOptions ao;
    for (const auto& ep : target.arbiters) ao.endpoints.push_back({ep.host, ep.port});
    ao.timeout = opts.timeout;
    if (!target.arbiter_key_file.empty()) {
      std::string err;
      auto keys = arbiter::auth::load_key_file(target.arbiter_key_file, err);
      if (!keys) return fail(ExitCode::usage, "arbiter key: " + err);
      ao.key = keys->front();
    }
    ask_latest = [ao, &target] { return arbiter::latest_blocking(ao, target.cluster); };
    ask_read = [ao, &target](std::uint64_t e) { return arbiter::read_blocking(ao, target.cluster, e); };
  }
  const auto latest = ask_latest();

  if (opts.command == ctl::Command::epoch_new) {
    if (latest.kind == arbiter::ArbiterRead::Kind::unavailable)
      return fail(ExitCode::unreachable, "arbiter unavailable: " + latest.message);
    const auto next = ctl::next_epoch(latest, target.epoch);
    fmt::print("{}", ctl::render_epoch_new(target.cluster, next, latest, target.epoch));
    return ctl::to_int(ExitCode::ok);
  }
  const auto current = ask_read(*target.epoch);
  if (opts.json)
    fmt::print("{}", ctl::epoch_show_json(target.cluster, *target.epoch, current, latest));
  else
    fmt::print("{}", ctl::render_epoch_show(target.cluster, *target.epoch, current, latest));
  const ExitCode code = ctl::exit_code_for_arbiter(current.kind) != ExitCode::ok
                            ? ExitCode::unreachable
                            : ctl::exit_code_for_arbiter(latest.kind);
  if (code != ExitCode::ok) return fail(code, "arbiter unavailable");
  return ctl::to_int(code);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto parsed = ctl::parse_arguments(args);
  if (!parsed.options) return fail(ExitCode::usage, parsed.error + " (see ftproxyctl --help)");
  const ctl::CtlOptions& opts = *parsed.options;
  if (opts.command == ctl::Command::help) {
    fmt::print("{}", ctl::usage_text());
    return ctl::to_int(ExitCode::ok);
  }
  if (opts.command == ctl::Command::version) {
    fmt::print("ftproxyctl {}\n", FTPROXY_VERSION);
    return ctl::to_int(ExitCode::ok);
  }

  std::optional<control::ProxyConfig> config;
  if (!opts.config_path.empty()) {
    std::vector<std::string> errors;
    config = control::load_proxy_config(opts.config_path, errors);
    if (!config) {
      for (const auto& e : errors) fmt::print(stderr, "ftproxyctl: {}\n", e);
      return fail(ExitCode::usage, "cannot use config " + opts.config_path);
    }
  }
  const ctl::Target target = ctl::resolve_target(opts, config ? &*config : nullptr);
  if (ctl::http_call_for(opts.command)) return run_control(opts, target);
  return run_epoch(opts, target);
}
