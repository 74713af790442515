#include "ftproxy/failover/role_machine.hpp"

#include <gtest/gtest.h>

#include "alloc_counter.hpp"

#include <vector>

namespace ftproxy::failover {
namespace {

using Kind = arbiter::ArbiterResult::Kind;

arbiter::ArbiterResult won(std::string owner, std::uint64_t token = 7) {
  return {Kind::won, std::move(owner), token, ""};
}
arbiter::ArbiterResult lost(std::string owner, std::uint64_t token = 7) {
  return {Kind::lost, std::move(owner), token, ""};
}
arbiter::ArbiterResult unavailable(std::string why = "connection refused") {
  return {Kind::unavailable, "", 0, std::move(why)};
}

std::vector<Action> drain(RoleMachine& m) {
  std::vector<Action> out;
  Action a;
  while (m.pop_action(a)) out.push_back(a);
  return out;
}

class RoleMachineTest : public ::testing::Test {
 protected:
  RoleMachineConfig config(State role) {
    RoleMachineConfig c;
    c.initial = role;
    c.epoch = 3;
    c.failure_timeout = milliseconds{60};
    c.retry_initial = milliseconds{50};
    c.retry_max = seconds{1};
    return c;
  }
  // Puts a machine of `role` into ARBITRATING via silence; returns the ask request id.
  std::uint64_t silence_to_arbitrating(RoleMachine& m) {
    m.peer_heard(clock.now());
    clock.advance(milliseconds{61});
    m.tick(clock.now());
    auto acts = drain(m);
    EXPECT_EQ(acts.size(), 1u);
    EXPECT_EQ(m.state(), State::arbitrating);
    return acts.empty() ? 0 : acts[0].request;
  }
  ManualClock clock;
};

TEST(RoleMachineNames, ToStringNames) {
  EXPECT_STREQ(to_string(State::standalone), "standalone");
  EXPECT_STREQ(to_string(State::primary), "primary");
  EXPECT_STREQ(to_string(State::backup), "backup");
  EXPECT_STREQ(to_string(State::arbitrating), "arbitrating");
  EXPECT_STREQ(to_string(State::live), "live");
  EXPECT_STREQ(to_string(State::fenced), "fenced");
  EXPECT_STREQ(to_string(ActionKind::start_takeover), "start_takeover");
  EXPECT_STREQ(to_string(FenceCause::operator_fence), "operator");
}

TEST_F(RoleMachineTest, StartsInConfiguredRole) {
  EXPECT_EQ(RoleMachine(config(State::primary), clock.now()).state(), State::primary);
  EXPECT_EQ(RoleMachine(config(State::backup), clock.now()).state(), State::backup);
  EXPECT_EQ(RoleMachine(config(State::standalone), clock.now()).state(), State::standalone);
  // Only the three configured roles are valid starting points.
  EXPECT_EQ(RoleMachine(config(State::live), clock.now()).state(), State::standalone);
  RoleMachine m(config(State::backup), clock.now());
  EXPECT_EQ(m.epoch(), 3u);
  EXPECT_TRUE(m.heartbeating());
  EXPECT_EQ(m.pending_actions(), 0u);
}

TEST_F(RoleMachineTest, SilenceExactlyAtTimeoutIsNotLoss) {
  RoleMachine m(config(State::backup), clock.now());
  m.peer_heard(clock.now());
  clock.advance(milliseconds{60});
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::backup);
  EXPECT_EQ(m.pending_actions(), 0u);
  clock.advance(nanoseconds{1});
  EXPECT_EQ(m.next_deadline(), clock.now());
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::arbitrating);
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::ask_arbiter);
  EXPECT_EQ(acts[0].epoch, 3u);
  EXPECT_EQ(acts[0].request, 1u);
  ASSERT_NE(m.last_transition(), nullptr);
  EXPECT_EQ(m.last_transition()->from, State::backup);
  EXPECT_EQ(m.last_transition()->to, State::arbitrating);
  EXPECT_STREQ(m.last_transition()->reason, "peer silent");
  EXPECT_EQ(m.last_transition()->at, clock.now());
}

