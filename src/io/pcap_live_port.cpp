// "pcap" backend: libpcap live capture (immediate mode, inbound only) for rx, a tx-only
// AF_PACKET socket with sendmmsg() for tx (one syscall per burst instead of one
// pcap_inject() per frame).
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "backends.hpp"

namespace ftproxy::io {
namespace {

std::string needs_root(const std::string& ifname) {
  return "opening interface '" + ifname + "' needs root or CAP_NET_RAW";
}

class PcapLivePort final : public PacketIo {
 public:
  PcapLivePort(const PortOptions& opts, pcap_t* rx, int tx_fd, int ctl_fd, packet::MacAddr mac,
               std::uint32_t mtu)
      : rx_(rx), tx_fd_(tx_fd), ctl_fd_(ctl_fd), snaplen_(opts.snaplen), burst_(opts.burst) {
    info_.name = opts.name;
    info_.mac = mac;
    info_.mtu = mtu;
    arena_.resize(static_cast<std::size_t>(burst_) * snaplen_);
    msgs_.resize(burst_);
    iov_.resize(burst_);
    index_.resize(burst_);
    wait_fd_ = pcap_get_selectable_fd(rx_);
  }

  ~PcapLivePort() override {
    if (tx_fd_ >= 0) ::close(tx_fd_);
    if (ctl_fd_ >= 0) ::close(ctl_fd_);
    pcap_close(rx_);
  }

  std::size_t rx_burst(std::span<PacketView> out) noexcept override {
    RxContext ctx{this, out.first(std::min<std::size_t>(out.size(), burst_)), 0};
    if (ctx.out.empty()) return 0;
    const int rc = pcap_dispatch(rx_, static_cast<int>(ctx.out.size()), &PcapLivePort::on_frame,
                                 reinterpret_cast<u_char*>(&ctx));
    if (rc < 0 && rc != PCAP_ERROR_BREAK) ++stats_.rx_errors;
    return ctx.n;
  }

  std::size_t tx_burst(std::span<const ConstPacketView> frames) noexcept override {
    if (tx_fd_ < 0) return inject_each(frames);
    std::size_t next = 0;
    while (next < frames.size()) {
      // Gather up to `burst_` sendable frames; runts and oversize ones are consumed here.
      std::size_t m = 0;
      for (; next < frames.size() && m < burst_; ++next) {
        const ConstPacketView& f = frames[next];
        if (!check_len(f)) continue;
        iov_[m].iov_base = const_cast<std::uint8_t*>(f.data);  // sendmsg does not write
        iov_[m].iov_len = f.len;
        msgs_[m] = mmsghdr{};
        msgs_[m].msg_hdr.msg_iov = &iov_[m];
        msgs_[m].msg_hdr.msg_iovlen = 1;
        index_[m] = next;
        ++m;
      }
      std::size_t sent = 0;
      while (sent < m) {
        const int r = ::sendmmsg(tx_fd_, msgs_.data() + sent, static_cast<unsigned>(m - sent), MSG_DONTWAIT);
        if (r > 0) {
          for (std::size_t k = sent; k < sent + static_cast<std::size_t>(r); ++k) {
            ++stats_.tx_frames;
            stats_.tx_bytes += iov_[k].iov_len;
          }
          sent += static_cast<std::size_t>(r);
          continue;
        }
        const int err = r == 0 ? EAGAIN : errno;
        ++stats_.tx_errors;
        if (err == EMSGSIZE || err == EINVAL) {  // this frame can never be sent: consume it
          ++sent;
          continue;
        }
        // Queue full (EAGAIN, ENOBUFS), link down, ...: the rest is the caller's to retry.
        return index_[sent];
      }
    }
    return frames.size();
  }

  int wait_fd() const noexcept override { return wait_fd_; }

  LinkState link_state() noexcept override {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, info_.name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) != 0) return LinkState::unknown;
    const bool up = (ifr.ifr_flags & IFF_UP) != 0 && (ifr.ifr_flags & IFF_RUNNING) != 0;
    return up ? LinkState::up : LinkState::down;
  }

  const PortInfo& info() const noexcept override { return info_; }

  void refresh_stats() noexcept override {
    pcap_stat ps{};
    if (pcap_stats(rx_, &ps) == 0) stats_.rx_dropped = ps.ps_drop;
  }

  const PortStats& stats() const noexcept override { return stats_; }

 private:
  struct RxContext {
    PcapLivePort* port;
    std::span<PacketView> out;
    std::size_t n;
  };

  static void on_frame(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto& ctx = *reinterpret_cast<RxContext*>(user);
    PcapLivePort& p = *ctx.port;
    if (h->caplen < h->len || h->caplen > p.snaplen_) {  // cut by the snap length: drop, never forward cut
      ++p.stats_.rx_oversize;
      return;
    }
    if (ctx.n >= ctx.out.size()) return;  // cannot happen: pcap_dispatch honours cnt
    std::uint8_t* slot = p.arena_.data() + ctx.n * p.snaplen_;
    std::memcpy(slot, bytes, h->caplen);
    ctx.out[ctx.n++] = PacketView{slot, h->caplen};
    ++p.stats_.rx_frames;
    p.stats_.rx_bytes += h->caplen;
  }

