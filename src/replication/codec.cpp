#include "ftproxy/replication/codec.hpp"

#include <algorithm>
#include <cstring>

#include "ftproxy/common/bytes.hpp"

namespace ftproxy::replication {

const char* to_string(RecordType t) noexcept {
  switch (t) {
    case RecordType::hello:
      return "hello";
    case RecordType::entry:
      return "entry";
    case RecordType::ack:
      return "ack";
    case RecordType::heartbeat:
      return "heartbeat";
    case RecordType::auth:
      return "auth";
  }
  return "unknown";
}

const char* to_string(EntryKind k) noexcept {
  switch (k) {
    case EntryKind::inbound_frame:
      return "inbound_frame";
    case EntryKind::flow_meta:
      return "flow_meta";
    case EntryKind::output_digest:
      return "output_digest";
  }
  return "unknown";
}

const char* to_string(PeerRole r) noexcept {
  switch (r) {
    case PeerRole::primary:
      return "primary";
    case PeerRole::backup:
      return "backup";
  }
  return "unknown";
}

const char* to_string(AuthMode m) noexcept {
  switch (m) {
    case AuthMode::none:
      return "none";
    case AuthMode::psk:
      return "psk";
  }
  return "unknown";
}

const char* to_string(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::none:
      return "none";
    case DecodeError::bad_magic:
      return "bad_magic";
    case DecodeError::bad_type:
      return "bad_type";
    case DecodeError::bad_flags:
      return "bad_flags";
    case DecodeError::oversize_length:
      return "oversize_length";
    case DecodeError::truncated_field:
      return "truncated_field";
    case DecodeError::bad_length:
      return "bad_length";
    case DecodeError::bad_hello:
      return "bad_hello";
    case DecodeError::unsupported_version:
      return "unsupported_version";
    case DecodeError::wrong_cluster:
      return "wrong_cluster";
    case DecodeError::wrong_epoch:
      return "wrong_epoch";
    case DecodeError::wrong_role:
      return "wrong_role";
    case DecodeError::bad_entry_kind:
      return "bad_entry_kind";
    case DecodeError::missing_hello:
      return "missing_hello";
    case DecodeError::unexpected_hello:
      return "unexpected_hello";
    case DecodeError::bad_mac:
      return "bad_mac";
  }
  return "unknown";
}

namespace {

void put_header(std::uint8_t* p, RecordType type, std::size_t payload_len) noexcept {
  store_be16(p, kMagic);
  p[2] = static_cast<std::uint8_t>(type);
  p[3] = 0;
  store_be32(p + 4, static_cast<std::uint32_t>(payload_len));
}

bool valid_entry_kind(std::uint8_t k) noexcept {
  return k >= static_cast<std::uint8_t>(EntryKind::inbound_frame) &&
         k <= static_cast<std::uint8_t>(EntryKind::output_digest);
}

// The nonce/proof sizes a HELLO must carry for its auth mode and role.
std::size_t hello_nonce_size(AuthMode auth) noexcept {
  return auth == AuthMode::psk ? kNonceSize : 0;
}
std::size_t hello_proof_size(AuthMode auth, PeerRole role) noexcept {
  return auth == AuthMode::psk && role == PeerRole::backup ? kProofSize : 0;
}

}  // namespace

std::size_t hello_record_size(const Hello& h) noexcept {
  return kHeaderSize + kHelloFixedSize + 1 + h.cluster.size() + 1 + h.node.size() + h.nonce.size() +
         h.proof.size();
}

