// Arbiter backend on etcd v3 (a Raft-replicated store: no single point of failure for the
// test-and-set), spoken over etcd's JSON gateway (HTTP/1.1, POST /v3/...), etcd >= 3.4.
//
// Data model: one key per decided epoch, "/ftproxy/<cluster>/<epoch>" (decimal epoch),
// whose value is the owner's name. A key is created once and never changed or deleted
// by ftproxy. The fencing token is the key's create_revision: etcd's global revision,
// monotonic across every decision of the etcd cluster.
//
//   test_and_set = ONE transaction:
//     if create_revision(key) == 0 then put(key, candidate) else range(key)
//     succeeded                       -> won, token = the txn's header revision
//     existing value == candidate     -> won (idempotent retry), token = create_revision
//     existing value == someone else  -> lost(owner), token = create_revision
//   read   = range(key)               (linearizable)
//   latest = range(prefix "/ftproxy/<cluster>/"); keys sort as strings, so every key's
//            epoch is parsed and the numeric maximum taken. At most `max_latest_keys`
//            keys are read: a cluster with more answers unavailable (say so, never guess).
//
// Transport: every HTTP request opens a fresh TCP connection (arbitration is rare). The
// endpoints are tried in order; a refused, timed-out, non-etcd or erroring endpoint moves
// on to the next. The whole call, over all endpoints, is bounded by `timeout`: attempt i of
// n may use (time left) / (n - i). When every endpoint failed the answer is `unavailable`
// with a message naming each endpoint's failure. A txn whose reply was lost may still have
// been committed: a retry by the same candidate then answers `won` (the txn is idempotent).
//
// Authentication (optional): with a username, the client calls /v3/auth/authenticate with
// username + password, caches the token per endpoint and sends it as "Authorization: <token>";
// an expired/invalid token is renewed once per attempt.
//
// TLS (optional, `tls.enabled`): HTTPS to every endpoint, the server certificate verified
// against `tls.ca_file` (else the system's CAs) and its name (`tls.server_name`, else the
// endpoint's host, IP addresses matched against IP SANs); with `tls.cert_file` +
// `tls.key_file` the client presents a certificate (etcd --client-cert-auth). A failed
// handshake is that endpoint failing, with the TLS reason in the message.
//
// Threading: call from the io_context's thread; callbacks run on it, exactly once, never
// inline. Destroying the arbiter drops the callbacks of calls still in flight (they end
// within `timeout` and are discarded); the io_context must outlive them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "ftproxy/arbiter/arbiter.hpp"
#include "ftproxy/arbiter/embedded_client.hpp"  // ServerAddress

namespace ftproxy::arbiter {

struct EtcdTlsOptions {
  bool enabled = false;
  std::string ca_file;      // PEM CA bundle; "" = the system's default CAs
  std::string cert_file;    // PEM client certificate (chain); "" = none
  std::string key_file;     // PEM private key of cert_file
  std::string server_name;  // name to verify and send as SNI; "" = each endpoint's host
};

// Loads the files of `tls` into a TLS context once, as the client would: "" when usable,
// else why not (naming the file). Call at start-up to fail early on a bad path or key.
std::string check_etcd_tls(const EtcdTlsOptions& tls);

struct EtcdArbiterOptions {
  std::vector<ServerAddress> endpoints;    // etcd client URLs' host:port (members of ONE etcd cluster)
  std::chrono::milliseconds timeout{200};  // whole call, across endpoints (size it: docs/operations.md)
  std::string username;                    // "" = etcd auth disabled
  std::string password;                    // used when username is set
  std::size_t max_reply_bytes = 1 << 20;   // a longer HTTP reply is an endpoint failure
  std::size_t max_latest_keys = 10000;     // latest(): keys read under the cluster's prefix
  EtcdTlsOptions tls;
};

// Reads a password file: the first line, without trailing "\r\n" / spaces. Returns
// nullopt and sets `error` when the file cannot be read or the password is empty.
std::optional<std::string> load_etcd_password_file(const std::string& path, std::string& error);

class EtcdArbiter final : public Arbiter {
 public:
  EtcdArbiter(boost::asio::io_context& io, EtcdArbiterOptions options);
  ~EtcdArbiter() override;
  EtcdArbiter(const EtcdArbiter&) = delete;
  EtcdArbiter& operator=(const EtcdArbiter&) = delete;

  void test_and_set(const std::string& cluster, std::uint64_t epoch, const std::string& candidate,
                    ResultCallback done) override;
  void read(const std::string& cluster, std::uint64_t epoch, ReadCallback done) override;
  void latest(const std::string& cluster, ReadCallback done) override;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

// Blocking forms for command-line tools (ftproxyctl), overloads of the embedded client's:
// run a private io_context until the answer arrives (at most options.timeout plus name
// resolution). Never call them from a thread that runs an io_context.
ArbiterResult test_and_set_blocking(const EtcdArbiterOptions& options, const std::string& cluster,
                                    std::uint64_t epoch, const std::string& candidate);
ArbiterRead read_blocking(const EtcdArbiterOptions& options, const std::string& cluster, std::uint64_t epoch);
ArbiterRead latest_blocking(const EtcdArbiterOptions& options, const std::string& cluster);

// The wire format: pure functions, exposed for unit tests. Bodies are JSON text; `status`
// is the HTTP status. Parsers never throw: a body they cannot understand gives
// `unavailable` with a message (prefixed by nothing: the caller adds the endpoint).
namespace etcd {

std::string key(std::string_view cluster, std::uint64_t epoch);  // "/ftproxy/<cluster>/<epoch>"
std::string prefix(std::string_view cluster);                    // "/ftproxy/<cluster>/"
// The smallest key greater than every key starting with `prefix` (etcd's range_end).
std::string prefix_end(std::string_view prefix);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt on bad input

// POST /v3/kv/txn
std::string txn_request(std::string_view cluster, std::uint64_t epoch, std::string_view candidate);
ArbiterResult parse_txn_response(unsigned status, std::string_view body, std::string_view cluster,
                                 std::uint64_t epoch, std::string_view candidate);
// POST /v3/kv/range
std::string read_request(std::string_view cluster, std::uint64_t epoch);
ArbiterRead parse_read_response(unsigned status, std::string_view body, std::string_view cluster,
                                std::uint64_t epoch);
std::string latest_request(std::string_view cluster, std::size_t max_keys);
ArbiterRead parse_latest_response(unsigned status, std::string_view body, std::string_view cluster,
                                  std::size_t max_keys);
// POST /v3/auth/authenticate. parse: the token, or nullopt with `error` set.
std::string auth_request(std::string_view username, std::string_view password);
std::optional<std::string> parse_auth_response(unsigned status, std::string_view body, std::string& error);

// An error reply of the gateway ({"error","code","message"}) or of something that is not
// etcd, as one line: "etcd error 14 (HTTP 503): etcdserver: request timed out",
// "not an etcd v3 gateway: HTTP 404 ...".
std::string describe_error(unsigned status, std::string_view body);
// True for errors a fresh auth token may cure (expired or unknown token).
bool is_token_error(unsigned status, std::string_view body);

}  // namespace etcd

}  // namespace ftproxy::arbiter
