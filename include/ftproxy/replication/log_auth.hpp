// Log channel authentication (docs/security.md, "Log channel"): the pre-shared key file,
// the HMAC-SHA256 handshake proofs, the per-connection, per-direction session keys and
// the per-record tags (GMAC).
//
// Handshake (both HELLOs carry auth = psk and a fresh 32-byte random nonce):
//   primary -> backup  HELLO(nonce_p)
//   backup  -> primary HELLO(nonce_b, proof_b)
//   primary -> backup  AUTH(proof_p)
// With T = SHA-256("ftproxy-log-v3" | len | HELLO_p payload | len | HELLO_b payload
// without proof_b) (both nonces, cluster, epoch, roles, version, seq, node names):
//   proof_b = HMAC(K, "backup proof" | T), proof_p = HMAC(K, "primary proof" | T),
//   key_p2b = HMAC(K, "primary to backup" | T), key_b2p = HMAC(K, "backup to primary" | T).
// Each record afterwards carries tag = GMAC: the 16-byte AES-256-GCM tag with key key_dir,
// nonce = 0x00000000 | counter_be64, no plaintext and (header | payload) as the
// additional data, counter = records sent in that direction on this connection. Session
// keys are fresh per connection (both nonces), so a (key, nonce) pair never repeats.
// GMAC rather than HMAC-SHA256 (protocol version 2): 2.4-2.8x less CPU per 1500-byte record
// here (AES-NI + carry-less multiply; docs/benchmarks.md, "Log channel authentication").
//
// Thread-safety: objects are used by one thread. No function allocates after
// construction, except load_log_key (start-up).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ftproxy/replication/codec.hpp"

namespace ftproxy::replication {

inline constexpr std::size_t kLogKeyMinBytes = 32;  // 64 hex digits
inline constexpr std::size_t kLogKeyMaxBytes = 64;  // 128 hex digits (one SHA-256 block)
inline constexpr std::size_t kSessionKeySize = 32;

// Reads a log key file: hex digits only (64..128 of them = 32..64 key bytes), optional
// surrounding whitespace (e.g. `openssl rand -hex 32 > key`). Refuses a file that is
// missing, not a regular file, accessible by group or others (mode must be 0600, 0400
// or stricter), empty, too short, too long or not hex. On failure returns nullopt and
// sets `error` to the problem (the caller prefixes the config key).
std::optional<std::vector<std::uint8_t>> load_log_key(const std::string& path, std::string& error);

// HMAC-SHA256 with the inner/outer hash states precomputed at set_key(): one
// allocation at construction, none per MAC.
class HmacSha256 {
 public:
  static constexpr std::size_t kSize = 32;
  HmacSha256();
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  void set_key(std::span<const std::uint8_t> key) noexcept;
  // MAC over the concatenation of `parts`.
  void compute(std::initializer_list<std::span<const std::uint8_t>> parts,
               std::span<std::uint8_t, kSize> out) const noexcept;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

struct SessionSecrets {
  std::array<std::uint8_t, kProofSize> primary_proof{};
  std::array<std::uint8_t, kProofSize> backup_proof{};
  std::array<std::uint8_t, kSessionKeySize> primary_to_backup{};
  std::array<std::uint8_t, kSessionKeySize> backup_to_primary{};
};

// `hello_primary`: the primary's HELLO payload (no header); `hello_backup`: the
// backup's HELLO payload without its trailing proof.
void derive_session(std::span<const std::uint8_t> psk, std::span<const std::uint8_t> hello_primary,
                    std::span<const std::uint8_t> hello_backup, SessionSecrets& out) noexcept;

// Overwrites the secrets (keys no longer needed stay out of memory dumps).
void clear_secrets(SessionSecrets& s) noexcept;

// Constant-time comparison of two proofs/tags (false when the sizes differ).
bool equal_secret(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

// Fills `out` from the OpenSSL CSPRNG; false if it is not seeded.
bool fill_random(std::span<std::uint8_t> out) noexcept;

// Tags (sender) or checks (receiver) the records of one direction of one connection.
class RecordMac final : public RecordAuthenticator {
 public:
  RecordMac();  // allocates the cipher context (and, at the first start(), the GCM state)
  // New session key (kSessionKeySize bytes); the record counter restarts at 0.
  void start(std::span<const std::uint8_t> session_key) noexcept;
  // Writes the tag of the next record (header + payload) into `tag` (kTagSize bytes).
  void seal(std::span<const std::uint8_t> record, std::span<std::uint8_t> tag) noexcept;
  bool verify(std::span<const std::uint8_t> record, std::span<const std::uint8_t> tag) noexcept override;
  std::uint64_t records() const noexcept { return counter_; }

 private:
  // False if the library failed (the tag is then unusable; never seen in practice).
  bool tag_of(std::span<const std::uint8_t> record, std::span<std::uint8_t, kTagSize> tag) noexcept;
  struct Gcm;
  struct GcmDeleter {
    void operator()(Gcm* g) const noexcept;
  };
  std::unique_ptr<Gcm, GcmDeleter> gcm_;  // the cipher context, keyed at start()
  bool keyed_ = false;
  std::uint64_t counter_ = 0;
};

}  // namespace ftproxy::replication
