#include "ftproxy/arbiter/etcd_arbiter.hpp"
#include "blocking.hpp"
#include "resolve.hpp"

#include <array>
#include <charconv>
#include <fstream>
#include <functional>
#include <utility>

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include "ftproxy/common/secret_file.hpp"

namespace ftproxy::arbiter {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------
namespace etcd {

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string printable_excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  if (body.size() > 80) out += "...";
  return out;
}

std::optional<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

// etcd sends int64 as JSON strings; numbers are accepted too.
std::optional<std::uint64_t> u64_of(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  if (!v->is_string()) return std::nullopt;
  std::string_view s = v->get_string();
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> b64_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::string();  // proto3 JSON omits empty bytes
  if (!v->is_string()) return std::nullopt;
  return base64_decode(v->get_string());
}

// A 200 reply must carry etcd's response header: anything else is not etcd.
std::optional<json::object> etcd_reply(unsigned status, std::string_view body, std::string& error) {
  if (status != 200) {
    error = describe_error(status, body);
    return std::nullopt;
  }
  auto o = parse_object(body);
  if (!o || !o->contains("header") || !o->at("header").is_object()) {
    error = "not an etcd v3 gateway: HTTP 200 without an etcd header, body '" + printable_excerpt(body) + "'";
    return std::nullopt;
  }
  return o;
}

struct KeyValue {
  std::string key;
  std::string value;
  std::uint64_t create_revision = 0;
};

// Parses one entry of a range response's "kvs".
std::optional<KeyValue> key_value(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  auto key = b64_field(o, "key");
  auto value = b64_field(o, "value");
  auto rev = u64_of(o.if_contains("create_revision"));
  if (!key || !value || !rev || *rev == 0) return std::nullopt;
  return KeyValue{std::move(*key), std::move(*value), *rev};
}

const json::array* kvs_of(const json::object& range) {
  const json::value* kvs = range.if_contains("kvs");
  if (kvs == nullptr || !kvs->is_array()) return nullptr;
  return &kvs->get_array();
}

ArbiterResult result_unavailable(std::string message) {
  ArbiterResult r;
  r.message = std::move(message);
  return r;
}

ArbiterRead read_unavailable(std::string message) {
  ArbiterRead r;
  r.message = std::move(message);
  return r;
}

std::optional<std::uint64_t> parse_epoch(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return out;
}

}  // namespace

std::string key(std::string_view cluster, std::uint64_t epoch) {
  return prefix(cluster) + std::to_string(epoch);
}

std::string prefix(std::string_view cluster) {
  return "/ftproxy/" + std::string(cluster) + "/";
}

