#include "ftproxy/ctl/render.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ftproxy::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Shaped like the proxy's GET /status (src/node/node.cpp status_json), trimmed.
constexpr const char* kPrimaryStatus = R"({
  "node":"p1","cluster":"shop","role":"primary","state":"primary","epoch":3,"uptime_s":12.5,
  "ports":{"ext":{"name":"ext","link":"up"}},
  "failover":{"failovers":0,"arbiter_asks":0,"arbiter_unavailable":0,"last_arbiter_message":"",
              "fence_cause":"none","owner":"","fencing_token":0,"peer_seen":true,"ms_since_peer_heard":2.31,
              "transitions":[]},
  "log":{"connected":true,"seq_sent":120,"seq_logged":121,"seq_acked":118,"lag_entries":3,"lag_bytes":450,
         "lag_seconds":0.0015,"bytes_sent":9000,"reconnects":0},
  "output_gate":{"held":2,"held_bytes":180,"held_max":40,"released":5000,"dropped_full":0},
  "tcp":{"flows":7,"divergence":1}
})";

constexpr const char* kLiveBackupStatus = R"({
  "node":"p2","cluster":"shop","role":"backup","state":"live","epoch":3,
  "failover":{"failovers":1,"arbiter_asks":1,"arbiter_unavailable":0,"fence_cause":"none","owner":"p2",
              "fencing_token":17,"peer_seen":true,"ms_since_peer_heard":4000.0,
              "transitions":[
                {"from":"backup","to":"backup","reason":"r0","detail":"","epoch":3,"answer":"","owner":"","fencing_token":0,"seconds_ago":60.0},
                {"from":"backup","to":"backup","reason":"r1","detail":"","epoch":3,"answer":"","owner":"","fencing_token":0,"seconds_ago":50.0},
                {"from":"backup","to":"backup","reason":"r2","detail":"","epoch":3,"answer":"","owner":"","fencing_token":0,"seconds_ago":40.0},
                {"from":"backup","to":"backup","reason":"r3","detail":"","epoch":3,"answer":"","owner":"","fencing_token":0,"seconds_ago":30.0},
                {"from":"backup","to":"arbitrating","reason":"peer silent","detail":"61 ms","epoch":3,"answer":"","owner":"","fencing_token":0,"seconds_ago":4.0},
                {"from":"arbitrating","to":"live","reason":"arbiter won","detail":"","epoch":3,"answer":"won","owner":"p2","fencing_token":17,"seconds_ago":3.9}
              ]},
  "log":{"connected":false,"seq_received":118,"seq_injected":118,"reconnects":2},
  "tcp":{"flows":1,"divergence":0}
})";

std::string status_table(const char* json) {
  std::string out, error;
  EXPECT_TRUE(render_status(json, out, error)) << error;
  return out;
}

TEST(RenderStatus, PrimaryShowsLogLagHeldOutputsAndFlows) {
  const auto t = status_table(kPrimaryStatus);
  EXPECT_THAT(t, HasSubstr("p1 (cluster shop, role primary)"));
  EXPECT_THAT(t, HasSubstr("state        primary\n"));
  EXPECT_THAT(t, HasSubstr("epoch        3\n"));
  EXPECT_THAT(t, HasSubstr("silent for 2.3 ms"));
  EXPECT_THAT(t, HasSubstr("connected; seq logged 121, sent 120, acked 118; lag 3 entries, 450 B, 0.002 s"));
  EXPECT_THAT(t, HasSubstr("held 2 (180 B), max held 40, released 5000, dropped 0"));
  EXPECT_THAT(t, HasSubstr("flows        7\n"));
  EXPECT_THAT(t, HasSubstr("divergence   1\n"));
  EXPECT_THAT(t, HasSubstr("failovers    0 (arbiter asks 0, unavailable 0)"));
  EXPECT_THAT(t, HasSubstr("transitions  none"));
  EXPECT_THAT(t, Not(HasSubstr("fence cause")));
}

TEST(RenderStatus, LiveBackupShowsReceiverSideAndOnlyTheNewestTransitions) {
  const auto t = status_table(kLiveBackupStatus);
  EXPECT_THAT(t, HasSubstr("state        live\n"));
  EXPECT_THAT(t, HasSubstr("disconnected; seq received 118, injected 118; 2 reconnects"));
  EXPECT_THAT(t, HasSubstr("outputs      -\n"));
  EXPECT_THAT(t, HasSubstr("owner p2, fencing token 17"));
  EXPECT_THAT(t, HasSubstr("last 5 of 6, oldest first"));
  EXPECT_THAT(t, Not(HasSubstr("r0")));
  EXPECT_THAT(t, HasSubstr("r1"));
  EXPECT_THAT(t, HasSubstr("backup -> arbitrating  epoch 3  peer silent (61 ms)"));
  EXPECT_THAT(t, HasSubstr("arbitrating -> live  epoch 3  arbiter won; arbiter: won, owner p2, token 17"));
  // Newest last.
  EXPECT_LT(t.find("peer silent"), t.find("arbiter won"));
}

TEST(RenderStatus, FencedShowsTheCause) {
  const auto t =
      status_table(R"({"state":"fenced","failover":{"fence_cause":"operator","peer_seen":false}})");
  EXPECT_THAT(t, HasSubstr("fence cause  operator\n"));
  EXPECT_THAT(t, HasSubstr("peer         never heard"));
}

TEST(RenderStatus, MissingAndMistypedFieldsShowAsDash) {
  const auto t = status_table(R"({"state":5,"epoch":"x"})");
  EXPECT_THAT(t, HasSubstr("node         - (cluster -, role -)"));
  EXPECT_THAT(t, HasSubstr("state        -\n"));
  EXPECT_THAT(t, HasSubstr("epoch        -\n"));
  EXPECT_THAT(t, HasSubstr("log          -\n"));
  EXPECT_THAT(t, HasSubstr("flows        -\n"));
}

