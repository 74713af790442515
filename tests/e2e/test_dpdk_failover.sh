#!/usr/bin/env bash
# The kill-the-primary failover scenario (test_failover_kill_primary.sh, every
# assertion unchanged) with both proxies on the dpdk packet I/O backend: af_packet
# vdevs on the same veths, one EAL per proxy process. Skipped when ftproxy was built
# without DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/topology.sh"
"$FTPROXY_BIN" --version 2>/dev/null | grep -q ' dpdk' || ftp_skip "ftproxy built without DPDK"
FO_BACKEND=dpdk exec bash "$here/test_failover_kill_primary.sh"
