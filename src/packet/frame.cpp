#include "ftproxy/packet/frame.hpp"

#include <cstring>

#include "ftproxy/common/bytes.hpp"

namespace ftproxy::packet {

namespace {

constexpr std::size_t kArpLen = 28;
constexpr std::size_t kIpv4MinHeaderLen = 20;
constexpr std::size_t kIpv6HeaderLen = 40;
constexpr std::size_t kTcpMinHeaderLen = 20;
constexpr std::size_t kUdpHeaderLen = 8;
constexpr std::size_t kIcmpHeaderLen = 4;  // type, code, checksum; the rest is message body
// Bounds the work per frame on hostile chains; real traffic carries at most a few.
constexpr int kMaxIpv6ExtHeaders = 8;

constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6Ah = 51;
constexpr std::uint8_t kIpv6NoNext = 59;
constexpr std::uint8_t kIpv6DestOpts = 60;

constexpr std::uint8_t kTcpOptEol = 0;
constexpr std::uint8_t kTcpOptNop = 1;
constexpr std::uint8_t kTcpOptMss = 2;
constexpr std::uint8_t kTcpOptWscale = 3;
constexpr std::uint8_t kTcpOptSackPermitted = 4;
constexpr std::uint8_t kTcpOptSack = 5;
constexpr std::uint8_t kTcpOptTimestamp = 8;
constexpr std::size_t kMaxSackBlocks = 4;

MacAddr mac_at(const std::uint8_t* p) noexcept {
  MacAddr m;
  std::memcpy(m.b.data(), p, 6);
  return m;
}

// Parses options in [begin, end) of the frame; `end` is the TCP header end.
ParseStatus parse_tcp_options(const std::uint8_t* base, std::size_t begin, std::size_t end,
                              TcpOptions& opt) noexcept {
  std::size_t i = begin;
  while (i < end) {
    const std::uint8_t kind = base[i];
    if (kind == kTcpOptEol) break;
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= end) return ParseStatus::bad_tcp_option;
    const std::size_t len = base[i + 1];
    if (len < 2 || i + len > end) return ParseStatus::bad_tcp_option;
    const std::uint8_t* p = base + i;
    switch (kind) {
      case kTcpOptMss:
        if (len != 4) return ParseStatus::bad_tcp_option;
        opt.has_mss = true;
        opt.mss = load_be16(p + 2);
        break;
      case kTcpOptWscale:
        if (len != 3) return ParseStatus::bad_tcp_option;
        opt.has_wscale = true;
        opt.wscale = p[2];
        break;
      case kTcpOptSackPermitted:
        if (len != 2) return ParseStatus::bad_tcp_option;
        opt.sack_permitted = true;
        break;
      case kTcpOptSack: {
        if (len < 10 || (len - 2) % 8 != 0) return ParseStatus::bad_tcp_option;
        const std::size_t blocks = (len - 2) / 8;
        if (blocks > kMaxSackBlocks) return ParseStatus::bad_tcp_option;
        opt.sack_blocks = static_cast<std::uint8_t>(blocks);
        opt.sack_offset = static_cast<std::uint16_t>(i + 2);
        break;
      }
      case kTcpOptTimestamp:
        if (len != 10) return ParseStatus::bad_tcp_option;
        opt.has_timestamp = true;
        opt.ts_offset = static_cast<std::uint16_t>(i + 2);
        opt.tsval = load_be32(p + 2);
        opt.tsecr = load_be32(p + 6);
        break;
      default:
        break;  // unknown options are skipped by their length
    }
    i += len;
  }
  return ParseStatus::ok;
}

void set_l4(ParsedFrame& out, L4Kind kind, std::size_t l4_offset, std::size_t l4_length,
            std::size_t header_len) noexcept {
  out.l4 = kind;
  out.l4_offset = static_cast<std::uint16_t>(l4_offset);
  out.l4_length = static_cast<std::uint32_t>(l4_length);
  out.payload_offset = static_cast<std::uint16_t>(l4_offset + header_len);
  out.payload_len = static_cast<std::uint32_t>(l4_length - header_len);
}

// L4 starts at frame offset `off` and runs to out.ip_end (<= frame size).
ParseStatus parse_l4(const std::uint8_t* base, std::size_t off, ParsedFrame& out) noexcept {
  const std::size_t l4_len = out.ip_end - off;
  const std::uint8_t* p = base + off;
  const bool v4 = out.l3 == L3Kind::ipv4;
  switch (out.ip_proto) {
    case kIpProtoTcp: {
      if (l4_len < kTcpMinHeaderLen) return ParseStatus::truncated_tcp;
      const std::size_t hl = (std::size_t{p[12]} >> 4) * 4;
      if (hl < kTcpMinHeaderLen || hl > l4_len) return ParseStatus::bad_tcp_data_offset;
      TcpView& t = out.tcp;
      t.src_port = load_be16(p);
      t.dst_port = load_be16(p + 2);
      t.seq = load_be32(p + 4);
      t.ack = load_be32(p + 8);
      t.flags = p[13];
      t.window = load_be16(p + 14);
      t.header_len = static_cast<std::uint16_t>(hl);
      const ParseStatus s = parse_tcp_options(base, off + kTcpMinHeaderLen, off + hl, t.opt);
      if (s != ParseStatus::ok) return s;
      set_l4(out, L4Kind::tcp, off, l4_len, hl);
      return ParseStatus::ok;
    }
    case kIpProtoUdp: {
      if (l4_len < kUdpHeaderLen) return ParseStatus::truncated_udp;
      UdpView& u = out.udp;
      u.src_port = load_be16(p);
      u.dst_port = load_be16(p + 2);
      u.length = load_be16(p + 4);
      // A first fragment carries only part of the datagram the length field describes.
      const bool length_ok = out.is_fragment ? u.length >= l4_len : u.length == l4_len;
      if (!length_ok) return ParseStatus::bad_udp_length;
      set_l4(out, L4Kind::udp, off, l4_len, kUdpHeaderLen);
      return ParseStatus::ok;
    }
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      const bool matches_family = (out.ip_proto == kIpProtoIcmp) == v4;
      if (!matches_family) break;
      if (l4_len < kIcmpHeaderLen) return ParseStatus::truncated_icmp;
      out.icmp.type = p[0];
      out.icmp.code = p[1];
      set_l4(out, v4 ? L4Kind::icmp : L4Kind::icmpv6, off, l4_len, kIcmpHeaderLen);
      return ParseStatus::ok;
    }
    default:
      break;
  }
  set_l4(out, L4Kind::other, off, l4_len, 0);
  return ParseStatus::ok;
}

