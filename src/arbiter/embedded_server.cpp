#include "ftproxy/arbiter/embedded_server.hpp"

#include <array>
#include <atomic>
#include <map>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "ftproxy/arbiter/arbiter.hpp"
#include "ftproxy/arbiter/auth.hpp"
#include "ftproxy/common/time.hpp"
#include "json_fields.hpp"

namespace ftproxy::arbiter {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

using detail::json_sv;
using detail::json_u64;

std::string line_of(const boost::json::object& o) {
  return boost::json::serialize(o) + "\n";
}

std::string error_line(std::string_view message) {
  boost::json::object o;
  o["result"] = "error";
  o["message"] = message;
  return line_of(o);
}

}  // namespace

namespace server_detail {

class Session;

// Per-connection authentication state.
struct ConnectionAuth {
  std::string nonce;  // set by "hello"
  std::uint64_t last_seq = 0;
};

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(asio::io_context& io_, FlagStore& store_, EmbeddedServerOptions options_)
      : io(io_), store(store_), options(std::move(options_)), acceptor(io_) {}

  void accept();
  // Answers one request line; sets `close` when the connection must end after the reply.
  std::string handle(std::string_view line, const std::string& peer, ConnectionAuth& auth, bool& close);
  std::string refuse(const std::string& peer, std::string_view message, bool& close) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (options.on_error) options.on_error(peer, message);
    close = true;
    return error_line(message);
  }

  asio::io_context& io;
  FlagStore& store;
  EmbeddedServerOptions options;
  tcp::acceptor acceptor;
  bool stopped = false;
  std::map<Session*, std::weak_ptr<Session>> sessions;

  std::atomic<std::uint64_t> requests{0}, won{0}, lost{0}, errors{0}, refused{0}, connections{0}, rejected{0},
      open{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ServerCore> server, tcp::socket socket)
      : server_(std::move(server)), socket_(std::move(socket)), timer_(server_->io) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
    server_->open.fetch_add(1, std::memory_order_relaxed);
  }
  ~Session() {
    server_->open.fetch_sub(1, std::memory_order_relaxed);
    server_->sessions.erase(this);
  }

  void start() { read_next(); }

  void close() {
    boost::system::error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  void read_next() {
    arm_idle_timer();
    asio::async_read_until(
        socket_, asio::dynamic_buffer(buffer_, server_->options.max_request_bytes), '\n',
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) { self->on_line(ec, n); });
  }

  // Also bounds a client that never reads its reply. The generation check drops an
  // expiry that was already queued when the timer was re-armed.
  void arm_idle_timer() {
    std::uint64_t gen = ++timer_generation_;
    timer_.expires_after(server_->options.idle_timeout);
    timer_.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || gen != self->timer_generation_) return;
      self->close();
    });
  }

  void on_line(boost::system::error_code ec, std::size_t n) {
    if (ec == asio::error::not_found) {
      // The line outgrew max_request_bytes without a newline.
      server_->requests.fetch_add(1, std::memory_order_relaxed);
      bool close_after = true;
      reply(server_->refuse(
                peer_, "request longer than " + std::to_string(server_->options.max_request_bytes) + " bytes",
                close_after),
            true);
      return;
    }
    if (ec) {
      close();
      return;
    }
    std::string_view line(buffer_.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool close_after = false;
    std::string out = server_->handle(line, peer_, auth_, close_after);
    buffer_.erase(0, n);
    reply(std::move(out), close_after);
  }

  void reply(std::string text, bool close_after) {
    out_ = std::move(text);
    arm_idle_timer();
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this(), close_after](boost::system::error_code ec, std::size_t) {
                        if (ec || self->server_->stopped) {
                          self->close();
                          return;
                        }
                        if (close_after) {
                          self->linger();
                          return;
                        }
                        self->read_next();
                      });
  }

  // Closing with unread input would send a RST, which can destroy the error reply
  // before the client reads it: half-close, then discard input until the client closes
  // (bounded by the idle timer).
  void linger() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              if (ec) {
                                self->close();
                                return;
                              }
                              self->linger();
                            });
  }

  std::shared_ptr<ServerCore> server_;
  std::array<char, 512> drain_{};
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string peer_;
  std::string buffer_;
  std::string out_;
  ConnectionAuth auth_;
  std::uint64_t timer_generation_ = 0;
};

void ServerCore::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
    if (self->stopped) return;
    if (ec) {
      // Transient failures (EMFILE, ECONNABORTED) must not stop the service.
      if (ec != asio::error::operation_aborted) self->accept();
      return;
    }
    self->connections.fetch_add(1, std::memory_order_relaxed);
    if (self->sessions.size() >= self->options.max_connections) {
      self->rejected.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<Session>(self, std::move(socket));
      self->sessions.emplace(session.get(), session);
      session->start();
    }
    self->accept();
  });
}

