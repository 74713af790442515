#include "ftproxy/arbiter/embedded_client.hpp"
#include "blocking.hpp"
#include "ftproxy/arbiter/auth.hpp"
#include "resolve.hpp"

#include <optional>

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

namespace ftproxy::arbiter {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string where(const ServerAddress& a) {
  return a.host + ":" + std::to_string(a.port);
}

// One request: tries the endpoints in turn until one returns a JSON object line.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // `reply` is null when no endpoint answered; `error` then says why.
  using Done = std::function<void(const boost::json::object* reply, const std::string& answered_by,
                                  const std::string& error)>;

  Exchange(asio::io_context& io, const EmbeddedClientOptions& options, boost::json::object request, Done done)
      : endpoints_(options.endpoints),
        timeout_(options.timeout),
        max_reply_(options.max_reply_bytes),
        key_(options.key),
        request_(std::move(request)),
        done_(std::move(done)),
        socket_(io),
        resolver_(io),
        timer_(io) {}

  void start(asio::io_context& io) {
    deadline_ = Clock::now() + timeout_;
    // Posted so that the caller's callback can never run inside the call that asked.
    asio::post(io, [self = shared_from_this()] { self->attempt(0); });
  }

 private:
  void attempt(std::size_t i) {
    std::uint64_t gen = ++generation_;
    resolver_.cancel();
    close_socket();
    if (endpoints_.empty()) return finish(nullptr, {}, "no arbiter endpoint configured");
    if (i >= endpoints_.size()) return finish(nullptr, {}, "no arbiter endpoint answered: " + failures_);
    auto left = deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) {
      return finish(nullptr, {},
                    "no answer within " + std::to_string(timeout_.count()) + " ms: " + failures_);
    }
    auto budget = left / static_cast<long>(endpoints_.size() - i);
    timer_.expires_after(budget);
    timer_.async_wait([self = shared_from_this(), i, gen](boost::system::error_code ec) {
      if (ec || gen != self->generation_) return;
      self->fail(i, gen, "timed out");
    });

