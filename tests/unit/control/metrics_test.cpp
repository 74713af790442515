#include "ftproxy/control/metrics.hpp"

#include <array>
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

TEST(MetricsWriter, HistogramIsCumulativeWithSumAndCount) {
  std::string out;
  MetricsWriter w(out);
  const std::array<double, 2> bounds{0.001, 0.5};
  const std::array<std::uint64_t, 3> counts{4, 0, 1};  // per bucket, the last is +Inf
  EXPECT_TRUE(w.histogram("ftproxy_hold_seconds", "Hold time.", bounds, counts, 2.75));
  EXPECT_EQ(out,
            "# HELP ftproxy_hold_seconds Hold time.\n"
            "# TYPE ftproxy_hold_seconds histogram\n"
            "ftproxy_hold_seconds_bucket{le=\"0.001\"} 4\n"
            "ftproxy_hold_seconds_bucket{le=\"0.5\"} 4\n"
            "ftproxy_hold_seconds_bucket{le=\"+Inf\"} 5\n"
            "ftproxy_hold_seconds_sum 2.75\n"
            "ftproxy_hold_seconds_count 5\n");
  // A name is written once; sizes must match; bounds must ascend.
  EXPECT_FALSE(w.histogram("ftproxy_hold_seconds", "Hold time.", bounds, counts, 1.0));
  EXPECT_FALSE(w.counter("ftproxy_hold_seconds", "Hold time.", 1));
  const std::array<std::uint64_t, 2> short_counts{1, 2};
  EXPECT_FALSE(w.histogram("other_seconds", "h", bounds, short_counts, 0.0));
  const std::array<double, 2> descending{0.5, 0.001};
  EXPECT_FALSE(w.histogram("other_seconds", "h", descending, counts, 0.0));
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