TEST_F(RoleMachineTest, HeartbeatsKeepThePeerAlive) {
  RoleMachine m(config(State::primary), clock.now());
  for (int i = 0; i < 1000; ++i) {
    m.peer_heard(clock.now());
    clock.advance(milliseconds{5});
    m.tick(clock.now());
  }
  EXPECT_EQ(m.state(), State::primary);
  EXPECT_EQ(m.transitions_total(), 0u);
}

TEST_F(RoleMachineTest, DetectorArmsOnFirstContact) {
  RoleMachine b(config(State::backup), clock.now());
  RoleMachine p(config(State::primary), clock.now());
  clock.advance(seconds{10});
  b.tick(clock.now());
  p.tick(clock.now());
  EXPECT_EQ(b.state(), State::backup);   // never heard its primary: nothing to take over
  EXPECT_EQ(p.state(), State::primary);  // no join_timeout: waits for the backup
  EXPECT_EQ(b.next_deadline(), MonoTime::max());
  b.peer_heard(clock.now());
  clock.advance(milliseconds{61});
  b.tick(clock.now());
  EXPECT_EQ(b.state(), State::arbitrating);
}

TEST_F(RoleMachineTest, PrimaryJoinTimeout) {
  auto c = config(State::primary);
  c.join_timeout = seconds{2};
  RoleMachine m(c, clock.now());
  clock.advance(seconds{2});
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::primary);
  clock.advance(milliseconds{1});
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::arbitrating);
  EXPECT_STREQ(m.last_transition()->reason, "backup never joined");
  // A backup with a join_timeout configured still never asks before first contact.
  auto cb = config(State::backup);
  cb.join_timeout = seconds{2};
  RoleMachine b(cb, clock.now());
  clock.advance(seconds{5});
  b.tick(clock.now());
  EXPECT_EQ(b.state(), State::backup);
}

TEST_F(RoleMachineTest, BackupWinsAndTakesOver) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  clock.advance(milliseconds{3});
  m.arbiter_answer(req, won("b1", 42), clock.now());
  EXPECT_EQ(m.state(), State::live);
  EXPECT_TRUE(m.was_backup());
  EXPECT_FALSE(m.heartbeating());
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::start_takeover);
  const Transition* t = m.last_transition();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->from, State::arbitrating);
  EXPECT_EQ(t->to, State::live);
  ASSERT_TRUE(t->answer.has_value());
  EXPECT_EQ(*t->answer, Kind::won);
  EXPECT_EQ(t->owner, "b1");
  EXPECT_EQ(t->fencing_token, 42u);
  EXPECT_EQ(t->epoch, 3u);
  EXPECT_EQ(t->at, clock.now());
}

TEST_F(RoleMachineTest, PrimaryWinsAndGoesLiveWithoutTakeover) {
  RoleMachine m(config(State::primary), clock.now());
  auto req = silence_to_arbitrating(m);
  m.arbiter_answer(req, won("p1"), clock.now());
  EXPECT_EQ(m.state(), State::live);
  EXPECT_FALSE(m.was_backup());
  EXPECT_EQ(m.origin(), State::primary);
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::go_live);
}

