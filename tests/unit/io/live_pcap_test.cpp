// Live "pcap" backend on a veth pair inside a network namespace made for this test
// (root only; skipped otherwise). Each test body runs on a thread that entered the
// namespace with setns(2), so the ports and ioctls see only the test's interfaces.
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "frames.hpp"
#include "ftproxy/io/offload.hpp"
#include "ftproxy/io/packet_io.hpp"
#include "veth_fixture.hpp"

namespace ftproxy::io {
namespace {

using test::Frames;
using test::make_frame;
using test::receive_until;
using test::send;
using test::sh;
using test::test_seq;

class VethTest : public test::VethNamespaceTest {
 protected:
  VethTest() : VethNamespaceTest("ftpio") {}

  static std::unique_ptr<PacketIo> open_live(const std::string& ifname, std::uint32_t snaplen = 9216 + 22,
                                             OffloadPolicy policy = OffloadPolicy::disable) {
    PortOptions o;
    o.backend = "pcap";
    o.name = ifname;
    o.snaplen = snaplen;
    o.ring_bytes = 4u << 20;
    o.offloads = policy;
    return test::open_or_fail(o);
  }
};

TEST_F(VethTest, BurstCrossesTheWireAndIsNeverSeenOnTheSendersRx) {
  in_netns([&] {
    auto a = open_live("fti0");
    auto b = open_live("fti1");
    ASSERT_TRUE(a && b);
    ASSERT_GE(a->wait_fd(), 0);
    Frames frames;
    for (std::uint32_t i = 0; i < 32; ++i) frames.push_back(make_frame(i, 60 + 46 * i));
    frames.push_back(make_frame(32, 1514));  // exactly MTU + 14
    EXPECT_EQ(send(*a, frames), frames.size());
    EXPECT_EQ(a->stats().tx_frames, frames.size());
    EXPECT_EQ(a->stats().tx_errors, 0u);
    EXPECT_EQ(receive_until(*b, 32), frames);

    // A frame sent through the ordinary path (qdisc and capture taps) by another socket:
    // the outbound copy the kernel shows to fti0's capture must be filtered out.
    const int raw = ::socket(AF_PACKET, SOCK_RAW, 0);
    ASSERT_GE(raw, 0);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(::if_nametoindex("fti0"));
    sll.sll_halen = 6;
    const auto other = make_frame(100, 80);
    ASSERT_EQ(::sendto(raw, other.data(), other.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll),
              static_cast<ssize_t>(other.size()));
    ::close(raw);
    EXPECT_EQ(receive_until(*b, 100).size(), 1u);

    // The reply is the only frame fti0's port may see.
    EXPECT_EQ(send(*b, {make_frame(999, 60, false, 0x02)}), 1u);
    const Frames back = receive_until(*a, 999);
    ASSERT_EQ(back.size(), 1u) << "fti0 captured its own transmissions";
    EXPECT_EQ(test_seq(back[0].data(), back[0].size()), 999);

    a->refresh_stats();
    b->refresh_stats();
    EXPECT_EQ(b->stats().rx_dropped, 0u);
    EXPECT_GE(b->stats().rx_frames, frames.size() + 1);
  });
}

TEST_F(VethTest, OversizeFramesAreCountedNeverCut) {
  in_netns([&] {
    auto a = open_live("fti0");
    auto b = open_live("fti1", 200);
    ASSERT_TRUE(a && b);
    // tx: 1515 bytes untagged is over MTU + 14; one VLAN tag allows 1518.
    EXPECT_EQ(send(*a, {make_frame(1, 1515), make_frame(2, 1519, true)}), 2u);
    EXPECT_EQ(a->stats().tx_oversize, 2u);
    EXPECT_EQ(a->stats().tx_frames, 0u);
    // rx: a frame longer than the 200-byte snap length is dropped and counted.
    EXPECT_EQ(send(*a, {make_frame(3, 1000), make_frame(4, 200)}), 2u);
    const Frames got = receive_until(*b, 4);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], make_frame(4, 200));
    EXPECT_EQ(b->stats().rx_oversize, 1u);
  });
}

TEST_F(VethTest, VlanTaggedFrameUpToMtuPlus18Passes) {
  in_netns([&] {
    auto a = open_live("fti0");
    auto b = open_live("fti1");
    ASSERT_TRUE(a && b);
    const auto tagged = make_frame(5, 1518, true);
    EXPECT_EQ(send(*a, {tagged}), 1u);
    EXPECT_EQ(a->stats().tx_oversize, 0u);
    const Frames got = receive_until(*b, 5);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], tagged);  // the tag is delivered in the frame bytes
  });
}

