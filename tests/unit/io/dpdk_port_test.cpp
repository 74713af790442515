// "dpdk" backend on a veth pair inside a network namespace made for this test (root
// only; skipped otherwise). The port attaches its default af_packet vdev to fti0; the far
// end fti1 is a plain AF_PACKET socket, so every frame really crossed the kernel wire.
// One EAL serves the whole process (as in ftproxy): the first test initialises it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "frames.hpp"
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

bool promiscuous(const std::string& ifname) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  const int rc = ::ioctl(fd, SIOCGIFFLAGS, &ifr);
  ::close(fd);
  EXPECT_EQ(rc, 0) << ifname;
  return (ifr.ifr_flags & IFF_PROMISC) != 0;
}

// An XDP program is attached to the interface (what an af_xdp vdev loads).
bool xdp_attached(const std::string& ifname) {
  return sh("ip link show " + ifname + " | grep -q ' xdp'") == 0;
}

// A plain AF_PACKET socket on one interface: the far end of the wire.
class RawEnd {
 public:
  explicit RawEnd(const std::string& ifname) {
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    sll_.sll_family = AF_PACKET;
    sll_.sll_protocol = htons(ETH_P_ALL);
    sll_.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    sll_.sll_halen = 6;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sll_), sizeof sll_), 0) << std::strerror(errno);
  }
  ~RawEnd() { ::close(fd_); }
  RawEnd(const RawEnd&) = delete;
  RawEnd& operator=(const RawEnd&) = delete;

  void send(const std::vector<std::uint8_t>& f) {
    EXPECT_EQ(::sendto(fd_, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll_), sizeof sll_),
              static_cast<ssize_t>(f.size()));
  }

  // Test frames received (others ignored) until `stop_seq` arrives or 2 s pass.
  Frames receive_until(std::int64_t stop_seq) {
    Frames got;
    std::vector<std::uint8_t> buf(16384);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      sockaddr_ll from{};
      socklen_t fl = sizeof from;
      const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
      const std::int64_t seq = test_seq(buf.data(), static_cast<std::size_t>(n));
      if (seq < 0) continue;
      got.emplace_back(buf.data(), buf.data() + n);
      if (seq == stop_seq) return got;
    }
    ADD_FAILURE() << "frame " << stop_seq << " not received on the raw socket";
    return got;
  }

 private:
  int fd_ = -1;
  sockaddr_ll sll_{};
};

class DpdkVethTest : public test::VethNamespaceTest {
 protected:
  DpdkVethTest() : VethNamespaceTest("ftpdpdk") {}

  static std::unique_ptr<PacketIo> open_dpdk(const std::string& ifname, std::uint32_t snaplen = 9216 + 22,
                                             std::uint32_t mbufs = 4095, const std::string& vdev = "auto") {
    PortOptions o;
    o.backend = "dpdk";
    o.name = ifname;
    o.snaplen = snaplen;
    o.mbufs = mbufs;
    o.dpdk_vdev = vdev;
    return test::open_or_fail(o);
  }
};

// First in the file: with this libxdp (1.3, no bpffs mounted) a second XDP socket in one
// process after an earlier one was closed fails to attach, and "auto" then falls back to
// af_packet (the next tests rely on that and pass either way). ftproxy opens each port once.
TEST_F(DpdkVethTest, AutoAttachesAfXdpAndDetachesItOnClose) {
  in_netns([&] {
    auto port = open_dpdk("fti0");
    ASSERT_TRUE(port);
    if (port->info().driver == "net_af_packet") {
      // A kernel or libxdp without usable XDP sockets: the fallback must say why.
      EXPECT_NE(port->info().driver_note, "") << "fell back to af_packet without a reason";
      GTEST_SKIP() << "af_xdp unavailable here: " << port->info().driver_note;
    }
    EXPECT_EQ(port->info().driver, "net_af_xdp");
    EXPECT_EQ(port->info().driver_note, "");
    EXPECT_TRUE(xdp_attached("fti0"));
    EXPECT_TRUE(promiscuous("fti0"));
    RawEnd far("fti1");
    far.send(make_frame(1, 1514, false, 0x02));  // a full 1500-MTU frame fits the af_xdp mbufs
    EXPECT_EQ(receive_until(*port, 1).size(), 1u);
    port.reset();
    EXPECT_FALSE(xdp_attached("fti0")) << "the XDP program outlived the port";
    EXPECT_FALSE(promiscuous("fti0"));
  });
}