TEST(RenderStatus, RefusesWhatIsNotAJsonObject) {
  for (const char* bad : {"", "not json", "[1,2]", "\"live\"", "{\"state\":"}) {
    std::string out, error;
    EXPECT_FALSE(render_status(bad, out, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(StatusFields, StateClusterEpoch) {
  EXPECT_EQ(status_state(kLiveBackupStatus), "live");
  EXPECT_EQ(status_cluster(kLiveBackupStatus), "shop");
  EXPECT_EQ(status_epoch(kLiveBackupStatus), 3u);
  EXPECT_FALSE(status_state("{}"));
  EXPECT_FALSE(status_state("garbage"));
  EXPECT_FALSE(status_epoch(R"({"epoch":-1})"));
}

TEST(RenderFlows, OneLinePerFlowWithUnknownDeltasMarked) {
  constexpr const char* flows = R"({"flows":[
    {"client":"10.77.1.1:40000","server":"10.77.1.10:6379","vlan":0,"state":"established","delta_known":true,
     "seq_delta":123456,"ts_known":true,"ts_delta":99,"queued":0,"idle_seconds":0.25},
    {"client":"10.77.1.1:40002","server":"10.77.1.10:6379","vlan":12,"state":"syn_seen","delta_known":false,
     "seq_delta":0,"ts_known":false,"ts_delta":0,"queued":3,"idle_seconds":1.0}]})";
  std::string out, error;
  ASSERT_TRUE(render_flows(flows, out, error)) << error;
  EXPECT_THAT(out, HasSubstr("CLIENT"));
  EXPECT_THAT(out, HasSubstr("SEQ_DELTA"));
  EXPECT_THAT(out, testing::ContainsRegex(
                       "10\\.77\\.1\\.1:40000 +10\\.77\\.1\\.10:6379 +0 established +123456 +99 +0 +0\\.2"));
  EXPECT_THAT(out, testing::ContainsRegex(
                       "10\\.77\\.1\\.1:40002 +10\\.77\\.1\\.10:6379 +12 syn_seen +\\? +- +3 +1\\.0"));
  EXPECT_THAT(out, HasSubstr("2 flows\n"));
  EXPECT_THAT(out, Not(HasSubstr("only a backup")));
}

TEST(RenderFlows, EmptyAndMalformed) {
  std::string out, error;
  ASSERT_TRUE(render_flows(R"({"flows":[]})", out, error));
  EXPECT_THAT(out, HasSubstr("0 flows\n(only a backup"));
  out.clear();
  EXPECT_FALSE(render_flows(R"({"state":"live"})", out, error));
  EXPECT_THAT(error, HasSubstr("flows"));
  EXPECT_FALSE(render_flows("<html>", out, error));
}

arbiter::ArbiterRead decided(std::uint64_t epoch, const char* owner, std::uint64_t token) {
  arbiter::ArbiterRead r;
  r.kind = arbiter::ArbiterRead::Kind::decided;
  r.epoch = epoch;
  r.owner = owner;
  r.fencing_token = token;
  return r;
}

TEST(RenderEpoch, ShowNamesTheWinnerAndFlagsAStaleConfig) {
  arbiter::ArbiterRead undecided;
  undecided.kind = arbiter::ArbiterRead::Kind::undecided;
  auto t = render_epoch_show("shop", 3, decided(3, "p2", 17), decided(3, "p2", 17));
  EXPECT_THAT(t, HasSubstr("epoch        3: won by p2 (epoch 3, fencing token 17)"));
  EXPECT_THAT(t, Not(HasSubstr("stale")));
  t = render_epoch_show("shop", 2, undecided, decided(3, "p1", 20));
  EXPECT_THAT(t, HasSubstr("epoch        2: undecided"));
  EXPECT_THAT(t, HasSubstr("latest       won by p1 (epoch 3"));
  EXPECT_THAT(t, HasSubstr("stale"));

  arbiter::ArbiterRead down;
  down.message = "10.0.0.1:7500: connection refused";
  t = render_epoch_show("shop", 2, down, down);
  EXPECT_THAT(t, HasSubstr("unavailable: 10.0.0.1:7500: connection refused"));
}

TEST(RenderEpoch, ShowJson) {
  arbiter::ArbiterRead undecided;
  undecided.kind = arbiter::ArbiterRead::Kind::undecided;
  const auto j = epoch_show_json("shop", 3, decided(3, "p2", 17), undecided);
  EXPECT_THAT(j, HasSubstr(R"("cluster":"shop")"));
  EXPECT_THAT(j, HasSubstr(R"("current":{"result":"decided","epoch":3,"owner":"p2","fencing_token":17})"));
  EXPECT_THAT(j, HasSubstr(R"("latest":{"result":"undecided"})"));
}

TEST(RenderEpoch, NewGivesTheEpochAndTheHonestSteps) {
  const auto t = render_epoch_new("shop", 4, decided(3, "p2", 17), 3u);
  EXPECT_THAT(t, HasSubstr("next epoch: 4\n"));
  EXPECT_THAT(t, HasSubstr("latest decided: epoch 3 won by p2; configured epoch: 3"));
  EXPECT_THAT(t, HasSubstr("node.epoch = 4"));
  EXPECT_THAT(t, HasSubstr("cannot copy a running server's state"));
  EXPECT_THAT(t, HasSubstr("identical state"));
}

}  // namespace
}  // namespace ftproxy::ctl
