#include "ftproxy/control/metrics.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace ftproxy::control {
namespace {

TEST(MetricsWriter, CounterAndGaugeWithHeadersOnce) {
  std::string out;
  MetricsWriter w(out);
  EXPECT_TRUE(w.counter("ftproxy_rx_frames_total", "Frames received per port.", std::uint64_t{12},
                        {{"port", "ext"}}));
  EXPECT_TRUE(
      w.counter("ftproxy_rx_frames_total", "Frames received per port.", std::uint64_t{3}, {{"port", "int"}}));
  EXPECT_TRUE(w.gauge("ftproxy_log_lag_entries", "Entries logged but not acked.", 0));
  EXPECT_EQ(out,
            "# HELP ftproxy_rx_frames_total Frames received per port.\n"
            "# TYPE ftproxy_rx_frames_total counter\n"
            "ftproxy_rx_frames_total{port=\"ext\"} 12\n"
            "ftproxy_rx_frames_total{port=\"int\"} 3\n"
            "# HELP ftproxy_log_lag_entries Entries logged but not acked.\n"
            "# TYPE ftproxy_log_lag_entries gauge\n"
            "ftproxy_log_lag_entries 0\n");
}

TEST(MetricsWriter, ValuesOfEveryKind) {
  std::string out;
  MetricsWriter w(out);
  w.gauge("a", "h", -5);
  w.gauge("a", "h", 0.25);
  w.gauge("a", "h", std::numeric_limits<std::uint64_t>::max());
  w.gauge("a", "h", std::numeric_limits<double>::infinity());
  w.gauge("a", "h", -std::numeric_limits<double>::infinity());
  w.gauge("a", "h", std::nan(""));
  w.gauge("a", "h", 1.5e-7);
  EXPECT_EQ(out,
            "# HELP a h\n# TYPE a gauge\n"
            "a -5\n"
            "a 0.25\n"
            "a 18446744073709551615\n"
            "a +Inf\n"
            "a -Inf\n"
            "a NaN\n"
            "a 1.5e-07\n");
}

TEST(MetricsWriter, EscapesHelpAndLabelValues) {
  std::string out;
  MetricsWriter w(out);
  w.gauge("x", "line1\nback\\slash \"quoted\"", 1,
          {{"a", "q\"uote"}, {"b", "back\\slash"}, {"c", "new\nline"}});
  EXPECT_EQ(out,
            "# HELP x line1\\nback\\\\slash \"quoted\"\n"
            "# TYPE x gauge\n"
            "x{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\"} 1\n");
}

TEST(MetricsWriter, RefusesInvalidNamesAndTypeChanges) {
  std::string out;
  MetricsWriter w(out);
  EXPECT_FALSE(w.counter("9starts_with_digit", "h", 1));
  EXPECT_FALSE(w.counter("has-dash", "h", 1));
  EXPECT_FALSE(w.counter("", "h", 1));
  EXPECT_FALSE(w.counter("ok", "h", 1, {{"bad-label", "v"}}));
  EXPECT_FALSE(w.counter("ok", "h", 1, {{"__reserved", "v"}}));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(w.counter("ns:ok_total", "h", 1, {{"_x1", "v"}}));
  EXPECT_FALSE(w.gauge("ns:ok_total", "h", 1));
  EXPECT_EQ(out, "# HELP ns:ok_total h\n# TYPE ns:ok_total counter\nns:ok_total{_x1=\"v\"} 1\n");
}

}  // namespace
}  // namespace ftproxy::control
