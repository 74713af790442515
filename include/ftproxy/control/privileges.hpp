// Dropping root after start-up: once the packet ports, the log listener and the control
// port are open and real-time scheduling and locked memory are set, the proxy switches
// to an unprivileged user and keeps only the capabilities it names (measured in
// docs/security.md: none, or CAP_IPC_LOCK when memory is locked and RLIMIT_MEMLOCK
// cannot be raised).
//
// Start-up code: call from the main thread. setuid() is applied to every thread by glibc;
// capabilities are per thread, and threads other than the caller lose all of theirs in
// the switch (the kernel clears them on a uid change without PR_SET_KEEPCAPS).
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ftproxy::control {

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // the user's primary group
};

// Looks the user up (passwd database). nullopt + `error` when it does not exist.
std::optional<UserIds> resolve_user(const std::string& name, std::string& error);

// Capability names ("CAP_NET_ADMIN", "net_admin"): number, or nullopt if unknown.
std::optional<int> capability_number(std::string name);
// "cap_net_admin,cap_net_raw" for a mask of capability bits ("none" for 0).
std::string capability_names(std::uint64_t mask);
// The CapEff / CapPrm / CapBnd line of a /proc/PID/status text, as a mask; nullopt if absent.
std::optional<std::uint64_t> status_capability_mask(const std::string& status_text, const std::string& field);

struct DropReport {
  UserIds user;
  std::uint64_t kept = 0;  // capability mask left effective and permitted
};

// Switches the process to `user` (its uid, primary gid, no supplementary groups), keeps
// only the capabilities in `keep` (effective + permitted; inheritable and ambient empty),
// drops every other capability from the bounding set, and sets no_new_privs. Refuses
// when not running as root (a non-root process cannot switch users); checks afterwards
// that uid 0 cannot be regained. false + `error` on any failure: the caller must exit
// (a half-dropped process is not a state to run in).
bool drop_privileges(const UserIds& user, std::span<const int> keep, DropReport& report, std::string& error);

}  // namespace ftproxy::control
