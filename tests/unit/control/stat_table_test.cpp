#include "ftproxy/control/stat_table.hpp"

#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

namespace ftproxy::control {
namespace {

std::string metrics_of(const StatTable& t) {
  std::string out;
  MetricsWriter w(out);
  t.write(w);
  return out;
}

TEST(StatTable, OneRowFeedsBothOutputs) {
  StatTable t;
  t.section("forward");
  t.add("tx_refused", std::uint64_t{7}).counter("ftproxy_tx_refused_total", "Refused.");
  EXPECT_EQ(boost::json::serialize(t.json()), R"({"forward":{"tx_refused":7}})");
  EXPECT_EQ(metrics_of(t),
            "# HELP ftproxy_tx_refused_total Refused.\n"
            "# TYPE ftproxy_tx_refused_total counter\n"
            "ftproxy_tx_refused_total 7\n");
}

TEST(StatTable, StatusOnlyAndMetricsOnlyRows) {
  StatTable t;
  t.add("node", "p1");
  t.add("uptime_s", 1.5);
  t.metric(3).gauge("ftproxy_only_here", "Not in /status.");
  EXPECT_EQ(boost::json::serialize(t.json()), R"({"node":"p1","uptime_s":1.5E0})");
  EXPECT_EQ(metrics_of(t),
            "# HELP ftproxy_only_here Not in /status.\n"
            "# TYPE ftproxy_only_here gauge\n"
            "ftproxy_only_here 3\n");
}

TEST(StatTable, SectionsNestInOrderAndExistWhenEmpty) {
  StatTable t;
  t.add("a", 1);
  t.section("ports");
  t.section("log");
  t.add("connected", true);
  t.section("log.auth.failures");
  t.section("log");
  t.add("refused", std::uint64_t{0});
  t.section("");
  t.add("z", -2);
  EXPECT_EQ(boost::json::serialize(t.json()),
            R"({"a":1,"ports":{},"log":{"connected":true,"auth":{"failures":{}},"refused":0},"z":-2})");
  EXPECT_EQ(metrics_of(t), "");
}

TEST(StatTable, SamplesOfOneNameAreWrittenTogether) {
  StatTable t;
  for (const char* port : {"ext", "int"}) {
    t.section(std::string("ports.") + port);
    t.add("rx", std::uint64_t{port[0] == 'e' ? 1u : 2u}).counter("rx_total", "Rx.", {"port", port});
    t.add("tx", std::uint64_t{port[0] == 'e' ? 3u : 4u}).counter("tx_total", "Tx.", {"port", port});
  }
  EXPECT_EQ(boost::json::serialize(t.json()), R"({"ports":{"ext":{"rx":1,"tx":3},"int":{"rx":2,"tx":4}}})");
  EXPECT_EQ(metrics_of(t),
            "# HELP rx_total Rx.\n"
            "# TYPE rx_total counter\n"
            "rx_total{port=\"ext\"} 1\n"
            "rx_total{port=\"int\"} 2\n"
            "# HELP tx_total Tx.\n"
            "# TYPE tx_total counter\n"
            "tx_total{port=\"ext\"} 3\n"
            "tx_total{port=\"int\"} 4\n");
}

TEST(StatTable, OmitZeroAndMetricWhen) {
  StatTable t;
  t.section("forward.parse_errors");
  t.add("short", std::uint64_t{0}).omit_zero().counter("errs_total", "E.", {"reason", "short"});
  t.add("bad", std::uint64_t{5}).omit_zero().counter("errs_total", "E.", {"reason", "bad"});
  t.section("log");
  t.add("bytes_sent", std::uint64_t{9}).counter("sent_total", "S.").metric_when(false);
  t.add("bytes_received", std::uint64_t{8}).counter("received_total", "R.").metric_when(true);
  EXPECT_EQ(boost::json::serialize(t.json()),
            R"({"forward":{"parse_errors":{"bad":5}},"log":{"bytes_sent":9,"bytes_received":8}})");
  EXPECT_EQ(metrics_of(t),
            "# HELP errs_total E.\n"
            "# TYPE errs_total counter\n"
            "errs_total{reason=\"short\"} 0\n"
            "errs_total{reason=\"bad\"} 5\n"
            "# HELP received_total R.\n"
            "# TYPE received_total counter\n"
            "received_total 8\n");
}

TEST(StatTable, ValueKindsInBothOutputs) {
  StatTable t;
  t.add("up", true).gauge("up", "U.");
  t.add("down", false).gauge("down", "D.");
  t.add("neg", -1).gauge("neg", "N.");
  t.add("ratio", 0.25).gauge("ratio", "R.");
  t.add("mode", std::string("psk")).gauge("mode", "A string has no metric.");
  EXPECT_EQ(boost::json::serialize(t.json()),
            R"({"up":true,"down":false,"neg":-1,"ratio":2.5E-1,"mode":"psk"})");
  EXPECT_EQ(metrics_of(t),
            "# HELP up U.\n# TYPE up gauge\nup 1\n"
            "# HELP down D.\n# TYPE down gauge\ndown 0\n"
            "# HELP neg N.\n# TYPE neg gauge\nneg -1\n"
            "# HELP ratio R.\n# TYPE ratio gauge\nratio 0.25\n");
}

TEST(StatTable, HistogramIsMetricsOnly) {
  StatTable t;
  const std::array<double, 1> bounds{0.5};
  const std::array<std::uint64_t, 2> counts{2, 1};
  t.section("output_gate");
  t.add("released", std::uint64_t{3}).counter("released_total", "R.");
  t.histogram("hold_seconds", "H.", bounds, counts, 1.25);
  EXPECT_EQ(boost::json::serialize(t.json()), R"({"output_gate":{"released":3}})");
  EXPECT_EQ(metrics_of(t),
            "# HELP released_total R.\n# TYPE released_total counter\nreleased_total 3\n"
            "# HELP hold_seconds H.\n# TYPE hold_seconds histogram\n"
            "hold_seconds_bucket{le=\"0.5\"} 2\n"
            "hold_seconds_bucket{le=\"+Inf\"} 3\n"
            "hold_seconds_sum 1.25\n"
            "hold_seconds_count 3\n");
}

}  // namespace
}  // namespace ftproxy::control
