// A network namespace holding one veth pair (fti0 02:00:00:00:00:a0 <-> fti1
// 02:00:00:00:00:b0, both up, IPv6 off) made for each test and removed after it. Root
// only: the fixture skips the test otherwise. Test bodies run inside the namespace with
// in_netns(), on a thread that entered it with setns(2), so ports and ioctls see only the
// test's interfaces. send() and receive_until() move test frames (frames.hpp) through a port.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "frames.hpp"
#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io::test {

using Frames = std::vector<std::vector<std::uint8_t>>;

// Runs a shell command quietly; returns its exit status.
inline int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

// Opens a port the test needs: a failure fails the test with open_port's reason.
inline std::unique_ptr<PacketIo> open_or_fail(const PortOptions& o) {
  std::string err;
  auto p = open_port(o, err);
  EXPECT_NE(p, nullptr) << err;
  return p;
}

inline std::size_t send(PacketIo& p, const Frames& frames) {
  std::vector<ConstPacketView> views;
  for (const auto& f : frames) views.emplace_back(f.data(), static_cast<std::uint32_t>(f.size()));
  return p.tx_burst(views);
}

// Test frames received on `p` (other traffic ignored) until the one with `stop_seq`
// arrives or 2 s pass. Waits on the port's wait fd; a port without one (dpdk) is polled
// every 200 us.
inline Frames receive_until(PacketIo& p, std::int64_t stop_seq) {
  Frames got;
  std::array<PacketView, 32> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (p.wait_fd() >= 0) {
      pollfd pfd{p.wait_fd(), POLLIN, 0};
      ::poll(&pfd, 1, 50);
    }
    const std::size_t n = p.rx_burst(out);
    if (n == 0 && p.wait_fd() < 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
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

class VethNamespaceTest : public ::testing::Test {
 protected:
  // `prefix` names the namespace (prefix + pid + counter), unique per run and test.
  explicit VethNamespaceTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespace + veth)";
    static std::atomic<int> counter{0};
    ns_ = prefix_ + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (sh("ip netns add " + ns_) != 0) GTEST_SKIP() << "cannot create network namespace " << ns_;
    created_ = true;
    // No IPv6 chatter (router solicitations, MLD) on the test wire.
    sh("ip netns exec " + ns_ + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1");
    ASSERT_EQ(
        sh("ip -n " + ns_ + " link add fti0 address 02:00:00:00:00:a0 type veth peer name fti1 address " +
           "02:00:00:00:00:b0"),
        0);
    ASSERT_EQ(sh("ip -n " + ns_ + " link set fti0 up"), 0);
    ASSERT_EQ(sh("ip -n " + ns_ + " link set fti1 up"), 0);
  }

  void TearDown() override {
    if (created_) {
      EXPECT_EQ(sh("ip netns del " + ns_), 0) << "leaked namespace " << ns_;
    }
  }

  // Runs `body` on a thread inside the test namespace.
  void in_netns(const std::function<void()>& body) {
    std::thread t([&] {
      const int fd = ::open(("/var/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0) << std::strerror(errno);
      const int rc = ::setns(fd, CLONE_NEWNET);
      ::close(fd);
      ASSERT_EQ(rc, 0) << std::strerror(errno);
      body();
    });
    t.join();
  }

  std::string ns_;

 private:
  std::string prefix_;
  bool created_ = false;
};

}  // namespace ftproxy::io::test