    const ServerAddress& a = endpoints_[i];
    detail::resolve_endpoint(
        resolver_, a.host, a.port,
        [self = shared_from_this(), i, gen](std::string error, std::vector<tcp::endpoint> eps) {
          if (gen != self->generation_) return;
          if (!error.empty()) return self->fail(i, gen, error);
          self->connect(i, gen, std::move(eps));
        });
  }

  void connect(std::size_t i, std::uint64_t gen, std::vector<tcp::endpoint> eps) {
    eps_ = std::move(eps);
    asio::async_connect(
        socket_, eps_,
        [self = shared_from_this(), i, gen](boost::system::error_code ec, const tcp::endpoint&) {
          if (gen != self->generation_) return;
          if (ec) return self->fail(i, gen, "connect: " + ec.message());
          boost::system::error_code ignored;
          self->socket_.set_option(tcp::no_delay(true), ignored);
          if (self->key_.empty()) {
            self->line_ = boost::json::serialize(self->request_) + "\n";
            return self->send_request(i, gen);
          }
          // Signed: ask for this connection's nonce first (auth.hpp).
          self->line_ = "{\"op\":\"hello\"}\n";
          self->send(i, gen, [self, i, gen](const boost::json::object& hello) {
            const boost::json::value* n = hello.if_contains("nonce");
            if (n == nullptr || !n->is_string() || n->get_string().empty()) {
              const boost::json::value* m = hello.if_contains("message");
              return self->fail(
                  i, gen,
                  m != nullptr && m->is_string()
                      ? "hello refused: " + std::string(m->get_string())
                      : std::string("hello answer without a nonce (arbiter too old for keys?)"));
            }
            self->nonce_ = std::string(n->get_string());
            self->line_ = self->signed_line();
            self->send_request(i, gen);
          });
        });
  }

  void send_request(std::size_t i, std::uint64_t gen) {
    send(i, gen, [self = shared_from_this(), i, gen](const boost::json::object& reply) {
      if (!self->key_.empty()) {
        std::string why = self->check_reply(reply);
        if (!why.empty()) return self->fail(i, gen, why);
      }
      self->finish(&reply, where(self->endpoints_[i]), {});
    });
  }

  // Writes line_ and reads one JSON object line, handed to `next`.
  template <class Next>
  void send(std::size_t i, std::uint64_t gen, Next next) {
    asio::async_write(
        socket_, asio::buffer(line_),
        [self = shared_from_this(), i, gen, next = std::move(next)](boost::system::error_code wec,
                                                                    std::size_t) mutable {
          if (gen != self->generation_) return;
          if (wec) return self->fail(i, gen, "send: " + wec.message());
          self->reply_.clear();
          asio::async_read_until(
              self->socket_, asio::dynamic_buffer(self->reply_, self->max_reply_), '\n',
              [self, i, gen, next = std::move(next)](boost::system::error_code ec, std::size_t n) mutable {
                if (gen != self->generation_) return;
                if (ec) return self->fail(i, gen, "receive: " + ec.message());
                boost::system::error_code pec;
                boost::json::value v = boost::json::parse(std::string_view(self->reply_.data(), n - 1), pec);
                if (pec || !v.is_object()) return self->fail(i, gen, "reply is not a JSON object");
                next(v.get_object());
              });
        });
  }

  std::string signed_line() {
    cnonce_ = auth::random_hex(auth::kNonceBytes);
    boost::json::object o = request_;
    auto sv = [&](std::string_view k) -> std::string_view {
      const boost::json::value* v = o.if_contains(k);
      return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
    };
    const boost::json::value* e = o.if_contains("epoch");
    const std::uint64_t epoch = e != nullptr && e->is_uint64()  ? e->get_uint64()
                                : e != nullptr && e->is_int64() ? static_cast<std::uint64_t>(e->get_int64())
                                                                : 0;
    o["seq"] = 1;
    o["cnonce"] = cnonce_;
    o["mac"] = auth::hmac_hex(
        key_, auth::request_text(nonce_, cnonce_, 1, sv("op"), sv("cluster"), epoch, sv("candidate")));
    return boost::json::serialize(o) + "\n";
  }

  // "" when the reply's MAC is right. Error replies carry none and pass: they only ever
  // make the answer `unavailable`, never a decision.
  std::string check_reply(const boost::json::object& r) const {
    auto sv = [&](std::string_view k) -> std::string_view {
      const boost::json::value* v = r.if_contains(k);
      return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
    };
    auto u64 = [&](std::string_view k) -> std::uint64_t {
      const boost::json::value* v = r.if_contains(k);
      if (v != nullptr && v->is_uint64()) return v->get_uint64();
      if (v != nullptr && v->is_int64() && v->get_int64() >= 0)
        return static_cast<std::uint64_t>(v->get_int64());
      return 0;
    };
    if (sv("result") == "error") return {};
    const std::string want =
        auth::hmac_hex(key_, auth::reply_text(nonce_, cnonce_, 1, sv("result"), sv("cluster"), u64("epoch"),
                                              sv("owner"), u64("token")));
    if (!r.contains("mac")) return "reply not signed (the arbiter has no key for this cluster?)";
    if (!auth::mac_equal(want, sv("mac"))) return "reply with a bad mac (the arbiter holds another key?)";
    return {};
  }

  void fail(std::size_t i, std::uint64_t gen, const std::string& why) {
    if (gen != generation_ || finished_) return;
    if (!failures_.empty()) failures_ += "; ";
    failures_ += where(endpoints_[i]) + " " + why;
    attempt(i + 1);
  }

  void finish(const boost::json::object* reply, const std::string& by, const std::string& error) {
    if (finished_) return;
    finished_ = true;
    ++generation_;
    timer_.cancel();
    resolver_.cancel();
    close_socket();
    done_(reply, by, error);
  }

  void close_socket() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  std::vector<ServerAddress> endpoints_;
  std::chrono::milliseconds timeout_;
  std::size_t max_reply_;
  std::string key_;
  boost::json::object request_;
  std::string nonce_;
  std::string cnonce_;
  std::string line_;
  Done done_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::vector<tcp::endpoint> eps_;
  std::string reply_;
  std::string failures_;
  Clock::time_point deadline_{};
  std::uint64_t generation_ = 0;
  bool finished_ = false;
};

