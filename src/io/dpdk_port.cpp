// "dpdk" backend: one ethdev rx/tx queue pair per port, polled (no wait fd). By default
// each port hot-plugs a vdev onto its kernel interface (net_af_xdp where it starts, else
// net_af_packet), so the same config runs on any Linux box; with eal_args and dpdk_device
// it drives a real NIC PMD.
#include "dpdk_port.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "backends.hpp"
#include "ftproxy/io/dpdk_vdev.hpp"

namespace ftproxy::io {
namespace {

std::string rte_error(int err) {
  return rte_strerror(err < 0 ? -err : err);
}

// The process-wide EAL: initialised by the first dpdk port, cleaned up at process exit
// (after every port is closed: ports are destroyed before static objects).
class Eal {
 public:
  static Eal& instance() {
    static Eal eal;
    return eal;
  }

  bool ensure(const std::vector<std::string>& requested, std::string& error) {
    std::lock_guard lock(mu_);
    if (ready_) {
      if (!requested.empty() && requested != args_) {
        error = "the DPDK EAL is already initialised with other eal_args (one EAL per process)";
        return false;
      }
      return true;
    }
    if (!failure_.empty()) {
      error = failure_;
      return false;
    }
    const bool defaults = requested.empty();
    args_ = defaults ? detail::default_eal_args() : requested;
    argv_storage_.clear();
    argv_storage_.push_back("ftproxy");
    for (const auto& a : args_) argv_storage_.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_storage_) argv.push_back(a.data());
    argv.push_back(nullptr);

    // EAL pins the calling thread to the main lcore; with the defaults (no pinning asked
    // for) the node thread keeps the CPUs it had, so two proxies do not fight over one core.
    cpu_set_t before;
    const bool have_affinity = pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0;
    const int rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
    if (rc < 0) {
      failure_ = "DPDK EAL initialisation failed (" + rte_error(rte_errno) + ") with args:";
      for (const auto& a : args_) failure_ += " " + a;
      error = failure_;
      return false;
    }
    if (defaults && have_affinity) (void)pthread_setaffinity_np(pthread_self(), sizeof before, &before);
    ready_ = true;
    remove_runtime_dir_ = defaults;
    return true;
  }

  ~Eal() {
    if (!ready_) return;
    std::string dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    // Our own unique prefix: leave no /var/run/dpdk/ftproxy-<pid> behind.
    if (remove_runtime_dir_ && dir.find("ftproxy-") != std::string::npos) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

 private:
  Eal() = default;
  std::mutex mu_;
  bool ready_ = false;
  bool remove_runtime_dir_ = false;
  std::string failure_;
  std::vector<std::string> args_;
  std::vector<std::string> argv_storage_;  // EAL may keep pointers into argv
};

// The kernel interface under an af_packet vdev: its flags, MTU and promiscuity.
class KernelInterface {
 public:
  explicit KernelInterface(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  ~KernelInterface() {
    if (fd_ >= 0) ::close(fd_);
  }
  KernelInterface(const KernelInterface&) = delete;
  KernelInterface& operator=(const KernelInterface&) = delete;

  bool valid() const noexcept { return fd_ >= 0; }
  int flags() const noexcept {
    ifreq ifr = request();
    return ::ioctl(fd_, SIOCGIFFLAGS, &ifr) == 0 ? ifr.ifr_flags : -1;
  }
  std::uint32_t mtu() const noexcept {
    ifreq ifr = request();
    return ::ioctl(fd_, SIOCGIFMTU, &ifr) == 0 ? static_cast<std::uint32_t>(ifr.ifr_mtu) : 0;
  }
  // Receive queues (ETHTOOL_GCHANNELS rx + combined); 1 when the driver does not say.
  std::uint32_t rx_queues() const noexcept {
    ethtool_channels ch{};
    ch.cmd = ETHTOOL_GCHANNELS;
    ifreq ifr = request();
    ifr.ifr_data = reinterpret_cast<char*>(&ch);
    if (::ioctl(fd_, SIOCETHTOOL, &ifr) != 0) return 1;
    const std::uint32_t n = ch.rx_count + ch.combined_count;
    return n == 0 ? 1 : n;
  }
  void clear_promiscuous() const noexcept {
    ifreq ifr = request();
    if (::ioctl(fd_, SIOCGIFFLAGS, &ifr) != 0) return;
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_PROMISC);
    (void)::ioctl(fd_, SIOCSIFFLAGS, &ifr);
  }

