// Embedded arbiter server + client over loopback (port 0).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "ftproxy/arbiter/auth.hpp"
#include "ftproxy/arbiter/embedded_client.hpp"
#include "ftproxy/arbiter/embedded_server.hpp"
#include "temp_dir.hpp"

namespace ftproxy::arbiter {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using testing::TempDir;
using SteadyClock = std::chrono::steady_clock;

// A FlagStore + EmbeddedServer running on their own thread.
class RunningServer {
 public:
  explicit RunningServer(const std::string& dir, EmbeddedServerOptions options = {}) {
    FlagStore::OpenReport report;
    store_ = FlagStore::open(dir, report);
    if (store_ == nullptr) throw std::runtime_error(report.errors.at(0));
    options.on_decision = [this](const Decision& d) {
      decisions_.fetch_add(1);
      last_decision_owner_ = d.owner;  // read only after stop()
    };
    server_ = std::make_unique<EmbeddedServer>(io_, *store_, std::move(options));
    std::string err = server_->listen("127.0.0.1", 0);
    if (!err.empty()) throw std::runtime_error(err);
    port_ = server_->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~RunningServer() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { server_->stop(); });
    guard_.reset();
    thread_.join();
    server_.reset();
    store_.reset();  // releases the data dir lock
  }

  std::uint16_t port() const { return port_; }
  EmbeddedServerCounters counters() const { return server_->counters(); }
  std::uint64_t decisions() const { return decisions_.load(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::unique_ptr<FlagStore> store_;
  std::unique_ptr<EmbeddedServer> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> decisions_{0};
  std::string last_decision_owner_;
};

// A loopback port with nothing listening (connection refused).
std::uint16_t dead_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();  // closed when `a` goes out of scope
}

EmbeddedClientOptions client_options(std::vector<std::uint16_t> ports,
                                     milliseconds timeout = milliseconds{5000}) {
  EmbeddedClientOptions o;
  for (auto p : ports) o.endpoints.push_back({"127.0.0.1", p});
  o.timeout = timeout;
  return o;
}

// Blocking raw connection with a receive timeout, for protocol-level tests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{2, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  // One reply line, or nullopt on EOF/error.
  std::optional<std::string> read_line() {
    boost::system::error_code ec;
    std::size_t n = asio::read_until(socket_, asio::dynamic_buffer(buf_), '\n', ec);
    if (ec) return std::nullopt;
    std::string line = buf_.substr(0, n - 1);
    buf_.erase(0, n);
    return line;
  }
  // True when the server closed the connection (EOF) rather than leaving it open.
  bool closed_by_server() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  void close() { socket_.close(); }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  std::string buf_;
};

boost::json::object parse_obj(const std::string& line) {
  return boost::json::parse(line).as_object();
}

class EmbeddedArbiterTest : public ::testing::Test {
 protected:
  TempDir tmp;
};

