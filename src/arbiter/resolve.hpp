// Turning an arbiter endpoint (numeric address or host name) into TCP endpoints without
// blocking the caller's loop, shared by the embedded and etcd clients.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ftproxy::arbiter::detail {

// Calls done(error, endpoints): at once for a numeric address, from the resolver
// otherwise. `error` is empty on success, else "resolve: <reason>".
template <class Done>
void resolve_endpoint(boost::asio::ip::tcp::resolver& resolver, const std::string& host, std::uint16_t port,
                      Done done) {
  using boost::asio::ip::tcp;
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(host, ec);
  if (!ec) {
    done(std::string(), std::vector<tcp::endpoint>{tcp::endpoint(addr, port)});
    return;
  }
  resolver.async_resolve(
      host, std::to_string(port),
      [done = std::move(done)](boost::system::error_code rec, tcp::resolver::results_type results) mutable {
        std::vector<tcp::endpoint> found;
        if (!rec)
          for (const auto& r : results) found.push_back(r.endpoint());
        done(rec ? "resolve: " + rec.message() : std::string(), std::move(found));
      });
}

}  // namespace ftproxy::arbiter::detail