  bool check_len(const ConstPacketView& f) noexcept {
    if (f.len < 14) {
      ++stats_.tx_errors;
      return false;
    }
    if (f.len > detail::max_tx_len(f.data, f.len, info_.mtu)) {
      ++stats_.tx_oversize;
      return false;
    }
    return true;
  }

  // Fallback when no AF_PACKET tx socket could be opened.
  std::size_t inject_each(std::span<const ConstPacketView> frames) noexcept {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const ConstPacketView& f = frames[i];
      if (!check_len(f)) continue;
      if (pcap_inject(rx_, f.data, f.len) < 0) {
        ++stats_.tx_errors;
        return i;
      }
      ++stats_.tx_frames;
      stats_.tx_bytes += f.len;
    }
    return frames.size();
  }

  pcap_t* rx_;
  int tx_fd_;
  int ctl_fd_;
  int wait_fd_ = -1;
  std::uint32_t snaplen_;
  std::uint32_t burst_;
  std::vector<std::uint8_t> arena_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iov_;
  std::vector<std::size_t> index_;
  PortInfo info_;
  PortStats stats_;
};

// A tx-only packet socket: protocol 0 receives nothing; bound to one interface.
int open_tx_socket(int ifindex) {
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;
  sll.sll_ifindex = ifindex;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    ::close(fd);
    return -1;
  }
#ifdef PACKET_QDISC_BYPASS
  const int one = 1;
  (void)::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);  // optional speed-up
#endif
  const int sndbuf = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // the default drops bursts
  return fd;
}

}  // namespace

namespace detail {

std::unique_ptr<PacketIo> open_pcap_live_port(const PortOptions& opts, std::string& error) {
  const std::string& ifname = opts.name;
  const unsigned ifindex = ifname.size() < IFNAMSIZ ? ::if_nametoindex(ifname.c_str()) : 0;
  if (ifindex == 0) {
    error = "interface '" + ifname + "' not found";
    return nullptr;
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* rx = pcap_create(ifname.c_str(), errbuf);
  if (rx == nullptr) {
    error = "interface '" + ifname + "': " + errbuf;
    return nullptr;
  }
  auto fail = [&](std::string msg) -> std::unique_ptr<PacketIo> {
    error = std::move(msg);
    pcap_close(rx);
    return nullptr;
  };
  pcap_set_immediate_mode(rx, 1);
  pcap_set_buffer_size(rx, static_cast<int>(std::min<std::uint32_t>(opts.ring_bytes, 1u << 30)));
  pcap_set_snaplen(rx, static_cast<int>(opts.snaplen));
  pcap_set_promisc(rx, 1);
  const int act = pcap_activate(rx);
  if (act == PCAP_ERROR_PERM_DENIED || act == PCAP_ERROR_PROMISC_PERM_DENIED) return fail(needs_root(ifname));
  if (act == PCAP_ERROR_NO_SUCH_DEVICE) return fail("interface '" + ifname + "' not found");
  if (act == PCAP_ERROR_IFACE_NOT_UP) {
    return fail("interface '" + ifname + "' is down: ip link set " + ifname + " up");
  }
  if (act < 0) return fail("interface '" + ifname + "': " + pcap_geterr(rx));
  if (pcap_datalink(rx) != DLT_EN10MB) return fail("interface '" + ifname + "' is not Ethernet");
  if (pcap_setdirection(rx, PCAP_D_IN) != 0) {
    return fail("interface '" + ifname + "': cannot capture inbound only: " + pcap_geterr(rx));
  }
  if (pcap_setnonblock(rx, 1, errbuf) != 0) return fail("interface '" + ifname + "': " + errbuf);
  if (pcap_get_selectable_fd(rx) < 0) return fail("interface '" + ifname + "' has no selectable capture fd");

  // Permission problems surface first (above); the link facts come from the kernel.
  const int ctl_fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl_fd < 0) return fail("interface '" + ifname + "': socket: " + std::strerror(errno));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  packet::MacAddr mac;
  if (::ioctl(ctl_fd, SIOCGIFHWADDR, &ifr) == 0) {
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
      ::close(ctl_fd);
      return fail("interface '" + ifname + "' is not Ethernet");
    }
    std::memcpy(mac.b.data(), ifr.ifr_hwaddr.sa_data, 6);
  }
  std::uint32_t mtu = 1500;
  if (::ioctl(ctl_fd, SIOCGIFMTU, &ifr) == 0) mtu = static_cast<std::uint32_t>(ifr.ifr_mtu);

  const int tx_fd = open_tx_socket(static_cast<int>(ifindex));  // -1: fall back to pcap_inject
  return std::make_unique<PcapLivePort>(opts, rx, tx_fd, ctl_fd, mac, mtu);
}

}  // namespace detail
}  // namespace ftproxy::io
