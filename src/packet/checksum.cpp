#include "ftproxy/packet/checksum.hpp"

#include "ftproxy/common/bytes.hpp"

namespace ftproxy::packet {

namespace {

std::uint32_t fold32(std::uint64_t sum) noexcept {
  while ((sum >> 32) != 0) sum = (sum & 0xFFFFFFFFull) + (sum >> 32);
  return static_cast<std::uint32_t>(sum);
}

std::uint16_t fold16(std::uint32_t sum) noexcept {
  while ((sum >> 16) != 0) sum = (sum & 0xFFFFu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint16_t field16(std::uint16_t v) noexcept {
  return static_cast<std::uint16_t>(~v);
}

// Pseudo-header sum (RFC 793/768 for IPv4, RFC 8200 section 8.1 for IPv6).
std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept {
  std::uint64_t sum = 0;
  const std::uint8_t* ip = frame.data() + f.l3_offset;
  if (f.l3 == L3Kind::ipv4) {
    sum = checksum_add(std::span(ip + 12, 8));
    sum += f.ip_proto;
    sum += f.l4_length;
  } else {
    sum = checksum_add(std::span(ip + 8, 32));
    sum += f.l4_length >> 16;
    sum += f.l4_length & 0xFFFFu;
    sum += f.ip_proto;
  }
  return fold32(sum);
}

bool has_l4_checksum(const ParsedFrame& f) noexcept {
  return (f.l3 == L3Kind::ipv4 || f.l3 == L3Kind::ipv6) &&
         (f.l4 == L4Kind::tcp || f.l4 == L4Kind::udp || f.l4 == L4Kind::icmp || f.l4 == L4Kind::icmpv6) &&
         f.is_first_fragment;
}

// Unfolded sum of the L4 bytes plus pseudo-header (ICMPv4 has none), checksum field included.
std::uint32_t l4_sum_with_field(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept {
  std::uint64_t sum = checksum_add(frame.subspan(f.l4_offset, f.l4_length));
  if (f.l4 != L4Kind::icmp) sum += pseudo_header_sum(frame, f);
  return fold32(sum);
}

}  // namespace

std::uint32_t checksum_add(std::span<const std::uint8_t> bytes, std::uint32_t sum) noexcept {
  std::uint64_t acc = sum;
  const std::size_t n = bytes.size();
  const std::uint8_t* p = bytes.data();
  std::size_t i = 0;
  for (; i + 1 < n; i += 2) acc += load_be16(p + i);
  if (i < n) acc += std::uint32_t{p[i]} << 8;
  return fold32(acc);
}

std::uint16_t checksum_finish(std::uint32_t sum) noexcept {
  return field16(fold16(sum));
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) noexcept {
  return checksum_finish(checksum_add(bytes));
}

std::uint16_t checksum_update16(std::uint16_t csum, std::uint16_t old_val, std::uint16_t new_val) noexcept {
  // HC' = ~(~HC + ~m + m')
  const std::uint32_t sum = std::uint32_t{field16(csum)} + field16(old_val) + new_val;
  return field16(fold16(sum));
}

std::uint16_t checksum_update32(std::uint16_t csum, std::uint32_t old_val, std::uint32_t new_val) noexcept {
  const std::uint32_t sum =
      std::uint32_t{field16(csum)} + field16(static_cast<std::uint16_t>(old_val >> 16)) +
      field16(static_cast<std::uint16_t>(old_val)) + (new_val >> 16) + (new_val & 0xFFFFu);
  return field16(fold16(sum));
}

void rewrite32_with_checksum(std::span<std::uint8_t> frame, std::size_t field_offset, std::size_t csum_offset,
                             std::uint32_t new_val) noexcept {
  std::uint8_t* p = frame.data();
  const std::uint16_t csum = load_be16(p + csum_offset);
  const bool aligned = ((field_offset ^ csum_offset) & 1u) == 0;
  if (aligned) {
    const std::uint32_t old_val = load_be32(p + field_offset);
    store_be32(p + field_offset, new_val);
    store_be16(p + csum_offset, checksum_update32(csum, old_val, new_val));
    return;
  }
  // The field straddles the checksum's 16-bit words (e.g. a timestamp option after a
  // 3-byte window-scale option): update the three words it touches. Neighbouring bytes
  // are unchanged, so one outside the frame may be taken as zero.
  const std::size_t start = field_offset - 1;
  auto byte_at = [&](std::size_t i) -> std::uint32_t { return i < frame.size() ? p[i] : 0u; };
  auto word_at = [&](std::size_t i) -> std::uint32_t { return (byte_at(i) << 8) | byte_at(i + 1); };
  std::uint32_t sum = field16(csum);
  for (std::size_t w = 0; w < 3; ++w) sum += field16(static_cast<std::uint16_t>(word_at(start + 2 * w)));
  store_be32(p + field_offset, new_val);
  for (std::size_t w = 0; w < 3; ++w) sum += word_at(start + 2 * w);
  store_be16(p + csum_offset, field16(fold16(sum)));
}

std::size_t l4_checksum_offset(const ParsedFrame& f) noexcept {
  switch (f.l4) {
    case L4Kind::tcp:
      return std::size_t{f.l4_offset} + 16;
    case L4Kind::udp:
      return std::size_t{f.l4_offset} + 6;
    case L4Kind::icmp:
    case L4Kind::icmpv6:
      return std::size_t{f.l4_offset} + 2;
    case L4Kind::none:
    case L4Kind::other:
      break;
  }
  return 0;
}

std::uint16_t compute_l4_checksum(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept {
  if (!has_l4_checksum(f)) return 0;
  // Sum around the checksum field rather than subtracting it afterwards: subtraction
  // turns an all-zero ICMP message's +0 into -0 and yields 0x0000 instead of 0xFFFF.
  const std::size_t field = l4_checksum_offset(f) - f.l4_offset;
  const auto l4 = frame.subspan(f.l4_offset, f.l4_length);
  std::uint64_t sum = checksum_add(l4.first(field));
  sum += checksum_add(l4.subspan(field + 2));
  if (f.l4 != L4Kind::icmp) sum += pseudo_header_sum(frame, f);
  std::uint16_t csum = checksum_finish(fold32(sum));
  // UDP transmits a computed zero as all ones (zero means "no checksum").
  if (f.l4 == L4Kind::udp && csum == 0) csum = 0xFFFF;
  return csum;
}

bool l4_checksum_ok(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept {
  if (!has_l4_checksum(f)) return false;
  if (f.l4 == L4Kind::udp && f.l3 == L3Kind::ipv4 && load_be16(frame.data() + l4_checksum_offset(f)) == 0) {
    return true;
  }
  return fold16(l4_sum_with_field(frame, f)) == 0xFFFF;
}

void fix_l4_checksum(std::span<std::uint8_t> frame, const ParsedFrame& f) noexcept {
  if (!has_l4_checksum(f)) return;
  const std::uint16_t csum = compute_l4_checksum(frame, f);
  store_be16(frame.data() + l4_checksum_offset(f), csum);
}

bool ipv4_checksum_ok(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept {
  if (f.l3 != L3Kind::ipv4 || frame.size() <= f.l3_offset) return false;
  const std::size_t ihl = std::size_t{frame[f.l3_offset] & 0x0Fu} * 4;
  if (ihl < 20 || ihl > frame.size() - f.l3_offset) return false;
  return fold16(checksum_add(frame.subspan(f.l3_offset, ihl))) == 0xFFFF;
}

}  // namespace ftproxy::packet