ParseStatus parse_ipv4(const std::uint8_t* base, std::size_t size, std::size_t off,
                       ParsedFrame& out) noexcept {
  out.l3 = L3Kind::ipv4;
  if (size - off < kIpv4MinHeaderLen) return ParseStatus::truncated_ipv4;
  const std::uint8_t* p = base + off;
  if ((p[0] >> 4) != 4) return ParseStatus::bad_ipv4_version;
  const std::size_t ihl = std::size_t{p[0] & 0x0Fu} * 4;
  if (ihl < kIpv4MinHeaderLen || ihl > size - off) return ParseStatus::bad_ipv4_header_length;
  const std::size_t total = load_be16(p + 2);
  if (total < ihl || total > size - off) return ParseStatus::bad_ipv4_total_length;
  const std::uint16_t frag = load_be16(p + 6);
  const bool more_fragments = (frag & 0x2000) != 0;
  const std::uint16_t frag_offset = frag & 0x1FFF;
  out.is_fragment = more_fragments || frag_offset != 0;
  out.is_first_fragment = frag_offset == 0;
  out.ttl = p[8];
  out.ip_proto = p[9];
  out.src_ip = IpAddr::from_v4_bytes(p + 12);
  out.dst_ip = IpAddr::from_v4_bytes(p + 16);
  out.ip_end = static_cast<std::uint32_t>(off + total);
  if (!out.is_first_fragment) return ParseStatus::ok;
  return parse_l4(base, off + ihl, out);
}