 private:
  ifreq request() const noexcept {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    return ifr;
  }
  std::string name_;
  int fd_ = -1;
};

std::atomic<unsigned> g_port_serial{0};

class DpdkPort final : public PacketIo {
 public:
  DpdkPort(const PortOptions& opts, std::uint16_t port_id, rte_mempool* pool, std::string vdev,
           std::unique_ptr<KernelInterface> kif, bool was_promiscuous, std::uint32_t mtu,
           std::uint32_t tx_room, std::string driver_note)
      : port_id_(port_id),
        pool_(pool),
        vdev_(std::move(vdev)),
        kif_(std::move(kif)),
        was_promiscuous_(was_promiscuous),
        tx_room_(tx_room),
        snaplen_(opts.snaplen),
        burst_(std::min<std::uint32_t>(opts.burst, 4096)) {
    info_.name = opts.name.empty() ? opts.dpdk_device : opts.name;
    info_.mtu = mtu;
    info_.driver_note = std::move(driver_note);
    rte_eth_dev_info dev_info{};
    if (rte_eth_dev_info_get(port_id_, &dev_info) == 0 && dev_info.driver_name != nullptr)
      info_.driver = dev_info.driver_name;
    rte_ether_addr addr{};
    if (rte_eth_macaddr_get(port_id_, &addr) == 0) std::memcpy(info_.mac.b.data(), addr.addr_bytes, 6);
    arena_.resize(static_cast<std::size_t>(burst_) * snaplen_);
    rx_mbufs_.resize(burst_);
    tx_mbufs_.resize(burst_);
    tx_index_.resize(burst_);
  }

  ~DpdkPort() override {
    (void)rte_eth_dev_stop(port_id_);
    (void)rte_eth_dev_close(port_id_);
    if (!vdev_.empty()) (void)rte_eal_hotplug_remove("vdev", vdev_.c_str());
    rte_mempool_free(pool_);
    // af_packet's and af_xdp's promiscuous mode is a plain IFF_PROMISC the PMD never takes back.
    if (kif_ && !was_promiscuous_) kif_->clear_promiscuous();
  }

  std::size_t rx_burst(std::span<PacketView> out) noexcept override {
    const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(out.size(), burst_));
    if (want == 0) return 0;
    const std::uint16_t got = rte_eth_rx_burst(port_id_, 0, rx_mbufs_.data(), want);
    std::size_t n = 0;
    for (std::uint16_t i = 0; i < got; ++i) {
      const rte_mbuf* m = rx_mbufs_[i];
      const std::uint32_t len = m->pkt_len;
      if (len > snaplen_) {  // never forward a cut frame
        ++stats_.rx_oversize;
        continue;
      }
      std::uint8_t* slot = arena_.data() + n * snaplen_;
      std::uint32_t off = 0;
      for (const rte_mbuf* seg = m; seg != nullptr && off < len; seg = seg->next) {
        const std::uint32_t take = std::min<std::uint32_t>(seg->data_len, len - off);
        std::memcpy(slot + off, rte_pktmbuf_mtod(seg, const std::uint8_t*), take);
        off += take;
      }
      out[n++] = PacketView{slot, off};
      ++stats_.rx_frames;
      stats_.rx_bytes += off;
    }
    if (got > 0) rte_pktmbuf_free_bulk(rx_mbufs_.data(), got);  // each mbuf exactly once
    return n;
  }

