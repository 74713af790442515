// Internet checksum (RFC 1071) and incremental update (RFC 1624, eqn. 3).
#pragma once

#include <cstdint>
#include <span>

#include "ftproxy/packet/frame.hpp"

namespace ftproxy::packet {

// One's-complement sum of bytes (odd length padded with zero) added to `sum`, unfolded.
std::uint32_t checksum_add(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0) noexcept;
// Folds and complements a sum into the 16-bit checksum field value.
std::uint16_t checksum_finish(std::uint32_t sum) noexcept;
// Full checksum of a byte range (e.g. an IPv4 header with its checksum field zeroed).
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) noexcept;

// RFC 1624: new checksum field value after a 16/32-bit field changed from old to new.
std::uint16_t checksum_update16(std::uint16_t csum, std::uint16_t old_val, std::uint16_t new_val) noexcept;
std::uint16_t checksum_update32(std::uint16_t csum, std::uint32_t old_val, std::uint32_t new_val) noexcept;

// Rewrites a 32-bit big-endian field at frame offset `field_offset` and updates the
// 16-bit checksum at `csum_offset` incrementally. Caller guarantees both are in bounds.
// The field may sit at an odd distance from the checksum (e.g. a timestamp option after
// window scale). Not for UDP over IPv4 with checksum 0 ("none"): leave that at 0.
void rewrite32_with_checksum(std::span<std::uint8_t> frame, std::size_t field_offset, std::size_t csum_offset,
                             std::uint32_t new_val) noexcept;

// TCP/UDP/ICMPv6 checksum over pseudo-header + L4 bytes of a parsed frame (l4 != none,
// not a non-first fragment). Returns the value the checksum field should hold.
std::uint16_t compute_l4_checksum(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept;
// True when the L4 checksum in the frame is correct (UDP over IPv4 with 0 counts as correct).
bool l4_checksum_ok(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept;
// Recomputes and stores the L4 checksum (repair of partial-checksum frames).
void fix_l4_checksum(std::span<std::uint8_t> frame, const ParsedFrame& f) noexcept;
// Frame offset of the L4 checksum field for tcp/udp/icmp/icmpv6, 0 if none.
std::size_t l4_checksum_offset(const ParsedFrame& f) noexcept;
// IPv4 header checksum check.
bool ipv4_checksum_ok(std::span<const std::uint8_t> frame, const ParsedFrame& f) noexcept;

}  // namespace ftproxy::packet
