#include "ftproxy/io/memory_port.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

#include "backends.hpp"

namespace ftproxy::io {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, MemoryPort*, std::less<>> ports;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

MemoryPort::MemoryPort(MemoryPortConfig cfg)
    : max_frame_(std::max<std::uint32_t>(cfg.max_frame, 14)),
      rx_capacity_(std::max<std::uint32_t>(cfg.rx_capacity, 1)),
      tx_capacity_(std::max<std::uint32_t>(cfg.tx_capacity, 1)) {
  info_.name = cfg.name;
  info_.mtu = cfg.mtu;
  const bool zero_mac =
      std::all_of(cfg.mac.b.begin(), cfg.mac.b.end(), [](std::uint8_t x) { return x == 0; });
  info_.mac = zero_mac ? detail::mac_from_name(cfg.name) : cfg.mac;
  if (!cfg.name.empty()) {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    if (!r.ports.emplace(cfg.name, this).second) {
      throw std::invalid_argument("memory port '" + cfg.name + "' already exists");
    }
    registered_ = true;
  }
  rx_buf_.resize(static_cast<std::size_t>(rx_capacity_) * max_frame_);
  rx_len_.resize(rx_capacity_);
  tx_buf_.resize(static_cast<std::size_t>(tx_capacity_) * max_frame_);
  tx_len_.resize(tx_capacity_);
}

MemoryPort::~MemoryPort() {
  if (registered_) {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    r.ports.erase(info_.name);
  }
}

bool MemoryPort::inject_rx(std::span<const std::uint8_t> frame) noexcept {
  if (frame.size() > max_frame_) {
    rx_oversize_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::uint64_t tail = rx_tail_.load(std::memory_order_relaxed);
  const std::uint64_t head = rx_head_.load(std::memory_order_acquire);
  if (tail - head >= rx_capacity_) {
    rx_dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::size_t slot = static_cast<std::size_t>(tail % rx_capacity_);
  if (!frame.empty())
    std::memcpy(rx_buf_.data() + slot_offset(tail, rx_capacity_), frame.data(), frame.size());
  rx_len_[slot] = static_cast<std::uint32_t>(frame.size());
  rx_tail_.store(tail + 1, std::memory_order_release);
  return true;
}

std::size_t MemoryPort::rx_pending() const noexcept {
  const std::uint64_t head = rx_head_.load(std::memory_order_acquire) + rx_handed_;
  return static_cast<std::size_t>(rx_tail_.load(std::memory_order_acquire) - head);
}

void MemoryPort::refresh_stats() noexcept {
  stats_.rx_dropped = rx_dropped_.load(std::memory_order_relaxed);
  stats_.rx_oversize = rx_oversize_.load(std::memory_order_relaxed);
}

std::size_t MemoryPort::rx_burst(std::span<PacketView> out) noexcept {
  // Release the slots handed out by the previous call: their views expire now.
  const std::uint64_t head = rx_head_.load(std::memory_order_relaxed) + rx_handed_;
  rx_head_.store(head, std::memory_order_release);
  rx_handed_ = 0;
  refresh_stats();
  if (rx_fail_countdown_ != 0 && --rx_fail_countdown_ == 0) {
    ++stats_.rx_errors;
    return 0;
  }
  const std::uint64_t tail = rx_tail_.load(std::memory_order_acquire);
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(tail - head), out.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t idx = head + i;
    const std::uint32_t len = rx_len_[static_cast<std::size_t>(idx % rx_capacity_)];
    out[i] = PacketView{rx_buf_.data() + slot_offset(idx, rx_capacity_), len};
    ++stats_.rx_frames;
    stats_.rx_bytes += len;
  }
  rx_handed_ = n;
  return n;
}

std::size_t MemoryPort::tx_burst(std::span<const ConstPacketView> frames) noexcept {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const ConstPacketView& f = frames[i];
    if (tx_fail_countdown_ != 0 && --tx_fail_countdown_ == 0) {
      ++stats_.tx_errors;
      return i;
    }
    if (link_ == LinkState::down) {
      ++stats_.tx_errors;
      return i;
    }
    if (f.len < 14) {  // a runt is never retriable: consume it
      ++stats_.tx_errors;
      continue;
    }
    if (f.len > detail::max_tx_len(f.data, f.len, info_.mtu) || f.len > max_frame_) {
      ++stats_.tx_oversize;
      continue;
    }
    if (peer_ != nullptr) {
      peer_->inject_rx(f.bytes());  // a full peer queue counts the drop there, like a wire
    } else {
      if (tx_count_ == tx_capacity_) {
        ++stats_.tx_errors;
        return i;
      }
      const std::uint64_t idx = tx_first_ + tx_count_;
      std::memcpy(tx_buf_.data() + slot_offset(idx, tx_capacity_), f.data, f.len);
      tx_len_[static_cast<std::size_t>(idx % tx_capacity_)] = f.len;
      ++tx_count_;
    }
    ++stats_.tx_frames;
    stats_.tx_bytes += f.len;
  }
  return frames.size();
}

std::vector<std::vector<std::uint8_t>> MemoryPort::tx_frames() const {
  std::vector<std::vector<std::uint8_t>> out;
  out.reserve(tx_count_);
  for (std::size_t i = 0; i < tx_count_; ++i) {
    const std::uint64_t idx = tx_first_ + i;
    const std::uint8_t* p = tx_buf_.data() + slot_offset(idx, tx_capacity_);
    out.emplace_back(p, p + tx_len_[static_cast<std::size_t>(idx % tx_capacity_)]);
  }
  return out;
}

std::vector<std::vector<std::uint8_t>> MemoryPort::take_tx() {
  auto out = tx_frames();
  tx_first_ += tx_count_;
  tx_count_ = 0;
  return out;
}

void connect(MemoryPort& a, MemoryPort& b) noexcept {
  a.set_peer(&b);
  b.set_peer(&a);
}

MemoryPort* find_memory_port(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.ports.find(name);
  return it == r.ports.end() ? nullptr : it->second;
}

namespace detail {

std::unique_ptr<PacketIo> open_memory_port(const PortOptions& opts, std::string& error) {
  if (opts.name.empty()) {
    error = "memory port needs a name";
    return nullptr;
  }
  MemoryPortConfig cfg;
  cfg.name = opts.name;
  cfg.max_frame = opts.snaplen;
  try {
    return std::make_unique<MemoryPort>(std::move(cfg));
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
}

}  // namespace detail
}  // namespace ftproxy::io
