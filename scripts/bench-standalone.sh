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
IPERF_S=${BENCH_IPERF_S:-5}
PINGS=${BENCH_PINGS:-200}
RTT_N=${BENCH_RTT_N:-2000}
REDIS_N=${BENCH_REDIS_N:-50000}

ftp_require_cmd iperf3 redis-benchmark redis-cli ping jq curl
declare -A R=()  # "<mode>:<metric>" -> value
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
MODES=()

# percentiles FILE: nearest-rank p50 and p99 of one number per line.
percentiles() {
  sort -n "$1" | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan nan"; exit }
    i50 = int(0.50 * NR); if (i50 < 0.50 * NR) i50++; if (i50 < 1) i50 = 1
    i99 = int(0.99 * NR); if (i99 < 0.99 * NR) i99++; if (i99 < 1) i99 = 1
    printf "%s %s\n", v[i50], v[i99] }'
}

measure() {
  local mode=$1 c=$TOPO_NS_C sip=$TOPO_SERVICE_IP out
  MODES+=("$mode")
  ftp_log "[$mode] warm-up"
  topo_exec "$c" ping -c 3 -i 0.2 -W 2 "$sip" >/dev/null || ftp_die "[$mode] no connectivity"

  ftp_log "[$mode] iperf3 TCP client->server ${IPERF_S}s"
  out=$(topo_exec "$c" iperf3 -c "$sip" -t "$IPERF_S" -J)
  R[$mode:tput_fwd]=$(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$out")
  ftp_log "[$mode] iperf3 TCP server->client ${IPERF_S}s"
  out=$(topo_exec "$c" iperf3 -c "$sip" -t "$IPERF_S" -J -R)
  R[$mode:tput_rev]=$(jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' <<<"$out")

  ftp_log "[$mode] ping x$PINGS at 10 ms"
  topo_exec "$c" ping -c "$PINGS" -i 0.01 -W 1 "$sip" |
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' | awk '{printf "%.0f\n", $1 * 1000}' >"$TOPO_DIR/ping.txt"
  read -r "R[$mode:ping_p50]" "R[$mode:ping_p99]" < <(percentiles "$TOPO_DIR/ping.txt")
  R[$mode:ping_loss]=$((PINGS - $(wc -l <"$TOPO_DIR/ping.txt")))

  ftp_log "[$mode] TCP request RTT: $RTT_N sequential redis PINGs"
  out=$(topo_exec "$c" "$FTP_PYTHON" "$FTP_REPO_ROOT/scripts/lib/tcp_rtt.py" "$sip" "$TOPO_REDIS_PORT" "$RTT_N")
  R[$mode:rtt_p50]=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$out")
  R[$mode:rtt_p99]=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")

  ftp_log "[$mode] redis-benchmark -n $REDIS_N -c 10 -t set,get"
  out=$(topo_exec "$c" redis-benchmark -h "$sip" -q -n "$REDIS_N" -c 10 -t set,get | tr '\r' '\n')
  R[$mode:set_rps]=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
  R[$mode:get_rps]=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
}

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
echo "Standalone forwarding, $(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPU(s):" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
  "load average at start $LOAD_AT_START"
echo
echo "| metric | kernel bridge | ftproxy (pcap) | ftproxy / bridge |"
echo "|---|---|---|---|"
row tput_fwd "TCP throughput client→server (Gbit/s, iperf3 -t $IPERF_S)"
row tput_rev "TCP throughput server→client (Gbit/s, iperf3 -R)"
row ping_p50 "ping RTT p50 (µs, $PINGS pings at 10 ms)"
row ping_p99 "ping RTT p99 (µs)"
row ping_loss "ping lost (of $PINGS)"
row rtt_p50 "TCP request RTT p50 (µs, $RTT_N sequential redis PINGs)"
row rtt_p99 "TCP request RTT p99 (µs)"
row set_rps "redis SET (req/s, -n $REDIS_N -c 10)"
row get_rps "redis GET (req/s)"
