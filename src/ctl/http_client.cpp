#include "ftproxy/ctl/http_client.hpp"

#include <exception>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace ftproxy::ctl {
namespace {

// One request on a private io_context. Asynchronous operations are used only because
// they honour tcp_stream's deadline; the caller still blocks in io.run().
struct Exchange {
  boost::asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response_parser<http::string_body> parser;
  HttpReply reply;
  std::string where;

  void fail(const char* step, beast::error_code ec) {
    reply.kind = HttpReply::Kind::unreachable;
    reply.message = fmt::format("{}: {}: {}", where, step,
                                ec == beast::error::timeout ? std::string("timed out") : ec.message());
  }
};

}  // namespace

HttpReply http_request(const control::Endpoint& endpoint, const HttpRequestOptions& options) {
  auto ex = std::make_unique<Exchange>();
  ex->where = endpoint.to_string();
  try {
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    http::verb verb = http::string_to_verb(options.method);
    if (verb == http::verb::unknown) {
      ex->reply.message = fmt::format("unknown HTTP method \"{}\"", options.method);
      return ex->reply;
    }
    ex->request.method(verb);
    ex->request.target(beast::string_view(options.target.data(), options.target.size()));
    ex->request.version(11);
    ex->request.set(http::field::host, endpoint.to_string());
    ex->request.set(http::field::user_agent, "ftproxyctl");
    ex->request.set(http::field::connection, "close");
    if (!options.bearer_token.empty())
      ex->request.set(http::field::authorization, "Bearer " + std::string(options.bearer_token));
    ex->request.prepare_payload();
    ex->parser.body_limit(options.max_body_bytes);

    // Numeric addresses resolve without a lookup; names use the system resolver
    // (bounded by its own timeouts, which a CLI can live with).
    tcp::resolver resolver(ex->io);
    beast::error_code ec;
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) {
      ex->fail("resolve", ec);
      return ex->reply;
    }
    Exchange* e = ex.get();
    e->stream.expires_at(deadline);
    e->stream.async_connect(results, [e](beast::error_code cec, const tcp::endpoint&) {
      if (cec) return e->fail("connect", cec);
      http::async_write(e->stream, e->request, [e](beast::error_code wec, std::size_t) {
        if (wec) return e->fail("write", wec);
        http::async_read(e->stream, e->buffer, e->parser, [e](beast::error_code rec, std::size_t) {
          if (rec) return e->fail("read", rec);
          auto& res = e->parser.get();
          e->reply.kind = HttpReply::Kind::answered;
          e->reply.status = res.result_int();
          e->reply.body = std::move(res.body());
          beast::error_code ignored;
          e->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    });
    ex->io.run();
  } catch (const std::exception& e) {
    ex->reply.kind = HttpReply::Kind::unreachable;
    ex->reply.message = fmt::format("{}: {}", ex->where, e.what());
  }
  return std::move(ex->reply);
}

}  // namespace ftproxy::ctl
