// Privilege drop: the pure helpers always; the drop itself in a forked child when the
// test runs as root (skipped otherwise: a non-root process cannot switch users).
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "ftproxy/control/privileges.hpp"

namespace ftproxy::control {
namespace {

std::string self_status() {
  std::ifstream in("/proc/self/status");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Privileges, CapabilityNames) {
  EXPECT_EQ(capability_number("CAP_NET_ADMIN"), 12);
  EXPECT_EQ(capability_number("net_raw"), 13);
  EXPECT_EQ(capability_number("cap_checkpoint_restore"), 40);
  EXPECT_FALSE(capability_number("cap_fly").has_value());
  EXPECT_EQ(capability_names(0), "none");
  EXPECT_EQ(capability_names((1u << 12) | (1u << 13)), "cap_net_admin,cap_net_raw");
}

TEST(Privileges, StatusMask) {
  const std::string text = "Name:\tftproxy\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n";
  EXPECT_EQ(status_capability_mask(text, "CapEff"), 0x3000u);
  EXPECT_EQ(status_capability_mask(text, "CapInh"), 0u);
  EXPECT_FALSE(status_capability_mask(text, "CapBnd").has_value());
  EXPECT_TRUE(status_capability_mask(self_status(), "CapBnd").has_value());
}

TEST(Privileges, ResolveUser) {
  std::string err;
  auto root = resolve_user("root", err);
  ASSERT_TRUE(root.has_value()) << err;
  EXPECT_EQ(root->uid, 0u);
  EXPECT_FALSE(resolve_user("no-such-user-ftproxy-test", err).has_value());
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
}

TEST(Privileges, RefusesRootAsTargetAndNonRootCaller) {
  DropReport report;
  std::string err;
  UserIds root{"root", 0, 0};
  if (::geteuid() == 0) {
    EXPECT_FALSE(drop_privileges(root, {}, report, err));
    EXPECT_NE(err.find("is root"), std::string::npos) << err;
  } else {
    EXPECT_FALSE(drop_privileges(UserIds{"nobody", 65534, 65534}, {}, report, err));
    EXPECT_NE(err.find("not running as root"), std::string::npos) << err;
  }
}

// In a child: drop to nobody keeping CAP_NET_RAW; report through the exit code.
TEST(Privileges, DropInAChild) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  std::string err;
  auto nobody = resolve_user("nobody", err);
  if (!nobody) GTEST_SKIP() << err;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    DropReport report;
    const int keep[] = {*capability_number("CAP_NET_RAW")};
    if (!drop_privileges(*nobody, keep, report, err)) _exit(10);
    if (::getuid() != nobody->uid || ::geteuid() != nobody->uid || ::getgid() != nobody->gid) _exit(11);
    const std::string st = self_status();
    if (status_capability_mask(st, "CapEff") != (1u << 13)) _exit(12);
    if (status_capability_mask(st, "CapPrm") != (1u << 13)) _exit(13);
    if (status_capability_mask(st, "CapBnd") != (1u << 13)) _exit(14);
    if (status_capability_mask(st, "CapInh") != 0u) _exit(15);
    if (::setuid(0) == 0) _exit(16);
    if (st.find("NoNewPrivs:\t1") == std::string::npos) _exit(17);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 drop failed, 11 ids, 12-15 capability sets, 16 root regained, "
                                       "17 no_new_privs";
}

}  // namespace
}  // namespace ftproxy::control
