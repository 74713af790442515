// Neighbours (IP → MAC) the backup proxy learns from mirrored client frames, so it can
// answer its own server's ARP requests, which must not reach the LAN while it is backup
// (DESIGN.md §5). Fixed capacity, no allocation after construction; when full the least
// recently refreshed entry is replaced. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "ftproxy/common/time.hpp"
#include "ftproxy/packet/addr.hpp"

namespace ftproxy::node {

class NeighbourTable {
 public:
  explicit NeighbourTable(std::size_t capacity = 1024) : entries_(capacity == 0 ? 1 : capacity) {}

  void learn(const packet::IpAddr& ip, const packet::MacAddr& mac, std::uint16_t vlan,
             MonoTime now) noexcept {
    if (ip.family == packet::IpAddr::Family::none || mac.is_multicast() || mac.is_zero()) return;
    // Most frames come from the same few clients: refresh the last hit without a scan,
    // at most once per 100 ms.
    if (last_ != nullptr && last_->ip == ip && last_->vlan == vlan && last_->mac == mac) {
      if (now - last_->seen > milliseconds(100)) last_->seen = now;
      return;
    }
    Entry* victim = &entries_[0];
    for (auto& e : entries_) {
      if (e.used && e.ip == ip && e.vlan == vlan) {
        e.mac = mac;
        e.seen = now;
        last_ = &e;
        return;
      }
      if (!e.used) {
        victim = &e;
        break;
      }
      if (e.seen < victim->seen) victim = &e;
    }
    if (victim->used) ++replaced_;
    *victim = Entry{true, ip, mac, vlan, now};
    last_ = victim;
  }

  std::optional<packet::MacAddr> find(const packet::IpAddr& ip, std::uint16_t vlan) const noexcept {
    for (const auto& e : entries_)
      if (e.used && e.ip == ip && e.vlan == vlan) return e.mac;
    return std::nullopt;
  }

  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const auto& e : entries_) n += e.used ? 1 : 0;
    return n;
  }
  std::uint64_t replaced() const noexcept { return replaced_; }

 private:
  struct Entry {
    bool used = false;
    packet::IpAddr ip;
    packet::MacAddr mac;
    std::uint16_t vlan = 0;
    MonoTime seen{0};
  };
  std::vector<Entry> entries_;
  Entry* last_ = nullptr;
  std::uint64_t replaced_ = 0;
};

}  // namespace ftproxy::node
