#include "ftproxy/control/http_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "ftproxy/control/metrics.hpp"

namespace ftproxy::control {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Reply {
  unsigned status = 0;
  std::string head;
  std::string body;
  bool closed = false;  // the server closed the connection after the reply
};

// A blocking client with a receive timeout, so a broken server fails the test
// instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads one response (Content-Length framed); `closed` tells whether EOF followed.
  Reply read_reply() {
    Reply r;
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (!fill()) return r;
    }
    const auto head_end = buf_.find("\r\n\r\n");
    r.head = buf_.substr(0, head_end);
    std::sscanf(r.head.c_str(), "HTTP/1.%*d %u", &r.status);
    std::size_t len = 0;
    const auto cl = r.head.find("Content-Length: ");
    if (cl != std::string::npos) len = std::stoul(r.head.substr(cl + 16));
    while (buf_.size() < head_end + 4 + len) {
      if (!fill()) break;
    }
    r.body = buf_.substr(head_end + 4, len);
    buf_.erase(0, std::min(buf_.size(), head_end + 4 + len));
    if (r.head.find("Connection: close") != std::string::npos) r.closed = at_eof();
    return r;
  }

  // True when the server closed the connection (EOF or reset) before the timeout.
  bool at_eof() {
    while (fill()) {
    }
    return eof_;
  }

 private:
  bool fill() {
    char tmp[4096];
    const ssize_t n = ::recv(socket_.native_handle(), tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof_ = n == 0 || errno == ECONNRESET;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  asio::io_context io_;
  tcp::socket socket_;
  std::string buf_;
  bool eof_ = false;
};

Reply request(std::uint16_t port, const std::string& raw) {
  Client c(port);
  c.send(raw);
  return c.read_reply();
}

std::string get_req(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

std::string post_req(const std::string& path, const std::string& body, const std::string& auth = "") {
  std::string r = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!auth.empty()) r += "Authorization: " + auth + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

class ControlServerTest : public ::testing::Test {
 protected:
  void start(ControlServerOptions opts = {}) {
    server_ = std::make_unique<ControlServer>(io_, std::move(opts));
    server_->get("/status", [this] {
      boost::json::object o;
      o["state"] = "live";
      o["epoch"] = 7;
      o["held_outputs"] = ++status_calls_;
      return HttpResponse::json(boost::json::serialize(o));
    });
    server_->get("/metrics", [] {
      std::string body;
      MetricsWriter w(body);
      w.counter("ftproxy_garps_sent_total", "Gratuitous ARPs sent.", 3);
      return HttpResponse::metrics(std::move(body));
    });
    server_->get("/boom", []() -> HttpResponse { throw std::runtime_error("handler bug"); });
    server_->post("/promote", [this](const PostRequest& r) {
      last_body_ = std::string(r.body);
      last_query_ = std::string(r.query);
      return HttpResponse::json("{\"ok\":true}");
    });
    std::string error;
    ASSERT_TRUE(server_->start(Endpoint{"127.0.0.1", 0}, error)) << error;
    ASSERT_NE(server_->local_port(), 0);
    port_ = server_->local_port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  int status_calls_ = 0;
  std::string last_body_, last_query_;
};

TEST_F(ControlServerTest, GetStatusJson) {
  start();
  const auto r = request(port_, get_req("/status"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_THAT(r.head, HasSubstr("Content-Type: application/json"));
  const auto o = boost::json::parse(r.body).as_object();
  EXPECT_EQ(o.at("state").as_string(), "live");
  EXPECT_EQ(o.at("epoch").as_int64(), 7);
  EXPECT_TRUE(r.closed);
}

TEST_F(ControlServerTest, GetMetricsText) {
  start();
  const auto r = request(port_, get_req("/metrics?x=1"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_THAT(r.head, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_EQ(r.body,
            "# HELP ftproxy_garps_sent_total Gratuitous ARPs sent.\n"
            "# TYPE ftproxy_garps_sent_total counter\n"
            "ftproxy_garps_sent_total 3\n");
}

TEST_F(ControlServerTest, UnknownPathAndWrongMethod) {
  start();
  EXPECT_EQ(request(port_, get_req("/nope")).status, 404u);
  const auto r = request(port_, get_req("/promote"));
  EXPECT_EQ(r.status, 405u);
  EXPECT_THAT(r.head, HasSubstr("Allow: POST"));
  const auto p = request(port_, post_req("/status", ""));
  EXPECT_EQ(p.status, 405u);
  EXPECT_THAT(p.head, HasSubstr("Allow: GET"));
  EXPECT_EQ(request(port_, "DELETE /status HTTP/1.1\r\nConnection: close\r\n\r\n").status, 405u);
}

TEST_F(ControlServerTest, HandlerExceptionIs500) {
  start();
  EXPECT_EQ(request(port_, get_req("/boom")).status, 500u);
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
}

TEST_F(ControlServerTest, PostNeedsTheConfiguredToken) {
  ControlServerOptions opts;
  opts.token = "s3cret-token";
  start(opts);
  auto r = request(port_, post_req("/promote", "{}"));
  EXPECT_EQ(r.status, 401u);
  EXPECT_THAT(r.head, HasSubstr("WWW-Authenticate: Bearer"));
  EXPECT_THAT(r.body, HasSubstr("needs the control token"));
  r = request(port_, post_req("/promote", "{}", "Bearer wrong-token!"));
  EXPECT_EQ(r.status, 403u);
  EXPECT_THAT(r.body, HasSubstr("wrong control token"));
  EXPECT_EQ(request(port_, post_req("/promote", "{}", "Bearer s3cret-toke")).status, 403u);
  EXPECT_EQ(request(port_, post_req("/promote", "{}", "Bearer s3cret-token-")).status, 403u);
  EXPECT_EQ(request(port_, post_req("/promote", "{}", "Basic s3cret-token")).status, 401u);
  EXPECT_EQ(last_body_, "");  // the handler never ran
  EXPECT_EQ(server_->unauthorized(), 5u);

  r = request(port_, post_req("/promote?force=1", "{\"epoch\":8}", "Bearer s3cret-token"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "{\"ok\":true}");
  EXPECT_EQ(last_body_, "{\"epoch\":8}");
  EXPECT_EQ(last_query_, "force=1");
  // GET stays open without a token.
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
  EXPECT_EQ(server_->unauthorized(), 5u);
}

TEST(ControlServerLoopback, Addresses) {
  EXPECT_TRUE(ControlServer::is_loopback("127.0.0.1"));
  EXPECT_TRUE(ControlServer::is_loopback("127.3.2.1"));
  EXPECT_TRUE(ControlServer::is_loopback("::1"));
  EXPECT_TRUE(ControlServer::is_loopback("localhost"));
  EXPECT_FALSE(ControlServer::is_loopback("0.0.0.0"));
  EXPECT_FALSE(ControlServer::is_loopback("10.0.0.1"));
  EXPECT_FALSE(ControlServer::is_loopback("::"));
  EXPECT_FALSE(ControlServer::is_loopback("example.org"));
}

TEST_F(ControlServerTest, PostWithoutConfiguredTokenIsOpen) {
  start();
  EXPECT_EQ(request(port_, post_req("/promote", "x")).status, 200u);
  EXPECT_EQ(last_body_, "x");
}

TEST_F(ControlServerTest, GarbageGets400CloseAndServerStillServes) {
  start();
  {
    Client c(port_);
    c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage \r\n\r\n", 26));
    const auto r = c.read_reply();
    EXPECT_EQ(r.status, 400u);
    EXPECT_TRUE(c.at_eof());
  }
  {
    Client c(port_);
    c.send("GET /status HTTP/1.1\r\nContent-Length: -4\r\n\r\n");
    EXPECT_EQ(c.read_reply().status, 400u);
    EXPECT_TRUE(c.at_eof());
  }
  {
    Client c(port_);
    c.send("GET status HTTP/1.1\r\n\r\n");
    EXPECT_EQ(c.read_reply().status, 400u);
  }
  {
    Client c(port_);  // half a request, then the client goes away
    c.send("GET /status HTTP/1.1\r\nHo");
  }
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
}

TEST_F(ControlServerTest, RandomBytesNeverBreakTheServer) {
  start();
  std::mt19937 rng(12345);  // fixed seed: reproducible
  for (int i = 0; i < 64; ++i) {
    std::string junk(1 + rng() % 512, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 2 == 1) junk = "GET /status HTTP/1.1\r\n" + junk;  // garbage after a valid start
    Client c(port_);
    c.send(junk);
  }  // each client leaves without reading: the server must cope with resets
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
}

TEST_F(ControlServerTest, OversizedRequestsAreRefused) {
  ControlServerOptions opts;
  opts.max_request_bytes = 1024;
  start(opts);
  {
    Client c(port_);
    c.send(post_req("/promote", std::string(2000, 'a')));
    EXPECT_EQ(c.read_reply().status, 413u);
    EXPECT_TRUE(c.at_eof());
  }
  {
    Client c(port_);
    c.send("GET /status HTTP/1.1\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n");
    EXPECT_EQ(c.read_reply().status, 431u);
    EXPECT_TRUE(c.at_eof());
  }
  EXPECT_EQ(last_body_, "");
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
}

TEST_F(ControlServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client c(port_);
  c.send("GET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto a = c.read_reply();
  const auto b = c.read_reply();
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(b.status, 200u);
  EXPECT_EQ(boost::json::parse(a.body).as_object().at("held_outputs").as_int64() + 1,
            boost::json::parse(b.body).as_object().at("held_outputs").as_int64());
}

TEST_F(ControlServerTest, SlowClientsDoNotBlockOthers) {
  start();
  Client slow1(port_);
  Client slow2(port_);
  slow1.send("GET /sta");
  slow2.send("POST /promote HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
  EXPECT_EQ(request(port_, get_req("/status")).status, 200u);
  slow1.send("tus HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(slow1.read_reply().status, 200u);
}

TEST_F(ControlServerTest, IdleConnectionIsClosedAfterTheIoTimeout) {
  ControlServerOptions opts;
  opts.io_timeout = std::chrono::milliseconds(100);
  start(opts);
  Client idle(port_);
  idle.send("GET /status HTTP/1.1\r\n");  // never finished
  EXPECT_TRUE(idle.at_eof());             // well before the client's own 5 s receive timeout
}

TEST_F(ControlServerTest, ConnectionLimit) {
  ControlServerOptions opts;
  opts.max_connections = 2;
  start(opts);
  Client a(port_);
  Client b(port_);
  a.send("GET /sta");
  b.send("GET /sta");
  // Let the server accept both before the third arrives.
  std::atomic<bool> ready{false};
  for (int i = 0; i < 500 && !ready; ++i) {
    asio::post(io_, [&] { ready = server_->open_connections() == 2; });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(ready);
  Client c(port_);
  c.send(get_req("/status"));
  EXPECT_TRUE(c.at_eof());
  a.send("tus HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.read_reply().status, 200u);
}

TEST(ControlServer, BindFailureNamesTheEndpoint) {
  asio::io_context io;
  ControlServer first(io);
  std::string error;
  ASSERT_TRUE(first.start(Endpoint{"127.0.0.1", 0}, error)) << error;
  ControlServer second(io);
  EXPECT_FALSE(second.start(Endpoint{"127.0.0.1", first.local_port()}, error));
  EXPECT_THAT(error,
              StartsWith("cannot listen on 127.0.0.1:" + std::to_string(first.local_port()) + ": bind"));
}

TEST(ControlServer, StopClosesListenerAndConnections) {
  asio::io_context io;
  ControlServer server(io);
  std::string error;
  ASSERT_TRUE(server.start(Endpoint{"127.0.0.1", 0}, error)) << error;
  const auto port = server.local_port();
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  io.poll();  // accept it
  EXPECT_EQ(server.open_connections(), 1u);
  server.stop();
  io.poll();
  EXPECT_EQ(server.open_connections(), 0u);
  char c;
  boost::system::error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  tcp::socket t(io);
  t.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec);
}

class TokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftproxy-token-test-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& content, mode_t mode) {
    std::ofstream(path_, std::ios::trunc) << content;
    ::chmod(path_.c_str(), mode);
  }
  std::string path_;
};

TEST_F(TokenFile, ReadsPrivateFileAndStripsNewline) {
  write("abc123-token\n", 0600);
  std::string error;
  const auto t = load_token_file(path_, error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(*t, "abc123-token");
}

TEST_F(TokenFile, RefusesGroupOrWorldAccessibleFile) {
  std::string error;
  write("abc\n", 0644);
  EXPECT_FALSE(load_token_file(path_, error));
  EXPECT_THAT(error, HasSubstr("has mode 0644: a secret file must not be accessible by group or others"));
  write("abc\n", 0640);
  EXPECT_FALSE(load_token_file(path_, error));
}

TEST_F(TokenFile, RefusesEmptyBadAndMissing) {
  std::string error;
  write("\n", 0600);
  EXPECT_FALSE(load_token_file(path_, error));
  EXPECT_THAT(error, HasSubstr("empty"));
  write("two words\n", 0600);
  EXPECT_FALSE(load_token_file(path_, error));
  EXPECT_THAT(error, HasSubstr("whitespace"));
  write(std::string(5000, 'a'), 0600);
  EXPECT_FALSE(load_token_file(path_, error));
  EXPECT_THAT(error, HasSubstr("larger than 4096"));
  EXPECT_FALSE(load_token_file(path_ + ".missing", error));
  EXPECT_THAT(error, HasSubstr("cannot open"));
}

}  // namespace
}  // namespace ftproxy::control