TEST_F(RoleMachineTest, LoserIsFencedAndFencedIsTerminal) {
  RoleMachine m(config(State::primary), clock.now());
  auto req = silence_to_arbitrating(m);
  m.arbiter_answer(req, lost("b1", 9), clock.now());
  EXPECT_EQ(m.state(), State::fenced);
  EXPECT_EQ(m.fence_cause(), FenceCause::arbiter_lost);
  EXPECT_EQ(m.last_transition()->owner, "b1");
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::fence);
  // Nothing but an operator reset moves it.
  m.peer_heard(clock.now());
  clock.advance(seconds{100});
  m.tick(clock.now());
  m.arbiter_answer(req, won("p1"), clock.now());
  m.local_health_failed("link down", clock.now());
  EXPECT_FALSE(m.promote(clock.now()).ok);
  EXPECT_EQ(m.state(), State::fenced);
  EXPECT_EQ(m.pending_actions(), 0u);
  EXPECT_FALSE(m.reset(State::backup, 2, clock.now()).ok);  // older epoch refused
  EXPECT_EQ(m.state(), State::fenced);
  ASSERT_TRUE(m.reset(State::backup, 4, clock.now()).ok);
  EXPECT_EQ(m.state(), State::backup);
  EXPECT_EQ(m.epoch(), 4u);
  EXPECT_EQ(m.fence_cause(), FenceCause::none);
  EXPECT_STREQ(m.last_transition()->reason, "operator reset");
  // The new life asks about the new epoch.
  auto req2 = silence_to_arbitrating(m);
  EXPECT_GT(req2, req);
}

TEST_F(RoleMachineTest, UnavailableBacksOffExponentiallyUpToOneSecond) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  const std::vector<int> expected_ms = {50, 100, 200, 400, 800, 1000, 1000, 1000};
  for (int wait : expected_ms) {
    m.arbiter_answer(req, unavailable(), clock.now());
    EXPECT_EQ(m.state(), State::arbitrating);
    EXPECT_EQ(m.retry_at(), clock.now() + milliseconds{wait});
    EXPECT_EQ(m.next_deadline(), clock.now() + milliseconds{wait});
    clock.advance(milliseconds{wait} - nanoseconds{1});
    m.tick(clock.now());
    EXPECT_EQ(m.pending_actions(), 0u) << "asked early, back-off " << wait;
    clock.advance(nanoseconds{1});
    m.tick(clock.now());
    auto acts = drain(m);
    ASSERT_EQ(acts.size(), 1u) << "back-off " << wait;
    EXPECT_EQ(acts[0].kind, ActionKind::ask_arbiter);
    EXPECT_EQ(acts[0].request, req + 1);
    req = acts[0].request;
    // While the question is out, ticking asks nothing more.
    clock.advance(seconds{5});
    m.tick(clock.now());
    EXPECT_EQ(m.pending_actions(), 0u);
  }
  EXPECT_EQ(m.arbiter_unavailable(), expected_ms.size());
  EXPECT_EQ(m.last_arbiter_message(), "connection refused");
  m.arbiter_answer(req, won("b1"), clock.now());
  EXPECT_EQ(m.state(), State::live);
}

TEST_F(RoleMachineTest, BackoffRestartsForANewArbitration) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  m.arbiter_answer(req, unavailable(), clock.now());
  EXPECT_EQ(m.current_backoff(), milliseconds{100});
  m.fence(clock.now());
  ASSERT_TRUE(m.reset(State::backup, 4, clock.now()).ok);
  EXPECT_EQ(m.current_backoff(), milliseconds{50});
  req = silence_to_arbitrating(m);
  m.arbiter_answer(req, unavailable(), clock.now());
  EXPECT_EQ(m.retry_at(), clock.now() + milliseconds{50});
}

TEST_F(RoleMachineTest, LateHeartbeatWhileArbitratingDoesNotCancel) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  m.peer_heard(clock.now());
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::arbitrating);
  EXPECT_EQ(m.late_peer_contacts(), 1u);
  // Even after an unavailable answer and the peer talking again, the question is re-asked.
  m.arbiter_answer(req, unavailable(), clock.now());
  m.peer_heard(clock.now());
  clock.advance(milliseconds{50});
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::arbitrating);
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::ask_arbiter);
}

