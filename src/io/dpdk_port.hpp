// Private to the io module: the "dpdk" backend (compiled only when DPDK is found).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ftproxy/io/packet_io.hpp"

namespace ftproxy::io::detail {

// Opens a DPDK ethdev port, initialising the process-wide EAL on first use. Offloads of an
// attached kernel interface are the caller's (open_port applies the policy first).
std::unique_ptr<PacketIo> open_dpdk_port(const PortOptions& opts, std::string& error);

// The EAL arguments used when PortOptions::eal_args is empty (argv without program name):
// io::default_eal_args() for the first CPU this process may run on and its pid.
std::vector<std::string> default_eal_args();

}  // namespace ftproxy::io::detail
