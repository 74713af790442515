#include "ftproxy/io/offload.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ftproxy::io {
namespace {

// A control socket in the calling thread's network namespace.
class CtlSocket {
 public:
  CtlSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~CtlSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  CtlSocket(const CtlSocket&) = delete;
  CtlSocket& operator=(const CtlSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Returns 0 or errno.
int ethtool_call(int fd, const std::string& ifname, ethtool_value& ev) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  return ::ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? 0 : errno;
}

std::uint32_t get_cmd(Offload o) {
  switch (o) {
    case Offload::gro:
      return ETHTOOL_GGRO;
    case Offload::lro:
      return ETHTOOL_GFLAGS;
    case Offload::gso:
      return ETHTOOL_GGSO;
    case Offload::tso:
      return ETHTOOL_GTSO;
    case Offload::tx_checksum:
      return ETHTOOL_GTXCSUM;
  }
  return 0;
}

std::uint32_t set_cmd(Offload o) {
  switch (o) {
    case Offload::gro:
      return ETHTOOL_SGRO;
    case Offload::lro:
      return ETHTOOL_SFLAGS;
    case Offload::gso:
      return ETHTOOL_SGSO;
    case Offload::tso:
      return ETHTOOL_STSO;
    case Offload::tx_checksum:
      return ETHTOOL_STXCSUM;
  }
  return 0;
}

bool not_supported(int err) {
  return err == EOPNOTSUPP || err == EINVAL;
}

// Reads one feature: 0 and `on`, or errno. A feature the driver lacks reads as off.
int read_feature(int fd, const std::string& ifname, Offload o, bool& on) {
  ethtool_value ev{};
  ev.cmd = get_cmd(o);
  const int err = ethtool_call(fd, ifname, ev);
  if (err != 0) {
    on = false;
    return not_supported(err) ? 0 : err;
  }
  on = o == Offload::lro ? (ev.data & ETH_FLAG_LRO) != 0 : ev.data != 0;
  return 0;
}

int write_feature(int fd, const std::string& ifname, Offload o, bool on) {
  ethtool_value ev{};
  if (o == Offload::lro) {
    ev.cmd = ETHTOOL_GFLAGS;
    if (const int err = ethtool_call(fd, ifname, ev); err != 0) return err;
    ev.data = on ? (ev.data | ETH_FLAG_LRO) : (ev.data & ~static_cast<std::uint32_t>(ETH_FLAG_LRO));
  } else {
    ev.data = on ? 1 : 0;
  }
  ev.cmd = set_cmd(o);
  return ethtool_call(fd, ifname, ev);
}

std::string not_found(const std::string& ifname) {
  return "interface '" + ifname + "' not found";
}

std::string list(const std::vector<Offload>& v) {
  std::string s;
  for (Offload o : v) {
    if (!s.empty()) s += ' ';
    s += ethtool_keyword(o);
  }
  return s;
}

std::vector<Offload> on_list(OffloadState st) {
  std::vector<Offload> v;
  for (Offload o : kAllOffloads)
    if (st.is_on(o)) v.push_back(o);
  return v;
}

}  // namespace

std::string_view ethtool_keyword(Offload o) noexcept {
  switch (o) {
    case Offload::gro:
      return "gro";
    case Offload::lro:
      return "lro";
    case Offload::gso:
      return "gso";
    case Offload::tso:
      return "tso";
    case Offload::tx_checksum:
      return "tx";
  }
  return "?";
}

std::string offload_fix_command(const std::string& ifname) {
  return "ethtool -K " + ifname + " gro off lro off gso off tso off tx off";
}

std::optional<OffloadState> query_offloads(const std::string& ifname, std::string& error) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ::if_nametoindex(ifname.c_str()) == 0) {
    error = not_found(ifname);
    return std::nullopt;
  }
  CtlSocket s;
  if (s.fd() < 0) {
    error = "cannot query offloads of '" + ifname + "': socket: " + std::strerror(errno);
    return std::nullopt;
  }
  OffloadState st;
  for (Offload o : kAllOffloads) {
    bool on = false;
    if (const int err = read_feature(s.fd(), ifname, o, on); err != 0) {
      error = err == ENODEV ? not_found(ifname)
                            : "cannot query " + std::string(ethtool_keyword(o)) + " on '" + ifname +
                                  "': " + std::strerror(err);
      return std::nullopt;
    }
    st.set(o, on);
  }
  return st;
}

bool set_offload(const std::string& ifname, Offload o, bool on, std::string& error) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ::if_nametoindex(ifname.c_str()) == 0) {
    error = not_found(ifname);
    return false;
  }
  CtlSocket s;
  const int err = s.fd() < 0 ? errno : write_feature(s.fd(), ifname, o, on);
  if (err == 0) return true;
  const std::string what = std::string(ethtool_keyword(o)) + (on ? " on" : " off");
  if (err == EPERM || err == EACCES) {
    error = "setting " + what + " on '" + ifname + "' needs root or CAP_NET_ADMIN";
  } else if (not_supported(err)) {
    error = "'" + ifname + "' cannot change " + std::string(ethtool_keyword(o)) + " (fixed by the driver)";
  } else {
    error = "setting " + what + " on '" + ifname + "' failed: " + std::strerror(err);
  }
  return false;
}

std::string OffloadReport::summary() const {
  std::string s = "offloads on '" + interface + "':";
  if (!turned_off.empty()) s += " turned off " + list(turned_off) + ";";
  if (!fixed_on.empty()) s += " fixed on " + list(fixed_on) + ";";
  const auto still = on_list(after);
  if (still.empty()) {
    s += " all off";
  } else {
    s += " on: " + list(still);
  }
  return s;
}

bool apply_offload_policy(const std::string& ifname, OffloadPolicy policy, OffloadReport& report,
                          std::string& error) {
  report = OffloadReport{};
  report.interface = ifname;
  std::string qerr;
  const auto before = query_offloads(ifname, qerr);
  if (!before) {
    if (policy == OffloadPolicy::ignore) {
      report.warnings.push_back(qerr);
      return true;
    }
    error = qerr;
    return false;
  }
  report.before = report.after = *before;
  if (policy == OffloadPolicy::ignore || !before->any_on()) return true;
  if (policy == OffloadPolicy::refuse) {
    error = "interface '" + ifname + "' has offloads on (" + list(on_list(*before)) +
            ") that merge or leave partial frames; turn them off with: " + offload_fix_command(ifname);
    return false;
  }
  CtlSocket s;
  for (Offload o : kAllOffloads) {
    if (!before->is_on(o)) continue;
    const int err = s.fd() < 0 ? errno : write_feature(s.fd(), ifname, o, false);
    if (err == EPERM || err == EACCES) {
      error = "turning offloads off on '" + ifname +
              "' needs root or CAP_NET_ADMIN; or run: " + offload_fix_command(ifname);
      return false;
    }
    // Any other refusal means the feature is fixed: judged from the state read back below.
  }
  const auto after = query_offloads(ifname, qerr);
  if (!after) {
    error = qerr;
    return false;
  }
  report.after = *after;
  for (Offload o : kAllOffloads) {
    if (after->is_on(o)) {
      report.fixed_on.push_back(o);
      report.warnings.push_back("offload " + std::string(ethtool_keyword(o)) + " on '" + ifname +
                                "' is fixed on by the driver and cannot be turned off");
    } else if (before->is_on(o)) {
      report.turned_off.push_back(o);
    }
  }
  return true;
}

}  // namespace ftproxy::io
