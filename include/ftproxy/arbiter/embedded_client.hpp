// Arbiter client for the embedded `ftproxy-arbiter` server (protocol: embedded_server.hpp).
//
// Each request opens a TCP connection, sends one JSON line (after a hello when a key is
// configured), reads one reply and closes:
// arbitration is rare, and a fresh connection never carries a stale state. Endpoints are
// tried in order until one answers. The whole request, over all endpoints, is bounded by
// `timeout`: attempt i of n may use (time left) / (n - i), so a black-holed first endpoint
// still leaves time for the next ones. When no endpoint answers in time the result is
// `unavailable` with a message naming each endpoint's failure.
//
// All endpoints must be addresses of ONE arbiter server (one data directory): listing
// two independent arbiter servers would let each hand the same epoch to a different
// candidate.
//
// Threading: call from the io_context's thread; callbacks run on it, never inline.
// Destroying the client drops the callbacks of requests still in flight (they finish
// within `timeout` and are discarded); the io_context must outlive them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "ftproxy/arbiter/arbiter.hpp"

namespace boost::json {
class object;
}

namespace ftproxy::arbiter {

struct ServerAddress {
  std::string host;  // numeric address or host name (resolved per request)
  std::uint16_t port = 0;
};

struct EmbeddedClientOptions {
  std::vector<ServerAddress> endpoints;
  std::chrono::milliseconds timeout{200};  // whole request, across endpoints
  std::size_t max_reply_bytes = 4096;
  // Adds fields to every request before it is sent. Empty = none.
  std::function<void(boost::json::object&)> decorate_request;
  // The cluster's pre-shared key (auth.hpp; the first line of arbiter.key_file). Non-empty:
  // every request is preceded by a hello on its connection, signed, and its reply must
  // carry a valid MAC (an unsigned or wrongly signed reply counts as that endpoint failing).
  std::string key;
};

class EmbeddedClient final : public Arbiter {
 public:
  EmbeddedClient(boost::asio::io_context& io, EmbeddedClientOptions options);
  ~EmbeddedClient() override;
  EmbeddedClient(const EmbeddedClient&) = delete;
  EmbeddedClient& operator=(const EmbeddedClient&) = delete;

  void test_and_set(const std::string& cluster, std::uint64_t epoch, const std::string& candidate,
                    ResultCallback done) override;
  void read(const std::string& cluster, std::uint64_t epoch, ReadCallback done) override;
  void latest(const std::string& cluster, ReadCallback done) override;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

// Blocking forms for command-line tools (ftproxyctl): run a private io_context until the
// answer arrives (at most options.timeout plus resolution). Never call them from a thread
// that runs an io_context.
ArbiterResult test_and_set_blocking(const EmbeddedClientOptions& options, const std::string& cluster,
                                    std::uint64_t epoch, const std::string& candidate);
ArbiterRead read_blocking(const EmbeddedClientOptions& options, const std::string& cluster,
                          std::uint64_t epoch);
ArbiterRead latest_blocking(const EmbeddedClientOptions& options, const std::string& cluster);

}  // namespace ftproxy::arbiter
