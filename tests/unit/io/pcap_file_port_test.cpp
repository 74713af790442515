#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "frames.hpp"
#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io {
namespace {

using test::make_frame;
using test::test_seq;
using Frames = std::vector<std::vector<std::uint8_t>>;

class PcapFilePortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("ftpio_file_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const char* name) const { return (dir_ / name).string(); }

  static PortOptions file_opts(std::string rx, std::string tx, std::uint32_t burst = 64) {
    PortOptions o;
    o.backend = "pcap-file";
    o.rx_file = std::move(rx);
    o.tx_file = std::move(tx);
    o.burst = burst;
    return o;
  }

  static std::size_t send(PacketIo& p, const Frames& frames) {
    std::vector<ConstPacketView> views;
    for (const auto& f : frames) views.emplace_back(f.data(), static_cast<std::uint32_t>(f.size()));
    return p.tx_burst(views);
  }

  // Reads the whole capture through a port, checking the burst limit on the way.
  static Frames read_all(PacketIo& p, std::uint32_t burst) {
    Frames got;
    std::array<PacketView, 32> out;
    for (int i = 0; i < 10000 && !p.exhausted(); ++i) {
      const std::size_t n = p.rx_burst(out);
      EXPECT_LE(n, burst);
      for (std::size_t k = 0; k < n; ++k) got.emplace_back(out[k].data, out[k].data + out[k].len);
    }
    return got;
  }

  std::filesystem::path dir_;
};

TEST_F(PcapFilePortTest, WritesTxAndReadsItBackAsRx) {
  Frames frames;
  for (std::uint32_t i = 0; i < 10; ++i) frames.push_back(make_frame(i, 60 + 145 * i, i % 3 == 0));
  std::string err;
  {
    auto tx = open_port(file_opts("", path("out.pcap")), err);
    ASSERT_NE(tx, nullptr) << err;
    EXPECT_EQ(send(*tx, Frames(frames.begin(), frames.begin() + 4)), 4u);
    EXPECT_EQ(send(*tx, Frames(frames.begin() + 4, frames.end())), 6u);
    EXPECT_EQ(tx->stats().tx_frames, 10u);
    EXPECT_TRUE(tx->exhausted());  // no rx file: nothing to deliver
  }
  auto rx = open_port(file_opts(path("out.pcap"), "", 4), err);
  ASSERT_NE(rx, nullptr) << err;
  EXPECT_FALSE(rx->exhausted());
  EXPECT_EQ(rx->wait_fd(), -1);
  EXPECT_EQ(rx->link_state(), LinkState::up);
  const Frames got = read_all(*rx, 4);
  EXPECT_EQ(got, frames);
  EXPECT_TRUE(rx->exhausted());
  EXPECT_EQ(rx->stats().rx_frames, 10u);
  EXPECT_EQ(rx->stats().rx_oversize, 0u);
  std::array<PacketView, 4> out;
  EXPECT_EQ(rx->rx_burst(out), 0u);
}

TEST_F(PcapFilePortTest, RxViewsAreWritable) {
  std::string err;
  {
    auto tx = open_port(file_opts("", path("w.pcap")), err);
    ASSERT_NE(tx, nullptr) << err;
    send(*tx, {make_frame(7, 80)});
  }
  auto rx = open_port(file_opts(path("w.pcap"), ""), err);
  ASSERT_NE(rx, nullptr) << err;
  std::array<PacketView, 4> out;
  ASSERT_EQ(rx->rx_burst(out), 1u);
  out[0].data[0] = 0x42;
  EXPECT_EQ(out[0].data[0], 0x42);
  EXPECT_EQ(test_seq(out[0].data, out[0].len), 7);
}

TEST_F(PcapFilePortTest, FlushesEveryBurst) {
  std::string err;
  auto tx = open_port(file_opts("", path("live.pcap")), err);
  ASSERT_NE(tx, nullptr) << err;
  send(*tx, {make_frame(1, 60), make_frame(2, 61)});
  // Read while the writer is still open: the burst must already be on disk.
  auto rx = open_port(file_opts(path("live.pcap"), ""), err);
  ASSERT_NE(rx, nullptr) << err;
  EXPECT_EQ(read_all(*rx, 64).size(), 2u);
}

TEST_F(PcapFilePortTest, SkipsAndCountsFramesLongerThanSnaplen) {
  std::string err;
  {
    auto tx = open_port(file_opts("", path("big.pcap")), err);
    ASSERT_NE(tx, nullptr) << err;
    send(*tx, {make_frame(1, 60), make_frame(2, 1000), make_frame(3, 200), make_frame(4, 201)});
  }
  auto o = file_opts(path("big.pcap"), "");
  o.snaplen = 200;
  auto rx = open_port(o, err);
  ASSERT_NE(rx, nullptr) << err;
  const Frames got = read_all(*rx, 64);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(test_seq(got[0].data(), got[0].size()), 1);
  EXPECT_EQ(test_seq(got[1].data(), got[1].size()), 3);
  EXPECT_EQ(rx->stats().rx_oversize, 2u);
}

TEST_F(PcapFilePortTest, SkipsFramesTruncatedInTheCapture) {
  // A capture recorded with a small snap length holds cut frames (caplen < len).
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 100);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* d = pcap_dump_open(dead, path("cut.pcap").c_str());
  ASSERT_NE(d, nullptr);
  const auto whole = make_frame(1, 90);
  const auto cut = make_frame(2, 300);
  pcap_pkthdr h{};
  h.caplen = h.len = 90;
  pcap_dump(reinterpret_cast<u_char*>(d), &h, whole.data());
  h.caplen = 100;
  h.len = 300;
  pcap_dump(reinterpret_cast<u_char*>(d), &h, cut.data());
  pcap_dump_close(d);
  pcap_close(dead);