ParseStatus parse_ipv6(const std::uint8_t* base, std::size_t size, std::size_t off,
                       ParsedFrame& out) noexcept {
  out.l3 = L3Kind::ipv6;
  if (size - off < kIpv6HeaderLen) return ParseStatus::truncated_ipv6;
  const std::uint8_t* p = base + off;
  if ((p[0] >> 4) != 6) return ParseStatus::bad_ipv6_version;
  const std::size_t payload_len = load_be16(p + 4);
  if (payload_len > size - off - kIpv6HeaderLen) return ParseStatus::bad_ipv6_payload_length;
  out.ttl = p[7];
  out.src_ip = IpAddr::from_v6_bytes(p + 8);
  out.dst_ip = IpAddr::from_v6_bytes(p + 24);
  const std::size_t end = off + kIpv6HeaderLen + payload_len;
  out.ip_end = static_cast<std::uint32_t>(end);

  std::uint8_t next = p[6];
  std::size_t cur = off + kIpv6HeaderLen;
  int count = 0;
  while (next == kIpv6HopByHop || next == kIpv6Routing || next == kIpv6Fragment || next == kIpv6DestOpts ||
         next == kIpv6Ah) {
    if (++count > kMaxIpv6ExtHeaders) return ParseStatus::bad_ipv6_extension;
    if (end - cur < 8) return ParseStatus::bad_ipv6_extension;
    const std::uint8_t* h = base + cur;
    std::size_t len;
    if (next == kIpv6Fragment) {
      len = 8;
      const std::uint16_t frag = load_be16(h + 2);
      out.is_fragment = true;
      out.is_first_fragment = (frag >> 3) == 0;
    } else if (next == kIpv6Ah) {
      len = (std::size_t{h[1]} + 2) * 4;  // AH counts 4-byte units minus 2
    } else {
      len = (std::size_t{h[1]} + 1) * 8;
    }
    if (len > end - cur) return ParseStatus::bad_ipv6_extension;
    next = h[0];
    cur += len;
  }
  out.ip_proto = next;
  if (!out.is_first_fragment) return ParseStatus::ok;
  if (next == kIpv6NoNext) {
    set_l4(out, L4Kind::other, cur, end - cur, 0);
    return ParseStatus::ok;
  }
  return parse_l4(base, cur, out);
}

}  // namespace

const char* to_string(ParseStatus s) noexcept {
  switch (s) {
    case ParseStatus::ok:
      return "ok";
    case ParseStatus::truncated_ethernet:
      return "truncated_ethernet";
    case ParseStatus::truncated_vlan:
      return "truncated_vlan";
    case ParseStatus::too_many_vlan_tags:
      return "too_many_vlan_tags";
    case ParseStatus::truncated_arp:
      return "truncated_arp";
    case ParseStatus::bad_arp:
      return "bad_arp";
    case ParseStatus::truncated_ipv4:
      return "truncated_ipv4";
    case ParseStatus::bad_ipv4_version:
      return "bad_ipv4_version";
    case ParseStatus::bad_ipv4_header_length:
      return "bad_ipv4_header_length";
    case ParseStatus::bad_ipv4_total_length:
      return "bad_ipv4_total_length";
    case ParseStatus::truncated_ipv6:
      return "truncated_ipv6";
    case ParseStatus::bad_ipv6_version:
      return "bad_ipv6_version";
    case ParseStatus::bad_ipv6_payload_length:
      return "bad_ipv6_payload_length";
    case ParseStatus::bad_ipv6_extension:
      return "bad_ipv6_extension";
    case ParseStatus::truncated_tcp:
      return "truncated_tcp";
    case ParseStatus::bad_tcp_data_offset:
      return "bad_tcp_data_offset";
    case ParseStatus::bad_tcp_option:
      return "bad_tcp_option";
    case ParseStatus::truncated_udp:
      return "truncated_udp";
    case ParseStatus::bad_udp_length:
      return "bad_udp_length";
    case ParseStatus::truncated_icmp:
      return "truncated_icmp";
    case ParseStatus::count_:
      break;
  }
  return "unknown";
}

