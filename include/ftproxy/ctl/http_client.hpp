// A blocking HTTP/1.1 client for the proxy's control port (one request per connection).
// For command-line tools only: it runs a private io_context; never call it from a
// thread that runs one. Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "ftproxy/control/config.hpp"

namespace ftproxy::ctl {

struct HttpReply {
  enum class Kind : std::uint8_t {
    answered,     // `status` and `body` are the server's
    unreachable,  // resolve/connect/IO failed or `timeout` passed: `message` says which
  };
  Kind kind = Kind::unreachable;
  unsigned status = 0;
  std::string body;
  std::string message;
};

struct HttpRequestOptions {
  std::string_view method = "GET";  // "GET" | "POST"
  std::string_view target = "/status";
  std::string_view bearer_token;            // "" = no Authorization header
  std::chrono::milliseconds timeout{3000};  // resolve + connect + write + read
  std::size_t max_body_bytes = 256u << 20;  // larger answers are an error (unreachable)
};

// Never throws.
HttpReply http_request(const control::Endpoint& endpoint, const HttpRequestOptions& options);

}  // namespace ftproxy::ctl
