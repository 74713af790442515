// The role state machine of one proxy (DESIGN.md §2): failure detector, arbitration,
// step-down and operator actions. Pure logic: no I/O, no clock reads, time is passed in
// as `now` (MonoTime). The I/O shell feeds events in, then drains `pop_action()` and
// executes what it gets (ask the arbiter, take over, fence...). Not thread-safe: one
// owner (the proxy's event loop) calls everything.
//
// States and what moves them:
//   STANDALONE   no peer, no arbiter. Only operator fence/reset move it.
//   PRIMARY      \ peer silent > failure_timeout (tick)   -> ARBITRATING  + ask_arbiter
//   BACKUP       / operator promote                       -> ARBITRATING  + ask_arbiter
//                  local health failed                    -> FENCED       + stop_heartbeats, fence
//   ARBITRATING  won         -> LIVE   + start_takeover (came from BACKUP) or go_live (from PRIMARY)
//                lost        -> FENCED + fence
//                unavailable -> stays; the question is asked again after a back-off that
//                               starts at retry_initial and doubles up to retry_max
//                peer heard again -> stays: the question is already asked and only the
//                               arbiter decides (the peer may be asking too); the answer
//                               settles it, so the pair never needs a "cancel".
//                local health failed -> FENCED: a late answer to an outstanding ask is then
//                               ignored, and no new ask is sent, so the peer can win.
//   LIVE         terminal for this epoch. Local health failure only sets health_failed():
//                there is no peer left to hand over to, so fencing would turn a transient
//                link blip into an outage.
//   FENCED       terminal until an operator reset().
//
// Failure detector arming: the silence timer starts at the first peer contact. Before
// that, a BACKUP has nothing to take over and never asks; a PRIMARY waits for its backup
// (outputs stay held) unless `join_timeout` is set, after which it arbitrates as if the
// backup was lost, to go live alone. Silence is "exceeded" strictly: now - last_heard >
// failure_timeout.
//
// tick() and peer_heard() never allocate and never throw.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ftproxy/arbiter/arbiter.hpp"
#include "ftproxy/common/time.hpp"

namespace ftproxy::failover {

enum class State : std::uint8_t { standalone, primary, backup, arbitrating, live, fenced };
// "standalone", "primary", "backup", "arbitrating", "live", "fenced".
const char* to_string(State s) noexcept;

// Why a node is FENCED.
enum class FenceCause : std::uint8_t { none, arbiter_lost, operator_fence, local_health };
// "none", "arbiter_lost", "operator", "local_health".
const char* to_string(FenceCause c) noexcept;

enum class ActionKind : std::uint8_t {
  ask_arbiter,      // Arbiter::test_and_set(cluster, action.epoch, this node); pass the answer
                    // to arbiter_answer(action.request, ...)
  start_takeover,   // LIVE from BACKUP: inject every received log entry, then forward int->ext
                    // translated, accept ext frames, start the GARP schedule
  go_live,          // LIVE from PRIMARY: release held outputs, stop holding, close the log channel
  stop_heartbeats,  // stop sending heartbeats and acks so the peer detects our silence
  fence,            // drop ext->int and int->ext, close the log channel
};
// "ask_arbiter", "start_takeover", "go_live", "stop_heartbeats", "fence".
const char* to_string(ActionKind k) noexcept;

struct Action {
  ActionKind kind = ActionKind::fence;
  std::uint64_t epoch = 0;
  std::uint64_t request = 0;  // ask_arbiter only: identifies the question (1, 2, ...)
};

// One state change, for logs and /status.
struct Transition {
  State from = State::standalone;
  State to = State::standalone;
  const char* reason = "";  // static text: "peer silent", "arbiter won", "operator fence"...
  std::string detail;       // health failure reason, arbiter message; may be empty
  std::uint64_t epoch = 0;
  std::optional<arbiter::ArbiterResult::Kind> answer;  // set when an arbiter answer caused it
  std::string owner;                                   // the winner, when `answer` is set
  std::uint64_t fencing_token = 0;                     // from the answer, 0 otherwise
  MonoTime at{};
};

struct RoleMachineConfig {
  State initial = State::standalone;  // standalone | primary | backup
  std::uint64_t epoch = 0;            // the (cluster, epoch) the arbiter is asked about
  MonoTime failure_timeout = milliseconds{60};
  MonoTime retry_initial = milliseconds{50};  // first back-off after an unavailable answer
  MonoTime retry_max = seconds{1};            // back-off cap
  MonoTime join_timeout = MonoTime::zero();   // PRIMARY: arbitrate if no backup by then; 0 = wait
};

// Outcome of an operator request (control plane): ok, or a refusal with its reason.
struct OperatorResult {
  bool ok = false;
  const char* message = "";
};

class RoleMachine {
 public:
  static constexpr std::size_t kActionCapacity = 8;
  static constexpr std::size_t kHistoryCapacity = 16;