  std::size_t tx_burst(std::span<const ConstPacketView> frames) noexcept override {
    std::size_t next = 0;
    while (next < frames.size()) {
      // Gather up to `burst_` sendable frames; runts and oversize ones are consumed here.
      std::uint16_t m = 0;
      for (std::size_t scan = next; scan < frames.size() && m < burst_; ++scan) {
        next = scan + 1;
        if (!check_len(frames[scan])) continue;
        tx_index_[m++] = scan;
      }
      if (m == 0) continue;
      if (rte_pktmbuf_alloc_bulk(pool_, tx_mbufs_.data(), m) != 0) {
        ++stats_.tx_errors;  // pool exhausted: the caller retries the rest
        return tx_index_[0];
      }
      for (std::uint16_t k = 0; k < m; ++k) {
        const ConstPacketView& f = frames[tx_index_[k]];
        auto* dst = rte_pktmbuf_mtod(tx_mbufs_[k], std::uint8_t*);
        std::memcpy(dst, f.data, f.len);
        tx_mbufs_[k]->data_len = static_cast<std::uint16_t>(f.len);
        tx_mbufs_[k]->pkt_len = f.len;
      }
      const std::uint16_t sent = rte_eth_tx_burst(port_id_, 0, tx_mbufs_.data(), m);
      for (std::uint16_t k = 0; k < sent; ++k) {
        ++stats_.tx_frames;
        stats_.tx_bytes += frames[tx_index_[k]].len;
      }
      if (sent < m) {
        rte_pktmbuf_free_bulk(tx_mbufs_.data() + sent, static_cast<unsigned>(m - sent));
        ++stats_.tx_errors;  // ring full or link down: the rest is the caller's to retry
        return tx_index_[sent];
      }
    }
    return frames.size();
  }

  int wait_fd() const noexcept override { return -1; }

  LinkState link_state() noexcept override {
    if (kif_) {  // a kernel-backed vdev's link is "up" once started: the carrier is the kernel's
      const int f = kif_->flags();
      if (f < 0) return LinkState::unknown;
      return (f & IFF_UP) != 0 && (f & IFF_RUNNING) != 0 ? LinkState::up : LinkState::down;
    }
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id_, &link) != 0) return LinkState::unknown;
    return link.link_status == RTE_ETH_LINK_UP ? LinkState::up : LinkState::down;
  }

  const PortInfo& info() const noexcept override { return info_; }

  void refresh_stats() noexcept override {
    rte_eth_stats s{};
    if (rte_eth_stats_get(port_id_, &s) == 0) stats_.rx_dropped = s.imissed + s.rx_nombuf;
  }

  const PortStats& stats() const noexcept override { return stats_; }

 private:
  bool check_len(const ConstPacketView& f) noexcept {
    if (f.len < 14) {
      ++stats_.tx_errors;
      return false;
    }
    if (f.len > detail::max_tx_len(f.data, f.len, info_.mtu) || f.len > tx_room_) {
      ++stats_.tx_oversize;
      return false;
    }
    return true;
  }

  std::uint16_t port_id_;
  rte_mempool* pool_;
  std::string vdev_;  // non-empty when we hot-plugged it (uninit on close)
  std::unique_ptr<KernelInterface> kif_;
  bool was_promiscuous_;
  std::uint32_t tx_room_;  // data room of one mbuf: longer frames would need a chain
  std::uint32_t snaplen_;
  std::uint32_t burst_;
  std::vector<std::uint8_t> arena_;
  std::vector<rte_mbuf*> rx_mbufs_;
  std::vector<rte_mbuf*> tx_mbufs_;
  std::vector<std::size_t> tx_index_;
  PortInfo info_;
  PortStats stats_;
};

// Pool, queues, start and promiscuous mode of an ethdev. On failure says why; whatever
// was made is the caller's to undo (release_ethdev), in that order: the queues hold mbufs.
bool start_ethdev(std::uint16_t port_id, const PortOptions& opts, unsigned serial, std::uint32_t frame_room,
                  rte_mempool*& pool, std::string& why) {
  const int socket = std::max(0, rte_eth_dev_socket_id(port_id));
  const std::string pool_name = "ftp_pool" + std::to_string(serial);
  pool = rte_pktmbuf_pool_create(pool_name.c_str(), std::max<std::uint32_t>(opts.mbufs, 511), 256, 0,
                                 static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + frame_room), socket);
  if (pool == nullptr) {
    why = "cannot create a pool of " + std::to_string(opts.mbufs) + " mbufs (" + rte_error(rte_errno) +
          "): raise -m in eal_args or lower mbufs";
    return false;
  }
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
  if (rc != 0) {
    why = "configure: " + rte_error(rc);
    return false;
  }
  std::uint16_t rx_desc = opts.rx_desc;
  std::uint16_t tx_desc = opts.tx_desc;
  (void)rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
  rc = rte_eth_rx_queue_setup(port_id, 0, rx_desc, static_cast<unsigned>(socket), nullptr, pool);
  if (rc != 0) {
    why = "rx queue: " + rte_error(rc);
    return false;
  }
  rc = rte_eth_tx_queue_setup(port_id, 0, tx_desc, static_cast<unsigned>(socket), nullptr);
  if (rc != 0) {
    why = "tx queue: " + rte_error(rc);
    return false;
  }
  rc = rte_eth_dev_start(port_id);
  if (rc != 0) {
    why = "start: " + rte_error(rc);
    return false;
  }
  // A transparent proxy sees frames for other MACs; a PMD without the mode is left as is.
  rc = rte_eth_promiscuous_enable(port_id);
  if (rc != 0 && rc != -ENOTSUP) {
    why = "promiscuous mode: " + rte_error(rc);
    return false;
  }
  return true;
}