std::string ServerCore::handle(std::string_view line, const std::string& peer, ConnectionAuth& conn,
                               bool& close) {
  requests.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  if (ec) return refuse(peer, "request is not JSON: " + ec.message(), close);
  const boost::json::object* o = v.if_object();
  if (o == nullptr) return refuse(peer, "request is not a JSON object", close);

  std::string_view op = json_sv(*o, "op");
  if (op == "hello") {
    // A connection's nonce is fixed once chosen: a second hello must not reset its seq.
    if (conn.nonce.empty()) conn.nonce = auth::random_hex(auth::kNonceBytes);
    boost::json::object r;
    r["result"] = "hello";
    r["nonce"] = conn.nonce;
    return line_of(r);
  }
  bool is_tas = op == "tas";
  bool is_read = op == "read";
  bool is_latest = op == "latest";
  if (!is_tas && !is_read && !is_latest) return refuse(peer, "\"op\" must be tas, read or latest", close);
  std::string_view cluster = json_sv(*o, "cluster");
  if (!valid_arbiter_name(cluster)) return refuse(peer, "\"cluster\" must match [A-Za-z0-9_.-]{1,64}", close);
  std::uint64_t epoch = 0;
  if (!is_latest && !json_u64(*o, "epoch", epoch)) {
    return refuse(peer, "\"epoch\" must be an unsigned 64-bit integer", close);
  }
  std::string_view candidate = json_sv(*o, "candidate");
  if (is_tas && !valid_arbiter_name(candidate)) {
    return refuse(peer, "\"candidate\" must match [A-Za-z0-9_.-]{1,64}", close);
  }
  AuthOutcome auth;
  if (options.authenticate) {
    auth = options.authenticate(
        ArbiterRequest{op, cluster, epoch, candidate, *o, peer, conn.nonce, conn.last_seq});
    if (!auth.refused.empty()) {
      refused.fetch_add(1, std::memory_order_relaxed);
      return refuse(peer, "refused: " + auth.refused, close);
    }
    if (auth.seq != 0) conn.last_seq = auth.seq;
  }
  // Signs an answer for an authenticated request (auth.hpp).
  auto sign = [&](boost::json::object& r, std::string_view owner, std::uint64_t token) {
    if (auth.reply_key.empty()) return;
    r["mac"] = auth::hmac_hex(
        auth.reply_key, auth::reply_text(conn.nonce, auth.cnonce, auth.seq, r["result"].as_string(), cluster,
                                         epoch, owner, token));
  };

  std::string cluster_s(cluster);
  boost::json::object r;
  if (is_tas) {
    FlagStore::SetOutcome out = store.test_and_set(cluster_s, epoch, std::string(candidate), wall_now_ns());
    if (out.kind == FlagStore::SetOutcome::Kind::failed) {
      errors.fetch_add(1, std::memory_order_relaxed);
      if (options.on_error) options.on_error(peer, "storage: " + out.message);
      return error_line("storage: " + out.message);
    }
    bool is_won = out.kind == FlagStore::SetOutcome::Kind::won;
    (is_won ? won : lost).fetch_add(1, std::memory_order_relaxed);
    if (out.newly_set && options.on_decision) {
      options.on_decision(Decision{cluster_s, epoch, out.flag.owner, out.flag.token, peer});
    }
    r["result"] = is_won ? "won" : "lost";
    r["cluster"] = cluster;
    r["epoch"] = epoch;
    r["owner"] = out.flag.owner;
    r["token"] = out.flag.token;
    sign(r, out.flag.owner, out.flag.token);
    return line_of(r);
  }
  if (is_latest) {
    std::optional<std::uint64_t> latest = store.latest(cluster_s);
    if (!latest) {
      r["result"] = "undecided";
      r["cluster"] = cluster;
      sign(r, "", 0);
      return line_of(r);
    }
    epoch = *latest;
  }
  const Flag* f = store.find(cluster_s, epoch);
  r["result"] = f == nullptr ? "undecided" : "decided";
  r["cluster"] = cluster;
  r["epoch"] = epoch;
  if (f != nullptr) {
    r["owner"] = f->owner;
    r["token"] = f->token;
  }
  sign(r, f != nullptr ? std::string_view(f->owner) : std::string_view(), f != nullptr ? f->token : 0);
  return line_of(r);
}

}  // namespace server_detail

struct EmbeddedServer::State : server_detail::ServerCore {
  using ServerCore::ServerCore;
};

EmbeddedServer::EmbeddedServer(asio::io_context& io, FlagStore& store, EmbeddedServerOptions options)
    : state_(std::make_shared<State>(io, store, std::move(options))) {}

EmbeddedServer::~EmbeddedServer() {
  stop();
}

std::string EmbeddedServer::listen(const std::string& host, std::uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  tcp::endpoint ep;
  asio::ip::address addr = asio::ip::make_address(host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, port);
  } else {
    // Start-up only: a blocking resolution is acceptable here.
    tcp::resolver resolver(state_->io);
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) return "listen " + where + ": cannot resolve: " + ec.message();
    ep = results.begin()->endpoint();
  }
  tcp::acceptor& a = state_->acceptor;
  if (a.open(ep.protocol(), ec) || a.set_option(tcp::acceptor::reuse_address(true), ec) || a.bind(ep, ec) ||
      a.listen(asio::socket_base::max_listen_connections, ec)) {
    boost::system::error_code ignored;
    a.close(ignored);
    return "listen " + where + ": " + ec.message();
  }
  state_->stopped = false;
  state_->accept();
  return {};
}

std::uint16_t EmbeddedServer::port() const noexcept {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void EmbeddedServer::stop() {
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  // Copy: closing may run no handler inline, but sessions erase themselves when freed.
  auto sessions = state_->sessions;
  for (auto& [ptr, weak] : sessions) {
    if (auto s = weak.lock()) s->close();
  }
}

EmbeddedServerCounters EmbeddedServer::counters() const noexcept {
  const State& s = *state_;
  auto ld = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return {ld(s.requests), ld(s.won),         ld(s.lost),     ld(s.errors),
          ld(s.refused),  ld(s.connections), ld(s.rejected), ld(s.open)};
}

}  // namespace ftproxy::arbiter
