#include "ftproxy/ctl/cli.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ftproxy::ctl {
namespace {

ParseOutcome parse(std::vector<std::string> args) {
  return parse_arguments(args);
}

TEST(CtlParse, NoArgumentsIsHelp) {
  auto r = parse({});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->command, Command::help);
  r = parse({"status", "--help"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->command, Command::help);
}

TEST(CtlParse, CommandsAndOptionsInAnyOrder) {
  auto r = parse({"--control", "10.0.0.1:9200", "status", "--json", "--expect-state", "backup"});
  ASSERT_TRUE(r.options) << r.error;
  const auto& o = *r.options;
  EXPECT_EQ(o.command, Command::status);
  EXPECT_TRUE(o.json);
  ASSERT_TRUE(o.control);
  EXPECT_EQ(o.control->host, "10.0.0.1");
  EXPECT_EQ(o.control->port, 9200);
  EXPECT_EQ(o.expect_state, "backup");

  r = parse({"fence", "--token-file", "/etc/ftproxy/token"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->command, Command::fence);
  EXPECT_EQ(r.options->token_file, "/etc/ftproxy/token");
  EXPECT_FALSE(r.options->control);
}

TEST(CtlParse, EpochSubcommandsAndRepeatedArbiters) {
  auto r = parse({"epoch", "show", "--arbiter", "10.78.1.17:7500", "--arbiter", "10.78.1.18:7501",
                  "--cluster", "demo", "--epoch", "3", "--timeout-ms", "500"});
  ASSERT_TRUE(r.options) << r.error;
  const auto& o = *r.options;
  EXPECT_EQ(o.command, Command::epoch_show);
  ASSERT_EQ(o.arbiters.size(), 2u);
  EXPECT_EQ(o.arbiters[1].host, "10.78.1.18");
  EXPECT_EQ(o.arbiters[1].port, 7501);
  EXPECT_EQ(o.cluster, "demo");
  EXPECT_EQ(o.epoch, 3u);
  EXPECT_EQ(o.timeout.count(), 500);

  r = parse({"epoch", "new", "--config", "/etc/ftproxy/p1.toml"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->command, Command::epoch_new);
  EXPECT_EQ(r.options->config_path, "/etc/ftproxy/p1.toml");
}

TEST(CtlParse, RefusesWhatScriptsWouldGetWrong) {
  const std::vector<std::vector<std::string>> bad = {
      {"reboot"},                             // unknown command
      {"epoch"},                              // missing subcommand
      {"epoch", "delete"},                    // unknown subcommand
      {"status", "extra"},                    // stray word
      {"status", "--expect-state", "alive"},  // not a state
      {"flows", "--expect-state", "live"},    // option of another command
      {"promote", "--json"},                  // promote prints JSON already
      {"status", "--control", "localhost"},   // no port
      {"epoch", "show", "--arbiter", "x:0"},  // port 0
      {"epoch", "show", "--epoch", "0"},      // epochs start at 1
      {"status", "--epoch", "2"},             // option of another command
      {"epoch", "show", "--cluster", "a b"},  // invalid name
      {"status", "--timeout-ms", "0"},        // no time at all
      {"status", "--no-such-option"},         // unknown option
      {"status", "--control"},                // missing value
  };
  for (const auto& args : bad) {
    auto r = parse(args);
    EXPECT_FALSE(r.options) << args[0] << (args.size() > 1 ? " " + args[1] : "");
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(CtlRequest, CommandsMapToControlPortRequests) {
  auto s = http_call_for(Command::status);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->method, "GET");
  EXPECT_EQ(s->target, "/status");
  EXPECT_FALSE(s->authorized);
  auto f = http_call_for(Command::flows);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->method, "GET");
  EXPECT_EQ(f->target, "/flows");
  auto p = http_call_for(Command::promote);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->method, "POST");
  EXPECT_EQ(p->target, "/promote");
  EXPECT_TRUE(p->authorized);
  auto x = http_call_for(Command::fence);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->method, "POST");
  EXPECT_EQ(x->target, "/fence");
  EXPECT_TRUE(x->authorized);
  EXPECT_FALSE(http_call_for(Command::epoch_show));
  EXPECT_FALSE(http_call_for(Command::epoch_new));
}

control::ProxyConfig sample_config() {
  control::ProxyConfig c;
  c.node.name = "p1";
  c.node.cluster = "shop";
  c.node.epoch = 4;
  c.control.listen = {"0.0.0.0", 9300};
  c.control.token_file = "/etc/ftproxy/token";
  c.arbiter.endpoints = {{"10.78.1.17", 7500}};
  return c;
}

TEST(CtlTarget, DefaultsWithoutConfig) {
  auto r = parse({"status"});
  ASSERT_TRUE(r.options);
  const Target t = resolve_target(*r.options, nullptr);
  EXPECT_EQ(t.control.host, "127.0.0.1");
  EXPECT_EQ(t.control.port, 9100);
  EXPECT_TRUE(t.token_file.empty());
  EXPECT_TRUE(t.cluster.empty());
  EXPECT_FALSE(t.epoch);
  EXPECT_TRUE(t.arbiters.empty());
}

TEST(CtlTarget, ConfigFillsAndCommandLineWins) {
  const auto cfg = sample_config();
  auto r = parse({"epoch", "show"});
  ASSERT_TRUE(r.options);
  Target t = resolve_target(*r.options, &cfg);
  EXPECT_EQ(t.control.host, "127.0.0.1");  // wildcard listen reached on loopback
  EXPECT_EQ(t.control.port, 9300);
  EXPECT_EQ(t.token_file, "/etc/ftproxy/token");
  EXPECT_EQ(t.cluster, "shop");
  EXPECT_EQ(t.epoch, 4u);
  ASSERT_EQ(t.arbiters.size(), 1u);
  EXPECT_EQ(t.arbiters[0].port, 7500);

  r = parse({"epoch", "show", "--control", "127.0.0.2:9101", "--cluster", "other", "--epoch", "9",
             "--arbiter", "10.0.0.5:7600", "--token-file", "/tmp/t"});
  ASSERT_TRUE(r.options) << r.error;
  t = resolve_target(*r.options, &cfg);
  EXPECT_EQ(t.control.host, "127.0.0.2");
  EXPECT_EQ(t.control.port, 9101);
  EXPECT_EQ(t.token_file, "/tmp/t");
  EXPECT_EQ(t.cluster, "other");
  EXPECT_EQ(t.epoch, 9u);
  ASSERT_EQ(t.arbiters.size(), 1u);
  EXPECT_EQ(t.arbiters[0].host, "10.0.0.5");
}

TEST(CtlTarget, EtcdBackendIsCarriedSoEpochCommandsCanRefuse) {
  auto cfg = sample_config();
  cfg.arbiter.backend = "etcd";
  auto r = parse({"epoch", "new"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(resolve_target(*r.options, &cfg).arbiter_backend, "etcd");
  r = parse({"epoch", "new", "--arbiter", "10.0.0.5:7500"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(resolve_target(*r.options, &cfg).arbiter_backend, "embedded");
}

TEST(CtlExitCodes, HttpStatusMapping) {
  EXPECT_EQ(exit_code_for_http_status(200), ExitCode::ok);
  EXPECT_EQ(exit_code_for_http_status(204), ExitCode::ok);
  EXPECT_EQ(exit_code_for_http_status(401), ExitCode::refused);
  EXPECT_EQ(exit_code_for_http_status(409), ExitCode::refused);
  EXPECT_EQ(exit_code_for_http_status(404), ExitCode::refused);
  EXPECT_EQ(exit_code_for_http_status(500), ExitCode::refused);
  EXPECT_EQ(exit_code_for_http_status(302), ExitCode::refused);
  EXPECT_EQ(to_int(ExitCode::ok), 0);
  EXPECT_EQ(to_int(ExitCode::refused), 1);
  EXPECT_EQ(to_int(ExitCode::usage), 2);
  EXPECT_EQ(to_int(ExitCode::unreachable), 3);
  EXPECT_EQ(to_int(ExitCode::state_mismatch), 4);
}

TEST(CtlExitCodes, ArbiterMapping) {
  EXPECT_EQ(exit_code_for_arbiter(arbiter::ArbiterRead::Kind::decided), ExitCode::ok);
  EXPECT_EQ(exit_code_for_arbiter(arbiter::ArbiterRead::Kind::undecided), ExitCode::ok);
  EXPECT_EQ(exit_code_for_arbiter(arbiter::ArbiterRead::Kind::unavailable), ExitCode::unreachable);
}

TEST(CtlEpoch, NextEpochIsAboveBothTheArbiterAndTheConfig) {
  arbiter::ArbiterRead latest;
  latest.kind = arbiter::ArbiterRead::Kind::decided;
  latest.epoch = 5;
  EXPECT_EQ(next_epoch(latest, std::nullopt), 6u);
  EXPECT_EQ(next_epoch(latest, 2u), 6u);
  EXPECT_EQ(next_epoch(latest, 7u), 8u);
  latest.kind = arbiter::ArbiterRead::Kind::undecided;
  latest.epoch = 0;
  EXPECT_EQ(next_epoch(latest, 1u), 2u);
  EXPECT_EQ(next_epoch(latest, std::nullopt), 1u);
}

TEST(CtlStates, Names) {
  for (const char* s : {"standalone", "primary", "backup", "arbitrating", "live", "fenced"})
    EXPECT_TRUE(valid_state_name(s)) << s;
  EXPECT_FALSE(valid_state_name(""));
  EXPECT_FALSE(valid_state_name("Live"));
  EXPECT_FALSE(valid_state_name("down"));
}

}  // namespace
}  // namespace ftproxy::ctl
