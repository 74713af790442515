// Hand-built frames for parser and checksum tests. Independent of the code under test:
// lengths and the IPv4 header checksum are filled in here, L4 checksums by a naive
// reference sum (reference_l4_checksum).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace ftproxy::packet::test {

using Bytes = std::vector<std::uint8_t>;

inline void append16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void append32(Bytes& b, std::uint32_t v) {
  append16(b, static_cast<std::uint16_t>(v >> 16));
  append16(b, static_cast<std::uint16_t>(v));
}
inline void put16(Bytes& b, std::size_t off, std::uint16_t v) {
  b[off] = static_cast<std::uint8_t>(v >> 8);
  b[off + 1] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get16(const Bytes& b, std::size_t off) {
  return static_cast<std::uint16_t>((b[off] << 8) | b[off + 1]);
}
inline std::uint32_t get32(const Bytes& b, std::size_t off) {
  return (std::uint32_t{get16(b, off)} << 16) | get16(b, off + 2);
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Naive RFC 1071 sum, folded, not complemented.
inline std::uint16_t reference_sum(const Bytes& b, std::size_t off, std::size_t len, std::uint64_t sum = 0) {
  for (std::size_t i = 0; i < len; ++i) {
    sum += (i % 2 == 0) ? std::uint64_t{b[off + i]} << 8 : b[off + i];
  }
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

using Tag = std::pair<std::uint16_t, std::uint16_t>;  // (TPID, TCI)

inline Bytes eth(std::uint16_t ethertype, std::initializer_list<Tag> tags = {}) {
  Bytes b = {0x02, 0, 0, 0, 0x01, 0, 0x02, 0, 0, 0, 0x02, 0};
  for (const auto& [tpid, tci] : tags) {
    append16(b, tpid);
    append16(b, tci);
  }
  append16(b, ethertype);
  return b;
}

// TCP header with `options` (padded with EOL to a multiple of 4) and no payload.
inline Bytes tcp(std::uint32_t seq, std::uint32_t ack, std::uint8_t flags, Bytes options = {},
                 std::uint16_t sport = 40000, std::uint16_t dport = 80) {
  while (options.size() % 4 != 0) options.push_back(0);
  Bytes b;
  append16(b, sport);
  append16(b, dport);
  append32(b, seq);
  append32(b, ack);
  b.push_back(static_cast<std::uint8_t>(((20 + options.size()) / 4) << 4));
  b.push_back(flags);
  append16(b, 8192);  // window
  append16(b, 0);     // checksum
  append16(b, 0);     // urgent pointer
  b.insert(b.end(), options.begin(), options.end());
  return b;
}

inline Bytes udp(const Bytes& payload, std::uint16_t sport = 5000, std::uint16_t dport = 6000) {
  Bytes b;
  append16(b, sport);
  append16(b, dport);
  append16(b, static_cast<std::uint16_t>(8 + payload.size()));
  append16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline constexpr std::uint8_t kSrc4[4] = {10, 0, 0, 2};
inline constexpr std::uint8_t kDst4[4] = {10, 0, 0, 1};

// IPv4 packet around `l4`, with header options and fragment field; header checksum set.
inline Bytes ipv4(std::uint8_t proto, const Bytes& l4, Bytes options = {}, std::uint16_t frag = 0) {
  while (options.size() % 4 != 0) options.push_back(0);
  const std::size_t ihl = 20 + options.size();
  Bytes b;
  b.push_back(static_cast<std::uint8_t>(0x40 | (ihl / 4)));
  b.push_back(0);
  append16(b, static_cast<std::uint16_t>(ihl + l4.size()));
  append16(b, 0x1234);  // id
  append16(b, frag);
  b.push_back(64);
  b.push_back(proto);
  append16(b, 0);
  b.insert(b.end(), kSrc4, kSrc4 + 4);
  b.insert(b.end(), kDst4, kDst4 + 4);
  b.insert(b.end(), options.begin(), options.end());
  put16(b, 10, static_cast<std::uint16_t>(~reference_sum(b, 0, ihl)));
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// IPv6 packet: `first_next` names the first header in `rest` (extension headers + L4).
inline Bytes ipv6(std::uint8_t first_next, const Bytes& rest) {
  Bytes b;
  append32(b, 0x60000000);
  append16(b, static_cast<std::uint16_t>(rest.size()));
  b.push_back(first_next);
  b.push_back(64);
  for (int i = 0; i < 2; ++i) {  // 2001:db8::2 then 2001:db8::1
    const std::uint8_t last = i == 0 ? 2 : 1;
    Bytes a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
    b.insert(b.end(), a.begin(), a.end());
  }
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

// An 8-byte-unit extension header (hop-by-hop, routing, destination options) of
// (units + 1) * 8 bytes, filled with PadN-like zeros.
inline Bytes ext_header(std::uint8_t next, std::uint8_t units = 0) {
  Bytes b(static_cast<std::size_t>(units + 1) * 8, 0);
  b[0] = next;
  b[1] = units;
  return b;
}
inline Bytes frag_header(std::uint8_t next, std::uint16_t offset_units, bool more) {
  Bytes b = {next, 0};
  append16(b, static_cast<std::uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  append32(b, 0xABCD);
  return b;
}
// Authentication header with `words` 32-bit words after the first two (AH length = words).
inline Bytes ah_header(std::uint8_t next, std::uint8_t words = 4) {
  Bytes b(static_cast<std::size_t>(words + 2) * 4, 0);
  b[0] = next;
  b[1] = words;
  return b;
}

// Reference L4 checksum of a frame whose IP header starts at l3 (IPv4 or IPv6, no IPv6
// extension headers), L4 at l4 of l4_len bytes, with the checksum at csum_off zeroed.
inline std::uint16_t reference_l4_checksum(Bytes frame, std::size_t l3, std::size_t l4, std::size_t l4_len,
                                           std::size_t csum_off, std::uint8_t proto, bool pseudo = true) {
  frame[csum_off] = frame[csum_off + 1] = 0;
  std::uint64_t sum = 0;
  if (pseudo) {
    const bool v4 = (frame[l3] >> 4) == 4;
    Bytes ph;
    if (v4) {
      ph.insert(ph.end(), frame.begin() + static_cast<long>(l3 + 12),
                frame.begin() + static_cast<long>(l3 + 20));
      ph.push_back(0);
      ph.push_back(proto);
      append16(ph, static_cast<std::uint16_t>(l4_len));
    } else {
      ph.insert(ph.end(), frame.begin() + static_cast<long>(l3 + 8),
                frame.begin() + static_cast<long>(l3 + 40));
      append32(ph, static_cast<std::uint32_t>(l4_len));
      append32(ph, proto);
    }
    sum = reference_sum(ph, 0, ph.size());
  }
  return static_cast<std::uint16_t>(~reference_sum(frame, l4, l4_len, sum));
}

}  // namespace ftproxy::packet::test
