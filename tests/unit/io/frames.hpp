// Test frames for the io unit tests: Ethernet frames with a sequence number in the payload.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace ftproxy::io::test {

inline constexpr std::uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental

// A frame of `len` bytes (>= 18): dst, src, [VLAN tag], ethertype 0x88b5, 4-byte seq, pattern.
inline std::vector<std::uint8_t> make_frame(std::uint32_t seq, std::size_t len, bool vlan = false,
                                            std::uint8_t src_last = 0x01) {
  std::vector<std::uint8_t> f(len, 0);
  const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0xee};
  const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, src_last};
  std::memcpy(f.data(), dst, 6);
  std::memcpy(f.data() + 6, src, 6);
  std::size_t off = 12;
  if (vlan) {
    f[off] = 0x81;
    f[off + 1] = 0x00;
    f[off + 2] = 0x00;
    f[off + 3] = 0x07;  // VID 7
    off += 4;
  }
  f[off] = kTestEtherType >> 8;
  f[off + 1] = kTestEtherType & 0xff;
  off += 2;
  for (int i = 0; i < 4 && off + i < len; ++i) f[off + i] = static_cast<std::uint8_t>(seq >> (24 - 8 * i));
  for (std::size_t i = off + 4; i < len; ++i) f[i] = static_cast<std::uint8_t>(i * 7 + seq);
  return f;
}

// The sequence number of a test frame, or -1 when it is not one (other traffic).
inline std::int64_t test_seq(const std::uint8_t* p, std::size_t len) {
  std::size_t off = 12;
  if (len >= 16 && p[12] == 0x81 && p[13] == 0x00) off = 16;
  if (len < off + 6) return -1;
  if (p[off] != (kTestEtherType >> 8) || p[off + 1] != (kTestEtherType & 0xff)) return -1;
  off += 2;
  return (std::int64_t{p[off]} << 24) | (p[off + 1] << 16) | (p[off + 2] << 8) | p[off + 3];
}

}  // namespace ftproxy::io::test
