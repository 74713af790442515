#include "ftproxy/control/logging.hpp"

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

namespace ftproxy::control {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class LoggingTest : public ::testing::Test {
 protected:
  void setup(const std::string& level, const std::string& format) {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    LoggingSection s;
    s.level = level;
    s.format = format;
    setup_logging(s, "ftproxy[p1]", sink_);
  }
  void TearDown() override { spdlog::set_default_logger(nullptr); }
  std::ostringstream out_;
  spdlog::sink_ptr sink_;
};

TEST(Fields, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(fields({{"from", "backup"}, {"to", "live"}}), "from=backup to=live");
  EXPECT_EQ(fields({{"reason", "peer lost"}, {"empty", ""}}), "reason=\"peer lost\" empty=\"\"");
  EXPECT_EQ(fields({{"q", "a\"b\\c\nd"}}), "q=\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(fields({{"eq", "a=b"}}), "eq=\"a=b\"");
  EXPECT_EQ(fields({{"ctl", std::string_view("\x01", 1)}}), "ctl=\"\\x01\"");
}

TEST(LogLevel, Parses) {
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
  EXPECT_FALSE(parse_log_level("warning"));
}

TEST_F(LoggingTest, TextFormatIsTimestampLevelComponentMessage) {
  setup("info", "text");
  spdlog::info("state transition {}", fields({{"from", "backup"}, {"to", "live"}, {"reason", "peer lost"}}));
  spdlog::debug("filtered out");
  spdlog::warn("disk slow\nforged line");
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 2u) << out_.str();
  const std::regex re(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z info ftproxy\[p1\] state transition from=backup to=live reason="peer lost"$)");
  EXPECT_TRUE(std::regex_match(lines[0], re)) << lines[0];
  EXPECT_NE(lines[1].find("Z warn ftproxy[p1] disk slow\\nforged line"), std::string::npos) << lines[1];
}

TEST_F(LoggingTest, JsonFormatEmitsOneParseableObjectPerLine) {
  setup("debug", "json");
  spdlog::info("state transition {}",
               fields({{"from", "backup"}, {"to", "live"}, {"reason", "peer \"lost\"\nafter 60 ms"}}));
  spdlog::debug("plain message with \"quotes\" and a\ttab");
  spdlog::error("x=1 looks like fields but msg=shadow");
  spdlog::trace("filtered out");
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 3u) << out_.str();

  const auto first = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(first.at("level").as_string(), "info");
  EXPECT_EQ(first.at("component").as_string(), "ftproxy[p1]");
  EXPECT_EQ(first.at("msg").as_string(), "state transition");
  EXPECT_EQ(first.at("from").as_string(), "backup");
  EXPECT_EQ(first.at("to").as_string(), "live");
  EXPECT_EQ(first.at("reason").as_string(), "peer \"lost\"\nafter 60 ms");
  const std::string ts(first.at("ts").as_string());
  EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"))) << ts;

  const auto second = boost::json::parse(lines[1]).as_object();
  EXPECT_EQ(second.at("level").as_string(), "debug");
  EXPECT_EQ(second.at("msg").as_string(), "plain message with \"quotes\" and a\ttab");
  EXPECT_EQ(second.size(), 4u);

  // Trailing key=value words become fields; a field never overwrites a fixed member.
  const auto third = boost::json::parse(lines[2]).as_object();
  EXPECT_EQ(third.at("level").as_string(), "error");
  EXPECT_EQ(third.at("msg").as_string(), "x=1 looks like fields but");
  EXPECT_EQ(third.at("msg_").as_string(), "shadow");
}

}  // namespace
}  // namespace ftproxy::control
