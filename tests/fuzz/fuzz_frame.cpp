// libFuzzer target: parse_frame on arbitrary bytes; on success also the checksum and
// flow-key paths that consume the parse result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "ftproxy/packet/checksum.hpp"
#include "ftproxy/packet/frame.hpp"

using namespace ftproxy::packet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> frame(data, size);
  ParsedFrame f;
  if (parse_frame(frame, f) != ParseStatus::ok) return 0;
  // Offsets the parser reports must lie inside the frame it was given.
  if (f.ip_end > size || f.l4_offset + std::size_t{f.l4_length} > size ||
      f.payload_offset + std::size_t{f.payload_len} > size) {
    std::abort();
  }
  if (f.l3 == L3Kind::ipv4) static_cast<void>(ipv4_checksum_ok(frame, f));
  if (f.l4 != L4Kind::none && f.l4 != L4Kind::other && f.is_first_fragment) {
    const std::uint16_t want = compute_l4_checksum(frame, f);
    const bool ok = l4_checksum_ok(frame, f);
    // Repair a copy and check that it then verifies.
    auto copy = std::make_unique<std::uint8_t[]>(size);
    std::copy(data, data + size, copy.get());
    const std::span<std::uint8_t> mutable_frame(copy.get(), size);
    fix_l4_checksum(mutable_frame, f);
    if (!l4_checksum_ok(mutable_frame, f)) std::abort();
    if (f.l4 == L4Kind::tcp) {
      // An incremental rewrite of the sequence number must keep the checksum valid.
      rewrite32_with_checksum(mutable_frame, f.l4_offset + 4u, l4_checksum_offset(f), f.tcp.seq + 12345u);
      if (!l4_checksum_ok(mutable_frame, f)) std::abort();
      if (f.tcp.opt.has_timestamp) {
        rewrite32_with_checksum(mutable_frame, f.tcp.opt.ts_offset, l4_checksum_offset(f), ~f.tcp.opt.tsval);
        if (!l4_checksum_ok(mutable_frame, f)) std::abort();
      }
    }
    static_cast<void>(want);
    static_cast<void>(ok);
  }
  if (f.l4 == L4Kind::tcp || f.l4 == L4Kind::udp) {
    const FlowKey k = flow_key(f);
    if (!(k.reversed().reversed() == k)) std::abort();
    static_cast<void>(FlowKeyHash{}(k));
  }
  return 0;
}