std::size_t encode_hello(std::span<std::uint8_t> out, const Hello& h) noexcept {
  if (h.cluster.empty() || h.cluster.size() > kMaxNameLength || h.node.size() > kMaxNameLength) return 0;
  if (h.auth != AuthMode::none && h.auth != AuthMode::psk) return 0;
  if (h.nonce.size() != hello_nonce_size(h.auth) || h.proof.size() != hello_proof_size(h.auth, h.role)) {
    return 0;
  }
  const std::size_t size = hello_record_size(h);
  if (out.size() < size) return 0;
  std::uint8_t* p = out.data();
  put_header(p, RecordType::hello, size - kHeaderSize);
  p += kHeaderSize;
  store_be16(p, h.version);
  p[2] = static_cast<std::uint8_t>(h.role);
  p[3] = static_cast<std::uint8_t>(h.auth);
  store_be64(p + 4, h.epoch);
  store_be64(p + 12, h.seq);
  p += kHelloFixedSize;
  *p++ = static_cast<std::uint8_t>(h.cluster.size());
  std::memcpy(p, h.cluster.data(), h.cluster.size());
  p += h.cluster.size();
  *p++ = static_cast<std::uint8_t>(h.node.size());
  if (!h.node.empty()) std::memcpy(p, h.node.data(), h.node.size());
  p += h.node.size();
  if (!h.nonce.empty()) std::memcpy(p, h.nonce.data(), h.nonce.size());
  p += h.nonce.size();
  if (!h.proof.empty()) std::memcpy(p, h.proof.data(), h.proof.size());
  return size;
}

std::size_t encode_entry(std::span<std::uint8_t> out, std::uint64_t seq, EntryKind kind,
                         std::uint64_t time_ns, std::span<const std::uint8_t> data) noexcept {
  const std::size_t size = entry_record_size(data.size());
  if (out.size() < size || data.size() > 0xffffffffu - kEntryFixedSize) return 0;
  std::uint8_t* p = out.data();
  put_header(p, RecordType::entry, size - kHeaderSize);
  p += kHeaderSize;
  store_be64(p, seq);
  store_be64(p + 8, time_ns);
  p[16] = static_cast<std::uint8_t>(kind);
  if (!data.empty()) std::memcpy(p + kEntryFixedSize, data.data(), data.size());
  return size;
}

std::size_t encode_ack(std::span<std::uint8_t> out, std::uint64_t seq) noexcept {
  if (out.size() < kAckRecordSize) return 0;
  put_header(out.data(), RecordType::ack, kAckPayload);
  store_be64(out.data() + kHeaderSize, seq);
  return kAckRecordSize;
}

std::size_t encode_heartbeat(std::span<std::uint8_t> out, const Heartbeat& hb) noexcept {
  if (out.size() < kHeartbeatRecordSize) return 0;
  put_header(out.data(), RecordType::heartbeat, kHeartbeatPayload);
  store_be64(out.data() + kHeaderSize, hb.time_ns);
  store_be64(out.data() + kHeaderSize + 8, hb.last_seq);
  return kHeartbeatRecordSize;
}

std::size_t encode_auth(std::span<std::uint8_t> out, std::span<const std::uint8_t> proof) noexcept {
  if (out.size() < kAuthRecordSize || proof.size() != kProofSize) return 0;
  put_header(out.data(), RecordType::auth, kAuthPayload);
  std::memcpy(out.data() + kHeaderSize, proof.data(), kProofSize);
  return kAuthRecordSize;
}

bool LogEncoder::append_raw(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() > free_bytes()) return false;
  if (!bytes.empty()) std::memcpy(buf_.data() + used_, bytes.data(), bytes.size());
  used_ += bytes.size();
  return true;
}

