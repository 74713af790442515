#include "ftproxy/arbiter/auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <boost/json.hpp>

#include "ftproxy/common/secret_file.hpp"

namespace ftproxy::arbiter::auth {

namespace {

constexpr std::string_view kHex = "0123456789abcdef";

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xf];
  }
  return out;
}

bool is_hex(std::string_view s, std::size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (kHex.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string_view str_field(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  const boost::json::string* s = v == nullptr ? nullptr : v->if_string();
  return s == nullptr ? std::string_view{} : std::string_view(s->data(), s->size());
}

std::string trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  return to_hex(buf.data(), bytes);
}

std::string request_text(std::string_view nonce, std::string_view cnonce, std::uint64_t seq,
                         std::string_view op, std::string_view cluster, std::uint64_t epoch,
                         std::string_view candidate) {
  std::string t = "ftproxy-arbiter-v1 request\n";
  t.append(nonce).append("\n").append(cnonce).append("\n").append(std::to_string(seq)).append("\n");
  t.append(op).append("\n").append(cluster).append("\n").append(std::to_string(epoch)).append("\n");
  t.append(candidate);
  return t;
}

std::string reply_text(std::string_view nonce, std::string_view cnonce, std::uint64_t seq,
                       std::string_view result, std::string_view cluster, std::uint64_t epoch,
                       std::string_view owner, std::uint64_t token) {
  std::string t = "ftproxy-arbiter-v1 reply\n";
  t.append(nonce).append("\n").append(cnonce).append("\n").append(std::to_string(seq)).append("\n");
  t.append(result).append("\n").append(cluster).append("\n").append(std::to_string(epoch)).append("\n");
  t.append(owner).append("\n").append(std::to_string(token));
  return t;
}

std::string hmac_hex(std::string_view key, std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(), md, &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return to_hex(md, len);
}

bool mac_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const std::vector<std::string>* KeyRing::keys_for(std::string_view cluster) const {
  auto it = per_cluster.find(cluster);
  if (it != per_cluster.end()) return &it->second;
  return default_keys.empty() ? nullptr : &default_keys;
}

AuthOutcome check_request(const KeyRing& ring, const ArbiterRequest& req) {
  AuthOutcome out;
  const bool signed_request = req.fields.contains("mac");
  const std::vector<std::string>* keys = ring.keys_for(req.cluster);
  if (keys == nullptr) {
    if (!ring.allow_unauthenticated) {
      out.refused = "no key configured for cluster " + std::string(req.cluster);
    } else if (signed_request) {
      // The client expects a signed answer this arbiter cannot give: say so plainly.
      out.refused =
          "cluster " + std::string(req.cluster) + " has no key on this arbiter, but the request is signed";
    }
    return out;
  }
  if (!signed_request) {
    out.refused = "cluster " + std::string(req.cluster) + " needs a key (request not signed)";
    return out;
  }
  if (req.nonce.empty()) {
    out.refused = "signed request before hello (no nonce on this connection)";
    return out;
  }
  const boost::json::value* seq_v = req.fields.if_contains("seq");
  if (seq_v == nullptr || (!seq_v->is_uint64() && !(seq_v->is_int64() && seq_v->get_int64() > 0))) {
    out.refused = "\"seq\" missing or not a positive integer";
    return out;
  }
  const std::uint64_t seq =
      seq_v->is_uint64() ? seq_v->get_uint64() : static_cast<std::uint64_t>(seq_v->get_int64());
  if (seq != req.last_seq + 1) {
    out.refused = "replayed or out-of-order request (seq " + std::to_string(seq) + ", expected " +
                  std::to_string(req.last_seq + 1) + ")";
    return out;
  }
  const std::string_view cnonce = str_field(req.fields, "cnonce");
  const std::string_view mac = str_field(req.fields, "mac");
  if (!is_hex(cnonce, 2 * kNonceBytes)) {
    out.refused = "\"cnonce\" must be " + std::to_string(2 * kNonceBytes) + " hex characters";
    return out;
  }
  const std::string text =
      request_text(req.nonce, cnonce, seq, req.op, req.cluster, req.epoch, req.candidate);
  for (const std::string& key : *keys) {
    if (mac_equal(hmac_hex(key, text), mac)) {
      out.reply_key = key;
      out.seq = seq;
      out.cnonce = std::string(cnonce);
      return out;
    }
  }
  out.refused = "bad mac for cluster " + std::string(req.cluster) + " (wrong key, or a replayed request)";
  return out;
}

std::optional<std::vector<std::string>> load_key_file(const std::string& path, std::string& error) {
  std::string why;
  const auto read = read_secret_file(path, 65536, why);
  if (!read) {
    error = "key file: " + why;
    return std::nullopt;
  }
  const std::string& text = *read;
  std::vector<std::string> keys;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string k = trim(std::string_view(text).substr(start, nl - start));
    start = nl + 1;
    if (k.empty()) continue;
    if (k.size() < kMinKeyBytes) {
      error = "key file \"" + path + "\": key " + std::to_string(keys.size() + 1) + " is shorter than " +
              std::to_string(kMinKeyBytes) + " characters (make one with `openssl rand -hex 32`)";
      return std::nullopt;
    }
    keys.push_back(std::move(k));
  }
  if (keys.empty()) {
    error = "key file \"" + path + "\": empty";
    return std::nullopt;
  }
  return keys;
}

}  // namespace ftproxy::arbiter::auth
