#include "ftproxy/ctl/cli.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <sstream>

#include <boost/program_options.hpp>

namespace po = boost::program_options;

namespace ftproxy::ctl {

const char* to_string(Command c) noexcept {
  switch (c) {
    case Command::help:
      return "help";
    case Command::version:
      return "version";
    case Command::status:
      return "status";
    case Command::flows:
      return "flows";
    case Command::promote:
      return "promote";
    case Command::fence:
      return "fence";
    case Command::epoch_show:
      return "epoch show";
    case Command::epoch_new:
      return "epoch new";
  }
  return "?";
}

namespace {

po::options_description option_set() {
  po::options_description d("Options");
  // The values are read back from the variables_map, not bound, so that the
  // description can be built for --help without a CtlOptions.
  d.add_options()                                                                                     //
      ("help,h", "show this help")                                                                    //
      ("json", "print the raw JSON answer (status, flows, epoch show)")                               //
      ("control", po::value<std::string>(), "proxy control port ADDR:PORT (default 127.0.0.1:9100)")  //
      ("arbiter", po::value<std::vector<std::string>>(),
       "embedded arbiter ADDR:PORT; repeat for more addresses of the same arbiter")  //
      ("config", po::value<std::string>(),
       "proxy config: control.listen, control.token_file, node.cluster, node.epoch, arbiter.endpoints")  //
      ("token-file", po::value<std::string>(), "bearer token for promote/fence (mode 0600)")             //
      ("arbiter-key-file", po::value<std::string>(),
       "epoch: the cluster's embedded-arbiter key (mode 0600; default: arbiter.key_file of --config)")  //
      ("expect-state", po::value<std::string>(), "status: exit 4 unless the proxy is in STATE")         //
      ("cluster", po::value<std::string>(), "epoch: the pair's cluster name")                           //
      ("epoch", po::value<std::uint64_t>(), "epoch show: the epoch to read (default: the pair's)")      //
      ("timeout-ms", po::value<std::uint32_t>(), "bound of each request in ms (default 3000)");
  return d;
}

bool parse_endpoint_list(const std::vector<std::string>& texts, std::vector<control::Endpoint>& out,
                         std::string& error) {
  for (const auto& t : texts) {
    auto ep = control::parse_endpoint(t);
    if (!ep || ep->port == 0) {
      error = "--arbiter: \"" + t + "\" is not ADDR:PORT";
      return false;
    }
    out.push_back(*ep);
  }
  return true;
}

}  // namespace

std::string usage_text() {
  std::ostringstream s;
  s << "usage: ftproxyctl [options] COMMAND\n"
       "commands:\n"
       "  status [--json] [--expect-state STATE]   the proxy's state, log, outputs, flows, failovers\n"
       "  flows [--json]                           the TCP translation table\n"
       "  promote                                  ask the arbiter to make this proxy live (needs the "
       "token)\n"
       "  fence                                    stop this proxy forwarding at once (needs the token)\n"
       "  epoch show [--json]                      the arbiter's decision for the pair's epoch, and the "
       "latest\n"
       "  epoch new                                the next epoch to use and how to re-protect the pair\n"
       "  version\n"
       "exit codes: 0 ok, 1 refused, 2 usage/config error, 3 unreachable/timeout, 4 unexpected state\n\n"
    << option_set();
  return s.str();
}

ParseOutcome parse_arguments(std::span<const std::string> args) {
  ParseOutcome out;
  po::options_description all = option_set();
  all.add_options()("words", po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add("words", -1);
  po::variables_map vm;
  try {
    std::vector<std::string> argv(args.begin(), args.end());
    po::store(po::command_line_parser(argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    out.error = e.what();
    return out;
  }

  CtlOptions o;
  const auto words =
      vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (vm.count("help") || words.empty()) {
    o.command = Command::help;
    out.options = std::move(o);
    return out;
  }
  const std::string& w0 = words[0];
  std::size_t used = 1;
  if (w0 == "status") {
    o.command = Command::status;
  } else if (w0 == "flows") {
    o.command = Command::flows;
  } else if (w0 == "promote") {
    o.command = Command::promote;
  } else if (w0 == "fence") {
    o.command = Command::fence;
  } else if (w0 == "version") {
    o.command = Command::version;
  } else if (w0 == "help") {
    o.command = Command::help;
  } else if (w0 == "epoch") {
    if (words.size() < 2) {
      out.error = "epoch: expected \"show\" or \"new\"";
      return out;
    }
    if (words[1] == "show") {
      o.command = Command::epoch_show;
    } else if (words[1] == "new") {
      o.command = Command::epoch_new;
    } else {
      out.error = "epoch: unknown subcommand \"" + words[1] + "\" (expected show or new)";
      return out;
    }
    used = 2;
  } else {
    out.error = "unknown command \"" + w0 + "\"";
    return out;
  }
  if (words.size() > used) {
    out.error = std::string(to_string(o.command)) + ": unexpected argument \"" + words[used] + "\"";
    return out;
  }

  o.json = vm.count("json") != 0;
  if (o.json && o.command != Command::status && o.command != Command::flows &&
      o.command != Command::epoch_show) {
    out.error = std::string("--json: not an option of ") + to_string(o.command);
    return out;
  }
  if (vm.count("control")) {
    const auto& t = vm["control"].as<std::string>();
    o.control = control::parse_endpoint(t);
    if (!o.control || o.control->port == 0) {
      out.error = "--control: \"" + t + "\" is not ADDR:PORT";
      return out;
    }
  }
  if (vm.count("arbiter") &&
      !parse_endpoint_list(vm["arbiter"].as<std::vector<std::string>>(), o.arbiters, out.error))
    return out;
  if (vm.count("config")) o.config_path = vm["config"].as<std::string>();
  if (vm.count("token-file")) o.token_file = vm["token-file"].as<std::string>();
  if (vm.count("arbiter-key-file")) o.arbiter_key_file = vm["arbiter-key-file"].as<std::string>();
  if (vm.count("expect-state")) {
    o.expect_state = vm["expect-state"].as<std::string>();
    if (o.command != Command::status) {
      out.error = "--expect-state: only for status";
      return out;
    }
    if (!valid_state_name(o.expect_state)) {
      out.error = "--expect-state: unknown state \"" + o.expect_state +
                  "\" (standalone, primary, backup, arbitrating, live, fenced)";
      return out;
    }
  }
  if (vm.count("cluster")) {
    o.cluster = vm["cluster"].as<std::string>();
    if (!arbiter::valid_arbiter_name(o.cluster)) {
      out.error = "--cluster: \"" + o.cluster + "\" is not [A-Za-z0-9_.-]{1,64}";
      return out;
    }
  }
  if (vm.count("epoch")) {
    o.epoch = vm["epoch"].as<std::uint64_t>();
    if (*o.epoch == 0) {
      out.error = "--epoch: must be >= 1";
      return out;
    }
    if (o.command != Command::epoch_show) {
      out.error = "--epoch: only for epoch show";
      return out;
    }
  }
  if (vm.count("timeout-ms")) {
    const auto ms = vm["timeout-ms"].as<std::uint32_t>();
    if (ms == 0 || ms > 600000) {
      out.error = "--timeout-ms: must be 1..600000";
      return out;
    }
    o.timeout = std::chrono::milliseconds(ms);
  }
  out.options = std::move(o);
  return out;
}

Target resolve_target(const CtlOptions& options, const control::ProxyConfig* config) {
  Target t;
  if (config) {
    t.control = config->control.listen;
    // A proxy listening on the wildcard address is reached on loopback.
    if (t.control.host == "0.0.0.0") t.control.host = "127.0.0.1";
    if (t.control.host == "::") t.control.host = "::1";
    t.token_file = config->control.token_file;
    t.cluster = config->node.cluster;
    t.epoch = config->node.epoch;
    t.arbiters = config->arbiter.endpoints;
    t.arbiter_backend = config->arbiter.backend;
    t.etcd_username = config->arbiter.username;
    t.etcd_password_file = config->arbiter.password_file;
    t.arbiter_key_file = config->arbiter.key_file;
    t.etcd_tls = config->arbiter;
  }
  if (options.control) t.control = *options.control;
  if (!options.token_file.empty()) t.token_file = options.token_file;
  if (!options.arbiter_key_file.empty()) t.arbiter_key_file = options.arbiter_key_file;
  if (!options.cluster.empty()) t.cluster = options.cluster;
  if (options.epoch) t.epoch = options.epoch;
  if (!options.arbiters.empty()) {
    t.arbiters = options.arbiters;
    t.arbiter_backend = "embedded";  // --arbiter always names embedded arbiters
  }
  return t;
}

std::optional<HttpCall> http_call_for(Command c) {
  switch (c) {
    case Command::status:
      return HttpCall{"GET", "/status", false};
    case Command::flows:
      return HttpCall{"GET", "/flows", false};
    case Command::promote:
      return HttpCall{"POST", "/promote", true};
    case Command::fence:
      return HttpCall{"POST", "/fence", true};
    case Command::help:
    case Command::version:
    case Command::epoch_show:
    case Command::epoch_new:
      break;
  }
  return std::nullopt;
}

ExitCode exit_code_for_http_status(unsigned status) noexcept {
  return status >= 200 && status < 300 ? ExitCode::ok : ExitCode::refused;
}

ExitCode exit_code_for_arbiter(arbiter::ArbiterRead::Kind kind) noexcept {
  return kind == arbiter::ArbiterRead::Kind::unavailable ? ExitCode::unreachable : ExitCode::ok;
}

std::uint64_t next_epoch(const arbiter::ArbiterRead& latest,
                         std::optional<std::uint64_t> configured) noexcept {
  std::uint64_t next = 1;
  if (latest.kind == arbiter::ArbiterRead::Kind::decided) next = latest.epoch + 1;
  if (configured) next = std::max(next, *configured + 1);
  return next;
}

bool valid_state_name(std::string_view s) noexcept {
  constexpr std::array<std::string_view, 6> names{"standalone",  "primary", "backup",
                                                  "arbitrating", "live",    "fenced"};
  return std::find(names.begin(), names.end(), s) != names.end();
}

}  // namespace ftproxy::ctl