std::string prefix_end(std::string_view p) {
  std::string end(p);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means "every key >= key"
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                      (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    std::array<int, 4> v{};
    int pad = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = base64_value(c);
      if (v[j] < 0) return std::nullopt;
    }
    std::uint32_t n = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) | (std::uint32_t(v[2]) << 6) |
                      std::uint32_t(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string txn_request(std::string_view cluster, std::uint64_t epoch, std::string_view candidate) {
  std::string k = base64_encode(key(cluster, epoch));
  json::object compare{{"key", k}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
  json::object put{{"request_put", json::object{{"key", k}, {"value", base64_encode(candidate)}}}};
  json::object range{{"request_range", json::object{{"key", k}}}};
  json::object txn{
      {"compare", json::array{compare}}, {"success", json::array{put}}, {"failure", json::array{range}}};
  return json::serialize(txn);
}

ArbiterResult parse_txn_response(unsigned status, std::string_view body, std::string_view cluster,
                                 std::uint64_t epoch, std::string_view candidate) {
  std::string error;
  auto o = etcd_reply(status, body, error);
  if (!o) return result_unavailable(std::move(error));
  const json::value* succeeded = o->if_contains("succeeded");
  if (succeeded != nullptr && succeeded->is_bool() && succeeded->get_bool()) {
    // The put is the txn's only write: the txn's revision is the key's create_revision.
    auto rev = u64_of(o->at("header").get_object().if_contains("revision"));
    if (!rev || *rev == 0) return result_unavailable("etcd txn succeeded without a revision");
    ArbiterResult r;
    r.kind = ArbiterResult::Kind::won;
    r.owner = std::string(candidate);
    r.fencing_token = *rev;
    return r;
  }
  const json::value* responses = o->if_contains("responses");
  if (responses == nullptr || !responses->is_array() || responses->get_array().size() != 1 ||
      !responses->get_array()[0].is_object()) {
    return result_unavailable("etcd txn reply without the range response");
  }
  const json::value* range = responses->get_array()[0].get_object().if_contains("response_range");
  const json::array* kvs = range != nullptr && range->is_object() ? kvs_of(range->get_object()) : nullptr;
  // The compare failed, so the key existed when the txn ran: an empty range is not etcd.
  if (kvs == nullptr || kvs->size() != 1) return result_unavailable("etcd txn failed but read no key");
  auto kv = key_value((*kvs)[0]);
  if (!kv || kv->key != key(cluster, epoch)) return result_unavailable("etcd txn read an unexpected key");
  if (kv->value.empty()) return result_unavailable("etcd key " + kv->key + " holds an empty owner");
  ArbiterResult r;
  r.kind = kv->value == candidate ? ArbiterResult::Kind::won : ArbiterResult::Kind::lost;
  r.owner = std::move(kv->value);
  r.fencing_token = kv->create_revision;
  return r;
}

std::string read_request(std::string_view cluster, std::uint64_t epoch) {
  return json::serialize(json::object{{"key", base64_encode(key(cluster, epoch))}});
}

ArbiterRead parse_read_response(unsigned status, std::string_view body, std::string_view cluster,
                                std::uint64_t epoch) {
  std::string error;
  auto o = etcd_reply(status, body, error);
  if (!o) return read_unavailable(std::move(error));
  ArbiterRead r;
  r.epoch = epoch;
  const json::array* kvs = kvs_of(*o);
  if (kvs == nullptr || kvs->empty()) {
    if (o->contains("kvs")) return read_unavailable("etcd range reply with malformed kvs");
    r.kind = ArbiterRead::Kind::undecided;
    return r;
  }
  auto kv = key_value((*kvs)[0]);
  if (kvs->size() != 1 || !kv || kv->key != key(cluster, epoch))
    return read_unavailable("etcd range read an unexpected key");
  if (kv->value.empty()) return read_unavailable("etcd key " + kv->key + " holds an empty owner");
  r.kind = ArbiterRead::Kind::decided;
  r.owner = std::move(kv->value);
  r.fencing_token = kv->create_revision;
  return r;
}

std::string latest_request(std::string_view cluster, std::size_t max_keys) {
  std::string p = prefix(cluster);
  return json::serialize(json::object{{"key", base64_encode(p)},
                                      {"range_end", base64_encode(prefix_end(p))},
                                      {"limit", std::to_string(max_keys)}});
}

ArbiterRead parse_latest_response(unsigned status, std::string_view body, std::string_view cluster,
                                  std::size_t max_keys) {
  std::string error;
  auto o = etcd_reply(status, body, error);
  if (!o) return read_unavailable(std::move(error));
  const json::array* kvs = kvs_of(*o);
  if (kvs == nullptr && o->contains("kvs")) return read_unavailable("etcd range reply with malformed kvs");
  std::size_t n = kvs != nullptr ? kvs->size() : 0;
  const json::value* more = o->if_contains("more");
  auto count = u64_of(o->if_contains("count"));
  if ((more != nullptr && more->is_bool() && more->get_bool()) || (count && *count > n) || n > max_keys) {
    return read_unavailable("more than " + std::to_string(max_keys) + " keys under etcd prefix " +
                            prefix(cluster) + ": latest epoch not decided (raise max_latest_keys)");
  }
  const std::string p = prefix(cluster);
  ArbiterRead best;
  best.kind = ArbiterRead::Kind::undecided;
  for (std::size_t i = 0; i < n; ++i) {
    auto kv = key_value((*kvs)[i]);
    if (!kv) return read_unavailable("etcd range reply with a malformed key-value");
    if (kv->key.compare(0, p.size(), p) != 0)
      return read_unavailable("etcd range read a key outside the prefix");
    // Keys under the prefix that are not epochs (e.g. written by hand) are not decisions.
    auto e = parse_epoch(std::string_view(kv->key).substr(p.size()));
    if (!e || kv->value.empty()) continue;
    if (best.kind == ArbiterRead::Kind::undecided || *e > best.epoch) {
      best.kind = ArbiterRead::Kind::decided;
      best.epoch = *e;
      best.owner = std::move(kv->value);
      best.fencing_token = kv->create_revision;
    }
  }
  return best;
}

std::string auth_request(std::string_view username, std::string_view password) {
  return json::serialize(json::object{{"name", username}, {"password", password}});
}

std::optional<std::string> parse_auth_response(unsigned status, std::string_view body, std::string& error) {
  auto o = etcd_reply(status, body, error);
  if (!o) return std::nullopt;
  const json::value* token = o->if_contains("token");
  if (token == nullptr || !token->is_string() || token->get_string().empty()) {
    error = "etcd authenticate reply without a token";
    return std::nullopt;
  }
  return std::string(token->get_string());
}

std::string describe_error(unsigned status, std::string_view body) {
  auto o = parse_object(body);
  const json::value* code = o ? o->if_contains("code") : nullptr;
  const json::value* message = o ? o->if_contains("message") : nullptr;
  if (message == nullptr && o) message = o->if_contains("error");
  if (code == nullptr || !code->is_number() || message == nullptr || !message->is_string()) {
    return "not an etcd v3 gateway: HTTP " + std::to_string(status) + ", body '" + printable_excerpt(body) +
           "'";
  }
  std::string text(message->get_string());
  std::string out =
      "etcd error " + json::serialize(*code) + " (HTTP " + std::to_string(status) + "): " + text;
  if (text.find("user name is empty") != std::string::npos)
    out += " (etcd authentication is enabled: configure arbiter.username and arbiter.password_file)";
  return out;
}

bool is_token_error(unsigned status, std::string_view body) {
  if (status == 401) return true;
  auto o = parse_object(body);
  if (!o) return false;
  auto code = u64_of(o->if_contains("code"));
  return code && *code == 16;  // gRPC Unauthenticated: invalid or expired token
}

}  // namespace etcd

std::optional<std::string> load_etcd_password_file(const std::string& path, std::string& error) {
  std::string why;
  const auto text = read_secret_file(path, 4096, why);
  if (!text) {
    error = "etcd password file: " + why;
    return std::nullopt;
  }
  std::string line = text->substr(0, text->find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) {
    error = "etcd password file " + path + " is empty";
    return std::nullopt;
  }
  return line;
}

// ---------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------
namespace {

std::string where(const ServerAddress& a) {
  return a.host + ":" + std::to_string(a.port);
}

namespace ssl = asio::ssl;

// Said with an error after a completed handshake: with TLS 1.3 that is how a server
// refusing the client certificate shows (an alert, or a reset, on the first read/write).
constexpr const char* kClientCertHint =
    " (does etcd accept arbiter.tls_cert_file? it must be signed by etcd's --trusted-ca-file)";

// A client TLS context from the options; nullptr + `error` when a file is unusable.
std::shared_ptr<ssl::context> make_tls_context(const EtcdTlsOptions& tls, std::string& error) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (tls.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) error = "system CA store: " + ec.message();
  } else if (ctx->load_verify_file(tls.ca_file, ec); ec) {
    error = "tls_ca_file \"" + tls.ca_file + "\": " + ec.message();
  }
  if (error.empty() && !tls.cert_file.empty()) {
    if (ctx->use_certificate_chain_file(tls.cert_file, ec); ec) {
      error = "tls_cert_file \"" + tls.cert_file + "\": " + ec.message();
    } else if (ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec); ec) {
      error = "tls_key_file \"" + tls.key_file + "\": " + ec.message();
    } else if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      error = "tls_key_file \"" + tls.key_file + "\" does not match tls_cert_file \"" + tls.cert_file + "\"";
    }
  }
  if (!error.empty()) return nullptr;
  return ctx;
}