TEST_F(EmbeddedArbiterTest, TwoCandidatesRacingGetExactlyOneWinnerPerEpoch) {
  RunningServer server(tmp.path());
  constexpr std::uint64_t kEpochs = 200;
  asio::io_context io;
  EmbeddedClient p(io, client_options({server.port()}));
  EmbeddedClient b(io, client_options({server.port()}));
  std::map<std::uint64_t, std::map<std::string, ArbiterResult>> results;
  bool inline_call = true;
  for (std::uint64_t e = 1; e <= kEpochs; ++e) {
    // Alternate who asks first so both win some epochs.
    EmbeddedClient& first = e % 2 ? p : b;
    EmbeddedClient& second = e % 2 ? b : p;
    first.test_and_set("race", e, e % 2 ? "p1" : "b1", [&, e](ArbiterResult r) {
      EXPECT_FALSE(inline_call);
      results[e][e % 2 ? "p1" : "b1"] = std::move(r);
    });
    second.test_and_set("race", e, e % 2 ? "b1" : "p1",
                        [&, e](ArbiterResult r) { results[e][e % 2 ? "b1" : "p1"] = std::move(r); });
  }
  inline_call = false;
  io.run();

  ASSERT_EQ(results.size(), kEpochs);
  int p_wins = 0;
  for (auto& [epoch, by_candidate] : results) {
    ASSERT_EQ(by_candidate.size(), 2u) << epoch;
    const ArbiterResult& rp = by_candidate["p1"];
    const ArbiterResult& rb = by_candidate["b1"];
    ASSERT_NE(rp.kind, ArbiterResult::Kind::unavailable) << rp.message;
    ASSERT_NE(rb.kind, ArbiterResult::Kind::unavailable) << rb.message;
    int winners = (rp.kind == ArbiterResult::Kind::won) + (rb.kind == ArbiterResult::Kind::won);
    EXPECT_EQ(winners, 1) << "epoch " << epoch;
    const std::string winner = rp.kind == ArbiterResult::Kind::won ? "p1" : "b1";
    p_wins += winner == "p1";
    EXPECT_EQ(rp.owner, winner) << epoch;  // the loser learns the winner's name
    EXPECT_EQ(rb.owner, winner) << epoch;
    EXPECT_EQ(rp.fencing_token, rb.fencing_token);
    EXPECT_GT(rp.fencing_token, 0u);
  }
  EXPECT_GT(p_wins, 0);
  auto c = server.counters();
  EXPECT_EQ(c.won, kEpochs);
  EXPECT_EQ(c.lost, kEpochs);
  EXPECT_EQ(c.errors, 0u);
  EXPECT_EQ(c.requests, 2 * kEpochs);
  EXPECT_EQ(server.decisions(), kEpochs);

  // A restart (new process on the same data dir) gives the same answers.
  server.stop();
  RunningServer again(tmp.path());
  for (std::uint64_t e = 1; e <= kEpochs; ++e) {
    const std::string winner = results[e]["p1"].kind == ArbiterResult::Kind::won ? "p1" : "b1";
    const std::string loser = winner == "p1" ? "b1" : "p1";
    ArbiterResult r = test_and_set_blocking(client_options({again.port()}), "race", e, loser);
    EXPECT_EQ(r.kind, ArbiterResult::Kind::lost) << e << " " << r.message;
    EXPECT_EQ(r.owner, winner);
    EXPECT_EQ(r.fencing_token, results[e][winner].fencing_token);
    ArbiterResult w = test_and_set_blocking(client_options({again.port()}), "race", e, winner);
    EXPECT_EQ(w.kind, ArbiterResult::Kind::won) << e;
  }
  ArbiterRead latest = latest_blocking(client_options({again.port()}), "race");
  EXPECT_EQ(latest.kind, ArbiterRead::Kind::decided) << latest.message;
  EXPECT_EQ(latest.epoch, kEpochs);
  EXPECT_EQ(again.decisions(), 0u);
}

TEST_F(EmbeddedArbiterTest, ReadAndLatest) {
  RunningServer server(tmp.path());
  auto opts = client_options({server.port()});
  EXPECT_EQ(read_blocking(opts, "c1", 7).kind, ArbiterRead::Kind::undecided);
  EXPECT_EQ(latest_blocking(opts, "c1").kind, ArbiterRead::Kind::undecided);
  ASSERT_EQ(test_and_set_blocking(opts, "c1", 7, "b1").kind, ArbiterResult::Kind::won);
  ASSERT_EQ(test_and_set_blocking(opts, "c1", 3, "p1").kind, ArbiterResult::Kind::won);
  ArbiterRead r = read_blocking(opts, "c1", 7);
  EXPECT_EQ(r.kind, ArbiterRead::Kind::decided);
  EXPECT_EQ(r.owner, "b1");
  EXPECT_EQ(r.epoch, 7u);
  EXPECT_EQ(r.fencing_token, 1u);
  ArbiterRead l = latest_blocking(opts, "c1");
  EXPECT_EQ(l.kind, ArbiterRead::Kind::decided);
  EXPECT_EQ(l.epoch, 7u);
  EXPECT_EQ(l.owner, "b1");
  EXPECT_EQ(latest_blocking(opts, "c2").kind, ArbiterRead::Kind::undecided);
}