TEST_F(DpdkVethTest, FramesCrossTheWireBothWays) {
  in_netns([&] {
    auto port = open_dpdk("fti0");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->wait_fd(), -1);
    RawEnd far("fti1");

    Frames in;
    for (std::uint32_t i = 0; i < 40; ++i) in.push_back(make_frame(i, 60 + 36 * i, false, 0x02));
    in.push_back(make_frame(40, 1514, false, 0x02));
    for (const auto& f : in) far.send(f);
    EXPECT_EQ(receive_until(*port, 40), in);
    EXPECT_EQ(port->stats().rx_frames, in.size());

    Frames out;
    for (std::uint32_t i = 100; i < 140; ++i) out.push_back(make_frame(i, 60 + 36 * (i - 100)));
    out.push_back(make_frame(140, 1514));
    EXPECT_EQ(send(*port, out), out.size());
    EXPECT_EQ(port->stats().tx_frames, out.size());
    EXPECT_EQ(port->stats().tx_errors, 0u);
    EXPECT_EQ(far.receive_until(140), out);

    // Our own transmissions never come back on our rx (qdisc bypass skips the taps).
    far.send(make_frame(999, 60, false, 0x02));
    const Frames back = receive_until(*port, 999);
    ASSERT_EQ(back.size(), 1u) << "the port received its own transmissions";

    port->refresh_stats();
    EXPECT_EQ(port->stats().rx_dropped, 0u);
  });
}

TEST_F(DpdkVethTest, MbufsAreRecycledAcrossManyBursts) {
  in_netns([&] {
    // A 511-mbuf pool moves 3000 frames each way only if every mbuf goes back exactly once.
    auto port = open_dpdk("fti0", 9216 + 22, 511);
    ASSERT_TRUE(port);
    RawEnd far("fti1");
    for (std::uint32_t round = 0; round < 30; ++round) {
      Frames burst;
      for (std::uint32_t i = 0; i < 100; ++i) burst.push_back(make_frame(round * 100 + i, 64));
      std::size_t done = 0;
      for (int tries = 0; done < burst.size() && tries < 1000; ++tries) {
        std::vector<ConstPacketView> views;
        for (std::size_t k = done; k < burst.size(); ++k) views.emplace_back(burst[k].data(), 64u);
        done += port->tx_burst(views);
      }
      ASSERT_EQ(done, burst.size());
      ASSERT_EQ(far.receive_until(round * 100 + 99).size(), burst.size());
      for (std::uint32_t i = 0; i < 100; ++i) far.send(make_frame(round * 100 + i, 64, false, 0x02));
      ASSERT_EQ(receive_until(*port, round * 100 + 99).size(), burst.size());
    }
    EXPECT_EQ(port->stats().tx_frames, 3000u);
    EXPECT_EQ(port->stats().rx_frames, 3000u);
  });
}

TEST_F(DpdkVethTest, OversizeFramesAreCountedNeverCut) {
  in_netns([&] {
    auto port = open_dpdk("fti0", 200);
    ASSERT_TRUE(port);
    RawEnd far("fti1");
    EXPECT_EQ(send(*port, {make_frame(1, 1515), make_frame(2, 1519, true), make_frame(3, 10)}), 3u);
    EXPECT_EQ(port->stats().tx_oversize, 2u);
    EXPECT_EQ(port->stats().tx_errors, 1u);  // the runt
    EXPECT_EQ(port->stats().tx_frames, 0u);
    far.send(make_frame(4, 1000, false, 0x02));
    far.send(make_frame(5, 200, false, 0x02));
    const Frames got = receive_until(*port, 5);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], make_frame(5, 200, false, 0x02));
    EXPECT_EQ(port->stats().rx_oversize, 1u);
  });
}