// State shared by every call of one EtcdArbiter (outlives the arbiter while calls run).
struct Session {
  EtcdArbiterOptions options;
  std::vector<std::string> tokens;    // auth token per endpoint ("" = none yet)
  std::shared_ptr<ssl::context> tls;  // set when options.tls.enabled and the files loaded
  std::string tls_error;              // why TLS is unusable (every call fails with it)
};

// One call: tries the endpoints in turn until one gives an acceptable reply.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // Returns "" when (status, body) is the answer, else why this endpoint failed.
  using Accept = std::function<std::string(unsigned status, std::string_view body)>;
  // `error` is empty when an endpoint's reply was accepted.
  using Done = std::function<void(const std::string& error)>;

  Exchange(asio::io_context& io, std::shared_ptr<Session> session, std::string target, std::string body,
           Accept accept, Done done)
      : session_(std::move(session)),
        target_(std::move(target)),
        body_(std::move(body)),
        accept_(std::move(accept)),
        done_(std::move(done)),
        io_(io),
        socket_(io),
        resolver_(io),
        timer_(io) {}

  void start(asio::io_context& io) {
    deadline_ = Clock::now() + session_->options.timeout;
    if (!session_->tls_error.empty()) {
      failures_ = "TLS set-up: " + session_->tls_error;
      asio::post(io, [self = shared_from_this()] { self->finish(self->failures_); });
      return;
    }
    // Posted so that the caller's callback can never run inside the call that asked.
    asio::post(io, [self = shared_from_this()] { self->attempt(0); });
  }

 private:
  using Next = std::function<void(unsigned status, std::string body)>;

  const EtcdArbiterOptions& options() const { return session_->options; }

  void attempt(std::size_t i) {
    std::uint64_t gen = ++generation_;
    resolver_.cancel();
    close_socket();
    const auto& eps = options().endpoints;
    if (eps.empty()) return finish("no etcd endpoint configured");
    if (i >= eps.size()) return finish("no etcd endpoint answered: " + failures_);
    auto left = deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) {
      return finish("no etcd answer within " + std::to_string(options().timeout.count()) +
                    " ms: " + failures_);
    }
    timer_.expires_after(left / static_cast<long>(eps.size() - i));
    timer_.async_wait([self = shared_from_this(), i, gen](boost::system::error_code ec) {
      if (ec || gen != self->generation_) return;
      self->fail(i, gen, "timed out");
    });
    renewed_token_ = false;
    if (!options().username.empty() && session_->tokens[i].empty()) return authenticate(i, gen);
    request(i, gen);
  }

  void authenticate(std::size_t i, std::uint64_t gen) {
    post(i, gen, "/v3/auth/authenticate", etcd::auth_request(options().username, options().password), {},
         [self = shared_from_this(), i, gen](unsigned status, std::string body) {
           std::string error;
           auto token = etcd::parse_auth_response(status, body, error);
           if (!token) return self->fail(i, gen, "authentication failed: " + error);
           self->session_->tokens[i] = std::move(*token);
           self->request(i, gen);
         });
  }

  void request(std::size_t i, std::uint64_t gen) {
    post(i, gen, target_, body_, session_->tokens[i],
         [self = shared_from_this(), i, gen](unsigned status, std::string body) {
           if (!self->options().username.empty() && etcd::is_token_error(status, body) &&
               !self->renewed_token_) {
             self->renewed_token_ = true;
             self->session_->tokens[i].clear();
             return self->authenticate(i, gen);
           }
           std::string why = self->accept_(status, body);
           if (!why.empty()) return self->fail(i, gen, why);
           self->finish({});
         });
  }

  // One HTTP POST on a fresh connection to endpoint i.
  void post(std::size_t i, std::uint64_t gen, const std::string& target, const std::string& body,
            const std::string& token, Next next) {
    close_socket();
    const ServerAddress& a = options().endpoints[i];
    request_ = {};
    request_.method(http::verb::post);
    request_.target(target);
    request_.version(11);
    request_.set(http::field::host, where(a));
    request_.set(http::field::content_type, "application/json");
    if (!token.empty()) request_.set(http::field::authorization, token);
    request_.keep_alive(false);
    request_.body() = body;
    request_.prepare_payload();
    next_ = std::move(next);

    detail::resolve_endpoint(
        resolver_, a.host, a.port,
        [self = shared_from_this(), i, gen](std::string error, std::vector<tcp::endpoint> eps) {
          if (gen != self->generation_) return;
          if (!error.empty()) return self->fail(i, gen, error);
          self->connect(i, gen, std::move(eps));
        });
  }

  // The TCP socket of the current connection (under the TLS stream when TLS is on).
  tcp::socket& sock() { return tls_ ? tls_->next_layer() : socket_; }

  void connect(std::size_t i, std::uint64_t gen, std::vector<tcp::endpoint> eps) {
    eps_ = std::move(eps);
    if (session_->tls) tls_.emplace(io_, *session_->tls);
    asio::async_connect(
        sock(), eps_,
        [self = shared_from_this(), i, gen](boost::system::error_code ec, const tcp::endpoint&) {
          if (gen != self->generation_) return;
          if (ec) return self->fail(i, gen, "connect: " + ec.message());
          boost::system::error_code ignored;
          self->sock().set_option(tcp::no_delay(true), ignored);
          if (!self->tls_) return self->write_request(i, gen);
          self->handshake(i, gen);
        });
  }

  void handshake(std::size_t i, std::uint64_t gen) {
    const ServerAddress& a = options().endpoints[i];
    const std::string& name = options().tls.server_name.empty() ? a.host : options().tls.server_name;
    boost::system::error_code parse_ec;
    asio::ip::make_address(name, parse_ec);
    if (parse_ec) SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());  // SNI: names only
    tls_->set_verify_callback(ssl::host_name_verification(name));
    tls_->async_handshake(ssl::stream_base::client, [self = shared_from_this(), i,
                                                     gen](boost::system::error_code ec) {
      if (gen != self->generation_) return;
      if (ec) {
        return self->fail(i, gen,
                          "TLS handshake: " + ec.message() +
                              " (check arbiter.tls_ca_file, tls_cert_file, tls_key_file, tls_server_name)");
      }
      self->write_request(i, gen);
    });
  }

  void write_request(std::size_t i, std::uint64_t gen) {
    auto done = [self = shared_from_this(), i, gen](boost::system::error_code wec, std::size_t) {
      if (gen != self->generation_) return;
      if (wec && self->tls_)
        return self->fail(i, gen, "TLS session: send: " + wec.message() + kClientCertHint);
      if (wec) return self->fail(i, gen, "send: " + wec.message());
      self->read_reply(i, gen);
    };
    if (tls_) {
      http::async_write(*tls_, request_, std::move(done));
    } else {
      http::async_write(socket_, request_, std::move(done));
    }
  }

  void read_reply(std::size_t i, std::uint64_t gen) {
    buffer_.clear();
    parser_.emplace();
    parser_->body_limit(options().max_reply_bytes);
    auto on_read = [self = shared_from_this(), i, gen](boost::system::error_code ec, std::size_t) {
      if (gen != self->generation_) return;
      if (ec == http::error::body_limit) return self->fail(i, gen, "reply larger than max_reply_bytes");
      if (ec == http::error::end_of_stream) return self->fail(i, gen, "connection closed before a reply");
      if (ec && ec.category() == make_error_code(http::error::end_of_stream).category())
        return self->fail(i, gen, "not an HTTP server (" + ec.message() + ")");
      // TLS 1.3: a server refusing our certificate says so after the handshake.
      if (ec && self->tls_) return self->fail(i, gen, "TLS session: " + ec.message() + kClientCertHint);
      if (ec) return self->fail(i, gen, "receive: " + ec.message());
      auto& res = self->parser_->get();
      Next next = std::move(self->next_);
      next(res.result_int(), std::move(res.body()));
    };
    if (tls_) {
      http::async_read(*tls_, buffer_, *parser_, std::move(on_read));
    } else {
      http::async_read(socket_, buffer_, *parser_, std::move(on_read));
    }
  }

  void fail(std::size_t i, std::uint64_t gen, const std::string& why) {
    if (gen != generation_ || finished_) return;
    if (!failures_.empty()) failures_ += "; ";
    failures_ += where(options().endpoints[i]) + " " + why;
    attempt(i + 1);
  }

  void finish(const std::string& error) {
    if (finished_) return;
    finished_ = true;
    ++generation_;
    timer_.cancel();
    resolver_.cancel();
    close_socket();
    done_(error);
  }

  void close_socket() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (tls_) tls_->next_layer().close(ignored);
    tls_.reset();
  }

  std::shared_ptr<Session> session_;
  std::string target_;
  std::string body_;
  Accept accept_;
  Done done_;
  asio::io_context& io_;
  tcp::socket socket_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::vector<tcp::endpoint> eps_;
  http::request<http::string_body> request_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Next next_;
  std::string failures_;
  Clock::time_point deadline_{};
  std::uint64_t generation_ = 0;
  bool renewed_token_ = false;
  bool finished_ = false;
};

}  // namespace