TEST_F(EmbeddedArbiterTest, DeadEndpointFirstThenLiveOneAnswers) {
  RunningServer server(tmp.path());
  ArbiterResult r = test_and_set_blocking(client_options({dead_port(), server.port()}), "c1", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
  EXPECT_EQ(r.owner, "p1");
}

TEST_F(EmbeddedArbiterTest, BlackHoledEndpointFirstLeavesTimeForTheNext) {
  RunningServer server(tmp.path());
  // Listens (connect succeeds) but never answers.
  asio::io_context hole_io;
  tcp::acceptor hole(hole_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto t0 = SteadyClock::now();
  ArbiterResult r = test_and_set_blocking(
      client_options({hole.local_endpoint().port(), server.port()}, milliseconds{600}), "c1", 1, "b1");
  auto took = SteadyClock::now() - t0;
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
  EXPECT_GE(took, milliseconds{250});  // the first attempt had half the budget
  EXPECT_LT(took, milliseconds{600});
}

TEST_F(EmbeddedArbiterTest, AllEndpointsDeadIsUnavailableWithinTheTimeout) {
  auto t0 = SteadyClock::now();
  ArbiterResult r =
      test_and_set_blocking(client_options({dead_port(), dead_port()}, milliseconds{300}), "c1", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("no arbiter endpoint answered"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("connect"), std::string::npos) << r.message;
  EXPECT_LT(SteadyClock::now() - t0, milliseconds{300});

  // Black holes: nothing refuses, so the whole budget is spent, and no more.
  asio::io_context hole_io;
  tcp::acceptor h1(hole_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::acceptor h2(hole_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  t0 = SteadyClock::now();
  ArbiterRead rr = read_blocking(
      client_options({h1.local_endpoint().port(), h2.local_endpoint().port()}, milliseconds{200}), "c1", 1);
  auto took = SteadyClock::now() - t0;
  EXPECT_EQ(rr.kind, ArbiterRead::Kind::unavailable);
  EXPECT_NE(rr.message.find("timed out"), std::string::npos) << rr.message;
  EXPECT_GE(took, milliseconds{190});
  EXPECT_LT(took, milliseconds{200 + 300});

  EXPECT_EQ(test_and_set_blocking(client_options({}), "c1", 1, "p1").kind, ArbiterResult::Kind::unavailable);
}

TEST_F(EmbeddedArbiterTest, GarbageGetsAnErrorAndTheServerKeepsServing) {
  EmbeddedServerOptions options;
  options.max_request_bytes = 256;
  RunningServer server(tmp.path(), options);
  const std::string bad[] = {
      std::string("\x00\xff\xfe garbage\n", 12),
      "not json\n",
      "[1,2,3]\n",
      "{\"op\":\"tas\"}\n",
      "{\"op\":\"steal\",\"cluster\":\"c1\",\"epoch\":1}\n",
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":-1,\"candidate\":\"p1\"}\n",
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":\"1\",\"candidate\":\"p1\"}\n",
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":1.5,\"candidate\":\"p1\"}\n",
      "{\"op\":\"tas\",\"cluster\":\"../x\",\"epoch\":1,\"candidate\":\"p1\"}\n",
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":1,\"candidate\":\"\"}\n",
      "{\"op\":\"read\",\"cluster\":\"c1\"}\n",
      std::string(1000, 'x'),  // oversize, no newline
  };
  for (const std::string& req : bad) {
    RawConnection c(server.port());
    c.send(req);
    auto line = c.read_line();
    ASSERT_TRUE(line.has_value()) << req;
    auto o = parse_obj(*line);
    EXPECT_EQ(o["result"].as_string(), "error") << req;
    EXPECT_FALSE(o["message"].as_string().empty());
    EXPECT_TRUE(c.closed_by_server()) << req;
  }
  {
    // Half a request, then the client goes away.
    RawConnection c(server.port());
    c.send("{\"op\":\"tas\",\"clu");
    c.close();
  }
  auto counters = server.counters();
  EXPECT_EQ(counters.errors, std::size(bad));
  EXPECT_EQ(counters.won, 0u);
  // Still serving, and no garbage request set a flag.
  ArbiterResult r = test_and_set_blocking(client_options({server.port()}), "c1", 1, "b1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
}

TEST_F(EmbeddedArbiterTest, PipelinedRequestsOnOneConnection) {
  RunningServer server(tmp.path());
  RawConnection c(server.port());
  c.send(
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":18446744073709551615,\"candidate\":\"p1\",\"extra\":1}"
      "\r\n"
      "{\"op\":\"tas\",\"cluster\":\"c1\",\"epoch\":18446744073709551615,\"candidate\":\"b1\"}\n"
      "{\"op\":\"read\",\"cluster\":\"c1\",\"epoch\":2}\n");
  auto a = parse_obj(c.read_line().value());
  auto b = parse_obj(c.read_line().value());
  auto d = parse_obj(c.read_line().value());
  EXPECT_EQ(a["result"].as_string(), "won");
  EXPECT_EQ(a["epoch"].as_uint64(), 18446744073709551615ull);
  EXPECT_EQ(b["result"].as_string(), "lost");
  EXPECT_EQ(b["owner"].as_string(), "p1");
  EXPECT_EQ(a["token"], b["token"]);
  EXPECT_EQ(d["result"].as_string(), "undecided");
}

TEST_F(EmbeddedArbiterTest, AuthenticatorSeam) {
  EmbeddedServerOptions options;
  options.authenticate = [](const ArbiterRequest& req) -> AuthOutcome {
    const boost::json::value* key = req.fields.if_contains("key");
    if (key == nullptr || !key->is_string() || key->get_string() != "k-" + std::string(req.cluster)) {
      return {"bad key", {}, 0, {}};
    }
    return {};
  };
  RunningServer server(tmp.path(), options);
  auto plain = client_options({server.port()});
  ArbiterResult refused = test_and_set_blocking(plain, "c1", 1, "p1");
  EXPECT_EQ(refused.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(refused.message.find("refused: bad key"), std::string::npos) << refused.message;
  auto keyed = plain;
  keyed.decorate_request = [](boost::json::object& o) {
    o["key"] = "k-" + std::string(o["cluster"].as_string());
  };
  ArbiterResult ok = test_and_set_blocking(keyed, "c1", 1, "p1");
  EXPECT_EQ(ok.kind, ArbiterResult::Kind::won) << ok.message;
}

TEST_F(EmbeddedArbiterTest, DestroyedClientDropsItsCallbacks) {
  RunningServer server(tmp.path());
  asio::io_context io;
  bool called = false;
  {
    EmbeddedClient c(io, client_options({server.port()}));
    c.test_and_set("c1", 1, "p1", [&](ArbiterResult) { called = true; });
  }
  io.run();
  EXPECT_FALSE(called);
}

TEST_F(EmbeddedArbiterTest, ConnectionLimit) {
  EmbeddedServerOptions options;
  options.max_connections = 1;
  RunningServer server(tmp.path(), options);
  RawConnection held(server.port());
  held.send("{\"op\":\"latest\",\"cluster\":\"c1\"}\n");
  ASSERT_TRUE(held.read_line().has_value());  // the session exists now
  RawConnection extra(server.port());
  EXPECT_TRUE(extra.closed_by_server());
  EXPECT_EQ(server.counters().rejected_connections, 1u);
  held.close();
}

// ---- key-based authentication (auth.hpp) ------------------------------------------------

constexpr const char* kKeyC1 = "0123456789abcdef0123456789abcdef-c1";
constexpr const char* kKeyOther = "fedcba9876543210fedcba9876543210-xx";

EmbeddedServerOptions keyed_server(auth::KeyRing ring) {
  EmbeddedServerOptions o;
  o.authenticate = [ring = std::move(ring)](const ArbiterRequest& r) { return auth::check_request(ring, r); };
  return o;
}

auth::KeyRing ring_c1() {
  auth::KeyRing ring;
  ring.per_cluster["c1"] = {kKeyC1};
  return ring;
}

EmbeddedClientOptions with_key(EmbeddedClientOptions o, std::string key) {
  o.key = std::move(key);
  return o;
}

// A signed request line as a client would build it for connection nonce `nonce`.
std::string signed_tas(const std::string& key, const std::string& nonce, std::uint64_t seq,
                       const std::string& candidate) {
  const std::string cnonce = auth::random_hex(auth::kNonceBytes);
  boost::json::object o{{"op", "tas"}, {"cluster", "c1"}, {"epoch", 1}, {"candidate", candidate}};
  o["seq"] = seq;
  o["cnonce"] = cnonce;
  o["mac"] = auth::hmac_hex(key, auth::request_text(nonce, cnonce, seq, "tas", "c1", 1, candidate));
  return boost::json::serialize(o) + "\n";
}

std::string hello(RawConnection& c) {
  c.send("{\"op\":\"hello\"}\n");
  auto o = parse_obj(c.read_line().value());
  EXPECT_EQ(o["result"].as_string(), "hello");
  return std::string(o["nonce"].as_string());
}

TEST_F(EmbeddedArbiterTest, RightKeyWinsAndTheReplyIsSigned) {
  RunningServer server(tmp.path(), keyed_server(ring_c1()));
  auto o = with_key(client_options({server.port()}), kKeyC1);
  ArbiterResult r = test_and_set_blocking(o, "c1", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
  EXPECT_EQ(test_and_set_blocking(o, "c1", 1, "b1").kind, ArbiterResult::Kind::lost);
  ArbiterRead rd = read_blocking(o, "c1", 1);
  EXPECT_EQ(rd.kind, ArbiterRead::Kind::decided) << rd.message;
  EXPECT_EQ(rd.owner, "p1");
  EXPECT_EQ(read_blocking(o, "c1", 2).kind, ArbiterRead::Kind::undecided);
  ArbiterRead lt = latest_blocking(o, "c1");
  EXPECT_EQ(lt.kind, ArbiterRead::Kind::decided) << lt.message;
  EXPECT_EQ(lt.epoch, 1u);
  EXPECT_EQ(server.counters().refused, 0u);
}

TEST_F(EmbeddedArbiterTest, WrongKeyIsRefusedAndSetsNothing) {
  RunningServer server(tmp.path(), keyed_server(ring_c1()));
  auto wrong = with_key(client_options({server.port()}), kKeyOther);
  ArbiterResult r = test_and_set_blocking(wrong, "c1", 1, "attacker");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("refused: bad mac"), std::string::npos) << r.message;
  ArbiterRead rd = read_blocking(wrong, "c1", 1);
  EXPECT_EQ(rd.kind, ArbiterRead::Kind::unavailable) << "a wrong key must not read a flag";
  EXPECT_EQ(latest_blocking(wrong, "c1").kind, ArbiterRead::Kind::unavailable);
  EXPECT_EQ(server.counters().refused, 3u);
  EXPECT_EQ(server.decisions(), 0u);
  // The rightful owner still wins epoch 1.
  EXPECT_EQ(test_and_set_blocking(with_key(client_options({server.port()}), kKeyC1), "c1", 1, "p1").kind,
            ArbiterResult::Kind::won);
}

TEST_F(EmbeddedArbiterTest, NoKeyIsRefused) {
  RunningServer server(tmp.path(), keyed_server(ring_c1()));
  auto none = client_options({server.port()});
  ArbiterResult r = test_and_set_blocking(none, "c1", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("needs a key"), std::string::npos) << r.message;
  EXPECT_EQ(read_blocking(none, "c1", 1).kind, ArbiterRead::Kind::unavailable);
  // A cluster with no key at all is refused too unless allow_unauthenticated is set.
  ArbiterResult other = test_and_set_blocking(none, "c2", 1, "p1");
  EXPECT_NE(other.message.find("no key configured for cluster c2"), std::string::npos) << other.message;
  EXPECT_EQ(server.counters().refused, 3u);
  EXPECT_EQ(server.decisions(), 0u);
}

TEST_F(EmbeddedArbiterTest, UnauthenticatedClustersOnlyWhenAllowed) {
  auth::KeyRing ring = ring_c1();
  ring.allow_unauthenticated = true;
  RunningServer server(tmp.path(), keyed_server(ring));
  auto none = client_options({server.port()});
  EXPECT_EQ(test_and_set_blocking(none, "c2", 1, "p1").kind, ArbiterResult::Kind::won);
  // c1 has a key: still refused without it.
  EXPECT_EQ(test_and_set_blocking(none, "c1", 1, "p1").kind, ArbiterResult::Kind::unavailable);
  // A signed request for a keyless cluster is refused with a reason, not silently unsigned.
  ArbiterResult r = test_and_set_blocking(with_key(none, kKeyC1), "c2", 2, "p1");
  EXPECT_NE(r.message.find("has no key on this arbiter"), std::string::npos) << r.message;
}

TEST_F(EmbeddedArbiterTest, ReplayedRequestIsRefused) {
  RunningServer server(tmp.path(), keyed_server(ring_c1()));
  // Captured: a valid signed request for connection A (never sent on A).
  RawConnection a(server.port());
  const std::string nonce_a = hello(a);
  const std::string captured = signed_tas(kKeyC1, nonce_a, 1, "attacker");
  // Replayed on a new connection: another nonce, the MAC does not verify.
  {
    RawConnection b(server.port());
    const std::string nonce_b = hello(b);
    EXPECT_NE(nonce_a, nonce_b);
    b.send(captured);
    auto o = parse_obj(b.read_line().value());
    EXPECT_EQ(o["result"].as_string(), "error");
    EXPECT_NE(std::string(o["message"].as_string()).find("bad mac"), std::string::npos) << o;
    EXPECT_TRUE(b.closed_by_server());
  }
  // Without a hello there is no nonce to sign over.
  {
    RawConnection c(server.port());
    c.send(captured);
    auto o = parse_obj(c.read_line().value());
    EXPECT_NE(std::string(o["message"].as_string()).find("before hello"), std::string::npos) << o;
  }
  // On its own connection it is accepted once; the same bytes again are a replay (seq spent).
  a.send(captured);
  auto first = parse_obj(a.read_line().value());
  EXPECT_EQ(first["result"].as_string(), "won") << first;
  EXPECT_TRUE(first.contains("mac"));
  a.send(captured);
  auto again = parse_obj(a.read_line().value());
  EXPECT_EQ(again["result"].as_string(), "error");
  EXPECT_NE(std::string(again["message"].as_string()).find("replayed"), std::string::npos) << again;
  EXPECT_EQ(server.counters().refused, 3u);
  EXPECT_EQ(server.decisions(), 1u);
}

TEST_F(EmbeddedArbiterTest, ClientRefusesAReplyNotSignedWithItsKey) {
  // A server (or a man in the middle) that answers without knowing the key.
  EmbeddedServerOptions options;
  options.authenticate = [](const ArbiterRequest& r) {
    AuthOutcome out;
    out.reply_key = kKeyOther;
    out.seq = r.last_seq + 1;
    out.cnonce = "00000000000000000000000000000000";
    return out;
  };
  RunningServer server(tmp.path(), options);
  ArbiterResult r = test_and_set_blocking(with_key(client_options({server.port()}), kKeyC1), "c1", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("bad mac"), std::string::npos) << r.message;
  RunningServer plain(tmp.path() + "/p", {});
  ArbiterResult u = test_and_set_blocking(with_key(client_options({plain.port()}), kKeyC1), "c1", 1, "p1");
  EXPECT_EQ(u.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(u.message.find("not signed"), std::string::npos) << u.message;
}

TEST_F(EmbeddedArbiterTest, KeyFileRules) {
  auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    std::string p = tmp.file(name);
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  };
  std::string err;
  auto two = auth::load_key_file(
      write("two", "\n  new-key-0123456789abcdef \nold-key-0123456789abcdef\n", 0600), err);
  ASSERT_TRUE(two.has_value()) << err;
  EXPECT_EQ(*two, (std::vector<std::string>{"new-key-0123456789abcdef", "old-key-0123456789abcdef"}));
  EXPECT_TRUE(auth::load_key_file(write("ro", "0123456789abcdef0123", 0400), err).has_value()) << err;
  EXPECT_FALSE(auth::load_key_file(write("loose", "0123456789abcdef0123", 0640), err).has_value());
  EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
  EXPECT_FALSE(auth::load_key_file(write("short", "tooshort", 0600), err).has_value());
  EXPECT_NE(err.find("shorter than 16"), std::string::npos) << err;
  EXPECT_FALSE(auth::load_key_file(write("empty", " \n\n", 0600), err).has_value());
  EXPECT_NE(err.find("empty"), std::string::npos) << err;
  EXPECT_FALSE(auth::load_key_file(tmp.file("missing"), err).has_value());
}

TEST(ArbiterAuth, MacsAreHmacSha256OfTheDocumentedText) {
  // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
  EXPECT_EQ(auth::hmac_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(auth::request_text("n", "c", 1, "tas", "c1", 3, "p1"),
            "ftproxy-arbiter-v1 request\nn\nc\n1\ntas\nc1\n3\np1");
  EXPECT_TRUE(auth::mac_equal("ab", "ab"));
  EXPECT_FALSE(auth::mac_equal("ab", "ac"));
  EXPECT_FALSE(auth::mac_equal("ab", "abc"));
  EXPECT_EQ(auth::random_hex(16).size(), 32u);
  EXPECT_NE(auth::random_hex(16), auth::random_hex(16));
}

}  // namespace
}  // namespace ftproxy::arbiter