DecodeError decode_payload(RecordType type, std::span<const std::uint8_t> payload, Record& out) noexcept {
  const std::uint8_t* p = payload.data();
  const std::size_t n = payload.size();
  out.type = type;
  out.payload = payload;
  switch (type) {
    case RecordType::hello: {
      if (n < kHelloFixedSize) return DecodeError::truncated_field;
      // Version first: a later version may lay the rest out differently.
      const std::uint16_t version = load_be16(p);
      if (version != kProtocolVersion) return DecodeError::unsupported_version;
      const std::uint8_t role = p[2];
      if (role != static_cast<std::uint8_t>(PeerRole::primary) &&
          role != static_cast<std::uint8_t>(PeerRole::backup)) {
        return DecodeError::bad_hello;
      }
      if (p[3] != static_cast<std::uint8_t>(AuthMode::none) &&
          p[3] != static_cast<std::uint8_t>(AuthMode::psk)) {
        return DecodeError::bad_hello;
      }
      Hello h;
      h.version = version;
      h.role = static_cast<PeerRole>(role);
      h.auth = static_cast<AuthMode>(p[3]);
      h.epoch = load_be64(p + 4);
      h.seq = load_be64(p + 12);
      std::size_t pos = kHelloFixedSize;
      if (pos + 1 > n) return DecodeError::truncated_field;
      const std::size_t cluster_len = p[pos++];
      if (cluster_len == 0 || cluster_len > kMaxNameLength) return DecodeError::bad_hello;
      if (pos + cluster_len > n) return DecodeError::truncated_field;
      h.cluster = {reinterpret_cast<const char*>(p + pos), cluster_len};
      pos += cluster_len;
      if (pos + 1 > n) return DecodeError::truncated_field;
      const std::size_t node_len = p[pos++];
      if (node_len > kMaxNameLength) return DecodeError::bad_hello;
      if (pos + node_len > n) return DecodeError::truncated_field;
      h.node = {reinterpret_cast<const char*>(p + pos), node_len};
      pos += node_len;
      const std::size_t nonce_len = hello_nonce_size(h.auth);
      const std::size_t proof_len = hello_proof_size(h.auth, h.role);
      if (pos + nonce_len + proof_len > n) return DecodeError::truncated_field;
      h.nonce = payload.subspan(pos, nonce_len);
      pos += nonce_len;
      h.proof = payload.subspan(pos, proof_len);
      pos += proof_len;
      if (pos != n) return DecodeError::bad_length;
      out.hello = h;
      return DecodeError::none;
    }
    case RecordType::entry: {
      if (n < kEntryFixedSize) return DecodeError::truncated_field;
      if (!valid_entry_kind(p[16])) return DecodeError::bad_entry_kind;
      out.entry.seq = load_be64(p);
      out.entry.time_ns = load_be64(p + 8);
      out.entry.kind = static_cast<EntryKind>(p[16]);
      out.entry.data = payload.subspan(kEntryFixedSize);
      return DecodeError::none;
    }
    case RecordType::ack:
      if (n < kAckPayload) return DecodeError::truncated_field;
      if (n > kAckPayload) return DecodeError::bad_length;
      out.ack_seq = load_be64(p);
      return DecodeError::none;
    case RecordType::heartbeat:
      if (n < kHeartbeatPayload) return DecodeError::truncated_field;
      if (n > kHeartbeatPayload) return DecodeError::bad_length;
      out.heartbeat.time_ns = load_be64(p);
      out.heartbeat.last_seq = load_be64(p + 8);
      return DecodeError::none;
    case RecordType::auth:
      if (n < kAuthPayload) return DecodeError::truncated_field;
      if (n > kAuthPayload) return DecodeError::bad_length;
      out.auth_proof = payload;
      return DecodeError::none;
  }
  return DecodeError::bad_type;
}

LogDecoder::LogDecoder(DecoderLimits limits)
    : limits_(limits), buf_(kHeaderSize + limits.max_payload + kTagSize) {}

bool LogDecoder::expect_hello(const HelloExpectation& e) noexcept {
  if (e.cluster.size() > kMaxNameLength) return false;
  expect_ = e;
  std::copy(e.cluster.begin(), e.cluster.end(), cluster_.begin());
  cluster_len_ = e.cluster.size();
  expect_.cluster = {};  // the copy in cluster_ is authoritative
  expecting_ = true;
  return true;
}

void LogDecoder::reset() noexcept {
  have_ = 0;
  in_ = {};
  error_ = DecodeError::none;
  hello_seen_ = false;
  auth_ = nullptr;
}

bool LogDecoder::feed(std::span<const std::uint8_t> chunk) noexcept {
  if (error_ != DecodeError::none || !in_.empty()) return false;
  in_ = chunk;
  return true;
}

DecodeStatus LogDecoder::fail(DecodeError e) noexcept {
  error_ = e;
  in_ = {};
  have_ = 0;
  return DecodeStatus::error;
}

