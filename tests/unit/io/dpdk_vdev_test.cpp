// The dpdk backend's attach plan (pure: no DPDK, no root): which vdev drivers "auto",
// "af_xdp" and "af_packet" try, the device arguments each gets, and the default EAL argv.
#include "ftproxy/io/dpdk_vdev.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ftproxy::io {
namespace {

std::vector<VdevDriver> drivers(const std::vector<VdevAttempt>& plan) {
  std::vector<VdevDriver> out;
  for (const auto& a : plan) out.push_back(a.driver);
  return out;
}

TEST(DpdkVdevPlan, AutoTriesAfXdpThenFallsBackToAfPacket) {
  const auto plan = plan_vdev_attempts("auto", AttachFacts{1500, 1});
  ASSERT_TRUE(plan);
  EXPECT_EQ(drivers(*plan), (std::vector<VdevDriver>{VdevDriver::af_xdp, VdevDriver::af_packet}));
  for (const auto& a : *plan) EXPECT_EQ(a.skip_reason, "") << vdev_driver_name(a.driver);
}

TEST(DpdkVdevPlan, AutoSkipsAfXdpOnJumboMtuAndSaysWhy) {
  const auto at_limit = plan_vdev_attempts("auto", AttachFacts{kAfXdpMaxMtu, 1});
  ASSERT_TRUE(at_limit);
  EXPECT_EQ((*at_limit)[0].skip_reason, "");
  const auto plan = plan_vdev_attempts("auto", AttachFacts{9000, 1});
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].driver, VdevDriver::af_xdp);
  EXPECT_NE((*plan)[0].skip_reason.find("MTU 9000"), std::string::npos) << (*plan)[0].skip_reason;
  EXPECT_EQ((*plan)[1].driver, VdevDriver::af_packet);
  EXPECT_EQ((*plan)[1].skip_reason, "");
}

TEST(DpdkVdevPlan, AutoSkipsAfXdpOnMultiQueueInterfaces) {
  // One XDP socket on queue 0 would miss what RSS spreads over the other queues.
  const auto plan = plan_vdev_attempts("auto", AttachFacts{1500, 8});
  ASSERT_TRUE(plan);
  EXPECT_NE((*plan)[0].skip_reason.find("8 rx queues"), std::string::npos) << (*plan)[0].skip_reason;
  EXPECT_EQ((*plan)[1].skip_reason, "");
}

TEST(DpdkVdevPlan, AutoSkipsAfXdpWithASmallPool) {
  const auto plan = plan_vdev_attempts("auto", AttachFacts{1500, 1, 511});
  ASSERT_TRUE(plan);
  EXPECT_NE((*plan)[0].skip_reason.find("mbufs = 511"), std::string::npos) << (*plan)[0].skip_reason;
  EXPECT_EQ((*plan)[0].driver, VdevDriver::af_xdp);
  EXPECT_EQ((*plan)[1].skip_reason, "");
  EXPECT_EQ((*plan_vdev_attempts("auto", AttachFacts{1500, 1, kAfXdpMinMbufs}))[0].skip_reason, "");
}

TEST(DpdkVdevPlan, AnExplicitChoiceIsTheOnlyAttemptAndNeverSkipped) {
  for (const auto& [choice, driver] :
       {std::pair{"af_xdp", VdevDriver::af_xdp}, {"af_packet", VdevDriver::af_packet}}) {
    const auto plan = plan_vdev_attempts(choice, AttachFacts{9000, 4, 255});
    ASSERT_TRUE(plan) << choice;
    ASSERT_EQ(plan->size(), 1u) << choice;
    EXPECT_EQ((*plan)[0].driver, driver);
    EXPECT_EQ((*plan)[0].skip_reason, "") << "an explicit choice reports its own error instead";
  }
  EXPECT_FALSE(plan_vdev_attempts("xdp", AttachFacts{}));
  EXPECT_FALSE(plan_vdev_attempts("", AttachFacts{}));
}

TEST(DpdkVdevSpec, AfXdpOneQueueFromZero) {
  const VdevSpec s = vdev_spec(VdevDriver::af_xdp, "ext", 1500, 3);
  EXPECT_EQ(s.name, "net_af_xdp_ftp3");
  EXPECT_EQ(s.args, "iface=ext,start_queue=0,queue_count=1");
  EXPECT_EQ(s.frame_room, 2048u);
  // A larger MTU (still under the af_xdp limit) gets room for the frame and two VLAN tags.
  EXPECT_EQ(vdev_spec(VdevDriver::af_xdp, "ext", 2500, 0).frame_room, 2522u);
}

TEST(DpdkVdevSpec, AfPacketRingSizedByMtu) {
  const VdevSpec s = vdev_spec(VdevDriver::af_packet, "int", 1500, 7);
  EXPECT_EQ(s.name, "net_af_packet_ftp7");
  EXPECT_EQ(s.args, "iface=int,qpairs=1,qdisc_bypass=1,framesz=2048,blocksz=4096,framecnt=4096");
  EXPECT_EQ(s.frame_room, 2048u);
  // 9000 + 22 + 128 (TPACKET2 header, sockaddr_ll) rounds up to 16 KiB frames; 8 MiB ring.
  const VdevSpec j = vdev_spec(VdevDriver::af_packet, "int", 9000, 0);
  EXPECT_EQ(j.args, "iface=int,qpairs=1,qdisc_bypass=1,framesz=16384,blocksz=16384,framecnt=512");
  EXPECT_EQ(j.frame_room, 16384u);
}

TEST(DpdkVdevSpec, NamesAreUniquePerSerial) {
  EXPECT_NE(vdev_spec(VdevDriver::af_xdp, "ext", 1500, 0).name,
            vdev_spec(VdevDriver::af_xdp, "ext", 1500, 1).name);
  EXPECT_NE(vdev_spec(VdevDriver::af_xdp, "ext", 1500, 0).name,
            vdev_spec(VdevDriver::af_packet, "ext", 1500, 0).name);
}

TEST(DpdkEalArgs, DefaultsNeedNoHugepagesNoPciAndAUniquePrefix) {
  const auto a = default_eal_args(1, 4242);
  EXPECT_EQ(a, (std::vector<std::string>{"-l", "1", "--no-huge", "--no-pci", "-m", "256", "--no-telemetry",
                                         "--log-level=warning", "--file-prefix=ftproxy-4242"}));
  // --in-memory cannot be combined with --no-huge (EAL refuses to start).
  EXPECT_EQ(std::count(a.begin(), a.end(), "--in-memory"), 0);
  EXPECT_NE(default_eal_args(0, 1), default_eal_args(0, 2));
}

}  // namespace
}  // namespace ftproxy::io
