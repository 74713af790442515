// The embedded arbiter's durable flags: one file per set flag in a data directory.
//
// Layout of `dir`:
//   <cluster>@<epoch>.flag    one JSON line {"cluster","epoch","owner","token","decided_unix_ns"}
//   .<cluster>@<epoch>.tmp    a write in progress (left by a crash before its rename: it was
//                             never answered, so open() deletes it and says so)
//   lock                      flock()ed while a FlagStore has the directory open, so two
//                             arbiter processes can never serve the same flags
// A flag is written to the temp file, fsync'ed, renamed, and the directory fsync'ed
// BEFORE test_and_set() returns won: an answer is never given for a flag a crash could
// forget. Flags are never removed or expire.
//
// Control-plane code: allocates, blocks on fsync. Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ftproxy::arbiter {

struct Flag {
  std::string owner;
  std::uint64_t token = 0;           // decision counter of this store, from 1, never reused
  std::int64_t decided_unix_ns = 0;  // wall clock at decision (informational)
};

class FlagStore {
 public:
  struct OpenReport {
    std::vector<std::string> errors;  // open() failed: corrupt flag file, unreadable dir, locked...
    std::vector<std::string> notes;   // survivable: unknown files ignored, stale temp files removed
    std::size_t flags_loaded = 0;
  };

  // Creates `dir` if missing, locks it, and loads every flag. Returns nullptr when any
  // error is found (all of them are listed in `report.errors`): a flag file that cannot
  // be read back means a winner that cannot be remembered, so the store refuses to serve
  // rather than risk answering that epoch twice.
  static std::unique_ptr<FlagStore> open(const std::string& dir, OpenReport& report);

  ~FlagStore();
  FlagStore(const FlagStore&) = delete;
  FlagStore& operator=(const FlagStore&) = delete;

  struct SetOutcome {
    enum class Kind : std::uint8_t {
      won,     // newly set to the candidate (persisted), or already the candidate's
      lost,    // already set to another owner
      failed,  // could not persist; nothing recorded; `message` says why
    };
    Kind kind = Kind::failed;
    bool newly_set = false;  // won by this call (a decision to log)
    Flag flag;               // the flag on record (won/lost)
    std::string message;
  };

  // Names must satisfy valid_arbiter_name() (checked: failed otherwise).
  SetOutcome test_and_set(const std::string& cluster, std::uint64_t epoch, const std::string& candidate,
                          std::int64_t wall_ns);

  // The flag of (cluster, epoch), or null. The pointer is valid until the next test_and_set.
  const Flag* find(const std::string& cluster, std::uint64_t epoch) const;

  // The highest epoch of `cluster` with a flag, or nullopt.
  std::optional<std::uint64_t> latest(const std::string& cluster) const;

  const std::string& dir() const noexcept { return dir_; }
  std::size_t size() const noexcept { return count_; }
  std::uint64_t last_token() const noexcept { return next_token_ - 1; }

  // File name of a flag: "<cluster>@<epoch>.flag".
  static std::string file_name(const std::string& cluster, std::uint64_t epoch);

 private:
  FlagStore(std::string dir, int lock_fd);
  bool persist(const std::string& cluster, std::uint64_t epoch, const Flag& flag, std::string& error);

  std::string dir_;
  int lock_fd_ = -1;
  std::map<std::string, std::map<std::uint64_t, Flag>> flags_;  // cluster -> epoch -> flag
  std::size_t count_ = 0;
  std::uint64_t next_token_ = 1;
};

}  // namespace ftproxy::arbiter
