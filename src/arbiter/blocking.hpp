// The blocking forms of an asynchronous Arbiter call, for command-line tools: a private
// io_context runs until the one callback has fired (each client bounds its own time).
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>

namespace ftproxy::arbiter::detail {

template <class Client, class Result, class Options, class Call>
Result run_blocking(const Options& options, Call&& call) {
  boost::asio::io_context io;
  Client client(io, options);
  Result out;
  call(client, [&out](Result r) { out = std::move(r); });
  io.run();
  return out;
}

}  // namespace ftproxy::arbiter::detail
