// libFuzzer target for the log channel decoder (DESIGN.md §3, §11).
// Input: byte 0 picks the chunking and whether a HELLO is expected; the rest is the
// stream. Checks, beyond "no crash, no unbounded memory":
//  - decoding in chunks gives the same records and the same error as in one piece;
//  - every decoded record re-encodes to exactly the bytes it came from;
//  - a FLOW_META payload that decodes re-encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "ftproxy/replication/codec.hpp"
#include "ftproxy/replication/flow_meta.hpp"

using namespace ftproxy::replication;

namespace {

constexpr std::size_t kMaxPayload = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::uint8_t> reencode(const Record& r) {
  std::vector<std::uint8_t> out(kHeaderSize + kMaxPayload + 64);
  std::size_t n = 0;
  switch (r.type) {
    case RecordType::hello:
      n = encode_hello(out, r.hello);
      break;
    case RecordType::entry:
      n = encode_entry(out, r.entry.seq, r.entry.kind, r.entry.time_ns, r.entry.data);
      break;
    case RecordType::ack:
      n = encode_ack(out, r.ack_seq);
      break;
    case RecordType::heartbeat:
      n = encode_heartbeat(out, r.heartbeat);
      break;
    case RecordType::auth:
      n = encode_auth(out, r.auth_proof);
      break;
  }
  out.resize(n);
  return out;
}

struct Outcome {
  std::vector<std::vector<std::uint8_t>> records;  // re-encoded
  DecodeError error = DecodeError::none;
  std::size_t buffered = 0;
};

Outcome run(std::span<const std::uint8_t> stream, std::uint8_t mode) {
  LogDecoder dec(DecoderLimits{kMaxPayload});
  if (mode & 0x80) {
    HelloExpectation e;
    e.cluster = "c";
    e.check_epoch = (mode & 0x40) != 0;
    e.epoch = 1;
    e.role = (mode & 0x20) ? PeerRole::backup : PeerRole::primary;
    check(dec.expect_hello(e));
  }
  Outcome o;
  const std::size_t chunk = (mode & 0x1f) == 0 ? stream.size() : (mode & 0x1f);
  std::size_t pos = 0;
  while (pos < stream.size() && o.error == DecodeError::none) {
    const std::size_t n = std::min(chunk == 0 ? std::size_t{1} : chunk, stream.size() - pos);
    // A private copy per chunk: views may not outlive what the decoder was told.
    std::vector<std::uint8_t> piece(stream.begin() + static_cast<long>(pos),
                                    stream.begin() + static_cast<long>(pos + n));
    check(dec.feed(piece));
    Record r;
    DecodeStatus st;
    while ((st = dec.next(r)) == DecodeStatus::record) {
      auto bytes = reencode(r);
      check(bytes.size() == kHeaderSize + r.payload.size());
      check(std::memcmp(bytes.data() + kHeaderSize, r.payload.data(), r.payload.size()) == 0);
      if (r.type == RecordType::entry && r.entry.kind == EntryKind::flow_meta) {
        FlowMeta m;
        if (decode_flow_meta(r.entry.data, m)) {
          std::uint8_t again[kFlowMetaSize];
          check(encode_flow_meta(again, m) == kFlowMetaSize);
          check(std::memcmp(again, r.entry.data.data(), kFlowMetaSize) == 0);
        }
      }
      o.records.push_back(std::move(bytes));
    }
    check(dec.buffered() <= dec.capacity());
    check(dec.capacity() == kHeaderSize + kMaxPayload + kTagSize);  // room for a record tag
    if (st == DecodeStatus::error) o.error = dec.error();
    pos += n;
  }
  o.buffered = dec.buffered();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::span<const std::uint8_t> stream(data + 1, size - 1);
  const Outcome chunked = run(stream, mode);
  const Outcome whole = run(stream, static_cast<std::uint8_t>(mode & 0xe0));
  check(chunked.records == whole.records);
  check(chunked.error == whole.error);
  if (chunked.error == DecodeError::none) check(chunked.buffered == whole.buffered);
  // The records are the stream's prefix, byte for byte.
  std::size_t off = 0;
  for (const auto& r : whole.records) {
    check(off + r.size() <= stream.size());
    check(std::memcmp(stream.data() + off, r.data(), r.size()) == 0);
    off += r.size();
  }
  return 0;
}