  // `config.initial` must be standalone, primary or backup (anything else is treated as
  // standalone). `now` starts the join_timeout.
  RoleMachine(const RoleMachineConfig& config, MonoTime now);

  // Any heartbeat, log entry or ack from the peer.
  void peer_heard(MonoTime now) noexcept;

  // Advances timers: silence detection and arbiter retries. Cheap; call it at least at
  // next_deadline().
  void tick(MonoTime now) noexcept;

  // The arbiter's answer to the ask_arbiter action numbered `request`. Answers to an
  // older request, or arriving when no question is outstanding, are counted and ignored.
  void arbiter_answer(std::uint64_t request, const arbiter::ArbiterResult& result, MonoTime now);

  // The local server is unhealthy (process gone, link down, probe failed): step down.
  void local_health_failed(std::string_view reason, MonoTime now);
  // Clears health_failed() (only meaningful for LIVE/STANDALONE, which did not step down).
  void local_health_restored() noexcept { health_failed_ = false; }

  // Operator: PRIMARY or BACKUP ask the arbiter to become LIVE (never bypasses it).
  OperatorResult promote(MonoTime now);
  // Operator: any state -> FENCED.
  OperatorResult fence(MonoTime now);
  // Operator: start over as `role` (standalone | primary | backup) in `epoch`, which must
  // not be lower than the current one. Clears fence cause, health flag and back-off.
  OperatorResult reset(State role, std::uint64_t epoch, MonoTime now);

  // Next queued action, oldest first; false when the queue is empty.
  bool pop_action(Action& out) noexcept;
  std::size_t pending_actions() const noexcept { return action_count_; }

  State state() const noexcept { return state_; }
  // The role held before ARBITRATING / LIVE (primary or backup), else the current state.
  State origin() const noexcept { return origin_; }
  bool was_backup() const noexcept { return origin_ == State::backup; }
  std::uint64_t epoch() const noexcept { return epoch_; }
  FenceCause fence_cause() const noexcept { return fence_cause_; }
  bool health_failed() const noexcept { return health_failed_; }
  // Whether the shell should send heartbeats/acks to the peer now.
  bool heartbeating() const noexcept;
  bool awaiting_arbiter() const noexcept { return awaiting_; }
  bool peer_seen() const noexcept { return peer_seen_; }
  MonoTime last_heard() const noexcept { return last_heard_; }
  // Back-off that the next unavailable answer will wait.
  MonoTime current_backoff() const noexcept { return backoff_; }
  // When the pending retry will be asked (meaningful while ARBITRATING and not awaiting).
  MonoTime retry_at() const noexcept { return retry_at_; }
  // Earliest time at which tick() may have something to do; MonoTime::max() if none.
  MonoTime next_deadline() const noexcept;
  // Message of the last unavailable answer ("" if none).
  const std::string& last_arbiter_message() const noexcept { return last_arbiter_message_; }

  // Counters for /metrics.
  std::uint64_t arbiter_asks() const noexcept { return asks_; }
  std::uint64_t arbiter_unavailable() const noexcept { return unavailable_; }
  std::uint64_t ignored_answers() const noexcept { return ignored_answers_; }
  std::uint64_t late_peer_contacts() const noexcept { return late_peer_contacts_; }
  std::uint64_t dropped_actions() const noexcept { return dropped_actions_; }  // must stay 0

  // Transition history, bounded: index 0 is the oldest retained.
  std::size_t history_size() const noexcept { return history_count_; }
  const Transition& history(std::size_t i) const noexcept;
  std::uint64_t transitions_total() const noexcept { return transitions_total_; }
  const Transition* last_transition() const noexcept;

 private:
  void start_arbitration(const char* reason, MonoTime now) noexcept;
  void ask() noexcept;
  Transition& record(State to, const char* reason, MonoTime now) noexcept;
  void push(ActionKind kind, std::uint64_t request = 0) noexcept;

  RoleMachineConfig config_;
  State state_;
  State origin_;
  std::uint64_t epoch_;
  FenceCause fence_cause_ = FenceCause::none;
  bool health_failed_ = false;
  bool peer_seen_ = false;
  bool awaiting_ = false;
  MonoTime started_;
  MonoTime last_heard_;
  MonoTime backoff_;
  MonoTime retry_at_{};
  std::uint64_t request_ = 0;
  std::string last_arbiter_message_;

  std::uint64_t asks_ = 0;
  std::uint64_t unavailable_ = 0;
  std::uint64_t ignored_answers_ = 0;
  std::uint64_t late_peer_contacts_ = 0;
  std::uint64_t dropped_actions_ = 0;

  std::array<Action, kActionCapacity> actions_{};
  std::size_t action_head_ = 0;
  std::size_t action_count_ = 0;

  std::array<Transition, kHistoryCapacity> history_{};
  std::size_t history_head_ = 0;  // slot of the oldest retained
  std::size_t history_count_ = 0;
  std::uint64_t transitions_total_ = 0;
};

}  // namespace ftproxy::failover