TEST_F(RoleMachineTest, StaleAndUnexpectedAnswersAreIgnored) {
  RoleMachine m(config(State::backup), clock.now());
  m.arbiter_answer(1, won("b1"), clock.now());  // nothing asked yet
  EXPECT_EQ(m.state(), State::backup);
  auto req = silence_to_arbitrating(m);
  m.arbiter_answer(req + 5, won("b1"), clock.now());  // not our question
  EXPECT_EQ(m.state(), State::arbitrating);
  m.arbiter_answer(req, unavailable(), clock.now());
  m.arbiter_answer(req, won("b1"), clock.now());  // answered already
  EXPECT_EQ(m.state(), State::arbitrating);
  EXPECT_EQ(m.ignored_answers(), 3u);
}

TEST_F(RoleMachineTest, HealthFailureStepsDownPrimaryAndBackup) {
  for (State role : {State::primary, State::backup}) {
    RoleMachine m(config(role), clock.now());
    m.peer_heard(clock.now());
    m.local_health_failed("server process gone", clock.now());
    EXPECT_EQ(m.state(), State::fenced);
    EXPECT_EQ(m.fence_cause(), FenceCause::local_health);
    EXPECT_TRUE(m.health_failed());
    EXPECT_FALSE(m.heartbeating());
    EXPECT_EQ(m.last_transition()->detail, "server process gone");
    auto acts = drain(m);
    ASSERT_EQ(acts.size(), 2u);
    EXPECT_EQ(acts[0].kind, ActionKind::stop_heartbeats);
    EXPECT_EQ(acts[1].kind, ActionKind::fence);
    // A dead server never asks to become live.
    clock.advance(seconds{10});
    m.tick(clock.now());
    EXPECT_EQ(m.pending_actions(), 0u);
    EXPECT_FALSE(m.promote(clock.now()).ok);
  }
}

TEST_F(RoleMachineTest, HealthFailureWhileArbitratingIgnoresTheLateWin) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  m.local_health_failed("int link down", clock.now());
  EXPECT_EQ(m.state(), State::fenced);
  m.arbiter_answer(req, won("b1"), clock.now());
  EXPECT_EQ(m.state(), State::fenced);
  EXPECT_EQ(m.ignored_answers(), 1u);
}

TEST_F(RoleMachineTest, HealthFailureWhileLiveOnlyFlags) {
  RoleMachine m(config(State::backup), clock.now());
  auto req = silence_to_arbitrating(m);
  m.arbiter_answer(req, won("b1"), clock.now());
  drain(m);
  auto total = m.transitions_total();
  m.local_health_failed("probe failed", clock.now());
  EXPECT_EQ(m.state(), State::live);
  EXPECT_TRUE(m.health_failed());
  EXPECT_EQ(m.transitions_total(), total);
  EXPECT_EQ(m.pending_actions(), 0u);
  m.local_health_restored();
  EXPECT_FALSE(m.health_failed());
}

TEST_F(RoleMachineTest, OperatorPromoteGoesThroughTheArbiter) {
  RoleMachine m(config(State::backup), clock.now());
  auto r = m.promote(clock.now());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(m.state(), State::arbitrating);
  EXPECT_STREQ(m.last_transition()->reason, "operator promote");
  auto acts = drain(m);
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, ActionKind::ask_arbiter);
  EXPECT_FALSE(m.promote(clock.now()).ok);  // already arbitrating
  m.arbiter_answer(acts[0].request, lost("p1"), clock.now());
  EXPECT_EQ(m.state(), State::fenced);  // the arbiter said no: promote does not force

  RoleMachine s(config(State::standalone), clock.now());
  EXPECT_FALSE(s.promote(clock.now()).ok);
  EXPECT_EQ(s.state(), State::standalone);
}