ParseStatus parse_frame(std::span<const std::uint8_t> frame, ParsedFrame& out) noexcept {
  out = ParsedFrame{};
  const std::uint8_t* base = frame.data();
  const std::size_t size = frame.size();
  out.length = static_cast<std::uint32_t>(size);
  if (size < kEthHeaderLen) return ParseStatus::truncated_ethernet;
  out.dst_mac = mac_at(base);
  out.src_mac = mac_at(base + 6);
  std::uint16_t type = load_be16(base + 12);
  std::size_t off = kEthHeaderLen;
  while (type == kEtherTypeVlan || type == kEtherTypeQinQ) {
    if (out.vlan_count == kMaxVlanTags) return ParseStatus::too_many_vlan_tags;
    if (size - off < 4) return ParseStatus::truncated_vlan;
    out.vlan_tci[out.vlan_count++] = load_be16(base + off);
    type = load_be16(base + off + 2);
    off += 4;
  }
  out.ethertype = type;
  out.l3_offset = static_cast<std::uint16_t>(off);

  switch (type) {
    case kEtherTypeArp: {
      out.l3 = L3Kind::arp;
      if (size - off < kArpLen) return ParseStatus::truncated_arp;
      const std::uint8_t* p = base + off;
      if (load_be16(p) != 1 || load_be16(p + 2) != kEtherTypeIpv4 || p[4] != 6 || p[5] != 4) {
        return ParseStatus::bad_arp;
      }
      out.arp.op = load_be16(p + 6);
      out.arp.sender_mac = mac_at(p + 8);
      out.arp.sender_ip = IpAddr::from_v4_bytes(p + 14);
      out.arp.target_mac = mac_at(p + 18);
      out.arp.target_ip = IpAddr::from_v4_bytes(p + 24);
      return ParseStatus::ok;
    }
    case kEtherTypeIpv4:
      return parse_ipv4(base, size, off, out);
    case kEtherTypeIpv6:
      return parse_ipv6(base, size, off, out);
    default:
      return ParseStatus::ok;  // other L3: forwarded untouched
  }
}

FlowKey FlowKey::reversed() const noexcept {
  FlowKey r = *this;
  r.src_ip = dst_ip;
  r.dst_ip = src_ip;
  r.src_port = dst_port;
  r.dst_port = src_port;
  return r;
}

FlowKey flow_key(const ParsedFrame& f) noexcept {
  FlowKey k;
  k.src_ip = f.src_ip;
  k.dst_ip = f.dst_ip;
  k.proto = f.ip_proto;
  k.vlan = f.vlan_count > 0 ? static_cast<std::uint16_t>(f.vlan_tci[0] & 0x0FFF) : 0;
  if (f.l4 == L4Kind::tcp) {
    k.src_port = f.tcp.src_port;
    k.dst_port = f.tcp.dst_port;
  } else if (f.l4 == L4Kind::udp) {
    k.src_port = f.udp.src_port;
    k.dst_port = f.udp.dst_port;
  }
  return k;
}

std::size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  // FNV-1a over the fields, then a 64-bit finaliser so low bits mix well for buckets.
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::uint8_t byte) {
    h ^= byte;
    h *= 0x100000001b3ull;
  };
  mix(static_cast<std::uint8_t>(k.src_ip.family));
  for (auto x : k.src_ip.b) mix(x);
  mix(static_cast<std::uint8_t>(k.dst_ip.family));
  for (auto x : k.dst_ip.b) mix(x);
  mix(static_cast<std::uint8_t>(k.src_port >> 8));
  mix(static_cast<std::uint8_t>(k.src_port));
  mix(static_cast<std::uint8_t>(k.dst_port >> 8));
  mix(static_cast<std::uint8_t>(k.dst_port));
  mix(k.proto);
  mix(static_cast<std::uint8_t>(k.vlan >> 8));
  mix(static_cast<std::uint8_t>(k.vlan));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<std::size_t>(h);
}

}  // namespace ftproxy::packet