std::string str_field(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

std::optional<std::uint64_t> u64_field(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

// A reply must be about the question asked: a mismatch means a confused server.
bool same_question(const boost::json::object& r, const std::string& cluster,
                   std::optional<std::uint64_t> epoch) {
  if (str_field(r, "cluster") != cluster) return false;
  return !epoch || u64_field(r, "epoch") == epoch;
}

// The reply's "result", or nullopt with out.message set (left unavailable) when there was
// no reply (`error` says why) or the arbiter answered an error.
template <class Out>
std::optional<std::string> answered(const boost::json::object* r, const std::string& by,
                                    const std::string& error, Out& out) {
  if (r == nullptr) {
    out.message = error;
    return std::nullopt;
  }
  std::string result = str_field(*r, "result");
  if (result == "error") {
    out.message = "arbiter " + by + " answered an error: " + str_field(*r, "message");
    return std::nullopt;
  }
  return result;
}

ArbiterResult to_result(const boost::json::object* r, const std::string& by, const std::string& error,
                        const std::string& cluster, std::uint64_t epoch) {
  ArbiterResult out;
  const std::optional<std::string> answer = answered(r, by, error, out);
  if (!answer) return out;
  const std::string& result = *answer;
  std::string owner = str_field(*r, "owner");
  std::optional<std::uint64_t> token = u64_field(*r, "token");
  if ((result != "won" && result != "lost") || owner.empty() || !token ||
      !same_question(*r, cluster, epoch)) {
    out.message = "arbiter " + by + " sent an unexpected reply";
    return out;
  }
  out.kind = result == "won" ? ArbiterResult::Kind::won : ArbiterResult::Kind::lost;
  out.owner = std::move(owner);
  out.fencing_token = *token;
  return out;
}

ArbiterRead to_read(const boost::json::object* r, const std::string& by, const std::string& error,
                    const std::string& cluster, std::optional<std::uint64_t> epoch) {
  ArbiterRead out;
  const std::optional<std::string> answer = answered(r, by, error, out);
  if (!answer) return out;
  const std::string& result = *answer;
  if (!same_question(*r, cluster, epoch)) {
    out.message = "arbiter " + by + " sent an unexpected reply";
    return out;
  }
  if (result == "undecided") {
    out.kind = ArbiterRead::Kind::undecided;
    out.epoch = epoch.value_or(0);
    return out;
  }
  std::optional<std::uint64_t> e = u64_field(*r, "epoch");
  std::optional<std::uint64_t> token = u64_field(*r, "token");
  std::string owner = str_field(*r, "owner");
  if (result != "decided" || !e || !token || owner.empty()) {
    out.message = "arbiter " + by + " sent an unexpected reply";
    return out;
  }
  out.kind = ArbiterRead::Kind::decided;
  out.epoch = *e;
  out.owner = std::move(owner);
  out.fencing_token = *token;
  return out;
}

}  // namespace

struct EmbeddedClient::Shared {
  Shared(asio::io_context& io_, EmbeddedClientOptions options_) : io(io_), options(std::move(options_)) {}

  void send(boost::json::object request, Exchange::Done done) {
    if (options.decorate_request) options.decorate_request(request);
    auto ex = std::make_shared<Exchange>(io, options, std::move(request), std::move(done));
    ex->start(io);
  }

  asio::io_context& io;
  EmbeddedClientOptions options;
};

EmbeddedClient::EmbeddedClient(asio::io_context& io, EmbeddedClientOptions options)
    : shared_(std::make_shared<Shared>(io, std::move(options))) {}

EmbeddedClient::~EmbeddedClient() = default;

void EmbeddedClient::test_and_set(const std::string& cluster, std::uint64_t epoch,
                                  const std::string& candidate, ResultCallback done) {
  boost::json::object o;
  o["op"] = "tas";
  o["cluster"] = cluster;
  o["epoch"] = epoch;
  o["candidate"] = candidate;
  std::weak_ptr<Shared> alive = shared_;
  shared_->send(std::move(o),
                [alive, done = std::move(done), cluster, epoch](
                    const boost::json::object* r, const std::string& by, const std::string& error) {
                  if (alive.expired()) return;
                  done(to_result(r, by, error, cluster, epoch));
                });
}

void EmbeddedClient::read(const std::string& cluster, std::uint64_t epoch, ReadCallback done) {
  boost::json::object o;
  o["op"] = "read";
  o["cluster"] = cluster;
  o["epoch"] = epoch;
  std::weak_ptr<Shared> alive = shared_;
  shared_->send(std::move(o),
                [alive, done = std::move(done), cluster, epoch](
                    const boost::json::object* r, const std::string& by, const std::string& error) {
                  if (alive.expired()) return;
                  done(to_read(r, by, error, cluster, epoch));
                });
}

void EmbeddedClient::latest(const std::string& cluster, ReadCallback done) {
  boost::json::object o;
  o["op"] = "latest";
  o["cluster"] = cluster;
  std::weak_ptr<Shared> alive = shared_;
  shared_->send(std::move(o),
                [alive, done = std::move(done), cluster](const boost::json::object* r, const std::string& by,
                                                         const std::string& error) {
                  if (alive.expired()) return;
                  done(to_read(r, by, error, cluster, std::nullopt));
                });
}

ArbiterResult test_and_set_blocking(const EmbeddedClientOptions& options, const std::string& cluster,
                                    std::uint64_t epoch, const std::string& candidate) {
  return detail::test_and_set_blocking<EmbeddedClient>(options, cluster, epoch, candidate);
}
ArbiterRead read_blocking(const EmbeddedClientOptions& options, const std::string& cluster,
                          std::uint64_t epoch) {
  return detail::read_blocking<EmbeddedClient>(options, cluster, epoch);
}
ArbiterRead latest_blocking(const EmbeddedClientOptions& options, const std::string& cluster) {
  return detail::latest_blocking<EmbeddedClient>(options, cluster);
}

}  // namespace ftproxy::arbiter