  std::string err;
  auto rx = open_port(file_opts(path("cut.pcap"), ""), err);
  ASSERT_NE(rx, nullptr) << err;
  const Frames got = read_all(*rx, 64);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], whole);
  EXPECT_EQ(rx->stats().rx_oversize, 1u);
}

TEST_F(PcapFilePortTest, TxCountsOversizeAndRuntFrames) {
  std::string err;
  auto o = file_opts("", path("o.pcap"));
  o.snaplen = 300;
  {
    auto tx = open_port(o, err);
    ASSERT_NE(tx, nullptr) << err;
    EXPECT_EQ(send(*tx, {make_frame(1, 301), std::vector<std::uint8_t>(10, 0), make_frame(2, 300)}), 3u);
    EXPECT_EQ(tx->stats().tx_oversize, 1u);
    EXPECT_EQ(tx->stats().tx_errors, 1u);
    EXPECT_EQ(tx->stats().tx_frames, 1u);
  }
  auto rx = open_port(file_opts(path("o.pcap"), ""), err);
  ASSERT_NE(rx, nullptr) << err;
  EXPECT_EQ(read_all(*rx, 64).size(), 1u);
}

TEST_F(PcapFilePortTest, NoFilesMeansNoRxAndDiscardedTx) {
  std::string err;
  auto p = open_port(file_opts("", ""), err);
  ASSERT_NE(p, nullptr) << err;
  std::array<PacketView, 4> out;
  EXPECT_EQ(p->rx_burst(out), 0u);
  EXPECT_TRUE(p->exhausted());
  EXPECT_EQ(send(*p, {make_frame(1, 60)}), 1u);
  EXPECT_EQ(p->stats().tx_frames, 1u);
}

TEST_F(PcapFilePortTest, ReportsUnreadableAndNonEthernetCaptures) {
  std::string err;
  EXPECT_EQ(open_port(file_opts(path("missing.pcap"), ""), err), nullptr);
  EXPECT_NE(err.find("missing.pcap"), std::string::npos) << err;

  pcap_t* dead = pcap_open_dead(DLT_RAW, 1500);
  pcap_dumper_t* d = pcap_dump_open(dead, path("raw.pcap").c_str());
  ASSERT_NE(d, nullptr);
  pcap_dump_close(d);
  pcap_close(dead);
  err.clear();
  EXPECT_EQ(open_port(file_opts(path("raw.pcap"), ""), err), nullptr);
  EXPECT_NE(err.find("not Ethernet"), std::string::npos) << err;

  err.clear();
  EXPECT_EQ(open_port(file_opts("", (dir_ / "no" / "such" / "dir.pcap").string()), err), nullptr);
  EXPECT_NE(err.find("dir.pcap"), std::string::npos) << err;
}

}  // namespace
}  // namespace ftproxy::io
