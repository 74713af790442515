// The local HTTP/1.1 control port: GET /metrics, GET /status and token-protected POST
// actions (promote, fence, ...). Runs on the caller's io_context, which the packet loop
// shares: handlers run on that thread, must return quickly and must never block.
// Requests are bounded in size and time; garbage gets a 400 and the connection closes.
//
// Threading: every member function and every handler runs on the io_context's thread
// (single-threaded io_context). Beast stays inside the .cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "ftproxy/control/config.hpp"

namespace ftproxy::control {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;

  static HttpResponse text(std::string body, unsigned status = 200);
  static HttpResponse json(std::string body, unsigned status = 200);
  // Prometheus text exposition format, version 0.0.4.
  static HttpResponse metrics(std::string body);
};

struct PostRequest {
  std::string_view path;   // target without the query
  std::string_view query;  // after '?', undecoded ("" if none)
  std::string_view body;
};

using GetHandler = std::function<HttpResponse()>;
using PostHandler = std::function<HttpResponse(const PostRequest&)>;

struct ControlServerOptions {
  // "" = POST needs no token; else every POST (a mutating action) needs
  // "Authorization: Bearer <token>": no/other scheme -> 401, wrong token -> 403, both
  // counted (unauthorized()); compared in constant time. GET routes (read-only) stay open.
  std::string token;
  std::size_t max_request_bytes = 64 * 1024;   // body bound (413 + close); the header is bounded
                                               // by min(this, 16 KiB) (431 + close)
  std::chrono::milliseconds io_timeout{5000};  // per read/write, also bounds idle keep-alive
  std::size_t max_connections = 32;            // beyond this, new connections are closed at once
};

class ControlServer {
 public:
  explicit ControlServer(boost::asio::io_context& io, ControlServerOptions options = {});
  ~ControlServer();  // closes the listener and every connection
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Routes match the path exactly (query ignored). Register before or after start().
  void get(std::string path, GetHandler handler);
  void post(std::string path, PostHandler handler);

  // Binds and listens (host is resolved synchronously: call at start-up). Port 0 picks
  // an ephemeral port. Returns false with a message naming the endpoint.
  bool start(const Endpoint& listen, std::string& error);
  // The bound port (0 before start()).
  std::uint16_t local_port() const noexcept;
  // Closes the listener and all connections; idempotent.
  void stop();
  std::size_t open_connections() const noexcept;
  // POST requests refused for a missing (401) or wrong (403) token since start.
  std::uint64_t unauthorized() const noexcept;
  // True for a loopback address (127.0.0.0/8, ::1) or "localhost".
  static bool is_loopback(const std::string& host);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Reads a bearer token from `path`: trailing whitespace is stripped; refuses (nullopt +
// message in `error`) a missing, empty, oversized (> 4 KiB) or group/world-accessible file.
std::optional<std::string> load_token_file(const std::string& path, std::string& error);

}  // namespace ftproxy::control
