// OpenSSL 3.0's EVP_MAC and EVP_MD_CTX allocate on every re-initialisation (measured:
// 2 and 1 allocations per MAC with 3.0.19), which the per-record path must not do. The
// classic HMAC construction over SHA256_CTX snapshots (plain structs, copied by value)
// does not allocate, so this file uses the low-level SHA-256 functions that 3.0 marks
// deprecated; nothing else in the tree does.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "ftproxy/replication/log_auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/common/secret_file.hpp"

namespace ftproxy::replication {

namespace {

constexpr std::size_t kBlock = 64;  // SHA-256 block size
constexpr std::size_t kMaxKeyFileBytes = 4096;

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::optional<std::vector<std::uint8_t>> load_log_key(const std::string& path, std::string& error) {
  auto read = read_secret_file(path, kMaxKeyFileBytes, error);
  if (!read) return std::nullopt;
  std::string& text = *read;

  std::size_t b = 0;
  std::size_t e = text.size();
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  const std::size_t digits = e - b;
  std::optional<std::vector<std::uint8_t>> key;
  if (digits == 0) {
    error = fmt::format("\"{}\" is empty (expected {}..{} hex digits, e.g. from `openssl rand -hex 32`)",
                        path, 2 * kLogKeyMinBytes, 2 * kLogKeyMaxBytes);
  } else if (digits % 2 != 0 || digits / 2 < kLogKeyMinBytes || digits / 2 > kLogKeyMaxBytes) {
    error = fmt::format("\"{}\" holds {} characters: expected {}..{} hex digits ({}..{} key bytes)", path,
                        digits, 2 * kLogKeyMinBytes, 2 * kLogKeyMaxBytes, kLogKeyMinBytes, kLogKeyMaxBytes);
  } else {
    std::vector<std::uint8_t> bytes(digits / 2);
    bool hex = true;
    for (std::size_t i = 0; i < bytes.size() && hex; ++i) {
      const int hi = hex_value(text[b + 2 * i]);
      const int lo = hex_value(text[b + 2 * i + 1]);
      hex = hi >= 0 && lo >= 0;
      bytes[i] = static_cast<std::uint8_t>((hi << 4) | (lo & 0xf));
    }
    if (hex) {
      key = std::move(bytes);
    } else {
      OPENSSL_cleanse(bytes.data(), bytes.size());
      error = fmt::format("\"{}\" is not hex (expected {}..{} hex digits and nothing else)", path,
                          2 * kLogKeyMinBytes, 2 * kLogKeyMaxBytes);
    }
  }
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

// ---- HMAC-SHA256 ---------------------------------------------------------------------

struct HmacSha256::State {
  SHA256_CTX inner;  // after absorbing key ^ ipad
  SHA256_CTX outer;  // after absorbing key ^ opad
};

HmacSha256::HmacSha256() : st_(std::make_unique<State>()) {
  set_key({});
}

HmacSha256::~HmacSha256() {
  OPENSSL_cleanse(st_.get(), sizeof(State));
}

void HmacSha256::set_key(std::span<const std::uint8_t> key) noexcept {
  std::uint8_t k[kBlock] = {};
  if (key.size() > kBlock) {
    SHA256(key.data(), key.size(), k);
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  std::uint8_t pad[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  SHA256_Init(&st_->inner);
  SHA256_Update(&st_->inner, pad, kBlock);
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  SHA256_Init(&st_->outer);
  SHA256_Update(&st_->outer, pad, kBlock);
  OPENSSL_cleanse(k, sizeof(k));
  OPENSSL_cleanse(pad, sizeof(pad));
}

void HmacSha256::compute(std::initializer_list<std::span<const std::uint8_t>> parts,
                         std::span<std::uint8_t, kSize> out) const noexcept {
  SHA256_CTX c = st_->inner;
  for (const auto& p : parts) {
    if (!p.empty()) SHA256_Update(&c, p.data(), p.size());
  }
  std::uint8_t inner[kSize];
  SHA256_Final(inner, &c);
  c = st_->outer;
  SHA256_Update(&c, inner, kSize);
  SHA256_Final(out.data(), &c);
}

// ---- handshake -----------------------------------------------------------------------

namespace {

std::span<const std::uint8_t> label(const char* s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)};
}

}  // namespace

void derive_session(std::span<const std::uint8_t> psk, std::span<const std::uint8_t> hello_primary,
                    std::span<const std::uint8_t> hello_backup, SessionSecrets& out) noexcept {
  // Transcript hash; lengths are prefixed so no two transcripts share a byte string.
  std::uint8_t th[SHA256_DIGEST_LENGTH];
  std::uint8_t len[2];
  SHA256_CTX c;
  SHA256_Init(&c);
  const auto domain = label("ftproxy-log-v3");
  SHA256_Update(&c, domain.data(), domain.size());
  store_be16(len, static_cast<std::uint16_t>(hello_primary.size()));
  SHA256_Update(&c, len, 2);
  SHA256_Update(&c, hello_primary.data(), hello_primary.size());
  store_be16(len, static_cast<std::uint16_t>(hello_backup.size()));
  SHA256_Update(&c, len, 2);
  SHA256_Update(&c, hello_backup.data(), hello_backup.size());
  SHA256_Final(th, &c);

  HmacSha256 k;  // start-of-connection only: the allocation is not per record
  k.set_key(psk);
  const std::span<const std::uint8_t> t(th, sizeof(th));
  k.compute({label("backup proof"), t}, out.backup_proof);
  k.compute({label("primary proof"), t}, out.primary_proof);
  k.compute({label("primary to backup"), t}, out.primary_to_backup);
  k.compute({label("backup to primary"), t}, out.backup_to_primary);
}

void clear_secrets(SessionSecrets& s) noexcept {
  OPENSSL_cleanse(&s, sizeof(s));
}

bool equal_secret(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool fill_random(std::span<std::uint8_t> out) noexcept {
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

// ---- per-record tags -----------------------------------------------------------------

// GMAC through the GCM128 functions of <openssl/modes.h> rather than the EVP AEAD
// interface: the same GHASH code (PCLMULQDQ/AVX where the CPU has it), without EVP's
// per-call parameter handling, which cost as much as the hash itself on full-size
// records (OSSL_PARAM look-ups by name for the IV length and the tag: half of
// libcrypto's samples on the primary, docs/benchmarks.md). The one block cipher call per
// record (E_K(J0)) goes through an AES-256-ECB EVP context, so AES still runs on AES-NI.
struct RecordMac::Gcm {
  EVP_CIPHER* ecb = nullptr;
  EVP_CIPHER_CTX* aes = nullptr;  // AES-256-ECB under the session key: GCM's block function
  GCM128_CONTEXT* gcm = nullptr;  // GHASH key (H = E_K(0)) and per-record state
  bool block_failed = false;      // an EVP call inside the block function failed
};

void RecordMac::GcmDeleter::operator()(Gcm* g) const noexcept {
  if (g->gcm != nullptr) CRYPTO_gcm128_release(g->gcm);  // wipes H and the state
  EVP_CIPHER_CTX_free(g->aes);                           // wipes the key schedule
  EVP_CIPHER_free(g->ecb);
  delete g;
}

namespace {
// block128_f: `key` is the Gcm whose AES context encrypts one 16-byte block.
template <class G>
void aes_block(const unsigned char in[16], unsigned char out[16], const void* key) {
  auto* g = static_cast<G*>(const_cast<void*>(key));
  int len = 0;
  if (EVP_EncryptUpdate(g->aes, out, &len, in, 16) != 1 || len != 16) {
    g->block_failed = true;
    std::memset(out, 0, 16);
  }
}
}  // namespace

RecordMac::RecordMac() : gcm_(new Gcm) {
  gcm_->ecb = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  gcm_->aes = EVP_CIPHER_CTX_new();
}

void RecordMac::start(std::span<const std::uint8_t> session_key) noexcept {
  counter_ = 0;
  Gcm& g = *gcm_;
  keyed_ = g.ecb != nullptr && g.aes != nullptr && session_key.size() == kSessionKeySize &&
           EVP_EncryptInit_ex2(g.aes, g.ecb, session_key.data(), nullptr, nullptr) == 1 &&
           EVP_CIPHER_CTX_set_padding(g.aes, 0) == 1;
  if (!keyed_) return;
  g.block_failed = false;
  if (g.gcm == nullptr) {
    g.gcm = CRYPTO_gcm128_new(&g, &aes_block<Gcm>);  // once per RecordMac, keyed from the start
  } else {
    CRYPTO_gcm128_init(g.gcm, &g, &aes_block<Gcm>);  // the new key's H
  }
  keyed_ = g.gcm != nullptr && !g.block_failed;
}

bool RecordMac::tag_of(std::span<const std::uint8_t> record, std::span<std::uint8_t, kTagSize> tag) noexcept {
  static_assert(kTagSize == 16, "the tag is the whole GCM tag");
  std::uint8_t nonce[12] = {};
  store_be64(nonce + 4, counter_);
  Gcm& g = *gcm_;
  bool ok = keyed_;
  if (ok) {
    CRYPTO_gcm128_setiv(g.gcm, nonce, sizeof nonce);
    ok = CRYPTO_gcm128_aad(g.gcm, record.data(), record.size()) == 0;
    if (ok) CRYPTO_gcm128_tag(g.gcm, tag.data(), kTagSize);
    ok = ok && !g.block_failed;
  }
  if (!ok) std::fill(tag.begin(), tag.end(), std::uint8_t{0});
  return ok;
}

void RecordMac::seal(std::span<const std::uint8_t> record, std::span<std::uint8_t> tag) noexcept {
  // A failed library call leaves a zero tag: the peer refuses the record (bad_record_mac).
  tag_of(record, tag.first<kTagSize>());
  ++counter_;
}

bool RecordMac::verify(std::span<const std::uint8_t> record, std::span<const std::uint8_t> tag) noexcept {
  std::array<std::uint8_t, kTagSize> expect;
  const bool ok = tag_of(record, expect) && equal_secret(expect, tag);
  ++counter_;  // a failed record ends the connection anyway
  return ok;
}

}  // namespace ftproxy::replication
