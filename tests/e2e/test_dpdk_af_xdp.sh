#!/usr/bin/env bash
# The standalone forwarding scenario (test_standalone_forwarding.sh, every assertion
# unchanged) on the dpdk backend with net_af_xdp vdevs declared in a [dpdk] section
# (XDP sockets in copy mode on the veths) instead of the default af_packet vdevs.
# Skipped when ftproxy was built without DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BACKEND=dpdk DPDK_PMD=af_xdp exec bash "$here/test_standalone_forwarding.sh"