// Undoes a failed attempt: stop, close, unplug our vdev, free the pool, and clear the
// promiscuous flag the PMD may already have set.
void release_ethdev(std::uint16_t port_id, const std::string& vdev, rte_mempool* pool,
                    const KernelInterface* kif, bool was_promiscuous) {
  (void)rte_eth_dev_stop(port_id);
  (void)rte_eth_dev_close(port_id);
  if (!vdev.empty()) (void)rte_eal_hotplug_remove("vdev", vdev.c_str());
  if (pool != nullptr) rte_mempool_free(pool);
  if (kif != nullptr && !was_promiscuous) kif->clear_promiscuous();
}

// Hot-plugs one vdev of driver `d` onto the kernel interface and starts it. On success
// the port owns `kif`; on failure everything is undone and `why` says what failed.
std::unique_ptr<PacketIo> attach_vdev(const PortOptions& opts, VdevDriver d,
                                      std::unique_ptr<KernelInterface>& kif, bool was_promiscuous,
                                      std::uint32_t mtu, const std::string& note, std::string& why) {
  const unsigned serial = g_port_serial.fetch_add(1);
  const VdevSpec spec = vdev_spec(d, opts.name, mtu, serial);
  const int rc = rte_eal_hotplug_add("vdev", spec.name.c_str(), spec.args.c_str());
  if (rc != 0) {
    why = "cannot attach a DPDK " + std::string(vdev_driver_name(d)) + " vdev (" + rte_error(rc) +
          "); needs root" +
          (d == VdevDriver::af_xdp ? " (CAP_NET_ADMIN and CAP_BPF) and a kernel with XDP sockets"
                                   : " or CAP_NET_RAW");
    return nullptr;
  }
  std::uint16_t port_id = 0;
  if (rte_eth_dev_get_port_by_name(spec.name.c_str(), &port_id) != 0) {
    (void)rte_eal_hotplug_remove("vdev", spec.name.c_str());
    why = "the " + std::string(vdev_driver_name(d)) + " vdev created no ethdev";
    return nullptr;
  }
  rte_mempool* pool = nullptr;
  if (!start_ethdev(port_id, opts, serial, spec.frame_room, pool, why)) {
    why = std::string(vdev_driver_name(d)) + " vdev " + why;
    release_ethdev(port_id, spec.name, pool, kif.get(), was_promiscuous);
    return nullptr;
  }
  return std::make_unique<DpdkPort>(opts, port_id, pool, spec.name, std::move(kif), was_promiscuous, mtu,
                                    spec.frame_room, note);
}

