#include "ftproxy/ctl/http_client.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ftproxy/control/http_server.hpp"
#include "ftproxy/ctl/cli.hpp"

namespace ftproxy::ctl {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;

// The real control server on an ephemeral loopback port, run by its own thread.
class ControlPort : public ::testing::Test {
 protected:
  void SetUp() override {
    control::ControlServerOptions so;
    so.token = "s3cret";
    server_ = std::make_unique<control::ControlServer>(io_, so);
    server_->get("/status", [] { return control::HttpResponse::json(R"({"state":"backup","epoch":2})"); });
    server_->post("/fence", [this](const control::PostRequest&) {
      ++fences_;
      return control::HttpResponse::json(R"({"ok":true,"message":"fenced","state":"fenced"})");
    });
    server_->post("/promote", [](const control::PostRequest&) {
      return control::HttpResponse::json(R"({"ok":false,"message":"already live","state":"live"})", 409);
    });
    std::string error;
    ASSERT_TRUE(server_->start({"127.0.0.1", 0}, error)) << error;
    endpoint_ = {"127.0.0.1", server_->local_port()};
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); });
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  HttpReply ask(Command c, std::string_view token = {}) {
    const auto call = http_call_for(c);
    HttpRequestOptions o;
    o.method = call->method;
    o.target = call->target;
    o.bearer_token = token;
    o.timeout = std::chrono::milliseconds(3000);
    return http_request(endpoint_, o);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::unique_ptr<control::ControlServer> server_;
  control::Endpoint endpoint_;
  std::thread thread_;
  std::atomic<int> fences_{0};
};

TEST_F(ControlPort, StatusIsFetched) {
  const auto r = ask(Command::status);
  ASSERT_EQ(r.kind, HttpReply::Kind::answered) << r.message;
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, R"({"state":"backup","epoch":2})");
  EXPECT_EQ(exit_code_for_http_status(r.status), ExitCode::ok);
}

TEST_F(ControlPort, FenceNeedsTheBearerToken) {
  auto r = ask(Command::fence);
  ASSERT_EQ(r.kind, HttpReply::Kind::answered) << r.message;
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(exit_code_for_http_status(r.status), ExitCode::refused);
  r = ask(Command::fence, "wrong");
  EXPECT_EQ(r.status, 403u);  // a token was sent, but not the right one
  EXPECT_EQ(exit_code_for_http_status(r.status), ExitCode::refused);
  EXPECT_EQ(fences_.load(), 0);
  r = ask(Command::fence, "s3cret");
  ASSERT_EQ(r.kind, HttpReply::Kind::answered) << r.message;
  EXPECT_EQ(r.status, 200u);
  EXPECT_THAT(r.body, HasSubstr(R"("state":"fenced")"));
  EXPECT_EQ(fences_.load(), 1);
}

TEST_F(ControlPort, ARefusalKeepsItsBody) {
  const auto r = ask(Command::promote, "s3cret");
  ASSERT_EQ(r.kind, HttpReply::Kind::answered) << r.message;
  EXPECT_EQ(r.status, 409u);
  EXPECT_THAT(r.body, HasSubstr("already live"));
  EXPECT_EQ(exit_code_for_http_status(r.status), ExitCode::refused);
}

TEST_F(ControlPort, UnknownPathIsAnAnswerNotAnOutage) {
  const auto r = ask(Command::flows);  // this server has no /flows
  ASSERT_EQ(r.kind, HttpReply::Kind::answered) << r.message;
  EXPECT_EQ(r.status, 404u);
}

TEST_F(ControlPort, OversizedAnswerIsRefusedByTheClient) {
  HttpRequestOptions o;
  o.max_body_bytes = 4;
  const auto r = http_request(endpoint_, o);
  EXPECT_EQ(r.kind, HttpReply::Kind::unreachable);
  EXPECT_FALSE(r.message.empty());
}

TEST(HttpClient, ClosedPortIsUnreachable) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed again: nothing listens there now
  HttpRequestOptions o;
  o.timeout = std::chrono::milliseconds(2000);
  const auto r = http_request({"127.0.0.1", port}, o);
  EXPECT_EQ(r.kind, HttpReply::Kind::unreachable);
  EXPECT_THAT(r.message, HasSubstr("connect"));
  EXPECT_THAT(r.message, HasSubstr(std::to_string(port)));
}

TEST(HttpClient, SilentServerTimesOut) {
  // Accepts (the kernel completes the handshake) but never answers.
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  HttpRequestOptions o;
  o.timeout = std::chrono::milliseconds(150);
  const auto start = std::chrono::steady_clock::now();
  const auto r = http_request({"127.0.0.1", a.local_endpoint().port()}, o);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.kind, HttpReply::Kind::unreachable);
  EXPECT_THAT(r.message, HasSubstr("timed out"));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(HttpClient, UnresolvableHostIsUnreachable) {
  HttpRequestOptions o;
  o.timeout = std::chrono::milliseconds(500);
  const auto r = http_request({"no-such-host.invalid", 80}, o);
  EXPECT_EQ(r.kind, HttpReply::Kind::unreachable);
  EXPECT_THAT(r.message, HasSubstr("resolve"));
}

}  // namespace
}  // namespace ftproxy::ctl
