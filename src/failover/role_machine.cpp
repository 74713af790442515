#include "ftproxy/failover/role_machine.hpp"

#include <algorithm>

namespace ftproxy::failover {

const char* to_string(State s) noexcept {
  switch (s) {
    case State::standalone:
      return "standalone";
    case State::primary:
      return "primary";
    case State::backup:
      return "backup";
    case State::arbitrating:
      return "arbitrating";
    case State::live:
      return "live";
    case State::fenced:
      return "fenced";
  }
  return "?";
}

const char* to_string(FenceCause c) noexcept {
  switch (c) {
    case FenceCause::none:
      return "none";
    case FenceCause::arbiter_lost:
      return "arbiter_lost";
    case FenceCause::operator_fence:
      return "operator";
    case FenceCause::local_health:
      return "local_health";
  }
  return "?";
}

const char* to_string(ActionKind k) noexcept {
  switch (k) {
    case ActionKind::ask_arbiter:
      return "ask_arbiter";
    case ActionKind::start_takeover:
      return "start_takeover";
    case ActionKind::go_live:
      return "go_live";
    case ActionKind::stop_heartbeats:
      return "stop_heartbeats";
    case ActionKind::fence:
      return "fence";
  }
  return "?";
}

namespace {

State sanitize_role(State s) noexcept {
  return (s == State::primary || s == State::backup) ? s : State::standalone;
}

}  // namespace

RoleMachine::RoleMachine(const RoleMachineConfig& config, MonoTime now)
    : config_(config),
      state_(sanitize_role(config.initial)),
      origin_(state_),
      epoch_(config.epoch),
      started_(now),
      last_heard_(now),
      backoff_(config.retry_initial) {
  // A zero or inverted back-off would turn "unavailable" into a busy retry loop.
  if (config_.retry_initial <= MonoTime::zero()) config_.retry_initial = milliseconds{1};
  if (config_.retry_max < config_.retry_initial) config_.retry_max = config_.retry_initial;
  backoff_ = config_.retry_initial;
}

void RoleMachine::peer_heard(MonoTime now) noexcept {
  switch (state_) {
    case State::primary:
    case State::backup:
      peer_seen_ = true;
      last_heard_ = std::max(last_heard_, now);
      break;
    case State::arbitrating:
      ++late_peer_contacts_;
      break;
    default:
      break;
  }
}

void RoleMachine::tick(MonoTime now) noexcept {
  switch (state_) {
    case State::primary:
    case State::backup:
      if (peer_seen_) {
        if (now - last_heard_ > config_.failure_timeout) start_arbitration("peer silent", now);
      } else if (state_ == State::primary && config_.join_timeout > MonoTime::zero() &&
                 now - started_ > config_.join_timeout) {
        start_arbitration("backup never joined", now);
      }
      break;
    case State::arbitrating:
      if (!awaiting_ && now >= retry_at_) ask();
      break;
    default:
      break;
  }
}

void RoleMachine::arbiter_answer(std::uint64_t request, const arbiter::ArbiterResult& result, MonoTime now) {
  if (state_ != State::arbitrating || !awaiting_ || request != request_) {
    ++ignored_answers_;
    return;
  }
  awaiting_ = false;
  using Kind = arbiter::ArbiterResult::Kind;
  switch (result.kind) {
    case Kind::won: {
      Transition& t = record(State::live, "arbiter won", now);
      t.answer = result.kind;
      t.owner = result.owner;
      t.fencing_token = result.fencing_token;
      push(origin_ == State::backup ? ActionKind::start_takeover : ActionKind::go_live);
      break;
    }
    case Kind::lost: {
      fence_cause_ = FenceCause::arbiter_lost;
      Transition& t = record(State::fenced, "arbiter lost", now);
      t.answer = result.kind;
      t.owner = result.owner;
      t.fencing_token = result.fencing_token;
      push(ActionKind::fence);
      break;
    }
    case Kind::unavailable:
      ++unavailable_;
      last_arbiter_message_ = result.message;
      retry_at_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, config_.retry_max);
      break;
  }
}

void RoleMachine::local_health_failed(std::string_view reason, MonoTime now) {
  health_failed_ = true;
  switch (state_) {
    case State::primary:
    case State::backup:
    case State::arbitrating: {
      awaiting_ = false;  // a late answer must not make a node with a dead server live
      fence_cause_ = FenceCause::local_health;
      Transition& t = record(State::fenced, "local health failed", now);
      t.detail.assign(reason);
      push(ActionKind::stop_heartbeats);
      push(ActionKind::fence);
      break;
    }
    default:
      break;
  }
}