TEST_F(VethTest, InfoAndLinkStateComeFromTheInterface) {
  in_netns([&] {
    auto a = open_live("fti0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->info().name, "fti0");
    const packet::MacAddr want{{0x02, 0, 0, 0, 0, 0xa0}};
    EXPECT_EQ(a->info().mac, want);
    EXPECT_EQ(a->info().mtu, 1500u);
    // The veth carrier follows the peer asynchronously: poll (bounded) for each change.
    auto settles_to = [&](LinkState expected) {
      for (int i = 0; i < 100 && a->link_state() != expected; ++i) usleep(10'000);
      return a->link_state();
    };
    EXPECT_EQ(settles_to(LinkState::up), LinkState::up);
    ASSERT_EQ(sh("ip link set fti1 down"), 0);  // the peer's carrier goes with it
    EXPECT_EQ(settles_to(LinkState::down), LinkState::down);
    ASSERT_EQ(sh("ip link set fti1 up"), 0);
    EXPECT_EQ(settles_to(LinkState::up), LinkState::up);
    ASSERT_EQ(sh("ip link set fti0 down"), 0);
    EXPECT_EQ(settles_to(LinkState::down), LinkState::down);
    // The kernel refuses to send on a down interface: nothing accepted, one error counted.
    EXPECT_EQ(send(*a, {make_frame(1, 60), make_frame(2, 60)}), 0u);
    EXPECT_EQ(a->stats().tx_errors, 1u);
    EXPECT_EQ(a->stats().tx_frames, 0u);
    ASSERT_EQ(sh("ip link set fti0 up"), 0);
    ASSERT_EQ(sh("ip link set fti0 mtu 1400"), 0);
    auto again = open_live("fti0");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->info().mtu, 1400u);
  });
}

TEST_F(VethTest, OffloadPolicies) {
  in_netns([&] {
    std::string err;
    for (Offload o : {Offload::tx_checksum, Offload::gso, Offload::tso, Offload::gro}) {
      ASSERT_TRUE(set_offload("fti0", o, true, err)) << err;
    }
    auto before = query_offloads("fti0", err);
    ASSERT_TRUE(before.has_value()) << err;
    EXPECT_TRUE(before->is_on(Offload::tso));
    EXPECT_TRUE(before->is_on(Offload::gro));
    EXPECT_FALSE(before->is_on(Offload::lro));
    EXPECT_FALSE(set_offload("fti0", Offload::lro, true, err));  // veth has no LRO
    EXPECT_NE(err.find("fixed"), std::string::npos) << err;

    PortOptions o;
    o.backend = "pcap";
    o.name = "fti0";
    o.offloads = OffloadPolicy::refuse;
    err.clear();
    EXPECT_EQ(open_port(o, err), nullptr);
    EXPECT_NE(err.find("'fti0'"), std::string::npos) << err;
    EXPECT_NE(err.find(offload_fix_command("fti0")), std::string::npos) << err;

    o.offloads = OffloadPolicy::ignore;
    OffloadReport report;
    auto ignored = open_port(o, err, report);
    ASSERT_NE(ignored, nullptr) << err;
    EXPECT_TRUE(query_offloads("fti0", err)->is_on(Offload::tso));
    ignored.reset();

    o.offloads = OffloadPolicy::disable;
    auto port = open_port(o, err, report);
    ASSERT_NE(port, nullptr) << err;
    auto has = [](const std::vector<Offload>& v, Offload x) {
      return std::find(v.begin(), v.end(), x) != v.end();
    };
    EXPECT_TRUE(has(report.turned_off, Offload::tso));
    EXPECT_TRUE(has(report.turned_off, Offload::gso));
    EXPECT_TRUE(has(report.turned_off, Offload::gro));
    EXPECT_TRUE(has(report.turned_off, Offload::tx_checksum));
    EXPECT_TRUE(report.fixed_on.empty());
    EXPECT_TRUE(report.warnings.empty());
    EXPECT_NE(report.summary().find("all off"), std::string::npos) << report.summary();
    const auto after = query_offloads("fti0", err);
    ASSERT_TRUE(after.has_value()) << err;
    EXPECT_FALSE(after->any_on());

    OffloadReport again;
    EXPECT_TRUE(apply_offload_policy("fti0", OffloadPolicy::refuse, again, err)) << err;
  });
}

TEST_F(VethTest, FixedOnOffloadWarnsOnDisableAndFailsOnRefuse) {
  in_netns([&] {
    // The namespace's own loopback: checksum offload is fixed on.
    std::string err;
    OffloadReport report;
    ASSERT_TRUE(apply_offload_policy("lo", OffloadPolicy::disable, report, err)) << err;
    EXPECT_NE(std::find(report.fixed_on.begin(), report.fixed_on.end(), Offload::tx_checksum),
              report.fixed_on.end());
    ASSERT_FALSE(report.warnings.empty());
    EXPECT_NE(report.warnings[0].find("'lo'"), std::string::npos) << report.warnings[0];
    EXPECT_FALSE(apply_offload_policy("lo", OffloadPolicy::refuse, report, err));
    EXPECT_NE(err.find("ethtool -K lo"), std::string::npos) << err;

    PortOptions o;
    o.backend = "pcap";
    o.name = "lo";
    o.offloads = OffloadPolicy::ignore;
    err.clear();
    EXPECT_EQ(open_port(o, err), nullptr);  // a new namespace's loopback is down
    EXPECT_EQ(err, "interface 'lo' is down: ip link set lo up");
    ASSERT_EQ(sh("ip link set lo up"), 0);
    err.clear();
    EXPECT_EQ(open_port(o, err), nullptr);  // proxy ports are Ethernet
    EXPECT_EQ(err, "interface 'lo' is not Ethernet");
  });
}

}  // namespace
}  // namespace ftproxy::io
