// libFuzzer target for the TOML configuration loader (DESIGN.md §9): the input is the
// text of a config file, given to both parse_proxy_config and parse_arbiter_config.
// Checks, beyond "no crash, no leak":
//  - no exception escapes (the loader turns every toml++ error into a message);
//  - a rejected file has at least one message, each non-empty and naming a key or the
//    file; an accepted file has none;
//  - an accepted file satisfies the documented invariants (ranges, cross-key rules,
//    role requirements) and its endpoints survive to_string -> parse_endpoint;
//  - parse_endpoint on the raw text: an accepted endpoint round-trips.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/control/config.hpp"

using namespace ftproxy::control;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_endpoint_round_trip(const Endpoint& ep) {
  const auto again = parse_endpoint(ep.to_string());
  check(again.has_value());
  check(again->host == ep.host && again->port == ep.port);
}

void check_messages(bool accepted, const std::vector<std::string>& errors) {
  if (accepted) {
    check(errors.empty());
    return;
  }
  check(!errors.empty());
  for (const auto& e : errors) check(!e.empty());
}

void check_proxy(const ProxyConfig& c) {
  check(!c.node.name.empty() && c.node.name.size() <= 64);
  check(!c.node.cluster.empty() && c.node.cluster.size() <= 64);
  check(c.node.epoch >= 1);
  check(!c.ports.ext.empty() && !c.ports.int_.empty() && c.ports.ext != c.ports.int_);
  check(c.ports.burst >= 1 && c.ports.burst <= 1024);
  check(c.ports.ring_mb >= 1 && c.ports.ring_mb <= 1024);
  check(c.failover.heartbeat_ms >= 1 && c.failover.timeout_ms > 2 * c.failover.heartbeat_ms);
  check(c.failover.probe_timeout_ms <= c.failover.probe_interval_ms);
  check(c.service.vlan <= 4094);
  if (c.service.mac) check(!c.service.mac->is_multicast() && !c.service.mac->is_zero());
  check(c.garp.count >= 1 && c.garp.count <= 100);
  check(c.tcp.max_flows >= 1 && c.tcp.wait_queue_frames >= 1);
  check(c.log.max_unacked_entries >= 1 && c.log.batch_bytes >= 512);
  if (c.node.role != Role::standalone) {
    check(!c.service.ips.empty() && c.service.mac.has_value() && !c.arbiter.endpoints.empty());
    if (c.node.role == Role::primary) check(c.log.peer.has_value());
    if (c.node.role == Role::backup) check(c.log.listen.has_value());
  }
  check_endpoint_round_trip(c.control.listen);
  if (c.log.listen) check_endpoint_round_trip(*c.log.listen);
  if (c.log.peer) {
    check(c.log.peer->port != 0);
    check_endpoint_round_trip(*c.log.peer);
  }
  for (const auto& ep : c.arbiter.endpoints) {
    check(ep.port != 0);
    check_endpoint_round_trip(ep);
  }
}

void check_arbiter(const ArbiterServerConfig& c) {
  check(!c.data_dir.empty());
  check_endpoint_round_trip(c.listen);
  check_endpoint_round_trip(c.control_listen);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<std::string> errors;
    const auto proxy = parse_proxy_config(text, "fuzz.toml", errors);
    check_messages(proxy.has_value(), errors);
    if (proxy) check_proxy(*proxy);

    errors.clear();
    const auto arbiter = parse_arbiter_config(text, "fuzz.toml", errors);
    check_messages(arbiter.has_value(), errors);
    if (arbiter) check_arbiter(*arbiter);

    if (size <= 300) {
      if (const auto ep = parse_endpoint(text)) check_endpoint_round_trip(*ep);
    }
  } catch (const std::exception&) {
    std::abort();  // the loader's contract: never throws
  } catch (...) {
    std::abort();
  }
  return 0;
}
