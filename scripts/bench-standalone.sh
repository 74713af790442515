#!/usr/bin/env bash
# Standalone forwarding benchmark: the same namespace topology (client -- switch --
# [ext P int] -- server) measured twice in one run, first with a kernel bridge
# joining ext and int in P, then with ftproxy (role standalone, pcap backend) there.
# Prints a markdown table with the ftproxy / kernel-bridge ratio of every figure.
#
# Usage: bash scripts/bench-standalone.sh [--only kernel|ftproxy]
# Environment: BENCH_IPERF_S (5), BENCH_PINGS (200), BENCH_RTT_N (2000),
#              BENCH_REDIS_N (50000). Needs root and a built ftproxy (scripts/setup.sh);
#              without the binary only the kernel-bridge half runs.
set -euo pipefail

source "$(dirname "$0")/../tests/e2e/lib/topology.sh"

ONLY=""
if [[ ${1:-} == --only ]]; then
  ONLY=${2:?--only needs kernel or ftproxy}
fi
source "$(dirname "$0")/lib/bench.sh"

ftp_require_cmd iperf3 redis-benchmark redis-cli ping jq curl
declare -A R=()  # "<mode>:<metric>" -> value (filled by bench_measure)
measure() { bench_measure "$1" iperf ping rtt redis; }

topo_init
topo_standalone
topo_start_redis redis "$TOPO_NS_S"
topo_start_iperf iperf "$TOPO_NS_S"

if [[ -z $ONLY || $ONLY == kernel ]]; then
  topo_kernel_bridge "$TOPO_NS_P"
  measure kernel
  topo_kernel_bridge_remove "$TOPO_NS_P"
fi

if [[ -z $ONLY || $ONLY == ftproxy ]]; then
  if [[ -x $FTPROXY_BIN ]]; then
    topo_write_standalone_config "$TOPO_DIR/proxy.toml" bench
    topo_start_proxy proxy "$TOPO_NS_P" "$TOPO_DIR/proxy.toml"
    measure ftproxy
    topo_status "$TOPO_NS_P" >"$TOPO_DIR/status.json" || true
    topo_stop proxy || ftp_log "ftproxy exited with status $? on SIGTERM"
  else
    ftp_log "no ftproxy binary at $FTPROXY_BIN: ftproxy column skipped"
  fi
fi

# ---- report ----
ratio() {
  local a=${R[kernel:$1]:-} b=${R[ftproxy:$1]:-}
  if [[ -n $a && -n $b ]] && awk -v a="$a" 'BEGIN {exit !(a > 0)}'; then
    awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}'
  else
    echo "–"
  fi
}
row() { # metric label
  printf '| %s | %s | %s | %s |\n' "$2" "${R[kernel:$1]:-–}" "${R[ftproxy:$1]:-–}" "$(ratio "$1")"
}
echo
bench_machine_line "Standalone forwarding"
echo
echo "| metric | kernel bridge | ftproxy (pcap) | ftproxy / bridge |"
echo "|---|---|---|---|"
row tput_fwd "TCP throughput client→server (Gbit/s, iperf3 -t $BENCH_IPERF_S)"
row tput_rev "TCP throughput server→client (Gbit/s, iperf3 -R)"
row ping_p50 "ping RTT p50 (µs, $BENCH_PINGS pings at 10 ms)"
row ping_p99 "ping RTT p99 (µs)"
row ping_loss "ping lost (of $BENCH_PINGS)"
row rtt_p50 "TCP request RTT p50 (µs, $BENCH_RTT_N sequential redis PINGs)"
row rtt_p99 "TCP request RTT p99 (µs)"
row set_rps "redis SET (req/s, -n $BENCH_REDIS_N -c 10)"
row get_rps "redis GET (req/s)"