struct EtcdArbiter::Shared {
  Shared(asio::io_context& io_, EtcdArbiterOptions options) : io(io_), session(std::make_shared<Session>()) {
    session->tokens.resize(options.endpoints.size());
    if (options.tls.enabled) session->tls = make_tls_context(options.tls, session->tls_error);
    session->options = std::move(options);
  }

  // Runs `answer` on the io_context (never inline) unless the arbiter is gone by then.
  template <typename Answer>
  void post_answer(std::weak_ptr<Shared> alive, Answer answer) {
    asio::post(io, [alive = std::move(alive), answer = std::move(answer)]() mutable {
      if (!alive.expired()) answer();
    });
  }

  asio::io_context& io;
  std::shared_ptr<Session> session;
};

EtcdArbiter::EtcdArbiter(asio::io_context& io, EtcdArbiterOptions options)
    : shared_(std::make_shared<Shared>(io, std::move(options))) {}

EtcdArbiter::~EtcdArbiter() = default;

void EtcdArbiter::test_and_set(const std::string& cluster, std::uint64_t epoch, const std::string& candidate,
                               ResultCallback done) {
  std::weak_ptr<Shared> alive = shared_;
  if (!valid_arbiter_name(cluster) || !valid_arbiter_name(candidate)) {
    ArbiterResult r;
    r.message = "invalid cluster or candidate name";
    return shared_->post_answer(alive, [done = std::move(done), r = std::move(r)] { done(r); });
  }
  auto result = std::make_shared<ArbiterResult>();
  auto accept = [result, cluster, epoch, candidate](unsigned status, std::string_view body) {
    *result = etcd::parse_txn_response(status, body, cluster, epoch, candidate);
    return result->kind == ArbiterResult::Kind::unavailable ? result->message : std::string();
  };
  auto finished = [alive, result, done = std::move(done)](const std::string& error) {
    if (alive.expired()) return;
    if (!error.empty()) {
      ArbiterResult r;
      r.message = error;
      return done(std::move(r));
    }
    done(std::move(*result));
  };
  auto ex = std::make_shared<Exchange>(shared_->io, shared_->session, "/v3/kv/txn",
                                       etcd::txn_request(cluster, epoch, candidate), std::move(accept),
                                       std::move(finished));
  ex->start(shared_->io);
}