OperatorResult RoleMachine::promote(MonoTime now) {
  switch (state_) {
    case State::primary:
    case State::backup:
      start_arbitration("operator promote", now);
      return {true, "asking the arbiter"};
    case State::arbitrating:
      return {false, "already arbitrating"};
    case State::live:
      return {false, "already live"};
    case State::fenced:
      return {false, "fenced: reset to a new epoch first"};
    case State::standalone:
      return {false, "standalone has no peer and no arbiter"};
  }
  return {false, "?"};
}

OperatorResult RoleMachine::fence(MonoTime now) {
  if (state_ == State::fenced) return {true, "already fenced"};
  awaiting_ = false;
  fence_cause_ = FenceCause::operator_fence;
  record(State::fenced, "operator fence", now);
  push(ActionKind::fence);
  return {true, "fenced"};
}

OperatorResult RoleMachine::reset(State role, std::uint64_t epoch, MonoTime now) {
  if (role != State::primary && role != State::backup && role != State::standalone) {
    return {false, "role must be standalone, primary or backup"};
  }
  if (epoch < epoch_) return {false, "epoch is lower than the current one"};
  epoch_ = epoch;
  origin_ = role;
  fence_cause_ = FenceCause::none;
  health_failed_ = false;
  peer_seen_ = false;
  awaiting_ = false;
  started_ = now;
  last_heard_ = now;
  backoff_ = config_.retry_initial;
  last_arbiter_message_.clear();
  action_head_ = 0;
  action_count_ = 0;  // actions of the previous life are void
  record(role, "operator reset", now);
  return {true, "reset"};
}

bool RoleMachine::pop_action(Action& out) noexcept {
  if (action_count_ == 0) return false;
  out = actions_[action_head_];
  action_head_ = (action_head_ + 1) % kActionCapacity;
  --action_count_;
  return true;
}

bool RoleMachine::heartbeating() const noexcept {
  return state_ == State::primary || state_ == State::backup || state_ == State::arbitrating;
}

MonoTime RoleMachine::next_deadline() const noexcept {
  switch (state_) {
    case State::primary:
    case State::backup:
      if (peer_seen_) return last_heard_ + config_.failure_timeout + nanoseconds{1};
      if (state_ == State::primary && config_.join_timeout > MonoTime::zero()) {
        return started_ + config_.join_timeout + nanoseconds{1};
      }
      return MonoTime::max();
    case State::arbitrating:
      return awaiting_ ? MonoTime::max() : retry_at_;
    default:
      return MonoTime::max();
  }
}

const Transition& RoleMachine::history(std::size_t i) const noexcept {
  return history_[(history_head_ + i) % kHistoryCapacity];
}

const Transition* RoleMachine::last_transition() const noexcept {
  return history_count_ == 0 ? nullptr : &history(history_count_ - 1);
}

void RoleMachine::start_arbitration(const char* reason, MonoTime now) noexcept {
  origin_ = state_;
  backoff_ = config_.retry_initial;
  record(State::arbitrating, reason, now);
  ask();
}

void RoleMachine::ask() noexcept {
  awaiting_ = true;
  ++request_;
  ++asks_;
  push(ActionKind::ask_arbiter, request_);
}

void RoleMachine::push(ActionKind kind, std::uint64_t request) noexcept {
  if (action_count_ == kActionCapacity) {
    ++dropped_actions_;
    return;
  }
  actions_[(action_head_ + action_count_) % kActionCapacity] = Action{kind, epoch_, request};
  ++action_count_;
}

Transition& RoleMachine::record(State to, const char* reason, MonoTime now) noexcept {
  std::size_t slot;
  if (history_count_ < kHistoryCapacity) {
    slot = (history_head_ + history_count_) % kHistoryCapacity;
    ++history_count_;
  } else {
    slot = history_head_;
    history_head_ = (history_head_ + 1) % kHistoryCapacity;
  }
  Transition& t = history_[slot];
  t.from = state_;
  t.to = to;
  t.reason = reason;
  t.detail.clear();  // keeps capacity: no allocation on the tick path
  t.epoch = epoch_;
  t.answer.reset();
  t.owner.clear();
  t.fencing_token = 0;
  t.at = now;
  state_ = to;
  ++transitions_total_;
  return t;
}

}  // namespace ftproxy::failover
