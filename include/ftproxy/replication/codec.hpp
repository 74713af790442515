// Log channel wire format (DESIGN.md §3): framed binary records, pure and I/O-free.
//
// Every record is an 8-byte header followed by `length` payload bytes, all integers
// big-endian:
//   magic   u16  0x4654 ("FT")
//   type    u8   RecordType
//   flags   u8   reserved, must be 0
//   length  u32  payload length, bounded by the decoder's limit
// Payloads:
//   HELLO     version u16, role u8, auth u8 (AuthMode), epoch u64, seq u64,
//             cluster_len u8 (1..64), cluster, node_len u8 (0..64), node,
//             then with auth = psk: nonce (32 bytes), and from the backup also
//             proof (32 bytes, HMAC-SHA256, see log_auth.hpp)
//             (primary: seq = its cumulative acked seq; backup: highest seq it received,
//              so the primary resends from seq + 1)
//   AUTH      proof (32 bytes): the primary's answer to the backup's nonce (psk only)
//   ENTRY     seq u64, time_ns u64, kind u8, data (0..max_entry_data bytes)
//   ACK       seq u64 (cumulative: every entry <= seq was received)
//   HEARTBEAT time_ns u64 (sender's clock), last_seq u64 (primary: last seq sent;
//             backup: last seq received)
//
// Authenticated sessions (auth = psk in both HELLOs): every record after the handshake
// (primary -> backup: after AUTH; backup -> primary: after its HELLO) is followed by a
// kTagSize-byte tag that is not counted in `length` (see RecordAuthenticator).
// Version 1 peers (no auth byte) are refused with unsupported_version both ways.
//
// Thread-safety: functions are reentrant; a LogDecoder is used by one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace ftproxy::replication {

inline constexpr std::uint16_t kMagic = 0x4654;
inline constexpr std::uint16_t kProtocolVersion = 3;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxNameLength = 64;  // cluster and node names
inline constexpr std::size_t kHelloFixedSize = 2 + 1 + 1 + 8 + 8;
inline constexpr std::size_t kNonceSize = 32;  // HELLO nonce (auth = psk)
inline constexpr std::size_t kProofSize = 32;  // HMAC-SHA256 handshake proof
inline constexpr std::size_t kTagSize = 16;    // per-record tag (GMAC, log_auth.hpp)
inline constexpr std::size_t kHelloMaxPayload =
    kHelloFixedSize + 1 + kMaxNameLength + 1 + kMaxNameLength + kNonceSize + kProofSize;
inline constexpr std::size_t kAuthPayload = kProofSize;
inline constexpr std::size_t kEntryFixedSize = 8 + 8 + 1;
inline constexpr std::size_t kAckPayload = 8;
inline constexpr std::size_t kHeartbeatPayload = 16;
// Largest entry data by default: a jumbo frame (9216 + link header) fits with room.
inline constexpr std::size_t kDefaultMaxEntryData = 16 * 1024;

enum class RecordType : std::uint8_t { hello = 1, entry = 2, ack = 3, heartbeat = 4, auth = 5 };
enum class EntryKind : std::uint8_t { inbound_frame = 1, flow_meta = 2, output_digest = 3 };
enum class PeerRole : std::uint8_t { primary = 1, backup = 2 };
// What a HELLO announces: none = unauthenticated channel (isolated links only),
// psk = HMAC-SHA256 challenge-response with a pre-shared key, then per-record tags (GMAC).
enum class AuthMode : std::uint8_t { none = 0, psk = 1 };

const char* to_string(RecordType t) noexcept;
const char* to_string(EntryKind k) noexcept;
const char* to_string(PeerRole r) noexcept;
const char* to_string(AuthMode m) noexcept;

// Why a byte stream was rejected. The connection carrying it is to be closed.
enum class DecodeError : std::uint8_t {
  none = 0,
  bad_magic,            // header does not start with kMagic
  bad_type,             // unknown record type
  bad_flags,            // reserved flag bits set
  oversize_length,      // payload length above the decoder's limit (never buffered)
  truncated_field,      // payload shorter than the record's fixed fields
  bad_length,           // fixed-size record (ACK, HEARTBEAT) with extra bytes
  bad_hello,            // HELLO fields malformed (role, name lengths, reserved byte)
  unsupported_version,  // HELLO version outside what this build speaks
  wrong_cluster,        // HELLO cluster differs from the expectation
  wrong_epoch,          // HELLO epoch differs from the expectation
  wrong_role,           // HELLO role differs from the expectation
  bad_entry_kind,       // ENTRY kind unknown
  missing_hello,        // first record is not a HELLO while one is expected
  unexpected_hello,     // a second HELLO on the same stream
  bad_mac,              // record tag did not verify (tampered, replayed, reordered, dropped)
};
inline constexpr std::size_t kDecodeErrorCount = 16;
const char* to_string(DecodeError e) noexcept;