TEST_F(RoleMachineTest, OperatorFenceFromEveryState) {
  RoleMachine a(config(State::primary), clock.now());
  RoleMachine b(config(State::standalone), clock.now());
  RoleMachine c(config(State::backup), clock.now());
  silence_to_arbitrating(c);
  RoleMachine d(config(State::backup), clock.now());
  d.arbiter_answer(silence_to_arbitrating(d), won("b1"), clock.now());
  drain(d);
  for (RoleMachine* m : {&a, &b, &c, &d}) {
    EXPECT_TRUE(m->fence(clock.now()).ok);
    EXPECT_EQ(m->state(), State::fenced);
    EXPECT_EQ(m->fence_cause(), FenceCause::operator_fence);
    auto acts = drain(*m);
    ASSERT_EQ(acts.size(), 1u);
    EXPECT_EQ(acts[0].kind, ActionKind::fence);
    EXPECT_TRUE(m->fence(clock.now()).ok);  // idempotent, no new action
    EXPECT_EQ(m->pending_actions(), 0u);
  }
  // The answer to c's outstanding question no longer matters.
  c.arbiter_answer(1, won("b1"), clock.now());
  EXPECT_EQ(c.state(), State::fenced);
}

TEST_F(RoleMachineTest, ResetValidatesRole) {
  RoleMachine m(config(State::primary), clock.now());
  EXPECT_FALSE(m.reset(State::live, 5, clock.now()).ok);
  EXPECT_FALSE(m.reset(State::arbitrating, 5, clock.now()).ok);
  EXPECT_EQ(m.state(), State::primary);
  EXPECT_TRUE(m.reset(State::standalone, 5, clock.now()).ok);
  EXPECT_EQ(m.state(), State::standalone);
  EXPECT_FALSE(m.heartbeating());
  clock.advance(seconds{100});
  m.peer_heard(clock.now());
  m.tick(clock.now());
  EXPECT_EQ(m.state(), State::standalone);
}

TEST_F(RoleMachineTest, TickAndPeerHeardNeverAllocate) {
  {
    const std::uint64_t probe = ftproxy::test::allocation_count();
    auto* v = new std::vector<int>(64);  // the counter itself works
    delete v;
    ASSERT_GE(ftproxy::test::allocation_count() - probe, 1u);
  }
  RoleMachine m(config(State::backup), clock.now());
  // Fill the history ring once so that every slot has been constructed.
  for (std::uint64_t e = 4; e < 4 + RoleMachine::kHistoryCapacity; ++e)
    m.reset(State::backup, e, clock.now());
  Action a;
  std::uint64_t before = ftproxy::test::allocation_count();
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 50; ++i) {
      m.peer_heard(clock.now());
      clock.advance(milliseconds{5});
      m.tick(clock.now());
    }
    clock.advance(milliseconds{61});
    m.tick(clock.now());  // silence: a transition and an action, still no allocation
    while (m.pop_action(a)) {
    }
    m.arbiter_answer(a.request, arbiter::ArbiterResult{}, clock.now());  // unavailable, empty message
    clock.advance(seconds{2});
    m.tick(clock.now());
    m.peer_heard(clock.now());
    const std::uint64_t during = ftproxy::test::allocation_count() - before;
    ASSERT_EQ(during, 0u) << "round " << round;
    ASSERT_EQ(m.state(), State::arbitrating);
    ASSERT_EQ(m.arbiter_asks(), 2u * (round + 1));
    // Back to BACKUP for the next round (operator path: allowed to allocate, not counted).
    m.fence(clock.now());
    m.reset(State::backup, m.epoch() + 1, clock.now());
    while (m.pop_action(a)) {
    }
    before = ftproxy::test::allocation_count();
  }
}

TEST_F(RoleMachineTest, HistoryIsBounded) {
  RoleMachine m(config(State::primary), clock.now());
  for (std::uint64_t e = 4; e < 4 + 40; ++e) {
    m.fence(clock.now());
    m.reset(State::primary, e, clock.now());
  }
  EXPECT_EQ(m.transitions_total(), 80u);
  EXPECT_EQ(m.history_size(), RoleMachine::kHistoryCapacity);
  EXPECT_EQ(m.history(m.history_size() - 1).to, State::primary);
  EXPECT_EQ(m.history(m.history_size() - 1).epoch, 43u);
  EXPECT_EQ(m.history(0).to, State::fenced);
  EXPECT_EQ(m.dropped_actions(), 0u);
}

}  // namespace
}  // namespace ftproxy::failover
