// The embedded arbiter server (the `ftproxy-arbiter` binary's engine): test-and-set flags
// for many clusters, served over TCP to many concurrent clients, persisted in a FlagStore.
//
// Protocol: JSON lines over TCP. Each request is one JSON object on one line ending in
// "\n" (at most max_request_bytes including the newline); each reply is one JSON object
// on one line. A connection may carry any number of requests, answered in order.
//   {"op":"tas","cluster":"c1","epoch":3,"candidate":"p1"}
//       -> {"result":"won","cluster":"c1","epoch":3,"owner":"p1","token":7}
//       -> {"result":"lost","cluster":"c1","epoch":3,"owner":"b1","token":6}
//   {"op":"read","cluster":"c1","epoch":3}
//       -> {"result":"decided","cluster":"c1","epoch":3,"owner":"b1","token":6}
//       -> {"result":"undecided","cluster":"c1","epoch":3}
//   {"op":"latest","cluster":"c1"}       (highest decided epoch of the cluster)
//       -> {"result":"decided","cluster":"c1","epoch":3,"owner":"b1","token":6}
//       -> {"result":"undecided","cluster":"c1"}
//   {"op":"hello"}                        (a fresh nonce for this connection)
//       -> {"result":"hello","nonce":"<32 hex>"}
//   anything else -> {"result":"error","message":"..."} and the connection is closed.
// Authentication (auth.hpp): a request may carry "seq", "cnonce" and "mac" computed over
// the connection's hello nonce; the authenticator decides, and an accepted signed request
// gets a "mac" in its reply. A refused request is answered
// {"result":"error","message":"refused: <reason>"}, counted in `refused`, reported to
// on_error, and the connection is closed.
//   A storage failure answers {"result":"error","message":"storage: ..."} and keeps the
//   connection (nothing was recorded; the client may retry).
// Names (cluster, candidate) match [A-Za-z0-9_.-]{1,64}; epoch is an unsigned 64-bit
// integer. A request may carry extra fields (ignored unless the authenticator reads them).
// tas is idempotent: the recorded owner asking again gets "won" again.
//
// Durability: a "won" reply is written only after the flag is on disk (FlagStore). The
// fsync runs on the io_context thread; that serialises decisions, which test-and-set
// needs anyway, and decisions are rare.
//
// Threading: everything runs on the given io_context (single-threaded use); counters()
// may be read from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "ftproxy/arbiter/flag_store.hpp"

namespace boost::json {
class object;
}

namespace ftproxy::arbiter {

// A validated request, as the authenticator sees it.
struct ArbiterRequest {
  std::string_view op;  // "tas" | "read" | "latest"
  std::string_view cluster;
  std::uint64_t epoch = 0;            // 0 for latest
  std::string_view candidate;         // tas only
  const boost::json::object& fields;  // the whole request, for credentials it may carry
  std::string_view peer;              // "address:port" of the client
  std::string_view nonce;             // this connection's hello nonce ("" = no hello yet)
  std::uint64_t last_seq = 0;         // highest seq accepted on this connection (0 = none)
};

// The authenticator's verdict.
struct AuthOutcome {
  std::string refused;    // "" = accepted, else the reason (sent back as an error)
  std::string reply_key;  // accepted and non-empty: the reply carries a MAC made with this key
  std::uint64_t seq = 0;  // accepted signed request: its seq (becomes the connection's last_seq)
  std::string cnonce;     // accepted signed request: its client nonce (covered by the reply MAC)
};

using Authenticator = std::function<AuthOutcome(const ArbiterRequest&)>;

// A flag newly set by this server (one per (cluster, epoch), ever).
struct Decision {
  std::string cluster;
  std::uint64_t epoch = 0;
  std::string owner;
  std::uint64_t token = 0;
  std::string peer;
};

struct EmbeddedServerOptions {
  std::size_t max_request_bytes = 4096;              // a longer line is an error + close
  std::size_t max_connections = 1024;                // beyond this, new connections are closed at once
  std::chrono::milliseconds idle_timeout{10000};     // a connection silent this long is closed
  Authenticator authenticate;                        // empty = accept every request
  std::function<void(const Decision&)> on_decision;  // e.g. log it
  std::function<void(std::string_view peer, std::string_view error)> on_error;  // bad request, storage
};

struct EmbeddedServerCounters {
  std::uint64_t requests = 0;              // well-formed or not
  std::uint64_t won = 0;                   // tas answered won (new or repeated)
  std::uint64_t lost = 0;                  // tas answered lost
  std::uint64_t errors = 0;                // error replies (garbage, oversize, refused, storage)
  std::uint64_t refused = 0;               // of which refused by the authenticator
  std::uint64_t connections = 0;           // accepted in total
  std::uint64_t rejected_connections = 0;  // closed at once: max_connections reached
  std::uint64_t open_connections = 0;
};

class EmbeddedServer {
 public:
  // `store` must outlive the server.
  EmbeddedServer(boost::asio::io_context& io, FlagStore& store, EmbeddedServerOptions options = {});
  ~EmbeddedServer();  // stop()
  EmbeddedServer(const EmbeddedServer&) = delete;
  EmbeddedServer& operator=(const EmbeddedServer&) = delete;

  // Binds (a host name is resolved synchronously: call at start-up) and starts
  // accepting; port 0 = ephemeral.
  // Returns "" on success, else a message naming the endpoint.
  std::string listen(const std::string& host, std::uint16_t port);
  // The bound port (0 before listen()).
  std::uint16_t port() const noexcept;
  // Closes the listener and every connection; idempotent.
  void stop();

  EmbeddedServerCounters counters() const noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ftproxy::arbiter
