#include "ftproxy/control/http_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "ftproxy/common/secret_file.hpp"

namespace ftproxy::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResponse HttpResponse::text(std::string body, unsigned status) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}
HttpResponse HttpResponse::json(std::string body, unsigned status) {
  return HttpResponse{status, "application/json", std::move(body)};
}
HttpResponse HttpResponse::metrics(std::string body) {
  return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", std::move(body)};
}

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

class Session;

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Length is not secret; the content comparison does not stop at the first mismatch.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

namespace http_detail {

// The server's shared state; sessions keep it alive until their last handler ran.
struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(asio::io_context& io_context, ControlServerOptions opts)
      : io(io_context), options(std::move(opts)) {}

  asio::io_context& io;
  ControlServerOptions options;
  std::map<std::string, GetHandler, std::less<>> gets;
  std::map<std::string, PostHandler, std::less<>> posts;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  std::atomic<std::uint64_t> unauthorized{0};  // read by unauthorized() from any thread
  bool running = false;
  std::vector<std::weak_ptr<Session>> sessions;

  void accept_next();
  std::size_t live_sessions() {
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    return sessions.size();
  }
  HttpResponse route(const http::request<http::string_body>& req, http::fields& extra);
};

}  // namespace http_detail

using http_detail::ServerCore;

struct ControlServer::State : ServerCore {
  using ServerCore::ServerCore;
};

namespace {

HttpResponse status_response(unsigned status, std::string_view msg) {
  return HttpResponse::text(fmt::format("{} {}\n", status, msg), status);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ServerCore> state, tcp::socket socket)
      : state_(std::move(state)),
        stream_(std::move(socket)),
        buffer_(std::min(state_->options.max_request_bytes, kMaxHeaderBytes) +
                state_->options.max_request_bytes) {}

  void start() { read_request(); }
  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(std::min(state_->options.max_request_bytes, kMaxHeaderBytes)));
    parser_->body_limit(state_->options.max_request_bytes);
    stream_.expires_after(state_->options.io_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || !state_->running) {
      close();
      return;
    }
    if (ec) {
      if (ec.category() != http::make_error_code(http::error::bad_method).category() ||
          ec == http::error::partial_message) {
        close();  // timeout, reset, or peer gone mid-request: nobody to answer
        return;
      }
      HttpResponse r = ec == http::error::body_limit ? status_response(413, "Payload Too Large")
                       : ec == http::error::header_limit
                           ? status_response(431, "Request Header Fields Too Large")
                           : status_response(400, "Bad Request");
      write_response(std::move(r), {}, 11, false);
      return;
    }
    const auto& req = parser_->get();
    http::fields extra;
    HttpResponse r = state_->route(req, extra);
    write_response(std::move(r), std::move(extra), req.version(), req.keep_alive());
  }

  void write_response(HttpResponse r, http::fields extra, unsigned version, bool keep_alive) {
    response_ = {};
    response_.version(version);
    response_.result(r.status);
    for (const auto& f : extra) response_.set(f.name_string(), f.value());
    response_.set(http::field::server, "ftproxy");
    response_.set(http::field::content_type, r.content_type);
    response_.set(http::field::cache_control, "no-store");
    response_.body() = std::move(r.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(state_->options.io_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec || !keep_alive || !self->state_->running) {
                          self->close();
                          return;
                        }
                        self->read_request();
                      });
  }

  std::shared_ptr<ServerCore> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

HttpResponse ServerCore::route(const http::request<http::string_body>& req, http::fields& extra) {
  const std::string_view target(req.target().data(), req.target().size());
  if (target.empty() || target.front() != '/') return status_response(400, "Bad Request");
  const auto qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  const std::string_view query =
      qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);

  const auto get_it = gets.find(path);
  const auto post_it = posts.find(path);
  if (get_it == gets.end() && post_it == posts.end()) return status_response(404, "Not Found");

  try {
    if (req.method() == http::verb::get && get_it != gets.end()) return get_it->second();
    if (req.method() == http::verb::post && post_it != posts.end()) {
      if (!options.token.empty()) {
        const auto auth = req[http::field::authorization];
        const std::string_view given(auth.data(), auth.size());
        constexpr std::string_view kBearer = "Bearer ";
        if (!given.starts_with(kBearer)) {
          ++unauthorized;
          extra.set(http::field::www_authenticate, "Bearer");
          return HttpResponse::text(
              "401 Unauthorized: this action needs the control token "
              "(Authorization: Bearer <token>; ftproxyctl --token-file FILE)\n",
              401);
        }
        if (!constant_time_equal(given.substr(kBearer.size()), options.token)) {
          // Logged, but bounded: a script guessing tokens must not flood the log.
          const std::uint64_t n = ++unauthorized;
          if (n <= 10 || n % 1000 == 0)
            spdlog::warn("control request refused path={} reason=\"wrong token\" refused_total={}", path, n);
          return HttpResponse::text("403 Forbidden: wrong control token\n", 403);
        }
      }
      const PostRequest pr{path, query, std::string_view(req.body())};
      return post_it->second(pr);
    }
  } catch (const std::exception& e) {
    spdlog::warn("control request failed path={} error=\"{}\"", path, e.what());
    return status_response(500, "Internal Server Error");
  }
  std::string allow;
  if (get_it != gets.end()) allow = "GET";
  if (post_it != posts.end()) allow += allow.empty() ? "POST" : ", POST";
  extra.set(http::field::allow, allow);
  return status_response(405, "Method Not Allowed");
}

