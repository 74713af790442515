// Test-local builder of Ethernet/IP/TCP frames with options. It computes its own
// checksums (plain RFC 1071 sum, independent of packet::) so tests can compare
// translated frames byte for byte with frames built from the expected field values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace ftproxy::tcp::test {

struct TcpSpec {
  bool v6 = false;
  std::optional<std::uint16_t> vlan;  // one 802.1Q tag (TCI)
  std::array<std::uint8_t, 16> src_ip{10, 0, 0, 1};
  std::array<std::uint8_t, 16> dst_ip{10, 0, 0, 2};
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 6379;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0x10;  // ACK
  std::uint16_t window = 502;
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> wscale;
  bool sack_permitted = false;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> ts;  // TSval, TSecr
  bool ts_unaligned = false;  // one NOP before the timestamp option (TSval at an odd offset)
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sack;  // up to 3 with ts, 4 without
  std::vector<std::uint8_t> payload;

  // The same flow seen from the other end.
  TcpSpec reply() const {
    TcpSpec r = *this;
    std::swap(r.src_ip, r.dst_ip);
    std::swap(r.src_port, r.dst_port);
    return r;
  }
};

inline void put16(std::vector<std::uint8_t>& v, std::size_t at, std::uint16_t x) {
  v[at] = static_cast<std::uint8_t>(x >> 8);
  v[at + 1] = static_cast<std::uint8_t>(x);
}
inline void put32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  put16(v, at, static_cast<std::uint16_t>(x >> 16));
  put16(v, at + 2, static_cast<std::uint16_t>(x));
}

inline std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) s += static_cast<std::uint32_t>((p[i] << 8) | p[i + 1]);
  if ((n & 1) != 0) s += static_cast<std::uint32_t>(p[n - 1] << 8);
  return s;
}
inline std::uint16_t fold(std::uint32_t s) {
  while ((s >> 16) != 0) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<std::uint16_t>(~s & 0xFFFF);
}

inline std::vector<std::uint8_t> build_tcp(const TcpSpec& t) {
  std::vector<std::uint8_t> opt;
  if (t.mss)
    opt.insert(opt.end(), {2, 4, static_cast<std::uint8_t>(*t.mss >> 8), static_cast<std::uint8_t>(*t.mss)});
  if (t.wscale) opt.insert(opt.end(), {1, 3, 3, *t.wscale});
  if (t.sack_permitted) opt.insert(opt.end(), {1, 1, 4, 2});
  if (t.ts) {
    if (t.ts_unaligned) {
      opt.insert(opt.end(), {1, 8, 10});
    } else {
      opt.insert(opt.end(), {1, 1, 8, 10});
    }
    for (const std::uint32_t x : {t.ts->first, t.ts->second}) {
      opt.insert(opt.end(), {static_cast<std::uint8_t>(x >> 24), static_cast<std::uint8_t>(x >> 16),
                             static_cast<std::uint8_t>(x >> 8), static_cast<std::uint8_t>(x)});
    }
  }
  if (!t.sack.empty()) {
    opt.insert(opt.end(), {1, 1, 5, static_cast<std::uint8_t>(2 + 8 * t.sack.size())});
    for (const auto& [l, r] : t.sack) {
      for (const std::uint32_t x : {l, r}) {
        opt.insert(opt.end(), {static_cast<std::uint8_t>(x >> 24), static_cast<std::uint8_t>(x >> 16),
                               static_cast<std::uint8_t>(x >> 8), static_cast<std::uint8_t>(x)});
      }
    }
  }
  while (opt.size() % 4 != 0) opt.push_back(0);  // EOL padding

  const std::size_t eth = t.vlan ? 18 : 14;
  const std::size_t ip = t.v6 ? 40 : 20;
  const std::size_t tcp_len = 20 + opt.size() + t.payload.size();
  std::vector<std::uint8_t> f(eth + ip + tcp_len, 0);
  const std::array<std::uint8_t, 6> dmac{0x02, 0, 0, 0, 0, 0x02}, smac{0x02, 0, 0, 0, 0, 0x01};
  std::copy(dmac.begin(), dmac.end(), f.begin());
  std::copy(smac.begin(), smac.end(), f.begin() + 6);
  if (t.vlan) {
    put16(f, 12, 0x8100);
    put16(f, 14, *t.vlan);
  }
  put16(f, eth - 2, t.v6 ? 0x86DD : 0x0800);

  const std::size_t l3 = eth;
  const std::size_t l4 = eth + ip;
  std::uint32_t pseudo = 0;
  if (t.v6) {
    f[l3] = 0x60;
    put16(f, l3 + 4, static_cast<std::uint16_t>(tcp_len));
    f[l3 + 6] = 6;
    f[l3 + 7] = 64;
    std::copy(t.src_ip.begin(), t.src_ip.end(), f.begin() + static_cast<long>(l3 + 8));
    std::copy(t.dst_ip.begin(), t.dst_ip.end(), f.begin() + static_cast<long>(l3 + 24));
    pseudo = sum16(&f[l3 + 8], 32);
  } else {
    f[l3] = 0x45;
    put16(f, l3 + 2, static_cast<std::uint16_t>(ip + tcp_len));
    put16(f, l3 + 4, 0x1234);
    put16(f, l3 + 6, 0x4000);  // DF
    f[l3 + 8] = 64;
    f[l3 + 9] = 6;
    std::copy(t.src_ip.begin(), t.src_ip.begin() + 4, f.begin() + static_cast<long>(l3 + 12));
    std::copy(t.dst_ip.begin(), t.dst_ip.begin() + 4, f.begin() + static_cast<long>(l3 + 16));
    put16(f, l3 + 10, fold(sum16(&f[l3], 20)));
    pseudo = sum16(&f[l3 + 12], 8);
  }
  pseudo += 6 + static_cast<std::uint32_t>(tcp_len);

  put16(f, l4, t.src_port);
  put16(f, l4 + 2, t.dst_port);
  put32(f, l4 + 4, t.seq);
  put32(f, l4 + 8, t.ack);
  f[l4 + 12] = static_cast<std::uint8_t>(((20 + opt.size()) / 4) << 4);
  f[l4 + 13] = t.flags;
  put16(f, l4 + 14, t.window);
  std::copy(opt.begin(), opt.end(), f.begin() + static_cast<long>(l4 + 20));
  std::copy(t.payload.begin(), t.payload.end(), f.begin() + static_cast<long>(l4 + 20 + opt.size()));
  put16(f, l4 + 16, fold(sum16(&f[l4], tcp_len, pseudo)));
  return f;
}

inline std::array<std::uint8_t, 16> v6addr(std::uint8_t last) {
  return {0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
}

}  // namespace ftproxy::tcp::test
