// Private to the log channel: one connection's byte stream, plain TCP or TLS over it,
// chosen per connection at run time. The sender and the receiver read, write, handshake
// and close through this one type, so the TLS/plain choice lives here only.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "ftproxy/replication/log_tls.hpp"

namespace ftproxy::replication {

class LogTls {
 public:
  LogTls() : ctx(boost::asio::ssl::context::tls) {}
  boost::asio::ssl::context ctx;
};

class LogStream {
 public:
  explicit LogStream(boost::asio::io_context& io) : sock_(io) {}

  boost::asio::ip::tcp::socket& socket() noexcept { return sock_; }
  bool tls() const noexcept { return tls_.has_value(); }

  // Wraps the connected socket in TLS; call before any byte is exchanged, then
  // async_handshake.
  void use_tls(LogTls& t) { tls_.emplace(sock_, t.ctx); }

  // Handler: void(const error_code&).
  template <class Handler>
  void async_handshake(bool client, Handler&& h) {
    tls_->async_handshake(
        client ? boost::asio::ssl::stream_base::client : boost::asio::ssl::stream_base::server,
        std::forward<Handler>(h));
  }

  // Handler: void(const error_code&, std::size_t). One branch runs, so `h` moves once.
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& b, Handler&& h) {
    if (tls_) {
      tls_->async_read_some(b, std::forward<Handler>(h));
    } else {
      sock_.async_read_some(b, std::forward<Handler>(h));
    }
  }

  // The whole buffer, like boost::asio::async_write.
  template <class Buffers, class Handler>
  void async_write(const Buffers& b, Handler&& h) {
    if (tls_) {
      boost::asio::async_write(*tls_, b, std::forward<Handler>(h));
    } else {
      boost::asio::async_write(sock_, b, std::forward<Handler>(h));
    }
  }

  // Abortive close (no TLS close_notify): pending operations complete with an error.
  void close() noexcept {
    boost::system::error_code ec;
    sock_.close(ec);
  }

  // The peer ended the stream (TCP FIN, or TLS without close_notify, which is how the
  // other end's close() looks).
  static bool peer_closed(const boost::system::error_code& ec) noexcept {
    return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
  }

  // Why a handshake failed, for the log: OpenSSL's reason and, when this side rejected
  // the peer's certificate, the verification error.
  std::string handshake_error(const boost::system::error_code& ec);

 private:
  boost::asio::ip::tcp::socket sock_;
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
};

}  // namespace ftproxy::replication
