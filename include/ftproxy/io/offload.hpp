// NIC offloads that would make the proxy see or send frames that are not real wire
// frames: GRO/LRO merge received frames beyond the MTU, GSO/TSO let sent super-frames
// through, tx checksum offload leaves partial checksums. Queried and changed through the
// SIOCETHTOOL ioctl (the legacy per-feature commands). Control plane only: every call is
// a few syscalls; nothing here is for the data path. Thread-safe (no shared state).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io {

enum class Offload : std::uint8_t { gro, lro, gso, tso, tx_checksum };
inline constexpr std::array<Offload, 5> kAllOffloads = {Offload::gro, Offload::lro, Offload::gso,
                                                        Offload::tso, Offload::tx_checksum};

// The `ethtool -K` keyword of a feature: "gro", "lro", "gso", "tso", "tx".
std::string_view ethtool_keyword(Offload o) noexcept;

// Which features are on. A feature the driver does not implement reads as off.
struct OffloadState {
  std::uint8_t on_mask = 0;
  bool is_on(Offload o) const noexcept { return (on_mask >> static_cast<unsigned>(o)) & 1u; }
  void set(Offload o, bool on) noexcept {
    const auto bit = static_cast<std::uint8_t>(1u << static_cast<unsigned>(o));
    on_mask = on ? static_cast<std::uint8_t>(on_mask | bit) : static_cast<std::uint8_t>(on_mask & ~bit);
  }
  bool any_on() const noexcept { return on_mask != 0; }
};

// Reads the features of interface `ifname` (in the calling thread's network namespace).
// nullopt + `error` when the interface does not exist or cannot be queried.
std::optional<OffloadState> query_offloads(const std::string& ifname, std::string& error);

// Turns one feature on or off. false + `error` when refused: a fixed feature (the driver
// cannot change it), or missing CAP_NET_ADMIN.
bool set_offload(const std::string& ifname, Offload o, bool on, std::string& error);

// The command an operator runs to turn every relevant feature off on `ifname`:
// "ethtool -K IFACE gro off lro off gso off tso off tx off".
std::string offload_fix_command(const std::string& ifname);

// What apply_offload_policy() found and did, for the caller's start-up log line.
struct OffloadReport {
  std::string interface;
  OffloadState before;              // as found
  OffloadState after;               // as left
  std::vector<Offload> turned_off;  // were on, now off (policy disable)
  std::vector<Offload> fixed_on;    // on and could not be turned off
  std::vector<std::string> warnings;
  // One line, e.g. "offloads on 'eth1': turned off gso tso tx" or "... all off".
  std::string summary() const;
};

// Applies `policy` to `ifname`:
//   disable: turns off every feature that is on; one that cannot be changed (fixed on)
//            becomes a warning; missing permission is an error with the fix command.
//   refuse:  error if any feature is on, naming the interface and the fix command.
//   ignore:  only reads the state (a read failure is a warning, not an error).
// Returns false and sets `error` on failure; `report` is filled in either case.
bool apply_offload_policy(const std::string& ifname, OffloadPolicy policy, OffloadReport& report,
                          std::string& error);

// open_port() that also hands back what the offload policy found and changed (pcap
// backend; other backends leave `report` empty).
std::unique_ptr<PacketIo> open_port(const PortOptions& opts, std::string& error, OffloadReport& report);

}  // namespace ftproxy::io
