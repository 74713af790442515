// Authentication of the embedded arbiter's requests and replies with a pre-shared key per
// cluster (HMAC-SHA256, OpenSSL libcrypto). Pure functions plus the server-side key ring;
// no I/O except the random nonces.
//
// Exchange on one connection (protocol: embedded_server.hpp):
//   client: {"op":"hello"}
//   server: {"result":"hello","nonce":"<32 hex: 16 random bytes, new per connection>"}
//   client: {"op":"tas",...,"seq":1,"cnonce":"<32 hex>","mac":"<64 hex>"}
//            mac = HMAC(key, request_text(nonce, cnonce, seq, op, cluster, epoch, candidate))
//   server: {"result":"won",...,"mac":"<64 hex>"}
//            mac = HMAC(key, reply_text(nonce, cnonce, seq, result, cluster, epoch, owner, token))
// `seq` must be exactly one more than the last accepted seq of the connection (1 first).
// A captured request is useless elsewhere: another connection has another nonce, and on
// the same connection its seq is spent. The reply MAC covers the client's own fresh
// cnonce, so a forged or replayed "won" cannot make a proxy go live.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/arbiter/embedded_server.hpp"

namespace ftproxy::arbiter::auth {

constexpr std::size_t kNonceBytes = 16;  // server nonce and client nonce, sent as hex
constexpr std::size_t kMinKeyBytes = 16;

// `bytes` random bytes from OpenSSL's CSPRNG, as lower-case hex. Throws std::runtime_error
// if the generator fails (it does not on Linux once seeded).
std::string random_hex(std::size_t bytes);

// The exact texts that are MACed (versioned, newline-separated fields).
std::string request_text(std::string_view nonce, std::string_view cnonce, std::uint64_t seq,
                         std::string_view op, std::string_view cluster, std::uint64_t epoch,
                         std::string_view candidate);
std::string reply_text(std::string_view nonce, std::string_view cnonce, std::uint64_t seq,
                       std::string_view result, std::string_view cluster, std::uint64_t epoch,
                       std::string_view owner, std::uint64_t token);

// HMAC-SHA256(key, text) as 64 lower-case hex characters.
std::string hmac_hex(std::string_view key, std::string_view text);
// Constant-time comparison of two MACs (hex text).
bool mac_equal(std::string_view a, std::string_view b) noexcept;

// The server's keys. A cluster's key is looked up in `per_cluster`, then `default_keys`.
// A cluster with no key at all is served unauthenticated only with allow_unauthenticated.
// Each entry holds every accepted key (the first is the current one; more keys let a key
// be rotated without refusing clients that still use the old one).
struct KeyRing {
  std::map<std::string, std::vector<std::string>, std::less<>> per_cluster;
  std::vector<std::string> default_keys;
  bool allow_unauthenticated = false;

  // nullptr when the cluster has no key.
  const std::vector<std::string>* keys_for(std::string_view cluster) const;
};

// The server-side check of one request: the Authenticator of EmbeddedServerOptions.
// Refusal reasons name the problem ("no key configured for cluster c1", "bad mac", ...),
// never a key.
AuthOutcome check_request(const KeyRing& ring, const ArbiterRequest& request);

// Reads a key file: one key per non-empty line (surrounding whitespace stripped), the
// first being the current key; refuses a file that is missing, not regular, larger than
// 64 KiB, accessible by group or others (mode must be 0600 or 0400), empty, or holding
// a key shorter than kMinKeyBytes. nullopt + `error` naming the file on failure.
std::optional<std::vector<std::string>> load_key_file(const std::string& path, std::string& error);

}  // namespace ftproxy::arbiter::auth
