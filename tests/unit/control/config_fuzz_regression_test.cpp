// Inputs found by tests/fuzz/fuzz_config, checked against the build's own toml++ (the
// distribution's shared library, unlike the fuzz target's instrumented header-only
// copy): every file of the config corpus gives a config or messages, never an exception,
// and the specific finds below give the expected message.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ftproxy/control/config.hpp"

namespace ftproxy::control {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kStandalone =
    "[node]\nname = \"p\"\nrole = \"standalone\"\ncluster = \"c\"\n"
    "[ports]\next = \"a\"\nint = \"b\"\n";

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_proxy_config(text, "t.toml", errors).has_value()) << text;
  return errors;
}

TEST(ConfigFuzzRegression, TableHeaderWithoutKeyIsAParseError) {
  // toml++ 3.3.0 asserts a precondition here in debug builds (upstream #301).
  for (const char* text : {"[/failover]\nheartbeat_ms = 5\n", "[[[1]]]\n", "[[=\n"}) {
    const auto errors = errors_of(text);
    ASSERT_EQ(errors.size(), 1u) << text;
    EXPECT_THAT(errors[0], HasSubstr("t.toml:1:")) << text;
  }
}

TEST(ConfigFuzzRegression, NonAsciiOutsideCommentsIsRefusedBeforeToml) {
  // U+00C5 where toml++ 3.3.0 tests for whitespace: __builtin_unreachable() there.
  EXPECT_THAT(errors_of("\xc3\x85"),
              ElementsAre("t.toml:1:1: non-ASCII character outside a comment (keys and values are ASCII)"));
  // After a line-ending backslash in a multi-line string (upstream #190).
  EXPECT_THAT(errors_of("s = \"\"\"\\\n\xc2\xa7\"\"\"\n"), ElementsAre(HasSubstr("t.toml:2:1: non-ASCII")));
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[log]\nkey_file = \"/k\xc3\xa9y\"\n"),
              ElementsAre(HasSubstr("t.toml:9:15: non-ASCII")));
  // A '#' inside a string does not start a comment.
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[log]\nkey_file = '#\xc3\xa9'\n"),
              ElementsAre(HasSubstr("t.toml:9:14: non-ASCII")));
  EXPECT_THAT(errors_of("s = \"\\\xc3\xa9\"\n"), ElementsAre(HasSubstr("t.toml:1:7: non-ASCII")));
}

TEST(ConfigFuzzRegression, NonAsciiInCommentsAndByteOrderMarkAreAccepted) {
  std::vector<std::string> errors;
  const std::string text =
      "\xEF\xBB\xBF# Z\xc3\xbcrich\n[node] # \xc3\x85\nname = \"p\" # \"\xc2\xa7\"\n"
      "role = \"standalone\"\ncluster = \"c\"\n[ports]\next = \"a\"\n"
      "int = 'b' # \xe2\x80\x83\n[failover]\nprobe_command = \"true #\\\"\" # \xc3\x85\n";
  const auto cfg = parse_proxy_config(text, "t.toml", errors);
  ASSERT_TRUE(cfg.has_value()) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->failover.probe_command, "true #\"");
  EXPECT_EQ(cfg->ports.int_, "b");
}

TEST(ConfigFuzzRegression, CrossKeyRulesUseDefaultsToo) {
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[failover]\nheartbeat_ms = 50\n"),
              ElementsAre("failover.timeout_ms: must be > 2 * failover.heartbeat_ms (100), got 60"));
  EXPECT_THAT(
      errors_of(std::string(kStandalone) + "[failover]\nprobe_timeout_ms = 5000\n"),
      ElementsAre("failover.probe_timeout_ms: must be <= failover.probe_interval_ms (1000), got 5000"));
  // An invalid value is reported once, not compared.
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[failover]\nheartbeat_ms = 0\n"),
              ElementsAre("failover.heartbeat_ms: must be in 1..10000, got 0"));
}

TEST(ConfigFuzzRegression, WholeCorpusGivesAConfigOrMessages) {
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(FTPROXY_CONFIG_CORPUS_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> errors;
    const auto proxy = parse_proxy_config(text, "c.toml", errors);
    EXPECT_EQ(proxy.has_value(), errors.empty()) << entry.path();
    for (const auto& e : errors) EXPECT_FALSE(e.empty()) << entry.path();
    errors.clear();
    const auto arbiter = parse_arbiter_config(text, "c.toml", errors);
    EXPECT_EQ(arbiter.has_value(), errors.empty()) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 20u);
}

}  // namespace
}  // namespace ftproxy::control
