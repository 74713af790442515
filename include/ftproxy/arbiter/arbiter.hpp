// The arbiter: a test-and-set flag per (cluster, epoch) that decides which proxy of a
// pair goes live when they lose each other. A flag, once set, is never cleared by time:
// that is what makes split brain impossible. A new epoch (attaching a new backup) means
// asking for epoch + 1; `latest()` tells an operator tool which epoch was decided last.
//
// The interface is asynchronous because the proxy's event loop is single-threaded:
// every call returns at once and its callback runs later, exactly once, on the
// implementation's event loop (never inline from inside the call).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ftproxy::arbiter {

// Answer to test_and_set.
struct ArbiterResult {
  enum class Kind : std::uint8_t {
    won,          // the flag is ours (newly set, or already set to this candidate)
    lost,         // the flag belongs to `owner`
    unavailable,  // no arbiter answered, or it answered with an error: `message` says why
  };
  Kind kind = Kind::unavailable;
  std::string owner;                // winner's name for won and lost, else empty
  std::uint64_t fencing_token = 0;  // monotonic per arbiter (embedded: decision counter), 0 if unknown
  std::string message;              // reason for unavailable; empty otherwise
};

// Answer to read() and latest().
struct ArbiterRead {
  enum class Kind : std::uint8_t {
    decided,      // a flag is set: `epoch`, `owner`, `fencing_token` are filled
    undecided,    // no flag for that epoch (read) / for any epoch of the cluster (latest)
    unavailable,  // `message` says why
  };
  Kind kind = Kind::unavailable;
  std::uint64_t epoch = 0;
  std::string owner;
  std::uint64_t fencing_token = 0;
  std::string message;
};

inline const char* to_string(ArbiterResult::Kind k) noexcept {
  switch (k) {
    case ArbiterResult::Kind::won:
      return "won";
    case ArbiterResult::Kind::lost:
      return "lost";
    case ArbiterResult::Kind::unavailable:
      return "unavailable";
  }
  return "?";
}

inline const char* to_string(ArbiterRead::Kind k) noexcept {
  switch (k) {
    case ArbiterRead::Kind::decided:
      return "decided";
    case ArbiterRead::Kind::undecided:
      return "undecided";
    case ArbiterRead::Kind::unavailable:
      return "unavailable";
  }
  return "?";
}

// Cluster and candidate names accepted by every arbiter: [A-Za-z0-9_.-]{1,64}
// (the same rule as the config's node.name and node.cluster).
inline bool valid_arbiter_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class Arbiter {
 public:
  using ResultCallback = std::function<void(ArbiterResult)>;
  using ReadCallback = std::function<void(ArbiterRead)>;

  virtual ~Arbiter() = default;

  // Sets the flag of (cluster, epoch) to `candidate` if it is unset. Idempotent: asking
  // again as the recorded owner answers `won` again (a retry after a lost reply is safe).
  virtual void test_and_set(const std::string& cluster, std::uint64_t epoch, const std::string& candidate,
                            ResultCallback done) = 0;

  // Reads the flag of (cluster, epoch) without setting it.
  virtual void read(const std::string& cluster, std::uint64_t epoch, ReadCallback done) = 0;

  // The highest epoch of `cluster` with a set flag (operator tools pick latest + 1).
  virtual void latest(const std::string& cluster, ReadCallback done) = 0;
};

}  // namespace ftproxy::arbiter