namespace {

// read() and latest() differ only in the request and the parser.
void range_call(asio::io_context& io, const std::shared_ptr<Session>& session, std::weak_ptr<void> alive,
                std::string body, std::function<ArbiterRead(unsigned, std::string_view)> parse,
                Arbiter::ReadCallback done) {
  auto result = std::make_shared<ArbiterRead>();
  auto accept = [result, parse = std::move(parse)](unsigned status, std::string_view reply) {
    *result = parse(status, reply);
    return result->kind == ArbiterRead::Kind::unavailable ? result->message : std::string();
  };
  auto finished = [alive = std::move(alive), result, done = std::move(done)](const std::string& error) {
    if (alive.expired()) return;
    if (!error.empty()) {
      ArbiterRead r;
      r.message = error;
      return done(std::move(r));
    }
    done(std::move(*result));
  };
  auto ex = std::make_shared<Exchange>(io, session, "/v3/kv/range", std::move(body), std::move(accept),
                                       std::move(finished));
  ex->start(io);
}

}  // namespace

void EtcdArbiter::read(const std::string& cluster, std::uint64_t epoch, ReadCallback done) {
  if (!valid_arbiter_name(cluster)) {
    return shared_->post_answer(shared_, [done = std::move(done)] {
      ArbiterRead r;
      r.message = "invalid cluster name";
      done(r);
    });
  }
  range_call(
      shared_->io, shared_->session, shared_, etcd::read_request(cluster, epoch),
      [cluster, epoch](unsigned status, std::string_view body) {
        return etcd::parse_read_response(status, body, cluster, epoch);
      },
      std::move(done));
}

