// "dpdk" backend on a veth pair inside a network namespace made for this test (root
// only; skipped otherwise). The port attaches its default af_packet vdev to fti0; the far
// end fti1 is a plain AF_PACKET socket, so every frame really crossed the kernel wire.
// One EAL serves the whole process (as in ftproxy): the first test initialises it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "frames.hpp"
#include "ftproxy/io/packet_io.hpp"
#include "veth_fixture.hpp"

namespace ftproxy::io {
namespace {

using test::Frames;
using test::make_frame;
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
                                             std::uint32_t mbufs = 4095) {
    PortOptions o;
    o.backend = "dpdk";
    o.name = ifname;
    o.snaplen = snaplen;
    o.mbufs = mbufs;
    std::string err;
    auto p = open_port(o, err);
    EXPECT_NE(p, nullptr) << err;
    return p;
  }

  // Polls the port (it has no wait fd) until test frame `stop_seq` arrives or 2 s pass.
  static Frames receive_until(PacketIo& p, std::int64_t stop_seq) {
    Frames got;
    std::array<PacketView, 32> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::size_t n = p.rx_burst(out);
      if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t seq = test_seq(out[i].data, out[i].len);
        if (seq < 0) continue;
        got.emplace_back(out[i].data, out[i].data + out[i].len);
        if (seq == stop_seq) return got;
      }
    }
    ADD_FAILURE() << "frame " << stop_seq << " not received on " << p.info().name;
    return got;
  }
};

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