// HELLO, both directions. Names are views (into the caller's strings when encoding,
// into the decoded payload when decoding).
struct Hello {
  std::uint16_t version = kProtocolVersion;
  PeerRole role = PeerRole::primary;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::string_view cluster;
  std::string_view node;
  AuthMode auth = AuthMode::none;
  std::span<const std::uint8_t> nonce;  // kNonceSize bytes iff auth == psk
  std::span<const std::uint8_t> proof;  // kProofSize bytes iff auth == psk and role == backup
};

// ENTRY as decoded: `data` views the payload (see LogDecoder::next for its lifetime).
struct EntryView {
  std::uint64_t seq = 0;
  std::uint64_t time_ns = 0;
  EntryKind kind = EntryKind::inbound_frame;
  std::span<const std::uint8_t> data;
};

struct Heartbeat {
  std::uint64_t time_ns = 0;
  std::uint64_t last_seq = 0;
};

// One decoded record. Only the member matching `type` is meaningful.
struct Record {
  RecordType type = RecordType::heartbeat;
  std::span<const std::uint8_t> payload;  // raw payload bytes
  Hello hello;
  EntryView entry;
  std::uint64_t ack_seq = 0;
  Heartbeat heartbeat;
  std::span<const std::uint8_t> auth_proof;  // AUTH: kProofSize bytes
};

// ---- Encoding -----------------------------------------------------------------------
// Each encode_* writes one whole record at the start of `out` and returns its size in
// bytes, or 0 when `out` is too small or the record is invalid (names too long, empty
// cluster). Never allocates.
std::size_t hello_record_size(const Hello& h) noexcept;
constexpr std::size_t entry_record_size(std::size_t data_len) noexcept {
  return kHeaderSize + kEntryFixedSize + data_len;
}
inline constexpr std::size_t kAckRecordSize = kHeaderSize + kAckPayload;
inline constexpr std::size_t kHeartbeatRecordSize = kHeaderSize + kHeartbeatPayload;
inline constexpr std::size_t kAuthRecordSize = kHeaderSize + kAuthPayload;

std::size_t encode_hello(std::span<std::uint8_t> out, const Hello& h) noexcept;
std::size_t encode_entry(std::span<std::uint8_t> out, std::uint64_t seq, EntryKind kind,
                         std::uint64_t time_ns, std::span<const std::uint8_t> data) noexcept;
std::size_t encode_ack(std::span<std::uint8_t> out, std::uint64_t seq) noexcept;
std::size_t encode_heartbeat(std::span<std::uint8_t> out, const Heartbeat& hb) noexcept;
// `proof` must be kProofSize bytes.
std::size_t encode_auth(std::span<std::uint8_t> out, std::span<const std::uint8_t> proof) noexcept;

// Appends records into a caller-owned buffer (no allocation). A record that does not
// fit is refused whole (the append returns false and nothing is written).
class LogEncoder {
 public:
  explicit LogEncoder(std::span<std::uint8_t> buffer) noexcept : buf_(buffer) {}
  bool append_hello(const Hello& h) noexcept { return advance(encode_hello(rest(), h)); }
  bool append_entry(std::uint64_t seq, EntryKind kind, std::uint64_t time_ns,
                    std::span<const std::uint8_t> data) noexcept {
    return advance(encode_entry(rest(), seq, kind, time_ns, data));
  }
  bool append_ack(std::uint64_t seq) noexcept { return advance(encode_ack(rest(), seq)); }
  bool append_heartbeat(const Heartbeat& hb) noexcept { return advance(encode_heartbeat(rest(), hb)); }
  bool append_auth(std::span<const std::uint8_t> proof) noexcept {
    return advance(encode_auth(rest(), proof));
  }
  // Copies an already encoded record (or several) verbatim.
  bool append_raw(std::span<const std::uint8_t> bytes) noexcept;

  std::span<const std::uint8_t> written() const noexcept { return buf_.first(used_); }
  std::size_t size() const noexcept { return used_; }
  std::size_t free_bytes() const noexcept { return buf_.size() - used_; }
  void clear() noexcept { used_ = 0; }

