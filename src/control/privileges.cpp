#include "ftproxy/control/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace ftproxy::control {

namespace {

// Index = capability number (linux/capability.h), names as capabilities(7) spells them.
constexpr std::array<std::string_view, 41> kCapNames = {"chown",
                                                        "dac_override",
                                                        "dac_read_search",
                                                        "fowner",
                                                        "fsetid",
                                                        "kill",
                                                        "setgid",
                                                        "setuid",
                                                        "setpcap",
                                                        "linux_immutable",
                                                        "net_bind_service",
                                                        "net_broadcast",
                                                        "net_admin",
                                                        "net_raw",
                                                        "ipc_lock",
                                                        "ipc_owner",
                                                        "sys_module",
                                                        "sys_rawio",
                                                        "sys_chroot",
                                                        "sys_ptrace",
                                                        "sys_pacct",
                                                        "sys_admin",
                                                        "sys_boot",
                                                        "sys_nice",
                                                        "sys_resource",
                                                        "sys_time",
                                                        "sys_tty_config",
                                                        "mknod",
                                                        "lease",
                                                        "audit_write",
                                                        "audit_control",
                                                        "setfcap",
                                                        "mac_override",
                                                        "mac_admin",
                                                        "syslog",
                                                        "wake_alarm",
                                                        "block_suspend",
                                                        "audit_read",
                                                        "perfmon",
                                                        "bpf",
                                                        "checkpoint_restore"};

// The highest capability the running kernel knows (it may be newer than our table).
int last_cap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int n = -1;
  if (in >> n && n >= 0 && n < 64) return n;
  return static_cast<int>(kCapNames.size()) - 1;
}

std::string errno_text(const char* what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

}  // namespace

std::optional<UserIds> resolve_user(const std::string& name, std::string& error) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    error = fmt::format("user \"{}\": cannot look it up: {}", name, std::strerror(rc));
    return std::nullopt;
  }
  if (found == nullptr) {
    error = fmt::format("user \"{}\" does not exist", name);
    return std::nullopt;
  }
  return UserIds{name, pw.pw_uid, pw.pw_gid};
}

std::optional<int> capability_number(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.rfind("cap_", 0) == 0) name.erase(0, 4);
  for (std::size_t i = 0; i < kCapNames.size(); ++i) {
    if (kCapNames[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::string capability_names(std::uint64_t mask) {
  std::string out;
  for (int i = 0; i < 64; ++i) {
    if ((mask & (std::uint64_t{1} << i)) == 0) continue;
    if (!out.empty()) out += ',';
    out += static_cast<std::size_t>(i) < kCapNames.size() ? fmt::format("cap_{}", kCapNames[i])
                                                          : fmt::format("cap_{}", i);
  }
  return out.empty() ? "none" : out;
}

std::optional<std::uint64_t> status_capability_mask(const std::string& text, const std::string& field) {
  const std::string key = "\n" + field + ":";
  const std::string padded = "\n" + text;
  const auto pos = padded.find(key);
  if (pos == std::string::npos) return std::nullopt;
  std::size_t i = pos + key.size();
  while (i < padded.size() && (padded[i] == ' ' || padded[i] == '\t')) ++i;
  std::uint64_t v = 0;
  std::size_t digits = 0;
  for (; i < padded.size() && std::isxdigit(static_cast<unsigned char>(padded[i])) && digits < 16;
       ++i, ++digits) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(padded[i])));
    v = (v << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  if (digits == 0) return std::nullopt;
  return v;
}

bool drop_privileges(const UserIds& user, std::span<const int> keep, DropReport& report, std::string& error) {
  if (::geteuid() != 0) {
    error = fmt::format("cannot switch to user \"{}\": not running as root (uid {})", user.name, ::geteuid());
    return false;
  }
  if (user.uid == 0) {
    error = fmt::format("user \"{}\" is root: name an unprivileged user", user.name);
    return false;
  }
  std::uint64_t keep_mask = 0;
  for (int c : keep) {
    if (c < 0 || c > 63) {
      error = fmt::format("capability {} out of range", c);
      return false;
    }
    keep_mask |= std::uint64_t{1} << c;
  }
  // Bounding set first: dropping from it needs CAP_SETPCAP, which goes away below.
  const int last = last_cap();
  for (int c = 0; c <= last; ++c) {
    if ((keep_mask & (std::uint64_t{1} << c)) != 0) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
      error = errno_text(fmt::format("PR_CAPBSET_DROP cap {}", c).c_str());
      return false;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    error = errno_text("PR_CAP_AMBIENT_CLEAR_ALL");
    return false;
  }
  // Keep the permitted set across the uid change, then switch group before user.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    error = errno_text("PR_SET_KEEPCAPS");
    return false;
  }
  const gid_t groups[1] = {user.gid};
  if (::setgroups(1, groups) != 0) {
    error = errno_text("setgroups");
    return false;
  }
  if (::setresgid(user.gid, user.gid, user.gid) != 0) {
    error = errno_text("setresgid");
    return false;
  }
  if (::setresuid(user.uid, user.uid, user.uid) != 0) {
    error = errno_text("setresuid");
    return false;
  }
  (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  // Effective = permitted = keep; inheritable empty. (capset(2) directly: no libcap.)
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[0].effective = data[0].permitted = static_cast<std::uint32_t>(keep_mask & 0xffffffffu);
  data[1].effective = data[1].permitted = static_cast<std::uint32_t>(keep_mask >> 32);
  if (::syscall(SYS_capset, &header, data) != 0) {
    error = errno_text("capset");
    return false;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    error = errno_text("PR_SET_NO_NEW_PRIVS");
    return false;
  }
  // The point of no return must hold: root is gone for good.
  if (::setuid(0) == 0 || ::geteuid() == 0 || ::getuid() == 0) {
    error = "privileges could be regained after the switch: refusing to run";
    return false;
  }
  report.user = user;
  report.kept = keep_mask;
  return true;
}

}  // namespace ftproxy::control