TEST_F(DpdkVethTest, InfoLinkStateAndPromiscuityRestoredOnClose) {
  in_netns([&] {
    ASSERT_FALSE(promiscuous("fti0"));
    auto port = open_dpdk("fti0");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->info().name, "fti0");
    const packet::MacAddr want{{0x02, 0, 0, 0, 0, 0xa0}};
    EXPECT_EQ(port->info().mac, want);
    EXPECT_EQ(port->info().mtu, 1500u);
    EXPECT_TRUE(promiscuous("fti0"));  // a transparent proxy needs frames for other MACs
    EXPECT_EQ(port->link_state(), LinkState::up);
    // The veth carrier follows the peer asynchronously: poll (bounded) for the change.
    auto settles_to = [&](LinkState expected) {
      for (int i = 0; i < 100 && port->link_state() != expected; ++i) usleep(10'000);
      return port->link_state();
    };
    ASSERT_EQ(sh("ip link set fti1 down"), 0);
    EXPECT_EQ(settles_to(LinkState::down), LinkState::down);
    ASSERT_EQ(sh("ip link set fti1 up"), 0);
    EXPECT_EQ(settles_to(LinkState::up), LinkState::up);
    port.reset();
    EXPECT_FALSE(promiscuous("fti0")) << "dpdk left fti0 promiscuous";

    // An interface that was promiscuous before stays so.
    ASSERT_EQ(sh("ip link set fti0 promisc on"), 0);
    port = open_dpdk("fti0");
    ASSERT_TRUE(port);
    port.reset();
    EXPECT_TRUE(promiscuous("fti0"));
  });
}

TEST_F(DpdkVethTest, AutoFallsBackToAfPacketAndSaysWhy) {
  in_netns([&] {
    // A jumbo MTU rules af_xdp out (no multi-buffer frames): af_packet, with the reason.
    ASSERT_EQ(sh("ip link set fti0 mtu 9000"), 0);
    ASSERT_EQ(sh("ip link set fti1 mtu 9000"), 0);
    auto port = open_dpdk("fti0");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->info().driver, "net_af_packet");
    EXPECT_NE(port->info().driver_note.find("af_xdp not used: MTU 9000"), std::string::npos)
        << port->info().driver_note;
    EXPECT_EQ(port->info().mtu, 9000u);
    EXPECT_FALSE(xdp_attached("fti0"));
    RawEnd far("fti1");
    far.send(make_frame(7, 8000, false, 0x02));
    const Frames got = receive_until(*port, 7);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), 8000u);
  });
}

TEST_F(DpdkVethTest, AnExplicitVdevDriverIsUsedOrRefused) {
  in_netns([&] {
    auto port = open_dpdk("fti0", 9216 + 22, 4095, "af_packet");
    ASSERT_TRUE(port);
    EXPECT_EQ(port->info().driver, "net_af_packet");
    EXPECT_EQ(port->info().driver_note, "");
    EXPECT_FALSE(xdp_attached("fti0"));
    port.reset();
    PortOptions o;
    o.backend = "dpdk";
    o.name = "fti0";
    o.dpdk_vdev = "xdp";
    std::string err;
    EXPECT_EQ(open_port(o, err), nullptr);
    EXPECT_NE(err.find("unknown vdev driver 'xdp'"), std::string::npos) << err;
  });
}

TEST_F(DpdkVethTest, ErrorsNameTheInterfaceAndTheFix) {
  in_netns([&] {
    PortOptions o;
    o.backend = "dpdk";
    o.name = "nosuch0";
    std::string err;
    EXPECT_EQ(open_port(o, err), nullptr);
    EXPECT_EQ(err, "interface 'nosuch0' not found");
    ASSERT_EQ(sh("ip link set fti0 down"), 0);
    o.name = "fti0";
    EXPECT_EQ(open_port(o, err), nullptr);
    EXPECT_EQ(err, "interface 'fti0' is down: ip link set fti0 up");
    o.name.clear();
    o.dpdk_device = "0000:ff:1f.7";
    EXPECT_EQ(open_port(o, err), nullptr);
    EXPECT_NE(err.find("vfio-pci"), std::string::npos) << err;
  });
}

}  // namespace
}  // namespace ftproxy::io