 private:
  std::span<std::uint8_t> rest() const noexcept { return buf_.subspan(used_); }
  bool advance(std::size_t n) noexcept {
    used_ += n;
    return n != 0;
  }
  std::span<std::uint8_t> buf_;
  std::size_t used_ = 0;
};

// ---- Decoding -----------------------------------------------------------------------
struct DecoderLimits {
  // Largest payload accepted (tags not included); a header announcing more is rejected
  // before any payload byte is buffered. Default: an entry with kDefaultMaxEntryData
  // bytes of data.
  std::size_t max_payload = kEntryFixedSize + kDefaultMaxEntryData;
};

// What the first record of the stream must be. Checked by the decoder so a wrong peer
// is refused before any entry is looked at.
struct HelloExpectation {
  std::string_view cluster;  // copied into the decoder (<= kMaxNameLength)
  bool check_epoch = true;   // false = any epoch
  std::uint64_t epoch = 0;
  PeerRole role = PeerRole::primary;  // the role the peer must announce
};

enum class DecodeStatus : std::uint8_t { record, need_more, error };

// Checks the tag that follows every record of an authenticated session, in stream
// order (implementations count records, so a replayed, reordered or dropped record
// fails). Called on the decoder's thread; must not allocate.
class RecordAuthenticator {
 public:
  virtual ~RecordAuthenticator() = default;
  // `record` is header + payload as received; `tag` is kTagSize bytes.
  virtual bool verify(std::span<const std::uint8_t> record, std::span<const std::uint8_t> tag) noexcept = 0;
};

// Streaming decoder over a byte stream cut into arbitrary chunks. Memory is fixed at
// construction (kHeaderSize + max_payload + kTagSize bytes); a record lying whole inside the
// current chunk is returned without copying. Once an error is reported the decoder
// stays in error until reset().
//
// Usage: feed(chunk); then call next() until it stops returning `record`.
class LogDecoder {
 public:
  explicit LogDecoder(DecoderLimits limits = {});

  // Requires a HELLO matching `e` as the first record (and no HELLO afterwards).
  // Call before the first feed(); returns false if the cluster name is too long.
  bool expect_hello(const HelloExpectation& e) noexcept;

  // Hands the next chunk to the decoder (not copied until next() needs to). Returns
  // false, ignoring the chunk, when the previous chunk was not fully consumed (next()
  // had not returned need_more yet) or the decoder is in error.
  bool feed(std::span<const std::uint8_t> chunk) noexcept;

  // Decodes the next record. On `record`, `out` views bytes that stay valid until the
  // next call to next(), feed() or reset(), and as long as the fed chunk is alive.
  DecodeStatus next(Record& out) noexcept;

  // From the next record on, every record must be followed by a kTagSize tag that
  // `auth` accepts (else DecodeError::bad_mac); nullptr = no tags. Call between next()
  // calls (e.g. right after the record that completed the handshake). Not owned; must
  // outlive its use. reset() turns it off.
  void set_authenticator(RecordAuthenticator* auth) noexcept { auth_ = auth; }

  DecodeError error() const noexcept { return error_; }
  bool hello_seen() const noexcept { return hello_seen_; }
  // Bytes of a partial record held internally (bounded by kHeaderSize + max_payload +
  // kTagSize).
  std::size_t buffered() const noexcept { return have_; }
  std::size_t capacity() const noexcept { return buf_.size(); }
  // Back to the initial state (expectation kept); for a new connection.
  void reset() noexcept;

 private:
  DecodeStatus fail(DecodeError e) noexcept;
  DecodeError check_header(const std::uint8_t* h, std::uint32_t& len) const noexcept;
  DecodeStatus finish(std::span<const std::uint8_t> record, std::size_t payload_len, Record& out) noexcept;
  std::size_t tag_size() const noexcept { return auth_ != nullptr ? kTagSize : 0; }

  DecoderLimits limits_;
  std::vector<std::uint8_t> buf_;  // partial record, sized once
  std::size_t have_ = 0;
  std::span<const std::uint8_t> in_;
  DecodeError error_ = DecodeError::none;
  bool expecting_ = false;
  bool hello_seen_ = false;
  HelloExpectation expect_{};
  std::array<char, kMaxNameLength> cluster_{};
  std::size_t cluster_len_ = 0;
  RecordAuthenticator* auth_ = nullptr;
};

// Decodes one payload of a known type (no header). Used by the decoder; exposed for
// tests and fuzzing.
DecodeError decode_payload(RecordType type, std::span<const std::uint8_t> payload, Record& out) noexcept;

}  // namespace ftproxy::replication
