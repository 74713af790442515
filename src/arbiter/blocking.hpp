// The blocking forms of an asynchronous Arbiter call, for command-line tools: a private
// io_context runs until the one callback has fired (each client bounds its own time).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "ftproxy/arbiter/arbiter.hpp"

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

// The three calls of the Arbiter interface in blocking form, for a Client built from
// its Options (each client's public test_and_set_blocking, read_blocking and
// latest_blocking overloads are these).
template <class Client, class Options>
ArbiterResult test_and_set_blocking(const Options& options, const std::string& cluster, std::uint64_t epoch,
                                    const std::string& candidate) {
  return run_blocking<Client, ArbiterResult>(
      options, [&](Client& a, auto done) { a.test_and_set(cluster, epoch, candidate, std::move(done)); });
}

template <class Client, class Options>
ArbiterRead read_blocking(const Options& options, const std::string& cluster, std::uint64_t epoch) {
  return run_blocking<Client, ArbiterRead>(
      options, [&](Client& a, auto done) { a.read(cluster, epoch, std::move(done)); });
}

template <class Client, class Options>
ArbiterRead latest_blocking(const Options& options, const std::string& cluster) {
  return run_blocking<Client, ArbiterRead>(options,
                                           [&](Client& a, auto done) { a.latest(cluster, std::move(done)); });
}

}  // namespace ftproxy::arbiter::detail