void ServerCore::accept_next() {
  if (!running || !acceptor) return;
  acceptor->async_accept(io, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (!self->running) return;
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (self->live_sessions() >= self->options.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto s = std::make_shared<Session>(self, std::move(socket));
        self->sessions.push_back(s);
        s->start();
      }
    }
    // Transient accept errors (EMFILE, ECONNABORTED) do not stop the listener.
    self->accept_next();
  });
}

ControlServer::ControlServer(asio::io_context& io, ControlServerOptions options)
    : state_(std::make_shared<State>(io, std::move(options))) {}

ControlServer::~ControlServer() {
  stop();
}

void ControlServer::get(std::string path, GetHandler handler) {
  state_->gets[std::move(path)] = std::move(handler);
}

void ControlServer::post(std::string path, PostHandler handler) {
  state_->posts[std::move(path)] = std::move(handler);
}

bool ControlServer::start(const Endpoint& listen, std::string& error) {
  if (state_->running) {
    error = "control server already started";
    return false;
  }
  beast::error_code ec;
  tcp::endpoint ep;
  const auto addr = asio::ip::make_address(listen.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, listen.port);
  } else {
    tcp::resolver resolver(state_->io);
    const auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
    if (ec || results.empty()) {
      error = fmt::format("cannot resolve control endpoint {}: {}", listen.to_string(),
                          ec ? ec.message() : "no address");
      return false;
    }
    ep = results.begin()->endpoint();
  }
  tcp::acceptor acc(state_->io);
  const char* step = "open";
  acc.open(ep.protocol(), ec);
  if (!ec) {
    step = "set SO_REUSEADDR";
    acc.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    step = "bind";
    acc.bind(ep, ec);
  }
  if (!ec) {
    step = "listen";
    acc.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = fmt::format("cannot listen on {}: {}: {}", listen.to_string(), step, ec.message());
    return false;
  }
  state_->port = acc.local_endpoint(ec).port();
  state_->acceptor.emplace(std::move(acc));
  state_->running = true;
  state_->accept_next();
  return true;
}

std::uint16_t ControlServer::local_port() const noexcept {
  return state_->port;
}

std::size_t ControlServer::open_connections() const noexcept {
  return state_->live_sessions();
}

std::uint64_t ControlServer::unauthorized() const noexcept {
  return state_->unauthorized.load(std::memory_order_relaxed);
}

bool ControlServer::is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  beast::error_code ec;
  const auto a = asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

void ControlServer::stop() {
  if (!state_->running) return;
  state_->running = false;
  beast::error_code ec;
  if (state_->acceptor) state_->acceptor->close(ec);
  for (const auto& w : state_->sessions) {
    if (auto s = w.lock()) s->close();
  }
  state_->sessions.clear();
}

std::optional<std::string> load_token_file(const std::string& path, std::string& error) {
  std::string why;
  auto token = read_secret_file(path, 4096, why);
  if (!token) {
    error = "token file: " + why;
    return std::nullopt;
  }
  while (!token->empty() &&
         (token->back() == '\n' || token->back() == '\r' || token->back() == ' ' || token->back() == '\t')) {
    token->pop_back();
  }
  if (token->empty()) {
    error = fmt::format("token file \"{}\": empty", path);
  } else if (!std::all_of(token->begin(), token->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    error = fmt::format("token file \"{}\": token contains whitespace or control characters", path);
  } else {
    return token;
  }
  return std::nullopt;
}

}  // namespace ftproxy::control