void EtcdArbiter::latest(const std::string& cluster, ReadCallback done) {
  if (!valid_arbiter_name(cluster)) {
    return shared_->post_answer(shared_, [done = std::move(done)] {
      ArbiterRead r;
      r.message = "invalid cluster name";
      done(r);
    });
  }
  const std::size_t max_keys = shared_->session->options.max_latest_keys;
  range_call(
      shared_->io, shared_->session, shared_, etcd::latest_request(cluster, max_keys),
      [cluster, max_keys](unsigned status, std::string_view body) {
        return etcd::parse_latest_response(status, body, cluster, max_keys);
      },
      std::move(done));
}

std::string check_etcd_tls(const EtcdTlsOptions& tls) {
  std::string error;
  if (tls.enabled) make_tls_context(tls, error);
  return error;
}

ArbiterResult test_and_set_blocking(const EtcdArbiterOptions& options, const std::string& cluster,
                                    std::uint64_t epoch, const std::string& candidate) {
  return detail::test_and_set_blocking<EtcdArbiter>(options, cluster, epoch, candidate);
}
ArbiterRead read_blocking(const EtcdArbiterOptions& options, const std::string& cluster,
                          std::uint64_t epoch) {
  return detail::read_blocking<EtcdArbiter>(options, cluster, epoch);
}
ArbiterRead latest_blocking(const EtcdArbiterOptions& options, const std::string& cluster) {
  return detail::latest_blocking<EtcdArbiter>(options, cluster);
}

}  // namespace ftproxy::arbiter
