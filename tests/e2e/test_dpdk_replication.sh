#!/usr/bin/env bash
# The replication scenario (test_replication_redis.sh, every assertion unchanged) with
# both proxies on the dpdk packet I/O backend: af_packet vdevs on the same veths, one
# EAL per proxy process. The redis-benchmark runs are 8000 requests instead of 20000
# (REPL_BENCH_N) to keep the test under a minute: every request crosses two polled hops,
# whose idle back-off (docs/dpdk.md) makes one-request-at-a-time clients slower than on
# pcap. Skipped when ftproxy was built without DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/topology.sh"
"$FTPROXY_BIN" --version 2>/dev/null | grep -q ' dpdk' || ftp_skip "ftproxy built without DPDK"
REPL_BACKEND=dpdk REPL_BENCH_N=${REPL_BENCH_N:-8000} exec bash "$here/test_replication_redis.sh"