// A device named in the config (PCI address or a vdev from eal_args).
std::unique_ptr<PacketIo> open_named_device(const PortOptions& opts, const std::string& label,
                                            std::string& error) {
  std::uint16_t port_id = 0;
  if (rte_eth_dev_get_port_by_name(opts.dpdk_device.c_str(), &port_id) != 0) {
    // Not probed at EAL start (e.g. --no-pci): try a hot-plug by its name.
    if (rte_dev_probe(opts.dpdk_device.c_str()) != 0 ||
        rte_eth_dev_get_port_by_name(opts.dpdk_device.c_str(), &port_id) != 0) {
      error = "dpdk device '" + opts.dpdk_device +
              "' not found: bind it to vfio-pci and allow it in eal_args (-a " + opts.dpdk_device + ")";
      return nullptr;
    }
  }
  std::uint16_t dev_mtu = RTE_ETHER_MTU;
  (void)rte_eth_dev_get_mtu(port_id, &dev_mtu);
  const std::uint32_t mtu = dev_mtu;
  const std::uint32_t frame_room = std::max<std::uint32_t>(2048, mtu + 22);
  // A vdev over a kernel interface (net_af_xdp, or an af_packet vdev from eal_args):
  // remember its promiscuity before we enable it (the PMD never takes it back) and read
  // the carrier from the kernel. A PCI device bound to vfio-pci has no if_index.
  std::unique_ptr<KernelInterface> kif;
  bool was_promiscuous = false;
  rte_eth_dev_info dev_info{};
  char ifname[IF_NAMESIZE] = {};
  if (rte_eth_dev_info_get(port_id, &dev_info) == 0 && dev_info.if_index != 0 &&
      ::if_indextoname(dev_info.if_index, ifname) != nullptr) {
    kif = std::make_unique<KernelInterface>(ifname);
    const int flags = kif->valid() ? kif->flags() : -1;
    if (flags >= 0) {
      was_promiscuous = (flags & IFF_PROMISC) != 0;
    } else {
      kif.reset();
    }
  }
  rte_mempool* pool = nullptr;
  std::string why;
  if (!start_ethdev(port_id, opts, g_port_serial.fetch_add(1), frame_room, pool, why)) {
    error = "dpdk port '" + label + "': " + why;
    release_ethdev(port_id, "", pool, kif.get(), was_promiscuous);
    return nullptr;
  }
  return std::make_unique<DpdkPort>(opts, port_id, pool, "", std::move(kif), was_promiscuous, mtu, frame_room,
                                    "");
}

}  // namespace

namespace detail {

std::vector<std::string> default_eal_args() {
  int cpu = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) {
        cpu = c;
        break;
      }
    }
  }
  return io::default_eal_args(cpu, static_cast<long>(::getpid()));
}

std::unique_ptr<PacketIo> open_dpdk_port(const PortOptions& opts, std::string& error) {
  const std::string label = opts.name.empty() ? opts.dpdk_device : opts.name;
  if (label.empty()) {
    error = "dpdk port needs an interface name or a dpdk device";
    return nullptr;
  }
  if (!opts.dpdk_device.empty()) {
    if (!Eal::instance().ensure(opts.eal_args, error)) return nullptr;
    return open_named_device(opts, label, error);
  }
  if (opts.name.size() >= IFNAMSIZ || ::if_nametoindex(opts.name.c_str()) == 0) {
    error = "interface '" + opts.name + "' not found";
    return nullptr;
  }
  auto kif = std::make_unique<KernelInterface>(opts.name);
  const int flags = kif->valid() ? kif->flags() : -1;
  if (flags < 0) {
    error = "interface '" + opts.name + "': cannot read its flags: " + std::strerror(errno);
    return nullptr;
  }
  if ((flags & IFF_UP) == 0) {
    error = "interface '" + opts.name + "' is down: ip link set " + opts.name + " up";
    return nullptr;
  }
  const bool was_promiscuous = (flags & IFF_PROMISC) != 0;
  const std::uint32_t mtu = kif->mtu();
  const auto plan = plan_vdev_attempts(opts.dpdk_vdev, AttachFacts{mtu, kif->rx_queues(), opts.mbufs});
  if (!plan) {
    error = "dpdk port '" + label + "': unknown vdev driver '" + opts.dpdk_vdev +
            "' (expected auto, af_xdp or af_packet)";
    return nullptr;
  }
  if (!Eal::instance().ensure(opts.eal_args, error)) return nullptr;

  // "auto": af_xdp first; what made it unusable becomes the port's driver note.
  std::string note;
  for (std::size_t i = 0; i < plan->size(); ++i) {
    const VdevAttempt& attempt = (*plan)[i];
    std::string why = attempt.skip_reason;
    if (why.empty()) {
      auto port = attach_vdev(opts, attempt.driver, kif, was_promiscuous, mtu, note, why);
      if (port) return port;
    }
    if (i + 1 == plan->size()) {
      error = "interface '" + opts.name + "': " + why;
      return nullptr;
    }
    if (!note.empty()) note += "; ";
    note += std::string(vdev_driver_name(attempt.driver)) + " not used: " + why;
  }
  error = "interface '" + opts.name + "': no vdev driver to try";
  return nullptr;
}

}  // namespace detail
}  // namespace ftproxy::io
