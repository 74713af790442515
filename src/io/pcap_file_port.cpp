// "pcap-file" backend: rx replays a capture file, tx records into one. Replay tests and
// recording use the same PacketIo path as live ports.
#include <pcap/pcap.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends.hpp"

namespace ftproxy::io {
namespace {

class PcapFilePort final : public PacketIo {
 public:
  PcapFilePort(const PortOptions& opts, pcap_t* rx, pcap_t* dead, pcap_dumper_t* dumper)
      : rx_(rx), dead_(dead), dumper_(dumper), snaplen_(opts.snaplen), burst_(opts.burst) {
    info_.name = !opts.name.empty() ? opts.name : (!opts.rx_file.empty() ? opts.rx_file : opts.tx_file);
    info_.mac = detail::mac_from_name(info_.name);
    info_.mtu = snaplen_ - 14;  // a file has no MTU: the snap length is the frame limit
    arena_.resize(static_cast<std::size_t>(burst_) * snaplen_);
    exhausted_ = rx_ == nullptr;
  }

  ~PcapFilePort() override {
    if (dumper_ != nullptr) {
      pcap_dump_flush(dumper_);
      pcap_dump_close(dumper_);
    }
    if (dead_ != nullptr) pcap_close(dead_);
    if (rx_ != nullptr) pcap_close(rx_);
  }

  std::size_t rx_burst(std::span<PacketView> out) noexcept override {
    if (exhausted_) return 0;
    const std::size_t want = std::min<std::size_t>(out.size(), burst_);
    std::size_t n = 0;
    while (n < want) {
      pcap_pkthdr* hdr = nullptr;
      const u_char* data = nullptr;
      const int rc = pcap_next_ex(rx_, &hdr, &data);
      if (rc == PCAP_ERROR_BREAK) {  // end of file
        exhausted_ = true;
        break;
      }
      if (rc != 1) {  // a damaged file: stop reading rather than loop on the error
        ++stats_.rx_errors;
        exhausted_ = true;
        break;
      }
      if (hdr->caplen < hdr->len || hdr->len > snaplen_) {
        ++stats_.rx_oversize;
        continue;
      }
      std::uint8_t* slot = arena_.data() + n * snaplen_;
      std::memcpy(slot, data, hdr->caplen);
      out[n] = PacketView{slot, hdr->caplen};
      ++stats_.rx_frames;
      stats_.rx_bytes += hdr->caplen;
      ++n;
    }
    return n;
  }

  std::size_t tx_burst(std::span<const ConstPacketView> frames) noexcept override {
    timeval now{};
    gettimeofday(&now, nullptr);
    for (const ConstPacketView& f : frames) {
      if (f.len < 14) {
        ++stats_.tx_errors;
        continue;
      }
      if (f.len > snaplen_) {
        ++stats_.tx_oversize;
        continue;
      }
      if (dumper_ != nullptr) {
        pcap_pkthdr hdr{};
        hdr.ts = now;
        hdr.caplen = f.len;
        hdr.len = f.len;
        pcap_dump(reinterpret_cast<u_char*>(dumper_), &hdr, f.data);
      }
      ++stats_.tx_frames;
      stats_.tx_bytes += f.len;
    }
    if (dumper_ != nullptr && !frames.empty() && pcap_dump_flush(dumper_) != 0) ++stats_.tx_errors;
    return frames.size();
  }

  int wait_fd() const noexcept override { return -1; }
  bool exhausted() const noexcept override { return exhausted_; }
  LinkState link_state() noexcept override { return LinkState::up; }
  const PortInfo& info() const noexcept override { return info_; }
  const PortStats& stats() const noexcept override { return stats_; }

 private:
  pcap_t* rx_;
  pcap_t* dead_;
  pcap_dumper_t* dumper_;
  std::uint32_t snaplen_;
  std::uint32_t burst_;
  std::vector<std::uint8_t> arena_;
  bool exhausted_ = false;
  PortInfo info_;
  PortStats stats_;
};

}  // namespace

namespace detail {

std::unique_ptr<PacketIo> open_pcap_file_port(const PortOptions& opts, std::string& error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* rx = nullptr;
  if (!opts.rx_file.empty()) {
    rx = pcap_open_offline(opts.rx_file.c_str(), errbuf);
    if (rx == nullptr) {
      error = "cannot read capture '" + opts.rx_file + "': " + errbuf;
      return nullptr;
    }
    if (pcap_datalink(rx) != DLT_EN10MB) {
      error = "capture '" + opts.rx_file + "' is not Ethernet (link type " +
              std::string(pcap_datalink_val_to_name(pcap_datalink(rx))
                              ? pcap_datalink_val_to_name(pcap_datalink(rx))
                              : "unknown") +
              ")";
      pcap_close(rx);
      return nullptr;
    }
  }
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;
  if (!opts.tx_file.empty()) {
    dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(opts.snaplen));
    dumper = dead != nullptr ? pcap_dump_open(dead, opts.tx_file.c_str()) : nullptr;
    if (dumper == nullptr) {
      error = "cannot write capture '" + opts.tx_file + "': " + (dead ? pcap_geterr(dead) : "out of memory");
      if (dead != nullptr) pcap_close(dead);
      if (rx != nullptr) pcap_close(rx);
      return nullptr;
    }
  }
  return std::make_unique<PcapFilePort>(opts, rx, dead, dumper);
}

}  // namespace detail
}  // namespace ftproxy::io
