// Offload helpers that need neither root nor a namespace; the veth cases are in live_pcap_test.
#include "ftproxy/io/offload.hpp"

#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>

namespace ftproxy::io {
namespace {

TEST(Offload, KeywordsAndFixCommandMatchEthtool) {
  EXPECT_EQ(ethtool_keyword(Offload::gro), "gro");
  EXPECT_EQ(ethtool_keyword(Offload::lro), "lro");
  EXPECT_EQ(ethtool_keyword(Offload::gso), "gso");
  EXPECT_EQ(ethtool_keyword(Offload::tso), "tso");
  EXPECT_EQ(ethtool_keyword(Offload::tx_checksum), "tx");
  EXPECT_EQ(offload_fix_command("eth1"), "ethtool -K eth1 gro off lro off gso off tso off tx off");
}

TEST(Offload, StateBits) {
  OffloadState s;
  EXPECT_FALSE(s.any_on());
  s.set(Offload::tso, true);
  s.set(Offload::tx_checksum, true);
  EXPECT_TRUE(s.is_on(Offload::tso));
  EXPECT_TRUE(s.is_on(Offload::tx_checksum));
  EXPECT_FALSE(s.is_on(Offload::gro));
  s.set(Offload::tso, false);
  EXPECT_FALSE(s.is_on(Offload::tso));
  EXPECT_TRUE(s.any_on());
}

TEST(Offload, SummaryNamesWhatChanged) {
  OffloadReport r;
  r.interface = "eth1";
  r.turned_off = {Offload::gso, Offload::tso};
  r.fixed_on = {Offload::tx_checksum};
  r.after.set(Offload::tx_checksum, true);
  EXPECT_EQ(r.summary(), "offloads on 'eth1': turned off gso tso; fixed on tx; on: tx");
  OffloadReport clean;
  clean.interface = "eth2";
  EXPECT_EQ(clean.summary(), "offloads on 'eth2': all off");
}

TEST(Offload, MissingInterfaceIsNamed) {
  std::string err;
  EXPECT_FALSE(query_offloads("ftpio_nosuch0", err).has_value());
  EXPECT_EQ(err, "interface 'ftpio_nosuch0' not found");
  err.clear();
  EXPECT_FALSE(set_offload("ftpio_nosuch0", Offload::gro, false, err));
  EXPECT_EQ(err, "interface 'ftpio_nosuch0' not found");

  OffloadReport report;
  err.clear();
  EXPECT_FALSE(apply_offload_policy("ftpio_nosuch0", OffloadPolicy::disable, report, err));
  EXPECT_NE(err.find("ftpio_nosuch0"), std::string::npos);
  err.clear();
  EXPECT_FALSE(apply_offload_policy("ftpio_nosuch0", OffloadPolicy::refuse, report, err));
  err.clear();
  EXPECT_TRUE(apply_offload_policy("ftpio_nosuch0", OffloadPolicy::ignore, report, err));
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_NE(report.warnings[0].find("ftpio_nosuch0"), std::string::npos);
}

TEST(Offload, OpenPortOnMissingInterfaceNamesIt) {
  PortOptions o;
  o.backend = "pcap";
  o.name = "ftpio_nosuch0";
  o.offloads = OffloadPolicy::ignore;
  std::string err;
  EXPECT_EQ(open_port(o, err), nullptr);
  EXPECT_EQ(err, "interface 'ftpio_nosuch0' not found");
  o.offloads = OffloadPolicy::disable;
  err.clear();
  EXPECT_EQ(open_port(o, err), nullptr);
  EXPECT_EQ(err, "interface 'ftpio_nosuch0' not found");
}

// Drops CAP_NET_RAW and CAP_NET_ADMIN from the effective set of the calling (child) process.
bool drop_net_caps() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  data[0].effective &= ~((1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN));
  return ::syscall(SYS_capset, &hdr, data) == 0;
}

TEST(Offload, OpenWithoutPrivilegeSaysWhatIsNeeded) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!drop_net_caps()) ::_exit(2);
    PortOptions o;
    o.backend = "pcap";
    o.name = "lo";
    o.offloads = OffloadPolicy::ignore;
    std::string err;
    auto port = open_port(o, err);
    if (!err.empty()) std::fprintf(stderr, "open_port: %s\n", err.c_str());
    ::_exit(port == nullptr && err == "opening interface 'lo' needs root or CAP_NET_RAW" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: capset failed, 1: wrong or no error";
}

TEST(Offload, LoopbackCanBeQueried) {
  std::string err;
  const auto st = query_offloads("lo", err);  // reading needs no privilege
  ASSERT_TRUE(st.has_value()) << err;
  EXPECT_FALSE(st->is_on(Offload::lro));  // loopback has no LRO
}

}  // namespace
}  // namespace ftproxy::io