DecodeError LogDecoder::check_header(const std::uint8_t* h, std::uint32_t& len) const noexcept {
  if (load_be16(h) != kMagic) return DecodeError::bad_magic;
  if (h[2] < static_cast<std::uint8_t>(RecordType::hello) ||
      h[2] > static_cast<std::uint8_t>(RecordType::auth)) {
    return DecodeError::bad_type;
  }
  if (h[3] != 0) return DecodeError::bad_flags;
  len = load_be32(h + 4);
  if (len > limits_.max_payload) return DecodeError::oversize_length;
  return DecodeError::none;
}

DecodeStatus LogDecoder::next(Record& out) noexcept {
  if (error_ != DecodeError::none) return DecodeStatus::error;
  std::uint32_t len = 0;
  if (have_ > 0) {
    // Finish the partial record held in buf_.
    if (have_ < kHeaderSize) {
      const std::size_t take = std::min(kHeaderSize - have_, in_.size());
      if (take != 0) std::memcpy(buf_.data() + have_, in_.data(), take);
      have_ += take;
      in_ = in_.subspan(take);
      if (have_ < kHeaderSize) return DecodeStatus::need_more;
    }
    if (const DecodeError e = check_header(buf_.data(), len); e != DecodeError::none) return fail(e);
    const std::size_t need = kHeaderSize + len + tag_size();
    const std::size_t take = std::min(need - have_, in_.size());
    if (take != 0) std::memcpy(buf_.data() + have_, in_.data(), take);
    have_ += take;
    in_ = in_.subspan(take);
    if (have_ < need) return DecodeStatus::need_more;
    have_ = 0;  // the bytes stay in buf_ until the next call
    return finish(std::span<const std::uint8_t>(buf_).first(need), len, out);
  }
  if (in_.empty()) return DecodeStatus::need_more;
  if (in_.size() < kHeaderSize) {
    std::memcpy(buf_.data(), in_.data(), in_.size());
    have_ = in_.size();
    in_ = {};
    return DecodeStatus::need_more;
  }
  if (const DecodeError e = check_header(in_.data(), len); e != DecodeError::none) return fail(e);
  const std::size_t need = kHeaderSize + len + tag_size();
  if (in_.size() >= need) {
    // Whole record inside the chunk: no copy.
    const auto rec = in_.first(need);
    in_ = in_.subspan(need);
    return finish(rec, len, out);
  }
  // need <= buf_.size() because len passed the limit check.
  std::memcpy(buf_.data(), in_.data(), in_.size());
  have_ = in_.size();
  in_ = {};
  return DecodeStatus::need_more;
}

// `record` is header + payload (+ tag when authenticated).
DecodeStatus LogDecoder::finish(std::span<const std::uint8_t> record, std::size_t payload_len,
                                Record& out) noexcept {
  // The tag is checked before any field is looked at: a forged record is refused as
  // such, whatever it claims to be.
  if (auth_ != nullptr && !auth_->verify(record.first(kHeaderSize + payload_len),
                                         record.subspan(kHeaderSize + payload_len, kTagSize))) {
    return fail(DecodeError::bad_mac);
  }
  const auto type = static_cast<RecordType>(record[2]);
  const auto payload = record.subspan(kHeaderSize, payload_len);
  if (const DecodeError e = decode_payload(type, payload, out); e != DecodeError::none) return fail(e);
  if (type == RecordType::hello) {
    if (hello_seen_) return fail(DecodeError::unexpected_hello);
    hello_seen_ = true;
    if (expecting_) {
      if (out.hello.role != expect_.role) return fail(DecodeError::wrong_role);
      if (out.hello.cluster != std::string_view(cluster_.data(), cluster_len_)) {
        return fail(DecodeError::wrong_cluster);
      }
      if (expect_.check_epoch && out.hello.epoch != expect_.epoch) return fail(DecodeError::wrong_epoch);
    }
  } else if (expecting_ && !hello_seen_) {
    return fail(DecodeError::missing_hello);
  }
  return DecodeStatus::record;
}

}  // namespace ftproxy::replication
